// The one Catch2 main. Every test case starts from torch::manual_seed(--rng-seed), so a failure
// reproduces with the seed CTest passes, whatever order or subset of tests runs.
#define CATCH_CONFIG_RUNNER
#include "catch_compat.hpp"
#include <ATen/Parallel.h>
#include <torch/utils.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

#if BYOL_CATCH_MAJOR >= 3
using ListenerBase = Catch::EventListenerBase;
inline uint32_t catch_seed() { return Catch::getSeed(); }
#else
using ListenerBase = Catch::TestEventListenerBase;
inline uint32_t catch_seed() { return Catch::rngSeed(); }
#endif

struct SeedEveryTest : ListenerBase {
  using ListenerBase::ListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const& info) override {
    ListenerBase::testCaseStarting(info);
    torch::manual_seed(catch_seed());
  }
};

}  // namespace

CATCH_REGISTER_LISTENER(SeedEveryTest)

int main(int argc, char* argv[]) {
  Catch::Session session;
  const int rc = session.applyCommandLine(argc, argv);
  if (rc != 0) {
    return rc;
  }
  // Debian's LibTorch starts with one thread; the fused kernels must be tested in parallel.
  const char* omp = std::getenv("OMP_NUM_THREADS");
  torch::set_num_threads(omp != nullptr && std::atoi(omp) > 0 ? std::atoi(omp) : 2);
  return session.run();
}

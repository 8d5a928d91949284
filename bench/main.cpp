// byol_bench: Google Benchmark's main, after setting LibTorch's thread count (Debian's LibTorch
// starts with one): OMP_NUM_THREADS when set, else every core.
#include <benchmark/benchmark.h>
#include <ATen/Parallel.h>

#include <cstdlib>
#include <thread>

int main(int argc, char** argv) {
  const char* omp = std::getenv("OMP_NUM_THREADS");
  const int threads = omp != nullptr && std::atoi(omp) > 0 ? std::atoi(omp)
                                                            : static_cast<int>(std::thread::hardware_concurrency());
  at::set_num_threads(threads > 0 ? threads : 1);
  benchmark::AddCustomContext("torch_threads", std::to_string(at::get_num_threads()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// The shims over LibTorch's 1.x/2.x differences (byol/detail/compat.hpp), on whichever release
// this binary is built against: scripts/test.sh runs it in both lanes (1.13 and 2.6). Expected
// values are float64 closed forms, or the same steps run without interruption in this process.
#include <byol/autocast.hpp>
#include <byol/detail/compat.hpp>
#include <byol/ema.hpp>
#include <byol/optim/lars.hpp>
#include <byol/version.hpp>

#include "reference_models.hpp"
#include "support.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using byol_test::values;

// Parameters and gradients from integer formulas, exact in every release (the random
// generators' output is not promised to be the same).
std::vector<torch::Tensor> formula_params() {
  const std::vector<std::vector<int64_t>> shapes = {{5, 3}, {5}, {2, 3, 3, 3}, {4, 6}};
  std::vector<torch::Tensor> params;
  for (size_t i = 0; i < shapes.size(); ++i) {
    int64_t n = 1;
    for (int64_t s : shapes[i]) n *= s;
    params.push_back(((torch::remainder(torch::arange(n, torch::kDouble) * 37 + 11.0 * i, 101) - 50) / 50)
                         .to(torch::kFloat)
                         .reshape(shapes[i])
                         .requires_grad_(true));
  }
  return params;
}

void formula_grads(const std::vector<torch::Tensor>& params, int step) {
  for (size_t i = 0; i < params.size(); ++i) {
    auto p = params[i];
    p.mutable_grad() = ((torch::remainder(torch::arange(p.numel(), torch::kDouble) * 13 + 7.0 * step + 3.0 * i, 29) - 14) / 10)
                           .to(torch::kFloat)
                           .reshape(p.sizes());
  }
}

byol::optim::LARSOptions fixture_options() {
  return byol::optim::LARSOptions(0.3).momentum(0.9).weight_decay(1e-3).eta(0.02);
}

constexpr int kFixtureSteps = 3;

std::string fixture_name(int major, int minor) {
  return "lars_state_torch" + std::to_string(major) + "." + std::to_string(minor) + ".pt";
}

}  // namespace

TEST_CASE("optimizer_state_key is the key under which LibTorch's Optimizer keeps a state", "[compat]") {
  auto params = formula_params();
  byol::optim::LARS lars(params, fixture_options());
  formula_grads(params, 0);
  lars.step();
  REQUIRE(lars.state().size() == params.size());
  for (const auto& p : params) {
    REQUIRE(lars.state().count(byol::detail::optimizer_state_key(p)) == 1);
  }
  // Another tensor (even one with the same values) has another key.
  const auto copy = params[0].detach().clone();
  REQUIRE(lars.state().count(byol::detail::optimizer_state_key(copy)) == 0);
}

TEST_CASE("foreach_lerp_ and the multi-tensor EMA match the float64 closed form", "[compat]") {
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    std::vector<torch::Tensor> target, online;
    for (int64_t n : {1, 7, 1000, 4099}) {
      target.push_back(torch::randn({n}, dtype));
      online.push_back(torch::randn({n}, dtype));
    }
    for (const double tau : {0.0, 0.3, 0.99, 1.0}) {
      std::vector<torch::Tensor> t1, t2;
      for (const auto& t : target) {
        t1.push_back(t.clone());
        t2.push_back(t.clone());
      }
      byol::detail::foreach_lerp_(t1, online, 1.0 - tau);
      byol::functional::detail::ema_update_foreach_(t2, online, tau);
      const double tol = dtype == torch::kFloat ? 1e-6 : 1e-14;
      for (size_t i = 0; i < target.size(); ++i) {
        const auto x = values(target[i]), y = values(online[i]);
        std::vector<double> expected(x.size());
        for (size_t k = 0; k < x.size(); ++k) expected[k] = tau * x[k] + (1.0 - tau) * y[k];
        INFO("dtype " << dtype << ", tau " << tau << ", tensor " << i);
        REQUIRE_CLOSE(values(t1[i]), expected, tol, tol);
        REQUIRE_CLOSE(values(t2[i]), expected, tol, tol);
      }
    }
  }
}

TEST_CASE("the autocast shims switch CUDA autocast and its dtype, and restore them", "[compat]") {
  REQUIRE_FALSE(byol::detail::autocast_cuda_enabled());
  const auto dtype = byol::detail::autocast_cuda_dtype();
  byol::detail::set_autocast_cuda_dtype(torch::kHalf);
  REQUIRE(byol::detail::autocast_cuda_dtype() == torch::kHalf);
  byol::detail::set_autocast_cuda_enabled(true);
  REQUIRE(byol::detail::autocast_cuda_enabled());
  byol::detail::set_autocast_cuda_enabled(false);
  byol::detail::set_autocast_cuda_dtype(dtype);
  REQUIRE_FALSE(byol::detail::autocast_cuda_enabled());
  REQUIRE(byol::detail::autocast_cuda_dtype() == dtype);
  {
    byol::CudaAutocast guard(true, torch::kHalf);
    REQUIRE(byol::detail::autocast_cuda_enabled());
    REQUIRE(byol::detail::autocast_cuda_dtype() == torch::kHalf);
  }
  REQUIRE_FALSE(byol::detail::autocast_cuda_enabled());
  REQUIRE(byol::detail::autocast_cuda_dtype() == dtype);
}

// Writes this release's fixture; hidden (run by hand, see tests/data/README.md):
//   BYOL_FIXTURE_OUT=tests/data build/tests/byol_tests "[.write_lars_fixture]"
TEST_CASE("write the LARS state fixture of this LibTorch release", "[.write_lars_fixture]") {
  const char* out = std::getenv("BYOL_FIXTURE_OUT");
  REQUIRE(out != nullptr);
  auto params = formula_params();
  byol::optim::LARS lars(params, fixture_options());
  for (int step = 0; step < kFixtureSteps; ++step) {
    formula_grads(params, step);
    lars.step();
  }
  torch::serialize::OutputArchive archive;
  lars.save(archive);
  archive.save_to(std::string(out) + "/" + fixture_name(TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR));
}

TEST_CASE("LARS resumes from a state that LibTorch 1.13 or 2.6 wrote", "[compat]") {
  // Uninterrupted: kFixtureSteps + 2 steps from the closed-form start.
  auto straight = formula_params();
  byol::optim::LARS lars_a(straight, fixture_options());
  std::vector<torch::Tensor> at_save;
  for (int step = 0; step < kFixtureSteps + 2; ++step) {
    if (step == kFixtureSteps) {
      for (const auto& p : straight) at_save.push_back(p.detach().clone());
    }
    formula_grads(straight, step);
    lars_a.step();
  }
  for (const auto& [major, minor] : std::vector<std::pair<int, int>>{{1, 13}, {2, 6}}) {
    const std::string file = byol_test::tests_dir() + "/data/" + fixture_name(major, minor);
    INFO("state written by LibTorch " << major << "." << minor << ": " << file);
    REQUIRE(std::ifstream(file).good());
    // The weights as they were when the file was written, and a LARS that knows nothing else.
    std::vector<torch::Tensor> resumed;
    for (const auto& w : at_save) resumed.push_back(w.clone().requires_grad_(true));
    byol::optim::LARS lars_b(resumed, byol::optim::LARSOptions(99.0));
    torch::serialize::InputArchive archive;
    archive.load_from(file);
    lars_b.load(archive);
    const auto& options = static_cast<const byol::optim::LARSOptions&>(lars_b.param_groups()[0].options());
    REQUIRE(options.lr() == 0.3);
    REQUIRE(options.weight_decay() == 1e-3);
    REQUIRE(options.eta() == 0.02);
    for (int step = kFixtureSteps; step < kFixtureSteps + 2; ++step) {
      formula_grads(resumed, step);
      lars_b.step();
    }
    for (size_t i = 0; i < straight.size(); ++i) {
      INFO("parameter " << i);
      // The same float32 operations in the same order on the same values: only a compiler's
      // different contraction could move a bit, so the bound is a few float32 ulps.
      REQUIRE_CLOSE(values(resumed[i]), values(straight[i]), 1e-6, 1e-6);
    }
  }
}

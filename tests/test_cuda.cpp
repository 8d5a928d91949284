// The device paths on CUDA, checked against the CPU results (the CPU paths are pinned to float64
// re-derivations elsewhere). Without a CUDA device every case says so and passes vacuously; the
// GPU check script (scripts/gpu-check.sh) runs them where a device exists.
#include <byol/autocast.hpp>
#include <byol/ema.hpp>
#include <byol/learner.hpp>
#include <byol/loss.hpp>
#include <byol/optim/lars.hpp>

#include "support.hpp"

#include <torch/cuda.h>

#include <cmath>
#include <vector>

namespace {

bool have_cuda() {
  if (torch::cuda::is_available()) return true;
  WARN("no CUDA device: CUDA case not run");
  return false;
}

}  // namespace

TEST_CASE("CUDA: the loss and its gradient match the CPU kernels", "[cuda]") {
  if (!have_cuda()) return;
  for (const auto dtype : {torch::kFloat, torch::kHalf, torch::kBFloat16}) {
    auto p = torch::randn({1024, 256}).to(dtype);
    auto z = torch::randn({1024, 256}).to(dtype);
    p[3].zero_();
    auto pc = p.clone().requires_grad_(true);
    auto pg = p.to(torch::kCUDA).requires_grad_(true);
    auto lc = byol::functional::normalized_mse(pc, z);
    auto lg = byol::functional::normalized_mse(pg, z.to(torch::kCUDA));
    lc.backward();
    lg.backward();
    REQUIRE(lg.device().is_cuda());
    REQUIRE(lg.scalar_type() == torch::kFloat);
    REQUIRE(lg.item<double>() == Approx(lc.item<double>()).epsilon(1e-5));
    const double tol = dtype == torch::kFloat ? 1e-5 : 2e-2;
    REQUIRE_CLOSE(byol_test::values(pg.grad()), byol_test::values(pc.grad()), tol, 1e-6);
  }
}

TEST_CASE("CUDA: the foreach EMA matches the fused CPU update", "[cuda]") {
  if (!have_cuda()) return;
  std::vector<torch::Tensor> tc, oc, tg, og;
  for (const int64_t n : {7, 32768, 100001}) {
    tc.push_back(torch::randn({n}));
    oc.push_back(torch::randn({n}));
    tg.push_back(tc.back().to(torch::kCUDA));
    og.push_back(oc.back().to(torch::kCUDA));
  }
  byol::functional::ema_update_(tc, oc, 0.99);
  byol::functional::ema_update_(tg, og, 0.99);
  for (size_t i = 0; i < tc.size(); ++i) REQUIRE_CLOSE(byol_test::values(tg[i]), byol_test::values(tc[i]), 1e-6, 1e-7);
}

TEST_CASE("CUDA: LARS on the device follows the CPU trajectory", "[cuda]") {
  if (!have_cuda()) return;
  std::vector<torch::Tensor> cpu = {torch::randn({64, 32}), torch::randn({64}), torch::zeros({8, 4, 3, 3})};
  std::vector<torch::Tensor> gpu;
  for (auto& p : cpu) {
    p.requires_grad_(true);
    gpu.push_back(p.detach().to(torch::kCUDA).requires_grad_(true));
  }
  const auto options = byol::optim::LARSOptions(0.5).weight_decay(1e-3);
  byol::optim::LARS lars_cpu(cpu, options), lars_gpu(gpu, options);
  for (int step = 0; step < 4; ++step) {
    for (size_t i = 0; i < cpu.size(); ++i) {
      const auto g = torch::randn_like(cpu[i]);
      cpu[i].mutable_grad() = g;
      gpu[i].mutable_grad() = g.to(torch::kCUDA);
    }
    lars_cpu.step();
    lars_gpu.step();
  }
  for (size_t i = 0; i < cpu.size(); ++i) REQUIRE_CLOSE(byol_test::values(gpu[i]), byol_test::values(cpu[i]), 1e-5, 1e-6);
}

TEST_CASE("CUDA: a BYOL learner moved to the device trains and follows with its target", "[cuda]") {
  if (!have_cuda()) return;
  torch::nn::Sequential encoder(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)),
                                torch::nn::BatchNorm2d(8), torch::nn::ReLU(),
                                torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(1)),
                                torch::nn::Flatten());
  byol::BYOL<torch::nn::Sequential> model(encoder, byol::BYOLOptions(8).hidden_dim(32).projection_dim(16)
                                                       .predictor_hidden_dim(32));
  model.to(torch::kCUDA);
  byol::optim::LARS lars(model.online_parameters(), byol::optim::LARSOptions(0.1));
  const auto v1 = torch::rand({8, 3, 16, 16}, torch::kCUDA);
  const auto v2 = torch::rand({8, 3, 16, 16}, torch::kCUDA);
  auto loss = model.loss(v1, v2);
  loss.backward();
  lars.step();
  // Float64 CPU copies of both networks (encoder + projector) after the step, before the update.
  const auto target_params = model.ema().target()->parameters();
  const auto online_params = model.ema().online()->parameters();
  REQUIRE(target_params.size() == online_params.size());
  std::vector<std::vector<double>> target_before, online_now;
  for (size_t i = 0; i < target_params.size(); ++i) {
    target_before.push_back(byol_test::values(target_params[i]));
    online_now.push_back(byol_test::values(online_params[i]));
  }
  model.update_target(0.9);
  REQUIRE(std::isfinite(loss.item<double>()));
  for (const auto& p : model.target_encoder()->parameters()) REQUIRE(p.device().is_cuda());
  // xi <- 0.9 xi + 0.1 theta, re-derived in float64; float32 storage bounds the tolerance.
  const auto target_after = model.ema().target()->parameters();
  REQUIRE(target_after.size() == target_before.size());
  for (size_t i = 0; i < target_after.size(); ++i) {
    std::vector<double> expected(target_before[i].size());
    for (size_t k = 0; k < expected.size(); ++k) expected[k] = 0.9 * target_before[i][k] + 0.1 * online_now[i][k];
    INFO("parameter " << i);
    REQUIRE(target_after[i].device().is_cuda());
    REQUIRE_CLOSE(byol_test::values(target_after[i]), expected, 1e-6, 1e-6);
  }
}

TEST_CASE("CudaAutocast turns CUDA autocast on for its scope and restores the state", "[cuda]") {
  REQUIRE_FALSE(byol::CudaAutocast::enabled());
  {
    byol::CudaAutocast outer;
    REQUIRE(byol::CudaAutocast::enabled());
    {
      byol::CudaAutocast off(false);  // a disabled guard changes nothing
      REQUIRE(byol::CudaAutocast::enabled());
    }
    REQUIRE(byol::CudaAutocast::enabled());
    if (torch::cuda::is_available()) {
      const auto a = torch::randn({8, 8}, torch::kCUDA);
      REQUIRE(torch::mm(a, a).scalar_type() == torch::kBFloat16);
    }
  }
  REQUIRE_FALSE(byol::CudaAutocast::enabled());
  byol_test::require_error([] { byol::CudaAutocast bad(true, torch::kFloat); }, {"dtype", "Float"});
}

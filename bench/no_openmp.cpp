// byol_bench_no_openmp: byol's kernels in a program compiled WITHOUT OpenMP (the include folder
// and LibTorch, not the byol::byol target): the fused kernels, spread over LibTorch's inter-op
// pool there (byol/detail/parallel.hpp), beside the ATen path (`aten`). The same shapes as
// byol_bench's BM_Loss, BM_Ema and BM_Lars, so the two binaries' numbers compare.
#include <byol/augment/functional.hpp>
#include <byol/ema.hpp>
#include <byol/loss.hpp>
#include <byol/optim/lars.hpp>

#include "shapes.hpp"

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <vector>

#if defined(_OPENMP)
#error "bench/no_openmp.cpp must be compiled without OpenMP: check its CMake target"
#endif

namespace {

using byol::detail::KernelPath;

std::vector<torch::Tensor> make_tensors(const std::vector<byol_bench::Shape>& shapes) {
  std::vector<torch::Tensor> out;
  for (const auto& s : shapes) out.push_back(torch::randn(s));
  return out;
}

void BM_NoOpenMPLossForwardBackward(benchmark::State& state, KernelPath path) {
  byol::detail::KernelPathGuard guard(path);
  auto p = torch::randn({state.range(0), 256}).requires_grad_(true);
  const auto z = torch::randn({state.range(0), 256});
  for (auto _ : state) {
    auto loss = byol::functional::normalized_mse(p, z);
    loss.backward();
    p.mutable_grad().reset();
    benchmark::DoNotOptimize(loss.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_NoOpenMPEma(benchmark::State& state, KernelPath path) {
  byol::detail::KernelPathGuard guard(path);
  auto target = make_tensors(byol_bench::ema_shapes());
  const auto online = make_tensors(byol_bench::ema_shapes());
  for (auto _ : state) {
    byol::functional::ema_update_(target, online, 0.996);
    benchmark::ClobberMemory();
  }
}

void BM_NoOpenMPLars(benchmark::State& state, KernelPath path) {
  byol::detail::KernelPathGuard guard(path);
  auto params = make_tensors(byol_bench::lars_shapes());
  for (auto& p : params) {
    p.requires_grad_(true);
    p.mutable_grad() = torch::randn_like(p) * 1e-3;
  }
  byol::optim::LARS lars(params, byol::optim::LARSOptions(1e-4).weight_decay(1.5e-6));
  for (auto _ : state) {
    lars.step();
    benchmark::ClobberMemory();
  }
}

void BM_NoOpenMPBlur(benchmark::State& state, KernelPath path) {
  byol::detail::KernelPathGuard guard(path);
  const auto images = torch::rand({64, 3, 96, 96});
  const auto sigma = torch::rand({64}) * 1.9 + 0.1;
  for (auto _ : state) {
    auto out = byol::augment::functional::gaussian_blur(images, sigma, 9);
    benchmark::DoNotOptimize(out.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * 64);
}

BENCHMARK_CAPTURE(BM_NoOpenMPLossForwardBackward, aten, KernelPath::aten)->Arg(4096)->UseRealTime();
BENCHMARK_CAPTURE(BM_NoOpenMPLossForwardBackward, fused, KernelPath::fused)->Arg(4096)->UseRealTime();
BENCHMARK_CAPTURE(BM_NoOpenMPEma, aten, KernelPath::aten)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_NoOpenMPEma, fused, KernelPath::fused)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_NoOpenMPLars, aten, KernelPath::aten)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_NoOpenMPLars, fused, KernelPath::fused)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_NoOpenMPBlur, aten, KernelPath::aten)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_NoOpenMPBlur, fused, KernelPath::fused)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

// The loss, EMA and LARS kernels beside the way they are usually written, in the same run.
//
//   BM_Loss*      B in {256, 1024, 4096}, D = 256: ours vs the naive ATen composition + autograd
//   BM_Ema*       ResNet-50 + projector (165 tensors): ours vs out-of-place loop, in-place loop,
//                 and a plain copy of the same floats (the floor)
//   BM_Lars*      ResNet-50 + projector + predictor: ours vs a per-parameter loop of the same math
#include <byol/ema.hpp>
#include <byol/loss.hpp>
#include <byol/optim/lars.hpp>

#include "shapes.hpp"

#include <benchmark/benchmark.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <vector>

namespace {

// On CUDA every timed iteration ends with a synchronisation, so the time is the kernels' own.
void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// ---- loss -------------------------------------------------------------------------------------

// The usual way: F.normalize both, 2 - 2 cos, mean; autograd does the backward.
torch::Tensor naive_nmse(const torch::Tensor& p, const torch::Tensor& z) {
  const auto np = p / p.norm(2, {1}, true).clamp_min(1e-6);
  const auto nz = z / z.norm(2, {1}, true).clamp_min(1e-6);
  return (2 - 2 * (np * nz.detach()).sum(1)).mean();
}

void run_loss(benchmark::State& state, bool naive, bool backward, torch::Device device) {
  const int64_t rows = state.range(0), width = 256;
  auto p = torch::randn({rows, width}, device).requires_grad_(backward);
  const auto z = torch::randn({rows, width}, device);
  for (auto _ : state) {
    auto loss = naive ? naive_nmse(p, z) : byol::functional::normalized_mse(p, z);
    if (backward) {
      loss.backward();
      p.mutable_grad().reset();
    }
    benchmark::DoNotOptimize(loss.data_ptr());
    sync(device);
  }
  // Bytes the fused kernels must touch: read p and z (forward); read p, z, write grad (backward).
  const int64_t bytes = rows * width * 4 * (backward ? 5 : 2);
  state.SetBytesProcessed(state.iterations() * bytes);
  state.SetItemsProcessed(state.iterations() * rows);
}
template <bool Naive, bool Backward>
void BM_Loss(benchmark::State& state) {
  run_loss(state, Naive, Backward, torch::kCPU);
}
BENCHMARK_TEMPLATE(BM_Loss, false, false)->Name("BM_LossForward/byol")->Arg(256)->Arg(1024)->Arg(4096);
BENCHMARK_TEMPLATE(BM_Loss, true, false)->Name("BM_LossForward/naive")->Arg(256)->Arg(1024)->Arg(4096);
BENCHMARK_TEMPLATE(BM_Loss, false, true)->Name("BM_LossForwardBackward/byol")->Arg(256)->Arg(1024)->Arg(4096);
BENCHMARK_TEMPLATE(BM_Loss, true, true)->Name("BM_LossForwardBackward/naive")->Arg(256)->Arg(1024)->Arg(4096);

// ---- EMA --------------------------------------------------------------------------------------

std::vector<torch::Tensor> make_tensors(const std::vector<byol_bench::Shape>& shapes,
                                        torch::Device device = torch::kCPU) {
  std::vector<torch::Tensor> out;
  for (const auto& s : shapes) out.push_back(torch::randn(s, device));
  return out;
}

int64_t count_floats(const std::vector<torch::Tensor>& ts) {
  int64_t n = 0;
  for (const auto& t : ts) n += t.numel();
  return n;
}

enum class EmaKind { fused, out_of_place, in_place, copy };

void run_ema(benchmark::State& state, EmaKind kind, torch::Device device) {
  auto target = make_tensors(byol_bench::ema_shapes(), device);
  const auto online = make_tensors(byol_bench::ema_shapes(), device);
  const double tau = 0.996;
  torch::NoGradGuard no_grad;
  for (auto _ : state) {
    switch (kind) {
      case EmaKind::fused:
        byol::functional::ema_update_(target, online, tau);
        break;
      case EmaKind::out_of_place:  // param_k.data = param_k.data * m + param_q.data * (1 - m)
        for (size_t i = 0; i < target.size(); ++i) target[i].set_data(target[i] * tau + online[i] * (1 - tau));
        break;
      case EmaKind::in_place:  // param_k.mul_(m).add_(param_q, alpha=1 - m)
        for (size_t i = 0; i < target.size(); ++i) target[i].mul_(tau).add_(online[i], 1 - tau);
        break;
      case EmaKind::copy:  // the floor: read online, write target, nothing else
        for (size_t i = 0; i < target.size(); ++i) target[i].copy_(online[i]);
        break;
    }
    sync(device);
    benchmark::ClobberMemory();
  }
  const int64_t floats = count_floats(target);
  state.counters["tensors"] = static_cast<double>(target.size());
  state.counters["Mfloats"] = static_cast<double>(floats) / 1e6;
  // Bytes of the floor (one read, one write); every variant is scaled the same way.
  state.SetBytesProcessed(state.iterations() * floats * 4 * 2);
}
template <EmaKind Kind>
void BM_Ema(benchmark::State& state) {
  run_ema(state, Kind, torch::kCPU);
}
BENCHMARK_TEMPLATE(BM_Ema, EmaKind::fused)->Name("BM_Ema/byol")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Ema, EmaKind::out_of_place)->Name("BM_Ema/out_of_place_loop")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Ema, EmaKind::in_place)->Name("BM_Ema/in_place_loop")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Ema, EmaKind::copy)->Name("BM_Ema/copy_floor")->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- LARS -------------------------------------------------------------------------------------

// The per-parameter loop people write (the reference's math, one parameter at a time).
struct LoopLars {
  std::vector<torch::Tensor> momenta;
  void step(std::vector<torch::Tensor>& params, double lr, double mu, double wd, double eta) {
    torch::NoGradGuard no_grad;
    if (momenta.empty()) {
      for (const auto& p : params) momenta.push_back(torch::zeros_like(p));
    }
    for (size_t i = 0; i < params.size(); ++i) {
      auto& p = params[i];
      auto g = p.grad();
      if (p.dim() > 1) {
        g = g.add(p, wd);
        const auto w_norm = p.norm();
        const auto g_norm = g.norm();
        const auto trust = torch::where((w_norm > 0) & (g_norm > 0), eta * w_norm / g_norm, torch::ones_like(w_norm));
        g = g.mul(trust);
      }
      momenta[i].mul_(mu).add_(g);
      p.add_(momenta[i], -lr);
    }
  }
};

void run_lars(benchmark::State& state, bool use_loop, torch::Device device) {
  auto params = make_tensors(byol_bench::lars_shapes(), device);
  for (auto& p : params) {
    p.requires_grad_(true);
    p.mutable_grad() = torch::randn_like(p) * 1e-3;
  }
  byol::optim::LARS lars(params, byol::optim::LARSOptions(1e-4).weight_decay(1.5e-6));
  LoopLars loop;
  for (auto _ : state) {
    if (use_loop) {
      loop.step(params, 1e-4, 0.9, 1.5e-6, 0.001);
    } else {
      lars.step();
    }
    sync(device);
    benchmark::ClobberMemory();
  }
  const int64_t floats = count_floats(params);
  state.counters["tensors"] = static_cast<double>(params.size());
  // Bytes of the fused kernel: pass 1 reads w, g; pass 2 reads w, g, m and writes w, m.
  state.SetBytesProcessed(state.iterations() * floats * 4 * 7);
}
template <bool Loop>
void BM_Lars(benchmark::State& state) {
  run_lars(state, Loop, torch::kCPU);
}
BENCHMARK_TEMPLATE(BM_Lars, false)->Name("BM_Lars/byol")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Lars, true)->Name("BM_Lars/per_parameter_loop")->Unit(benchmark::kMillisecond)->UseRealTime();

// The same kernels on CUDA, registered when a device is present (names end in CUDA).
[[maybe_unused]] const bool cuda_registered = [] {
  if (!torch::cuda::is_available()) return false;
  const torch::Device cuda(torch::kCUDA);
  for (const bool naive : {false, true}) {
    for (const bool backward : {false, true}) {
      const std::string name = std::string(backward ? "BM_LossForwardBackwardCUDA/" : "BM_LossForwardCUDA/") +
                               (naive ? "naive" : "byol");
      benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run_loss(s, naive, backward, cuda); })
          ->Arg(256)->Arg(1024)->Arg(4096)->UseRealTime();
    }
  }
  const std::pair<const char*, EmaKind> ema[] = {{"BM_EmaCUDA/byol", EmaKind::fused},
                                                 {"BM_EmaCUDA/out_of_place_loop", EmaKind::out_of_place},
                                                 {"BM_EmaCUDA/in_place_loop", EmaKind::in_place},
                                                 {"BM_EmaCUDA/copy_floor", EmaKind::copy}};
  for (const auto& e : ema) {
    const EmaKind kind = e.second;
    benchmark::RegisterBenchmark(e.first, [=](benchmark::State& s) { run_ema(s, kind, cuda); })
        ->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  benchmark::RegisterBenchmark("BM_LarsCUDA/byol", [=](benchmark::State& s) { run_lars(s, false, cuda); })
      ->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("BM_LarsCUDA/per_parameter_loop", [=](benchmark::State& s) { run_lars(s, true, cuda); })
      ->Unit(benchmark::kMillisecond)->UseRealTime();
  return true;
}();

}  // namespace

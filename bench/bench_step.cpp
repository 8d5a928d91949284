// A whole BYOL step in images per second: both views through the online network (forward and
// backward) and the target (forward), the loss, LARS and the EMA update. bench/python/byol_step.py
// times the same step written the usual PyTorch way.
//
//   BM_ByolStepSmallCNN/byol/28   byol::models::SmallCNN (defaults) on 28 x 28 views, batch 256, CPU
//   BM_ByolStepResNet18/byol/32   ResNet-18 with the small-image stem on 32 x 32 views, batch 64, CPU
//   BM_ByolStepCUDA/byol/224      ResNet-50, batch 256, bf16 autocast, channels_last (with a GPU)
#include <byol/byol.hpp>
#include <byol/models.hpp>

#include <benchmark/benchmark.h>
#include <torch/cuda.h>
#include <torch/torch.h>

namespace {

template <typename Encoder>
void run_step(benchmark::State& state, Encoder encoder, int64_t batch, int64_t size, torch::Device device, bool bf16) {
  byol::BYOL<Encoder> model(encoder, byol::BYOLOptions(encoder->feature_dim()));
  model.to(device);
  if (device.is_cuda()) {
    torch::NoGradGuard no_grad;
    for (auto& p : model.parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  byol::optim::LARS lars(model.online_parameters(), byol::optim::LARSOptions(0.1).weight_decay(1.5e-6));
  const int64_t channels = encoder->parameters()[0].size(1);
  auto v1 = torch::rand({batch, channels, size, size}, device);
  auto v2 = torch::rand({batch, channels, size, size}, device);
  if (device.is_cuda()) {
    v1 = v1.contiguous(torch::MemoryFormat::ChannelsLast);
    v2 = v2.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  auto step = [&] {
    torch::Tensor loss;
    {
      byol::CudaAutocast mixed_precision(bf16);
      loss = model.loss(v1, v2);
    }
    loss.backward();
    lars.step();
    // Gradients back to undefined, as bench/python/byol_step.py's `p.grad = None` (LibTorch 1.x's
    // zero_grad() would fill them with zeros instead): both sides do the same work.
    for (auto& p : model.online_parameters()) p.mutable_grad().reset();
    model.update_target(0.996);
  };
  step();  // warm-up: allocations, cuDNN algorithm choice
  for (auto _ : state) {
    step();
    if (device.is_cuda()) torch::cuda::synchronize();
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

void BM_ByolStepSmallCnn(benchmark::State& state) {
  run_step(state, byol::models::SmallCNN(), 256, state.range(0), torch::kCPU, false);
}
BENCHMARK(BM_ByolStepSmallCnn)->Name("BM_ByolStepSmallCNN/byol")->Arg(28)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ByolStepResNet18(benchmark::State& state) {
  byol::models::ResNet encoder(byol::models::ResNetOptions::resnet18().num_classes(0).small_stem(true));
  run_step(state, encoder, 64, state.range(0), torch::kCPU, false);
}
BENCHMARK(BM_ByolStepResNet18)->Name("BM_ByolStepResNet18/byol")->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();

[[maybe_unused]] const bool cuda_registered = [] {
  if (!torch::cuda::is_available()) return false;
  benchmark::RegisterBenchmark("BM_ByolStepCUDA/byol", [](benchmark::State& s) {
    byol::models::ResNet encoder(byol::models::ResNetOptions::resnet50().num_classes(0));
    run_step(s, encoder, 256, s.range(0), torch::kCUDA, true);
  })->Arg(224)->Unit(benchmark::kMillisecond)->UseRealTime();
  return true;
}();

}  // namespace

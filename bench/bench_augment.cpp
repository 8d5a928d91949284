// BYOL's two views (byol_view1 + byol_view2) per second, batched, beside the same ops run one
// image at a time (how a per-sample Dataset transform + collate does it).
//
//   OMP_NUM_THREADS=2 ./build/bench/byol_bench --benchmark_filter=ByolViews
//
// Input: a batch of 256 uint8 RGB images, 32x32 for 32 px views (CIFAR), 96x96 for 96 px (STL-10)
// and 256x256 for 224 px (ImageNet pre-resized to a 256 side); BM_ByolViewsFromList/224 starts
// from a list of 256 decoded images of ImageNet-like sizes (about 500x375). items_per_second is
// views per second (2 per image).
#include <byol/augment.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace {

constexpr int64_t kBatch = 256;

int64_t source_side(int64_t size) {
  return size == 224 ? 256 : size;
}

torch::Tensor source_images(int64_t size, torch::Device device) {
  const int64_t side = source_side(size);
  auto gen = at::detail::createCPUGenerator(1);
  return torch::randint(0, 256, {kBatch, 3, side, side}, gen, torch::kByte).to(device);
}

void run_views(benchmark::State& state, torch::Device device) {
  const int64_t size = state.range(0);
  const torch::Tensor images = source_images(size, device);
  const auto t1 = byol::augment::byol_view1(size);
  const auto t2 = byol::augment::byol_view2(size);
  auto gen = at::detail::createCPUGenerator(0);
  for (auto _ : state) {
    torch::Tensor v1 = t1(images, gen);
    torch::Tensor v2 = t2(images, gen);
    if (device.is_cuda()) {
      torch::cuda::synchronize();
    }
    benchmark::DoNotOptimize(v1.data_ptr());
    benchmark::DoNotOptimize(v2.data_ptr());
  }
  state.SetItemsProcessed(2 * kBatch * static_cast<int64_t>(state.iterations()));
}

// The batched policies: every op runs once over the whole batch.
void BM_ByolViews(benchmark::State& state) {
  run_views(state, torch::kCPU);
}
BENCHMARK(BM_ByolViews)->Arg(32)->Arg(96)->Arg(224)->Unit(benchmark::kMillisecond)->UseRealTime();

// The baseline: the same policies called on one image at a time, then stacked into a batch.
void BM_ByolViewsPerImage(benchmark::State& state) {
  const int64_t size = state.range(0);
  const torch::Tensor images = source_images(size, torch::kCPU);
  const auto t1 = byol::augment::byol_view1(size);
  const auto t2 = byol::augment::byol_view2(size);
  auto gen = at::detail::createCPUGenerator(0);
  for (auto _ : state) {
    std::vector<torch::Tensor> v1, v2;
    for (int64_t i = 0; i < kBatch; ++i) {
      const torch::Tensor one = images.narrow(0, i, 1);
      v1.push_back(t1(one, gen));
      v2.push_back(t2(one, gen));
    }
    torch::Tensor b1 = torch::cat(v1);
    torch::Tensor b2 = torch::cat(v2);
    benchmark::DoNotOptimize(b1.data_ptr());
    benchmark::DoNotOptimize(b2.data_ptr());
  }
  state.SetItemsProcessed(2 * kBatch * static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ByolViewsPerImage)->Arg(32)->Arg(96)->Arg(224)->Unit(benchmark::kMillisecond)->UseRealTime();

// From what a JPEG decoder yields: 256 differently sized uint8 images, about 500x375.
void BM_ByolViewsFromList(benchmark::State& state) {
  const int64_t size = state.range(0);
  auto gen = at::detail::createCPUGenerator(2);
  std::vector<torch::Tensor> decoded;
  for (int64_t i = 0; i < kBatch; ++i) {
    const int64_t h = 300 + (i * 37) % 200, w = 400 + (i * 53) % 200;
    decoded.push_back(torch::randint(0, 256, {3, h, w}, gen, torch::kByte));
  }
  const auto t1 = byol::augment::byol_view1(size);
  const auto t2 = byol::augment::byol_view2(size);
  for (auto _ : state) {
    torch::Tensor v1 = t1(decoded, gen);
    torch::Tensor v2 = t2(decoded, gen);
    benchmark::DoNotOptimize(v1.data_ptr());
    benchmark::DoNotOptimize(v2.data_ptr());
  }
  state.SetItemsProcessed(2 * kBatch * static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ByolViewsFromList)->Arg(224)->Unit(benchmark::kMillisecond)->UseRealTime();

// On CUDA, when present: the batch lives on the GPU, parameters are drawn on the CPU.
void BM_ByolViewsCUDA(benchmark::State& state) {
  run_views(state, torch::kCUDA);
}
[[maybe_unused]] const bool cuda_registered = [] {
  if (torch::cuda::is_available()) {
    benchmark::RegisterBenchmark("BM_ByolViewsCUDA", BM_ByolViewsCUDA)
        ->Arg(32)
        ->Arg(96)
        ->Arg(224)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  return true;
}();

}  // namespace

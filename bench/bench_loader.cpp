// The data layer's threads: ImageFolder's decoding pool and TwoViewLoader under a thread budget.
//
//   OMP_NUM_THREADS=2 ./build/bench/byol_bench --benchmark_filter='Decode|Loader' --benchmark_repetitions=5
//
// BM_DecodePool/<pool>/<threads>: 64 in-memory 96x96 PNGs decoded per iteration through a pool's
// parallel_for, as ImageFolder::get_batch does. <pool> is the baseline `legacy` (the hand-written
// std::thread pool and queue byol had, bench/legacy_thread_pool.hpp), `c10_shared` (one
// c10::ThreadPool of <threads> threads and its shared queue) and `byol` (byol::data::ThreadPool:
// one one-thread c10::ThreadPool per thread). items_per_second is images per second.
//
// BM_Loader/<workers>/<decode threads>/<worker intra-op threads>: one epoch of a TwoViewLoader over
// an ImageFolder of 256 PNGs (96x96, in a temporary folder) with BYOL's two 64 px views, batches
// of 32, consumed by a stand-in training step that keeps the main thread's intra-op threads busy
// (a 384x384 matmul chain per batch). items_per_second is images per second through the whole
// pipeline, step included. The argument sets compare the old defaults (decoders = all cores,
// workers inheriting every intra-op thread) with thread_budget()'s split and a stricter one.
#include <byol/augment.hpp>
#include <byol/data.hpp>

#include "legacy_thread_pool.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <benchmark/benchmark.h>
#include <c10/core/thread_pool.h>
#include <torch/torch.h>

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace {

constexpr int64_t kImages = 64;

const std::vector<std::vector<uint8_t>>& png_files() {
  static const std::vector<std::vector<uint8_t>> files = [] {
    auto gen = at::detail::createCPUGenerator(3);
    std::vector<std::vector<uint8_t>> out;
    for (int64_t i = 0; i < kImages; ++i) {
      // Smooth content compresses like a photo would, unlike uniform noise.
      auto base = torch::randint(0, 256, {3, 12, 12}, gen, torch::kFloat);
      auto image = torch::upsample_bilinear2d(base.unsqueeze(0), {96, 96}, false).squeeze(0).to(torch::kByte);
      out.push_back(byol::data::encode_png(image));
    }
    return out;
  }();
  return files;
}

// One c10::ThreadPool of n threads with the same parallel_for protocol as byol::data::ThreadPool.
class C10SharedPool {
 public:
  explicit C10SharedPool(int64_t n) : pool_(static_cast<int>(n)) {}
  void parallel_for(int64_t count, const std::function<void(int64_t)>& fn) {
    std::atomic<int64_t> next{0};
    std::mutex mutex;
    std::condition_variable done;
    const int64_t tasks = std::min<int64_t>(count, static_cast<int64_t>(pool_.size()));
    int64_t running = tasks;
    for (int64_t t = 0; t < tasks; ++t) {
      pool_.run([&] {
        for (int64_t i = next++; i < count; i = next++) {
          fn(i);
        }
        std::lock_guard<std::mutex> lock(mutex);
        if (--running == 0) {
          done.notify_all();
        }
      });
    }
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return running == 0; });
  }

 private:
  c10::ThreadPool pool_;
};

template <typename Pool>
void BM_DecodePool(benchmark::State& state) {
  const auto& files = png_files();
  Pool pool(state.range(0));
  std::vector<at::Tensor> decoded(files.size());
  for (auto _ : state) {
    pool.parallel_for(static_cast<int64_t>(files.size()), [&](int64_t i) {
      decoded[static_cast<size_t>(i)] = byol::data::decode_image(files[static_cast<size_t>(i)]);
    });
    benchmark::DoNotOptimize(decoded.back().data_ptr());
  }
  state.SetItemsProcessed(kImages * static_cast<int64_t>(state.iterations()));
}
BENCHMARK_TEMPLATE(BM_DecodePool, byol_bench::LegacyThreadPool)
    ->Name("BM_DecodePool/legacy")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_DecodePool, C10SharedPool)
    ->Name("BM_DecodePool/c10_shared")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_DecodePool, byol::data::ThreadPool)
    ->Name("BM_DecodePool/byol")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

constexpr int64_t kFolderImages = 256;
constexpr int64_t kBatch = 32;

const std::string& image_folder() {
  static const std::string root = [] {
    const auto dir = std::filesystem::temp_directory_path() / ("byol_bench_loader_" + std::to_string(::getpid()));
    const auto& files = png_files();
    for (int64_t i = 0; i < kFolderImages; ++i) {
      const auto cls = dir / (i % 2 == 0 ? "a" : "b");
      std::filesystem::create_directories(cls);
      const auto& bytes = files[static_cast<size_t>(i % kImages)];
      std::FILE* f = std::fopen((cls / (std::to_string(i) + ".png")).c_str(), "wb");
      std::fwrite(bytes.data(), 1, bytes.size(), f);
      std::fclose(f);
    }
    std::atexit([] { std::filesystem::remove_all(image_folder()); });
    return dir.string();
  }();
  return root;
}

void BM_Loader(benchmark::State& state) {
  const int64_t workers = state.range(0), decode_threads = state.range(1), worker_threads = state.range(2);
  byol::data::ImageFolder folder(byol::data::ImageFolderOptions(image_folder()).num_workers(decode_threads));
  const auto t1 = byol::augment::byol_view1(64);
  const auto t2 = byol::augment::byol_view2(64);
  const auto w = torch::randn({384, 384}) / 20;
  int64_t epoch = 0;
  for (auto _ : state) {
    byol::data::TwoViewLoader loader(
        folder, t1, t2,
        byol::data::LoaderOptions(kBatch).num_workers(workers).worker_threads(worker_threads).seed(
            static_cast<uint64_t>(epoch++)));
    while (auto batch = loader.next()) {
      auto x = torch::randn({384, 384});
      for (int k = 0; k < 8; ++k) {
        x = torch::mm(x, w).tanh();
      }
      benchmark::DoNotOptimize(x.data_ptr());
      benchmark::DoNotOptimize(batch->view2.data_ptr());
    }
  }
  state.SetItemsProcessed(kFolderImages / kBatch * kBatch * static_cast<int64_t>(state.iterations()));
}
// {workers, decode threads, worker intra-op threads}: on 2 cores with OMP_NUM_THREADS=2 the old
// defaults are {1, 2, 2} and {2, 2, 2}; thread_budget gives {1, 2, 2} and {2, 2, 1}; a strict
// split that leaves the data side only cores - T would be {1, 1, 1} and {2, 1, 1}.
BENCHMARK(BM_Loader)
    ->Args({1, 2, 2})
    ->Args({1, 1, 1})
    ->Args({2, 2, 2})
    ->Args({2, 2, 1})
    ->Args({2, 1, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

#pragma once

/// TwoViewLoader: batches of two augmented views of the same images, prepared ahead of the
/// consumer by background threads, reproducible and resumable.
///
///   epoch e's order     = a permutation of [0, N) seeded by (seed, e)          (epoch_permutation)
///   rank r's shard      = order[r], order[r + W], ..., n = N / W of them (W = world_size; the last
///                         N % W of the order sit out epoch e; with W = 1 the shard is the order)
///   batch b of epoch e  = shard[b * B, (b + 1) * B)
///   view k of the batch = view_k(images, g), g a CPU generator seeded by (seed, e, b * W + r)
///                         (batch_seed), used by view1 then view2
///
/// so a batch's content depends on (seed, e, b, r, W) alone: not on the number of workers, on
/// thread timing, or on where the run started.
///
///     byol::data::TensorSource source(byol::data::load_fashion_mnist());
///     auto augment = [](const at::Tensor& x, at::Generator& g) { return x.to(at::kFloat).div(255); };
///     byol::data::TwoViewLoader loader(source, augment, augment, byol::data::LoaderOptions(256).epochs(10));
///     while (auto batch = loader.next()) { train_step(batch->view1, batch->view2); }

#include <byol/data/dataset.hpp>
#include <byol/data/detail/seed.hpp>
#include <byol/data/thread_pool.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <c10/core/GradMode.h>
#include <c10/core/thread_pool.h>
#include <torch/arg.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace byol::data {

/// The most worker threads a TwoViewLoader starts (LoaderOptions::num_workers).
constexpr int64_t kMaxLoaderWorkers = 1024;

/// Options of TwoViewLoader.
struct LoaderOptions {
  /// @param batch_size  images per batch (> 0)
  LoaderOptions(int64_t batch_size) : batch_size_(batch_size) {}  // NOLINT(google-explicit-constructor)
  /// Images per batch.
  TORCH_ARG(int64_t, batch_size);
  /// The run's length: the loader ends after the last batch of epoch `epochs - 1`; epochs times
  /// the batches per epoch must fit in int64. Default 1.
  TORCH_ARG(int64_t, epochs) = 1;
  /// Shuffle each epoch (a permutation seeded by (seed, epoch)); false keeps the source order.
  /// Default true.
  TORCH_ARG(bool, shuffle) = true;
  /// Drop each epoch's last, incomplete batch (BYOL's BatchNorm wants full batches). Default true.
  TORCH_ARG(bool, drop_last) = true;
  /// Seed of the permutations and of every batch's generator. Default 0.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Background threads that build batches (fetch, decode via the source, both transforms);
  /// 0 builds each batch inside next(), on the caller's thread. At most kMaxLoaderWorkers
  /// (1024); a thread the system refuses to start is a c10::Error. Default 1.
  TORCH_ARG(int64_t, num_workers) = 1;
  /// Intra-op threads (at::parallel_for inside the views) of each worker thread, set on that
  /// thread alone, e.g. thread_budget(num_workers).worker_threads to divide the data side's cores
  /// between the workers (docs/data.md, "Threads"). 0 leaves a worker LibTorch's default for a
  /// new thread, which measured fastest on 2 cores (docs/benchmarks.md). Has no effect with
  /// num_workers = 0 (the views then run on the caller's threads) or in a unit compiled without
  /// OpenMP. Batches do not depend on it. Default 0.
  TORCH_ARG(int64_t, worker_threads) = 0;
  /// Most batches built ahead of the consumer (ready or in progress); at least 1. Default 2.
  TORCH_ARG(int64_t, prefetch) = 2;
  /// The epoch to start in, to resume a run (with start_batch): the first batch is the one an
  /// uninterrupted run yields at (start_epoch, start_batch). In [0, epochs]. Default 0.
  TORCH_ARG(int64_t, start_epoch) = 0;
  /// The batch within start_epoch to start at, in [0, batches per epoch). Default 0.
  TORCH_ARG(int64_t, start_batch) = 0;
  /// This process's rank among world_size data-parallel processes, in [0, world_size): it reads
  /// the disjoint shard order[rank], order[rank + world_size], ... of every epoch's order.
  /// Default 0.
  TORCH_ARG(int64_t, rank) = 0;
  /// The number of data-parallel processes sharing the source (>= 1). Each reads N / world_size
  /// samples per epoch (the last N % world_size of the epoch's order are left out, different ones
  /// each epoch), so every rank has the same number of batches. 1 (the default) reads all of it.
  TORCH_ARG(int64_t, world_size) = 1;
};

/// One batch: two views of the same images, with where they came from.
struct TwoViewBatch {
  /// view1(images, g): [B, ...], whatever the first transform returns.
  at::Tensor view1;
  /// view2(images, g): [B, ...].
  at::Tensor view2;
  /// int64 [B].
  at::Tensor labels;
  /// int64 [B]: the source positions of the images.
  at::Tensor indices;
  /// The epoch and the batch's number within it.
  int64_t epoch = 0;
  int64_t batch = 0;
};

/// The seed of batch `batch` of epoch `epoch`'s generator: a SplitMix64 mix of the three.
///
///     auto g = at::make_generator<at::CPUGeneratorImpl>(byol::data::batch_seed(0, 3, 17));
///     auto v1 = view1(images, g);   // what TwoViewLoader computes for epoch 3, batch 17
///     auto v2 = view2(images, g);
inline uint64_t batch_seed(uint64_t seed, int64_t epoch, int64_t batch) {
  return detail::mix_seed(detail::mix_seed(detail::mix_seed(seed, 0x6261746368ull /* "batch" */),
                                           static_cast<uint64_t>(epoch)),
                          static_cast<uint64_t>(batch));
}

/// Epoch `epoch`'s order of [0, n): a Fisher-Yates shuffle driven by SplitMix64 from (seed,
/// epoch), with unbiased bounded draws; the same on every platform and LibTorch release.
///
///     auto order = byol::data::epoch_permutation(60000, 0, 5);
///     order.size();   // 60000, each index once
///     order[0];
inline std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  TORCH_CHECK(n >= 0, "epoch_permutation: n must be >= 0, got ", n);
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    order[static_cast<size_t>(i)] = i;
  }
  uint64_t state = detail::mix_seed(detail::mix_seed(seed, 0x7065726dull /* "perm" */), static_cast<uint64_t>(epoch));
  // The SplitMix64 generator: output k is the finaliser of seed + k golden-ratio increments.
  auto next = [&state] {
    const uint64_t out = detail::splitmix64(state);
    state += 0x9E3779B97F4A7C15ull;
    return out;
  };
  for (int64_t i = n - 1; i > 0; --i) {
    // A uniform draw in [0, i] by rejection: drop the top partial block of 2^64 values.
    const uint64_t range = static_cast<uint64_t>(i) + 1;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t r = next();
    while (r >= limit) {
      r = next();
    }
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(r % range)]);
  }
  return order;
}

/// Batches of two augmented views, built by background threads into a bounded queue.
///
/// `Source` is TensorSource, ImageFolder or any type with `int64_t size() const` and
/// `Batch get_batch(const std::vector<int64_t>&) const` whose Batch has `images`, `labels` and
/// `indices` members; `Source::Images` (the type of `images`) is what the views receive:
/// a [B, C, H, W] tensor from TensorSource, a std::vector of [C, H, W] tensors from ImageFolder.
/// `View1`/`View2` are callables `at::Tensor(const Source::Images&, at::Generator&)`: lambdas,
/// std::function, or augmentation policies. Each worker thread calls its own copy of them.
///
/// next() returns the batches in order, each exactly once: (start_epoch, start_batch), then the
/// following ones up to the end of epoch `epochs - 1`, then std::nullopt. An exception thrown
/// while building a batch (by the source or a view) is rethrown by the next() that would have
/// returned that batch; the following next() continues with the batch after it. A batch whose
/// images were all skipped by the source (unreadable files) is left out. The destructor stops
/// and joins the workers, whether or not the batches were consumed.
///
///     byol::data::ImageFolder folder(byol::data::ImageFolderOptions("train"));
///     byol::data::TwoViewLoader loader(folder, view1, view2, byol::data::LoaderOptions(64).epochs(100).num_workers(2));
///     while (auto b = loader.next()) { auto loss = model.loss(b->view1, b->view2); }
template <typename Source, typename View1, typename View2 = View1>
class TwoViewLoader {
 public:
  using Images = typename Source::Images;

  TwoViewLoader(Source source, View1 view1, View2 view2, LoaderOptions options)
      : source_(std::move(source)), view1_(std::move(view1)), view2_(std::move(view2)), options_(std::move(options)) {
    const LoaderOptions& o = options_;
    TORCH_CHECK(o.batch_size() > 0, "TwoViewLoader: batch_size must be > 0, got ", o.batch_size());
    TORCH_CHECK(o.epochs() >= 1, "TwoViewLoader: epochs must be >= 1, got ", o.epochs());
    TORCH_CHECK(o.num_workers() >= 0 && o.num_workers() <= kMaxLoaderWorkers, "TwoViewLoader: num_workers must be in [0, ",
                kMaxLoaderWorkers, "], got ", o.num_workers());
    TORCH_CHECK(o.worker_threads() >= 0, "TwoViewLoader: worker_threads must be >= 0, got ", o.worker_threads());
    TORCH_CHECK(o.prefetch() >= 1, "TwoViewLoader: prefetch must be >= 1, got ", o.prefetch());
    TORCH_CHECK(o.world_size() >= 1, "TwoViewLoader: world_size must be >= 1, got ", o.world_size());
    TORCH_CHECK(o.rank() >= 0 && o.rank() < o.world_size(), "TwoViewLoader: rank must be in [0, world_size = ",
                o.world_size(), "), got rank = ", o.rank());
    size_ = source_.size();
    TORCH_CHECK(size_ > 0, "TwoViewLoader: the source is empty");
    shard_size_ = size_ / o.world_size();
    TORCH_CHECK(shard_size_ > 0, "TwoViewLoader: the source has ", size_, " samples, fewer than world_size = ",
                o.world_size(), " (one per rank)");
    batches_per_epoch_ =
        o.drop_last() ? shard_size_ / o.batch_size() : (shard_size_ + o.batch_size() - 1) / o.batch_size();
    TORCH_CHECK(batches_per_epoch_ > 0, "TwoViewLoader: the source has ", size_, " samples (", shard_size_,
                " per rank of world_size = ", o.world_size(), "), fewer than one batch of batch_size = ", o.batch_size(),
                " with drop_last");
    // Global batch numbers are epoch * batches_per_epoch + batch in int64: refuse a run so long
    // that they would overflow (UB, and next() would then end at once).
    TORCH_CHECK(o.epochs() < std::numeric_limits<int64_t>::max() / batches_per_epoch_,
                "TwoViewLoader: epochs = ", o.epochs(), " times ", batches_per_epoch_,
                " batches per epoch overflows a 64-bit batch counter");
    TORCH_CHECK(o.start_epoch() >= 0 && o.start_epoch() <= o.epochs(), "TwoViewLoader: start_epoch must be in [0, ",
                o.epochs(), "], got ", o.start_epoch());
    TORCH_CHECK(o.start_batch() >= 0 && o.start_batch() < batches_per_epoch_,
                "TwoViewLoader: start_batch must be in [0, ", batches_per_epoch_, ") (batches per epoch), got ",
                o.start_batch());
    // Global batch numbers: epoch * batches_per_epoch + batch.
    const int64_t first = o.start_epoch() * batches_per_epoch_ + o.start_batch();
    end_ = std::max(first, o.epochs() * batches_per_epoch_);
    next_ticket_ = first;
    next_to_consume_ = first;
    workers_.reserve(static_cast<size_t>(o.num_workers()));
    try {
      for (int64_t w = 0; w < o.num_workers(); ++w) {
        // Each worker is a one-thread c10::ThreadPool running one long task, work_. Its own
        // copies of the views sit behind a shared_ptr: the pool may copy the task.
        auto views = std::make_shared<std::pair<View1, View2>>(view1_, view2_);
        workers_.push_back(std::make_unique<c10::ThreadPool>(1));
        workers_.back()->run([this, views] {
          if (options_.worker_threads() > 0) {
            detail::set_thread_intra_op_threads(options_.worker_threads());
          }
          work_(views->first, views->second);
        });
      }
    } catch (const std::system_error& e) {
      stop_();  // the threads already started must not outlive a failed construction
      TORCH_CHECK(false, "TwoViewLoader: cannot start worker thread ", workers_.size() + 1, " of num_workers = ",
                  o.num_workers(), ": ", e.what());
    } catch (...) {
      stop_();
      throw;
    }
  }

  TwoViewLoader(const TwoViewLoader&) = delete;
  TwoViewLoader& operator=(const TwoViewLoader&) = delete;

  ~TwoViewLoader() { stop_(); }

  /// The next batch, or std::nullopt after the last one. Blocks until it is ready.
  std::optional<TwoViewBatch> next() {
    while (next_to_consume_ < end_) {
      Result result;
      const int64_t ticket = next_to_consume_;
      if (workers_.empty()) {
        result = build_(ticket, view1_, view2_);
      } else {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_cv_.wait(lock, [&] { return ready_.count(ticket) != 0; });
        result = std::move(ready_[ticket]);
        ready_.erase(ticket);
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++next_to_consume_;
      }
      space_.notify_all();
      if (result.error) {
        std::rethrow_exception(result.error);
      }
      if (result.batch) {
        return std::move(result.batch);
      }
      // Every image of this batch was skipped by the source: go on to the next one.
    }
    return std::nullopt;
  }

  /// Batches in one epoch (on every rank): n / B with drop_last, else ceil(n / B), n = shard_size().
  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  /// Samples in the source.
  int64_t source_size() const { return size_; }
  /// Samples this rank reads per epoch: N / world_size (N with world_size 1).
  int64_t shard_size() const { return shard_size_; }
  /// (epoch, batch) of the batch the next call to next() returns (if it is not skipped).
  std::pair<int64_t, int64_t> position() const {
    return {next_to_consume_ / batches_per_epoch_, next_to_consume_ % batches_per_epoch_};
  }
  /// The source positions that make up this rank's batch `batch` of epoch `epoch`, before any
  /// skipping.
  std::vector<int64_t> batch_indices(int64_t epoch, int64_t batch) const {
    TORCH_CHECK(epoch >= 0 && batch >= 0 && batch < batches_per_epoch_, "TwoViewLoader::batch_indices: (epoch ",
                epoch, ", batch ", batch, ") is out of range; batches per epoch: ", batches_per_epoch_);
    std::shared_ptr<const std::vector<int64_t>> order = order_(epoch);
    const int64_t begin = batch * options_.batch_size();
    const int64_t end = std::min(shard_size_, begin + options_.batch_size());
    const int64_t world = options_.world_size(), rank = options_.rank();
    std::vector<int64_t> out;
    out.reserve(static_cast<size_t>(end - begin));
    for (int64_t k = begin; k < end; ++k) {
      out.push_back((*order)[static_cast<size_t>(k * world + rank)]);
    }
    return out;
  }
  const LoaderOptions& options() const { return options_; }
  const Source& source() const { return source_; }

 private:
  struct Result {
    std::optional<TwoViewBatch> batch;
    std::exception_ptr error;
  };

  // Stops the workers and joins them; they return without building more batches.
  void stop_() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    space_.notify_all();
    // Each pool's destructor joins its thread once work_ has returned (a worker whose task had
    // not started yet drops it).
    workers_.clear();
  }

  std::shared_ptr<const std::vector<int64_t>> order_(int64_t epoch) const {
    {
      std::lock_guard<std::mutex> lock(orders_mutex_);
      auto it = orders_.find(epoch);
      if (it != orders_.end()) {
        return it->second;
      }
    }
    std::vector<int64_t> order;
    if (options_.shuffle()) {
      order = epoch_permutation(size_, options_.seed(), epoch);
    } else {
      order.resize(static_cast<size_t>(size_));
      for (int64_t i = 0; i < size_; ++i) {
        order[static_cast<size_t>(i)] = i;
      }
    }
    auto shared = std::make_shared<const std::vector<int64_t>>(std::move(order));
    std::lock_guard<std::mutex> lock(orders_mutex_);
    orders_[epoch] = shared;
    // Workers are at most a few epochs apart; keep the newest few permutations.
    while (orders_.size() > 4) {
      orders_.erase(orders_.begin());
    }
    return shared;
  }

  template <typename V1, typename V2>
  Result build_(int64_t ticket, V1& view1, V2& view2) const {
    Result result;
    try {
      c10::NoGradGuard no_grad;
      const int64_t epoch = ticket / batches_per_epoch_;
      const int64_t batch = ticket % batches_per_epoch_;
      auto fetched = source_.get_batch(batch_indices(epoch, batch));
      if (fetched.labels.numel() == 0) {
        return result;  // all skipped
      }
      // Rank r's batch b is the epoch's global batch b * W + r: its own generator on every rank.
      at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(
          batch_seed(options_.seed(), epoch, batch * options_.world_size() + options_.rank()));
      TwoViewBatch out;
      out.view1 = view1(static_cast<const Images&>(fetched.images), generator);
      out.view2 = view2(static_cast<const Images&>(fetched.images), generator);
      TORCH_CHECK(out.view1.defined() && out.view2.defined(), "TwoViewLoader: view",
                  out.view1.defined() ? 2 : 1, " returned an undefined tensor for batch ", batch, " of epoch ",
                  epoch);
      out.labels = std::move(fetched.labels);
      out.indices = std::move(fetched.indices);
      out.epoch = epoch;
      out.batch = batch;
      result.batch = std::move(out);
    } catch (...) {
      result.error = std::current_exception();
    }
    return result;
  }

  void work_(View1& view1, View2& view2) {
    for (;;) {
      int64_t ticket = 0;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        space_.wait(lock, [&] {
          // As a difference (tickets are never behind the consumer): no overflow for any prefetch.
          return stopping_ || next_ticket_ >= end_ || next_ticket_ - next_to_consume_ < options_.prefetch();
        });
        if (stopping_ || next_ticket_ >= end_) {
          return;
        }
        ticket = next_ticket_++;
      }
      Result result = build_(ticket, view1, view2);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_[ticket] = std::move(result);
      }
      ready_cv_.notify_all();
    }
  }

  Source source_;
  View1 view1_;
  View2 view2_;
  LoaderOptions options_;
  int64_t size_ = 0;
  int64_t shard_size_ = 0;
  int64_t batches_per_epoch_ = 0;
  int64_t end_ = 0;  // global batch numbers: epoch * batches_per_epoch + batch

  std::mutex mutex_;  // guards the four below
  std::condition_variable space_;
  std::condition_variable ready_cv_;
  int64_t next_ticket_ = 0;
  int64_t next_to_consume_ = 0;
  std::map<int64_t, Result> ready_;
  bool stopping_ = false;

  mutable std::mutex orders_mutex_;
  mutable std::map<int64_t, std::shared_ptr<const std::vector<int64_t>>> orders_;

  std::vector<std::unique_ptr<c10::ThreadPool>> workers_;
};

}  // namespace byol::data

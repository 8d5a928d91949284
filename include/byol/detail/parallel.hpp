#pragma once

// How byol's fused CPU kernels use the cores and the vector units, whatever flags the unit that
// includes them was compiled with.
//
//   parallel_for(begin, end, grain, f)   f(first, last) over disjoint ranges, on LibTorch's
//                                        at::get_num_threads() threads
//   lane_sums<K>(n, terms)               K sums over i in [0, n), vectorised
//
// at::parallel_for is inline: with LibTorch's OpenMP backend (Debian's, PyTorch's wheels) it is an
// `omp parallel` region compiled into the unit that includes it, so a program compiled without
// -fopenmp (one that adds byol's include folder without linking the byol::byol target) would run
// it on one thread. parallel_for takes at::parallel_for where it is parallel, and otherwise
// spreads the ranges over LibTorch's inter-op thread pool (at::launch, compiled into LibTorch).
// Such a unit says so once when it compiles. Compile every unit that includes byol the same way.
//
// lane_sums keeps kSumLanes partial sums per quantity, each an independent sum that the compiler
// vectorises without reassociating anything (no OpenMP `simd` or -ffast-math needed), added in a
// fixed order at the end.

#include <ATen/Config.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>

namespace byol::detail {

/// Whether this unit's parallel_for is at::parallel_for (true) or the inter-op pool (false).
/// A namespace-scope constexpr has internal linkage: each unit gets its own value.
#if defined(_OPENMP) || !AT_PARALLEL_OPENMP
constexpr bool kAtenParallelFor = true;
#else
constexpr bool kAtenParallelFor = false;
#if !defined(BYOL_QUIET_NO_OPENMP)
#pragma message( \
    "byol: compiled without OpenMP, which LibTorch's at::parallel_for needs in this unit: byol's CPU kernels spread over LibTorch's inter-op thread pool instead. Link the byol::byol target (or add -fopenmp) for at::parallel_for; define BYOL_QUIET_NO_OPENMP to silence this note.")
#endif
#endif

/// True on a thread that is running a range of the inter-op parallel_for: nested calls run
/// serially there, as at::parallel_for does inside its own region.
inline bool& in_launch_region() {
  static thread_local bool inside = false;
  return inside;
}

/// parallel_for without OpenMP: `chunks` ranges taken in turn by the caller and by tasks on
/// LibTorch's inter-op pool. The caller waits only for ranges that someone has taken, never for
/// a task to start, so a busy pool (or a caller that is itself a pool thread) cannot deadlock it:
/// at worst the caller runs every range itself.
template <typename F>
inline void parallel_for_launch(int64_t begin, int64_t end, int64_t grain, const F& f) {
  const int64_t n = end - begin;
  const int64_t by_grain = (n + std::max<int64_t>(grain, 1) - 1) / std::max<int64_t>(grain, 1);
  const int64_t wanted = std::min<int64_t>(at::get_num_threads(), by_grain);
  if (wanted <= 1 || in_launch_region() || at::in_parallel_region()) {
    f(begin, end);
    return;
  }
  // Ranges of `size`, the last one shorter: no range is empty (5 over 4 threads: 2, 2, 1).
  const int64_t size = (n + wanted - 1) / wanted;
  const int64_t chunks = (n + size - 1) / size;
  struct Shared {
    std::atomic<int64_t> next{0};
    std::mutex mutex;
    std::condition_variable finished;
    int64_t done = 0;
    std::exception_ptr error;
  };
  const auto shared = std::make_shared<Shared>();
  // A task that starts after every range is taken returns at once and never touches f.
  const auto take_ranges = [shared, chunks, size, begin, end, &f] {
    const bool was_inside = in_launch_region();
    in_launch_region() = true;
    for (int64_t c = shared->next.fetch_add(1); c < chunks; c = shared->next.fetch_add(1)) {
      const int64_t first = begin + c * size;
      std::exception_ptr error;
      try {
        f(first, std::min(end, first + size));
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(shared->mutex);
      if (error && !shared->error) {
        shared->error = error;
      }
      if (++shared->done == chunks) {
        shared->finished.notify_all();
      }
    }
    in_launch_region() = was_inside;
  };
  for (int64_t t = 1; t < chunks; ++t) {
    try {
      at::launch(take_ranges);
    } catch (...) {
      break;  // no more tasks (a thread could not start, say): the caller takes their ranges
    }
  }
  take_ranges();
  std::unique_lock<std::mutex> lock(shared->mutex);
  shared->finished.wait(lock, [&] { return shared->done == chunks; });
  if (shared->error) {
    std::rethrow_exception(shared->error);
  }
}

/// The two ways, told apart by a template argument, so that units compiled with and without
/// OpenMP never share one instantiation of either.
template <bool AtenParallelFor, typename F>
inline void parallel_for_with(int64_t begin, int64_t end, int64_t grain, const F& f) {
  if constexpr (AtenParallelFor) {
    at::parallel_for(begin, end, grain, f);
  } else {
    parallel_for_launch(begin, end, grain, f);
  }
}

/// f(first, last) over disjoint ranges covering [begin, end), each at least `grain` long (but the
/// last), on LibTorch's intra-op thread count, with or without OpenMP in this unit.
template <typename F>
inline void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  if (begin < end) {
    parallel_for_with<kAtenParallelFor>(begin, end, grain, f);
  }
}

/// Partial sums per quantity: 16 float32 lanes fill two AVX registers.
constexpr int64_t kSumLanes = 16;

/// The K sums over i in [0, n) of the terms that terms(i, v) writes into v[0..K). Each of
/// kSumLanes lanes sums every kSumLanes-th element, the tail goes to lane 0, and the lanes are
/// added in order: a fixed order for a given n, whatever the compiler flags or the threads.
template <size_t K, typename acc_t, typename Terms>
inline std::array<acc_t, K> lane_sums(int64_t n, const Terms& terms) {
  acc_t lanes[K][kSumLanes] = {};
  int64_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes) {
    for (int64_t l = 0; l < kSumLanes; ++l) {
      acc_t v[K];
      terms(i + l, v);
      for (size_t k = 0; k < K; ++k) {
        lanes[k][l] += v[k];
      }
    }
  }
  for (; i < n; ++i) {
    acc_t v[K];
    terms(i, v);
    for (size_t k = 0; k < K; ++k) {
      lanes[k][0] += v[k];
    }
  }
  std::array<acc_t, K> sums{};
  for (size_t k = 0; k < K; ++k) {
    for (int64_t l = 0; l < kSumLanes; ++l) {
      sums[k] += lanes[k][l];
    }
  }
  return sums;
}

}  // namespace byol::detail

#pragma once

/// The data layer's threads: one budget that divides the cores between the training step, the
/// loader's workers and the decoders (thread_budget), and the pool ImageFolder decodes on
/// (ThreadPool, on LibTorch's c10::ThreadPool).
///
///     auto budget = byol::data::thread_budget(2);   // 2 loader workers
///     byol::data::ThreadPool pool(budget.decode_threads);
///     std::vector<int> squares(100);
///     pool.parallel_for(100, [&](int64_t i) { squares[i] = int(i * i); });   // returns when all ran

#include <ATen/Config.h>
#include <ATen/Parallel.h>
#include <c10/core/thread_pool.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace byol::data {

/// How many threads each part of a training run should use so that together they do not
/// oversubscribe the cores (docs/data.md, "Threads").
struct ThreadBudget {
  /// The cores divided (hardware_concurrency unless given).
  int64_t cores = 1;
  /// The training step's intra-op threads: at::get_num_threads() on the calling thread (what
  /// OMP_NUM_THREADS or at::set_num_threads chose), at most `cores`.
  int64_t train_threads = 1;
  /// TwoViewLoader worker threads (as asked).
  int64_t loader_workers = 1;
  /// Intra-op threads (at::parallel_for inside the views) of each loader worker:
  /// max(1, D / loader_workers), D the data side's cores.
  int64_t worker_threads = 1;
  /// ImageFolder's decoding threads, shared by all workers: D.
  int64_t decode_threads = 1;
};

/// Divides `cores` (0: std::thread::hardware_concurrency()) between the training step and the
/// data side. The step keeps its intra-op threads T = min(at::get_num_threads(), cores); the data
/// side gets D = cores - T when the step was given fewer than all cores, else D = cores (the
/// step then waits on the loader or on a GPU; giving the data side less measured 2x slower,
/// docs/benchmarks.md). Each of the `loader_workers` workers runs its views on
/// max(1, D / loader_workers) intra-op threads, so that the workers together use D rather than
/// loader_workers x T, and the decoders (which a worker waits on) get D. ImageFolder's
/// num_workers defaults to decode_threads; LoaderOptions::worker_threads takes worker_threads
/// when asked to (its default leaves the workers LibTorch's, which measured faster on 2 cores).
///
///     at::set_num_threads(4);                        // the step: 4 of, say, 16 cores
///     auto b = byol::data::thread_budget(3);         // 3 loader workers share the other 12
///     b.worker_threads;                              // 4
///     b.decode_threads;                              // 12
inline ThreadBudget thread_budget(int64_t loader_workers = 1, int64_t cores = 0) {
  TORCH_CHECK(loader_workers >= 0, "thread_budget: loader_workers must be >= 0, got ", loader_workers);
  TORCH_CHECK(cores >= 0, "thread_budget: cores must be >= 0, got ", cores);
  ThreadBudget b;
  b.cores = cores > 0 ? cores : std::max<int64_t>(1, std::thread::hardware_concurrency());
  b.train_threads = std::clamp<int64_t>(at::get_num_threads(), 1, b.cores);
  const int64_t data = b.train_threads < b.cores ? b.cores - b.train_threads : b.cores;
  b.loader_workers = loader_workers;
  b.worker_threads = std::max<int64_t>(1, data / std::max<int64_t>(1, loader_workers));
  b.decode_threads = data;
  return b;
}

namespace detail {

/// Sets the intra-op threads of at::parallel_for on the calling thread only. With LibTorch's
/// OpenMP backend that is the thread's own OpenMP team size (omp_set_num_threads), which leaves
/// other threads and LibTorch's global setting alone (at::set_num_threads would change both).
/// Without OpenMP in this unit it does nothing.
inline void set_thread_intra_op_threads(int64_t threads) {
#if defined(_OPENMP) && AT_PARALLEL_OPENMP
  // LibTorch sets a thread's team size to its global count once, lazily, the first time that
  // thread asks, and each shared object keeps its own "done" flag (a thread_local inside an inline
  // function): both initialisations run first, this unit's and LibTorch's own (through
  // at::get_num_threads), or whichever ran later would undo ours (seen with LibTorch 2.6 on a
  // c10::ThreadPool thread; 1.13 kept the setting).
  at::internal::lazy_init_num_threads();
  (void)at::get_num_threads();
  omp_set_num_threads(static_cast<int>(std::max<int64_t>(1, threads)));
#else
  (void)threads;
#endif
}

}  // namespace detail

/// `num_threads` threads that run parallel_for's items; with 0 threads parallel_for runs them on
/// the calling thread. Each thread is a one-thread c10::ThreadPool (LibTorch's own pool): one
/// pool of n threads would std::terminate if the system refused a thread partway, a one-thread
/// pool throws std::system_error instead. The destructor joins the threads; it must not run
/// while a parallel_for is in progress.
///
///     byol::data::ThreadPool pool(2);
///     pool.parallel_for(n, [&](int64_t i) { out[i] = work(i); });
///     pool.num_threads();   // 2
class ThreadPool {
 public:
  /// @param num_threads  worker threads, >= 0
  explicit ThreadPool(int64_t num_threads) {
    TORCH_CHECK(num_threads >= 0, "ThreadPool: num_threads must be >= 0, got ", num_threads);
    // A refused thread throws from the one-thread pool's constructor; the pools already made
    // join their threads as this vector unwinds.
    threads_.reserve(static_cast<size_t>(num_threads));
    for (int64_t t = 0; t < num_threads; ++t) {
      threads_.push_back(std::make_unique<c10::ThreadPool>(1));
    }
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int64_t num_threads() const { return static_cast<int64_t>(threads_.size()); }

  /// Calls fn(i) once for every i in [0, count), spread over the threads (each takes the next
  /// unclaimed i), and returns when all calls have returned. If calls throw, the others still
  /// run and the first exception is rethrown here. Safe to call from several threads at once; a
  /// call from inside one of this pool's own items runs inline (no deadlock).
  void parallel_for(int64_t count, const std::function<void(int64_t)>& fn) {
    TORCH_CHECK(count >= 0, "ThreadPool::parallel_for: count must be >= 0, got ", count);
    if (count == 0) {
      return;
    }
    if (threads_.empty() || current_pool_() == this) {
      std::exception_ptr error;
      for (int64_t i = 0; i < count; ++i) {
        try {
          fn(i);
        } catch (...) {
          if (!error) {
            error = std::current_exception();
          }
        }
      }
      if (error) {
        std::rethrow_exception(error);
      }
      return;
    }
    struct Job {
      std::atomic<int64_t> next{0};
      int64_t count = 0;
      const std::function<void(int64_t)>* fn = nullptr;
      std::mutex mutex;
      std::condition_variable done;
      int64_t running = 0;
      std::exception_ptr error;
    };
    auto job = std::make_shared<Job>();
    job->count = count;
    job->fn = &fn;
    const int64_t tasks = std::min<int64_t>(count, num_threads());
    job->running = tasks;
    std::exception_ptr not_queued;
    for (int64_t t = 0; t < tasks && !not_queued; ++t) {
      try {
        queue_(t, job);
      } catch (...) {
        // The items are still taken by the tasks already queued; fn must outlive them.
        not_queued = std::current_exception();
        std::lock_guard<std::mutex> guard(job->mutex);
        job->running -= tasks - t;
      }
    }
    std::unique_lock<std::mutex> lock(job->mutex);
    job->done.wait(lock, [&] { return job->running == 0; });
    if (not_queued && job->next.load() < count) {
      std::rethrow_exception(not_queued);  // no task was queued to run the items
    }
    if (job->error) {
      std::rethrow_exception(job->error);
    }
  }

 private:
  template <typename Job>
  void queue_(int64_t t, const std::shared_ptr<Job>& job) {
    threads_[static_cast<size_t>(t)]->run([this, job] {
      ThreadPool* const outer = current_pool_();
      current_pool_() = this;
      for (int64_t i = job->next++; i < job->count; i = job->next++) {
        try {
          (*job->fn)(i);
        } catch (...) {
          std::lock_guard<std::mutex> guard(job->mutex);
          if (!job->error) {
            job->error = std::current_exception();
          }
        }
      }
      current_pool_() = outer;
      std::lock_guard<std::mutex> guard(job->mutex);
      if (--job->running == 0) {
        job->done.notify_all();
      }
    });
  }

  static ThreadPool*& current_pool_() {
    thread_local ThreadPool* pool = nullptr;
    return pool;
  }

  std::vector<std::unique_ptr<c10::ThreadPool>> threads_;
};

}  // namespace byol::data

#pragma once

// The benchmark's baseline: byol::data::ThreadPool as it was before it moved onto
// c10::ThreadPool (std::thread workers and a hand-written task queue), kept here only so that
// bench_loader.cpp can measure the replacement beside it in the same run.

#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace byol_bench {

/// `num_threads` worker threads that run parallel_for's items; with 0 threads parallel_for runs
/// them on the calling thread. The destructor lets queued work finish and joins the threads.
///
///     byol_bench::LegacyThreadPool pool(2);
///     pool.parallel_for(n, [&](int64_t i) { out[i] = work(i); });
///     pool.num_threads();   // 2
class LegacyThreadPool {
 public:
  /// @param num_threads  worker threads, >= 0
  explicit LegacyThreadPool(int64_t num_threads) {
    TORCH_CHECK(num_threads >= 0, "LegacyThreadPool: num_threads must be >= 0, got ", num_threads);
    workers_.reserve(static_cast<size_t>(num_threads));
    try {
      for (int64_t t = 0; t < num_threads; ++t) {
        workers_.emplace_back([this] { work_(); });
      }
    } catch (...) {
      stop_();  // the threads already started must not outlive a failed construction
      throw;
    }
  }

  LegacyThreadPool(const LegacyThreadPool&) = delete;
  LegacyThreadPool& operator=(const LegacyThreadPool&) = delete;

  ~LegacyThreadPool() { stop_(); }

  int64_t num_threads() const { return static_cast<int64_t>(workers_.size()); }

  /// Calls fn(i) once for every i in [0, count), spread over the workers, and returns when all
  /// calls have returned. If calls throw, the others still run and the first exception is
  /// rethrown here. Safe to call from several threads at once; a call from one of this pool's
  /// own workers runs inline (no deadlock).
  void parallel_for(int64_t count, const std::function<void(int64_t)>& fn) {
    TORCH_CHECK(count >= 0, "LegacyThreadPool::parallel_for: count must be >= 0, got ", count);
    if (count == 0) {
      return;
    }
    if (workers_.empty() || current_pool_() == this) {
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
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int64_t t = 0; t < tasks; ++t) {
        queue_.emplace_back([job] {
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
          std::lock_guard<std::mutex> guard(job->mutex);
          if (--job->running == 0) {
            job->done.notify_all();
          }
        });
      }
    }
    wake_.notify_all();
    std::unique_lock<std::mutex> lock(job->mutex);
    job->done.wait(lock, [&] { return job->running == 0; });
    if (job->error) {
      std::rethrow_exception(job->error);
    }
  }

 private:
  void stop_() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& worker : workers_) {
      worker.join();
    }
  }

  static LegacyThreadPool*& current_pool_() {
    thread_local LegacyThreadPool* pool = nullptr;
    return pool;
  }

  void work_() {
    current_pool_() = this;
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) {
          return;  // stopping, nothing left
        }
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace byol_bench

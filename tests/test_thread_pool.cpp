// byol/data/thread_pool.hpp: ThreadPool and the thread budget.

#include "data_support.hpp"

using namespace byol_test_data;  // NOLINT(google-build-using-namespace)

// ---- ThreadPool ---------------------------------------------------------------------------------

TEST_CASE("ThreadPool runs every index once, rethrows, and runs nested calls inline", "[thread_pool]") {
  for (const int64_t threads : {0, 1, 3}) {
    DYNAMIC_SECTION(threads << " threads") {
      byol::data::ThreadPool pool(threads);
      std::vector<std::atomic<int>> hits(1000);
      pool.parallel_for(1000, [&](int64_t i) { hits[static_cast<size_t>(i)]++; });
      for (auto& h : hits) REQUIRE(h.load() == 1);
      std::atomic<int> done{0};
      require_error(
          [&] {
            pool.parallel_for(50, [&](int64_t i) {
              TORCH_CHECK(i != 17, "item ", i, " failed");
              done++;
            });
          },
          {"item 17 failed"});
      CHECK(done.load() == 49);  // the others still ran
      std::atomic<int> inner{0};
      pool.parallel_for(4, [&](int64_t) { pool.parallel_for(5, [&](int64_t) { inner++; }); });
      CHECK(inner.load() == 20);
    }
  }
  require_error([] { byol::data::ThreadPool(-1); }, {"num_threads", "-1"});
}

TEST_CASE("ThreadPool serves several callers at once, each call's items once", "[thread_pool]") {
  // How ImageFolder's pool is used: every TwoViewLoader worker decodes its batch on it.
  byol::data::ThreadPool pool(2);
  std::vector<std::vector<std::atomic<int>>> hits(4);
  for (auto& h : hits) h = std::vector<std::atomic<int>>(300);
  std::vector<std::thread> callers;
  for (size_t c = 0; c < hits.size(); ++c) {
    callers.emplace_back([&, c] { pool.parallel_for(300, [&](int64_t i) { hits[c][static_cast<size_t>(i)]++; }); });
  }
  for (auto& t : callers) t.join();
  for (auto& h : hits) {
    for (auto& x : h) REQUIRE(x.load() == 1);
  }
}

TEST_CASE("thread_budget divides the cores: the step keeps its threads, the data side the rest", "[thread_pool]") {
  const int saved = torch::get_num_threads();
  torch::set_num_threads(4);
  // 16 cores, a 4-thread step: 12 for the data side; 3 workers get 12 / 3 = 4 each.
  auto b = byol::data::thread_budget(3, 16);
  CHECK(b.cores == 16);
  CHECK(b.train_threads == 4);
  CHECK(b.loader_workers == 3);
  CHECK(b.worker_threads == 4);
  CHECK(b.decode_threads == 12);
  // 5 workers: floor(12 / 5) = 2 each.
  CHECK(byol::data::thread_budget(5, 16).worker_threads == 2);
  // 2 cores, a step that wants 4: the step is held to the 2 cores and, having them all, leaves
  // the data side all 2 as well; 2 workers get 1 each.
  b = byol::data::thread_budget(2, 2);
  CHECK(b.train_threads == 2);
  CHECK(b.worker_threads == 1);
  CHECK(b.decode_threads == 2);
  // A step on all 4 cores: the data side gets the 4 too; 4 workers, 1 each.
  b = byol::data::thread_budget(4, 4);
  CHECK(b.train_threads == 4);
  CHECK(b.worker_threads == 1);
  CHECK(b.decode_threads == 4);
  // More workers than data cores: one intra-op thread each, never 0.
  CHECK(byol::data::thread_budget(40, 16).worker_threads == 1);
  // 0 workers (batches built on the caller's thread) is allowed.
  CHECK(byol::data::thread_budget(0, 16).worker_threads == 12);
  // cores = 0: the machine's.
  CHECK(byol::data::thread_budget(1).cores == std::max<int64_t>(1, std::thread::hardware_concurrency()));
  torch::set_num_threads(saved);
  require_error([] { byol::data::thread_budget(-1); }, {"loader_workers", "-1"});
  require_error([] { byol::data::thread_budget(1, -2); }, {"cores", "-2"});
}

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

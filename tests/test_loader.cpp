// byol/data/loader.hpp: TwoViewLoader's ordering, determinism, resume, shutdown and error
// propagation, over tensors and over an ImageFolder, and with TrainState.

#include <byol/learner.hpp>
#include <byol/optim/lars.hpp>
#include <byol/schedule.hpp>
#include <byol/train_state.hpp>
#include <byol/detail/compat.hpp>

#include "data_support.hpp"

using namespace byol_test_data;  // NOLINT(google-build-using-namespace)

// ---- TwoViewLoader ------------------------------------------------------------------------------

namespace {

/// Sample i's image is the constant i, its label 1000 + i.
byol::data::TensorSource counting_source(int64_t n) {
  return byol::data::TensorSource(torch::arange(n, torch::kLong).reshape({n, 1, 1, 1}).to(torch::kFloat),
                                  torch::arange(n, torch::kLong) + 1000);
}

// view1 keeps the images; view2 adds noise drawn from the batch's generator.
const auto keep_view = [](const torch::Tensor& x, at::Generator&) { return x.clone(); };
const auto noisy_view = [](const torch::Tensor& x, at::Generator& g) {
  return x + at::rand(x.sizes(), g, torch::TensorOptions().dtype(torch::kFloat));
};

struct Seen {
  std::vector<torch::Tensor> view1, view2, indices;
  std::vector<std::pair<int64_t, int64_t>> where;
};

template <typename Loader>
Seen drain(Loader& loader) {
  Seen seen;
  while (auto batch = loader.next()) {
    seen.view1.push_back(batch->view1);
    seen.view2.push_back(batch->view2);
    seen.indices.push_back(batch->indices);
    seen.where.emplace_back(batch->epoch, batch->batch);
  }
  return seen;
}

}  // namespace

TEST_CASE("TwoViewLoader yields every index exactly once per epoch, views matching indices", "[loader]") {
  for (const bool drop_last : {true, false}) {
    DYNAMIC_SECTION("drop_last " << drop_last) {
      byol::data::TwoViewLoader loader(counting_source(103), keep_view, noisy_view,
                                       byol::data::LoaderOptions(10).epochs(3).drop_last(drop_last).seed(7).num_workers(2));
      CHECK(loader.batches_per_epoch() == (drop_last ? 10 : 11));
      std::map<int64_t, std::vector<int64_t>> per_epoch;
      int64_t batches = 0;
      while (auto b = loader.next()) {
        ++batches;
        const auto idx = as_vector(b->indices);
        CHECK(idx.size() == (drop_last || b->batch < 10 ? 10u : 3u));
        CHECK(as_vector(b->view1.flatten()) == idx);  // the images are the samples at those indices
        CHECK(as_vector(b->labels) == as_vector(b->indices + 1000));
        const auto noise = (b->view2 - b->view1).flatten();
        CHECK(noise.min().item<double>() >= 0.0);
        CHECK(noise.max().item<double>() < 1.0);
        CHECK(b->view1.sizes() == torch::IntArrayRef({static_cast<int64_t>(idx.size()), 1, 1, 1}));
        per_epoch[b->epoch].insert(per_epoch[b->epoch].end(), idx.begin(), idx.end());
      }
      CHECK(batches == 3 * loader.batches_per_epoch());
      REQUIRE(per_epoch.size() == 3);
      for (auto& e : per_epoch) {
        const std::set<int64_t> distinct(e.second.begin(), e.second.end());
        CHECK(distinct.size() == e.second.size());  // no index twice
        CHECK(e.second.size() == (drop_last ? 100u : 103u));
        CHECK(*distinct.begin() >= 0);
        CHECK(*distinct.rbegin() <= 102);
      }
      CHECK(per_epoch[0] != per_epoch[1]);  // reshuffled each epoch
    }
  }
  SECTION("shuffle false keeps the source order") {
    byol::data::TwoViewLoader loader(counting_source(12), keep_view, keep_view,
                                     byol::data::LoaderOptions(4).shuffle(false).num_workers(0));
    std::vector<int64_t> all;
    while (auto b = loader.next()) {
      const auto idx = as_vector(b->indices);
      all.insert(all.end(), idx.begin(), idx.end());
    }
    std::vector<int64_t> expected(12);
    for (int64_t i = 0; i < 12; ++i) expected[static_cast<size_t>(i)] = i;
    CHECK(all == expected);
  }
}

TEST_CASE("epoch_permutation and batch_seed are pure functions of their arguments", "[loader]") {
  const auto a = byol::data::epoch_permutation(1000, 3, 5);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) REQUIRE(sorted[static_cast<size_t>(i)] == i);
  CHECK(byol::data::epoch_permutation(1000, 3, 5) == a);
  CHECK(byol::data::epoch_permutation(1000, 3, 6) != a);
  CHECK(byol::data::epoch_permutation(1000, 4, 5) != a);
  CHECK(byol::data::epoch_permutation(0, 1, 1).empty());
  CHECK(byol::data::epoch_permutation(1, 1, 1) == std::vector<int64_t>({0}));
  // Pinned orders, from a Python re-implementation of the documented algorithm: SplitMix64
  // (x += 0x9E3779B97F4A7C15; x ^= x >> 30, *= 0xBF58476D1CE4E5B9; x ^= x >> 27,
  // *= 0x94D049BB133111EB; x ^= x >> 31) seeded by mix_seed(mix_seed(seed, "perm"), epoch), driving
  // a Fisher-Yates shuffle from the back with rejection below 2^64 - 1 - (2^64 - 1) mod (i + 1).
  CHECK(byol::data::epoch_permutation(10, 3, 5) == std::vector<int64_t>({1, 5, 0, 6, 2, 3, 4, 9, 7, 8}));
  CHECK(byol::data::epoch_permutation(10, 0, 0) == std::vector<int64_t>({8, 7, 0, 4, 1, 2, 6, 5, 3, 9}));
  // Every position receives every value about equally often over many epochs (uniformity).
  std::vector<std::vector<int>> counts(4, std::vector<int>(4, 0));
  for (int64_t e = 0; e < 4000; ++e) {
    const auto p = byol::data::epoch_permutation(4, 11, e);
    for (size_t i = 0; i < 4; ++i) counts[i][static_cast<size_t>(p[i])]++;
  }
  for (const auto& row : counts)
    for (const int c : row) CHECK(std::abs(c - 1000) < 150);  // 1000 +- 5 sigma
  CHECK(byol::data::batch_seed(1, 2, 3) == byol::data::batch_seed(1, 2, 3));
  CHECK(byol::data::batch_seed(1, 2, 3) != byol::data::batch_seed(1, 3, 2));
  CHECK(byol::data::batch_seed(1, 2, 3) != byol::data::batch_seed(2, 2, 3));
}

TEST_CASE("TwoViewLoader is deterministic whatever the number of workers and the prefetch depth", "[loader]") {
  auto run = [](int64_t workers, int64_t prefetch, uint64_t seed) {
    byol::data::TwoViewLoader loader(
        counting_source(50), noisy_view, noisy_view,
        byol::data::LoaderOptions(8).epochs(2).seed(seed).num_workers(workers).prefetch(prefetch));
    return drain(loader);
  };
  const Seen reference = run(0, 1, 42);
  REQUIRE(reference.view1.size() == 12);
  for (const auto& config : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {2, 2}, {3, 5}}) {
    DYNAMIC_SECTION(config.first << " workers, prefetch " << config.second) {
      const Seen other = run(config.first, config.second, 42);
      REQUIRE(other.view1.size() == reference.view1.size());
      for (size_t b = 0; b < reference.view1.size(); ++b) {
        CHECK(other.where[b] == reference.where[b]);
        CHECK(torch::equal(other.indices[b], reference.indices[b]));
        CHECK(torch::equal(other.view1[b], reference.view1[b]));
        CHECK(torch::equal(other.view2[b], reference.view2[b]));
      }
    }
  }
  // The two views of a batch get different draws; another seed gives other batches.
  CHECK_FALSE(torch::equal(reference.view1[0], reference.view2[0]));
  const Seen reseeded = run(1, 2, 43);
  CHECK_FALSE(torch::equal(reseeded.indices[0], reference.indices[0]));
  // A batch's views are exactly view(images, generator seeded by batch_seed), view1 first.
  auto g = at::make_generator<at::CPUGeneratorImpl>(byol::data::batch_seed(42, 1, 2));
  const auto images = counting_source(50).get_batch(as_vector(reference.indices[6 + 2])).images;
  const auto v1 = noisy_view(images, g);
  const auto v2 = noisy_view(images, g);
  CHECK((reference.where[8] == std::pair<int64_t, int64_t>(1, 2)));
  CHECK(torch::equal(reference.view1[8], v1));
  CHECK(torch::equal(reference.view2[8], v2));
}

TEST_CASE("TwoViewLoader resumed at (epoch, batch) yields what the uninterrupted run yields there", "[loader]") {
  byol::data::TwoViewLoader full(counting_source(40), noisy_view, noisy_view,
                                 byol::data::LoaderOptions(6).epochs(3).seed(9).num_workers(2));
  const Seen all = drain(full);
  REQUIRE(all.view1.size() == 18);  // 6 batches per epoch
  byol::data::TwoViewLoader resumed(
      counting_source(40), noisy_view, noisy_view,
      byol::data::LoaderOptions(6).epochs(3).seed(9).num_workers(1).start_epoch(1).start_batch(4));
  CHECK((resumed.position() == std::pair<int64_t, int64_t>(1, 4)));
  const Seen rest = drain(resumed);
  REQUIRE(rest.view1.size() == 18 - 10);
  for (size_t b = 0; b < rest.view1.size(); ++b) {
    CHECK(rest.where[b] == all.where[b + 10]);
    CHECK(torch::equal(rest.indices[b], all.indices[b + 10]));
    CHECK(torch::equal(rest.view1[b], all.view1[b + 10]));
    CHECK(torch::equal(rest.view2[b], all.view2[b + 10]));
  }
  byol::data::TwoViewLoader finished(counting_source(40), noisy_view, noisy_view,
                                     byol::data::LoaderOptions(6).epochs(3).start_epoch(3));
  CHECK_FALSE(finished.next().has_value());
}

TEST_CASE("TwoViewLoader stops cleanly when the consumer stops early", "[loader]") {
  std::atomic<int> built{0};
  auto slow = [&built](const torch::Tensor& x, at::Generator&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    built++;
    return x.clone();
  };
  {
    byol::data::TwoViewLoader loader(counting_source(1000), slow, slow,
                                     byol::data::LoaderOptions(4).epochs(100).num_workers(3).prefetch(3));
    REQUIRE(loader.next().has_value());
  }  // destroyed with 24999 batches left: must join, not hang
  {
    byol::data::TwoViewLoader loader(counting_source(1000), slow, slow,
                                     byol::data::LoaderOptions(4).epochs(100).num_workers(2));
  }  // destroyed before any next()
  // Prefetch bounds the work done ahead: at most prefetch batches beyond the consumed one per
  // loader (each batch calls the view twice).
  CHECK(built.load() <= 2 * ((1 + 3) + 2));
}

namespace {

// A view whose copies draw on a shared budget: the copy that finds it spent throws.
struct RationedView {
  explicit RationedView(std::shared_ptr<int> budget) : copies_left(std::move(budget)) {}
  RationedView(const RationedView& other) : copies_left(other.copies_left) {
    if (*copies_left == 0) throw std::runtime_error("out of copies");
    --*copies_left;
  }
  RationedView(RationedView&&) noexcept = default;
  torch::Tensor operator()(const torch::Tensor& x, at::Generator&) const { return x.clone(); }
  std::shared_ptr<int> copies_left;
};

}  // namespace

TEST_CASE("TwoViewLoader whose second worker fails to start stops the first and throws", "[loader]") {
  // Each worker takes a copy of both views: a budget of 2 starts worker 0, and worker 1's copy
  // throws. The started worker must be joined (a joinable std::thread would call terminate).
  auto budget = std::make_shared<int>(2);
  REQUIRE_THROWS_WITH(([&] {
                        byol::data::TwoViewLoader loader(counting_source(64), RationedView(budget),
                                                         RationedView(budget),
                                                         byol::data::LoaderOptions(4).epochs(3).num_workers(2));
                      })(),
                      "out of copies");
  CHECK(*budget == 0);
}

TEST_CASE("TwoViewLoader rethrows a worker's exception to the consumer and continues after it", "[loader]") {
  auto failing = [](const torch::Tensor& x, at::Generator&) {
    TORCH_CHECK((x.flatten() != 5).all().item<bool>(), "cannot augment the batch holding sample 5");
    return x.clone();
  };
  for (const int64_t workers : {0, 2}) {
    DYNAMIC_SECTION(workers << " workers") {
      byol::data::TwoViewLoader loader(counting_source(20), failing, keep_view,
                                       byol::data::LoaderOptions(4).num_workers(workers).seed(3));
      int64_t ok = 0, failed = 0;
      std::vector<int64_t> seen;
      for (;;) {
        try {
          auto b = loader.next();
          if (!b) break;
          ++ok;
          const auto idx = as_vector(b->indices);
          seen.insert(seen.end(), idx.begin(), idx.end());
        } catch (const c10::Error& e) {
          ++failed;
          CHECK(std::string(e.what_without_backtrace()).find("sample 5") != std::string::npos);
        }
      }
      CHECK(failed == 1);
      CHECK(ok == 4);
      CHECK(std::find(seen.begin(), seen.end(), 5) == seen.end());
      CHECK(seen.size() == 16);
    }
  }
}

TEST_CASE("TwoViewLoader over an ImageFolder: lists of images, skipped files left out", "[loader]") {
  TempDir dir("loader_folder");
  for (int i = 0; i < 6; ++i) {
    save_png(dir.path / (i < 3 ? "a" : "b") / ("img" + std::to_string(i) + ".png"),
                          pattern_image(i, 6 + i, 5));
  }
  write_text(dir / "b/zz_broken.png", "broken");
  int reports = 0;
  byol::data::ImageFolder folder(byol::data::ImageFolderOptions(dir.path.string()).num_workers(2).on_skip(
      [&](const byol::data::SkippedFile&) { ++reports; }));
  REQUIRE(folder.size() == 7);
  // A view over a list of differently sized images: crop each to 5x5 and stack, as a resized
  // crop would.
  auto crop = [](const std::vector<torch::Tensor>& images, at::Generator&) {
    std::vector<torch::Tensor> out;
    for (const auto& im : images) out.push_back(im.slice(1, 0, 5).to(torch::kFloat).div(255));
    return torch::stack(out);
  };
  std::function<torch::Tensor(const std::vector<torch::Tensor>&, at::Generator&)> as_function = crop;
  byol::data::TwoViewLoader loader(folder, crop, as_function,
                                   byol::data::LoaderOptions(3).drop_last(false).epochs(2).num_workers(1));
  std::map<int64_t, int64_t> images_per_epoch;
  while (auto b = loader.next()) {
    CHECK(b->view1.size(0) == b->indices.size(0));
    CHECK(b->view1.sizes().slice(1) == torch::IntArrayRef({3, 5, 5}));
    CHECK(torch::equal(b->view1, b->view2));
    for (int64_t k = 0; k < b->indices.size(0); ++k) {
      const int64_t i = b->indices[k].item<int64_t>();
      CHECK(torch::allclose(b->view1[k], pattern_image(i, 6 + i, 5).slice(1, 0, 5).to(torch::kFloat).div(255)));
      CHECK(b->labels[k].item<int64_t>() == (i < 3 ? 0 : 1));
    }
    images_per_epoch[b->epoch] += b->indices.size(0);
  }
  CHECK(images_per_epoch[0] == 6);
  CHECK(images_per_epoch[1] == 6);
  CHECK(folder.skipped_count() == 1);  // the loader's copy reports to the same record
  CHECK(reports == 1);
}

TEST_CASE("TwoViewLoader option errors name the option and value", "[loader]") {
  auto make = [](byol::data::LoaderOptions o) {
    byol::data::TwoViewLoader loader(counting_source(10), keep_view, keep_view, o);
  };
  require_error([&] { make(byol::data::LoaderOptions(0)); }, {"batch_size", "> 0", "0"});
  require_error([&] { make(byol::data::LoaderOptions(11)); }, {"10 samples", "batch_size = 11", "drop_last"});
  CHECK_NOTHROW(make(byol::data::LoaderOptions(11).drop_last(false)));
  require_error([&] { make(byol::data::LoaderOptions(2).epochs(0)); }, {"epochs", ">= 1"});
  require_error([&] { make(byol::data::LoaderOptions(2).prefetch(0)); }, {"prefetch", ">= 1"});
  require_error([&] { make(byol::data::LoaderOptions(2).num_workers(-1)); }, {"num_workers", "-1"});
  require_error([&] { make(byol::data::LoaderOptions(2).start_batch(5)); }, {"start_batch", "[0, 5)", "5"});
  require_error([&] { make(byol::data::LoaderOptions(2).epochs(2).start_epoch(3)); }, {"start_epoch", "[0, 2]", "3"});
  require_error([&] { byol::data::TensorSource(torch::zeros({3, 2}), torch::zeros({4}, torch::kLong)); },
                {"TensorSource", "3 samples", "4"});
  require_error([&] { byol::data::TensorSource(torch::zeros({3, 2}), torch::zeros({3})); },
                {"labels must be integers", "Float"});
  require_error([&] { counting_source(5).get_batch({5}); }, {"index 5", "5 samples"});
}

TEST_CASE("TwoViewLoader: overflowing run lengths, absurd worker counts and undefined views are errors", "[loader]") {
  auto make = [](byol::data::LoaderOptions o) {
    byol::data::TwoViewLoader loader(counting_source(10), keep_view, keep_view, o);
  };
  // 5 batches per epoch: epochs * 5 would overflow int64.
  require_error([&] { make(byol::data::LoaderOptions(2).epochs(std::numeric_limits<int64_t>::max() / 2)); },
                {"epochs", "overflows"});
  require_error([&] { make(byol::data::LoaderOptions(2).num_workers(100000)); }, {"num_workers", "100000", "1024"});
  // A huge prefetch depth is fine: every batch, once, in order.
  byol::data::TwoViewLoader deep(counting_source(10), keep_view, keep_view,
                                 byol::data::LoaderOptions(2).epochs(2).shuffle(false).num_workers(2).prefetch(
                                     std::numeric_limits<int64_t>::max()));
  int64_t count = 0;
  while (auto batch = deep.next()) {
    CHECK(batch->epoch * 5 + batch->batch == count);
    ++count;
  }
  CHECK(count == 10);
  // A view that hands on an undefined tensor: the error says which view and which batch.
  for (const int64_t workers : {0, 1}) {
    auto undefined = [](const torch::Tensor&, at::Generator&) { return torch::Tensor(); };
    byol::data::TwoViewLoader loader(counting_source(10), keep_view, undefined,
                                     byol::data::LoaderOptions(2).num_workers(workers));
    require_error([&] { loader.next(); }, {"TwoViewLoader", "view2", "undefined", "batch 0", "epoch 0"});
  }
}

// ---- TrainState with a real loader ----------------------------------------------------------------

namespace {

using NoisyView = std::decay_t<decltype(noisy_view)>;

// A run fed by a TwoViewLoader with background workers and prefetching: the state saves the
// loader's position, and a resumed loader built there yields what the straight run got.
struct LoaderRun {
  explicit LoaderRun(const torch::Tensor& images) : source(images, torch::zeros({images.size(0)}, torch::kLong)) {
    state.module("model", model).optimizer("lars", lars).schedule("lr", lr).schedule("tau", tau).counter("step", step);
  }
  static torch::nn::Sequential encoder() {
    return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)),
                                 torch::nn::BatchNorm2d(4), torch::nn::ReLU(), torch::nn::Dropout(0.2),
                                 torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(2)),
                                 torch::nn::Flatten());
  }
  // Builds the loader where the state says the run stopped ((0, 0) for a new run).
  void start_loader() {
    const auto at = state.loader_position();
    loader = std::make_unique<byol::data::TwoViewLoader<byol::data::TensorSource, NoisyView>>(
        source, noisy_view, noisy_view,
        byol::data::LoaderOptions(8).epochs(2).seed(5).num_workers(2).prefetch(3).start_epoch(at.first).start_batch(
            at.second));
    state.loader(*loader);
  }
  void train_step() {
    auto batch = loader->next();
    REQUIRE(batch.has_value());
    auto loss = model.loss(batch->view1.clamp(0, 1), batch->view2.clamp(0, 1));
    lars.zero_grad();
    loss.backward();
    lars.step();
    lr.step();
    model.update_target(tau.step());
    ++step;
  }

  byol::data::TensorSource source;
  byol::BYOL<torch::nn::Sequential> model{encoder(), byol::BYOLOptions(16).hidden_dim(16).projection_dim(8)
                                                          .predictor_hidden_dim(16)};
  byol::optim::LARS lars{model.online_parameters(), byol::optim::LARSOptions(0.5).weight_decay(1e-4)};
  byol::schedule::WarmupCosineLR lr{lars, 2, 10};  // 40 images / 8 = 5 batches, 2 epochs
  byol::schedule::TargetTau tau{0.9, 10};
  int64_t step = 0;
  byol::TrainState state;
  std::unique_ptr<byol::data::TwoViewLoader<byol::data::TensorSource, NoisyView>> loader;
};

}  // namespace

TEST_CASE("TrainState with a TwoViewLoader: stopped, saved, rebuilt and resumed equals straight, bitwise",
          "[loader][train_state]") {
  const int saved_threads = torch::get_num_threads();
  torch::set_num_threads(1);
  char pattern[] = "/tmp/byol_train_state_loader_XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::string path = std::string(pattern) + "/state.pt";
  torch::manual_seed(1);
  const auto images = torch::rand({40, 1, 6, 6});

  torch::manual_seed(2);
  LoaderRun straight(images);
  straight.start_loader();
  for (int k = 0; k < 10; ++k) straight.train_step();

  torch::manual_seed(2);
  auto first = std::make_unique<LoaderRun>(images);
  first->start_loader();
  for (int k = 0; k < 6; ++k) first->train_step();  // into the second epoch, batches prefetched
  first->state.save(path);
  first.reset();

  torch::manual_seed(77);
  LoaderRun resumed(images);
  resumed.state.load(path);
  REQUIRE((resumed.state.loader_position() == std::pair<int64_t, int64_t>(1, 1)));
  resumed.start_loader();
  for (int k = 0; k < 4; ++k) resumed.train_step();
  CHECK_FALSE(resumed.loader->next().has_value());

  const auto a = straight.model.named_parameters(), b = resumed.model.named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].key());
    REQUIRE(torch::equal(a[i].value(), b[i].value()));
  }
  const auto ab = straight.model.named_buffers(), bb = resumed.model.named_buffers();
  for (size_t i = 0; i < ab.size(); ++i) {
    INFO(ab[i].key());
    REQUIRE(torch::equal(ab[i].value(), bb[i].value()));
  }
  const auto pa = straight.model.online_parameters(), pb = resumed.model.online_parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    const auto& sa = static_cast<const byol::optim::LARSParamState&>(
        *straight.lars.state().at(byol::detail::optimizer_state_key(pa[i])));
    const auto& sb = static_cast<const byol::optim::LARSParamState&>(
        *resumed.lars.state().at(byol::detail::optimizer_state_key(pb[i])));
    REQUIRE(torch::equal(sa.momentum_buffer(), sb.momentum_buffer()));
  }
  CHECK(straight.lars.param_groups()[0].options().get_lr() == resumed.lars.param_groups()[0].options().get_lr());
  CHECK(resumed.step == 10);
  torch::set_num_threads(saved_threads);
}

// ---- Sharding over data-parallel ranks ------------------------------------------------------------

TEST_CASE("Sharded TwoViewLoader: disjoint shards that cover the epoch less N % W, equal steps, reshuffled",
          "[loader]") {
  // 23 samples over 3 ranks: 7 per rank; the epoch's last 23 - 21 = 2 samples sit it out.
  const int64_t n = 23, world = 3;
  for (const bool drop_last : {false, true}) {
    DYNAMIC_SECTION("drop_last " << drop_last) {
      // Batches of 3 from 7 samples: ceil(7 / 3) = 3 without drop_last, 7 / 3 = 2 with it (each
      // rank then also leaves out its shard's last sample).
      const int64_t steps = drop_last ? 2 : 3;
      std::map<int64_t, std::vector<std::vector<int64_t>>> shards;  // epoch -> rank -> samples in order
      for (int64_t rank = 0; rank < world; ++rank) {
        byol::data::TwoViewLoader loader(counting_source(n), keep_view, noisy_view,
                                         byol::data::LoaderOptions(3).epochs(2).seed(11).drop_last(drop_last)
                                             .num_workers(rank == 1 ? 0 : 2).rank(rank).world_size(world));
        CHECK(loader.shard_size() == 7);
        CHECK(loader.source_size() == n);
        CHECK(loader.batches_per_epoch() == steps);
        const Seen seen = drain(loader);
        REQUIRE(seen.where.size() == static_cast<size_t>(2 * steps));  // the same number of steps on every rank
        for (size_t b = 0; b < seen.where.size(); ++b) {
          auto& shard = shards[seen.where[b].first];
          shard.resize(static_cast<size_t>(world));
          for (const int64_t i : as_vector(seen.indices[b])) {
            shard[static_cast<size_t>(rank)].push_back(i);
          }
          // The images are the samples' numbers (counting_source): view1 holds the indices.
          CHECK(torch::equal(seen.view1[b].flatten().to(torch::kLong), seen.indices[b]));
        }
      }
      for (int64_t epoch = 0; epoch < 2; ++epoch) {
        // What one process reads in this epoch: the whole permutation.
        const auto order = byol::data::epoch_permutation(n, 11, epoch);
        std::set<int64_t> all_ranks;
        size_t total = 0;
        for (const auto& shard : shards[epoch]) {
          CHECK(shard.size() == (drop_last ? 6u : 7u));
          all_ranks.insert(shard.begin(), shard.end());
          total += shard.size();
        }
        CHECK(all_ranks.size() == total);  // disjoint
        if (!drop_last) {
          // Together the ranks read the permutation less its last two entries.
          CHECK(all_ranks == std::set<int64_t>(order.begin(), order.end() - 2));
          CHECK(all_ranks.count(order[21]) == 0);
          CHECK(all_ranks.count(order[22]) == 0);
        } else {
          for (const int64_t i : all_ranks) {
            CHECK(std::find(order.begin(), order.end() - 2, i) != order.end() - 2);
          }
        }
      }
      // Reshuffled: each rank's shard differs between the two epochs.
      for (int64_t rank = 0; rank < world; ++rank) {
        CHECK(shards[0][static_cast<size_t>(rank)] != shards[1][static_cast<size_t>(rank)]);
      }
    }
  }
}

TEST_CASE("Sharded TwoViewLoader: each rank's batch has its own generator, batch * W + rank", "[loader]") {
  // Rank 1 of 2, batch 2 of epoch 1: global batch 2 * 2 + 1 = 5 of that epoch.
  byol::data::TwoViewLoader loader(counting_source(30), noisy_view, noisy_view,
                                   byol::data::LoaderOptions(4).epochs(2).seed(3).num_workers(2).rank(1).world_size(2));
  const Seen seen = drain(loader);
  REQUIRE(seen.where.size() == 6);  // 15 per rank, 3 full batches of 4
  REQUIRE((seen.where[5] == std::pair<int64_t, int64_t>(1, 2)));
  auto g = at::make_generator<at::CPUGeneratorImpl>(byol::data::batch_seed(3, 1, 5));
  const auto images = counting_source(30).get_batch(as_vector(seen.indices[5])).images;
  const auto v1 = noisy_view(images, g);
  const auto v2 = noisy_view(images, g);
  CHECK(torch::equal(seen.view1[5], v1));
  CHECK(torch::equal(seen.view2[5], v2));
  // Rank 0's batch 2 of epoch 1 is global batch 4: different noise on different images.
  byol::data::TwoViewLoader rank0(counting_source(30), noisy_view, noisy_view,
                                  byol::data::LoaderOptions(4).epochs(2).seed(3).num_workers(0).rank(0).world_size(2));
  const Seen seen0 = drain(rank0);
  REQUIRE(seen0.where.size() == 6);
  auto g0 = at::make_generator<at::CPUGeneratorImpl>(byol::data::batch_seed(3, 1, 4));
  const auto images0 = counting_source(30).get_batch(as_vector(seen0.indices[5])).images;
  CHECK(torch::equal(seen0.view1[5], noisy_view(images0, g0)));
}

TEST_CASE("Sharded TwoViewLoader resumed at (epoch, batch) yields what the uninterrupted rank yields there",
          "[loader]") {
  for (int64_t rank = 0; rank < 4; ++rank) {
    DYNAMIC_SECTION("rank " << rank << " of 4") {
      // 50 samples over 4 ranks: 12 each, batches of 3: 4 per epoch.
      byol::data::TwoViewLoader full(counting_source(50), noisy_view, noisy_view,
                                     byol::data::LoaderOptions(3).epochs(3).seed(9).num_workers(2).rank(rank).world_size(4));
      const Seen all = drain(full);
      REQUIRE(all.view1.size() == 12);
      byol::data::TwoViewLoader resumed(counting_source(50), noisy_view, noisy_view,
                                        byol::data::LoaderOptions(3).epochs(3).seed(9).num_workers(1).rank(rank)
                                            .world_size(4).start_epoch(1).start_batch(2));
      CHECK((resumed.position() == std::pair<int64_t, int64_t>(1, 2)));
      const Seen rest = drain(resumed);
      REQUIRE(rest.view1.size() == 12 - 6);
      for (size_t b = 0; b < rest.view1.size(); ++b) {
        CHECK(rest.where[b] == all.where[b + 6]);
        CHECK(torch::equal(rest.indices[b], all.indices[b + 6]));
        CHECK(torch::equal(rest.view1[b], all.view1[b + 6]));
        CHECK(torch::equal(rest.view2[b], all.view2[b + 6]));
      }
    }
  }
}

TEST_CASE("TwoViewLoader with world_size 1 reads what it read before sharding existed", "[loader]") {
  // Batch b of epoch e holds order[b * B, (b + 1) * B) and uses generator batch_seed(seed, e, b).
  byol::data::TwoViewLoader loader(counting_source(20), noisy_view, noisy_view,
                                   byol::data::LoaderOptions(5).epochs(2).seed(4).num_workers(2).rank(0).world_size(1));
  const Seen seen = drain(loader);
  REQUIRE(seen.where.size() == 8);
  for (size_t k = 0; k < seen.where.size(); ++k) {
    const auto [epoch, batch] = seen.where[k];
    const auto order = byol::data::epoch_permutation(20, 4, epoch);
    CHECK(as_vector(seen.indices[k]) == std::vector<int64_t>(order.begin() + batch * 5, order.begin() + batch * 5 + 5));
    auto g = at::make_generator<at::CPUGeneratorImpl>(byol::data::batch_seed(4, epoch, batch));
    const auto images = counting_source(20).get_batch(as_vector(seen.indices[k])).images;
    CHECK(torch::equal(seen.view1[k], noisy_view(images, g)));
  }
}

TEST_CASE("TwoViewLoader rank and world_size errors name the values", "[loader]") {
  auto make = [](byol::data::LoaderOptions o) {
    byol::data::TwoViewLoader loader(counting_source(10), keep_view, keep_view, o);
  };
  require_error([&] { make(byol::data::LoaderOptions(2).world_size(0)); }, {"world_size", ">= 1", "0"});
  require_error([&] { make(byol::data::LoaderOptions(2).rank(2).world_size(2)); }, {"rank", "world_size = 2", "rank = 2"});
  require_error([&] { make(byol::data::LoaderOptions(2).rank(-1).world_size(2)); }, {"rank", "rank = -1"});
  // 10 samples over 11 ranks: not one sample per rank.
  require_error([&] { make(byol::data::LoaderOptions(1).world_size(11)); }, {"10 samples", "world_size = 11"});
  // 10 samples over 4 ranks: 2 per rank, fewer than a batch of 3 with drop_last.
  require_error([&] { make(byol::data::LoaderOptions(3).rank(3).world_size(4)); },
                {"2 per rank", "world_size = 4", "batch_size = 3", "drop_last"});
}

TEST_CASE("TwoViewLoader's workers run the views on worker_threads intra-op threads, the caller's stay", "[loader]") {
#if defined(_OPENMP)
  const int saved = torch::get_num_threads();
  torch::set_num_threads(2);
  for (const int64_t threads : {1, 3}) {
    std::atomic<int> seen{0};
    auto probe = [&seen](const torch::Tensor& x, at::Generator&) {
      seen = at::get_num_threads();
      return x.clone();
    };
    byol::data::TwoViewLoader loader(counting_source(8), probe, probe,
                                     byol::data::LoaderOptions(4).num_workers(1).worker_threads(threads));
    drain(loader);
    CHECK(seen.load() == threads);
    CHECK(torch::get_num_threads() == 2);  // set on the worker thread alone
  }
  torch::set_num_threads(saved);
#else
  WARN("compiled without OpenMP: worker_threads has no effect, nothing to check");
#endif
  require_error(
      [] {
        byol::data::TwoViewLoader loader(counting_source(8), keep_view, keep_view,
                                         byol::data::LoaderOptions(4).worker_threads(-1));
      },
      {"worker_threads", "-1"});
}

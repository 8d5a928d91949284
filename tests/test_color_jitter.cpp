// byol/augment/color_jitter.hpp: per-image draws and order against the float64 references.
#include "augment_support.hpp"

using namespace augment_test;  // NOLINT(google-build-using-namespace): the shared references

TEST_CASE("ColorJitter draws per image: factors in range, a random order, and applies them in that order",
          "[color_jitter]") {
  BOTH_PATHS();
  const int64_t n = 4000;
  auto gen = at::detail::createCPUGenerator(5);
  const A::ColorJitter jitter;  // BYOL's defaults
  const auto params = jitter.sample(n, gen);
  REQUIRE(params.brightness.min().item<double>() >= -0.4);
  REQUIRE(params.brightness.max().item<double>() <= 0.4);
  REQUIRE(params.contrast.min().item<double>() >= 0.6);
  REQUIRE(params.contrast.max().item<double>() <= 1.4);
  REQUIRE(params.saturation.min().item<double>() >= 0.8);
  REQUIRE(params.saturation.max().item<double>() <= 1.2);
  REQUIRE(params.hue.min().item<double>() >= -0.1);
  REQUIRE(params.hue.max().item<double>() <= 0.1);
  // Per image, not per batch: thousands of distinct values.
  REQUIRE(std::get<0>(at::_unique(params.brightness)).numel() == n);
  // Each row is a permutation; each op comes first a quarter of the time, each of the 24 orders appears.
  std::set<std::vector<int64_t>> orders;
  for (int64_t i = 0; i < n; ++i) {
    const auto row = params.order[i].contiguous();
    std::vector<int64_t> r(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + 4);
    REQUIRE(std::set<int64_t>(r.begin(), r.end()) == std::set<int64_t>{0, 1, 2, 3});
    orders.insert(r);
  }
  REQUIRE(orders.size() == 24);
  for (int64_t op = 0; op < 4; ++op) {
    require_binomial((params.order.select(1, 0) == op).sum().item<int64_t>(), n, 0.25);
  }
  require_binomial(params.apply.sum().item<int64_t>(), n, 0.8);

  // Applied in each image's order, compared with the float64 references composed in that order.
  const int64_t m = 40;
  const auto small = jitter.sample(m, gen);
  const auto x = torch::rand({m, 3, 3, 4}, torch::kDouble);
  const auto y = jitter.apply_(x.clone(), small);
  for (int64_t i = 0; i < m; ++i) {
    Pixels p = pixels(x.narrow(0, i, 1));
    if (small.apply[i].item<bool>()) {
      for (int64_t position = 0; position < 4; ++position) {
        const int64_t op = small.order[i][position].item<int64_t>();
        const auto pick = [&](const torch::Tensor& t) { return std::vector<double>{t[i].item<double>()}; };
        if (op == 0) p.v = ref_brightness(p, pick(small.brightness));
        if (op == 1) p.v = ref_contrast(p, pick(small.contrast));
        if (op == 2) p.v = ref_saturation(p, pick(small.saturation));
        if (op == 3) p.v = ref_hue(p, pick(small.hue));
      }
    }
    REQUIRE_CLOSE(values(y[i]), p.v, 0, 1e-10);
  }
}

TEST_CASE("ColorJitter and RandomGrayscale on 1-channel images: the same draws, gray ops skipped", "[color_jitter]") {
  BOTH_PATHS();
  const int64_t m = 40;
  auto gen = at::detail::createCPUGenerator(17);
  const A::ColorJitter jitter;  // BYOL's: saturation and hue on
  const auto params = jitter.sample(m, gen);
  const auto x = torch::rand({m, 1, 3, 4}, torch::kDouble);
  const auto y = jitter.apply_(x.clone(), params);
  for (int64_t i = 0; i < m; ++i) {
    Pixels p = pixels(x.narrow(0, i, 1));
    if (params.apply[i].item<bool>()) {
      for (int64_t position = 0; position < 4; ++position) {
        const int64_t op = params.order[i][position].item<int64_t>();
        const auto pick = [&](const torch::Tensor& t) { return std::vector<double>{t[i].item<double>()}; };
        if (op == 0) p.v = ref_brightness(p, pick(params.brightness));
        if (op == 1) p.v = ref_contrast(p, pick(params.contrast));
        // saturation (2) and hue (3) leave a gray image as it is
      }
    }
    INFO("image " << i);
    REQUIRE_CLOSE(values(y[i]), p.v, 0, 1e-10);
  }
  // RandomGrayscale with p = 1 leaves a gray batch alone.
  const A::RandomGrayscale gray(A::RandomGrayscaleOptions().p(1.0));
  REQUIRE(torch::equal(gray(x, gen), x));
}

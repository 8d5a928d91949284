// byol/augment/random_resized_crop.hpp: the drawn boxes, and lists of differently sized images.
#include "augment_support.hpp"

using namespace augment_test;  // NOLINT(google-build-using-namespace): the shared references

TEST_CASE("RandomResizedCrop boxes: area U[0.08, 1], aspect in [3/4, 4/3], inside the image, clamped",
          "[random_resized_crop]") {
  const int64_t n = 4000;
  auto gen = at::detail::createCPUGenerator(9);
  const A::RandomResizedCrop crop(224);
  const auto boxes = crop.sample(n, 1000, 1000, gen).boxes;
  const auto top = boxes.select(1, 0), left = boxes.select(1, 1), h = boxes.select(1, 2), w = boxes.select(1, 3);
  REQUIRE(torch::equal(boxes, boxes.round()));
  REQUIRE((top >= 0).all().item<bool>());
  REQUIRE((left >= 0).all().item<bool>());
  REQUIRE((top + h <= 1000).all().item<bool>());
  REQUIRE((left + w <= 1000).all().item<bool>());
  const auto fraction = h * w / 1e6;
  const auto ratio = w / h;
  // Unclamped boxes (both sides < 1000) have their drawn aspect, up to rounding to whole pixels.
  const auto free = (h < 1000).logical_and(w < 1000);
  REQUIRE((ratio.masked_select(free) >= 0.75 * 0.99).all().item<bool>());
  REQUIRE((ratio.masked_select(free) <= 4.0 / 3.0 * 1.01).all().item<bool>());
  REQUIRE(fraction.min().item<double>() >= 0.08 * 0.99);
  // The fraction is U[0.08, 1] except where a side was clamped (fraction near 1 with r != 1).
  require_binomial((fraction < 0.5).sum().item<int64_t>(), n, (0.5 - 0.08) / 0.92);
  require_binomial((ratio > 1).sum().item<int64_t>(), n, 0.5);
  // Positions spread over the whole range: the top of small boxes is ~uniform.
  const auto small_top = top.masked_select(h < 500) / (1000 - h.masked_select(h < 500));
  REQUIRE(small_top.mean().item<double>() == Approx(0.5).margin(0.05));
  // A 10 x 1000 strip: heights clamp to 10.
  const auto strip = crop.sample(200, 10, 1000, gen).boxes;
  REQUIRE((strip.select(1, 2) <= 10).all().item<bool>());
  REQUIRE((strip.select(1, 0) == 0).logical_or(strip.select(1, 2) < 10).all().item<bool>());
}

TEST_CASE("RandomResizedCrop takes a list of differently sized uint8 or float images and returns one batch",
          "[random_resized_crop]") {
  BOTH_PATHS();
  std::vector<torch::Tensor> images;
  for (const auto& hw : std::vector<std::pair<int64_t, int64_t>>{{40, 60}, {75, 31}, {16, 16}, {120, 90}}) {
    images.push_back(torch::randint(0, 256, {3, hw.first, hw.second}, torch::kByte));
  }
  const A::RandomResizedCrop crop(A::RandomResizedCropOptions(24));
  auto gen = at::detail::createCPUGenerator(4);
  const auto params =
      crop.sample(torch::tensor({40.0, 75.0, 16.0, 120.0}), torch::tensor({60.0, 31.0, 16.0, 90.0}), gen);
  const auto batch = crop.apply(images, params);
  REQUIRE(batch.sizes() == torch::IntArrayRef({4, 3, 24, 24}));
  REQUIRE(batch.scalar_type() == torch::kFloat);
  for (int64_t i = 0; i < 4; ++i) {
    const auto one = F::resized_crop(images[static_cast<size_t>(i)].unsqueeze(0), params.boxes.narrow(0, i, 1), 24);
    REQUIRE_CLOSE(values(batch[i]), values(one[0]), 0, 1e-6);
  }
  // Drawing through operator(): same generator state, same result.
  auto g1 = at::detail::createCPUGenerator(8), g2 = at::detail::createCPUGenerator(8);
  REQUIRE(torch::equal(crop(images, g1), crop(images, g2)));
  // float images in [0, 1] give the same as the uint8 ones / 255
  std::vector<torch::Tensor> floats;
  for (const auto& im : images) floats.push_back(im.to(torch::kFloat) / 255);
  REQUIRE(torch::allclose(crop.apply(floats, params), batch, 0, 1e-6));
  // the batch form with uint8 input
  const auto same = torch::randint(0, 256, {4, 3, 30, 30}, torch::kByte);
  const auto as_float = crop(same.to(torch::kFloat) / 255, g1);
  REQUIRE(torch::allclose(crop(same, g2), as_float, 0, 1e-6));
}

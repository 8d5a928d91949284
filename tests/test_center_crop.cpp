// The centre crop against element-by-element copies with offsets worked out by hand
// (ceil((H - h) / 2), the reference's), and the resized form against resized_crop of the box
// worked out by hand.
#include <byol/augment.hpp>

#include "support.hpp"

#include <vector>

namespace {

// out[b, c, i, j] = x[b, c, top + i, left + j], by plain loops over float64 values.
torch::Tensor copy_window(const torch::Tensor& x, int64_t top, int64_t left, int64_t h, int64_t w) {
  const auto d = x.to(torch::kDouble).contiguous();
  auto out = torch::empty({x.size(0), x.size(1), h, w}, torch::kDouble);
  auto in_a = d.accessor<double, 4>();
  auto out_a = out.accessor<double, 4>();
  for (int64_t b = 0; b < x.size(0); ++b)
    for (int64_t c = 0; c < x.size(1); ++c)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) out_a[b][c][i][j] = in_a[b][c][top + i][left + j];
  return out;
}

}  // namespace

TEST_CASE("center_crop copies the centred window, offsets rounded up", "[center_crop]") {
  using byol::augment::functional::center_crop;
  const auto x = torch::rand({2, 3, 7, 9});
  // H - h = 3 -> top 2 (1.5 up); W - w = 4 -> left 2.
  const auto y = center_crop(x, 4, 5);
  REQUIRE(y.sizes() == torch::IntArrayRef({2, 3, 4, 5}));
  CHECK(torch::equal(y.to(torch::kDouble), copy_window(x, 2, 2, 4, 5)));
  // Square: 7 x 9 to 3 -> top 2, left 3.
  CHECK(torch::equal(center_crop(x, 3).to(torch::kDouble), copy_window(x, 2, 3, 3, 3)));
  // The whole image, and a new tensor (not a view of the input).
  const auto whole = center_crop(x, 7, 9);
  CHECK(torch::equal(whole, x));
  CHECK(whole.data_ptr() != x.data_ptr());
  // Any dtype, kept: uint8 in, uint8 out.
  const auto bytes = torch::randint(0, 256, {1, 1, 6, 6}, torch::kByte);
  const auto cropped = center_crop(bytes, 2);
  CHECK(cropped.scalar_type() == torch::kByte);
  CHECK(torch::equal(cropped.to(torch::kDouble), copy_window(bytes, 2, 2, 2, 2)));
}

TEST_CASE("center_crop of a list of images of different sizes stacks the centred windows", "[center_crop]") {
  using byol::augment::functional::center_crop;
  const std::vector<torch::Tensor> images = {torch::rand({3, 10, 12}), torch::rand({3, 5, 20})};
  const auto y = center_crop(images, 4);
  REQUIRE(y.sizes() == torch::IntArrayRef({2, 3, 4, 4}));
  // 10 x 12 -> (3, 4); 5 x 20 -> (1, 8).
  CHECK(torch::equal(y[0].unsqueeze(0).to(torch::kDouble), copy_window(images[0].unsqueeze(0), 3, 4, 4, 4)));
  CHECK(torch::equal(y[1].unsqueeze(0).to(torch::kDouble), copy_window(images[1].unsqueeze(0), 1, 8, 4, 4)));
}

TEST_CASE("resized_center_crop resamples the centred square of side min(H, W) * size / resize", "[center_crop]") {
  using byol::augment::functional::resized_center_crop;
  using byol::augment::functional::resized_crop;
  // 256 x 256, size 224, resize 256: the square of side 224 at (16, 16), no resampling needed.
  const auto big = torch::rand({2, 3, 256, 256});
  CHECK(torch::allclose(resized_center_crop(big, 224, 256).to(torch::kDouble), copy_window(big, 16, 16, 224, 224),
                        0, 1e-6));
  // 12 x 14, size 3, resize 4: side floor(12 * 3 / 4) = 9 at top (12 - 9 + 1) / 2 = 2, left (14 - 9 + 1) / 2 = 3.
  const auto x = torch::rand({2, 1, 12, 14});
  const auto box = torch::tensor({2.0, 3.0, 9.0, 9.0}, torch::kDouble).repeat({2, 1});
  CHECK(torch::equal(resized_center_crop(x, 3, 4), resized_crop(x, box, 3)));
  // resize = size: the largest centred square, 12 x 12 at (0, 1).
  const auto largest = torch::tensor({0.0, 1.0, 12.0, 12.0}, torch::kDouble).repeat({2, 1});
  CHECK(torch::equal(resized_center_crop(x, 5, 5), resized_crop(x, largest, 5)));
  // A list: each image its own square. 20 x 10 (size 4, resize 8): side 5 at (8, 3).
  const std::vector<torch::Tensor> list = {x[0], torch::rand({1, 20, 10})};
  const auto y = resized_center_crop(list, 4, 8);
  REQUIRE(y.sizes() == torch::IntArrayRef({2, 1, 4, 4}));
  // 12 x 14: side 6 at ((12 - 6 + 1) / 2, (14 - 6 + 1) / 2) = (3, 4).
  CHECK(torch::equal(y[0], resized_crop(x[0].unsqueeze(0), torch::tensor({{3.0, 4.0, 6.0, 6.0}}, torch::kDouble), 4)[0]));
  CHECK(torch::equal(y[1], resized_crop(list[1].unsqueeze(0), torch::tensor({{8.0, 3.0, 5.0, 5.0}}, torch::kDouble), 4)[0]));
}

TEST_CASE("CenterCrop returns floats in [0, 1] and composes with the other ops", "[center_crop]") {
  const auto bytes = torch::randint(0, 256, {3, 3, 10, 10}, torch::kByte);
  byol::augment::CenterCrop crop(byol::augment::CenterCropOptions(6));
  REQUIRE(crop.options().size() == 6);
  REQUIRE(crop.options().resize() == 0);
  const auto y = crop(bytes);
  CHECK(y.scalar_type() == torch::kFloat);
  CHECK(torch::allclose(y.to(torch::kDouble), copy_window(bytes, 2, 2, 6, 6) / 255.0, 0, 1e-7));
  // Deterministic: the generator form and forward_ give the same.
  auto g = at::make_generator<at::CPUGeneratorImpl>(3);
  CHECK(torch::equal(crop(bytes, g), y));
  CHECK(torch::equal(crop.forward_(bytes, g), y));
  // With resize: resized_center_crop.
  byol::augment::CenterCrop eval_crop(byol::augment::CenterCropOptions(4).resize(5));
  const auto images = torch::rand({3, 3, 10, 10});
  CHECK(torch::equal(eval_crop(images), byol::augment::functional::resized_center_crop(images, 4, 5)));
  // In a Compose with Normalize: crop, then (x - mean) / std.
  byol::augment::Compose test(byol::augment::CenterCrop(byol::augment::CenterCropOptions(6)),
                              byol::augment::Normalize());
  const auto mean = torch::tensor({0.485, 0.456, 0.406}, torch::kDouble).view({1, 3, 1, 1});
  const auto stddev = torch::tensor({0.229, 0.224, 0.225}, torch::kDouble).view({1, 3, 1, 1});
  CHECK(torch::allclose(test(bytes).to(torch::kDouble), (copy_window(bytes, 2, 2, 6, 6) / 255.0 - mean) / stddev, 1e-5,
                        1e-5));
  // A list of uint8 images.
  const std::vector<torch::Tensor> list = {bytes[0], bytes[1]};
  CHECK(torch::equal(crop(list), y.narrow(0, 0, 2)));
}

TEST_CASE("centre-crop errors name the argument and the shape", "[center_crop]") {
  using byol_test::require_error;
  using byol::augment::functional::center_crop;
  const auto x = torch::rand({2, 3, 7, 9});
  require_error([&] { center_crop(x, 8); }, {"center_crop", "8x8", "[2, 3, 7, 9]"});
  require_error([&] { center_crop(x, 0); }, {"center_crop", "size", "0x0"});
  require_error([&] { center_crop(torch::rand({3, 7, 9}), 4); }, {"center_crop", "[B, C, H, W]", "[3, 7, 9]"});
  require_error([&] { center_crop(std::vector<torch::Tensor>{torch::rand({3, 9, 9}), torch::rand({3, 3, 9})}, 4); },
                {"center_crop", "image 1", "[3, 3, 9]"});
  require_error([&] { byol::augment::functional::resized_center_crop(x, 4, 0); }, {"resize", "0"});
  require_error([] { byol::augment::CenterCrop c(byol::augment::CenterCropOptions(0)); }, {"CenterCrop", "size", "0"});
  require_error([] { byol::augment::CenterCrop c(byol::augment::CenterCropOptions(4).resize(-1)); },
                {"CenterCrop", "resize", "-1"});
  byol::augment::CenterCrop crop(byol::augment::CenterCropOptions(4));
  require_error([&] { crop(torch::rand({2, 3, 9})); }, {"CenterCrop", "[2, 3, 9]"});
  require_error([&] { crop(torch::ones({1, 1, 6, 6}, torch::kLong)); }, {"CenterCrop", "Long"});
}

// byol/augment/functional.hpp against closed forms and float64 re-derivations written with plain
// loops (tests/augment_support.hpp), and its error messages.
#include "augment_support.hpp"

using namespace augment_test;  // NOLINT(google-build-using-namespace): the shared references

TEST_CASE("hflip reverses the columns of every image, any dtype", "[augment_functional]") {
  const auto x = torch::randint(0, 256, {2, 3, 4, 5}, torch::kByte);
  const auto y = F::hflip(x);
  REQUIRE(y.scalar_type() == torch::kByte);
  for (int64_t j = 0; j < 5; ++j) {
    REQUIRE(torch::equal(y.select(3, j), x.select(3, 4 - j)));
  }
}

TEST_CASE("adjust_brightness adds a per-image delta and clips", "[augment_functional]") {
  BOTH_PATHS();
  const auto x = torch::rand({4, 3, 5, 6}, torch::kDouble);
  const std::vector<double> d{-0.4, -0.1, 0.2, 0.4};
  const auto y = F::adjust_brightness(x, torch::tensor(d, torch::kDouble));
  REQUIRE(y.scalar_type() == torch::kDouble);
  REQUIRE_CLOSE(values(y), ref_brightness(pixels(x), d), 0, 1e-12);
  // float32 images, float32 result
  REQUIRE(F::adjust_brightness(x.to(torch::kFloat), torch::tensor(d, torch::kDouble)).scalar_type() == torch::kFloat);
}

TEST_CASE("adjust_contrast keeps each channel's mean and matches (x - m) f + m", "[augment_functional]") {
  BOTH_PATHS();
  // Values in [0.4, 0.6] and factors in [0, 1.5] never clip, so the means are kept exactly.
  const auto x = torch::rand({5, 3, 7, 6}, torch::kDouble) * 0.2 + 0.4;
  const std::vector<double> f{0.0, 0.6, 1.0, 1.4, 1.5};
  const auto y = F::adjust_contrast(x, torch::tensor(f, torch::kDouble));
  REQUIRE_CLOSE(values(y.mean({2, 3})), values(x.mean({2, 3})), 0, 1e-12);
  REQUIRE_CLOSE(values(y), ref_contrast(pixels(x), f), 0, 1e-12);
  // factor 0: each channel becomes its mean
  REQUIRE_CLOSE(values(y[0]), values(x[0].mean({1, 2}, true).expand({3, 7, 6})), 0, 1e-12);
  // With clipping, on full-range images.
  const auto z = torch::rand({5, 3, 7, 6}, torch::kDouble);
  const std::vector<double> g{0.3, 2.0, 1.0, 3.0, 0.9};
  REQUIRE_CLOSE(values(F::adjust_contrast(z, torch::tensor(g, torch::kDouble))), ref_contrast(pixels(z), g), 0, 1e-12);
}

TEST_CASE("adjust_saturation: factor 1 is the identity, 0 gives equal channels, HSV round trip otherwise",
          "[augment_functional]") {
  BOTH_PATHS();
  const auto x = torch::rand({6, 3, 5, 7}, torch::kDouble);
  REQUIRE_CLOSE(values(F::adjust_saturation(x, torch::ones({6}))), values(x), 0, 1e-12);
  const auto gray = F::adjust_saturation(x, torch::zeros({6}));
  REQUIRE(torch::allclose(gray.select(1, 0), gray.select(1, 1), 0, 1e-12));
  REQUIRE(torch::allclose(gray.select(1, 1), gray.select(1, 2), 0, 1e-12));
  REQUIRE(torch::allclose(gray.select(1, 0), std::get<0>(x.max(1)), 0, 1e-12));  // HSV: s = 0 leaves v
  const std::vector<double> f{0.0, 0.5, 0.8, 1.2, 2.0, 50.0};
  REQUIRE_CLOSE(values(F::adjust_saturation(x, torch::tensor(f, torch::kDouble))), ref_saturation(pixels(x), f), 0,
                1e-10);
  // gray and black pixels stay as they are
  const auto flat = torch::tensor({0.0, 0.0, 0.0, 0.5, 0.5, 0.5}, torch::kDouble).view({2, 3, 1, 1});
  REQUIRE(torch::equal(F::adjust_saturation(flat, torch::tensor({3.0, 0.5})), flat));
  // float32
  REQUIRE_CLOSE(values(F::adjust_saturation(x.to(torch::kFloat), torch::tensor(f, torch::kDouble))),
                ref_saturation(pixels(x), f), 0, 1e-5);
}

TEST_CASE("adjust_hue: a whole turn is the identity, 1/3 maps red to green, HSV round trip otherwise", "[augment_functional]") {
  BOTH_PATHS();
  const auto x = torch::rand({4, 3, 6, 5}, torch::kDouble);
  REQUIRE_CLOSE(values(F::adjust_hue(x, torch::tensor({1.0, -1.0, 2.0, 0.0}))), values(x), 0, 1e-12);
  // red, green, blue, yellow pixels
  const auto primaries = torch::tensor({1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0}, torch::kDouble)
                             .view({4, 3})
                             .view({4, 3, 1, 1});
  const auto turned = F::adjust_hue(primaries, torch::full({4}, 1.0 / 3.0, torch::kDouble));
  const std::vector<double> expected{0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1};  // green, blue, red, cyan
  REQUIRE_CLOSE(values(turned), expected, 0, 1e-12);
  const std::vector<double> d{-0.1, 0.05, 0.37, -0.73};
  REQUIRE_CLOSE(values(F::adjust_hue(x, torch::tensor(d, torch::kDouble))), ref_hue(pixels(x), d), 0, 1e-10);
  REQUIRE_CLOSE(values(F::adjust_hue(x.to(torch::kFloat), torch::tensor(d, torch::kDouble))), ref_hue(pixels(x), d), 0,
                2e-5);
}

TEST_CASE("rgb_to_grayscale uses the weights 0.2989, 0.5870, 0.1140 in all three channels", "[augment_functional]") {
  BOTH_PATHS();
  const auto unit = torch::eye(3, torch::kDouble).view({3, 3, 1, 1});  // pure R, G, B images
  const auto g = F::rgb_to_grayscale(unit);
  REQUIRE(g.sizes() == torch::IntArrayRef({3, 3, 1, 1}));
  const std::vector<double> expected{0.2989, 0.2989, 0.2989, 0.5870, 0.5870, 0.5870, 0.1140, 0.1140, 0.1140};
  REQUIRE_CLOSE(values(g), expected, 0, 1e-12);
  const auto x = torch::rand({3, 3, 4, 4}, torch::kDouble);
  const auto y = F::rgb_to_grayscale(x);
  const Pixels p = pixels(x);
  const auto ref = per_pixel(p, [](int64_t, double r, double gg, double b) {
    const double v = 0.2989 * r + 0.5870 * gg + 0.1140 * b;
    return std::array<double, 3>{v, v, v};
  });
  REQUIRE_CLOSE(values(y), ref, 0, 1e-12);
}

TEST_CASE("gaussian_blur: constants stay, an impulse spreads as the separable Gaussian summing to 1", "[augment_functional]") {
  BOTH_PATHS();
  const int64_t k = 7;
  const auto sigma = torch::tensor({0.5, 1.0, 2.0});
  const auto flat = torch::full({3, 3, 16, 16}, 0.37, torch::kDouble);
  const auto blurred_flat = F::gaussian_blur(flat, sigma, k);
  // away from the border, and (reflect padding) at the border too
  REQUIRE_CLOSE(values(blurred_flat.narrow(2, 3, 10).narrow(3, 3, 10)), values(flat.narrow(2, 3, 10).narrow(3, 3, 10)),
                0, 1e-12);
  REQUIRE_CLOSE(values(blurred_flat), values(flat), 0, 1e-12);

  auto impulse = torch::zeros({3, 1, 15, 15}, torch::kDouble);
  impulse.select(2, 7).select(2, 7).fill_(1.0);
  const auto response = F::gaussian_blur(impulse, sigma, k);
  for (int64_t i = 0; i < 3; ++i) {
    REQUIRE(response[i].sum().item<double>() == Approx(1.0).margin(1e-12));
    const double s = sigma[i].item<double>();
    std::vector<double> g;
    double sum = 0;
    for (int64_t t = -3; t <= 3; ++t) {
      g.push_back(std::exp(-t * t / (2 * s * s)));
      sum += g.back();
    }
    std::vector<double> expected(15 * 15, 0.0);
    for (int64_t y = 0; y < 7; ++y)
      for (int64_t x = 0; x < 7; ++x)
        expected[static_cast<size_t>((y + 4) * 15 + x + 4)] =
            g[static_cast<size_t>(y)] * g[static_cast<size_t>(x)] / (sum * sum);
    REQUIRE_CLOSE(values(response[i]), expected, 0, 1e-12);
  }
  // Random images against a direct 2-D convolution with reflection, incl. a kernel wider than the image.
  const auto x = torch::rand({3, 3, 6, 9}, torch::kDouble);
  const std::vector<double> sig{0.3, 1.1, 2.0};
  REQUIRE_CLOSE(values(F::gaussian_blur(x, torch::tensor(sig, torch::kDouble), 5)), ref_blur(pixels(x), sig, 5), 0,
                1e-12);
  REQUIRE_CLOSE(values(F::gaussian_blur(x, torch::tensor(sig, torch::kDouble), 15)), ref_blur(pixels(x), sig, 15), 0,
                1e-12);
  REQUIRE_CLOSE(values(F::gaussian_blur(x.to(torch::kFloat), torch::tensor(sig, torch::kDouble), 5)),
                ref_blur(pixels(x), sig, 5), 0, 1e-5);
}

TEST_CASE("solarize inverts the values at or above the threshold", "[augment_functional]") {
  BOTH_PATHS();
  const auto x = torch::tensor({0.0, 0.2, 0.29999, 0.3, 0.5, 0.9, 1.0}, torch::kDouble).view({1, 1, 1, 7});
  const std::vector<double> at_03{0.0, 0.2, 0.29999, 0.7, 0.5, 0.1, 0.0};
  REQUIRE_CLOSE(values(F::solarize(x, 0.3)), at_03, 0, 1e-12);
  const std::vector<double> at_05{0.0, 0.2, 0.29999, 0.3, 0.5, 0.1, 0.0};
  REQUIRE_CLOSE(values(F::solarize(x, 0.5)), at_05, 0, 1e-12);
}

TEST_CASE("resized_crop: a box of the output size is a slice; constants and ramps are kept", "[augment_functional]") {
  BOTH_PATHS();
  const auto x = torch::rand({3, 3, 20, 24}, torch::kDouble);
  const auto boxes = torch::tensor({{0.0, 0.0, 8.0, 8.0}, {5.0, 9.0, 8.0, 8.0}, {12.0, 16.0, 8.0, 8.0}});
  for (const auto interpolation : {A::Interpolation::bicubic, A::Interpolation::bilinear}) {
    const auto y = F::resized_crop(x, boxes, 8, interpolation);
    REQUIRE(y.sizes() == torch::IntArrayRef({3, 3, 8, 8}));
    REQUIRE_CLOSE(values(y[0]), values(x[0].narrow(1, 0, 8).narrow(2, 0, 8)), 0, 1e-12);
    REQUIRE_CLOSE(values(y[1]), values(x[1].narrow(1, 5, 8).narrow(2, 9, 8)), 0, 1e-12);
    REQUIRE_CLOSE(values(y[2]), values(x[2].narrow(1, 12, 8).narrow(2, 16, 8)), 0, 1e-12);
  }
  // A constant stays constant whatever the box and scale.
  const auto flat = torch::full({2, 3, 30, 40}, 0.6, torch::kDouble);
  const auto some = torch::tensor({{3.0, 1.0, 27.0, 13.0}, {0.0, 0.0, 30.0, 40.0}});
  REQUIRE_CLOSE(values(F::resized_crop(flat, some, 11)), values(torch::full({2, 3, 11, 11}, 0.6, torch::kDouble)), 0,
                1e-12);
  REQUIRE_CLOSE(values(F::resized_crop(flat, some, 64)), values(torch::full({2, 3, 64, 64}, 0.6, torch::kDouble)), 0,
                1e-12);
  // A horizontal ramp x(p) = p / 100 maps output column j to the source coordinate
  // left + (j + 0.5) s - 0.5 wherever the (symmetric) filter lies inside the box.
  const auto ramp =
      (torch::arange(100, torch::kDouble) / 100.0).view({1, 1, 1, 100}).expand({1, 1, 4, 100}).contiguous();
  // (Exact where the filter's taps sit symmetrically: enlarging, or shrinking by a whole factor.)
  for (const auto interpolation : {A::Interpolation::bicubic, A::Interpolation::bilinear}) {
    for (const double width : {20.0, 80.0}) {  // enlarging 2x and shrinking 2x
      const auto box = torch::tensor({{0.0, 17.0, 4.0, width}});
      const auto y = F::resized_crop(ramp, box, 40, interpolation);
      const double s = width / 40.0;
      for (int64_t j = 6; j < 34; ++j) {
        REQUIRE(y[0][0][1][j].item<double>() == Approx((17.0 + (j + 0.5) * s - 0.5) / 100.0).margin(1e-12));
      }
    }
  }
}

TEST_CASE("resized_crop: bilinear 2x shrink is the (1, 3, 3, 1) / 8 antialiasing filter", "[augment_functional]") {
  BOTH_PATHS();
  const auto x = torch::rand({1, 1, 16, 16}, torch::kDouble);
  const auto y = F::resized_crop(x, torch::tensor({{0.0, 0.0, 16.0, 16.0}}), 8, A::Interpolation::bilinear);
  const auto v = values(x);
  const double w[4] = {1.0 / 8, 3.0 / 8, 3.0 / 8, 1.0 / 8};
  for (int64_t i = 1; i < 7; ++i)
    for (int64_t j = 1; j < 7; ++j) {
      double acc = 0;
      for (int64_t a = 0; a < 4; ++a)
        for (int64_t b = 0; b < 4; ++b)
          acc += w[a] * w[b] * v[static_cast<size_t>((2 * i - 1 + a) * 16 + 2 * j - 1 + b)];
      REQUIRE(y[0][0][i][j].item<double>() == Approx(acc).margin(1e-12));
    }
  // Without antialiasing it samples halfway between two pixels instead.
  const auto z = F::resized_crop(x, torch::tensor({{0.0, 0.0, 16.0, 16.0}}), 8, A::Interpolation::bilinear, false);
  REQUIRE(z[0][0][3][5].item<double>() ==
          Approx((v[6 * 16 + 10] + v[6 * 16 + 11] + v[7 * 16 + 10] + v[7 * 16 + 11]) / 4).margin(1e-12));
}

TEST_CASE("resized_crop matches a direct float64 resampling sum, per image boxes, both filters", "[augment_functional]") {
  BOTH_PATHS();
  const auto x = torch::rand({4, 3, 23, 31}, torch::kDouble);
  const std::vector<std::array<double, 4>> boxes{{0, 0, 23, 31}, {2, 5, 7, 9}, {10, 3, 13, 28}, {4, 20, 3, 2}};
  const auto box_tensor =
      torch::tensor({0.0, 0.0, 23.0, 31.0, 2.0, 5.0, 7.0, 9.0, 10.0, 3.0, 13.0, 28.0, 4.0, 20.0, 3.0, 2.0})
          .view({4, 4});
  for (const bool cubic : {true, false}) {
    for (const bool antialias : {true, false}) {
      const auto interpolation = cubic ? A::Interpolation::bicubic : A::Interpolation::bilinear;
      const auto y = F::resized_crop(x, box_tensor, 12, interpolation, antialias);
      REQUIRE_CLOSE(values(y), ref_resized_crop(pixels(x), boxes, 12, cubic, antialias), 0, 1e-12);
    }
  }
  // float32 and uint8 (divided by 255) inputs
  const auto y32 = F::resized_crop(x.to(torch::kFloat), box_tensor, 12);
  REQUIRE(y32.scalar_type() == torch::kFloat);
  REQUIRE_CLOSE(values(y32), ref_resized_crop(pixels(x), boxes, 12, true, true), 0, 1e-5);
  const auto bytes = torch::randint(0, 256, {4, 3, 23, 31}, torch::kByte);
  REQUIRE_CLOSE(values(F::resized_crop(bytes, box_tensor, 12)),
                ref_resized_crop(pixels(bytes.to(torch::kDouble) / 255.0), boxes, 12, true, true), 0, 1e-5);
}

TEST_CASE("functional ops reject bad input with the argument and its shape or value", "[augment_functional]") {
  using byol_test::require_error;
  const auto x = torch::rand({2, 3, 8, 8});
  require_error([] { F::hflip(torch::rand({3, 8, 8})); }, {"hflip", "[B, C, H, W]", "[3, 8, 8]"});
  require_error(
      [] {
        F::adjust_brightness(torch::rand({0, 3, 8, 8}), torch::rand({0}));
      },
      {"empty batch", "[0, 3, 8, 8]"});
  require_error([&] { F::adjust_brightness(x, torch::rand({3})); }, {"adjust_brightness", "delta", "[2]", "[3]"});
  require_error([&] { F::adjust_contrast(x, torch::rand({2, 1})); }, {"adjust_contrast", "factor", "[2, 1]"});
  require_error(
      [] {
        F::adjust_hue(torch::rand({2, 4, 8, 8}), torch::rand({2}));
      },
      {"adjust_hue", "3 channels", "[2, 4, 8, 8]"});
  require_error(
      [] {
        F::adjust_saturation(torch::rand({2, 2, 8, 8}), torch::rand({2}));
      },
      {"adjust_saturation", "3 channels", "or 1", "[2, 2, 8, 8]"});
  require_error([] { F::rgb_to_grayscale(torch::rand({2, 2, 8, 8})); }, {"rgb_to_grayscale", "3 channels"});
  require_error(
      [] {
        F::adjust_brightness(torch::zeros({2, 3, 8, 8}, torch::kByte), torch::rand({2}));
      },
      {"adjust_brightness", "floating point", "Byte"});
  require_error(
      [&] {
        F::gaussian_blur(x, torch::tensor({1.0, -0.5}), 5);
      },
      {"gaussian_blur", "sigma must be > 0", "sigma[1] = -0.5"});
  require_error([&] { F::gaussian_blur(x, torch::tensor({1.0, 0.0}), 5); }, {"sigma[1] = 0"});
  require_error([&] { F::gaussian_blur(x, torch::ones({2}), 4); }, {"gaussian_blur", "kernel_size must be odd", "4"});
  require_error([&] { F::gaussian_blur(x, torch::ones({2}), 0); }, {"kernel_size", "got 0"});
  require_error([&] { F::solarize(x, std::nan("")); }, {"solarize", "threshold"});
  require_error(
      [&] {
        F::resized_crop(x, torch::tensor({{0.0, 0.0, 9.0, 4.0}, {0.0, 0.0, 4.0, 4.0}}), 4);
      },
      {"resized_crop", "box 0", "height 9", "8x8"});
  require_error(
      [&] {
        F::resized_crop(x, torch::tensor({{0.0, 0.0, 0.0, 4.0}, {0.0, 0.0, 4.0, 4.0}}), 4);
      },
      {"box 0", "height 0"});
  require_error([&] { F::resized_crop(x, torch::zeros({2, 3}), 4); }, {"resized_crop", "boxes", "[2, 3]"});
  require_error([&] { F::resized_crop(x, torch::ones({2, 4}), 0); }, {"resized_crop", "size", "0"});
  require_error([&] { F::normalize(x, {0.5, 0.5}, {0.2, 0.2}); }, {"normalize", "3"});
  require_error([&] { F::normalize(x, {0.5, 0.5, 0.5}, {0.2, 0.0, 0.2}); }, {"normalize", "std[1] = 0"});
}

TEST_CASE("the colour ops leave a 1-channel image as torchvision does; brightness and contrast apply", "[augment_functional]") {
  BOTH_PATHS();
  const auto x = torch::rand({4, 1, 5, 6}, torch::kDouble);
  const auto factor = torch::tensor(std::vector<double>{0.0, 0.5, 1.2, 2.0}, torch::kDouble);
  // torchvision's adjust_saturation and adjust_hue return a grayscale image unchanged, and
  // rgb_to_grayscale of a 1-channel image is the image.
  REQUIRE(torch::equal(F::adjust_saturation(x, factor), x));
  REQUIRE(torch::equal(F::adjust_hue(x, torch::tensor(std::vector<double>{-0.5, -0.1, 0.1, 0.3}, torch::kDouble)), x));
  REQUIRE(torch::equal(F::rgb_to_grayscale(x), x));
  REQUIRE(F::rgb_to_grayscale(x).size(1) == 1);
  const std::vector<double> d{-0.4, -0.1, 0.2, 0.4};
  REQUIRE_CLOSE(values(F::adjust_brightness(x, torch::tensor(d, torch::kDouble))), ref_brightness(pixels(x), d), 0,
                1e-12);
  const std::vector<double> f{0.6, 0.9, 1.1, 1.4};
  REQUIRE_CLOSE(values(F::adjust_contrast(x, torch::tensor(f, torch::kDouble))), ref_contrast(pixels(x), f), 0, 1e-12);
}

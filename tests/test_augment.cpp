// The random ops of byol/augment.hpp together: per-image draws across ops, and every op's
// option and input checks.
#include "augment_support.hpp"

using namespace augment_test;  // NOLINT(google-build-using-namespace): the shared references

TEST_CASE("two identical images in one batch get different factors", "[augment]") {
  BOTH_PATHS();
  const auto one = torch::rand({1, 3, 16, 16});
  const auto x = one.expand({2, 3, 16, 16}).contiguous();
  auto gen = at::detail::createCPUGenerator(3);
  const auto jittered = A::ColorJitter(A::ColorJitterOptions().p(1.0))(x, gen);
  REQUIRE_FALSE(torch::allclose(jittered[0], jittered[1]));
  const auto blurred = A::RandomGaussianBlur(A::RandomGaussianBlurOptions(5).p(1.0))(x, gen);
  REQUIRE_FALSE(torch::allclose(blurred[0], blurred[1]));
  const auto cropped = A::RandomResizedCrop(8)(x, gen);
  REQUIRE_FALSE(torch::allclose(cropped[0], cropped[1]));
}

TEST_CASE("random ops reject bad options and inputs with clear messages", "[augment]") {
  using byol_test::require_error;
  require_error([] { A::RandomHorizontalFlip(A::RandomHorizontalFlipOptions().p(1.5)); },
                {"RandomHorizontalFlip", "p must be in [0, 1]", "1.5"});
  require_error([] { A::ColorJitter(A::ColorJitterOptions().p(-0.1)); },
                {"ColorJitter", "p must be in [0, 1]", "-0.1"});
  require_error([] { A::RandomGrayscale(A::RandomGrayscaleOptions().p(2)); }, {"RandomGrayscale", "p", "2"});
  require_error([] { A::RandomGaussianBlur(A::RandomGaussianBlurOptions(3).p(1.01)); },
                {"RandomGaussianBlur", "p", "1.01"});
  require_error([] { A::RandomSolarize(A::RandomSolarizeOptions().p(-1)); }, {"RandomSolarize", "p", "-1"});
  require_error([] { A::RandomGaussianBlur(A::RandomGaussianBlurOptions(4)); },
                {"RandomGaussianBlur", "kernel_size must be odd", "4"});
  require_error([] { A::RandomGaussianBlur(A::RandomGaussianBlurOptions(3).sigma_min(0.0)); },
                {"RandomGaussianBlur", "sigma", "0"});
  require_error([] { A::RandomGaussianBlur(A::RandomGaussianBlurOptions(3).sigma_min(-1.0).sigma_max(-0.5)); },
                {"sigma_min", "-1"});
  require_error([] { A::ColorJitter(A::ColorJitterOptions().hue(0.7)); }, {"ColorJitter", "hue", "0.7"});
  require_error([] { A::ColorJitter(A::ColorJitterOptions().contrast(-1)); }, {"ColorJitter", "contrast", "-1"});
  require_error([] { A::RandomResizedCrop(A::RandomResizedCropOptions(0)); }, {"RandomResizedCrop", "size", "0"});
  require_error([] { A::RandomResizedCrop(A::RandomResizedCropOptions(8).scale_min(0.0)); },
                {"RandomResizedCrop", "scale"});
  require_error([] { A::Normalize(A::NormalizeOptions().stddev({0.2, 0.0, 0.2})); }, {"Normalize", "stddev[1] = 0"});
  require_error([] { A::byol_view1(0); }, {"size", "0"});

  const auto view = A::byol_view1(8);
  require_error([&] { view(torch::rand({3, 8, 8})); }, {"RandomResizedCrop", "[B, C, H, W]", "[3, 8, 8]"});
  require_error([&] { view(torch::rand({0, 3, 8, 8})); }, {"empty batch", "[0, 3, 8, 8]"});
  require_error([&] { view(torch::rand({2, 2, 8, 8})); }, {"ColorJitter", "3 channels", "[2, 2, 8, 8]"});
  require_error(
      [] {
        A::RandomGrayscale()(torch::rand({2, 4, 8, 8}));
      },
      {"RandomGrayscale", "3 channels", "[2, 4, 8, 8]"});
  require_error([] { A::RandomHorizontalFlip()(torch::rand({2, 8, 8})); }, {"RandomHorizontalFlip", "[2, 8, 8]"});
  require_error(
      [] {
        A::RandomSolarize()(torch::zeros({2, 3, 4, 4}, torch::kInt));
      },
      {"RandomSolarize", "uint8", "Int"});
  require_error([] { A::Normalize()(torch::rand({2, 2, 4, 4})); }, {"Normalize", "3 values", "[2, 2, 4, 4]"});
  require_error([&] { view(std::vector<torch::Tensor>{}); }, {"RandomResizedCrop", "empty"});
  require_error(
      [&] {
        view(std::vector<torch::Tensor>{torch::rand({3, 8, 8}), torch::rand({1, 8, 8})});
      },
      {"RandomResizedCrop", "image 1", "[1, 8, 8]"});
  require_error([&] { view(std::vector<torch::Tensor>{torch::rand({1, 3, 8, 8})}); }, {"[C, H, W]", "[1, 3, 8, 8]"});
  // Image sizes given to sample must be at least 1.
  const A::RandomResizedCrop crop(8);
  auto sizes_gen = at::detail::createCPUGenerator(2);
  require_error([&] { crop.sample(torch::tensor({40.0, 0.0}), torch::tensor({60.0, 30.0}), sizes_gen); },
                {"RandomResizedCrop", "heights", "heights[1] = 0"});
  require_error([&] { crop.sample(torch::tensor({40.0, 20.0}), torch::tensor({-3.0, 30.0}), sizes_gen); },
                {"RandomResizedCrop", "widths", "widths[0] = -3"});
  // Params drawn for another batch size.
  const A::RandomHorizontalFlip flip;
  auto gen = at::detail::createCPUGenerator(1);
  const auto params = flip.sample(3, gen);
  require_error([&] { flip.apply_(torch::rand({2, 3, 4, 4}), params); }, {"RandomHorizontalFlip", "3", "[2, 3, 4, 4]"});
}

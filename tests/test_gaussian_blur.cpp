// byol/augment/gaussian_blur.hpp: RandomGaussianBlur's draws and that it blurs the drawn images
// with their drawn sigma (the blur itself is held to the float64 reference in
// test_augment_functional.cpp).
#include "augment_support.hpp"

using namespace augment_test;  // NOLINT(google-build-using-namespace): the shared references

TEST_CASE("RandomGaussianBlur draws sigma ~ U[sigma_min, sigma_max] per image and blurs the chosen images",
          "[gaussian_blur]") {
  BOTH_PATHS();
  const int64_t n = 4000;
  const A::RandomGaussianBlur blur(A::RandomGaussianBlurOptions(5).p(0.4).sigma_min(0.3).sigma_max(1.7));
  REQUIRE(blur.options().kernel_size() == 5);
  auto gen = at::detail::createCPUGenerator(8);
  const auto params = blur.sample(n, gen);
  REQUIRE(params.sigma.min().item<double>() >= 0.3);
  REQUIRE(params.sigma.max().item<double>() <= 1.7);
  // Uniform: the mean of n draws is (0.3 + 1.7) / 2 within 5 standard errors (sd (1.4) / sqrt(12)).
  REQUIRE(std::abs(params.sigma.mean().item<double>() - 1.0) <= 5 * 1.4 / std::sqrt(12.0 * n));
  require_binomial(params.apply.sum().item<int64_t>(), n, 0.4);

  const int64_t m = 12;
  const auto small = blur.sample(m, gen);
  const auto x = torch::rand({m, 3, 7, 6}, torch::kDouble);
  const auto y = blur.apply_(x.clone(), small);
  for (int64_t i = 0; i < m; ++i) {
    INFO("image " << i);
    const auto xi = x.narrow(0, i, 1);
    const auto expected = small.apply[i].item<bool>()
                              ? ref_blur(pixels(xi), {small.sigma[i].item<double>()}, 5)
                              : values(xi);
    REQUIRE_CLOSE(values(y[i]), expected, 0, 1e-10);
  }
}

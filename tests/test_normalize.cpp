// byol/augment/normalize.hpp and functional::normalize against (x_c - mean_c) / std_c computed
// pixel by pixel in float64.
#include "augment_support.hpp"

using namespace augment_test;  // NOLINT(google-build-using-namespace): the shared references

namespace {

std::vector<double> ref_normalize(const Pixels& in, const std::vector<double>& mean,
                                  const std::vector<double>& stddev) {
  Pixels out = in;
  for (int64_t b = 0; b < in.b; ++b)
    for (int64_t c = 0; c < in.c; ++c)
      for (int64_t y = 0; y < in.h; ++y)
        for (int64_t x = 0; x < in.w; ++x)
          out.at(b, c, y, x) = (in.at(b, c, y, x) - mean[static_cast<size_t>(c)]) / stddev[static_cast<size_t>(c)];
  return out.v;
}

}  // namespace

TEST_CASE("functional::normalize and Normalize compute (x_c - mean_c) / std_c, not clipped", "[normalize]") {
  const auto x = torch::rand({3, 3, 4, 5}, torch::kDouble);
  const std::vector<double> mean{0.485, 0.456, 0.406}, stddev{0.229, 0.224, 0.225};
  const auto expected = ref_normalize(pixels(x), mean, stddev);
  REQUIRE_CLOSE(values(F::normalize(x, mean, stddev)), expected, 0, 1e-12);
  // Normalize's defaults are ImageNet's statistics.
  REQUIRE(A::Normalize().options().mean() == mean);
  REQUIRE(A::Normalize().options().stddev() == stddev);
  REQUIRE_CLOSE(values(A::Normalize()(x)), expected, 0, 1e-12);
  auto gen = at::detail::createCPUGenerator(4);
  REQUIRE_CLOSE(values(A::Normalize()(x, gen)), expected, 0, 1e-12);
  // Values leave [0, 1]: (0 - 0.485) / 0.229 < -2.
  REQUIRE(F::normalize(torch::zeros({1, 3, 1, 1}), mean, stddev).min().item<double>() < -2.0);
  // Other channel counts, and uint8 in (divided by 255 first).
  const std::vector<double> m1{0.5}, s1{0.25};
  const auto gray = torch::randint(0, 256, {2, 1, 3, 3}, torch::kByte);
  const auto as_float = gray.to(torch::kDouble) / 255;
  REQUIRE_CLOSE(values(A::Normalize(A::NormalizeOptions().mean(m1).stddev(s1))(gray)),
                ref_normalize(pixels(as_float), m1, s1), 0, 1e-6);
  // forward_ may overwrite a float input and gives the same values.
  auto owned = x.clone();
  REQUIRE_CLOSE(values(A::Normalize().forward_(owned, gen)), expected, 0, 1e-12);
}

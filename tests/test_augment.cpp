// Augmentations against closed forms and float64 re-derivations written here with plain loops
// (Python's colorsys algorithm for HSV, direct 2-D convolution with reflection, direct
// resampling sums), apply rates against binomial bounds, determinism, and error messages.
#include <byol/augment.hpp>

#include "support.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <array>
#include <cmath>
#include <functional>
#include <set>
#include <vector>

// Runs the test case twice: with the fused CPU kernels, and with the ATen path that CUDA takes.
#define BOTH_PATHS()                                                        \
  const bool generic_path = GENERATE(false, true);                          \
  INFO((generic_path ? "on the ATen path" : "with the fused CPU kernels")); \
  byol::detail::KernelPathGuard path_guard(generic_path ? byol::detail::KernelPath::aten : byol::detail::KernelPath::fused)

namespace {

namespace F = byol::augment::functional;
namespace A = byol::augment;
using byol_test::values;

// ---- float64 references ----------------------------------------------------------------------

// Python's colorsys.rgb_to_hsv.
std::array<double, 3> rgb_to_hsv(double r, double g, double b) {
  const double maxc = std::max({r, g, b});
  const double minc = std::min({r, g, b});
  if (minc == maxc) {
    return {0.0, 0.0, maxc};
  }
  const double s = (maxc - minc) / maxc;
  const double rc = (maxc - r) / (maxc - minc);
  const double gc = (maxc - g) / (maxc - minc);
  const double bc = (maxc - b) / (maxc - minc);
  double h;
  if (r == maxc) {
    h = bc - gc;
  } else if (g == maxc) {
    h = 2.0 + rc - bc;
  } else {
    h = 4.0 + gc - rc;
  }
  h = std::fmod(h / 6.0, 1.0);
  return {h < 0 ? h + 1.0 : h, s, maxc};
}

// Python's colorsys.hsv_to_rgb.
std::array<double, 3> hsv_to_rgb(double h, double s, double v) {
  if (s == 0.0) {
    return {v, v, v};
  }
  int i = static_cast<int>(std::floor(h * 6.0));
  const double f = h * 6.0 - i;
  const double p = v * (1.0 - s), q = v * (1.0 - s * f), t = v * (1.0 - s * (1.0 - f));
  i = ((i % 6) + 6) % 6;
  switch (i) {
    case 0:
      return {v, t, p};
    case 1:
      return {q, v, p};
    case 2:
      return {p, v, t};
    case 3:
      return {p, q, v};
    case 4:
      return {t, p, v};
    default:
      return {v, p, q};
  }
}

double clip01(double x) {
  return std::min(1.0, std::max(0.0, x));
}

// A [B, 3, H, W] image batch as nested float64 pixels, and back.
struct Pixels {
  int64_t b, c, h, w;
  std::vector<double> v;
  double& at(int64_t i, int64_t ch, int64_t y, int64_t x) {
    return v[((i * c + ch) * h + y) * w + x];
  }
  double at(int64_t i, int64_t ch, int64_t y, int64_t x) const {
    return v[((i * c + ch) * h + y) * w + x];
  }
};
Pixels pixels(const torch::Tensor& t) {
  return {t.size(0), t.size(1), t.size(2), t.size(3), values(t)};
}

// Applies a per-pixel RGB map per image.
template <typename Map>
std::vector<double> per_pixel(const Pixels& in, Map map) {
  Pixels out = in;
  for (int64_t i = 0; i < in.b; ++i)
    for (int64_t y = 0; y < in.h; ++y)
      for (int64_t x = 0; x < in.w; ++x) {
        const auto rgb = map(i, in.at(i, 0, y, x), in.at(i, 1, y, x), in.at(i, 2, y, x));
        for (int64_t ch = 0; ch < 3; ++ch) out.at(i, ch, y, x) = rgb[static_cast<size_t>(ch)];
      }
  return out.v;
}

std::vector<double> ref_saturation(const Pixels& in, const std::vector<double>& f) {
  return per_pixel(in, [&](int64_t i, double r, double g, double b) {
    const auto hsv = rgb_to_hsv(r, g, b);
    const auto rgb = hsv_to_rgb(hsv[0], clip01(hsv[1] * f[static_cast<size_t>(i)]), hsv[2]);
    return std::array<double, 3>{clip01(rgb[0]), clip01(rgb[1]), clip01(rgb[2])};
  });
}

std::vector<double> ref_hue(const Pixels& in, const std::vector<double>& d) {
  return per_pixel(in, [&](int64_t i, double r, double g, double b) {
    const auto hsv = rgb_to_hsv(r, g, b);
    double h = std::fmod(hsv[0] + d[static_cast<size_t>(i)], 1.0);
    h = h < 0 ? h + 1.0 : h;
    const auto rgb = hsv_to_rgb(h, hsv[1], hsv[2]);
    return std::array<double, 3>{clip01(rgb[0]), clip01(rgb[1]), clip01(rgb[2])};
  });
}

std::vector<double> ref_brightness(const Pixels& in, const std::vector<double>& d) {
  Pixels out = in;
  for (size_t k = 0; k < out.v.size(); ++k) {
    const int64_t i = static_cast<int64_t>(k) / (in.c * in.h * in.w);
    out.v[k] = clip01(in.v[k] + d[static_cast<size_t>(i)]);
  }
  return out.v;
}

std::vector<double> ref_contrast(const Pixels& in, const std::vector<double>& f) {
  Pixels out = in;
  for (int64_t i = 0; i < in.b; ++i)
    for (int64_t ch = 0; ch < in.c; ++ch) {
      double mean = 0;
      for (int64_t y = 0; y < in.h; ++y)
        for (int64_t x = 0; x < in.w; ++x) mean += in.at(i, ch, y, x);
      mean /= static_cast<double>(in.h * in.w);
      for (int64_t y = 0; y < in.h; ++y)
        for (int64_t x = 0; x < in.w; ++x)
          out.at(i, ch, y, x) = clip01((in.at(i, ch, y, x) - mean) * f[static_cast<size_t>(i)] + mean);
    }
  return out.v;
}

int64_t reflect(int64_t p, int64_t n) {
  if (n == 1) return 0;
  while (p < 0 || p >= n) p = p < 0 ? -p : 2 * (n - 1) - p;
  return p;
}

// Direct 2-D convolution with the outer product of 1-D Gaussians and reflect padding.
std::vector<double> ref_blur(const Pixels& in, const std::vector<double>& sigma, int64_t k) {
  Pixels out = in;
  const int64_t r = k / 2;
  for (int64_t i = 0; i < in.b; ++i) {
    std::vector<double> g(static_cast<size_t>(k));
    double sum = 0;
    for (int64_t t = -r; t <= r; ++t) {
      const double s = sigma[static_cast<size_t>(i)];
      g[static_cast<size_t>(t + r)] = std::exp(-0.5 * t * t / (s * s));
      sum += g[static_cast<size_t>(t + r)];
    }
    for (auto& x : g) x /= sum;
    for (int64_t ch = 0; ch < in.c; ++ch)
      for (int64_t y = 0; y < in.h; ++y)
        for (int64_t x = 0; x < in.w; ++x) {
          double acc = 0;
          for (int64_t dy = -r; dy <= r; ++dy)
            for (int64_t dx = -r; dx <= r; ++dx)
              acc += g[static_cast<size_t>(dy + r)] * g[static_cast<size_t>(dx + r)] *
                     in.at(i, ch, reflect(y + dy, in.h), reflect(x + dx, in.w));
          out.at(i, ch, y, x) = clip01(acc);
        }
  }
  return out.v;
}

// Keys cubic (a = -0.5) and triangle filters.
double filter(double x, bool cubic) {
  x = std::abs(x);
  if (!cubic) return std::max(0.0, 1.0 - x);
  const double a = -0.5;
  if (x <= 1) return (a + 2) * x * x * x - (a + 3) * x * x + 1;
  if (x < 2) return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a;
  return 0;
}

// Weights of output pixel i over source pixels p of a box [start, start + len) resized to size.
std::vector<double> resample_row(int64_t i, double start, double len, int64_t size, int64_t n, bool cubic,
                                 bool antialias) {
  const double scale = len / static_cast<double>(size);
  const double stretch = antialias ? std::max(1.0, scale) : 1.0;
  const double centre = start + (static_cast<double>(i) + 0.5) * scale;
  std::vector<double> w(static_cast<size_t>(n), 0.0);
  double sum = 0;
  for (int64_t p = 0; p < n; ++p) {
    if (p < start || p >= start + len) continue;
    w[static_cast<size_t>(p)] = filter((p + 0.5 - centre) / stretch, cubic);
    sum += w[static_cast<size_t>(p)];
  }
  for (auto& x : w) x /= sum;
  return w;
}

std::vector<double> ref_resized_crop(const Pixels& in, const std::vector<std::array<double, 4>>& boxes, int64_t size,
                                     bool cubic, bool antialias) {
  std::vector<double> out;
  for (int64_t i = 0; i < in.b; ++i) {
    const auto& box = boxes[static_cast<size_t>(i)];
    for (int64_t ch = 0; ch < in.c; ++ch)
      for (int64_t oy = 0; oy < size; ++oy) {
        const auto wy = resample_row(oy, box[0], box[2], size, in.h, cubic, antialias);
        for (int64_t ox = 0; ox < size; ++ox) {
          const auto wx = resample_row(ox, box[1], box[3], size, in.w, cubic, antialias);
          double acc = 0;
          for (int64_t y = 0; y < in.h; ++y)
            for (int64_t x = 0; x < in.w; ++x)
              acc += wy[static_cast<size_t>(y)] * wx[static_cast<size_t>(x)] * in.at(i, ch, y, x);
          out.push_back(clip01(acc));
        }
      }
  }
  return out;
}

// |count - n p| within 5 standard deviations of the binomial.
void require_binomial(int64_t count, int64_t n, double p) {
  const double mean = static_cast<double>(n) * p;
  const double sd = std::sqrt(static_cast<double>(n) * p * (1 - p));
  INFO("count " << count << " of " << n << ", expected " << mean << " +- 5 * " << sd);
  REQUIRE(std::abs(static_cast<double>(count) - mean) <= 5 * sd + 1e-9);
}

// Number of images i for which changed(i) holds.
int64_t count_images(int64_t n, const std::function<bool(int64_t)>& changed) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += changed(i) ? 1 : 0;
  return count;
}

bool same_image(const torch::Tensor& a, const torch::Tensor& b, int64_t i, double tol = 0.0) {
  return (a[i] - b[i]).abs().max().item<double>() <= tol;
}

}  // namespace

// ---- functional ------------------------------------------------------------------------------

TEST_CASE("hflip reverses the columns of every image, any dtype", "[augment]") {
  const auto x = torch::randint(0, 256, {2, 3, 4, 5}, torch::kByte);
  const auto y = F::hflip(x);
  REQUIRE(y.scalar_type() == torch::kByte);
  for (int64_t j = 0; j < 5; ++j) {
    REQUIRE(torch::equal(y.select(3, j), x.select(3, 4 - j)));
  }
}

TEST_CASE("adjust_brightness adds a per-image delta and clips", "[augment]") {
  BOTH_PATHS();
  const auto x = torch::rand({4, 3, 5, 6}, torch::kDouble);
  const std::vector<double> d{-0.4, -0.1, 0.2, 0.4};
  const auto y = F::adjust_brightness(x, torch::tensor(d, torch::kDouble));
  REQUIRE(y.scalar_type() == torch::kDouble);
  REQUIRE_CLOSE(values(y), ref_brightness(pixels(x), d), 0, 1e-12);
  // float32 images, float32 result
  REQUIRE(F::adjust_brightness(x.to(torch::kFloat), torch::tensor(d, torch::kDouble)).scalar_type() == torch::kFloat);
}

TEST_CASE("adjust_contrast keeps each channel's mean and matches (x - m) f + m", "[augment]") {
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
          "[augment]") {
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

TEST_CASE("adjust_hue: a whole turn is the identity, 1/3 maps red to green, HSV round trip otherwise", "[augment]") {
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

TEST_CASE("rgb_to_grayscale uses the weights 0.2989, 0.5870, 0.1140 in all three channels", "[augment]") {
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

TEST_CASE("gaussian_blur: constants stay, an impulse spreads as the separable Gaussian summing to 1", "[augment]") {
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

TEST_CASE("solarize inverts the values at or above the threshold", "[augment]") {
  BOTH_PATHS();
  const auto x = torch::tensor({0.0, 0.2, 0.29999, 0.3, 0.5, 0.9, 1.0}, torch::kDouble).view({1, 1, 1, 7});
  const std::vector<double> at_03{0.0, 0.2, 0.29999, 0.7, 0.5, 0.1, 0.0};
  REQUIRE_CLOSE(values(F::solarize(x, 0.3)), at_03, 0, 1e-12);
  const std::vector<double> at_05{0.0, 0.2, 0.29999, 0.3, 0.5, 0.1, 0.0};
  REQUIRE_CLOSE(values(F::solarize(x, 0.5)), at_05, 0, 1e-12);
}

TEST_CASE("resized_crop: a box of the output size is a slice; constants and ramps are kept", "[augment]") {
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

TEST_CASE("resized_crop: bilinear 2x shrink is the (1, 3, 3, 1) / 8 antialiasing filter", "[augment]") {
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

TEST_CASE("resized_crop matches a direct float64 resampling sum, per image boxes, both filters", "[augment]") {
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

TEST_CASE("functional ops reject bad input with the argument and its shape or value", "[augment]") {
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

// ---- random ops --------------------------------------------------------------------------------

TEST_CASE("random ops apply per image at their rate p (binomial bounds over thousands of images)", "[augment]") {
  BOTH_PATHS();
  const int64_t n = 4000;
  auto gen = at::detail::createCPUGenerator(11);
  // Colourful images, away from 0 and 1, none with equal channels.
  const auto x = torch::rand({n, 3, 4, 4}) * 0.5 + 0.25;

  SECTION("flip") {
    const auto y = A::RandomHorizontalFlip(A::RandomHorizontalFlipOptions().p(0.3))(x, gen);
    const auto flipped = x.flip({3});
    require_binomial(count_images(n, [&](int64_t i) { return same_image(y, flipped, i) && !same_image(y, x, i); }), n,
                     0.3);
    REQUIRE(count_images(n, [&](int64_t i) { return !same_image(y, flipped, i) && !same_image(y, x, i); }) == 0);
  }
  SECTION("colour jitter") {
    const auto y = A::ColorJitter(A::ColorJitterOptions().p(0.8))(x, gen);
    require_binomial(count_images(n, [&](int64_t i) { return !same_image(y, x, i); }), n, 0.8);
  }
  SECTION("grayscale") {
    const auto y = A::RandomGrayscale(A::RandomGrayscaleOptions().p(0.2))(x, gen);
    const auto gray = F::rgb_to_grayscale(x);
    require_binomial(count_images(n, [&](int64_t i) { return same_image(y, gray, i, 1e-6); }), n, 0.2);
    REQUIRE(count_images(n, [&](int64_t i) { return !same_image(y, gray, i, 1e-6) && !same_image(y, x, i); }) == 0);
  }
  SECTION("blur") {
    const auto y = A::RandomGaussianBlur(A::RandomGaussianBlurOptions(3).p(0.1).sigma_min(0.5))(x, gen);
    require_binomial(count_images(n, [&](int64_t i) { return !same_image(y, x, i); }), n, 0.1);
  }
  SECTION("solarize") {
    const auto bright = x + 0.3;  // in [0.55, 1.05): solarized images end below 0.45
    const auto y = A::RandomSolarize(A::RandomSolarizeOptions().p(0.2))(bright.clamp(0, 1), gen);
    require_binomial(count_images(n, [&](int64_t i) { return y[i].max().item<double>() < 0.5; }), n, 0.2);
  }
  SECTION("p = 0 and p = 1") {
    REQUIRE(torch::equal(A::RandomGrayscale(A::RandomGrayscaleOptions().p(0.0))(x, gen), x));
    REQUIRE(torch::allclose(A::RandomGrayscale(A::RandomGrayscaleOptions().p(1.0))(x, gen), F::rgb_to_grayscale(x)));
  }
}

TEST_CASE("ColorJitter draws per image: factors in range, a random order, and applies them in that order",
          "[augment]") {
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

TEST_CASE("RandomResizedCrop boxes: area U[0.08, 1], aspect in [3/4, 4/3], inside the image, clamped", "[augment]") {
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
          "[augment]") {
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

TEST_CASE("views are reproducible under manual_seed and with an explicit generator", "[augment]") {
  BOTH_PATHS();
  const auto x = torch::randint(0, 256, {16, 3, 40, 48}, torch::kByte);
  const auto t1 = A::byol_view1(32);
  const auto t2 = A::byol_view2(32);
  torch::manual_seed(7);
  const auto a1 = t1(x);
  const auto a2 = t2(x);
  torch::manual_seed(7);
  REQUIRE(torch::equal(t1(x), a1));
  REQUIRE(torch::equal(t2(x), a2));
  torch::manual_seed(8);
  REQUIRE_FALSE(torch::equal(t1(x), a1));
  auto g1 = at::detail::createCPUGenerator(21), g2 = at::detail::createCPUGenerator(21);
  REQUIRE(torch::equal(t2(x, g1), t2(x, g2)));
  REQUIRE(torch::equal(t1(x, g1), t1(x, g2)));
  REQUIRE(a1.sizes() == torch::IntArrayRef({16, 3, 32, 32}));
  REQUIRE(a1.scalar_type() == torch::kFloat);
  REQUIRE(a1.min().item<double>() >= 0.0);
  REQUIRE(a1.max().item<double>() <= 1.0);
  // Data preparation: outputs never require grad, even from inputs that do.
  const auto leaf = torch::rand({2, 3, 8, 8}, torch::requires_grad());
  REQUIRE_FALSE(t1(leaf).requires_grad());
  REQUIRE_FALSE(F::adjust_hue(leaf, torch::zeros({2})).requires_grad());
  REQUIRE_FALSE(F::hflip(leaf).requires_grad());
  // The input is never modified; float input is copied, not written into.
  const auto f = x.to(torch::kFloat) / 255;
  const auto before = f.clone();
  A::RandomSolarize(A::RandomSolarizeOptions().p(1.0))(f);
  A::Compose(A::RandomHorizontalFlip(A::RandomHorizontalFlipOptions().p(1.0)), A::Normalize())(f);
  REQUIRE(torch::equal(f, before));
}

TEST_CASE("byol_view1 and byol_view2 follow docs/spec.md's table", "[augment]") {
  // docs/spec.md's blur kernel 2 floor(S / 20) + 1, worked out by hand: 23 at 224, 9 at 96, 3 at 32,
  // 1 (no blur) at 10.
  const std::vector<std::pair<int64_t, int64_t>> kernels{{224, 23}, {96, 9}, {32, 3}, {10, 1}};
  for (const auto& size_kernel : kernels) {
    const int64_t size = size_kernel.first, kernel = size_kernel.second;
    REQUIRE(A::byol_blur_kernel_size(size) == kernel);
    const auto t1 = A::byol_view1(size);
    const auto t2 = A::byol_view2(size);
    for (const auto* view : {&t1, &t2}) {
      const auto& crop = view->get<0>().options();
      REQUIRE(crop.size() == size);
      REQUIRE(crop.scale_min() == 0.08);
      REQUIRE(crop.scale_max() == 1.0);
      REQUIRE(crop.ratio_min() == Approx(0.75));
      REQUIRE(crop.ratio_max() == Approx(4.0 / 3.0));
      REQUIRE(crop.interpolation() == A::Interpolation::bicubic);
      REQUIRE(view->get<1>().options().p() == 0.5);
      const auto& jitter = view->get<2>().options();
      REQUIRE(jitter.p() == 0.8);
      REQUIRE(jitter.brightness() == 0.4);
      REQUIRE(jitter.contrast() == 0.4);
      REQUIRE(jitter.saturation() == 0.2);
      REQUIRE(jitter.hue() == 0.1);
      REQUIRE(view->get<3>().options().p() == 0.2);
      REQUIRE(view->get<4>().options().kernel_size() == kernel);
      REQUIRE(view->get<4>().options().sigma_min() == 0.1);
      REQUIRE(view->get<4>().options().sigma_max() == 2.0);
      REQUIRE(view->get<5>().options().threshold() == 0.5);
    }
    REQUIRE(t1.get<4>().options().p() == 1.0);
    REQUIRE(t2.get<4>().options().p() == 0.1);
    REQUIRE(t1.get<5>().options().p() == 0.0);
    REQUIRE(t2.get<5>().options().p() == 0.2);
  }
  REQUIRE(A::byol_blur_kernel_size(19) == 1);
  REQUIRE(A::byol_blur_kernel_size(20) == 3);
  // At 10 px view 1's blur (p 1.0, kernel 1) leaves every image as it is, on both paths.
  const auto blur = A::byol_view1(10).get<4>();
  const auto small = torch::rand({4, 3, 10, 10});
  for (const bool generic : {false, true}) {
    byol::detail::KernelPathGuard path(generic ? byol::detail::KernelPath::aten : byol::detail::KernelPath::fused);
    auto gen = at::detail::createCPUGenerator(13);
    REQUIRE(torch::equal(blur(small, gen), small));
    REQUIRE(torch::equal(F::gaussian_blur(small, torch::tensor({0.1, 0.5, 1.0, 2.0}), 1), small));
  }
  // A list of decoded images through a whole view, then Normalize.
  std::vector<torch::Tensor> decoded{torch::randint(0, 256, {3, 50, 70}, torch::kByte),
                                     torch::randint(0, 256, {3, 64, 40}, torch::kByte)};
  const auto normalized = A::Compose(A::byol_view2(32), A::Normalize())(decoded);
  REQUIRE(normalized.sizes() == torch::IntArrayRef({2, 3, 32, 32}));
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

namespace {

// f() with CPU tensors forced onto one path.
torch::Tensor on_path(byol::detail::KernelPath path, const std::function<torch::Tensor()>& f) {
  byol::detail::KernelPathGuard guard(path);
  return f();
}

template <typename View>
torch::Tensor view_on(byol::detail::KernelPath path, const View& view, const torch::Tensor& x, at::Generator& gen) {
  return on_path(path, [&] { return view(x, gen); });
}

}  // namespace

TEST_CASE("the fused CPU kernels and the ATen path give the same views from the same draws", "[augment]") {
  const auto x = torch::randint(0, 256, {64, 3, 50, 70}, torch::kByte);
  for (const int64_t size : {32, 96}) {
    for (const auto& view : {A::byol_view1(size), A::byol_view2(size)}) {
      auto g1 = at::detail::createCPUGenerator(6), g2 = at::detail::createCPUGenerator(6);
      const auto fused = view_on(byol::detail::KernelPath::fused, view, x, g1);
      const auto aten = view_on(byol::detail::KernelPath::aten, view, x, g2);
      REQUIRE(torch::allclose(fused, aten, 0, 1e-5));
    }
  }
}

TEST_CASE("the ATen path gives the fused kernels' results slab by slab on large images", "[augment]") {
  // 1 MiB per image: the ATen path on the CPU works in slabs of a few images, gathering the
  // chosen ones when they are not contiguous.
  const auto x = torch::rand({8, 3, 300, 300});
  const auto boxes = torch::tensor({0.0,  0.0, 300.0, 300.0, 10.0,  20.0,  100.0, 250.0, 5.0,   7.0,  33.0,
                                    21.0, 0.0, 0.0,   300.0, 1.0,   150.0, 150.0, 150.0, 150.0, 1.0,  2.0,
                                    3.0,  4.0, 50.0,  60.0,  240.0, 200.0, 0.0,   100.0, 300.0, 120.0})
                         .view({8, 4});
  const auto both = [&](const std::function<torch::Tensor()>& run) {
    auto fused = on_path(byol::detail::KernelPath::fused, run);
    return std::make_pair(fused, on_path(byol::detail::KernelPath::aten, run));
  };
  const auto crop = both([&] { return F::resized_crop(x, boxes, 40); });
  REQUIRE(torch::allclose(crop.first, crop.second, 0, 1e-5));
  const auto ops = std::vector<std::function<torch::Tensor(const torch::Tensor&, at::Generator&)>>{
      [](const torch::Tensor& t, at::Generator& g) { return A::ColorJitter(A::ColorJitterOptions().p(0.7))(t, g); },
      [](const torch::Tensor& t, at::Generator& g) {
        return A::RandomGaussianBlur(A::RandomGaussianBlurOptions(5).p(0.6))(t, g);
      },
      [](const torch::Tensor& t, at::Generator& g) {
        return A::RandomGrayscale(A::RandomGrayscaleOptions().p(0.5))(t, g);
      },
      [](const torch::Tensor& t, at::Generator& g) { return A::RandomHorizontalFlip()(t, g); },
      [](const torch::Tensor& t, at::Generator& g) {
        return A::RandomSolarize(A::RandomSolarizeOptions().p(0.5))(t, g);
      }};
  for (size_t k = 0; k < ops.size(); ++k) {
    INFO("op " << k);
    const auto result = both([&] {
      auto g = at::detail::createCPUGenerator(12);
      return ops[k](x, g);
    });
    REQUIRE_FALSE(torch::equal(result.first, x));
    REQUIRE(torch::allclose(result.first, result.second, 0, 1e-5));
  }
}

TEST_CASE("on CUDA the views equal the CPU views drawn from the same generator state", "[augment]") {
  if (!torch::cuda::is_available()) {
    return;  // nothing to compare against here; the CPU paths are tested above
  }
  const auto x = torch::randint(0, 256, {32, 3, 64, 80}, torch::kByte);
  for (const auto& view : {A::byol_view1(48), A::byol_view2(48)}) {
    auto g1 = at::detail::createCPUGenerator(2), g2 = at::detail::createCPUGenerator(2);
    const auto cpu = view(x, g1);
    const auto gpu = view(x.to(torch::kCUDA), g2);
    REQUIRE(gpu.device().is_cuda());
    REQUIRE(torch::allclose(gpu.cpu(), cpu, 0, 2e-4));
  }
}

TEST_CASE("the colour ops leave a 1-channel image as torchvision does; brightness and contrast apply", "[augment]") {
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

TEST_CASE("ColorJitter and RandomGrayscale on 1-channel images: the same draws, gray ops skipped", "[augment]") {
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

TEST_CASE("byol_view1 and byol_view2 take 1-channel images; the random stream ignores the channel count",
          "[augment]") {
  const auto gray = torch::rand({6, 1, 40, 40});
  const auto rgb = gray.expand({-1, 3, -1, -1}).contiguous();
  for (const bool first : {true, false}) {
    INFO((first ? "byol_view1" : "byol_view2"));
    const auto view = first ? A::byol_view1(32) : A::byol_view2(32);
    auto gen1 = at::detail::createCPUGenerator(23);
    auto gen3 = at::detail::createCPUGenerator(23);
    const auto one = view(gray, gen1);
    const auto three = view(rgb, gen3);
    REQUIRE(one.sizes() == torch::IntArrayRef({6, 1, 32, 32}));
    REQUIRE(three.sizes() == torch::IntArrayRef({6, 3, 32, 32}));
    REQUIRE(one.min().item<float>() >= 0.0f);
    REQUIRE(one.max().item<float>() <= 1.0f);
    // Both calls drew the same numbers: the generators are in the same state afterwards.
    REQUIRE(torch::equal(at::rand({8}, gen1), at::rand({8}, gen3)));
    if (first) {
      // T has no solarisation, so the gray view follows the RGB view of the repeated image up to
      // grayscale's weights summing to 0.9999 instead of 1 (a gray pixel g becomes 0.9999 g).
      const double diff = (one - three.narrow(1, 0, 1)).abs().max().item<double>();
      INFO("largest difference " << diff);
      REQUIRE(diff < 1e-3);
    }
  }
}

TEST_CASE("a pipeline's errors show the shape passed, and name channels-last input", "[augment]") {
  const auto view = A::byol_view1(16);
  // [B, H, W, C]: the crop reads 24 channels of 24 x 3 pixels, and ColorJitter rejects the result.
  byol_test::require_error([&] { view(torch::rand({2, 24, 24, 3})); },
                           {"ColorJitter", "[2, 24, 24, 3]", "channels last", "permute"});
  byol_test::require_error([&] { view(torch::rand({2, 5, 24, 24})); }, {"ColorJitter", "[2, 5, 24, 24]"});
}

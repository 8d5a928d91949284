// Shared by the augment tests (tests/test_augment*.cpp, test_random_apply.cpp, ...): float64
// references written here with plain loops (Python's colorsys algorithm for HSV, direct 2-D
// convolution with reflection, direct resampling sums), binomial bounds, and BOTH_PATHS.
#pragma once

#include <byol/augment.hpp>

#include "support.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
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

namespace augment_test {

namespace F = byol::augment::functional;
namespace A = byol::augment;
using byol_test::values;

// ---- float64 references ----------------------------------------------------------------------

// Python's colorsys.rgb_to_hsv.
inline std::array<double, 3> rgb_to_hsv(double r, double g, double b) {
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
inline std::array<double, 3> hsv_to_rgb(double h, double s, double v) {
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

inline double clip01(double x) {
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
inline Pixels pixels(const torch::Tensor& t) {
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

inline std::vector<double> ref_saturation(const Pixels& in, const std::vector<double>& f) {
  return per_pixel(in, [&](int64_t i, double r, double g, double b) {
    const auto hsv = rgb_to_hsv(r, g, b);
    const auto rgb = hsv_to_rgb(hsv[0], clip01(hsv[1] * f[static_cast<size_t>(i)]), hsv[2]);
    return std::array<double, 3>{clip01(rgb[0]), clip01(rgb[1]), clip01(rgb[2])};
  });
}

inline std::vector<double> ref_hue(const Pixels& in, const std::vector<double>& d) {
  return per_pixel(in, [&](int64_t i, double r, double g, double b) {
    const auto hsv = rgb_to_hsv(r, g, b);
    double h = std::fmod(hsv[0] + d[static_cast<size_t>(i)], 1.0);
    h = h < 0 ? h + 1.0 : h;
    const auto rgb = hsv_to_rgb(h, hsv[1], hsv[2]);
    return std::array<double, 3>{clip01(rgb[0]), clip01(rgb[1]), clip01(rgb[2])};
  });
}

inline std::vector<double> ref_brightness(const Pixels& in, const std::vector<double>& d) {
  Pixels out = in;
  for (size_t k = 0; k < out.v.size(); ++k) {
    const int64_t i = static_cast<int64_t>(k) / (in.c * in.h * in.w);
    out.v[k] = clip01(in.v[k] + d[static_cast<size_t>(i)]);
  }
  return out.v;
}

inline std::vector<double> ref_contrast(const Pixels& in, const std::vector<double>& f) {
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

inline int64_t reflect(int64_t p, int64_t n) {
  if (n == 1) return 0;
  while (p < 0 || p >= n) p = p < 0 ? -p : 2 * (n - 1) - p;
  return p;
}

// Direct 2-D convolution with the outer product of 1-D Gaussians and reflect padding.
inline std::vector<double> ref_blur(const Pixels& in, const std::vector<double>& sigma, int64_t k) {
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
inline double filter(double x, bool cubic) {
  x = std::abs(x);
  if (!cubic) return std::max(0.0, 1.0 - x);
  const double a = -0.5;
  if (x <= 1) return (a + 2) * x * x * x - (a + 3) * x * x + 1;
  if (x < 2) return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a;
  return 0;
}

// Weights of output pixel i over source pixels p of a box [start, start + len) resized to size.
inline std::vector<double> resample_row(int64_t i, double start, double len, int64_t size, int64_t n, bool cubic,
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

inline std::vector<double> ref_resized_crop(const Pixels& in, const std::vector<std::array<double, 4>>& boxes,
                                            int64_t size, bool cubic, bool antialias) {
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
inline void require_binomial(int64_t count, int64_t n, double p) {
  const double mean = static_cast<double>(n) * p;
  const double sd = std::sqrt(static_cast<double>(n) * p * (1 - p));
  INFO("count " << count << " of " << n << ", expected " << mean << " +- 5 * " << sd);
  REQUIRE(std::abs(static_cast<double>(count) - mean) <= 5 * sd + 1e-9);
}

// Number of images i for which changed(i) holds.
inline int64_t count_images(int64_t n, const std::function<bool(int64_t)>& changed) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += changed(i) ? 1 : 0;
  return count;
}

inline bool same_image(const torch::Tensor& a, const torch::Tensor& b, int64_t i, double tol = 0.0) {
  return (a[i] - b[i]).abs().max().item<double>() <= tol;
}

}  // namespace augment_test

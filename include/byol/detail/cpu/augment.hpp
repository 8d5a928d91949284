#pragma once

// byol's augmentations on the CPU: one parallel loop over images, each image in cache through
// the whole operation (byol/detail/aten/augment.hpp is the same math in ATen operations).

#include <byol/augment/interpolation.hpp>
#include <byol/detail/augment_common.hpp>
#include <byol/detail/parallel.hpp>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace byol::augment::functional::detail {

// ---- the fused CPU kernels: one parallel loop over images, each image in cache ------------------

namespace cpu {

template <typename T>
inline T clip01(T v) {
  return v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
}

/// Calls fn(b) for every b in rows, in parallel.
template <typename Fn>
inline void parallel_rows(const std::vector<int64_t>& rows, const Fn& fn) {
  byol::detail::parallel_for(0, static_cast<int64_t>(rows.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      fn(rows[static_cast<size_t>(i)]);
    }
  });
}

template <typename T>
inline void brightness(T* x, int64_t n, T delta) {
  for (int64_t i = 0; i < n; ++i) {
    x[i] = clip01(x[i] + delta);
  }
}

/// Sum of n values in float64, vectorised (lane_sums).
template <typename T>
inline double sum(const T* p, int64_t n) {
  return byol::detail::lane_sums<1, double>(n, [&](int64_t i, double* v) { v[0] = static_cast<double>(p[i]); })[0];
}

template <typename T>
inline void contrast(T* x, int64_t channels, int64_t plane, T factor) {
  for (int64_t c = 0; c < channels; ++c) {
    T* p = x + c * plane;
    const T shift = static_cast<T>(sum(p, plane) / static_cast<double>(plane)) * (T(1) - factor);
      for (int64_t i = 0; i < plane; ++i) {
      p[i] = clip01(p[i] * factor + shift);
    }
  }
}

template <typename T>
inline void saturation(T* x, int64_t plane, T factor) {
  const T f = factor > T(0) ? factor : T(0);
  const T tiny = static_cast<T>(kTinyRange);
  T* r = x;
  T* g = x + plane;
  T* b = x + 2 * plane;
  for (int64_t i = 0; i < plane; ++i) {
    const T v = std::max(r[i], std::max(g[i], b[i]));
    const T m = std::min(r[i], std::min(g[i], b[i]));
    const T ratio = std::min(v / std::max(v - m, tiny), f);
    const T shift = v * (T(1) - ratio);
    r[i] = clip01(r[i] * ratio + shift);
    g[i] = clip01(g[i] * ratio + shift);
    b[i] = clip01(b[i] * ratio + shift);
  }
}

/// The HSV -> RGB closed form for one channel, v - d clip(min(k, 4 - k), 0, 1) with k the
/// channel's place on the wheel in sixths mod 6, written as v - d clip(2 - |k - c|, 0, 1) for
/// the nearest c of 2, 8, 14: exact for k in [0, 16) and free of branches.
template <typename T>
inline T hue_channel(T k, T v, T range) {
  const T dist = std::min(std::abs(k - T(2)), std::min(std::abs(k - T(8)), std::abs(k - T(14))));
  const T t = std::min(std::max(T(2) - dist, T(0)), T(1));
  return std::min(std::max(v - range * t, T(0)), T(1));
}

/// Without data-dependent branches: the shift is reduced to [0, 6) sixths once per image and the
/// pixel's hue lies in [-1, 5) sixths, so k = n + h + shift (n = 5, 3, 1 for R, G, B) lies in
/// [0, 16).
template <typename T>
inline void hue(T* x, int64_t plane, T delta) {
  const double turns = static_cast<double>(delta) - std::floor(static_cast<double>(delta));
  T shift = static_cast<T>(6.0 * turns);
  shift = shift >= T(6) ? T(0) : shift;  // a turn a hair below 1 rounds up to 6 in float
  const T tiny = static_cast<T>(kTinyRange);
  T* r = x;
  T* g = x + plane;
  T* b = x + 2 * plane;
  for (int64_t i = 0; i < plane; ++i) {
    const T rv = r[i], gv = g[i], bv = b[i];
    const T v = std::max(rv, std::max(gv, bv));
    const T range = v - std::min(rv, std::min(gv, bv));
    // h = (g - b) / d if v == r, (b - r) / d + 2 if v == g, else (r - g) / d + 4: the operands
    // are selected, not the quotients, so that one division serves all three cases.
    T p = rv, q = gv, offset = T(4);
    p = v == gv ? bv : p;
    q = v == gv ? rv : q;
    offset = v == gv ? T(2) : offset;
    p = v == rv ? gv : p;
    q = v == rv ? bv : q;
    offset = v == rv ? T(0) : offset;
    const T h6 = (p - q) / std::max(range, tiny) + offset + shift;
    r[i] = hue_channel(h6 + T(5), v, range);
    g[i] = hue_channel(h6 + T(3), v, range);
    b[i] = hue_channel(h6 + T(1), v, range);
  }
}

template <typename T>
inline void grayscale(T* x, int64_t plane) {
  T* r = x;
  T* g = x + plane;
  T* b = x + 2 * plane;
  for (int64_t i = 0; i < plane; ++i) {
    const T y = clip01(r[i] * static_cast<T>(kGrayR) + g[i] * static_cast<T>(kGrayG) + b[i] * static_cast<T>(kGrayB));
    r[i] = y;
    g[i] = y;
    b[i] = y;
  }
}

template <typename T>
inline void solarize(T* x, int64_t n, T threshold) {
  for (int64_t i = 0; i < n; ++i) {
    const T flipped = T(1) - x[i];
    x[i] = clip01(x[i] >= threshold ? flipped : x[i]);
  }
}

template <typename T>
inline void hflip(T* x, int64_t rows, int64_t width) {
  for (int64_t y = 0; y < rows; ++y) {
    std::reverse(x + y * width, x + (y + 1) * width);
  }
}

/// Reflection of p into [0, n) without repeating the edge, as often as needed.
inline int64_t reflect(int64_t p, int64_t n) {
  if (n == 1) {
    return 0;
  }
  const int64_t period = 2 * (n - 1);
  p %= period;
  p = p < 0 ? p + period : p;
  return p < n ? p : period - p;
}

/// The normalised Gaussian taps g(t), t in [-r, r].
template <typename T>
inline std::vector<T> gaussian_taps(double sigma, int64_t kernel_size) {
  const int64_t radius = kernel_size / 2;
  std::vector<double> g(static_cast<size_t>(kernel_size));
  double sum = 0.0;
  for (int64_t t = -radius; t <= radius; ++t) {
    const double z = static_cast<double>(t) / sigma;
    g[static_cast<size_t>(t + radius)] = std::exp(-0.5 * z * z);
    sum += g[static_cast<size_t>(t + radius)];
  }
  std::vector<T> out(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    out[i] = static_cast<T>(g[i] / sum);
  }
  return out;
}

/// In place on one H x W plane: the vertical pass into `tmp`, then the horizontal pass back,
/// both as multiply-adds of whole rows (which the compiler vectorises).
template <typename T>
inline void blur_plane(T* x, int64_t height, int64_t width, const std::vector<T>& g, std::vector<T>& tmp,
                       std::vector<T>& row) {
  const auto k = static_cast<int64_t>(g.size());
  const int64_t radius = k / 2;
  tmp.assign(static_cast<size_t>(height * width), T(0));
  for (int64_t y = 0; y < height; ++y) {
    T* out = tmp.data() + y * width;
    for (int64_t t = 0; t < k; ++t) {
      const T w = g[static_cast<size_t>(t)];
      const T* in = x + reflect(y + t - radius, height) * width;
      for (int64_t i = 0; i < width; ++i) {
        out[i] += w * in[i];
      }
    }
  }
  row.resize(static_cast<size_t>(width + 2 * radius));
  for (int64_t y = 0; y < height; ++y) {
    const T* in = tmp.data() + y * width;
    for (int64_t i = -radius; i < width + radius; ++i) {
      row[static_cast<size_t>(i + radius)] = in[reflect(i, width)];
    }
    T* out = x + y * width;
    std::fill(out, out + width, T(0));
    for (int64_t t = 0; t < k; ++t) {
      const T w = g[static_cast<size_t>(t)];
      const T* in_t = row.data() + t;
      for (int64_t i = 0; i < width; ++i) {
        out[i] += w * in_t[i];
      }
    }
    for (int64_t i = 0; i < width; ++i) {
      out[i] = clip01(out[i]);
    }
  }
}

/// Per output pixel of one axis: the first source pixel, the number of taps and their weights.
struct Taps {
  std::vector<int64_t> first;
  std::vector<int64_t> count;
  std::vector<double> weight;  // size x stride
  int64_t stride = 0;
};

inline double filter(double x, Interpolation interpolation) {
  x = std::abs(x);
  if (interpolation == Interpolation::bilinear) {
    return x < 1.0 ? 1.0 - x : 0.0;
  }
  constexpr double a = -0.5;
  if (x <= 1.0) {
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  }
  return x < 2.0 ? ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a : 0.0;
}

/// The taps of resized_crop along one axis for a box [start, start + len) resampled to `size`.
inline Taps crop_taps(int64_t start, int64_t len, int64_t size, Interpolation interpolation, bool antialias) {
  const double support = interpolation == Interpolation::bilinear ? 1.0 : 2.0;
  const double scale = static_cast<double>(len) / static_cast<double>(size);
  const double stretch = antialias ? std::max(scale, 1.0) : 1.0;
  const double radius = support * stretch;
  Taps taps;
  taps.stride = static_cast<int64_t>(std::ceil(2.0 * radius)) + 2;
  taps.first.resize(static_cast<size_t>(size));
  taps.count.resize(static_cast<size_t>(size));
  taps.weight.assign(static_cast<size_t>(size * taps.stride), 0.0);
  for (int64_t i = 0; i < size; ++i) {
    const double centre = static_cast<double>(start) + (static_cast<double>(i) + 0.5) * scale;
    const int64_t lo = std::max(start, static_cast<int64_t>(std::floor(centre - 0.5 - radius)));
    const int64_t hi = std::min(start + len, lo + taps.stride);
    double* w = taps.weight.data() + i * taps.stride;
    double sum = 0.0;
    for (int64_t p = lo; p < hi; ++p) {
      w[p - lo] = filter((static_cast<double>(p) + 0.5 - centre) / stretch, interpolation);
      sum += w[p - lo];
    }
    for (int64_t p = lo; p < hi; ++p) {
      w[p - lo] /= sum;
    }
    taps.first[static_cast<size_t>(i)] = lo;
    taps.count[static_cast<size_t>(i)] = hi - lo;
  }
  return taps;
}

/// One image [C, H, W] (contiguous) -> [C, out_h, out_w]: the vertical pass over the box's
/// columns into `tmp` (whole-row multiply-adds), then the horizontal pass (short dot products).
template <typename in_t, typename out_t>
inline void crop_image(const in_t* src, int64_t channels, int64_t height, int64_t width, const double* box,
                       int64_t out_h, int64_t out_w, Interpolation interpolation, bool antialias, out_t* dst,
                       std::vector<out_t>& tmp) {
  const auto top = static_cast<int64_t>(box[0]), left = static_cast<int64_t>(box[1]);
  const auto box_h = static_cast<int64_t>(box[2]), box_w = static_cast<int64_t>(box[3]);
  const double unit = std::is_same<in_t, uint8_t>::value ? 1.0 / 255.0 : 1.0;
  const Taps rows = crop_taps(top, box_h, out_h, interpolation, antialias);
  const Taps cols = crop_taps(left, box_w, out_w, interpolation, antialias);
  std::vector<out_t> wr(rows.weight.size()), wc(cols.weight.size());
  for (size_t i = 0; i < wr.size(); ++i) {
    wr[i] = static_cast<out_t>(rows.weight[i] * unit);
  }
  for (size_t i = 0; i < wc.size(); ++i) {
    wc[i] = static_cast<out_t>(cols.weight[i]);
  }
  tmp.resize(static_cast<size_t>(out_h * box_w));
  for (int64_t c = 0; c < channels; ++c) {
    const in_t* plane = src + c * height * width + left;
    for (int64_t i = 0; i < out_h; ++i) {
      out_t* out = tmp.data() + i * box_w;
      std::fill(out, out + box_w, out_t(0));
      const out_t* w = wr.data() + i * rows.stride;
      for (int64_t k = 0; k < rows.count[static_cast<size_t>(i)]; ++k) {
        const in_t* in = plane + (rows.first[static_cast<size_t>(i)] + k) * width;
        const out_t wk = w[k];
        for (int64_t x = 0; x < box_w; ++x) {
          out[x] += wk * static_cast<out_t>(in[x]);
        }
      }
    }
    out_t* out = dst + c * out_h * out_w;
    for (int64_t i = 0; i < out_h; ++i) {
      const out_t* in = tmp.data() + i * box_w;
      for (int64_t j = 0; j < out_w; ++j) {
        const out_t* w = wc.data() + j * cols.stride;
        const out_t* t = in + (cols.first[static_cast<size_t>(j)] - left);
        out_t acc = 0;
        for (int64_t k = 0; k < cols.count[static_cast<size_t>(j)]; ++k) {
          acc += w[k] * t[k];
        }
        out[i * out_w + j] = clip01(acc);
      }
    }
  }
}

/// Every image of `images` (each [C, H_i, W_i], contiguous, one dtype: uint8, float32 or float64)
/// cropped by its row of `boxes` (a [B, 4] float64 CPU tensor) into out [B, C, out_h, out_w].
inline void resized_crop(const std::vector<at::Tensor>& images, const at::Tensor& boxes, int64_t out_h, int64_t out_w,
                         Interpolation interpolation, bool antialias, at::Tensor& out) {
  const double* box = boxes.data_ptr<double>();
  const auto in_type = images.front().scalar_type();
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "byol_resized_crop", [&] {
    using out_t = scalar_t;
    out_t* dst = out.data_ptr<out_t>();
    const int64_t out_stride = out.stride(0);
    const auto run = [&](auto tag) {
      using in_t = decltype(tag);
      (void)tag;
      byol::detail::parallel_for(0, static_cast<int64_t>(images.size()), 1, [&](int64_t begin, int64_t end) {
        std::vector<out_t> tmp;
        for (int64_t i = begin; i < end; ++i) {
          const at::Tensor& image = images[static_cast<size_t>(i)];
          crop_image<in_t, out_t>(image.data_ptr<in_t>(), image.size(0), image.size(1), image.size(2), box + 4 * i,
                                  out_h, out_w, interpolation, antialias, dst + i * out_stride, tmp);
        }
      });
    };
    if (in_type == at::kByte) {
      run(uint8_t{});
    } else if (in_type == at::kFloat) {
      run(float{});
    } else {
      TORCH_INTERNAL_ASSERT(in_type == at::kDouble, "resized_crop: unexpected input dtype ", in_type);
      run(double{});
    }
  });
}

}  // namespace cpu

}  // namespace byol::augment::functional::detail

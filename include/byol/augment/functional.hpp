#pragma once

/// Batched image augmentations: the stateless math of BYOL's views T and T' (docs/spec.md).
///
/// Images are batches [B, C, H, W], floating point with values in [0, 1]; every per-image
/// parameter is a 1-D tensor of length B. Each function returns a new tensor of the input's
/// dtype (not differentiable), clipped to [0, 1], and runs batched: on the CPU as one fused
/// kernel parallel over the images (each image's pixels stay in cache through the whole
/// operation), on other devices (CUDA) as a few ATen operations over the whole batch:
///
///   adjust_brightness   x + delta_b
///   adjust_contrast     (x - mean_bc) f_b + mean_bc           (mean per image and channel)
///   adjust_saturation   HSV s <- clip(s f_b, 0, 1)
///   adjust_hue          HSV h <- (h + delta_b) mod 1           (delta in turns of the wheel)
///   rgb_to_grayscale    0.2989 R + 0.5870 G + 0.1140 B, in all three channels
///   gaussian_blur       separable Gaussian, per-image sigma, reflect padding
///   solarize            x < threshold ? x : 1 - x
///   resized_crop        per-image boxes resampled to size x size (bicubic or bilinear, antialiased)
///
///     auto x = torch::rand({256, 3, 32, 32});
///     auto y = byol::augment::functional::adjust_hue(x, torch::rand({256}) * 0.2 - 0.1);
///     auto z = byol::augment::functional::gaussian_blur(y, torch::full({256}, 1.0), 3);

#include <byol/detail/kernel_path.hpp>
#include <byol/detail/parallel.hpp>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace byol::augment {

/// The resampling filter of resized_crop.
enum class Interpolation {
  /// Triangle filter: bilinear interpolation when enlarging.
  bilinear,
  /// Keys' cubic convolution with a = -0.5 (as PIL and TensorFlow): bicubic interpolation when
  /// enlarging. The reference's choice and the default.
  bicubic,
};

}  // namespace byol::augment

namespace byol::augment::functional {
namespace detail {

/// Bytes of one image slab that the ATen path processes at a time on the CPU (when it runs
/// there): small enough that its temporaries stay in cache and are recycled by malloc.
constexpr int64_t kCpuChunkBytes = int64_t{4} << 20;

/// Denominator floor for max - min in the HSV formulas (where max == min the result does not
/// depend on it).
constexpr double kTinyRange = 1e-12;

/// Grayscale weights of docs/spec.md (ITU-R 601 luma, as torchvision).
constexpr double kGrayR = 0.2989;
constexpr double kGrayG = 0.5870;
constexpr double kGrayB = 0.1140;

// ---- checks and conversions ---------------------------------------------------------------------

inline void check_images(const at::Tensor& images, const char* where) {
  TORCH_CHECK(images.defined(), where, ": images is an undefined tensor");
  TORCH_CHECK(images.dim() == 4, where, ": images must have shape [B, C, H, W], got ", images.sizes());
  TORCH_CHECK(images.size(0) > 0, where, ": empty batch, images has shape ", images.sizes());
  TORCH_CHECK(images.size(1) > 0 && images.size(2) > 0 && images.size(3) > 0, where,
              ": images must have at least one channel, row and column, got shape ", images.sizes());
}

inline void check_float_images(const at::Tensor& images, const char* where) {
  check_images(images, where);
  TORCH_CHECK(at::isFloatingType(images.scalar_type()), where,
              ": images must be floating point with values in [0, 1], got ", images.scalar_type(),
              " (uint8 images are accepted by resized_crop and the random ops, which divide by 255)");
}

/// The colour ops take RGB images and, as torchvision does, 1-channel (grayscale) images, which
/// they leave as they are. Returns true for a 1-channel batch.
inline bool check_rgb_or_gray(const at::Tensor& images, const char* where) {
  TORCH_CHECK(images.size(1) == 3 || images.size(1) == 1, where,
              ": images must have 3 channels (RGB) or 1 (grayscale), got shape ", images.sizes());
  return images.size(1) == 1;
}

/// The dtype the math runs in: float64 for float64 input, float32 for everything else.
inline at::ScalarType compute_type(at::ScalarType input) {
  return input == at::kDouble ? at::kDouble : at::kFloat;
}

/// Checks a per-image parameter tensor (1-D, length B, real) and returns it as a contiguous
/// float64 CPU tensor (a device tensor is copied back: pass parameters on the CPU).
inline at::Tensor per_image(const at::Tensor& param, int64_t batch, const char* where, const char* name) {
  TORCH_CHECK(param.defined(), where, ": ", name, " is an undefined tensor");
  TORCH_CHECK(param.dim() == 1 && param.size(0) == batch, where, ": ", name,
              " must be a 1-D tensor with one value per image, shape [", batch, "], got ", param.sizes());
  TORCH_CHECK(!param.is_complex() && param.scalar_type() != at::kBool, where, ": ", name,
              " must hold real numbers, got ", param.scalar_type());
  return param.to(at::kCPU, at::kDouble).contiguous();
}

/// A small CPU tensor (per-image parameters, indices) on `device`: through pinned memory and an
/// asynchronous copy on CUDA, so that the host does not wait for the GPU's queue to drain.
inline at::Tensor to_device(const at::Tensor& cpu, const at::Device& device, at::ScalarType dtype) {
  if (device.is_cpu()) {
    return cpu.to(dtype);
  }
  if (device.is_cuda()) {
    return cpu.to(dtype).pin_memory().to(device, dtype, /*non_blocking=*/true);
  }
  return cpu.to(device, dtype);
}

/// A fresh contiguous copy in the compute dtype, for an out-of-place function to work on.
inline at::Tensor working_copy(const at::Tensor& images) {
  return images.to(images.options().dtype(compute_type(images.scalar_type())), /*non_blocking=*/false,
                   /*copy=*/true, at::MemoryFormat::Contiguous);
}

/// 0, 1, ..., batch - 1.
inline std::vector<int64_t> all_rows(int64_t batch) {
  std::vector<int64_t> rows(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) {
    rows[static_cast<size_t>(i)] = i;
  }
  return rows;
}

// ---- which path runs --------------------------------------------------------------------------

/// Whether x takes the fused CPU kernels (in-place ones also need x contiguous). Tests force
/// one path or the other with byol::detail::KernelPathGuard.
inline bool use_cpu_kernels(const at::Tensor& x) {
  return x.device().is_cpu() && byol::detail::use_fused_cpu_kernels();
}

// ---- the ATen path: in place on a [n, C, H, W] tensor in the compute dtype ---------------------
// Per-image parameters arrive as [n, 1, 1, 1] tensors like x. Each kernel reads everything it
// needs from x before its last write, so x may be a view into a batch.

namespace aten {

inline void brightness_(at::Tensor& x, const at::Tensor& delta) {
  x.add_(delta).clamp_(0.0, 1.0);
}

inline void contrast_(at::Tensor& x, const at::Tensor& factor) {
  const at::Tensor mean = x.mean({2, 3}, /*keepdim=*/true);
  // (x - m) f + m = x f + m (1 - f)
  x.mul_(factor).add_(mean * (1.0 - factor)).clamp_(0.0, 1.0);
}

/// With v = max, m = min over channels and d = v - m, HSV has s = d / v and every channel is
/// v - d k_c(h) for a k_c that depends on the hue alone. Scaling s to s' = clip(s f, 0, 1) at
/// fixed h and v therefore maps each channel to v - (s'/s)(v - x_c), and
/// s'/s = clip(f, 0, v / d): no hue needs computing.
inline void saturation_(at::Tensor& x, const at::Tensor& factor) {
  at::Tensor low, high;
  std::tie(low, high) = at::aminmax(x, 1, /*keepdim=*/true);
  const at::Tensor ratio = at::minimum(high / (high - low).clamp_min_(kTinyRange), factor.clamp_min(0.0));
  const at::Tensor shift = high * (1.0 - ratio);  // x ratio + v (1 - ratio) = v - ratio (v - x)
  x.mul_(ratio).add_(shift).clamp_(0.0, 1.0);
}

/// HSV hue from RGB (in sixths of a turn, any real value, reduced mod 6 below), then the HSV to
/// RGB map in closed form: channel n in {R: 5, G: 3, B: 1} is v - d clip(min(k, 4 - k), 0, 1)
/// with k = (n + 6 h) mod 6. v and d = max - min are kept, so only the hue moves.
inline void hue_(at::Tensor& x, const at::Tensor& delta) {
  at::Tensor low, high;
  std::tie(low, high) = at::aminmax(x, 1, /*keepdim=*/true);
  const at::Tensor range = high - low;
  const at::Tensor safe = range.clamp_min(kTinyRange);
  const at::Tensor r = x.narrow(1, 0, 1);
  const at::Tensor g = x.narrow(1, 1, 1);
  const at::Tensor b = x.narrow(1, 2, 1);
  at::Tensor h6 = at::where(high == r, (g - b) / safe,
                            at::where(high == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0));
  h6.add_(delta * 6.0);
  const at::Tensor offsets = (5.0 - 2.0 * at::arange(3, x.options())).view({1, 3, 1, 1});  // R 5, G 3, B 1
  const at::Tensor k = at::remainder(h6 + offsets, 6.0);
  const at::Tensor t = at::minimum(k, 4.0 - k).clamp_(0.0, 1.0).mul_(range);
  at::sub_out(x, high, t);
  x.clamp_(0.0, 1.0);
}

inline void grayscale_(at::Tensor& x) {
  at::Tensor gray = x.narrow(1, 0, 1) * kGrayR;
  gray.add_(x.narrow(1, 1, 1), kGrayG).add_(x.narrow(1, 2, 1), kGrayB).clamp_(0.0, 1.0);
  x.copy_(gray.expand_as(x));
}

inline void solarize_(at::Tensor& x, double threshold) {
  x.copy_(at::where(x >= threshold, 1.0 - x, x)).clamp_(0.0, 1.0);
}

inline void hflip_(at::Tensor& x) {
  x.copy_(x.flip({3}));
}

/// out[i] = R_rows[i] x[i] R_cols[i]^T for every image i and channel: x [n, C, H, W],
/// rows [n, P, H], cols [n, Q, W] -> [n, C, P, Q]. Two batched matrix products, the cheaper
/// order first.
inline at::Tensor separable_map(const at::Tensor& x, const at::Tensor& rows, const at::Tensor& cols) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t p = rows.size(1), q = cols.size(1);
  const at::Tensor xc = x.contiguous();
  if (h * w * q + p * h * q <= p * h * w + p * w * q) {
    const at::Tensor u = at::bmm(xc.view({n, c * h, w}), cols.transpose(1, 2));  // [n, C*H, Q]
    return at::matmul(rows.unsqueeze(1), u.view({n, c, h, q}));                // [n, C, P, Q]
  }
  const at::Tensor u = at::matmul(rows.unsqueeze(1), xc);  // [n, C, P, W]
  return at::bmm(u.reshape({n, c * p, w}), cols.transpose(1, 2)).view({n, c, p, q});
}

/// Dense [n, S, L] matrices from banded taps: m[i, s, index[i, s, k]] += weight[i, s, k].
inline at::Tensor scatter_taps(const at::Tensor& index, const at::Tensor& weight, int64_t length) {
  const int64_t n = weight.size(0), s = weight.size(1);
  return at::zeros({n, s, length}, weight.options()).scatter_add_(2, index.expand({n, s, index.size(2)}), weight);
}

/// Reflection of integer positions into [0, L) without repeating the edge (torchvision's
/// "reflect" padding), repeated for offsets beyond one image side.
inline at::Tensor reflect_index(const at::Tensor& position, int64_t length) {
  if (length == 1) {
    return at::zeros_like(position);
  }
  const int64_t period = 2 * (length - 1);
  const at::Tensor m = at::remainder(position, period);
  return at::where(m >= length, period - m, m);
}

/// Per-image Gaussian blur matrices [n, L, L] for one axis: row i holds
/// g(t) = exp(-t^2 / (2 sigma^2)) / sum, t in [-r, r], at the reflected positions of i + t.
inline at::Tensor blur_matrices(const at::Tensor& sigma, int64_t kernel_size, int64_t length, at::ScalarType dtype) {
  const int64_t radius = kernel_size / 2;
  const auto device = sigma.device();
  const at::Tensor offsets = at::arange(-radius, radius + 1, at::TensorOptions().dtype(at::kLong).device(device));
  const at::Tensor taps = offsets.to(at::kDouble).view({1, -1});
  at::Tensor g = at::exp((taps / sigma.to(at::kDouble).view({-1, 1})).square_().mul_(-0.5));  // [n, k]
  g.div_(g.sum(1, /*keepdim=*/true));
  const at::Tensor position = at::arange(length, offsets.options()).view({-1, 1}) + offsets.view({1, -1});
  const at::Tensor index = reflect_index(position, length).unsqueeze(0);  // [1, L, k]
  const int64_t n = sigma.size(0);
  return scatter_taps(index, g.to(dtype).unsqueeze(1).expand({n, length, kernel_size}), length);
}

/// Blur with per-image sigma ([n] on x's device): two batched products with banded matrices
/// that fold the reflect padding in.
inline void gaussian_blur_(at::Tensor& x, const at::Tensor& sigma, int64_t kernel_size) {
  const at::Tensor rows = blur_matrices(sigma, kernel_size, x.size(2), x.scalar_type());
  const at::Tensor cols =
      x.size(3) == x.size(2) ? rows : blur_matrices(sigma, kernel_size, x.size(3), x.scalar_type());
  x.copy_(separable_map(x, rows, cols)).clamp_(0.0, 1.0);
}

/// The resampling filter, evaluated at distances x (in filter units).
inline at::Tensor filter_weights(const at::Tensor& x, Interpolation interpolation) {
  const at::Tensor ax = x.abs();
  if (interpolation == Interpolation::bilinear) {
    return (1.0 - ax).clamp_min_(0.0);
  }
  constexpr double a = -0.5;  // Keys (1981); PIL and TensorFlow use it too
  const at::Tensor near = ((a + 2.0) * ax - (a + 3.0)) * ax * ax + 1.0;
  const at::Tensor far = ((a * ax - 5.0 * a) * ax + 8.0 * a) * ax - 4.0 * a;
  return at::where(ax <= 1.0, near, at::where(ax < 2.0, far, at::zeros_like(ax)));
}

/// Resampling matrices [n, S, L] for one axis of per-image boxes (start, len) on one device;
/// see resized_crop for the weights. `max_stretch` (max_i of the filter stretch, known on the
/// CPU) fixes the number of taps.
inline at::Tensor crop_matrices(const at::Tensor& start, const at::Tensor& len, int64_t size, int64_t length,
                                Interpolation interpolation, bool antialias, double max_stretch, at::ScalarType dtype) {
  const double support = interpolation == Interpolation::bilinear ? 1.0 : 2.0;
  const int64_t taps = static_cast<int64_t>(std::ceil(2.0 * support * max_stretch)) + 2;
  const auto dopt = start.options().dtype(at::kDouble);
  const at::Tensor s0 = start.to(at::kDouble).view({-1, 1, 1});
  const at::Tensor l = len.to(at::kDouble).view({-1, 1, 1});
  const at::Tensor scale = l / static_cast<double>(size);
  const at::Tensor stretch = antialias ? scale.clamp_min(1.0) : at::ones_like(scale);
  const at::Tensor centre = s0 + (at::arange(size, dopt).view({1, -1, 1}) + 0.5) * scale;  // [n, S, 1]
  const at::Tensor first = at::floor(centre - 0.5 - support * stretch);
  const at::Tensor pixel = first + at::arange(taps, dopt).view({1, 1, -1});  // [n, S, K]
  at::Tensor weight = filter_weights((pixel + 0.5 - centre) / stretch, interpolation);
  const at::Tensor inside = (pixel >= s0).logical_and_(pixel < s0 + l);
  weight = weight * inside.to(at::kDouble);
  weight.div_(weight.sum(2, /*keepdim=*/true));
  const at::Tensor index = at::minimum(at::maximum(pixel, s0), s0 + l - 1.0).to(at::kLong);
  return scatter_taps(index, weight.to(dtype), length);
}

/// Resized crop of a [n, C, H, W] slab (any real dtype; uint8 is divided by 255) with CPU boxes.
inline at::Tensor resized_crop(const at::Tensor& images, const at::Tensor& boxes_cpu, int64_t size,
                               Interpolation interpolation, bool antialias, at::ScalarType dtype) {
  const at::Tensor x = images.to(dtype);
  const at::Tensor stretch = (boxes_cpu.narrow(1, 2, 2) / static_cast<double>(size)).clamp_min(1.0);
  const double max_rows = antialias ? stretch.select(1, 0).max().item<double>() : 1.0;
  const double max_cols = antialias ? stretch.select(1, 1).max().item<double>() : 1.0;
  const at::Tensor b = to_device(boxes_cpu, images.device(), at::kDouble);
  at::Tensor rows = crop_matrices(b.select(1, 0), b.select(1, 2), size, images.size(2), interpolation, antialias,
                                  max_rows, dtype);
  if (images.scalar_type() == at::kByte) {
    rows.mul_(1.0 / 255.0);  // uint8 in [0, 255]: the scale rides on the small matrices
  }
  const at::Tensor cols = crop_matrices(b.select(1, 1), b.select(1, 3), size, images.size(3), interpolation,
                                        antialias, max_cols, dtype);
  return separable_map(x, rows, cols).clamp_(0.0, 1.0);
}

}  // namespace aten

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

/// One image [C, H, W] (contiguous) -> [C, S, S]: the vertical pass over the box's columns into
/// `tmp` (whole-row multiply-adds), then the horizontal pass (short dot products).
template <typename in_t, typename out_t>
inline void crop_image(const in_t* src, int64_t channels, int64_t height, int64_t width, const double* box,
                       int64_t size, Interpolation interpolation, bool antialias, out_t* dst, std::vector<out_t>& tmp) {
  const auto top = static_cast<int64_t>(box[0]), left = static_cast<int64_t>(box[1]);
  const auto box_h = static_cast<int64_t>(box[2]), box_w = static_cast<int64_t>(box[3]);
  const double unit = std::is_same<in_t, uint8_t>::value ? 1.0 / 255.0 : 1.0;
  const Taps rows = crop_taps(top, box_h, size, interpolation, antialias);
  const Taps cols = crop_taps(left, box_w, size, interpolation, antialias);
  std::vector<out_t> wr(rows.weight.size()), wc(cols.weight.size());
  for (size_t i = 0; i < wr.size(); ++i) {
    wr[i] = static_cast<out_t>(rows.weight[i] * unit);
  }
  for (size_t i = 0; i < wc.size(); ++i) {
    wc[i] = static_cast<out_t>(cols.weight[i]);
  }
  tmp.resize(static_cast<size_t>(size * box_w));
  for (int64_t c = 0; c < channels; ++c) {
    const in_t* plane = src + c * height * width + left;
    for (int64_t i = 0; i < size; ++i) {
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
    out_t* out = dst + c * size * size;
    for (int64_t i = 0; i < size; ++i) {
      const out_t* in = tmp.data() + i * box_w;
      for (int64_t j = 0; j < size; ++j) {
        const out_t* w = wc.data() + j * cols.stride;
        const out_t* t = in + (cols.first[static_cast<size_t>(j)] - left);
        out_t acc = 0;
        for (int64_t k = 0; k < cols.count[static_cast<size_t>(j)]; ++k) {
          acc += w[k] * t[k];
        }
        out[i * size + j] = clip01(acc);
      }
    }
  }
}

/// Every image of `images` (each [C, H_i, W_i], contiguous, one dtype: uint8, float32 or float64)
/// cropped by its row of `boxes` (a [B, 4] float64 CPU tensor) into out [B, C, S, S].
inline void resized_crop(const std::vector<at::Tensor>& images, const at::Tensor& boxes, int64_t size,
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
                                  size, interpolation, antialias, dst + i * out_stride, tmp);
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

// ---- row-wise operations: the fused CPU kernels or the ATen path ------------------------------

/// Images per ATen slab on the CPU (at least one); the whole batch on other devices, where one
/// kernel launch per operation over everything is what is fast.
inline int64_t rows_per_chunk(const at::Tensor& images, int64_t out_elements_per_image = 0) {
  const int64_t batch = images.size(0);
  if (!images.device().is_cpu()) {
    return batch;
  }
  const int64_t per_image = std::max(images.numel() / batch, out_elements_per_image) *
                            static_cast<int64_t>(c10::elementSize(compute_type(images.scalar_type())));
  return std::max<int64_t>(1, std::min(batch, kCpuChunkBytes / std::max<int64_t>(per_image, 1)));
}

/// The ATen path's loop: kernel(sub, rows_cpu) in place on images[rows] (rows sorted), in groups
/// of one slab (all rows at once off the CPU): a contiguous run of rows is a view written in
/// place; any other group is gathered, processed and scattered back.
template <typename Kernel>
inline void update_rows_(const at::Tensor& images, const std::vector<int64_t>& rows, Kernel&& kernel) {
  const auto group = static_cast<size_t>(rows_per_chunk(images));
  for (size_t begin = 0; begin < rows.size(); begin += group) {
    const size_t end = std::min(rows.size(), begin + group);
    const std::vector<int64_t> part(rows.begin() + static_cast<std::ptrdiff_t>(begin),
                                    rows.begin() + static_cast<std::ptrdiff_t>(end));
    const at::Tensor part_cpu = at::tensor(part, at::TensorOptions().dtype(at::kLong));
    const auto n = static_cast<int64_t>(part.size());
    if (part.back() - part.front() == n - 1) {
      at::Tensor view = images.narrow(0, part.front(), n);
      kernel(view, part_cpu);
    } else {
      const at::Tensor index = to_device(part_cpu, images.device(), at::kLong);
      at::Tensor sub = images.index_select(0, index);
      kernel(sub, part_cpu);
      images.index_copy_(0, index, sub);
    }
  }
}

/// A per-image parameter (float64 CPU [B]) for the images at `rows`, as [n, 1, 1, 1] like x.
inline at::Tensor column(const at::Tensor& param, const at::Tensor& rows, const at::Tensor& x) {
  return to_device(param.index_select(0, rows), x.device(), x.scalar_type()).view({-1, 1, 1, 1});
}

/// Runs image_fn(pointer, b) on each image b in rows with the fused CPU kernels, or
/// aten_fn(sub, rows_cpu) through the ATen path, in place on x (contiguous float32/float64).
template <typename ImageFn, typename AtenFn>
inline void for_rows_(at::Tensor& x, const std::vector<int64_t>& rows, const ImageFn& image_fn, AtenFn&& aten_fn) {
  if (rows.empty()) {
    return;
  }
  if (use_cpu_kernels(x) && x.is_contiguous()) {
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "byol_augment", [&] {
      scalar_t* base = x.data_ptr<scalar_t>();
      const int64_t stride = x.stride(0);
      cpu::parallel_rows(rows, [&](int64_t b) { image_fn(base + b * stride, b); });
    });
  } else {
    update_rows_(x, rows, std::forward<AtenFn>(aten_fn));
  }
}

// Each *_rows_ function works in place on the images at `rows` of a contiguous float32/float64
// batch x [B, C, H, W]; per-image parameters are float64 CPU tensors of length B.

inline void brightness_rows_(at::Tensor& x, const std::vector<int64_t>& rows, const at::Tensor& delta) {
  const double* d = delta.data_ptr<double>();
  const int64_t n = x.numel() / x.size(0);
  for_rows_(
      x, rows,
      [&](auto* image, int64_t b) {
        using T = std::remove_pointer_t<decltype(image)>;
        cpu::brightness(image, n, static_cast<T>(d[b]));
      },
      [&](at::Tensor& sub, const at::Tensor& idx) { aten::brightness_(sub, column(delta, idx, sub)); });
}

inline void contrast_rows_(at::Tensor& x, const std::vector<int64_t>& rows, const at::Tensor& factor) {
  const double* f = factor.data_ptr<double>();
  const int64_t channels = x.size(1), plane = x.size(2) * x.size(3);
  for_rows_(
      x, rows,
      [&](auto* image, int64_t b) {
        using T = std::remove_pointer_t<decltype(image)>;
        cpu::contrast(image, channels, plane, static_cast<T>(f[b]));
      },
      [&](at::Tensor& sub, const at::Tensor& idx) { aten::contrast_(sub, column(factor, idx, sub)); });
}

inline void saturation_rows_(at::Tensor& x, const std::vector<int64_t>& rows, const at::Tensor& factor) {
  const double* f = factor.data_ptr<double>();
  const int64_t plane = x.size(2) * x.size(3);
  for_rows_(
      x, rows,
      [&](auto* image, int64_t b) {
        using T = std::remove_pointer_t<decltype(image)>;
        cpu::saturation(image, plane, static_cast<T>(f[b]));
      },
      [&](at::Tensor& sub, const at::Tensor& idx) { aten::saturation_(sub, column(factor, idx, sub)); });
}

inline void hue_rows_(at::Tensor& x, const std::vector<int64_t>& rows, const at::Tensor& delta) {
  const double* d = delta.data_ptr<double>();
  const int64_t plane = x.size(2) * x.size(3);
  for_rows_(
      x, rows,
      [&](auto* image, int64_t b) {
        using T = std::remove_pointer_t<decltype(image)>;
        cpu::hue(image, plane, static_cast<T>(d[b]));
      },
      [&](at::Tensor& sub, const at::Tensor& idx) { aten::hue_(sub, column(delta, idx, sub)); });
}

inline void grayscale_rows_(at::Tensor& x, const std::vector<int64_t>& rows) {
  const int64_t plane = x.size(2) * x.size(3);
  for_rows_(
      x, rows, [&](auto* image, int64_t) { cpu::grayscale(image, plane); },
      [](at::Tensor& sub, const at::Tensor&) { aten::grayscale_(sub); });
}

inline void solarize_rows_(at::Tensor& x, const std::vector<int64_t>& rows, double threshold) {
  const int64_t n = x.numel() / x.size(0);
  for_rows_(
      x, rows,
      [&](auto* image, int64_t) {
        using T = std::remove_pointer_t<decltype(image)>;
        cpu::solarize(image, n, static_cast<T>(threshold));
      },
      [&](at::Tensor& sub, const at::Tensor&) { aten::solarize_(sub, threshold); });
}

inline void hflip_rows_(at::Tensor& x, const std::vector<int64_t>& rows) {
  const int64_t lines = x.size(1) * x.size(2), width = x.size(3);
  for_rows_(
      x, rows, [&](auto* image, int64_t) { cpu::hflip(image, lines, width); },
      [](at::Tensor& sub, const at::Tensor&) { aten::hflip_(sub); });
}

inline void gaussian_blur_rows_(at::Tensor& x, const std::vector<int64_t>& rows, const at::Tensor& sigma,
                                int64_t kernel_size) {
  if (rows.empty()) {
    return;
  }
  const double* s = sigma.data_ptr<double>();
  if (use_cpu_kernels(x) && x.is_contiguous()) {
    const int64_t channels = x.size(1), height = x.size(2), width = x.size(3);
    const auto planes = static_cast<int64_t>(rows.size()) * channels;
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "byol_gaussian_blur", [&] {
      scalar_t* base = x.data_ptr<scalar_t>();
      // One task per (image, channel) plane.
      byol::detail::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
        std::vector<scalar_t> tmp, row;
        for (int64_t p = begin; p < end; ++p) {
          const int64_t b = rows[static_cast<size_t>(p / channels)];
          const std::vector<scalar_t> g = cpu::gaussian_taps<scalar_t>(s[b], kernel_size);
          cpu::blur_plane(base + (b * channels + p % channels) * height * width, height, width, g, tmp, row);
        }
      });
    });
  } else {
    update_rows_(x, rows, [&](at::Tensor& sub, const at::Tensor& idx) {
      aten::gaussian_blur_(sub, to_device(sigma.index_select(0, idx), sub.device(), at::kDouble), kernel_size);
    });
  }
}

// ---- validation shared with the random ops ----------------------------------------------------

/// Validated boxes as a [B, 4] float64 CPU tensor of whole pixels (top, left, height, width), box i
/// inside image i of heights[i] x widths[i] pixels.
inline at::Tensor checked_boxes(const at::Tensor& boxes, const std::vector<int64_t>& heights,
                                const std::vector<int64_t>& widths, const char* where) {
  const auto batch = static_cast<int64_t>(heights.size());
  TORCH_CHECK(boxes.defined(), where, ": boxes is an undefined tensor");
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(0) == batch && boxes.size(1) == 4, where,
              ": boxes must have shape [B, 4] = [", batch, ", 4] (top, left, height, width), got ", boxes.sizes());
  TORCH_CHECK(!boxes.is_complex() && boxes.scalar_type() != at::kBool, where, ": boxes must hold real numbers, got ",
              boxes.scalar_type());
  const at::Tensor cpu = boxes.to(at::kCPU, at::kDouble).round().contiguous();
  const double* v = cpu.data_ptr<double>();
  for (int64_t i = 0; i < batch; ++i) {
    const double top = v[4 * i], left = v[4 * i + 1], h = v[4 * i + 2], w = v[4 * i + 3];
    const int64_t height = heights[static_cast<size_t>(i)], width = widths[static_cast<size_t>(i)];
    TORCH_CHECK(std::isfinite(top) && std::isfinite(left) && std::isfinite(h) && std::isfinite(w) && h >= 1 &&
                    w >= 1 && top >= 0 && left >= 0 && top + h <= static_cast<double>(height) &&
                    left + w <= static_cast<double>(width),
                where, ": box ", i, " (top ", top, ", left ", left, ", height ", h, ", width ", w,
                ") must have height and width >= 1 and lie inside image ", i, " (", height, "x", width, ")");
  }
  return cpu;
}

/// The same for a batch of B images of one size, height x width.
inline at::Tensor checked_boxes(const at::Tensor& boxes, int64_t batch, int64_t height, int64_t width,
                                const char* where) {
  const auto n = static_cast<size_t>(batch);
  return checked_boxes(boxes, std::vector<int64_t>(n, height), std::vector<int64_t>(n, width), where);
}

/// The validated sigma as a float64 CPU tensor.
inline at::Tensor checked_sigma(const at::Tensor& sigma, int64_t batch, const char* where) {
  const at::Tensor cpu = per_image(sigma, batch, where, "sigma");
  const double* v = cpu.data_ptr<double>();
  for (int64_t i = 0; i < batch; ++i) {
    TORCH_CHECK(v[i] > 0 && std::isfinite(v[i]), where, ": sigma must be > 0 and finite for every image, got sigma[", i,
                "] = ", v[i]);
  }
  return cpu;
}

inline void check_kernel_size(int64_t kernel_size, const char* where) {
  TORCH_CHECK(kernel_size >= 1 && kernel_size % 2 == 1, where, ": kernel_size must be odd and >= 1, got ",
              kernel_size);
}

/// Crops a list of [C, H_i, W_i] images (one C and dtype, on the CPU) with validated CPU boxes into
/// a new [B, C, S, S] tensor of the compute dtype: the fused kernel, one parallel loop over the
/// images, each reading only its box.
inline at::Tensor cpu_resized_crop(const std::vector<at::Tensor>& images, const at::Tensor& boxes, int64_t size,
                                   Interpolation interpolation, bool antialias) {
  const at::Tensor& first = images.front();
  const auto type = first.scalar_type();
  const at::ScalarType dtype = compute_type(type);
  const bool readable = type == at::kByte || type == at::kFloat || type == at::kDouble;  // read as they are
  std::vector<at::Tensor> list;
  list.reserve(images.size());
  for (const at::Tensor& image : images) {
    list.push_back((readable ? image : image.to(dtype)).contiguous());
  }
  at::Tensor out =
      at::empty({static_cast<int64_t>(images.size()), first.size(0), size, size}, first.options().dtype(dtype));
  cpu::resized_crop(list, boxes, size, interpolation, antialias, out);
  return out;
}

/// Crops a batch [B, C, H, W] (uint8 or floating) with validated CPU boxes into a new
/// [B, C, S, S] tensor of the compute dtype.
inline at::Tensor resized_crop_batch(const at::Tensor& images, const at::Tensor& boxes, int64_t size,
                                     Interpolation interpolation, bool antialias) {
  const int64_t batch = images.size(0);
  if (use_cpu_kernels(images)) {
    std::vector<at::Tensor> list;
    list.reserve(static_cast<size_t>(batch));
    for (int64_t i = 0; i < batch; ++i) {
      list.push_back(images.select(0, i));
    }
    return cpu_resized_crop(list, boxes, size, interpolation, antialias);
  }
  const at::ScalarType dtype = compute_type(images.scalar_type());
  const int64_t rows = rows_per_chunk(images, images.size(1) * size * size);
  if (rows >= batch) {
    return aten::resized_crop(images, boxes, size, interpolation, antialias, dtype);
  }
  at::Tensor out = at::empty({batch, images.size(1), size, size}, images.options().dtype(dtype));
  for (int64_t begin = 0; begin < batch; begin += rows) {
    const int64_t n = std::min(rows, batch - begin);
    out.narrow(0, begin, n)
        .copy_(aten::resized_crop(images.narrow(0, begin, n), boxes.narrow(0, begin, n), size, interpolation,
                                  antialias, dtype));
  }
  return out;
}

/// Crops a list of [C, H_i, W_i] images (one C, dtype and device) with validated CPU boxes, box i
/// relative to image i, into a new [B, C, S, S] tensor of the compute dtype. Only the boxes'
/// pixels are read, so a large decoded image costs no more than its crop.
inline at::Tensor resized_crop_list(const std::vector<at::Tensor>& images, const at::Tensor& boxes, int64_t size,
                                    Interpolation interpolation, bool antialias) {
  if (use_cpu_kernels(images.front())) {
    return cpu_resized_crop(images, boxes, size, interpolation, antialias);
  }
  // Elsewhere: each image cut to its box first, then resampled as a batch of one.
  const at::Tensor& first = images.front();
  const at::ScalarType dtype = compute_type(first.scalar_type());
  const auto batch = static_cast<int64_t>(images.size());
  at::Tensor out = at::empty({batch, first.size(0), size, size}, first.options().dtype(dtype));
  const double* b = boxes.data_ptr<double>();
  for (int64_t i = 0; i < batch; ++i) {
    const double top = b[4 * i], left = b[4 * i + 1], h = b[4 * i + 2], w = b[4 * i + 3];
    const at::Tensor cut = images[static_cast<size_t>(i)]
                               .narrow(1, static_cast<int64_t>(top), static_cast<int64_t>(h))
                               .narrow(2, static_cast<int64_t>(left), static_cast<int64_t>(w))
                               .unsqueeze(0);
    const at::Tensor local = at::tensor({0.0, 0.0, h, w}, at::TensorOptions().dtype(at::kDouble)).view({1, 4});
    out.narrow(0, i, 1).copy_(aten::resized_crop(cut, local, size, interpolation, antialias, dtype));
  }
  return out;
}

/// Per-channel values (a mean or a standard deviation) as a [1, C, 1, 1] tensor of images' dtype,
/// on images' device.
inline at::Tensor channel_values(c10::ArrayRef<double> values, const at::Tensor& images) {
  return to_device(at::tensor(values, at::TensorOptions().dtype(at::kDouble)), images.device(), images.scalar_type())
      .view({1, -1, 1, 1});
}

}  // namespace detail

/// Flips every image left to right: out[..., j] = x[..., W - 1 - j]. Any dtype.
///
/// @param images  [B, C, H, W]
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto y = byol::augment::functional::hflip(x);
///     // y[..., 0] == x[..., 31]
inline at::Tensor hflip(const at::Tensor& images) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_images(images, "hflip");
  return images.flip({3});
}

/// Brightness, additive (docs/spec.md): out = clip(x + delta_b, 0, 1).
///
/// @param images  [B, C, H, W] floating point in [0, 1]
/// @param delta   [B], one shift per image (BYOL draws U[-0.4, 0.4])
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto delta = torch::rand({8}) * 0.8 - 0.4;
///     auto y = byol::augment::functional::adjust_brightness(x, delta);
inline at::Tensor adjust_brightness(const at::Tensor& images, const at::Tensor& delta) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "adjust_brightness");
  const at::Tensor d = detail::per_image(delta, images.size(0), "adjust_brightness", "delta");
  at::Tensor out = detail::working_copy(images);
  detail::brightness_rows_(out, detail::all_rows(out.size(0)), d);
  return out.to(images.scalar_type());
}

/// Contrast around each channel's own mean (docs/spec.md):
/// out = clip((x - m_bc) f_b + m_bc, 0, 1), m_bc = mean of image b, channel c.
///
/// @param images  [B, C, H, W] floating point in [0, 1]
/// @param factor  [B]; 1 is the identity, 0 gives each channel its mean (BYOL: U[0.6, 1.4])
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto f = torch::rand({8}) * 0.8 + 0.6;
///     auto y = byol::augment::functional::adjust_contrast(x, f);
inline at::Tensor adjust_contrast(const at::Tensor& images, const at::Tensor& factor) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "adjust_contrast");
  const at::Tensor f = detail::per_image(factor, images.size(0), "adjust_contrast", "factor");
  at::Tensor out = detail::working_copy(images);
  detail::contrast_rows_(out, detail::all_rows(out.size(0)), f);
  return out.to(images.scalar_type());
}

/// Saturation through HSV: s <- clip(s f_b, 0, 1), hue and value kept. Computed in closed form,
/// equal to the RGB -> HSV -> RGB round trip: with v = max_c x_c and d = v - min_c x_c,
/// out_c = v - clip(f_b, 0, v / d) (v - x_c).
///
/// @param images  [B, 3, H, W] floating point in [0, 1]; a [B, 1, H, W] batch is returned
///                unchanged (a copy), as torchvision does
/// @param factor  [B]; 1 is the identity, 0 gives gray (v in all channels) (BYOL: U[0.8, 1.2])
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto f = torch::rand({8}) * 0.4 + 0.8;
///     auto y = byol::augment::functional::adjust_saturation(x, f);
inline at::Tensor adjust_saturation(const at::Tensor& images, const at::Tensor& factor) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "adjust_saturation");
  const bool gray = detail::check_rgb_or_gray(images, "adjust_saturation");
  const at::Tensor f = detail::per_image(factor, images.size(0), "adjust_saturation", "factor");
  if (gray) {
    return images.clone();  // a gray image has no saturation to change (torchvision: unchanged)
  }
  at::Tensor out = detail::working_copy(images);
  detail::saturation_rows_(out, detail::all_rows(out.size(0)), f);
  return out.to(images.scalar_type());
}

/// Hue rotation through HSV: h <- (h + delta_b) mod 1, saturation and value kept. delta is in
/// turns of the colour wheel: 1/3 maps red to green, any whole number is the identity.
///
/// @param images  [B, 3, H, W] floating point in [0, 1]; a [B, 1, H, W] batch is returned
///                unchanged (a copy), as torchvision does
/// @param delta   [B] (BYOL: U[-0.1, 0.1])
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto delta = torch::rand({8}) * 0.2 - 0.1;
///     auto y = byol::augment::functional::adjust_hue(x, delta);
inline at::Tensor adjust_hue(const at::Tensor& images, const at::Tensor& delta) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "adjust_hue");
  const bool gray = detail::check_rgb_or_gray(images, "adjust_hue");
  const at::Tensor d = detail::per_image(delta, images.size(0), "adjust_hue", "delta");
  if (gray) {
    return images.clone();  // a gray image has no hue to rotate (torchvision: unchanged)
  }
  at::Tensor out = detail::working_copy(images);
  detail::hue_rows_(out, detail::all_rows(out.size(0)), d);
  return out.to(images.scalar_type());
}

/// Grayscale: g = 0.2989 R + 0.5870 G + 0.1140 B, returned in all three channels ([B, 3, H, W]).
///
/// @param images  [B, 3, H, W] floating point in [0, 1]; a [B, 1, H, W] batch is already gray
///                and is returned as it is (a copy, one channel)
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto g = byol::augment::functional::rgb_to_grayscale(x);
///     // g[:, 0] == g[:, 1] == g[:, 2]
inline at::Tensor rgb_to_grayscale(const at::Tensor& images) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "rgb_to_grayscale");
  if (detail::check_rgb_or_gray(images, "rgb_to_grayscale")) {
    return images.clone();  // already gray: the image itself, one channel
  }
  at::Tensor out = detail::working_copy(images);
  detail::grayscale_rows_(out, detail::all_rows(out.size(0)));
  return out.to(images.scalar_type());
}

/// Separable Gaussian blur with a per-image sigma:
///   g_b(t) = exp(-t^2 / (2 sigma_b^2)) / sum_t', t in [-r, r], r = kernel_size / 2,
///   out = clip(G_b^rows x G_b^cols^T, 0, 1)
/// with "reflect" padding (torchvision's: the edge pixel is not repeated; reflected again as often
/// as needed when r >= the image side). On the CPU: a vertical then a horizontal pass over each
/// (image, channel) plane, in parallel; elsewhere: two batched matrix products with per-image
/// banded matrices that fold the padding in.
///
/// @param images       [B, C, H, W] floating point in [0, 1]
/// @param sigma        [B], every value > 0 (BYOL: U[0.1, 2.0]); pass it on the CPU: it is
///                     validated there (a device tensor is copied back, which synchronises)
/// @param kernel_size  odd, >= 1 (BYOL: 2 floor(H / 20) + 1, 23 at 224 px)
///
///     auto x = torch::rand({8, 3, 224, 224});
///     auto sigma = torch::rand({8}) * 1.9 + 0.1;
///     auto y = byol::augment::functional::gaussian_blur(x, sigma, 23);
inline at::Tensor gaussian_blur(const at::Tensor& images, const at::Tensor& sigma, int64_t kernel_size) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "gaussian_blur");
  detail::check_kernel_size(kernel_size, "gaussian_blur");
  const at::Tensor sigma_cpu = detail::checked_sigma(sigma, images.size(0), "gaussian_blur");
  at::Tensor out = detail::working_copy(images);
  detail::gaussian_blur_rows_(out, detail::all_rows(out.size(0)), sigma_cpu, kernel_size);
  return out.to(images.scalar_type());
}

/// Solarize: out = x < threshold ? x : 1 - x (then clipped to [0, 1]).
///
/// @param images     [B, C, H, W] floating point in [0, 1]
/// @param threshold  finite; BYOL uses 0.5
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto y = byol::augment::functional::solarize(x, 0.5);
///     // y <= 0.5 everywhere
inline at::Tensor solarize(const at::Tensor& images, double threshold) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "solarize");
  TORCH_CHECK(std::isfinite(threshold), "solarize: threshold must be finite, got ", threshold);
  at::Tensor out = detail::working_copy(images);
  detail::solarize_rows_(out, detail::all_rows(out.size(0)), threshold);
  return out.to(images.scalar_type());
}

/// Crops a box out of every image and resamples it to size x size (crop, then resize):
///   out_b[i, j] = sum_p sum_q R_b[i, p] x_b[p, q] C_b[j, q]
/// where R_b, C_b are the per-axis resampling weights of box b: the filter (Keys bicubic, a = -0.5,
/// or the triangle) centred on each output pixel, stretched by the shrink factor when the box is
/// larger than the output (antialiasing, as PIL's resize), restricted to the box's own pixels and
/// normalised. A box of exactly size x size returns its pixels unchanged. Output clipped to [0, 1].
///
/// @param images         [B, C, H, W] floating point in [0, 1], or uint8 in [0, 255] (divided by 255)
/// @param boxes          [B, 4]: top, left, height, width in pixels, rounded to whole pixels, each
///                       box inside its image; pass it on the CPU (it is validated there)
/// @param size           output side S >= 1
/// @param interpolation  Interpolation::bicubic (default, the reference's) or bilinear
/// @param antialias      stretch the filter when shrinking (default true)
/// @return [B, C, S, S], float32 (float64 for float64 input)
///
///     auto x = torch::rand({8, 3, 64, 64});
///     auto boxes = torch::tensor({0.0, 0.0, 48.0, 32.0}).repeat({8, 1});
///     auto y = byol::augment::functional::resized_crop(x, boxes, 32);   // [8, 3, 32, 32]
inline at::Tensor resized_crop(const at::Tensor& images, const at::Tensor& boxes, int64_t size,
                               Interpolation interpolation = Interpolation::bicubic, bool antialias = true) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_images(images, "resized_crop");
  TORCH_CHECK(at::isFloatingType(images.scalar_type()) || images.scalar_type() == at::kByte,
              "resized_crop: images must be floating point in [0, 1] or uint8 in [0, 255], got ", images.scalar_type());
  TORCH_CHECK(size >= 1, "resized_crop: size must be >= 1, got ", size);
  const at::Tensor box = detail::checked_boxes(boxes, images.size(0), images.size(2), images.size(3), "resized_crop");
  return detail::resized_crop_batch(images, box, size, interpolation, antialias);
}

/// Per-channel normalisation (not clipped): out_c = (x_c - mean_c) / std_c.
///
/// @param images  [B, C, H, W] floating point
/// @param mean    C values (ImageNet: 0.485, 0.456, 0.406)
/// @param stddev  C values, each > 0 (ImageNet: 0.229, 0.224, 0.225)
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto y = byol::augment::functional::normalize(x, {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});
inline at::Tensor normalize(const at::Tensor& images, c10::ArrayRef<double> mean, c10::ArrayRef<double> stddev) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "normalize");
  const int64_t channels = images.size(1);
  TORCH_CHECK(static_cast<int64_t>(mean.size()) == channels && static_cast<int64_t>(stddev.size()) == channels,
              "normalize: mean and std must have one value per channel (", channels, " in images of shape ",
              images.sizes(), "), got ", mean.size(), " and ", stddev.size());
  for (size_t c = 0; c < stddev.size(); ++c) {
    TORCH_CHECK(stddev[c] > 0 && std::isfinite(stddev[c]), "normalize: std must be > 0 and finite, got std[", c,
                "] = ", stddev[c]);
  }
  return (images - detail::channel_values(mean, images)) / detail::channel_values(stddev, images);
}

}  // namespace byol::augment::functional

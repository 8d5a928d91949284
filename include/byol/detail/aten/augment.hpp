#pragma once

// byol's augmentations in ATen operations over whole batches: the path of every device but the
// CPU's fused kernels (byol/detail/cpu/augment.hpp).

#include <byol/augment/interpolation.hpp>
#include <byol/detail/augment_common.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace byol::augment::functional::detail {

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

/// Resized crop of a [n, C, H, W] slab (any real dtype; uint8 is divided by 255) with CPU boxes,
/// each box resampled to out_h x out_w.
inline at::Tensor resized_crop(const at::Tensor& images, const at::Tensor& boxes_cpu, int64_t out_h, int64_t out_w,
                               Interpolation interpolation, bool antialias, at::ScalarType dtype) {
  const at::Tensor x = images.to(dtype);
  const double max_rows =
      antialias ? (boxes_cpu.select(1, 2) / static_cast<double>(out_h)).clamp_min(1.0).max().item<double>() : 1.0;
  const double max_cols =
      antialias ? (boxes_cpu.select(1, 3) / static_cast<double>(out_w)).clamp_min(1.0).max().item<double>() : 1.0;
  const at::Tensor b = to_device(boxes_cpu, images.device(), at::kDouble);
  at::Tensor rows = crop_matrices(b.select(1, 0), b.select(1, 2), out_h, images.size(2), interpolation, antialias,
                                  max_rows, dtype);
  if (images.scalar_type() == at::kByte) {
    rows.mul_(1.0 / 255.0);  // uint8 in [0, 255]: the scale rides on the small matrices
  }
  const at::Tensor cols = crop_matrices(b.select(1, 1), b.select(1, 3), out_w, images.size(3), interpolation,
                                        antialias, max_cols, dtype);
  return separable_map(x, rows, cols).clamp_(0.0, 1.0);
}

}  // namespace aten

}  // namespace byol::augment::functional::detail

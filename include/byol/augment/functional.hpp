#pragma once

/// Batched image augmentations: the stateless math of BYOL's views T and T' (SPEC.md).
///
/// Images are batches [B, C, H, W], floating point with values in [0, 1]; every per-image
/// parameter is a 1-D tensor of length B. Each function works on any device with plain ATen
/// operations (no per-image loop), returns a new tensor of the input's dtype, and clips its
/// result to [0, 1]:
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

#include <ATen/ATen.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <tuple>
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

/// Bytes of one image slab that the CPU path processes at a time: small enough that the
/// temporaries stay in cache and are recycled by malloc instead of being mapped afresh.
constexpr int64_t kCpuChunkBytes = int64_t{4} << 20;

/// Denominator floor for max - min in the HSV formulas (where max == min the result does not
/// depend on it).
constexpr double kTinyRange = 1e-12;

/// Grayscale weights of SPEC.md (ITU-R 601 luma, as torchvision).
constexpr double kGrayR = 0.2989;
constexpr double kGrayG = 0.5870;
constexpr double kGrayB = 0.1140;

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

inline void check_rgb(const at::Tensor& images, const char* where) {
  TORCH_CHECK(images.size(1) == 3, where, ": images must have 3 channels (RGB), got shape ", images.sizes());
}

/// The dtype the math runs in: float64 for float64 input, float32 for everything else.
inline at::ScalarType compute_type(at::ScalarType input) {
  return input == at::kDouble ? at::kDouble : at::kFloat;
}

/// Checks a per-image parameter tensor: 1-D, length B, real.
inline void check_per_image(const at::Tensor& param, int64_t batch, const char* where, const char* name) {
  TORCH_CHECK(param.defined(), where, ": ", name, " is an undefined tensor");
  TORCH_CHECK(param.dim() == 1 && param.size(0) == batch, where, ": ", name,
              " must be a 1-D tensor with one value per image, shape [", batch, "], got ", param.sizes());
  TORCH_CHECK(!param.is_complex() && param.scalar_type() != at::kBool, where, ": ", name,
              " must hold real numbers, got ", param.scalar_type());
}

/// A per-image parameter as a [n, 1, 1, 1] tensor on x's device, in x's dtype.
inline at::Tensor as_column(const at::Tensor& param, const at::Tensor& x) {
  return param.to(x.device(), x.scalar_type()).view({-1, 1, 1, 1});
}

/// Images per CPU slab (at least one); the whole batch on other devices, where one kernel
/// launch per operation over everything is what is fast.
inline int64_t rows_per_chunk(const at::Tensor& images, int64_t out_elements_per_image = 0) {
  const int64_t batch = images.size(0);
  if (!images.device().is_cpu()) {
    return batch;
  }
  const int64_t per_image = std::max(images.numel() / batch, out_elements_per_image) *
                            static_cast<int64_t>(c10::elementSize(compute_type(images.scalar_type())));
  return std::max<int64_t>(1, std::min(batch, kCpuChunkBytes / std::max<int64_t>(per_image, 1)));
}

/// A fresh contiguous copy in the compute dtype, for an out-of-place function to work on.
inline at::Tensor working_copy(const at::Tensor& images) {
  return images.to(images.options().dtype(compute_type(images.scalar_type())), /*non_blocking=*/false,
                   /*copy=*/true, at::MemoryFormat::Contiguous);
}

/// Calls fn(view, begin, end) on consecutive slabs [begin, end) of x (rows_per_chunk each).
template <typename F>
inline void for_each_chunk(const at::Tensor& x, int64_t rows, F&& fn) {
  const int64_t batch = x.size(0);
  for (int64_t begin = 0; begin < batch; begin += rows) {
    const int64_t end = std::min(batch, begin + rows);
    fn(x.narrow(0, begin, end - begin), begin, end);
  }
}

// ---- in-place kernels on a [n, C, H, W] tensor in the compute dtype ---------------------------
// Each reads everything it needs from x before its last write, so x may be a view into a batch.

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
  // x ratio + v (1 - ratio) = v - ratio (v - x)
  const at::Tensor shift = high * (1.0 - ratio);
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
  const at::Tensor offsets = at::tensor({5.0, 3.0, 1.0}, x.options().device(at::kCPU)).to(x.device()).view({1, 3, 1, 1});
  at::Tensor k = at::remainder(h6 + offsets, 6.0);
  at::Tensor t = at::minimum(k, 4.0 - k).clamp_(0.0, 1.0).mul_(range);
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
  const at::Tensor u = at::matmul(rows.unsqueeze(1), xc);                           // [n, C, P, W]
  return at::bmm(u.reshape({n, c * p, w}), cols.transpose(1, 2)).view({n, c, p, q});
}

/// Dense [n, S, L] matrices from banded taps: m[i, s, index[i, s, k]] += weight[i, s, k].
inline at::Tensor scatter_taps(const at::Tensor& index, const at::Tensor& weight, int64_t length) {
  const int64_t n = weight.size(0), s = weight.size(1);
  return at::zeros({n, s, length}, weight.options()).scatter_add_(2, index.expand({n, s, index.size(2)}), weight);
}

/// Reflection of integer positions into [0, L) without repeating the edge (torchvision's
/// "reflect" padding), repeated for offsets beyond one image width.
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

/// Resampling matrices [n, S, L] for one axis of per-image boxes (start, len), all on `device`:
/// output pixel i covers [start + i s, start + (i + 1) s] with s = len / S and centre c_i;
/// source pixel p (centre p + 0.5) inside the box gets weight filter((p + 0.5 - c_i) / f),
/// f = max(s, 1) when antialiasing (the filter stretched over the output pixel's footprint, as
/// PIL does), f = 1 otherwise; each row is normalised to sum 1. Pixels outside the box are
/// never read: this is crop-then-resize.
/// `max_stretch` is max_i f_i, known on the CPU, which fixes the number of taps.
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
  const at::Tensor pixel = first + at::arange(taps, dopt).view({1, 1, -1});                 // [n, S, K]
  at::Tensor weight = filter_weights((pixel + 0.5 - centre) / stretch, interpolation);
  const at::Tensor inside = (pixel >= s0).logical_and_(pixel < s0 + l);
  weight = weight * inside.to(at::kDouble);
  weight.div_(weight.sum(2, /*keepdim=*/true));
  const at::Tensor index = at::minimum(at::maximum(pixel, s0), s0 + l - 1.0).to(at::kLong);
  return scatter_taps(index, weight.to(dtype), length);
}

/// Validated boxes as a [B, 4] float64 CPU tensor of whole pixels (top, left, height, width).
inline at::Tensor checked_boxes(const at::Tensor& boxes, int64_t batch, int64_t height, int64_t width,
                                const char* where) {
  TORCH_CHECK(boxes.defined(), where, ": boxes is an undefined tensor");
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(0) == batch && boxes.size(1) == 4, where,
              ": boxes must have shape [B, 4] = [", batch, ", 4] (top, left, height, width), got ", boxes.sizes());
  TORCH_CHECK(!boxes.is_complex() && boxes.scalar_type() != at::kBool, where, ": boxes must hold real numbers, got ",
              boxes.scalar_type());
  const at::Tensor cpu = boxes.to(at::kCPU, at::kDouble).round().contiguous();
  const double* v = cpu.data_ptr<double>();
  for (int64_t i = 0; i < batch; ++i) {
    const double top = v[4 * i], left = v[4 * i + 1], h = v[4 * i + 2], w = v[4 * i + 3];
    TORCH_CHECK(std::isfinite(top) && std::isfinite(left) && std::isfinite(h) && std::isfinite(w) && h >= 1 &&
                    w >= 1 && top >= 0 && left >= 0 && top + h <= static_cast<double>(height) &&
                    left + w <= static_cast<double>(width),
                where, ": box ", i, " (top ", top, ", left ", left, ", height ", h, ", width ", w,
                ") must have height and width >= 1 and lie inside the ", height, "x", width, " image");
  }
  return cpu;
}

/// Resized crop of a [n, C, H, W] slab (any real dtype; uint8 is divided by 255) with CPU boxes.
inline at::Tensor resized_crop_slab(const at::Tensor& images, const at::Tensor& boxes_cpu, int64_t size,
                                    Interpolation interpolation, bool antialias, at::ScalarType dtype) {
  at::Tensor x = images.to(dtype);
  if (images.scalar_type() == at::kByte) {
    x.div_(255.0);
  }
  const at::Tensor stretch = (boxes_cpu.narrow(1, 2, 2) / static_cast<double>(size)).clamp_min(1.0);
  const double max_rows = antialias ? stretch.select(1, 0).max().item<double>() : 1.0;
  const double max_cols = antialias ? stretch.select(1, 1).max().item<double>() : 1.0;
  const at::Tensor b = boxes_cpu.to(images.device());
  const at::Tensor rows = crop_matrices(b.select(1, 0), b.select(1, 2), size, images.size(2), interpolation,
                                        antialias, max_rows, dtype);
  const at::Tensor cols = crop_matrices(b.select(1, 1), b.select(1, 3), size, images.size(3), interpolation,
                                        antialias, max_cols, dtype);
  return separable_map(x, rows, cols).clamp_(0.0, 1.0);
}

/// The validated sigma as a float64 CPU tensor.
inline at::Tensor checked_sigma(const at::Tensor& sigma, int64_t batch, const char* where) {
  check_per_image(sigma, batch, where, "sigma");
  const at::Tensor cpu = sigma.to(at::kCPU, at::kDouble).contiguous();
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

/// In place on a slab: blur with per-image sigma (a CPU float64 tensor of the slab's length).
inline void gaussian_blur_(at::Tensor& x, const at::Tensor& sigma_cpu, int64_t kernel_size) {
  const at::Tensor sigma = sigma_cpu.to(x.device());
  const at::Tensor rows = blur_matrices(sigma, kernel_size, x.size(2), x.scalar_type());
  const at::Tensor cols = x.size(3) == x.size(2) ? rows : blur_matrices(sigma, kernel_size, x.size(3), x.scalar_type());
  x.copy_(separable_map(x, rows, cols)).clamp_(0.0, 1.0);
}

/// Runs an in-place kernel over a fresh copy of `images`, slab by slab on the CPU, with the
/// per-image parameter sliced to each slab; returns the copy in the input's dtype.
template <typename Kernel>
inline at::Tensor map_slabs(const at::Tensor& images, const at::Tensor& param, Kernel&& kernel) {
  at::Tensor out = working_copy(images);
  const at::Tensor column = param.defined() ? as_column(param, out) : at::Tensor();
  for_each_chunk(out, rows_per_chunk(out), [&](at::Tensor slab, int64_t begin, int64_t end) {
    kernel(slab, column.defined() ? column.narrow(0, begin, end - begin) : column);
  });
  return out.to(images.scalar_type());
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
  detail::check_images(images, "hflip");
  return images.flip({3});
}

/// Brightness, additive (SPEC.md): out = clip(x + delta_b, 0, 1).
///
/// @param images  [B, C, H, W] floating point in [0, 1]
/// @param delta   [B], one shift per image (BYOL draws U[-0.4, 0.4])
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto delta = torch::rand({8}) * 0.8 - 0.4;
///     auto y = byol::augment::functional::adjust_brightness(x, delta);
inline at::Tensor adjust_brightness(const at::Tensor& images, const at::Tensor& delta) {
  detail::check_float_images(images, "adjust_brightness");
  detail::check_per_image(delta, images.size(0), "adjust_brightness", "delta");
  return detail::map_slabs(images, delta, [](at::Tensor& x, const at::Tensor& d) { detail::brightness_(x, d); });
}

/// Contrast around each channel's own mean (SPEC.md):
/// out = clip((x - m_bc) f_b + m_bc, 0, 1), m_bc = mean of image b, channel c.
///
/// @param images  [B, C, H, W] floating point in [0, 1]
/// @param factor  [B]; 1 is the identity, 0 gives each channel its mean (BYOL: U[0.6, 1.4])
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto f = torch::rand({8}) * 0.8 + 0.6;
///     auto y = byol::augment::functional::adjust_contrast(x, f);
inline at::Tensor adjust_contrast(const at::Tensor& images, const at::Tensor& factor) {
  detail::check_float_images(images, "adjust_contrast");
  detail::check_per_image(factor, images.size(0), "adjust_contrast", "factor");
  return detail::map_slabs(images, factor, [](at::Tensor& x, const at::Tensor& f) { detail::contrast_(x, f); });
}

/// Saturation through HSV: s <- clip(s f_b, 0, 1), hue and value kept. Computed in closed form,
/// equal to the RGB -> HSV -> RGB round trip: with v = max_c x_c and d = v - min_c x_c,
/// out_c = v - clip(f_b, 0, v / d) (v - x_c).
///
/// @param images  [B, 3, H, W] floating point in [0, 1]
/// @param factor  [B]; 1 is the identity, 0 gives gray (v in all channels) (BYOL: U[0.8, 1.2])
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto f = torch::rand({8}) * 0.4 + 0.8;
///     auto y = byol::augment::functional::adjust_saturation(x, f);
inline at::Tensor adjust_saturation(const at::Tensor& images, const at::Tensor& factor) {
  detail::check_float_images(images, "adjust_saturation");
  detail::check_rgb(images, "adjust_saturation");
  detail::check_per_image(factor, images.size(0), "adjust_saturation", "factor");
  return detail::map_slabs(images, factor, [](at::Tensor& x, const at::Tensor& f) { detail::saturation_(x, f); });
}

/// Hue rotation through HSV: h <- (h + delta_b) mod 1, saturation and value kept. delta is in
/// turns of the colour wheel: 1/3 maps red to green, any whole number is the identity.
///
/// @param images  [B, 3, H, W] floating point in [0, 1]
/// @param delta   [B] (BYOL: U[-0.1, 0.1])
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto delta = torch::rand({8}) * 0.2 - 0.1;
///     auto y = byol::augment::functional::adjust_hue(x, delta);
inline at::Tensor adjust_hue(const at::Tensor& images, const at::Tensor& delta) {
  detail::check_float_images(images, "adjust_hue");
  detail::check_rgb(images, "adjust_hue");
  detail::check_per_image(delta, images.size(0), "adjust_hue", "delta");
  return detail::map_slabs(images, delta, [](at::Tensor& x, const at::Tensor& d) { detail::hue_(x, d); });
}

/// Grayscale: g = 0.2989 R + 0.5870 G + 0.1140 B, returned in all three channels ([B, 3, H, W]).
///
/// @param images  [B, 3, H, W] floating point in [0, 1]
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto g = byol::augment::functional::rgb_to_grayscale(x);
///     // g[:, 0] == g[:, 1] == g[:, 2]
inline at::Tensor rgb_to_grayscale(const at::Tensor& images) {
  detail::check_float_images(images, "rgb_to_grayscale");
  detail::check_rgb(images, "rgb_to_grayscale");
  return detail::map_slabs(images, at::Tensor(), [](at::Tensor& x, const at::Tensor&) { detail::grayscale_(x); });
}

/// Separable Gaussian blur with a per-image sigma:
///   g_b(t) = exp(-t^2 / (2 sigma_b^2)) / sum_t', t in [-r, r], r = kernel_size / 2,
///   out = clip(G_b^rows x G_b^cols^T, 0, 1)
/// with "reflect" padding (torchvision's: the edge pixel is not repeated; reflected again as often
/// as needed when r >= the image side). Runs as two batched matrix products per slab of images,
/// with the per-image banded matrices (padding folded in).
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
  detail::check_float_images(images, "gaussian_blur");
  detail::check_kernel_size(kernel_size, "gaussian_blur");
  const at::Tensor sigma_cpu = detail::checked_sigma(sigma, images.size(0), "gaussian_blur");
  at::Tensor out = detail::working_copy(images);
  detail::for_each_chunk(out, detail::rows_per_chunk(out), [&](at::Tensor slab, int64_t begin, int64_t end) {
    detail::gaussian_blur_(slab, sigma_cpu.narrow(0, begin, end - begin), kernel_size);
  });
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
  detail::check_float_images(images, "solarize");
  TORCH_CHECK(std::isfinite(threshold), "solarize: threshold must be finite, got ", threshold);
  return detail::map_slabs(images, at::Tensor(),
                           [threshold](at::Tensor& x, const at::Tensor&) { detail::solarize_(x, threshold); });
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
  detail::check_images(images, "resized_crop");
  TORCH_CHECK(at::isFloatingType(images.scalar_type()) || images.scalar_type() == at::kByte,
              "resized_crop: images must be floating point in [0, 1] or uint8 in [0, 255], got ", images.scalar_type());
  TORCH_CHECK(size >= 1, "resized_crop: size must be >= 1, got ", size);
  const int64_t batch = images.size(0);
  const at::Tensor box = detail::checked_boxes(boxes, batch, images.size(2), images.size(3), "resized_crop");
  const at::ScalarType dtype = detail::compute_type(images.scalar_type());
  at::Tensor out = at::empty({batch, images.size(1), size, size}, images.options().dtype(dtype));
  const int64_t rows = detail::rows_per_chunk(images, images.size(1) * size * size);
  detail::for_each_chunk(images, rows, [&](const at::Tensor& slab, int64_t begin, int64_t end) {
    out.narrow(0, begin, end - begin)
        .copy_(detail::resized_crop_slab(slab, box.narrow(0, begin, end - begin), size, interpolation, antialias,
                                         dtype));
  });
  return out;
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
  detail::check_float_images(images, "normalize");
  const int64_t channels = images.size(1);
  TORCH_CHECK(static_cast<int64_t>(mean.size()) == channels && static_cast<int64_t>(stddev.size()) == channels,
              "normalize: mean and std must have one value per channel (", channels, " in images of shape ",
              images.sizes(), "), got ", mean.size(), " and ", stddev.size());
  for (size_t c = 0; c < stddev.size(); ++c) {
    TORCH_CHECK(stddev[c] > 0 && std::isfinite(stddev[c]), "normalize: std must be > 0 and finite, got std[", c,
                "] = ", stddev[c]);
  }
  const auto options = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor m = at::tensor(mean, options).to(images.device(), images.scalar_type()).view({1, -1, 1, 1});
  const at::Tensor s = at::tensor(stddev, options).to(images.device(), images.scalar_type()).view({1, -1, 1, 1});
  return (images - m) / s;
}

}  // namespace byol::augment::functional

#pragma once

// The rows layer: between the public augment API and the kernels.
//
// byol/augment/functional.hpp and the op headers of byol/augment/ (random_apply.hpp,
// color_jitter.hpp, ...) stand on this file and on nothing else beneath the public API. It
// holds which path runs (the fused CPU kernels of detail/cpu/augment.hpp or the ATen operations
// of detail/aten/augment.hpp), the row-wise drivers that apply an op in place to chosen images of
// a batch on either path, the crop drivers, and the argument checks.
//
// What the op headers may call is listed at the end, in namespace byol::augment::detail::rows:
// the *_rows_ functions (in place on the images at `rows` of a contiguous float32/float64 batch),
// the crop drivers and the checks. An op that needs something new beneath the API adds it here
// and to that list; it never reaches into functional::detail, cpu:: or aten:: itself.

#include <byol/augment/interpolation.hpp>
#include <byol/detail/augment_common.hpp>
#include <byol/detail/aten/augment.hpp>
#include <byol/detail/cpu/augment.hpp>
#include <byol/detail/kernel_path.hpp>
#include <byol/detail/parallel.hpp>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
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

namespace byol::augment::functional::detail {

// ---- which path runs --------------------------------------------------------------------------

/// Whether x takes the fused CPU kernels (in-place ones also need x contiguous). Tests force
/// one path or the other with byol::detail::KernelPathGuard.
inline bool use_cpu_kernels(const at::Tensor& x) {
  return x.device().is_cpu() && byol::detail::use_fused_cpu_kernels();
}

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

/// The colour-jitter op codes of color_jitter_rows_ (ColorJitter::Op has the same values).
enum JitterOp : int64_t { kJitterBrightness = 0, kJitterContrast = 1, kJitterSaturation = 2, kJitterHue = 3 };

/// One jitter op on one image [C, H, W] (contiguous), the fused CPU kernels.
template <typename T>
inline void jitter_image(int64_t op, T* image, int64_t channels, int64_t plane, T value) {
  switch (op) {
    case kJitterBrightness:
      cpu::brightness(image, channels * plane, value);
      break;
    case kJitterContrast:
      cpu::contrast(image, channels, plane, value);
      break;
    case kJitterSaturation:
      cpu::saturation(image, plane, value);
      break;
    default:
      cpu::hue(image, plane, value);
      break;
  }
}

/// One jitter op on a slab [n, C, H, W], the ATen path; value is [n, 1, 1, 1].
inline void jitter_slab(int64_t op, at::Tensor& x, const at::Tensor& value) {
  switch (op) {
    case kJitterBrightness:
      aten::brightness_(x, value);
      break;
    case kJitterContrast:
      aten::contrast_(x, value);
      break;
    case kJitterSaturation:
      aten::saturation_(x, value);
      break;
    default:
      aten::hue_(x, value);
      break;
  }
}

/// Colour jitter of the images at `rows`: image b runs the ops order[4 b .. 4 b + 3] (op codes
/// JitterOp, first to last), skipping those with enabled[op] false, op k with the factor
/// factors[k][b] (float64 CPU [B]). On the CPU each image runs its four ops in its own order while
/// its pixels are in cache; elsewhere position by position, each op over the images that have it
/// at that position.
inline void color_jitter_rows_(at::Tensor& x, const std::vector<int64_t>& rows, const int64_t* order,
                               const at::Tensor (&factors)[4], const bool (&enabled)[4]) {
  const double* f[4] = {factors[0].data_ptr<double>(), factors[1].data_ptr<double>(), factors[2].data_ptr<double>(),
                        factors[3].data_ptr<double>()};
  const int64_t channels = x.size(1), plane = x.size(2) * x.size(3);
  for_rows_(
      x, rows,
      [&](auto* image, int64_t b) {
        using T = std::remove_pointer_t<decltype(image)>;
        for (int64_t position = 0; position < 4; ++position) {
          const int64_t op = order[4 * b + position];
          if (enabled[op]) {
            jitter_image(op, image, channels, plane, static_cast<T>(f[op][b]));
          }
        }
      },
      [&](at::Tensor& slab, const at::Tensor& idx) {
        const int64_t n = slab.size(0);
        const int64_t* r = idx.data_ptr<int64_t>();
        for (int64_t position = 0; position < 4; ++position) {
          for (int64_t op = 0; op < 4; ++op) {
            if (!enabled[op]) {
              continue;
            }
            std::vector<int64_t> local;
            for (int64_t j = 0; j < n; ++j) {
              if (order[4 * r[j] + position] == op) {
                local.push_back(j);
              }
            }
            if (local.empty()) {
              continue;
            }
            if (static_cast<int64_t>(local.size()) == n) {
              jitter_slab(op, slab, column(factors[op], idx, slab));
              continue;
            }
            const at::Tensor local_cpu = at::tensor(local, at::TensorOptions().dtype(at::kLong));
            const at::Tensor index = to_device(local_cpu, slab.device(), at::kLong);
            at::Tensor sub = slab.index_select(0, index);
            jitter_slab(op, sub, column(factors[op], idx.index_select(0, local_cpu), sub));
            slab.index_copy_(0, index, sub);
          }
        }
      });
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
/// a new [B, C, out_h, out_w] tensor of the compute dtype: the fused kernel, one parallel loop over
/// the images, each reading only its box.
inline at::Tensor cpu_resized_crop(const std::vector<at::Tensor>& images, const at::Tensor& boxes, int64_t out_h,
                                   int64_t out_w, Interpolation interpolation, bool antialias) {
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
      at::empty({static_cast<int64_t>(images.size()), first.size(0), out_h, out_w}, first.options().dtype(dtype));
  cpu::resized_crop(list, boxes, out_h, out_w, interpolation, antialias, out);
  return out;
}

/// Crops a batch [B, C, H, W] (uint8 or floating) with validated CPU boxes into a new
/// [B, C, out_h, out_w] tensor of the compute dtype.
inline at::Tensor resized_crop_batch(const at::Tensor& images, const at::Tensor& boxes, int64_t out_h, int64_t out_w,
                                     Interpolation interpolation, bool antialias) {
  const int64_t batch = images.size(0);
  if (use_cpu_kernels(images)) {
    std::vector<at::Tensor> list;
    list.reserve(static_cast<size_t>(batch));
    for (int64_t i = 0; i < batch; ++i) {
      list.push_back(images.select(0, i));
    }
    return cpu_resized_crop(list, boxes, out_h, out_w, interpolation, antialias);
  }
  const at::ScalarType dtype = compute_type(images.scalar_type());
  const int64_t rows = rows_per_chunk(images, images.size(1) * out_h * out_w);
  if (rows >= batch) {
    return aten::resized_crop(images, boxes, out_h, out_w, interpolation, antialias, dtype);
  }
  at::Tensor out = at::empty({batch, images.size(1), out_h, out_w}, images.options().dtype(dtype));
  for (int64_t begin = 0; begin < batch; begin += rows) {
    const int64_t n = std::min(rows, batch - begin);
    out.narrow(0, begin, n)
        .copy_(aten::resized_crop(images.narrow(0, begin, n), boxes.narrow(0, begin, n), out_h, out_w, interpolation,
                                  antialias, dtype));
  }
  return out;
}

/// The same, square: each box resampled to size x size.
inline at::Tensor resized_crop_batch(const at::Tensor& images, const at::Tensor& boxes, int64_t size,
                                     Interpolation interpolation, bool antialias) {
  return resized_crop_batch(images, boxes, size, size, interpolation, antialias);
}

/// Crops a list of [C, H_i, W_i] images (one C, dtype and device) with validated CPU boxes, box i
/// relative to image i, into a new [B, C, S, S] tensor of the compute dtype. Only the boxes'
/// pixels are read, so a large decoded image costs no more than its crop.
inline at::Tensor resized_crop_list(const std::vector<at::Tensor>& images, const at::Tensor& boxes, int64_t size,
                                    Interpolation interpolation, bool antialias) {
  if (use_cpu_kernels(images.front())) {
    return cpu_resized_crop(images, boxes, size, size, interpolation, antialias);
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
    out.narrow(0, i, 1).copy_(aten::resized_crop(cut, local, size, size, interpolation, antialias, dtype));
  }
  return out;
}

/// Per-channel values (a mean or a standard deviation) as a [1, C, 1, 1] tensor of images' dtype,
/// on images' device.
inline at::Tensor channel_values(c10::ArrayRef<double> values, const at::Tensor& images) {
  return to_device(at::tensor(values, at::TensorOptions().dtype(at::kDouble)), images.device(), images.scalar_type())
      .view({1, -1, 1, 1});
}

/// (x_c - mean_c) / stddev_c in place on every image of x (C values each, checked by the caller).
inline void normalize_(at::Tensor& x, c10::ArrayRef<double> mean, c10::ArrayRef<double> stddev) {
  x.sub_(channel_values(mean, x)).div_(channel_values(stddev, x));
}


}  // namespace byol::augment::functional::detail

namespace byol::augment::detail::rows {

// What the op headers of byol/augment/ use beneath the public functional API: nothing else.

// Checks: images [B, C, H, W] (float), 3 or 1 channels, per-image parameters, boxes, sigma, kernel.
using functional::detail::check_float_images;
using functional::detail::check_images;
using functional::detail::check_kernel_size;
using functional::detail::check_rgb_or_gray;
using functional::detail::checked_boxes;
using functional::detail::checked_sigma;
using functional::detail::per_image;

// In place on the images at `rows` of a contiguous float32/float64 batch, either path.
using functional::detail::color_jitter_rows_;
using functional::detail::JitterOp;
using functional::detail::kJitterBrightness;
using functional::detail::kJitterContrast;
using functional::detail::kJitterHue;
using functional::detail::kJitterSaturation;
using functional::detail::gaussian_blur_rows_;
using functional::detail::grayscale_rows_;
using functional::detail::hflip_rows_;
using functional::detail::solarize_rows_;

// In place on a whole float batch.
using functional::detail::normalize_;

// Crops: a list of [C, H_i, W_i] images, or a batch, with checked boxes, to new float tensors.
using functional::detail::resized_crop_batch;
using functional::detail::resized_crop_list;

}  // namespace byol::augment::detail::rows

#pragma once

// What both layers of byol's augmentation kernels share: constants, argument checks and dtype
// conversions (byol/augment/functional.hpp has the equations).

#include <ATen/ATen.h>
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


}  // namespace byol::augment::functional::detail

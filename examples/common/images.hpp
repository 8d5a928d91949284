// Image helpers the examples share: the evaluation transform (resize, then centre crop) and the
// conversion of [0, 1] floats back to bytes.
#pragma once

#include <byol/augment.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace byol_examples {

/// Resize (shorter side to `resize`) then centre crop `size`, done as one crop box resampled to
/// size x size: the centred square of side min(H, W) * size / resize. `image` is uint8 [C, H, W]
/// or float in [0, 1]; the result is float [C, size, size] in [0, 1]. With resize == size it
/// fits the largest centred square to size x size.
///
///     auto x = center_crop(image, 256, 224);  // ImageNet's test transform
inline at::Tensor center_crop(const at::Tensor& image, int64_t resize, int64_t size) {
  const double h = static_cast<double>(image.size(1)), w = static_cast<double>(image.size(2));
  const double side = std::round(std::min(h, w) * static_cast<double>(size) / static_cast<double>(resize));
  const auto box = at::tensor({std::floor((h - side) / 2), std::floor((w - side) / 2), side, side}, at::kDouble);
  return byol::augment::functional::resized_crop(image.unsqueeze(0), box.view({1, 4}), size)[0];
}

/// Float images in [0, 1] as uint8 in [0, 255], rounded to nearest.
inline at::Tensor to_uint8(const at::Tensor& x) { return x.mul(255).round_().clamp_(0, 255).to(at::kByte); }

}  // namespace byol_examples

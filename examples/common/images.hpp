// Image helpers the examples share: the conversion of [0, 1] floats back to bytes. (The
// evaluation crop is byol::augment::functional::resized_center_crop.)
#pragma once

#include <ATen/ATen.h>

namespace byol_examples {

/// Float images in [0, 1] as uint8 in [0, 255], rounded to nearest.
inline at::Tensor to_uint8(const at::Tensor& x) { return x.mul(255).round_().clamp_(0, 255).to(at::kByte); }

}  // namespace byol_examples

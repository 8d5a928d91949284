#pragma once

/// The resampling filters of byol::augment's crops (functional::resized_crop,
/// RandomResizedCrop, the centre crops).

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

#pragma once

/// Resizing a whole batch, the deterministic resampling of evaluation and preview transforms.
///
///   resize(x, S):     the shorter side to S, the aspect kept: an H x W batch (H <= W) becomes
///                     S x floor(S W / H) (W < H: floor(S H / W) x S), as torchvision's Resize(S)
///   resize(x, h, w):  h x w exactly
///   out_b[i, j] = sum_p sum_q R[i, p] x_b[p, q] C[j, q]
///
/// R and C are the resampling weights of functional::resized_crop with the whole image as the
/// box: the filter centred on each output pixel ((i + 0.5) H / h - 0.5 in source pixels),
/// restricted to the image and normalised. The default is bilinear with antialias off, which is
/// bilinear interpolation with half-pixel centres (torchvision's tensor Resize with
/// antialias=False, PyTorch's interpolate(align_corners=False)); antialias on stretches the filter
/// when shrinking, as PIL does. Resizing to the image's own size returns its pixels unchanged.
///
///     auto x = torch::rand({8, 3, 300, 400});
///     auto y = byol::augment::functional::resize(x, 256);        // [8, 3, 256, 341]
///     auto z = byol::augment::Resize(byol::augment::ResizeOptions(64, 32))(x);   // [8, 3, 64, 32]

#include <byol/augment/interpolation.hpp>
#include <byol/detail/augment_rows.hpp>

#include <ATen/ATen.h>
#include <ATen/core/Generator.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/arg.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace byol::augment {
namespace functional {
namespace detail {

/// The output height and width of resize(images, size) for an H x W image: the shorter side to
/// `size`, the longer to floor(size * long / short) (at least 1).
inline std::pair<int64_t, int64_t> shorter_side_to(int64_t height, int64_t width, int64_t size) {
  if (height <= width) {
    return {size, std::max<int64_t>(1, size * width / height)};
  }
  return {std::max<int64_t>(1, size * height / width), size};
}

}  // namespace detail

/// Resamples every image to height x width (see the file's comment for the weights).
///
/// @param images         [B, C, H, W] floating point in [0, 1], or uint8 in [0, 255] (divided by 255)
/// @param height         output height, >= 1
/// @param width          output width, >= 1
/// @param interpolation  Interpolation::bilinear (default) or bicubic
/// @param antialias      stretch the filter when shrinking (default false)
/// @return [B, C, height, width], float32 (float64 for float64 input), clipped to [0, 1]
///
///     auto x = torch::rand({8, 3, 32, 48});
///     auto y = byol::augment::functional::resize(x, 64, 96);   // twice the size
inline at::Tensor resize(const at::Tensor& images, int64_t height, int64_t width,
                         Interpolation interpolation = Interpolation::bilinear, bool antialias = false) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_images(images, "resize");
  TORCH_CHECK(at::isFloatingType(images.scalar_type()) || images.scalar_type() == at::kByte,
              "resize: images must be floating point in [0, 1] or uint8 in [0, 255], got ", images.scalar_type());
  TORCH_CHECK(height >= 1 && width >= 1, "resize: the output size must be >= 1, got ", height, "x", width);
  const at::Tensor whole = at::tensor({0.0, 0.0, static_cast<double>(images.size(2)), static_cast<double>(images.size(3))},
                                      at::TensorOptions().dtype(at::kDouble))
                               .view({1, 4})
                               .repeat({images.size(0), 1});
  return detail::resized_crop_batch(images, whole, height, width, interpolation, antialias);
}

/// Resamples every image so that its shorter side is `size`, the aspect kept (the longer side
/// floor(size * long / short)); see the overload above for the rest.
///
///     auto x = torch::rand({8, 3, 300, 400});
///     auto y = byol::augment::functional::resize(x, 256);   // [8, 3, 256, 341]
inline at::Tensor resize(const at::Tensor& images, int64_t size, Interpolation interpolation = Interpolation::bilinear,
                         bool antialias = false) {
  detail::check_images(images, "resize");
  TORCH_CHECK(size >= 1, "resize: size must be >= 1, got ", size);
  const auto out = detail::shorter_side_to(images.size(2), images.size(3), size);
  return resize(images, out.first, out.second, interpolation, antialias);
}

}  // namespace functional

/// Options of Resize.
struct ResizeOptions {
  /// @param size  the shorter side S, >= 1 (the aspect is kept)
  ResizeOptions(int64_t size) : size_({size}) {}  // NOLINT(google-explicit-constructor): as torch's options
  /// @param height, width  the output size, each >= 1
  ResizeOptions(int64_t height, int64_t width) : size_({height, width}) {}
  /// {S}: the shorter side to S, the aspect kept; {h, w}: exactly h x w.
  TORCH_ARG(std::vector<int64_t>, size);
  /// Resampling filter. Default bilinear.
  TORCH_ARG(Interpolation, interpolation) = Interpolation::bilinear;
  /// Stretch the filter when shrinking. Default false (bilinear interpolation proper).
  TORCH_ARG(bool, antialias) = false;

 public:
  void check() const {
    TORCH_CHECK(size().size() == 1 || size().size() == 2,
                "Resize: size must hold one value (the shorter side) or two (height, width), got ", size().size(),
                " values");
    for (const int64_t s : size()) {
      TORCH_CHECK(s >= 1, "Resize: size must be >= 1, got ", at::IntArrayRef(size()));
    }
  }
};

/// Resizes a batch [B, C, H, W] (functional::resize): uint8 in [0, 255] or floating point in
/// [0, 1] in, float [B, C, h, w] in [0, 1] out (float64 for float64 input). Deterministic: the
/// generator of the op(images, generator) form, there so that it fits in Compose, is not used.
///
///     byol::augment::Resize resize(256);   // shorter side to 256
///     auto y = resize(images);
///     byol::augment::Compose test(byol::augment::Resize(256), byol::augment::CenterCrop(224));
class Resize {
 public:
  static constexpr const char* kName = "Resize";

  explicit Resize(ResizeOptions options) : options_(std::move(options)) { options_.check(); }

  at::Tensor operator()(const at::Tensor& images) const {
    detail::rows::check_images(images, kName);
    const std::vector<int64_t>& size = options_.size();
    if (size.size() == 1) {
      return functional::resize(images, size[0], options_.interpolation(), options_.antialias());
    }
    return functional::resize(images, size[0], size[1], options_.interpolation(), options_.antialias());
  }
  /// The same; the generator is not used (for Compose).
  at::Tensor operator()(const at::Tensor& images, const at::Generator& /*generator*/) const { return (*this)(images); }
  /// For Compose: the resize never writes into its input.
  at::Tensor forward_(const at::Tensor& images, const at::Generator& /*generator*/) const { return (*this)(images); }

  const ResizeOptions& options() const { return options_; }

 private:
  ResizeOptions options_;
};

}  // namespace byol::augment

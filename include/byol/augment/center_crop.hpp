#pragma once

/// The centre crop of evaluation transforms: the deterministic counterpart of RandomResizedCrop.
///
///   center_crop(x, h, w):  x[:, :, t : t + h, l : l + w],  t = ceil((H - h) / 2), l = ceil((W - w) / 2)
///   resized_center_crop(x, S, R):  the centred square of side s = floor(min(H, W) S / R),
///                                  resampled to S x S (resized_crop: bicubic, antialiased)
///
/// The offsets round up, as the reference's `_decode_and_center_crop` ((H - h + 1) // 2);
/// torchvision's CenterCrop rounds half to even, one pixel away for some odd H - h.
/// resized_center_crop with R = 256, S = 224 is ImageNet's test transform (resize the shorter side
/// to 256, crop 224), done as the reference does it: crop first, then resample once.
///
///     auto x = torch::rand({8, 3, 256, 320});
///     auto a = byol::augment::functional::center_crop(x, 224);                // [8, 3, 224, 224]
///     auto b = byol::augment::functional::resized_center_crop(x, 224, 256);   // [8, 3, 224, 224]

#include <byol/augment/functional.hpp>
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

/// Checks a list of [C, H_i, W_i] images: non-empty, each defined and 3-D, one channel count,
/// dtype and device; errors name `where` and the image.
inline void check_image_list(const std::vector<at::Tensor>& images, const char* where) {
  TORCH_CHECK(!images.empty(), where, ": the list of images is empty");
  const at::Tensor& first = images.front();
  for (size_t i = 0; i < images.size(); ++i) {
    const at::Tensor& image = images[i];
    TORCH_CHECK(image.defined(), where, ": image ", i, " is an undefined tensor");
    TORCH_CHECK(image.dim() == 3 && image.size(0) > 0 && image.size(1) > 0 && image.size(2) > 0, where,
                ": each image of the list must have shape [C, H, W] with C, H, W >= 1, got ", image.sizes(),
                " for image ", i);
    TORCH_CHECK(image.size(0) == first.size(0) && image.scalar_type() == first.scalar_type() &&
                    image.device() == first.device(),
                where, ": every image of the list must have the channels, dtype and device of image 0 (",
                first.size(0), " channels, ", first.scalar_type(), ", ", first.device(), "), got ", image.sizes(),
                ", ", image.scalar_type(), ", ", image.device(), " for image ", i);
  }
}

/// The offset that centres `inner` pixels in `outer`, rounded up (the reference's).
inline int64_t centred_offset(int64_t outer, int64_t inner) { return (outer - inner + 1) / 2; }

/// The box (top, left, side, side) of resized_center_crop in an H x W image.
inline std::vector<double> centred_square(int64_t height, int64_t width, int64_t size, int64_t resize) {
  const int64_t side = std::max<int64_t>(1, std::min(height, width) * size / resize);
  return {static_cast<double>(centred_offset(height, side)), static_cast<double>(centred_offset(width, side)),
          static_cast<double>(side), static_cast<double>(side)};
}

inline void check_crop_size(int64_t height, int64_t width, const char* where) {
  TORCH_CHECK(height >= 1 && width >= 1, where, ": the crop size must be >= 1, got ", height, "x", width);
}

inline void check_resize(int64_t size, int64_t resize, const char* where) {
  TORCH_CHECK(size >= 1, where, ": size must be >= 1, got ", size);
  TORCH_CHECK(resize >= 1, where, ": resize must be >= 1, got ", resize);
}

}  // namespace detail

/// The centred height x width window of every image, as a new contiguous tensor of the input's
/// dtype (any dtype; no resampling, so values are unchanged):
///   out = x[:, :, t : t + height, l : l + width],  t = ceil((H - height) / 2), l = ceil((W - width) / 2)
///
/// @param images  [B, C, H, W], H >= height and W >= width
/// @param height  crop height, >= 1
/// @param width   crop width, >= 1
///
///     auto x = torch::rand({8, 3, 36, 36});
///     auto y = byol::augment::functional::center_crop(x, 32, 32);   // x[:, :, 2:34, 2:34]
inline at::Tensor center_crop(const at::Tensor& images, int64_t height, int64_t width) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_images(images, "center_crop");
  detail::check_crop_size(height, width, "center_crop");
  TORCH_CHECK(height <= images.size(2) && width <= images.size(3), "center_crop: a ", height, "x", width,
              " crop does not fit in images of shape ", images.sizes(), " (use resized_center_crop to resample)");
  return images.narrow(2, detail::centred_offset(images.size(2), height), height)
      .narrow(3, detail::centred_offset(images.size(3), width), width)
      .contiguous()
      .clone();
}

/// The centred size x size window of every image (see the overload above).
inline at::Tensor center_crop(const at::Tensor& images, int64_t size) { return center_crop(images, size, size); }

/// The centred size x size window of each of a list of [C, H_i, W_i] images (one channel count,
/// dtype and device; what a JPEG decoder yields), stacked into one batch [B, C, size, size].
///
///     std::vector<torch::Tensor> decoded = {torch::rand({3, 40, 50}), torch::rand({3, 64, 33})};
///     auto y = byol::augment::functional::center_crop(decoded, 32);   // [2, 3, 32, 32]
inline at::Tensor center_crop(const std::vector<at::Tensor>& images, int64_t size) {
  at::NoGradGuard no_grad;
  detail::check_image_list(images, "center_crop");
  detail::check_crop_size(size, size, "center_crop");
  std::vector<at::Tensor> crops;
  crops.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    const at::Tensor& image = images[i];
    TORCH_CHECK(size <= image.size(1) && size <= image.size(2), "center_crop: a ", size, "x", size,
                " crop does not fit in image ", i, " of shape ", image.sizes(),
                " (use resized_center_crop to resample)");
    crops.push_back(image.narrow(1, detail::centred_offset(image.size(1), size), size)
                        .narrow(2, detail::centred_offset(image.size(2), size), size));
  }
  return at::stack(crops);
}

/// Resize-then-centre-crop as one resampling: the centred square of side
/// s = max(1, floor(min(H, W) * size / resize)) of every image, resampled to size x size by
/// resized_crop (the same as resizing the shorter side to `resize` and cropping size x size, up
/// to the resampling's rounding). resize = size fits the largest centred square.
///
/// @param images         [B, C, H, W] floating point in [0, 1] or uint8 (divided by 255)
/// @param size           output side S >= 1 (ImageNet: 224)
/// @param resize         the shorter side before the crop, >= 1 (ImageNet: 256)
/// @param interpolation  Interpolation::bicubic (default, the reference's) or bilinear
/// @param antialias      stretch the filter when shrinking (default true)
/// @return [B, C, S, S], float32 (float64 for float64 input), clipped to [0, 1]
///
///     auto x = torch::rand({8, 3, 300, 400});
///     auto y = byol::augment::functional::resized_center_crop(x, 224, 256);   // the 262 x 262 centre
inline at::Tensor resized_center_crop(const at::Tensor& images, int64_t size, int64_t resize,
                                      Interpolation interpolation = Interpolation::bicubic, bool antialias = true) {
  at::NoGradGuard no_grad;
  detail::check_images(images, "resized_center_crop");
  detail::check_resize(size, resize, "resized_center_crop");
  const std::vector<double> box = detail::centred_square(images.size(2), images.size(3), size, resize);
  const at::Tensor boxes = at::tensor(box, at::TensorOptions().dtype(at::kDouble)).view({1, 4}).repeat({images.size(0), 1});
  return resized_crop(images, boxes, size, interpolation, antialias);
}

/// The same for a list of [C, H_i, W_i] images (one channel count, dtype and device), each with
/// its own centred square; only the squares' pixels are read. Returns [B, C, S, S].
inline at::Tensor resized_center_crop(const std::vector<at::Tensor>& images, int64_t size, int64_t resize,
                                      Interpolation interpolation = Interpolation::bicubic, bool antialias = true) {
  at::NoGradGuard no_grad;
  detail::check_image_list(images, "resized_center_crop");
  detail::check_resize(size, resize, "resized_center_crop");
  TORCH_CHECK(images.front().scalar_type() == at::kByte || at::isFloatingType(images.front().scalar_type()),
              "resized_center_crop: images must be floating point in [0, 1] or uint8 in [0, 255], got ",
              images.front().scalar_type());
  std::vector<double> boxes;
  std::vector<int64_t> heights, widths;
  for (const at::Tensor& image : images) {
    const std::vector<double> box = detail::centred_square(image.size(1), image.size(2), size, resize);
    boxes.insert(boxes.end(), box.begin(), box.end());
    heights.push_back(image.size(1));
    widths.push_back(image.size(2));
  }
  const at::Tensor box_tensor =
      at::tensor(boxes, at::TensorOptions().dtype(at::kDouble)).view({static_cast<int64_t>(images.size()), 4});
  return detail::resized_crop_list(images, detail::checked_boxes(box_tensor, heights, widths, "resized_center_crop"),
                                   size, interpolation, antialias);
}

}  // namespace functional

/// Options of CenterCrop.
struct CenterCropOptions {
  /// @param size  output side S (square output), >= 1
  CenterCropOptions(int64_t size) : size_(size) {}  // NOLINT(google-explicit-constructor): as torch's options
  /// Output side S.
  TORCH_ARG(int64_t, size);
  /// The shorter side the image is resized to before the crop; 0 crops the pixels as they are
  /// (the images must be at least S x S). ImageNet's test transform: size 224, resize 256. Default 0.
  TORCH_ARG(int64_t, resize) = 0;
  /// Resampling filter when resize > 0. Default bicubic (the reference's).
  TORCH_ARG(Interpolation, interpolation) = Interpolation::bicubic;
  /// Stretch the filter when shrinking (resize > 0). Default true.
  TORCH_ARG(bool, antialias) = true;

 public:
  void check() const {
    TORCH_CHECK(size() >= 1, "CenterCrop: size must be >= 1, got ", size());
    TORCH_CHECK(resize() >= 0, "CenterCrop: resize must be >= 0 (0: no resize), got ", resize());
  }
};

/// The evaluation crop: functional::center_crop (resize 0) or functional::resized_center_crop
/// (resize > 0). Deterministic: the generator of the op(images, generator) form, there so that it
/// fits in Compose, is not used. Takes a batch [B, C, H, W] or a list of [C, H_i, W_i] images,
/// uint8 in [0, 255] or floating point in [0, 1]; returns float [B, C, S, S] in [0, 1] (float64
/// for float64 input).
///
///     byol::augment::CenterCrop crop(byol::augment::CenterCropOptions(224).resize(256));
///     auto batch = crop(decoded);   // std::vector<torch::Tensor> of [3, H_i, W_i] uint8
///     byol::augment::Compose test(byol::augment::CenterCrop(224), byol::augment::Normalize());
class CenterCrop {
 public:
  static constexpr const char* kName = "CenterCrop";

  explicit CenterCrop(CenterCropOptions options) : options_(std::move(options)) { options_.check(); }

  at::Tensor operator()(const at::Tensor& images) const {
    at::NoGradGuard no_grad;
    detail::rows::check_images(images, kName);
    if (options_.resize() > 0) {
      return functional::resized_center_crop(images, options_.size(), options_.resize(), options_.interpolation(),
                                             options_.antialias());
    }
    return to_float(functional::center_crop(images, options_.size()));
  }
  at::Tensor operator()(const std::vector<at::Tensor>& images) const {
    at::NoGradGuard no_grad;
    if (options_.resize() > 0) {
      return functional::resized_center_crop(images, options_.size(), options_.resize(), options_.interpolation(),
                                             options_.antialias());
    }
    return to_float(functional::center_crop(images, options_.size()));
  }
  /// The same; the generator is not used (for Compose).
  at::Tensor operator()(const at::Tensor& images, const at::Generator& /*generator*/) const { return (*this)(images); }
  at::Tensor operator()(const std::vector<at::Tensor>& images, const at::Generator& /*generator*/) const {
    return (*this)(images);
  }
  /// For Compose: the crop never writes into its input.
  at::Tensor forward_(const at::Tensor& images, const at::Generator& /*generator*/) const { return (*this)(images); }

  const CenterCropOptions& options() const { return options_; }

 private:
  // What the other ops return: uint8 / 255, float16/bfloat16 as float32, float32/float64 as they are.
  static at::Tensor to_float(const at::Tensor& crop) {
    TORCH_CHECK(crop.scalar_type() == at::kByte || at::isFloatingType(crop.scalar_type()), kName,
                ": images must be uint8 in [0, 255] or floating point in [0, 1], got ", crop.scalar_type());
    if (crop.scalar_type() == at::kByte) return crop.to(at::kFloat).div_(255.0);
    if (crop.scalar_type() != at::kFloat && crop.scalar_type() != at::kDouble) return crop.to(at::kFloat);
    return crop;
  }

  CenterCropOptions options_;
};

}  // namespace byol::augment

#pragma once

/// RandomResizedCrop: a random box of every image (area and aspect drawn per image), resampled to
/// S x S by functional::resized_crop (bicubic, antialiased when shrinking). The first step of
/// both BYOL views (docs/spec.md).
///
///     byol::augment::RandomResizedCrop crop(byol::augment::RandomResizedCropOptions(224));
///     auto batch = crop(decoded);            // std::vector<torch::Tensor> of [3, H_i, W_i] uint8
///     auto again = crop(images, generator);  // [B, 3, H, W]

#include <byol/augment/functional.hpp>
#include <byol/augment/interpolation.hpp>
#include <byol/detail/augment_transform.hpp>

#include <ATen/ATen.h>
#include <ATen/core/Generator.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/arg.h>

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace byol::augment {

/// Options of RandomResizedCrop. Defaults are docs/spec.md's (the reference's).
struct RandomResizedCropOptions {
  /// @param size  output side S (square output), >= 1
  RandomResizedCropOptions(int64_t size) : size_(size) {}  // NOLINT(google-explicit-constructor): as torch's options
  /// Output side S: every crop is resampled to S x S.
  TORCH_ARG(int64_t, size);
  /// Smallest area fraction of the crop. Default 0.08.
  TORCH_ARG(double, scale_min) = 0.08;
  /// Largest area fraction of the crop. Default 1.
  TORCH_ARG(double, scale_max) = 1.0;
  /// Smallest aspect ratio width / height (drawn log-uniformly). Default 3/4.
  TORCH_ARG(double, ratio_min) = 3.0 / 4.0;
  /// Largest aspect ratio width / height. Default 4/3.
  TORCH_ARG(double, ratio_max) = 4.0 / 3.0;
  /// Resampling filter. Default bicubic (the reference's).
  TORCH_ARG(Interpolation, interpolation) = Interpolation::bicubic;
  /// Stretch the filter over the output pixel's footprint when shrinking. Default true.
  TORCH_ARG(bool, antialias) = true;

 public:
  void check() const {
    TORCH_CHECK(size() >= 1, "RandomResizedCrop: size must be >= 1, got ", size());
    TORCH_CHECK(scale_min() > 0 && scale_min() <= scale_max() && scale_max() <= 1.0,
                "RandomResizedCrop: scale must satisfy 0 < scale_min <= scale_max <= 1, got [", scale_min(), ", ",
                scale_max(), "]");
    TORCH_CHECK(ratio_min() > 0 && ratio_min() <= ratio_max() && std::isfinite(ratio_max()),
                "RandomResizedCrop: ratio must satisfy 0 < ratio_min <= ratio_max < inf, got [", ratio_min(), ", ",
                ratio_max(), "]");
  }
};

/// A random crop of every image, resampled to size x size:
///   area fraction a ~ U[scale_min, scale_max], aspect r = w / h log-uniform in [ratio_min, ratio_max],
///   w = round(sqrt(a H W r)), h = round(sqrt(a H W / r)), each clamped to [1, W] and [1, H],
///   top ~ U{0 .. H - h}, left ~ U{0 .. W - w},
/// then functional::resized_crop (bicubic, antialiased when shrinking). One draw per image, no
/// rejection loop: a box that does not fit is clamped to the image, as docs/spec.md says.
/// Takes a batch [B, C, H, W] or a list of differently sized [C, H_i, W_i] images (what a JPEG
/// decoder yields), uint8 in [0, 255] or floating point in [0, 1]; returns float [B, C, S, S].
///
///     byol::augment::RandomResizedCrop crop(byol::augment::RandomResizedCropOptions(224));
///     auto batch = crop(decoded);            // std::vector<torch::Tensor> of [3, H_i, W_i] uint8
///     auto again = crop(images, generator);  // [B, 3, H, W]
class RandomResizedCrop {
 public:
  static constexpr const char* kName = "RandomResizedCrop";
  /// What one call draws: boxes [B, 4] float64 on the CPU, (top, left, height, width) in pixels.
  struct Params {
    at::Tensor boxes;
  };

  explicit RandomResizedCrop(RandomResizedCropOptions options) : options_(std::move(options)) {
    options_.check();
  }

  /// Boxes for B images of the same size H x W.
  Params sample(int64_t batch, int64_t height, int64_t width, at::Generator generator) const {
    detail::check_batch(batch, kName);
    TORCH_CHECK(height >= 1 && width >= 1, kName, ": images must be at least 1x1, got ", height, "x", width);
    const auto options = at::TensorOptions().dtype(at::kDouble);
    return sample(at::full({batch}, static_cast<double>(height), options),
                  at::full({batch}, static_cast<double>(width), options), std::move(generator));
  }

  /// Boxes for B images of sizes heights[b] x widths[b] (1-D CPU tensors).
  Params sample(const at::Tensor& heights, const at::Tensor& widths, at::Generator generator) const {
    detail::check_generator(generator, kName);
    TORCH_CHECK(heights.dim() == 1 && widths.sizes() == heights.sizes() && heights.device().is_cpu() &&
                    widths.device().is_cpu(),
                kName, ": heights and widths must be 1-D CPU tensors of the same length, got ", heights.sizes(),
                " and ", widths.sizes());
    const int64_t batch = heights.size(0);
    detail::check_batch(batch, kName);
    const at::Tensor h_img = checked_sides(heights, "heights");
    const at::Tensor w_img = checked_sides(widths, "widths");
    const at::Tensor u = at::rand({batch, 4}, generator, at::TensorOptions().dtype(at::kDouble));
    const double log_lo = std::log(options_.ratio_min());
    const double log_hi = std::log(options_.ratio_max());
    const at::Tensor area =
        h_img * w_img * (u.select(1, 0) * (options_.scale_max() - options_.scale_min()) + options_.scale_min());
    const at::Tensor ratio = at::exp(u.select(1, 1) * (log_hi - log_lo) + log_lo);
    const at::Tensor one = at::ones_like(h_img);
    const at::Tensor w = at::minimum(at::maximum(at::round(at::sqrt(area * ratio)), one), w_img);
    const at::Tensor h = at::minimum(at::maximum(at::round(at::sqrt(area / ratio)), one), h_img);
    const at::Tensor top = at::minimum(at::floor(u.select(1, 2) * (h_img - h + 1.0)), h_img - h);
    const at::Tensor left = at::minimum(at::floor(u.select(1, 3) * (w_img - w + 1.0)), w_img - w);
    return {at::stack({top, left, h, w}, 1)};
  }

  /// Crops and resamples a batch with drawn boxes; returns float [B, C, S, S].
  at::Tensor apply(const at::Tensor& images, const Params& params) const {
    return functional::resized_crop(images, params.boxes, options_.size(), options_.interpolation(),
                                    options_.antialias());
  }

  /// Crops and resamples a list of [C, H_i, W_i] images (same C, dtype and device) into one
  /// batch [B, C, S, S]; boxes are relative to each image, and only the box's pixels are read,
  /// so a large decoded image costs no more than its crop.
  at::Tensor apply(const std::vector<at::Tensor>& images, const Params& params) const {
    at::NoGradGuard no_grad;
    check_list(images);
    std::vector<int64_t> heights, widths;
    for (const at::Tensor& image : images) {
      heights.push_back(image.size(1));
      widths.push_back(image.size(2));
    }
    return detail::rows::resized_crop_list(
        images, detail::rows::checked_boxes(params.boxes, heights, widths, kName), options_.size(),
        options_.interpolation(), options_.antialias());
  }

  /// Draws boxes from the global CPU generator and crops a batch [B, C, H, W].
  at::Tensor operator()(const at::Tensor& images) const {
    return (*this)(images, detail::default_generator());
  }
  /// The same with an explicit CPU generator.
  at::Tensor operator()(const at::Tensor& images, at::Generator generator) const {
    detail::rows::check_images(images, kName);
    return apply(images, sample(images.size(0), images.size(2), images.size(3), std::move(generator)));
  }
  /// Draws boxes from the global CPU generator and crops a list of [C, H_i, W_i] images.
  at::Tensor operator()(const std::vector<at::Tensor>& images) const {
    return (*this)(images, detail::default_generator());
  }
  /// The same with an explicit CPU generator.
  at::Tensor operator()(const std::vector<at::Tensor>& images, at::Generator generator) const {
    check_list(images);
    std::vector<double> heights, widths;
    for (const at::Tensor& image : images) {
      heights.push_back(static_cast<double>(image.size(1)));
      widths.push_back(static_cast<double>(image.size(2)));
    }
    const auto options = at::TensorOptions().dtype(at::kDouble);
    return apply(images, sample(at::tensor(heights, options), at::tensor(widths, options), std::move(generator)));
  }
  /// For Compose: the crop never writes into its input.
  at::Tensor forward_(at::Tensor images, at::Generator generator) const {
    return (*this)(images, std::move(generator));
  }

  const RandomResizedCropOptions& options() const {
    return options_;
  }

 private:
  /// Image sides as a float64 CPU tensor, each checked >= 1.
  static at::Tensor checked_sides(const at::Tensor& sides, const char* name) {
    const at::Tensor v = sides.to(at::kDouble).contiguous();
    const double* p = v.data_ptr<double>();
    for (int64_t i = 0; i < v.numel(); ++i) {
      TORCH_CHECK(p[i] >= 1, kName, ": ", name, " must be >= 1 (images of at least 1x1), got ", name, "[", i,
                  "] = ", p[i]);
    }
    return v;
  }

  int64_t check_list(const std::vector<at::Tensor>& images) const {
    TORCH_CHECK(!images.empty(), kName, ": the list of images is empty");
    const at::Tensor& first = images.front();
    for (size_t i = 0; i < images.size(); ++i) {
      const at::Tensor& image = images[i];
      TORCH_CHECK(image.defined(), kName, ": image ", i, " is an undefined tensor");
      TORCH_CHECK(image.dim() == 3 && image.size(0) > 0 && image.size(1) > 0 && image.size(2) > 0, kName,
                  ": each image of the list must have shape [C, H, W] with C, H, W >= 1, got ", image.sizes(),
                  " for image ", i);
      TORCH_CHECK(image.scalar_type() == at::kByte || at::isFloatingType(image.scalar_type()), kName,
                  ": images must be uint8 in [0, 255] or floating point in [0, 1], got ", image.scalar_type(),
                  " for image ", i);
      TORCH_CHECK(image.size(0) == first.size(0) && image.scalar_type() == first.scalar_type() &&
                      image.device() == first.device(),
                  kName, ": every image of the list must have the channels, dtype and device of image 0 (",
                  first.size(0), " channels, ", first.scalar_type(), ", ", first.device(), "), got ", image.sizes(),
                  ", ", image.scalar_type(), ", ", image.device(), " for image ", i);
    }
    return static_cast<int64_t>(images.size());
  }

  RandomResizedCropOptions options_;
};

}  // namespace byol::augment

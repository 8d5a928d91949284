#pragma once

/// Batched image augmentations: the stateless math of BYOL's views T and T' (docs/spec.md).
///
/// Images are batches [B, C, H, W], floating point with values in [0, 1]; every per-image
/// parameter is a 1-D tensor of length B. Each function returns a new tensor of the input's
/// dtype (not differentiable), clipped to [0, 1], and runs batched: on the CPU as one fused
/// kernel parallel over the images (each image's pixels stay in cache through the whole
/// operation), on other devices (CUDA) as a few ATen operations over the whole batch:
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
/// The deterministic evaluation ops keep their functional form beside their class:
/// center_crop and resized_center_crop in byol/augment/center_crop.hpp, resize in
/// byol/augment/resize.hpp.
///
///     auto x = torch::rand({256, 3, 32, 32});
///     auto y = byol::augment::functional::adjust_hue(x, torch::rand({256}) * 0.2 - 0.1);
///     auto z = byol::augment::functional::gaussian_blur(y, torch::full({256}, 1.0), 3);

#include <byol/augment/interpolation.hpp>
#include <byol/detail/augment_rows.hpp>

#include <ATen/ATen.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <vector>

namespace byol::augment::functional {

/// Flips every image left to right: out[..., j] = x[..., W - 1 - j]. Any dtype.
///
/// @param images  [B, C, H, W]
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto y = byol::augment::functional::hflip(x);
///     // y[..., 0] == x[..., 31]
inline at::Tensor hflip(const at::Tensor& images) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_images(images, "hflip");
  return images.flip({3});
}

/// Brightness, additive (docs/spec.md): out = clip(x + delta_b, 0, 1).
///
/// @param images  [B, C, H, W] floating point in [0, 1]
/// @param delta   [B], one shift per image (BYOL draws U[-0.4, 0.4])
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto delta = torch::rand({8}) * 0.8 - 0.4;
///     auto y = byol::augment::functional::adjust_brightness(x, delta);
inline at::Tensor adjust_brightness(const at::Tensor& images, const at::Tensor& delta) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "adjust_brightness");
  const at::Tensor d = detail::per_image(delta, images.size(0), "adjust_brightness", "delta");
  at::Tensor out = detail::working_copy(images);
  detail::brightness_rows_(out, detail::all_rows(out.size(0)), d);
  return out.to(images.scalar_type());
}

/// Contrast around each channel's own mean (docs/spec.md):
/// out = clip((x - m_bc) f_b + m_bc, 0, 1), m_bc = mean of image b, channel c.
///
/// @param images  [B, C, H, W] floating point in [0, 1]
/// @param factor  [B]; 1 is the identity, 0 gives each channel its mean (BYOL: U[0.6, 1.4])
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto f = torch::rand({8}) * 0.8 + 0.6;
///     auto y = byol::augment::functional::adjust_contrast(x, f);
inline at::Tensor adjust_contrast(const at::Tensor& images, const at::Tensor& factor) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "adjust_contrast");
  const at::Tensor f = detail::per_image(factor, images.size(0), "adjust_contrast", "factor");
  at::Tensor out = detail::working_copy(images);
  detail::contrast_rows_(out, detail::all_rows(out.size(0)), f);
  return out.to(images.scalar_type());
}

/// Saturation through HSV: s <- clip(s f_b, 0, 1), hue and value kept. Computed in closed form,
/// equal to the RGB -> HSV -> RGB round trip: with v = max_c x_c and d = v - min_c x_c,
/// out_c = v - clip(f_b, 0, v / d) (v - x_c).
///
/// @param images  [B, 3, H, W] floating point in [0, 1]; a [B, 1, H, W] batch is returned
///                unchanged (a copy), as torchvision does
/// @param factor  [B]; 1 is the identity, 0 gives gray (v in all channels) (BYOL: U[0.8, 1.2])
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto f = torch::rand({8}) * 0.4 + 0.8;
///     auto y = byol::augment::functional::adjust_saturation(x, f);
inline at::Tensor adjust_saturation(const at::Tensor& images, const at::Tensor& factor) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "adjust_saturation");
  const bool gray = detail::check_rgb_or_gray(images, "adjust_saturation");
  const at::Tensor f = detail::per_image(factor, images.size(0), "adjust_saturation", "factor");
  if (gray) {
    return images.clone();  // a gray image has no saturation to change (torchvision: unchanged)
  }
  at::Tensor out = detail::working_copy(images);
  detail::saturation_rows_(out, detail::all_rows(out.size(0)), f);
  return out.to(images.scalar_type());
}

/// Hue rotation through HSV: h <- (h + delta_b) mod 1, saturation and value kept. delta is in
/// turns of the colour wheel: 1/3 maps red to green, any whole number is the identity.
///
/// @param images  [B, 3, H, W] floating point in [0, 1]; a [B, 1, H, W] batch is returned
///                unchanged (a copy), as torchvision does
/// @param delta   [B] (BYOL: U[-0.1, 0.1])
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto delta = torch::rand({8}) * 0.2 - 0.1;
///     auto y = byol::augment::functional::adjust_hue(x, delta);
inline at::Tensor adjust_hue(const at::Tensor& images, const at::Tensor& delta) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "adjust_hue");
  const bool gray = detail::check_rgb_or_gray(images, "adjust_hue");
  const at::Tensor d = detail::per_image(delta, images.size(0), "adjust_hue", "delta");
  if (gray) {
    return images.clone();  // a gray image has no hue to rotate (torchvision: unchanged)
  }
  at::Tensor out = detail::working_copy(images);
  detail::hue_rows_(out, detail::all_rows(out.size(0)), d);
  return out.to(images.scalar_type());
}

/// Grayscale: g = 0.2989 R + 0.5870 G + 0.1140 B, returned in all three channels ([B, 3, H, W]).
///
/// @param images  [B, 3, H, W] floating point in [0, 1]; a [B, 1, H, W] batch is already gray
///                and is returned as it is (a copy, one channel)
///
///     auto x = torch::rand({8, 3, 32, 32});
///     auto g = byol::augment::functional::rgb_to_grayscale(x);
///     // g[:, 0] == g[:, 1] == g[:, 2]
inline at::Tensor rgb_to_grayscale(const at::Tensor& images) {
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "rgb_to_grayscale");
  if (detail::check_rgb_or_gray(images, "rgb_to_grayscale")) {
    return images.clone();  // already gray: the image itself, one channel
  }
  at::Tensor out = detail::working_copy(images);
  detail::grayscale_rows_(out, detail::all_rows(out.size(0)));
  return out.to(images.scalar_type());
}

/// Separable Gaussian blur with a per-image sigma:
///   g_b(t) = exp(-t^2 / (2 sigma_b^2)) / sum_t', t in [-r, r], r = kernel_size / 2,
///   out = clip(G_b^rows x G_b^cols^T, 0, 1)
/// with "reflect" padding (torchvision's: the edge pixel is not repeated; reflected again as often
/// as needed when r >= the image side). On the CPU: a vertical then a horizontal pass over each
/// (image, channel) plane, in parallel; elsewhere: two batched matrix products with per-image
/// banded matrices that fold the padding in.
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
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "gaussian_blur");
  detail::check_kernel_size(kernel_size, "gaussian_blur");
  const at::Tensor sigma_cpu = detail::checked_sigma(sigma, images.size(0), "gaussian_blur");
  at::Tensor out = detail::working_copy(images);
  detail::gaussian_blur_rows_(out, detail::all_rows(out.size(0)), sigma_cpu, kernel_size);
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
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "solarize");
  TORCH_CHECK(std::isfinite(threshold), "solarize: threshold must be finite, got ", threshold);
  at::Tensor out = detail::working_copy(images);
  detail::solarize_rows_(out, detail::all_rows(out.size(0)), threshold);
  return out.to(images.scalar_type());
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
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_images(images, "resized_crop");
  TORCH_CHECK(at::isFloatingType(images.scalar_type()) || images.scalar_type() == at::kByte,
              "resized_crop: images must be floating point in [0, 1] or uint8 in [0, 255], got ", images.scalar_type());
  TORCH_CHECK(size >= 1, "resized_crop: size must be >= 1, got ", size);
  const at::Tensor box = detail::checked_boxes(boxes, images.size(0), images.size(2), images.size(3), "resized_crop");
  return detail::resized_crop_batch(images, box, size, interpolation, antialias);
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
  at::NoGradGuard no_grad;  // data preparation: nothing here is differentiable
  detail::check_float_images(images, "normalize");
  const int64_t channels = images.size(1);
  TORCH_CHECK(static_cast<int64_t>(mean.size()) == channels && static_cast<int64_t>(stddev.size()) == channels,
              "normalize: mean and std must have one value per channel (", channels, " in images of shape ",
              images.sizes(), "), got ", mean.size(), " and ", stddev.size());
  for (size_t c = 0; c < stddev.size(); ++c) {
    TORCH_CHECK(stddev[c] > 0 && std::isfinite(stddev[c]), "normalize: std must be > 0 and finite, got std[", c,
                "] = ", stddev[c]);
  }
  return (images - detail::channel_values(mean, images)) / detail::channel_values(stddev, images);
}

}  // namespace byol::augment::functional

#pragma once

/// BYOL's two view policies T and T' (docs/spec.md) as Compose pipelines of the random ops:
///
///   view 1 (T):  crop -> flip 0.5 -> jitter 0.8 -> grayscale 0.2 -> blur 1.0 -> solarize 0.0
///   view 2 (T'): crop -> flip 0.5 -> jitter 0.8 -> grayscale 0.2 -> blur 0.1 -> solarize 0.2
///
///     auto t1 = byol::augment::byol_view1(224), t2 = byol::augment::byol_view2(224);
///     torch::manual_seed(0);                        // or pass a CPU generator: t1(images, gen)
///     auto v1 = t1(images), v2 = t2(images);        // uint8 or float [B, 3, H, W] -> [B, 3, 224, 224]

#include <byol/augment/color_jitter.hpp>
#include <byol/augment/compose.hpp>
#include <byol/augment/gaussian_blur.hpp>
#include <byol/augment/grayscale.hpp>
#include <byol/augment/horizontal_flip.hpp>
#include <byol/augment/random_resized_crop.hpp>
#include <byol/augment/solarize.hpp>

#include <c10/util/Exception.h>

#include <cstdint>

namespace byol::augment {

/// The type of byol_view1 and byol_view2: crop, flip, jitter, grayscale, blur, solarize.
///
///     byol::augment::ByolView t1 = byol::augment::byol_view1(224);
///     const auto& blur = t1.get<4>();               // RandomGaussianBlur
///     double p = blur.options().p();                 // 1.0 in T, 0.1 in T'
using ByolView =
    Compose<RandomResizedCrop, RandomHorizontalFlip, ColorJitter, RandomGrayscale, RandomGaussianBlur, RandomSolarize>;

/// The blur kernel side BYOL uses for S x S views (docs/spec.md): 2 floor(S / 20) + 1, as the
/// reference's radius = (S // 10) // 2, kernel = 2 radius + 1. Below 20 px it is 1, a blur that
/// leaves the image as it is.
///
/// @param size  view side S >= 1
///
///     byol::augment::byol_blur_kernel_size(224);   // 23
///     byol::augment::byol_blur_kernel_size(32);    // 3
///     byol::augment::byol_blur_kernel_size(16);    // 1: no blur
inline int64_t byol_blur_kernel_size(int64_t size) {
  TORCH_CHECK(size >= 1, "byol_blur_kernel_size: size must be >= 1, got ", size);
  return 2 * (size / 20) + 1;
}

namespace detail {
inline ByolView byol_view(int64_t size, double blur_p, double solarize_p) {
  TORCH_CHECK(size >= 1, "byol_view: size must be >= 1, got ", size);
  const int64_t kernel = byol_blur_kernel_size(size);
  return ByolView(RandomResizedCrop(RandomResizedCropOptions(size)),
                  RandomHorizontalFlip(RandomHorizontalFlipOptions().p(0.5)),
                  ColorJitter(ColorJitterOptions().p(0.8).brightness(0.4).contrast(0.4).saturation(0.2).hue(0.1)),
                  RandomGrayscale(RandomGrayscaleOptions().p(0.2)),
                  RandomGaussianBlur(RandomGaussianBlurOptions(kernel).p(blur_p).sigma_min(0.1).sigma_max(2.0)),
                  RandomSolarize(RandomSolarizeOptions().p(solarize_p).threshold(0.5)));
}
}  // namespace detail

/// T of docs/spec.md, for S x S views: random resized crop (area U[0.08, 1], aspect log-U[3/4, 4/3],
/// bicubic, antialiased), flip p 0.5, colour jitter p 0.8 (brightness 0.4, contrast 0.4,
/// saturation 0.2, hue 0.1, random order), grayscale p 0.2, Gaussian blur p 1.0 (sigma U[0.1, 2],
/// kernel byol_blur_kernel_size(S)), solarize p 0. Output float [B, C, S, S] in [0, 1]; no
/// normalisation (append Normalize if wanted). C is 3, or 1 for grayscale images (MNIST), which
/// saturation, hue and grayscale leave as they are, with the same random draws (docs/spec.md).
///
///     auto t1 = byol::augment::byol_view1(224);
///     auto v1 = t1(images);                 // images: [B, 3, H, W] or a list of [3, H_i, W_i]
///     auto w1 = t1(images, generator);
inline ByolView byol_view1(int64_t size) {
  return detail::byol_view(size, /*blur_p=*/1.0, /*solarize_p=*/0.0);
}

/// T' of docs/spec.md: as byol_view1 but blur p 0.1 and solarize p 0.2.
///
///     auto t2 = byol::augment::byol_view2(224);
///     auto v2 = t2(images);
///     auto w2 = t2(images, generator);
inline ByolView byol_view2(int64_t size) {
  return detail::byol_view(size, /*blur_p=*/0.1, /*solarize_p=*/0.2);
}

}  // namespace byol::augment

#pragma once

/// ColorJitter: with probability p, brightness, contrast, saturation and hue changes
/// (functional::adjust_*) in an order drawn per image, each followed by a clip to [0, 1].
///
///     byol::augment::ColorJitter jitter;   // BYOL's: p 0.8, 0.4, 0.4, 0.2, 0.1
///     auto y = jitter(images);

#include <byol/augment/functional.hpp>
#include <byol/detail/augment_transform.hpp>

#include <ATen/ATen.h>
#include <ATen/core/Generator.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/arg.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace byol::augment {

/// Options of ColorJitter. Defaults are BYOL's (docs/spec.md).
struct ColorJitterOptions {
  /// Probability that an image is jittered at all. Default 0.8.
  TORCH_ARG(double, p) = 0.8;
  /// b: brightness delta ~ U[-b, b], added. Default 0.4.
  TORCH_ARG(double, brightness) = 0.4;
  /// c: contrast factor ~ U[max(0, 1 - c), 1 + c]. Default 0.4.
  TORCH_ARG(double, contrast) = 0.4;
  /// s: saturation factor ~ U[max(0, 1 - s), 1 + s]. Default 0.2.
  TORCH_ARG(double, saturation) = 0.2;
  /// h: hue shift ~ U[-h, h] turns, h in [0, 0.5]. Default 0.1.
  TORCH_ARG(double, hue) = 0.1;

 public:
  void check() const {
    detail::check_probability(p(), "ColorJitter");
    TORCH_CHECK(brightness() >= 0 && std::isfinite(brightness()), "ColorJitter: brightness must be >= 0, got ",
                brightness());
    TORCH_CHECK(contrast() >= 0 && std::isfinite(contrast()), "ColorJitter: contrast must be >= 0, got ", contrast());
    TORCH_CHECK(saturation() >= 0 && std::isfinite(saturation()), "ColorJitter: saturation must be >= 0, got ",
                saturation());
    TORCH_CHECK(hue() >= 0 && hue() <= 0.5, "ColorJitter: hue must be in [0, 0.5], got ", hue());
  }
};

/// With probability p, applies to an image brightness, contrast, saturation and hue changes
/// (functional::adjust_*) in an order drawn per image, each followed by a clip to [0, 1]:
///   brightness  x + delta,               delta ~ U[-b, b]
///   contrast    (x - mean_c) f + mean_c,  f ~ U[max(0, 1 - c), 1 + c]
///   saturation  HSV s <- clip(s f, 0, 1), f ~ U[max(0, 1 - s), 1 + s]
///   hue         HSV h <- h + delta mod 1, delta ~ U[-h, h]
/// An op whose option is 0 is skipped (it would be the identity). Needs 3 channels when
/// saturation or hue is on.
///
///     byol::augment::ColorJitter jitter;   // BYOL's: p 0.8, 0.4, 0.4, 0.2, 0.1
///     auto y = jitter(images);
///     auto params = jitter.sample(images.size(0), gen);   // or draw first, apply later
class ColorJitter : public detail::InPlaceTransform<ColorJitter> {
 public:
  static constexpr const char* kName = "ColorJitter";
  /// Op codes in Params::order.
  enum Op : int64_t {
    kBrightness = detail::rows::kJitterBrightness,
    kContrast = detail::rows::kJitterContrast,
    kSaturation = detail::rows::kJitterSaturation,
    kHue = detail::rows::kJitterHue,
  };
  /// What one call draws, all on the CPU: apply [B] bool; order [B, 4] int64, a permutation of
  /// the op codes per image (row b lists image b's ops first to last); the factors [B] float64.
  struct Params {
    at::Tensor apply;
    at::Tensor order;
    at::Tensor brightness;
    at::Tensor contrast;
    at::Tensor saturation;
    at::Tensor hue;
  };

  explicit ColorJitter(ColorJitterOptions options = {}) : options_(options) {
    options_.check();
  }

  Params sample(int64_t batch, at::Generator generator) const {
    detail::check_generator(generator, kName);
    detail::check_batch(batch, kName);
    Params params;
    params.apply = detail::bernoulli(batch, options_.p(), generator);
    // The argsort of i.i.d. uniforms is a uniformly random permutation.
    const at::Tensor keys = at::rand({batch, 4}, generator, at::TensorOptions().dtype(at::kDouble));
    params.order = at::argsort(keys, /*dim=*/int64_t{1}, /*descending=*/false);
    const double b = options_.brightness(), c = options_.contrast(), s = options_.saturation(), h = options_.hue();
    params.brightness = detail::uniform(batch, -b, b, generator);
    params.contrast = detail::uniform(batch, std::max(0.0, 1.0 - c), 1.0 + c, generator);
    params.saturation = detail::uniform(batch, std::max(0.0, 1.0 - s), 1.0 + s, generator);
    params.hue = detail::uniform(batch, -h, h, generator);
    return params;
  }

  /// In place on float32/float64 images; returns them.
  at::Tensor apply_(at::Tensor images, const Params& params) const {
    at::NoGradGuard no_grad;
    const int64_t batch = detail::drawn_batch(params.apply, kName);
    detail::check_apply_images(images, batch, kName);
    const at::Tensor factors[4] = {detail::rows::per_image(params.brightness, batch, kName, "params.brightness"),
                                   detail::rows::per_image(params.contrast, batch, kName, "params.contrast"),
                                   detail::rows::per_image(params.saturation, batch, kName, "params.saturation"),
                                   detail::rows::per_image(params.hue, batch, kName, "params.hue")};
    TORCH_CHECK(params.order.defined() && params.order.device().is_cpu() && params.order.dim() == 2 &&
                    params.order.size(0) == batch && params.order.size(1) == 4,
                kName, ": params.order must be a [B, 4] = [", batch, ", 4] CPU tensor, got ",
                params.order.defined() ? params.order.sizes() : at::IntArrayRef{});
    const at::Tensor order = params.order.to(at::kLong).contiguous();
    const int64_t* ord = order.data_ptr<int64_t>();
    for (int64_t i = 0; i < 4 * batch; ++i) {
      TORCH_CHECK(ord[i] >= 0 && ord[i] < 4, kName, ": params.order holds op codes 0..3, got ", ord[i], " in row ",
                  i / 4);
    }
    // A 1-channel image keeps its saturation and hue (torchvision leaves it as it is); the
    // factors were drawn all the same, so the random stream does not depend on the channels.
    const bool colour = options_.saturation() > 0 || options_.hue() > 0;
    const bool gray = colour && detail::rows::check_rgb_or_gray(images, kName);
    const bool enabled[4] = {options_.brightness() > 0, options_.contrast() > 0, options_.saturation() > 0 && !gray,
                             options_.hue() > 0 && !gray};
    detail::rows::color_jitter_rows_(images, detail::selected_rows(params.apply), ord, factors, enabled);
    return images;
  }

  const ColorJitterOptions& options() const {
    return options_;
  }

 private:
  ColorJitterOptions options_;
};

}  // namespace byol::augment

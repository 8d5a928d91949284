#pragma once

/// Normalize: out_c = (x_c - mean_c) / stddev_c (functional::normalize), not clipped;
/// deterministic. Defaults: ImageNet's channel statistics.
///
///     byol::augment::Normalize normalize;   // ImageNet mean and std
///     auto y = normalize(images);

#include <byol/augment/functional.hpp>
#include <byol/detail/augment_transform.hpp>

#include <ATen/ATen.h>
#include <ATen/core/Generator.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/arg.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace byol::augment {

/// Options of Normalize. Defaults are ImageNet's channel statistics.
struct NormalizeOptions {
  /// Per-channel mean. Default {0.485, 0.456, 0.406}.
  TORCH_ARG(std::vector<double>, mean) = std::vector<double>{0.485, 0.456, 0.406};
  /// Per-channel standard deviation, each > 0. Default {0.229, 0.224, 0.225}.
  TORCH_ARG(std::vector<double>, stddev) = std::vector<double>{0.229, 0.224, 0.225};

 public:
  void check() const {
    TORCH_CHECK(!mean().empty() && mean().size() == stddev().size(),
                "Normalize: mean and stddev must have the same, non-zero length, got ", mean().size(), " and ",
                stddev().size());
    for (size_t c = 0; c < stddev().size(); ++c) {
      TORCH_CHECK(stddev()[c] > 0 && std::isfinite(stddev()[c]), "Normalize: stddev must be > 0, got stddev[", c,
                  "] = ", stddev()[c]);
    }
  }
};

/// Deterministic: out_c = (x_c - mean_c) / stddev_c (functional::normalize), not clipped. Not part
/// of byol_view1/byol_view2 (docs/spec.md's views end in [0, 1]); append it where the encoder wants
/// normalised input: `Compose(byol_view1(224), Normalize())`.
///
///     byol::augment::Normalize normalize;   // ImageNet mean and std
///     auto y = normalize(images);
///     auto view = byol::augment::Compose(byol::augment::byol_view1(224), normalize);
class Normalize : public detail::InPlaceTransform<Normalize> {
 public:
  static constexpr const char* kName = "Normalize";
  /// Nothing is drawn.
  struct Params {};

  explicit Normalize(NormalizeOptions options = {}) : options_(std::move(options)) {
    options_.check();
  }

  Params sample(int64_t batch, const at::Generator& /*generator*/) const {
    detail::check_batch(batch, kName);
    return {};
  }

  /// In place on float32/float64 images; returns them.
  at::Tensor apply_(at::Tensor images, const Params& /*params*/) const {
    at::NoGradGuard no_grad;
    detail::check_inplace_images(images, kName);
    const auto channels = static_cast<size_t>(images.size(1));
    TORCH_CHECK(channels == options_.mean().size(), kName, ": mean and stddev have ", options_.mean().size(),
                " values but images has shape ", images.sizes());
    detail::rows::normalize_(images, options_.mean(), options_.stddev());
    return images;
  }

  const NormalizeOptions& options() const {
    return options_;
  }

 private:
  NormalizeOptions options_;
};

}  // namespace byol::augment

#pragma once

/// RandomSolarize: each image solarized with probability p,
///   out = x < threshold ? x : 1 - x   (functional::solarize on the chosen images).
///
/// The op to copy when adding a Bernoulli op: an Options struct with p, an op type in
/// byol::augment::ops naming the functional op and its row form, and the alias.
///
///     byol::augment::RandomSolarize solarize(byol::augment::RandomSolarizeOptions().p(0.2).threshold(0.5));
///     auto y = solarize(images);
///     auto z = solarize(images, generator);

#include <byol/augment/functional.hpp>
#include <byol/augment/random_apply.hpp>
#include <byol/detail/augment_transform.hpp>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/arg.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace byol::augment {

/// Options of RandomSolarize.
struct RandomSolarizeOptions {
  /// Probability that an image is solarized. Default 0.2 (view 2; view 1 uses 0).
  TORCH_ARG(double, p) = 0.2;
  /// Values >= threshold become 1 - x. Default 0.5.
  TORCH_ARG(double, threshold) = 0.5;

 public:
  void check() const {
    detail::check_probability(p(), "RandomSolarize");
    TORCH_CHECK(std::isfinite(threshold()), "RandomSolarize: threshold must be finite, got ", threshold());
  }
};

namespace ops {

/// functional::solarize as an op of RandomApply.
struct Solarize {
  using Options = RandomSolarizeOptions;
  static constexpr const char* kName = "RandomSolarize";

  static at::Tensor apply(const at::Tensor& images, const Options& options) {
    return functional::solarize(images, options.threshold());
  }
  static void apply_rows_(at::Tensor& images, const std::vector<int64_t>& rows, const Options& options) {
    detail::rows::solarize_rows_(images, rows, options.threshold());
  }
};

}  // namespace ops

/// With probability p, solarizes an image: x < threshold ? x : 1 - x (functional::solarize).
///
///     byol::augment::RandomSolarize solarize(byol::augment::RandomSolarizeOptions().p(0.2).threshold(0.5));
///     auto y = solarize(images);
///     auto z = solarize(images, generator);
using RandomSolarize = RandomApply<ops::Solarize>;

}  // namespace byol::augment

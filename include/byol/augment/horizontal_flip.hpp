#pragma once

/// RandomHorizontalFlip: each image flipped left to right with probability p,
///   out_b[..., j] = x_b[..., W - 1 - j]   (functional::hflip on the chosen images).
///
///     byol::augment::RandomHorizontalFlip flip(byol::augment::RandomHorizontalFlipOptions().p(0.5));
///     auto y = flip(images);              // global CPU generator
///     auto z = flip(images, generator);   // explicit CPU generator

#include <byol/augment/functional.hpp>
#include <byol/augment/random_apply.hpp>
#include <byol/detail/augment_transform.hpp>

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <vector>

namespace byol::augment {

/// Options of RandomHorizontalFlip.
struct RandomHorizontalFlipOptions {
  /// Probability that an image is flipped. Default 0.5 (both views).
  TORCH_ARG(double, p) = 0.5;

 public:
  void check() const { detail::check_probability(p(), "RandomHorizontalFlip"); }
};

namespace ops {

/// functional::hflip as an op of RandomApply.
struct HorizontalFlip {
  using Options = RandomHorizontalFlipOptions;
  static constexpr const char* kName = "RandomHorizontalFlip";

  static at::Tensor apply(const at::Tensor& images, const Options& /*options*/) { return functional::hflip(images); }
  static void apply_rows_(at::Tensor& images, const std::vector<int64_t>& rows, const Options& /*options*/) {
    detail::rows::hflip_rows_(images, rows);
  }
};

}  // namespace ops

/// Flips each image left to right with probability p (functional::hflip on the chosen ones).
///
///     byol::augment::RandomHorizontalFlip flip(byol::augment::RandomHorizontalFlipOptions().p(0.5));
///     auto y = flip(images);              // global CPU generator
///     auto z = flip(images, generator);   // explicit CPU generator
using RandomHorizontalFlip = RandomApply<ops::HorizontalFlip>;

}  // namespace byol::augment

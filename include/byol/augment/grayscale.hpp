#pragma once

/// RandomGrayscale: each image replaced, with probability p, by its grayscale
///   g = 0.2989 R + 0.5870 G + 0.1140 B in all three channels (functional::rgb_to_grayscale).
///
///     byol::augment::RandomGrayscale gray(byol::augment::RandomGrayscaleOptions().p(0.2));
///     auto y = gray(images);
///     auto z = gray(images, generator);

#include <byol/augment/functional.hpp>
#include <byol/augment/random_apply.hpp>
#include <byol/detail/augment_transform.hpp>

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <cstdint>
#include <vector>

namespace byol::augment {

/// Options of RandomGrayscale.
struct RandomGrayscaleOptions {
  /// Probability that an image is turned to gray. Default 0.2 (both views).
  TORCH_ARG(double, p) = 0.2;

 public:
  void check() const { detail::check_probability(p(), "RandomGrayscale"); }
};

namespace ops {

/// functional::rgb_to_grayscale as an op of RandomApply. A 1-channel image is already gray and
/// is left as it is.
struct Grayscale {
  using Options = RandomGrayscaleOptions;
  static constexpr const char* kName = "RandomGrayscale";

  static at::Tensor apply(const at::Tensor& images, const Options& /*options*/) {
    return functional::rgb_to_grayscale(images);
  }
  static void apply_rows_(at::Tensor& images, const std::vector<int64_t>& rows, const Options& /*options*/) {
    if (detail::rows::check_rgb_or_gray(images, kName)) {
      return;  // already gray (the draws were made all the same)
    }
    detail::rows::grayscale_rows_(images, rows);
  }
};

}  // namespace ops

/// With probability p, replaces an image by its grayscale 0.2989 R + 0.5870 G + 0.1140 B in all
/// three channels (functional::rgb_to_grayscale). A 1-channel image is left as it is (the draws
/// are still made).
///
///     byol::augment::RandomGrayscale gray(byol::augment::RandomGrayscaleOptions().p(0.2));
///     auto y = gray(images);
///     auto z = gray(images, generator);
using RandomGrayscale = RandomApply<ops::Grayscale>;

}  // namespace byol::augment

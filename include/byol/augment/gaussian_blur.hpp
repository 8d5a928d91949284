#pragma once

/// RandomGaussianBlur: with probability p, a Gaussian blur of sigma ~ U[sigma_min, sigma_max]
/// drawn per image (functional::gaussian_blur: separable, reflect padding, clipped).
///
///     byol::augment::RandomGaussianBlur blur(byol::augment::RandomGaussianBlurOptions(23).p(0.1));
///     auto y = blur(images);

#include <byol/augment/functional.hpp>
#include <byol/detail/augment_transform.hpp>

#include <ATen/ATen.h>
#include <ATen/core/Generator.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/arg.h>

#include <cmath>
#include <cstdint>

namespace byol::augment {

/// Options of RandomGaussianBlur.
struct RandomGaussianBlurOptions {
  /// @param kernel_size  odd, >= 1; BYOL: 2 floor(S / 20) + 1 for S x S views (23 at 224)
  RandomGaussianBlurOptions(int64_t kernel_size)  // NOLINT(google-explicit-constructor): as torch's options
      : kernel_size_(kernel_size) {}
  /// Kernel side, odd.
  TORCH_ARG(int64_t, kernel_size);
  /// Probability that an image is blurred. Default 1.0 (view 1; view 2 uses 0.1).
  TORCH_ARG(double, p) = 1.0;
  /// sigma ~ U[sigma_min, sigma_max] per image. Default 0.1.
  TORCH_ARG(double, sigma_min) = 0.1;
  /// Default 2.0.
  TORCH_ARG(double, sigma_max) = 2.0;

 public:
  void check() const {
    detail::check_probability(p(), "RandomGaussianBlur");
    detail::rows::check_kernel_size(kernel_size(), "RandomGaussianBlur");
    TORCH_CHECK(sigma_min() > 0 && sigma_min() <= sigma_max() && std::isfinite(sigma_max()),
                "RandomGaussianBlur: sigma must satisfy 0 < sigma_min <= sigma_max < inf, got [", sigma_min(), ", ",
                sigma_max(), "]");
  }
};

/// With probability p, blurs an image with a Gaussian of sigma ~ U[sigma_min, sigma_max]
/// (functional::gaussian_blur: separable, reflect padding, clipped).
///
///     byol::augment::RandomGaussianBlur blur(byol::augment::RandomGaussianBlurOptions(23).p(0.1));
///     auto y = blur(images);
///     auto z = blur(images, generator);
class RandomGaussianBlur : public detail::InPlaceTransform<RandomGaussianBlur> {
 public:
  static constexpr const char* kName = "RandomGaussianBlur";
  /// What one call draws, on the CPU: apply [B] bool, sigma [B] float64.
  struct Params {
    at::Tensor apply;
    at::Tensor sigma;
  };

  explicit RandomGaussianBlur(RandomGaussianBlurOptions options) : options_(options) {
    options_.check();
  }

  Params sample(int64_t batch, at::Generator generator) const {
    detail::check_generator(generator, kName);
    detail::check_batch(batch, kName);
    Params params;
    params.apply = detail::bernoulli(batch, options_.p(), generator);
    params.sigma = detail::uniform(batch, options_.sigma_min(), options_.sigma_max(), generator);
    return params;
  }

  /// In place on float32/float64 images; returns them.
  at::Tensor apply_(at::Tensor images, const Params& params) const {
    at::NoGradGuard no_grad;
    const int64_t batch = detail::drawn_batch(params.apply, kName);
    detail::check_apply_images(images, batch, kName);
    const at::Tensor sigma = detail::rows::checked_sigma(params.sigma, batch, kName);
    detail::rows::gaussian_blur_rows_(images, detail::selected_rows(params.apply), sigma,
                                            options_.kernel_size());
    return images;
  }

  const RandomGaussianBlurOptions& options() const {
    return options_;
  }

 private:
  RandomGaussianBlurOptions options_;
};

}  // namespace byol::augment

#pragma once

/// RandomApply: an image op applied to each image of a batch with probability p.
///
///   out_b = apply_b ? op(x_b) : x_b,   apply_b ~ Bernoulli(p), one draw per image
///
/// Every Bernoulli op of byol is this one template over an op type that names its functional op
/// and its in-place row form: RandomHorizontalFlip = RandomApply<ops::HorizontalFlip>,
/// RandomGrayscale = RandomApply<ops::Grayscale>, RandomSolarize = RandomApply<ops::Solarize>.
/// An op type `Op` provides
///
///   using Options = ...;                 // TORCH_ARG p (the probability) and the op's arguments,
///                                        // check() throwing on bad values
///   static constexpr const char* kName;  // the random op's name, in error messages
///   static at::Tensor apply(const at::Tensor& images, const Options&);   // the functional op:
///                                        // every image, out of place (augment::functional)
///   static void apply_rows_(at::Tensor& images, const std::vector<int64_t>& rows, const Options&);
///                                        // the same in place on images[rows] of a contiguous
///                                        // float32/float64 batch (the rows layer)
///
///     byol::augment::RandomApply<byol::augment::ops::Solarize> solarize(
///         byol::augment::RandomSolarizeOptions().p(0.2));           // = RandomSolarize
///     auto y = solarize(images);             // or solarize(images, generator)

#include <byol/detail/augment_transform.hpp>

#include <ATen/ATen.h>
#include <ATen/core/Generator.h>
#include <ATen/core/grad_mode.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace byol::augment {

/// Applies `Op` (see the file's comment) to each image with probability Op::Options::p(), the
/// decisions drawn per image from a CPU generator. A shape-preserving op: it works in Compose,
/// with the global generator (op(images)) or an explicit one (op(images, generator)), and on
/// uint8 in [0, 255] (divided by 255) or floating-point images in [0, 1].
///
///     byol::augment::RandomApply<byol::augment::ops::HorizontalFlip> flip;   // p 0.5
///     auto params = flip.sample(images.size(0), generator);                 // draw ...
///     auto y = flip.apply_(images.clone(), params);                         // ... then apply
template <typename Op>
class RandomApply : public detail::InPlaceTransform<RandomApply<Op>> {
 public:
  using Options = typename Op::Options;
  static constexpr const char* kName = Op::kName;
  /// What one call draws: apply [B] bool on the CPU.
  struct Params {
    at::Tensor apply;
  };

  explicit RandomApply(Options options = {}) : options_(std::move(options)) { options_.check(); }

  Params sample(int64_t batch, at::Generator generator) const {
    detail::check_generator(generator, kName);
    detail::check_batch(batch, kName);
    return {detail::bernoulli(batch, options_.p(), generator)};
  }

  /// In place on float32/float64 images; returns them.
  at::Tensor apply_(at::Tensor images, const Params& params) const {
    at::NoGradGuard no_grad;
    detail::check_apply_images(images, detail::drawn_batch(params.apply, kName), kName);
    Op::apply_rows_(images, detail::selected_rows(params.apply), options_);
    return images;
  }

  const Options& options() const { return options_; }

 private:
  Options options_;
};

}  // namespace byol::augment

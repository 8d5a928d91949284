#pragma once

/// Compose: ops applied left to right, fixed at compile time; one generator for the pipeline.
///
///     byol::augment::Compose view(byol::augment::RandomResizedCrop(96), byol::augment::RandomHorizontalFlip());
///     auto y = view(images);                 // global CPU generator; or view(images, generator)

#include <byol/detail/augment_transform.hpp>

#include <ATen/ATen.h>
#include <ATen/core/Generator.h>
#include <c10/util/Exception.h>

#include <cstddef>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace byol::augment {

/// Ops applied left to right, fixed at compile time (a std::tuple; no virtual calls). Each op
/// must offer `op(images, generator)` (leaves its input alone) and `op.forward_(images,
/// generator)` (may overwrite its input, which Compose owns): the first op is called the first
/// way, the others the second, so the pipeline allocates only what the first op returns. A
/// Compose is itself such an op and nests. The generator is shared, so one seed fixes the whole
/// pipeline.
///
///     byol::augment::Compose view(byol::augment::RandomResizedCrop(96), byol::augment::RandomHorizontalFlip(),
///                                 byol::augment::RandomGrayscale());
///     auto y = view(images);                 // global CPU generator; or view(images, generator)
template <typename... Ops>
class Compose {
  static_assert(sizeof...(Ops) > 0, "Compose needs at least one op");

 public:
  explicit Compose(Ops... ops) : ops_(std::move(ops)...) {}

  at::Tensor operator()(const at::Tensor& images) const {
    return (*this)(images, detail::default_generator());
  }
  at::Tensor operator()(const at::Tensor& images, at::Generator generator) const {
    try {
      return rest<1>(std::get<0>(ops_)(images, generator), generator);
    } catch (const c10::Error& e) {
      rethrow_with_input_(e, images.defined() ? images.sizes() : at::IntArrayRef{});
    }
  }
  /// A list of differently sized [C, H_i, W_i] images; the first op must take one
  /// (RandomResizedCrop does).
  at::Tensor operator()(const std::vector<at::Tensor>& images) const {
    return (*this)(images, detail::default_generator());
  }
  at::Tensor operator()(const std::vector<at::Tensor>& images, at::Generator generator) const {
    return rest<1>(std::get<0>(ops_)(images, generator), generator);
  }
  at::Tensor forward_(at::Tensor images, at::Generator generator) const {
    return rest<0>(std::move(images), generator);
  }

  /// The I-th op.
  template <size_t I>
  const auto& get() const {
    return std::get<I>(ops_);
  }
  const std::tuple<Ops...>& ops() const {
    return ops_;
  }

 private:
  // An op after the first sees what the ops before it made (after a crop, a shape the user never
  // passed): name the pipeline's input too, and the likely cause of a channel error.
  [[noreturn]] static void rethrow_with_input_(const c10::Error& e, at::IntArrayRef input) {
    const std::string message = e.what_without_backtrace();
    const std::string note = "; the images passed to the pipeline had shape ";
    if (message.find(note) != std::string::npos) {
      throw;  // an inner Compose has said it
    }
    const bool channels_last = input.size() == 4 && input[1] != 1 && input[1] != 3 && (input[3] == 1 || input[3] == 3);
    TORCH_CHECK(false, message, note, input,
                channels_last ? " (channels last? pass [B, C, H, W], e.g. images.permute({0, 3, 1, 2}))" : "");
  }

  template <size_t I>
  at::Tensor rest(at::Tensor images, const at::Generator& generator) const {
    if constexpr (I < sizeof...(Ops)) {
      return rest<I + 1>(std::get<I>(ops_).forward_(std::move(images), generator), generator);
    } else {
      return images;
    }
  }

  std::tuple<Ops...> ops_;
};

}  // namespace byol::augment

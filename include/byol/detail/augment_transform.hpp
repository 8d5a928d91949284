#pragma once

// What every random op of byol/augment/ shares: the global generator, the per-image draws, the
// argument checks of a call, and InPlaceTransform, the calling conventions (op(images),
// op(images, generator), forward_) of the shape-preserving ops. Beneath it: only the rows layer
// (byol/detail/augment_rows.hpp).

#include <byol/detail/augment_rows.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace byol::augment::detail {


/// The global CPU generator, the one torch::manual_seed seeds.
inline at::Generator default_generator() {
  return at::detail::getDefaultCPUGenerator();
}

inline void check_generator(const at::Generator& generator, const char* where) {
  TORCH_CHECK(generator.defined(), where, ": the generator is undefined");
  TORCH_CHECK(generator.device().is_cpu(), where,
              ": the generator must be a CPU generator (per-image random numbers are drawn on the CPU and then "
              "moved to the images' device), got one for ",
              generator.device());
}

inline void check_probability(double p, const char* where) {
  TORCH_CHECK(p >= 0.0 && p <= 1.0, where, ": p must be in [0, 1], got ", p);
}

inline void check_batch(int64_t batch, const char* where) {
  TORCH_CHECK(batch > 0, where, ": the batch must hold at least one image, got ", batch);
}

/// n draws from U[low, high), float64, on the CPU.
inline at::Tensor uniform(int64_t n, double low, double high, const at::Generator& generator) {
  const at::Tensor u = at::rand({n}, generator, at::TensorOptions().dtype(at::kDouble));
  return u.mul_(high - low).add_(low);
}

/// n independent decisions, each true with probability p.
inline at::Tensor bernoulli(int64_t n, double p, const at::Generator& generator) {
  return at::rand({n}, generator, at::TensorOptions().dtype(at::kDouble)) < p;
}

/// The positions of the true entries of a CPU bool mask.
inline std::vector<int64_t> selected_rows(const at::Tensor& mask) {
  const at::Tensor m = mask.to(at::kCPU, at::kBool).contiguous();
  const bool* v = m.data_ptr<bool>();
  std::vector<int64_t> rows;
  rows.reserve(static_cast<size_t>(m.numel()));
  for (int64_t i = 0; i < m.numel(); ++i) {
    if (v[i]) {
      rows.push_back(i);
    }
  }
  return rows;
}

/// Images as a contiguous float tensor the op may overwrite: uint8 -> float32 / 255 and
/// float16/bfloat16 -> float32 (new tensors); float32/float64 are taken as they are (made
/// contiguous) when `owned`, copied otherwise.
inline at::Tensor float_images(const at::Tensor& images, bool owned, const char* where) {
  rows::check_images(images, where);
  const auto type = images.scalar_type();
  if (type == at::kByte) {
    return images.to(at::kFloat).div_(255.0);
  }
  TORCH_CHECK(at::isFloatingType(type), where, ": images must be uint8 in [0, 255] or floating point in [0, 1], got ",
              type);
  if (type != at::kFloat && type != at::kDouble) {
    return images.to(at::kFloat);
  }
  return owned ? images.contiguous() : images.clone(at::MemoryFormat::Contiguous);
}

/// The batch size a drawn `apply` mask was drawn for.
inline int64_t drawn_batch(const at::Tensor& apply, const char* where) {
  TORCH_CHECK(apply.defined() && apply.dim() == 1 && apply.device().is_cpu(), where,
              ": params.apply must be a 1-D CPU tensor, got ", apply.defined() ? apply.sizes() : at::IntArrayRef{});
  return apply.size(0);
}

/// Checks the images an in-place apply_ receives: [B, C, H, W], float32 or float64.
inline void check_inplace_images(const at::Tensor& images, const char* where) {
  rows::check_images(images, where);
  TORCH_CHECK(images.scalar_type() == at::kFloat || images.scalar_type() == at::kDouble, where,
              ": apply_ works in place on float32 or float64 images, got ", images.scalar_type(),
              " (call the op itself, which converts)");
}

/// The same, and that the params were drawn for as many images.
inline void check_apply_images(const at::Tensor& images, int64_t batch, const char* where) {
  check_inplace_images(images, where);
  TORCH_CHECK(images.size(0) == batch, where, ": params were drawn for ", batch, " images but images has shape ",
              images.sizes());
}

/// The calling conventions shared by the shape-preserving ops, from Derived::sample(batch,
/// generator) and Derived::apply_(images, params).
template <typename Derived>
class InPlaceTransform {
 public:
  /// Applies the op to a copy of `images` (uint8 in [0, 255] or floating point in [0, 1]),
  /// drawing from the global CPU generator (torch::manual_seed makes it reproducible).
  at::Tensor operator()(const at::Tensor& images) const {
    return (*this)(images, default_generator());
  }
  /// The same with an explicit CPU generator.
  at::Tensor operator()(const at::Tensor& images, at::Generator generator) const {
    at::NoGradGuard no_grad;
    at::Tensor x = float_images(images, /*owned=*/false, Derived::kName);
    return self().apply_(x, self().sample(x.size(0), std::move(generator)));
  }
  /// Draws and applies, overwriting `images` when it is float32/float64 (what Compose calls on
  /// the tensors it owns); returns the result.
  at::Tensor forward_(at::Tensor images, at::Generator generator) const {
    at::NoGradGuard no_grad;
    at::Tensor x = float_images(images, /*owned=*/true, Derived::kName);
    return self().apply_(x, self().sample(x.size(0), std::move(generator)));
  }

 private:
  const Derived& self() const {
    return static_cast<const Derived&>(*this);
  }
};

}  // namespace byol::augment::detail

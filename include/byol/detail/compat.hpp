#pragma once

// The one home of the shims over the places where LibTorch's C++ API moved between releases.
// Nothing else in byol tests BYOL_TORCH_VERSION_AT_LEAST; each shim below is covered by tests
// that run on both test lanes (LibTorch 1.13 and 2.x, see README's Compatibility section).
//
//   optimizer_state_key     the key of Optimizer::state(): std::string in 1.x, void* in 2.x
//   foreach_lerp_           at::_foreach_lerp_ exists from 2.0; before, a mul + add pair
//   autocast_cuda_*         the C++ autocast API took a device type in 2.4
//   tcp_store_classic_backend  c10d's TCPStoreOptions gained useLibUV (default true) in 2.x; byol
//                           asks for the classic server on every release (byol/distributed.hpp)

#include <byol/version.hpp>

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <torch/optim/optimizer.h>

#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace byol::detail {

template <typename Key>
struct OptimizerStateKey;

// LibTorch 1.x keys an optimizer's per-parameter state by the TensorImpl's address printed as
// text (c10::guts::to_string streams the pointer).
template <>
struct OptimizerStateKey<std::string> {
  static std::string of(const at::Tensor& parameter) {
    std::ostringstream out;
    out << static_cast<const void*>(parameter.unsafeGetTensorImpl());
    return out.str();
  }
};

// LibTorch 2.x keys it by the TensorImpl's address itself.
template <>
struct OptimizerStateKey<void*> {
  static void* of(const at::Tensor& parameter) {
    return static_cast<void*>(parameter.unsafeGetTensorImpl());
  }
};

using OptimizerStateMap =
    std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;

/// The key under which `torch::optim::Optimizer::state()` holds `parameter`'s state, whatever
/// the LibTorch release.
inline auto optimizer_state_key(const at::Tensor& parameter) {
  return OptimizerStateKey<typename OptimizerStateMap::key_type>::of(parameter);
}

/// In place, for every pair: target[i] <- target[i] + weight * (source[i] - target[i]), as one
/// multi-tensor call per list (all tensors on one device).
inline void foreach_lerp_(const std::vector<at::Tensor>& target, const std::vector<at::Tensor>& source,
                          double weight) {
#if BYOL_TORCH_VERSION_AT_LEAST(2, 0)
  at::_foreach_lerp_(target, source, weight);
#else
  at::_foreach_mul_(target, 1.0 - weight);
  at::_foreach_add_(target, source, weight);
#endif
}

/// Whether CUDA autocast is on for this thread.
inline bool autocast_cuda_enabled() {
#if BYOL_TORCH_VERSION_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(at::kCUDA);
#else
  return at::autocast::is_enabled();
#endif
}

/// Switches CUDA autocast on or off for this thread.
inline void set_autocast_cuda_enabled(bool enabled) {
#if BYOL_TORCH_VERSION_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(at::kCUDA, enabled);
#else
  at::autocast::set_enabled(enabled);
#endif
}

/// The dtype that CUDA autocast casts to.
inline at::ScalarType autocast_cuda_dtype() {
#if BYOL_TORCH_VERSION_AT_LEAST(2, 4)
  return at::autocast::get_autocast_dtype(at::kCUDA);
#else
  return at::autocast::get_autocast_gpu_dtype();
#endif
}

/// Sets the dtype that CUDA autocast casts to.
inline void set_autocast_cuda_dtype(at::ScalarType dtype) {
#if BYOL_TORCH_VERSION_AT_LEAST(2, 4)
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
  at::autocast::set_autocast_gpu_dtype(dtype);
#endif
}

template <typename Options, typename = void>
struct HasUseLibUV : std::false_type {};
template <typename Options>
struct HasUseLibUV<Options, std::void_t<decltype(std::declval<Options&>().useLibUV)>> : std::true_type {};

/// Asks c10d's TCPStore for its classic (not libuv) server, where the release has the choice: the
/// one that LibTorch 1.x always uses, and which does not depend on how LibTorch was built.
/// (A template on the options type, so that this header needs no c10d header.)
template <typename StoreOptions>
inline void tcp_store_classic_backend(StoreOptions& options) {
  if constexpr (HasUseLibUV<StoreOptions>::value) {
    options.useLibUV = false;
  }
}

}  // namespace byol::detail

#pragma once

// Small shims over the places where LibTorch's C++ API moved between releases.

#include <byol/version.hpp>

#include <ATen/core/Tensor.h>
#include <torch/optim/optimizer.h>

#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

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

}  // namespace byol::detail

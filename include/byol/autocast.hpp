#pragma once

/// Mixed precision on CUDA for a scope, across LibTorch releases (the C++ autocast API moved in
/// 2.4): ops that autocast lists run in bfloat16 (or float16) on CUDA tensors while the guard
/// lives; the previous state comes back, and the cast cache is cleared, when it ends. byol's loss
/// accumulates in float32 whatever comes in, and the EMA and LARS work on the float32 weights.
///
///     at::Tensor loss;
///     {
///       byol::CudaAutocast bf16;                   // bfloat16 by default
///       loss = model.loss(view1, view2);           // the forward pass only, as in Python
///     }
///     loss.backward();
///     lars.step();

#include <byol/detail/compat.hpp>

#include <ATen/autocast_mode.h>
#include <c10/core/ScalarType.h>

namespace byol {

class CudaAutocast {
 public:
  /// @param enabled  false makes the guard a no-op (a flag can switch mixed precision off)
  /// @param dtype    at::kBFloat16 (default) or at::kHalf
  explicit CudaAutocast(bool enabled = true, at::ScalarType dtype = at::kBFloat16) : active_(enabled) {
    if (!active_) return;
    TORCH_CHECK(dtype == at::kBFloat16 || dtype == at::kHalf, "CudaAutocast: dtype must be BFloat16 or Half, got ",
                dtype);
    was_enabled_ = detail::autocast_cuda_enabled();
    was_dtype_ = detail::autocast_cuda_dtype();
    detail::set_autocast_cuda_dtype(dtype);
    detail::set_autocast_cuda_enabled(true);
    at::autocast::increment_nesting();
  }

  ~CudaAutocast() {
    if (!active_) return;
    detail::set_autocast_cuda_enabled(was_enabled_);
    detail::set_autocast_cuda_dtype(was_dtype_);
    // As Python's torch.autocast: the cache of casted weights lives for the outermost scope.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  }

  CudaAutocast(const CudaAutocast&) = delete;
  CudaAutocast& operator=(const CudaAutocast&) = delete;

  /// Whether CUDA autocast is on for this thread now.
  static bool enabled() {
    return detail::autocast_cuda_enabled();
  }

 private:
  bool active_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

}  // namespace byol

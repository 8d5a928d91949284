#pragma once

// The EMA update in ATen's multi-tensor (foreach) operations: the path of every device but the
// CPU's fused kernel (byol/detail/cpu/ema.hpp).

#include <byol/detail/compat.hpp>

#include <ATen/ATen.h>

#include <vector>

namespace byol::functional::detail {

/// target[i] <- tau * target[i] + (1 - tau) * online[i], as one lerp over the lists.
inline void ema_update_foreach_(const std::vector<at::Tensor>& target, const std::vector<at::Tensor>& online,
                                double tau) {
  byol::detail::foreach_lerp_(target, online, 1.0 - tau);
}

}  // namespace byol::functional::detail

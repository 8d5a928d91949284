#pragma once

// The EMA update on the CPU: one parallel pass over every element of every pair
// (byol/ema.hpp has the equation; byol/detail/aten/ema.hpp is the path of other devices).

#include <byol/detail/blocks.hpp>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>

#include <cstdint>
#include <vector>

namespace byol::functional::detail {

/// target[i] <- tau * target[i] + (1 - tau) * online[i], for pairs of one dtype and dense layout.
inline void ema_update_cpu_(const std::vector<at::Tensor>& target, const std::vector<at::Tensor>& online,
                            double tau) {
  const std::vector<byol::detail::Block> blocks = byol::detail::make_blocks(target);
  byol::detail::parallel_over_blocks(blocks, [&](const byol::detail::Block& block) {
    const at::Tensor& t = target[block.tensor];
    const at::Tensor& o = online[block.tensor];
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, t.scalar_type(), "byol_ema_update", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      // tau * x + (1 - tau) * y is exact at both ends: tau = 1 keeps x, tau = 0 copies y.
      const acc_t keep = static_cast<acc_t>(tau);
      const acc_t take = static_cast<acc_t>(1.0 - tau);
      scalar_t* __restrict x = static_cast<scalar_t*>(t.data_ptr()) + block.begin;
      const scalar_t* __restrict y = static_cast<const scalar_t*>(o.data_ptr()) + block.begin;
      const int64_t n = block.end - block.begin;
      for (int64_t i = 0; i < n; ++i) {
        x[i] = static_cast<scalar_t>(keep * static_cast<acc_t>(x[i]) + take * static_cast<acc_t>(y[i]));
      }
    });
  });
}

}  // namespace byol::functional::detail

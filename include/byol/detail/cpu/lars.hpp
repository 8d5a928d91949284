#pragma once

// A LARS step on the CPU: two parallel passes over every parameter of a group
// (byol/optim/lars.hpp has the equations; byol/detail/aten/lars.hpp the multi-tensor path).

#include <byol/detail/aten/lars.hpp>
#include <byol/detail/blocks.hpp>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace byol::optim::detail {

/// CPU: two passes over all parameters of a group, each ONE parallel loop over fixed-size
/// blocks: (1) the squared norms of w and g' per block, summed per parameter in a fixed order;
/// (2) m <- mu m + u and w <- w - lr m, with u built on the fly. No temporaries, no per-tensor
/// kernel launches, and results independent of the thread count.
inline void lars_step_cpu(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
                          const std::vector<at::Tensor>& momenta, const std::vector<char>& adapted,
                          const LARSStep& hp) {
  const std::vector<byol::detail::Block> blocks = byol::detail::make_blocks(params);
  std::vector<double> block_w2(blocks.size(), 0.0);
  std::vector<double> block_g2(blocks.size(), 0.0);
  byol::detail::parallel_over_blocks(blocks, [&](const byol::detail::Block& block) {
    const size_t t = static_cast<size_t>(block.tensor);
    if (!adapted[t] || !hp.trust_ratio) {
      return;
    }
    const size_t b = static_cast<size_t>(&block - blocks.data());
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, params[t].scalar_type(), "byol_lars_norms", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const scalar_t* __restrict w = static_cast<const scalar_t*>(params[t].data_ptr()) + block.begin;
      const scalar_t* __restrict g = static_cast<const scalar_t*>(grads[t].data_ptr()) + block.begin;
      const acc_t wd = static_cast<acc_t>(hp.weight_decay);
      const int64_t n = block.end - block.begin;
      const auto sums = byol::detail::lane_sums<2, acc_t>(n, [&](int64_t i, acc_t* v) {
        const acc_t wi = static_cast<acc_t>(w[i]);
        const acc_t gi = static_cast<acc_t>(g[i]) + wd * wi;
        v[0] = wi * wi;
        v[1] = gi * gi;
      });
      const double w2 = static_cast<double>(sums[0]);
      const double g2 = static_cast<double>(sums[1]);
      block_w2[b] = w2;
      block_g2[b] = g2;
    });
  });
  std::vector<double> w2(params.size(), 0.0);
  std::vector<double> g2(params.size(), 0.0);
  for (size_t b = 0; b < blocks.size(); ++b) {
    w2[static_cast<size_t>(blocks[b].tensor)] += block_w2[b];
    g2[static_cast<size_t>(blocks[b].tensor)] += block_g2[b];
  }
  std::vector<double> trust(params.size(), 1.0);
  for (size_t t = 0; t < params.size(); ++t) {
    if (adapted[t] && hp.trust_ratio) {
      trust[t] = trust_ratio(std::sqrt(w2[t]), std::sqrt(g2[t]), hp.eta);
    }
  }
  byol::detail::parallel_over_blocks(blocks, [&](const byol::detail::Block& block) {
    const size_t t = static_cast<size_t>(block.tensor);
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, params[t].scalar_type(), "byol_lars_update", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      scalar_t* __restrict w = static_cast<scalar_t*>(params[t].data_ptr()) + block.begin;
      const scalar_t* __restrict g = static_cast<const scalar_t*>(grads[t].data_ptr()) + block.begin;
      scalar_t* __restrict m = static_cast<scalar_t*>(momenta[t].data_ptr()) + block.begin;
      // Excluded parameters: u = g, i.e. scale 1 and no decay.
      const acc_t wd = adapted[t] ? static_cast<acc_t>(hp.weight_decay) : acc_t(0);
      const acc_t scale = static_cast<acc_t>(trust[t]);
      const acc_t mu = static_cast<acc_t>(hp.momentum);
      const acc_t lr = static_cast<acc_t>(hp.lr);
      const int64_t n = block.end - block.begin;
      for (int64_t i = 0; i < n; ++i) {
        const acc_t wi = static_cast<acc_t>(w[i]);
        const acc_t u = scale * (static_cast<acc_t>(g[i]) + wd * wi);
        const acc_t mi = mu * static_cast<acc_t>(m[i]) + u;
        m[i] = static_cast<scalar_t>(mi);
        w[i] = static_cast<scalar_t>(wi - lr * mi);
      }
    });
  });
}

}  // namespace byol::optim::detail

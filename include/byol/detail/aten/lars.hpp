#pragma once

// A LARS step in ATen's multi-tensor (foreach) operations: the path of every device but the
// CPU's fused kernel (byol/detail/cpu/lars.hpp), and what both share. byol/optim/lars.hpp has
// the equations.

#include <ATen/ATen.h>
#include <c10/util/Optional.h>

#include <cstddef>
#include <vector>

namespace byol::optim::detail {

/// The hyper-parameters of one step, for one parameter group.
struct LARSStep {
  double lr;
  double momentum;
  double weight_decay;
  double eta;
  bool trust_ratio = true;  ///< false: u = g' for adapted parameters, no trust ratio
};

/// Plain-number trust ratio: eta * ||w|| / ||g'|| when both are > 0, else 1.
inline double trust_ratio(double w_norm, double g_norm, double eta) {
  return (w_norm > 0.0 && g_norm > 0.0) ? eta * w_norm / g_norm : 1.0;
}

// The 2-norm of each tensor, on its device. The kernels accumulate in at least float32; half
// and bfloat16 norms are also returned in float32, one kernel per tensor, because _foreach_norm
// would round them to the tensors' own precision. Float32 and float64 norms keep their dtype.
inline std::vector<at::Tensor> lars_norms(const std::vector<at::Tensor>& tensors) {
  bool reduced = false;
  for (const auto& t : tensors) {
    reduced = reduced || t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16;
  }
  if (!reduced) {
    return at::_foreach_norm(tensors);
  }
  std::vector<at::Tensor> norms;
  norms.reserve(tensors.size());
  for (const auto& t : tensors) {
    const bool narrow = t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16;
    const at::ScalarType dtype = narrow ? at::kFloat : t.scalar_type();
    norms.push_back(at::linalg_vector_norm(t, 2, c10::nullopt, false, dtype));
  }
  return norms;
}

/// Any device: a handful of multi-tensor (foreach) kernels for the whole group. The norms are
/// computed on the device and come to the host in ONE copy per step (not one read per tensor),
/// because a per-tensor scale is a multi-tensor kernel only as a list of host scalars; the trust
/// ratios are then formed there in float64, whatever the parameters' dtype.
inline void lars_step_foreach(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
                              const std::vector<at::Tensor>& momenta, const std::vector<char>& adapted,
                              const LARSStep& hp) {
  std::vector<at::Tensor> ad_w, ad_g;
  for (size_t t = 0; t < params.size(); ++t) {
    if (adapted[t]) {
      ad_w.push_back(params[t]);
      ad_g.push_back(grads[t]);
    }
  }
  // The update u for every parameter, in the order of `params`: u = g for excluded ones.
  std::vector<at::Tensor> updates(grads.begin(), grads.end());
  if (!ad_w.empty()) {
    // g' = g + wd w, always a new list: the scaling below must not touch the gradients.
    std::vector<at::Tensor> g_prime =
        hp.weight_decay != 0.0 ? at::_foreach_add(ad_g, ad_w, hp.weight_decay) : at::_foreach_mul(ad_g, 1.0);
    if (hp.trust_ratio) {
      // ||w|| for every adapted parameter, then ||g'||, stacked (in their common dtype) and copied
      // to the host together; widened to float64 there, so no float64 norm is ever rounded.
      std::vector<at::Tensor> norms = lars_norms(ad_w);
      const std::vector<at::Tensor> g_norms = lars_norms(g_prime);
      norms.insert(norms.end(), g_norms.begin(), g_norms.end());
      const at::Tensor host = at::stack(norms).to(at::kCPU).to(at::kDouble).contiguous();
      const double* n = host.data_ptr<double>();
      const size_t count = ad_w.size();
      std::vector<c10::Scalar> scales;
      scales.reserve(count);
      for (size_t i = 0; i < count; ++i) {
        scales.emplace_back(trust_ratio(n[i], n[count + i], hp.eta));
      }
      at::_foreach_mul_(g_prime, scales);
    }
    size_t a = 0;
    for (size_t t = 0; t < params.size(); ++t) {
      if (adapted[t]) {
        updates[t] = g_prime[a++];
      }
    }
  }
  at::_foreach_mul_(momenta, hp.momentum);
  at::_foreach_add_(momenta, updates);
  at::_foreach_add_(params, momenta, -hp.lr);
}

}  // namespace byol::optim::detail

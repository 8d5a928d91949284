#pragma once

// The BYOL loss in ATen operations: the path of every device but the CPU's fused kernels
// (byol/detail/cpu/loss.hpp), and the constants both share. byol/loss.hpp has the equations.

#include <ATen/ATen.h>

#include <tuple>

namespace byol::functional::detail {

/// The norm floor of n(x): the reference's rsqrt(max(sum x^2, 1e-12)).
constexpr double kNormEps = 1e-6;

/// The dtype the math runs in: float32 for float32/float16/bfloat16, float64 for float64.
inline at::ScalarType accumulate_type(at::ScalarType input) {
  return input == at::kDouble ? at::kDouble : at::kFloat;
}

/// The same math in ATen operations, for every device (and as the CUDA path): two norm
/// reductions, one product-sum, and a handful of [B]-sized operations.
inline std::tuple<at::Tensor, at::Tensor> normalized_mse_forward_generic(const at::Tensor& prediction,
                                                                         const at::Tensor& target) {
  const auto acc_type = accumulate_type(prediction.scalar_type());
  const at::Tensor p = prediction.to(acc_type);
  const at::Tensor z = target.to(acc_type);
  const at::Tensor np = at::linalg_vector_norm(p, 2, at::IntArrayRef{1}, false, c10::nullopt);
  const at::Tensor nz = at::linalg_vector_norm(z, 2, at::IntArrayRef{1}, false, c10::nullopt);
  const at::Tensor pz = at::mul(p, z).sum(1);
  const at::Tensor rp = np.clamp_min(kNormEps);
  const at::Tensor rz = nz.clamp_min(kNormEps);
  const at::Tensor rprz = rp * rz;
  const at::Tensor c = pz / rprz;
  const at::Tensor row_loss = (np / rp).square() + (nz / rz).square() - 2 * c;
  const at::Tensor alpha = at::where(np > kNormEps, c, at::ones_like(c)) / rp.square();
  const at::Tensor beta = rprz.reciprocal();
  return {row_loss.mean(), at::stack({alpha, beta}, 1)};
}

inline at::Tensor normalized_mse_backward_generic(const at::Tensor& prediction, const at::Tensor& target,
                                                  const at::Tensor& coeffs, const at::Tensor& scale) {
  const auto acc_type = coeffs.scalar_type();
  const at::Tensor ab = coeffs * scale.to(acc_type);
  const at::Tensor grad = at::addcmul(at::mul(target.to(acc_type), ab.select(1, 1).unsqueeze(1)).neg_(),
                                      prediction.to(acc_type), ab.select(1, 0).unsqueeze(1));
  return grad.to(prediction.scalar_type());
}

}  // namespace byol::functional::detail

#pragma once

/// The BYOL loss: normalised mean squared error between predictions and target projections.
///
///   n(x)    = x / max(||x||_2, 1e-6)
///   l(p, z) = mean_i ||n(p_i) - n(z_i)||^2            (= mean_i (2 - 2 cos(p_i, z_i)))
///   byol    = l(p1, z2) + l(p2, z1)                    (a sum of the two directions)
///
/// The target z gets no gradient (stop-gradient). The value is accumulated in float32 for
/// float32, float16 and bfloat16 inputs (float64 for float64), and a zero row gives a finite
/// value and gradient.
///
///     auto loss = byol::functional::byol_loss(p1, z2, p2, z1);   // 0-dim float32
///     loss.backward();                                            // grads reach p1 and p2 only

#include <byol/detail/loss_function.hpp>

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

namespace byol::functional {

/// Normalised MSE between predictions and targets, averaged over the batch:
///   l(p, z) = mean_i || p_i / max(||p_i||, 1e-6) - z_i / max(||z_i||, 1e-6) ||^2.
///
/// @param prediction  [B, D], floating point; receives the gradient
/// @param target      [B, D], same device; treated as a constant (no gradient flows into it)
/// @return a 0-dim tensor, float32 (float64 when an input is float64), in [0, 4]
///
///     auto p = torch::randn({256, 256}, torch::requires_grad());
///     auto z = torch::randn({256, 256});
///     byol::functional::normalized_mse(p, z).backward();
inline at::Tensor normalized_mse(const at::Tensor& prediction, const at::Tensor& target) {
  detail::check_prediction_and_target(prediction, target, "normalized_mse");
  return detail::NormalizedMSEFunction::apply(prediction, target);
}

/// The symmetric BYOL loss: normalized_mse(p1, z2) + normalized_mse(p2, z1), in [0, 8].
///
/// @param p1  online prediction of view 1, [B, D]
/// @param z2  target projection of view 2, [B, D] (no gradient)
/// @param p2  online prediction of view 2, [B, D]
/// @param z1  target projection of view 1, [B, D] (no gradient)
///
///     auto loss = byol::functional::byol_loss(p1, z2, p2, z1);
///     loss.backward();
inline at::Tensor byol_loss(const at::Tensor& p1, const at::Tensor& z2, const at::Tensor& p2,
                            const at::Tensor& z1) {
  detail::check_prediction_and_target(p1, z2, "byol_loss(p1, z2)");
  detail::check_prediction_and_target(p2, z1, "byol_loss(p2, z1)");
  return detail::NormalizedMSEFunction::apply(p1, z2) +
         detail::NormalizedMSEFunction::apply(p2, z1);
}

}  // namespace byol::functional

namespace byol::nn {

/// Module form of byol::functional::byol_loss; it has no parameters.
///
///     byol::nn::BYOLLoss criterion;
///     auto loss = criterion(p1, z2, p2, z1);
class BYOLLossImpl : public torch::nn::Cloneable<BYOLLossImpl> {
 public:
  BYOLLossImpl() = default;
  void reset() override {}
  at::Tensor forward(const at::Tensor& p1, const at::Tensor& z2, const at::Tensor& p2,
                     const at::Tensor& z1) {
    return functional::byol_loss(p1, z2, p2, z1);
  }
};
TORCH_MODULE(BYOLLoss);

}  // namespace byol::nn

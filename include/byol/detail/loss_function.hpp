#pragma once

// The BYOL loss's argument checks and its autograd node, which picks the fused CPU kernels
// (byol/detail/cpu/loss.hpp) or the ATen path (byol/detail/aten/loss.hpp).

#include <byol/detail/aten/loss.hpp>
#include <byol/detail/cpu/loss.hpp>
#include <byol/detail/kernel_path.hpp>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <tuple>

namespace byol::functional::detail {

inline void check_prediction_and_target(const at::Tensor& prediction, const at::Tensor& target,
                                        const char* where) {
  TORCH_CHECK(prediction.defined(), where, ": prediction is an undefined tensor");
  TORCH_CHECK(target.defined(), where, ": target is an undefined tensor");
  TORCH_CHECK(prediction.dim() == 2, where, ": prediction must have shape [B, D], got ",
              prediction.sizes());
  TORCH_CHECK(target.dim() == 2, where, ": target must have shape [B, D], got ", target.sizes());
  TORCH_CHECK(prediction.sizes() == target.sizes(), where, ": prediction ", prediction.sizes(),
              " and target ", target.sizes(), " must have the same shape");
  TORCH_CHECK(prediction.size(0) > 0, where, ": empty batch, prediction has shape ",
              prediction.sizes());
  TORCH_CHECK(prediction.size(1) > 0, where, ": zero-width rows, prediction has shape ",
              prediction.sizes());
  TORCH_CHECK(at::isFloatingType(prediction.scalar_type()), where,
              ": prediction must be floating point, got ", prediction.scalar_type());
  TORCH_CHECK(at::isFloatingType(target.scalar_type()), where,
              ": target must be floating point, got ", target.scalar_type());
  TORCH_CHECK(prediction.device() == target.device(), where, ": prediction is on ",
              prediction.device(), " but target is on ", target.device());
}

/// The autograd node: forward and backward each one pass on CPU (when use_fused_cpu_kernels()),
/// ATen operations elsewhere. Backward takes the path that forward took.
struct NormalizedMSEFunction : public torch::autograd::Function<NormalizedMSEFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& prediction,
                            const at::Tensor& target) {
    at::Tensor p = prediction;
    at::Tensor z = target;
    if (p.scalar_type() != z.scalar_type()) {
      const auto common = at::promote_types(p.scalar_type(), z.scalar_type());
      p = p.to(common);
      z = z.to(common);
    }
    const bool fused = p.device().is_cpu() && byol::detail::use_fused_cpu_kernels();
    at::Tensor loss;
    at::Tensor coeffs;
    std::tie(loss, coeffs) =
        fused ? normalized_mse_forward_cpu(p, z) : normalized_mse_forward_generic(p, z);
    ctx->save_for_backward({p, z});
    ctx->saved_data["coeffs"] = coeffs;
    ctx->saved_data["fused"] = fused;
    ctx->saved_data["dtype"] = prediction.scalar_type();
    return loss;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& p = saved[0];
    const at::Tensor& z = saved[1];
    const at::Tensor coeffs = ctx->saved_data["coeffs"].toTensor();
    const auto dtype = ctx->saved_data["dtype"].toScalarType();
    const at::Tensor& grad_out = grad_outputs[0];
    const double per_row = 2.0 / static_cast<double>(p.size(0));
    at::Tensor grad;
    if (ctx->saved_data["fused"].toBool()) {
      // On CPU reading the scalar is a plain load, not a device synchronisation.
      grad = normalized_mse_backward_cpu(p, z, coeffs, per_row * grad_out.item<double>());
    } else {
      grad = normalized_mse_backward_generic(p, z, coeffs, grad_out * per_row);
    }
    // Stop-gradient: the target gets nothing.
    return {grad.to(dtype), at::Tensor()};
  }
};

}  // namespace byol::functional::detail

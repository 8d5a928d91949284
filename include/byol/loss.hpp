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

#include <byol/detail/blocks.hpp>
#include <byol/detail/kernel_path.hpp>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <vector>

namespace byol::functional {
namespace detail {

/// The norm floor of n(x): the reference's rsqrt(max(sum x^2, 1e-12)).
constexpr double kNormEps = 1e-6;

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

/// The dtype the math runs in: float32 for float32/float16/bfloat16, float64 for float64.
inline at::ScalarType accumulate_type(at::ScalarType input) {
  return input == at::kDouble ? at::kDouble : at::kFloat;
}

/// Sums of p*p, z*z and p*z over one row, vectorised (lane_sums).
template <typename scalar_t, typename acc_t>
inline void row_dots(const scalar_t* __restrict p, const scalar_t* __restrict z, int64_t d_size,
                     acc_t& pp, acc_t& zz, acc_t& pz) {
  const auto sums = byol::detail::lane_sums<3, acc_t>(d_size, [&](int64_t d, acc_t* v) {
    const acc_t a = static_cast<acc_t>(p[d]);
    const acc_t b = static_cast<acc_t>(z[d]);
    v[0] = a * a;
    v[1] = b * b;
    v[2] = a * b;
  });
  pp = sums[0];
  zz = sums[1];
  pz = sums[2];
}

/// Per-row results of the forward pass. With rp = max(||p||, eps), rz = max(||z||, eps),
/// u = p / rp, v = z / rz and c = u . v:
///   loss_i  = |u|^2 + |v|^2 - 2c
///   d loss_i / d p_i = 2 (alpha_i p_i - beta_i z_i), where
///   alpha_i = (||p|| > eps ? c : 1) / rp^2   and   beta_i = 1 / (rp rz).
/// (Above the floor, (I - u u^T)(u - v) / rp = (c u - v) / rp; below it rp is a constant.)
template <typename acc_t>
struct RowTerms {
  acc_t loss;
  acc_t alpha;
  acc_t beta;
};

template <typename acc_t>
inline RowTerms<acc_t> row_terms(acc_t pp, acc_t zz, acc_t pz) {
  const acc_t eps = static_cast<acc_t>(kNormEps);
  const acc_t np = std::sqrt(pp);
  const acc_t nz = std::sqrt(zz);
  const acc_t rp = std::max(np, eps);
  const acc_t rz = std::max(nz, eps);
  const acc_t c = pz / (rp * rz);
  const acc_t uu = pp / (rp * rp);
  const acc_t vv = zz / (rz * rz);
  return {uu + vv - acc_t(2) * c, (np > eps ? c : acc_t(1)) / (rp * rp), acc_t(1) / (rp * rz)};
}

/// One pass over the rows: returns the 0-dim loss and the [B, 2] (alpha, beta) table.
inline std::tuple<at::Tensor, at::Tensor> normalized_mse_forward_cpu(const at::Tensor& prediction,
                                                                     const at::Tensor& target) {
  const at::Tensor p = prediction.contiguous();
  const at::Tensor z = target.contiguous();
  const int64_t rows = p.size(0);
  const int64_t width = p.size(1);
  const auto acc_type = accumulate_type(p.scalar_type());
  at::Tensor coeffs = at::empty({rows, 2}, p.options().dtype(acc_type));
  std::vector<double> row_loss(static_cast<size_t>(rows));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, p.scalar_type(), "byol_nmse_forward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* pp_data = p.data_ptr<scalar_t>();
    const scalar_t* zz_data = z.data_ptr<scalar_t>();
    acc_t* coeff = coeffs.data_ptr<acc_t>();
    // Rows are independent; a grain of 64 rows keeps threads busy from B = 128 up.
    byol::detail::parallel_for(0, rows, 64, [&](int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) {
        acc_t spp, szz, spz;
        row_dots<scalar_t, acc_t>(pp_data + i * width, zz_data + i * width, width, spp, szz, spz);
        const RowTerms<acc_t> terms = row_terms<acc_t>(spp, szz, spz);
        coeff[2 * i] = terms.alpha;
        coeff[2 * i + 1] = terms.beta;
        row_loss[static_cast<size_t>(i)] = static_cast<double>(terms.loss);
      }
    });
  });
  // The batch mean is summed serially in float64: a fixed order whatever the thread count.
  double total = 0.0;
  for (const double value : row_loss) {
    total += value;
  }
  at::Tensor loss = at::scalar_tensor(total / static_cast<double>(rows),
                                      at::TensorOptions().dtype(acc_type));
  return {loss, coeffs};
}

/// One pass over the rows: grad_p = scale * (alpha * p - beta * z), in prediction's dtype.
inline at::Tensor normalized_mse_backward_cpu(const at::Tensor& prediction, const at::Tensor& target,
                                              const at::Tensor& coeffs, double scale) {
  const at::Tensor p = prediction.contiguous();
  const at::Tensor z = target.contiguous();
  const int64_t rows = p.size(0);
  const int64_t width = p.size(1);
  at::Tensor grad = at::empty_like(p, at::MemoryFormat::Contiguous);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, p.scalar_type(), "byol_nmse_backward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* pp_data = p.data_ptr<scalar_t>();
    const scalar_t* zz_data = z.data_ptr<scalar_t>();
    const acc_t* coeff = coeffs.data_ptr<acc_t>();
    scalar_t* out = grad.data_ptr<scalar_t>();
    byol::detail::parallel_for(0, rows, 64, [&](int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) {
        const acc_t a = static_cast<acc_t>(scale) * coeff[2 * i];
        const acc_t b = static_cast<acc_t>(scale) * coeff[2 * i + 1];
        const scalar_t* __restrict pr = pp_data + i * width;
        const scalar_t* __restrict zr = zz_data + i * width;
        scalar_t* __restrict gr = out + i * width;
        for (int64_t d = 0; d < width; ++d) {
          gr[d] = static_cast<scalar_t>(a * static_cast<acc_t>(pr[d]) - b * static_cast<acc_t>(zr[d]));
        }
      }
    });
  });
  return grad;
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

}  // namespace detail

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

#pragma once

// The BYOL loss on the CPU: forward and backward each one parallel pass over the rows.
// byol/loss.hpp has the equations; byol/detail/aten/loss.hpp the same math in ATen operations.

#include <byol/detail/aten/loss.hpp>
#include <byol/detail/parallel.hpp>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <vector>

namespace byol::functional::detail {

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

}  // namespace byol::functional::detail

#pragma once

/// The projector and predictor heads of BYOL: Linear -> BatchNorm1d -> ReLU -> Linear.
///
///   projector g: Linear(F -> 4096, bias) -> BN(eps 1e-5, momentum 0.1) -> ReLU -> Linear(4096 -> 256, no bias)
///   predictor q: the same shape, 256 -> 4096 -> 256
///
/// The last Linear has no bias, as in the reference (`hk.Linear(output_size, with_bias=False)` in
/// byol/utils/networks.py); MLPHeadOptions::last_bias(true) adds one.
///
///     byol::nn::MLPHead projector(byol::nn::MLPHeadOptions(2048));        // 2048 -> 4096 -> 256
///     auto z = projector(features);                                        // [B, 256]

#include <byol/detail/norm_dispatch.hpp>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/nn/functional/activation.h>

#include <cstdint>

namespace byol::nn {

/// Options of MLPHead.
struct MLPHeadOptions {
  /// @param in_dim  width of the input features (> 0)
  MLPHeadOptions(int64_t in_dim) : in_dim_(in_dim) {}  // NOLINT(google-explicit-constructor)
  /// Input width F (the encoder's feature width for the projector, projection_dim for the predictor).
  TORCH_ARG(int64_t, in_dim);
  /// Hidden width. Default 4096.
  TORCH_ARG(int64_t, hidden_dim) = 4096;
  /// Output width. Default 256.
  TORCH_ARG(int64_t, out_dim) = 256;
  /// BatchNorm1d epsilon. Default 1e-5.
  TORCH_ARG(double, bn_eps) = 1e-5;
  /// BatchNorm1d running-statistics momentum (PyTorch convention). Default 0.1.
  TORCH_ARG(double, bn_momentum) = 0.1;
  /// Whether the last Linear has a bias. Default false (the reference's); true gives the
  /// common PyTorch ports' head.
  TORCH_ARG(bool, last_bias) = false;
};

/// Linear(in -> hidden, bias) -> BatchNorm1d(hidden) -> ReLU -> Linear(hidden -> out, bias only
/// with last_bias(true)).
/// Input [B, in_dim], output [B, out_dim]; in training mode B must be > 1 (BatchNorm).
class MLPHeadImpl : public torch::nn::Cloneable<MLPHeadImpl> {
 public:
  explicit MLPHeadImpl(MLPHeadOptions options_) : options(std::move(options_)) { reset(); }

  void reset() override {
    TORCH_CHECK(options.in_dim() > 0, "MLPHead: in_dim must be > 0, got ", options.in_dim());
    TORCH_CHECK(options.hidden_dim() > 0, "MLPHead: hidden_dim must be > 0, got ", options.hidden_dim());
    TORCH_CHECK(options.out_dim() > 0, "MLPHead: out_dim must be > 0, got ", options.out_dim());
    TORCH_CHECK(options.bn_eps() > 0, "MLPHead: bn_eps must be > 0, got ", options.bn_eps());
    TORCH_CHECK(options.bn_momentum() >= 0 && options.bn_momentum() <= 1,
                "MLPHead: bn_momentum must be in [0, 1], got ", options.bn_momentum());
    fc1 = register_module("fc1", torch::nn::Linear(options.in_dim(), options.hidden_dim()));
    bn = register_module("bn", torch::nn::BatchNorm1d(torch::nn::BatchNormOptions(options.hidden_dim())
                                                          .eps(options.bn_eps())
                                                          .momentum(options.bn_momentum())));
    fc2 = register_module("fc2", torch::nn::Linear(torch::nn::LinearOptions(options.hidden_dim(), options.out_dim())
                                                       .bias(options.last_bias())));
  }

  at::Tensor forward(const at::Tensor& x) {
    TORCH_CHECK(x.dim() == 2 && x.size(1) == options.in_dim(), "MLPHead: input must have shape [B, ",
                options.in_dim(), "], got ", x.sizes());
    TORCH_CHECK(!is_training() || x.size(0) > 1,
                "MLPHead: training-mode BatchNorm needs a batch of more than one row, got ", x.sizes());
    // Through the registry: byol::distributed::convert_sync_batchnorm may have replaced "bn".
    return fc2(torch::nn::functional::relu(byol::detail::forward_norm_child(*this, "bn", bn, fc1(x))));
  }

  MLPHeadOptions options;
  torch::nn::Linear fc1{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
  torch::nn::Linear fc2{nullptr};
};
TORCH_MODULE(MLPHead);

}  // namespace byol::nn

#pragma once

/// BYOL<Encoder>: the whole method around any encoder.
///
///   online: encoder f -> projector g -> predictor q          (trained by the optimizer)
///   target: encoder f' -> projector g'                       (EMA of the online f, g; no grad)
///   loss(v1, v2) = l(q(g(f(v1))), g'(f'(v2))) + l(q(g(f(v2))), g'(f'(v1)))
///
///     torch::nn::Sequential encoder(...);                    // images -> [B, 512]
///     byol::BYOL<torch::nn::Sequential> model(encoder, byol::BYOLOptions(512));
///     auto loss = model.loss(view1, view2);
///     loss.backward(); optimizer.step(); model.update_target(tau);

#include <byol/detail/module_access.hpp>
#include <byol/ema.hpp>
#include <byol/heads.hpp>
#include <byol/loss.hpp>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/serialize/archive.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace byol {

/// Options of BYOL.
struct BYOLOptions {
  /// @param feature_dim  width F of the encoder's output [B, F]
  BYOLOptions(int64_t feature_dim) : feature_dim_(feature_dim) {}  // NOLINT(google-explicit-constructor)
  /// Width F of the encoder's output.
  TORCH_ARG(int64_t, feature_dim);
  /// Projector hidden width. Default 4096.
  TORCH_ARG(int64_t, hidden_dim) = 4096;
  /// Projection (and prediction) width. Default 256.
  TORCH_ARG(int64_t, projection_dim) = 256;
  /// Predictor hidden width. Default 4096.
  TORCH_ARG(int64_t, predictor_hidden_dim) = 4096;
  /// Whether the last Linear of the projector and of the predictor has a bias. Default false
  /// (the reference's, docs/spec.md); see nn::MLPHeadOptions::last_bias.
  TORCH_ARG(bool, head_last_bias) = false;
  /// Target-network options (buffer policy). Default: the reference's (own buffers).
  TORCH_ARG(EmaOptions, ema) = {};
};

/// What one BYOL forward pass over two views computes.
struct BYOLOutput {
  at::Tensor h1, h2;  ///< online encoder features of view 1 and 2, [B, F] (for online probes)
  at::Tensor p1, p2;  ///< online predictions, [B, projection_dim]
  at::Tensor z1, z2;  ///< target projections, [B, projection_dim], no grad
};

namespace detail {

/// Encoder followed by a projector: one arm of the siamese pair.
template <typename Encoder>
class ArmImpl : public torch::nn::Module {
 public:
  ArmImpl(Encoder encoder_, nn::MLPHead projector_) : encoder(std::move(encoder_)), projector(std::move(projector_)) {
    register_module("encoder", this->encoder);
    register_module("projector", this->projector);
  }

  /// Returns (features [B, F], projection [B, D]). Encoder outputs [B, F, 1, 1, ...] are flattened.
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x) {
    at::Tensor h = encoder->forward(x);
    if (h.dim() > 2) {
      h = h.flatten(1);
    }
    const int64_t width = projector->options.in_dim();
    TORCH_CHECK(h.dim() == 2 && h.size(1) == width, "BYOL: the encoder must output [B, feature_dim = ", width,
                "], got ", h.sizes(), " for an input of shape ", x.sizes());
    return {h, projector(h)};
  }

  Encoder encoder;
  nn::MLPHead projector;
};

}  // namespace detail

/// The BYOL learner around an encoder (a torch::nn::Sequential, a TORCH_MODULE type, or a
/// std::shared_ptr to a module) whose forward maps images to [B, feature_dim].
///
/// Its sub-modules are "online" (encoder + projector), "predictor" and "target" (the EMA copy),
/// so `to(device)`, `train()`/`eval()` and torch::save/load of the learner cover all three; the
/// optimizer gets online_parameters() only.
template <typename Encoder>
class BYOL : public torch::nn::Module {
 public:
  using Arm = std::shared_ptr<detail::ArmImpl<Encoder>>;

  /// For a Cloneable encoder: the target encoder is a deep copy.
  BYOL(Encoder encoder, BYOLOptions options) : BYOL(encoder, detail::clone_module(encoder, "BYOL"), options) {}

  /// For any encoder: `blank_twin` is a freshly built encoder of the same structure; the online
  /// weights are copied into it.
  BYOL(Encoder encoder, Encoder blank_twin, BYOLOptions options)
      : BYOL(build_(std::move(encoder), std::move(blank_twin), checked_(options))) {}

  /// Both views through both networks. Each view is its own batch for BatchNorm, as in the
  /// reference; the target runs without grad (in training mode it updates its own BN statistics).
  BYOLOutput forward(const at::Tensor& view1, const at::Tensor& view2) {
    TORCH_CHECK(view1.defined() && view2.defined(), "BYOL: a view is an undefined tensor");
    TORCH_CHECK(view1.sizes() == view2.sizes(), "BYOL: view1 ", view1.sizes(), " and view2 ", view2.sizes(),
                " must have the same shape");
    TORCH_CHECK(view1.dim() >= 1 && view1.size(0) > 1, "BYOL: a view must be a batch of more than one sample, got ",
                view1.sizes());
    BYOLOutput out;
    auto& online = ema_.online();
    auto one = online->forward(view1);
    auto two = online->forward(view2);
    out.h1 = one.first;
    out.h2 = two.first;
    out.p1 = predictor_(one.second);
    out.p2 = predictor_(two.second);
    {
      at::NoGradGuard no_grad;
      auto& target = ema_.target();
      out.z1 = target->forward(view1).second;
      out.z2 = target->forward(view2).second;
    }
    return out;
  }

  /// The symmetric BYOL loss of two views: byol_loss(p1, z2, p2, z1), in [0, 8].
  at::Tensor loss(const at::Tensor& view1, const at::Tensor& view2) {
    return loss(forward(view1, view2));
  }

  /// The symmetric BYOL loss of a forward pass, with the views paired as the method pairs them:
  /// byol_loss(out.p1, out.z2, out.p2, out.z1), in [0, 8]. Use it when the forward pass is also
  /// needed for something else (an online probe on out.h1, say):
  ///
  ///     byol::BYOLOutput out = model.forward(view1, view2);
  ///     auto loss = model.loss(out) + probe_loss(out.h1.detach());
  static at::Tensor loss(const BYOLOutput& out) {
    TORCH_CHECK(out.p1.defined() && out.p2.defined() && out.z1.defined() && out.z2.defined(),
                "BYOL::loss: the BYOLOutput has an undefined prediction or projection; pass what forward() returned");
    return functional::byol_loss(out.p1, out.z2, out.p2, out.z1);
  }

  /// The target update after an optimizer step: xi <- tau xi + (1 - tau) theta.
  void update_target(double tau) { ema_.update(tau); }

  /// The online encoder: what is kept after training.
  Encoder& encoder() { return ema_.online()->encoder; }
  /// The target encoder.
  Encoder& target_encoder() { return ema_.target()->encoder; }
  nn::MLPHead& projector() { return ema_.online()->projector; }
  nn::MLPHead& predictor() { return predictor_; }
  EmaTarget<Arm>& ema() { return ema_; }
  const BYOLOptions& options() const { return options_; }

  /// What the optimizer trains: online encoder, projector and predictor.
  std::vector<at::Tensor> online_parameters() const {
    std::vector<at::Tensor> params = ema_.online()->parameters();
    for (const auto& p : predictor_->parameters()) {
      params.push_back(p);
    }
    return params;
  }

 private:
  // The heads, built in a fixed order, since each draws its initial weights from the global
  // generator: the predictor, then the target's projector (whose weights are then overwritten
  // by the online ones), then the online projector. This is the order GCC used when the two
  // projectors were arguments of one call, so seeded runs keep their numbers.
  struct Parts {
    BYOLOptions options;
    nn::MLPHead predictor;
    Arm online;
    Arm target;
  };
  static Parts build_(Encoder encoder, Encoder blank_twin, const BYOLOptions& options) {
    check_twin_(encoder, blank_twin);
    nn::MLPHead predictor(nn::MLPHeadOptions(options.projection_dim())
                              .hidden_dim(options.predictor_hidden_dim())
                              .out_dim(options.projection_dim())
                              .last_bias(options.head_last_bias()));
    nn::MLPHead target_projector(projector_options_(options));
    nn::MLPHead online_projector(projector_options_(options));
    Arm online = std::make_shared<detail::ArmImpl<Encoder>>(std::move(encoder), std::move(online_projector));
    Arm target = std::make_shared<detail::ArmImpl<Encoder>>(std::move(blank_twin), std::move(target_projector));
    return Parts{options, std::move(predictor), std::move(online), std::move(target)};
  }
  explicit BYOL(Parts parts)
      : options_(std::move(parts.options)),
        predictor_(std::move(parts.predictor)),
        ema_(std::move(parts.online), std::move(parts.target), options_.ema()) {
    register_module("online", ema_.online());
    register_module("predictor", predictor_);
    register_module("target", ema_.target());
  }

  // A twin that is the online encoder (BYOL(enc, enc, ...), or `MyEncoder twin = enc;`, which
  // copies the handle, not the module) or shares any parameter with it would make the target
  // alias the online weights: they would stop requiring grad and the EMA would average a tensor
  // with itself.
  static void check_twin_(const Encoder& encoder, const Encoder& blank_twin) {
    using Access = detail::ModuleAccess<Encoder>;
    const std::shared_ptr<torch::nn::Module> online = Access::base(encoder);
    const std::shared_ptr<torch::nn::Module> twin = Access::base(blank_twin);
    TORCH_CHECK(online.get() != twin.get(),
                "BYOL: the blank twin is the online encoder itself (the same module, or a copy of its "
                "handle, which shares the module); pass a freshly constructed module of the same "
                "structure, e.g. MyEncoder(options), or make the encoder Cloneable and use the "
                "one-argument constructor BYOL(encoder, options)");
    std::unordered_set<const void*> storages;
    for (const auto& p : online->parameters()) {
      if (p.defined() && p.has_storage()) {
        storages.insert(p.storage().unsafeGetStorageImpl());
      }
    }
    for (const auto& named : twin->named_parameters()) {
      const at::Tensor& p = named.value();
      TORCH_CHECK(!(p.defined() && p.has_storage() && storages.count(p.storage().unsafeGetStorageImpl()) > 0),
                  "BYOL: parameter '", named.key(), "' of the blank twin shares its memory with a parameter "
                  "of the online encoder; pass a freshly constructed module of the same structure, e.g. "
                  "MyEncoder(options), that shares no sub-module or tensor with the online encoder, or "
                  "make the encoder Cloneable and use the one-argument constructor BYOL(encoder, options)");
    }
  }

  static BYOLOptions checked_(const BYOLOptions& o) {
    TORCH_CHECK(o.feature_dim() > 0, "BYOL: feature_dim must be > 0, got ", o.feature_dim());
    TORCH_CHECK(o.hidden_dim() > 0, "BYOL: hidden_dim must be > 0, got ", o.hidden_dim());
    TORCH_CHECK(o.projection_dim() > 0, "BYOL: projection_dim must be > 0, got ", o.projection_dim());
    TORCH_CHECK(o.predictor_hidden_dim() > 0, "BYOL: predictor_hidden_dim must be > 0, got ",
                o.predictor_hidden_dim());
    return o;
  }
  static nn::MLPHeadOptions projector_options_(const BYOLOptions& o) {
    return nn::MLPHeadOptions(o.feature_dim())
        .hidden_dim(o.hidden_dim())
        .out_dim(o.projection_dim())
        .last_bias(o.head_last_bias());
  }

  BYOLOptions options_;
  nn::MLPHead predictor_;
  EmaTarget<Arm> ema_;
};

/// torch::save(model, path) and torch::load(model, path) for a learner held by value (as the
/// examples hold it): LibTorch's own overloads take a std::shared_ptr<Module> or a ModuleHolder
/// only, and find these by argument-dependent lookup. They write and read what
/// `model.save(archive)` / `model.load(archive)` do: every parameter and buffer of the online
/// network, the predictor and the target, by name.
///
///     torch::save(model, "byol.pt");
///     torch::load(restored, "byol.pt");   // a learner built with the same encoder and options
template <typename Encoder>
torch::serialize::OutputArchive& operator<<(torch::serialize::OutputArchive& archive, const BYOL<Encoder>& model) {
  model.save(archive);
  return archive;
}

/// Reads into `model` what operator<< wrote (see there).
template <typename Encoder>
torch::serialize::InputArchive& operator>>(torch::serialize::InputArchive& archive, BYOL<Encoder>& model) {
  model.load(archive);
  return archive;
}

}  // namespace byol

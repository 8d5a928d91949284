#pragma once

/// The target network: an exponential moving average of the online network's weights.
///
///   xi <- tau * xi + (1 - tau) * theta        for every parameter, after each optimizer step
///
///     auto online = torch::nn::Sequential(torch::nn::Linear(8, 4), torch::nn::BatchNorm1d(4));
///     byol::EmaTarget<torch::nn::Sequential> ema(online);      // target = deep copy
///     ema.update(0.99);                                         // after optimizer.step()

#include <byol/detail/aliasing.hpp>
#include <byol/detail/aten/ema.hpp>
#include <byol/detail/blocks.hpp>
#include <byol/detail/cpu/ema.hpp>
#include <byol/detail/module_access.hpp>
#include <byol/detail/partition.hpp>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/ArrayRef.h>
#include <torch/arg.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace byol {

/// What EmaTarget::update does with buffers (BatchNorm running mean/var and the like).
enum class BufferPolicy {
  /// Leave them alone: the target keeps its own statistics, updated by its own forward pass in
  /// training mode on its own view (the reference's behaviour, the default).
  own,
  /// Copy the online network's buffers into the target at every update.
  copy,
  /// Apply the same moving average to floating-point buffers; copy the others (counters).
  average,
};

/// Options of EmaTarget.
struct EmaOptions {
  /// What update() does with buffers. Default: BufferPolicy::own (the reference).
  TORCH_ARG(BufferPolicy, buffers) = BufferPolicy::own;
};

namespace functional {

/// In place, for every pair: target[i] <- tau * target[i] + (1 - tau) * online[i].
///
/// CPU pairs of the same dtype and dense layout are updated in ONE parallel pass over all their
/// elements; pairs on another device go through one multi-tensor (foreach) call; any other pair
/// (different dtypes or strides) falls back to an in-place update of its own.
///
/// A target tensor listed more than once (tied weights) is updated once; its online partners
/// must then be the same tensor too. Two different target views of one storage whose memory
/// overlaps are an error naming both indices.
///
/// @param target  tensors to update (no gradient is recorded)
/// @param online  tensors of the same shapes, on the same devices
/// @param tau     in [0, 1]; 1 leaves target unchanged, 0 copies online
///
///     std::vector<torch::Tensor> xi = ..., theta = ...;
///     byol::functional::ema_update_(xi, theta, 0.996);
inline void ema_update_(c10::ArrayRef<at::Tensor> target, c10::ArrayRef<at::Tensor> online, double tau) {
  TORCH_CHECK(tau >= 0.0 && tau <= 1.0, "ema_update_: tau must be in [0, 1], got ", tau);
  TORCH_CHECK(target.size() == online.size(), "ema_update_: target has ", target.size(),
              " tensors but online has ", online.size());
  at::NoGradGuard no_grad;
  const std::vector<size_t> first = byol::detail::first_occurrences(target, "ema_update_", "target tensor");
  // Pairs of one dtype and dense layout go to a fused or a multi-tensor kernel (`part` says
  // which); any other pair is updated on its own.
  std::vector<at::Tensor> kernel_t, kernel_o, other_t, other_o;
  byol::detail::PathPartition part;
  for (size_t i = 0; i < target.size(); ++i) {
    const at::Tensor& t = target[i];
    const at::Tensor& o = online[i];
    TORCH_CHECK(t.defined() && o.defined(), "ema_update_: tensor ", i, " is undefined");
    if (first[i] != i) {
      // Tied: updated once, at its first occurrence, from the same online tensor.
      TORCH_CHECK(byol::detail::same_tensor(o, online[first[i]]), "ema_update_: target tensor ", i,
                  " is target tensor ", first[i], " again, but online tensors ", first[i], " and ", i,
                  " differ; a tied target needs the same (tied) online tensor");
      continue;
    }
    TORCH_CHECK(t.sizes() == o.sizes(), "ema_update_: tensor ", i, " has shape ", t.sizes(),
                " in target but ", o.sizes(), " in online");
    TORCH_CHECK(t.device() == o.device(), "ema_update_: tensor ", i, " is on ", t.device(),
                " in target but on ", o.device(), " in online");
    TORCH_CHECK(at::isFloatingType(t.scalar_type()), "ema_update_: target tensor ", i,
                " must be floating point, got ", t.scalar_type());
    if (t.numel() == 0) {
      continue;
    }
    if (t.scalar_type() == o.scalar_type() && byol::detail::same_dense_layout(t, o)) {
      part.add(kernel_t.size(), t.device(), /*fusable=*/true);
      kernel_t.push_back(t);
      kernel_o.push_back(o);
    } else {
      other_t.push_back(t);
      other_o.push_back(o);
    }
  }
  // Every pair is validated first; tau = 1 then leaves every target untouched (bitwise, even
  // where online holds an inf or a NaN, which 1 * x + 0 * inf would not).
  if (tau == 1.0) {
    return;
  }
  for (size_t i = 0; i < other_t.size(); ++i) {
    at::Tensor t = other_t[i];  // a handle: the update below writes into the target's storage
    t.mul_(tau).add_(other_o[i].to(t.scalar_type()), 1.0 - tau);
  }
  if (!part.fused().empty()) {
    detail::ema_update_cpu_(byol::detail::pick(kernel_t, part.fused()), byol::detail::pick(kernel_o, part.fused()),
                            tau);
  }
  for (const auto& group : part.aten()) {
    detail::ema_update_foreach_(byol::detail::pick(kernel_t, group.indices),
                                byol::detail::pick(kernel_o, group.indices), tau);
  }
}

}  // namespace functional

/// A target network that follows an online network by exponential moving average.
///
/// `Module` is a torch::nn::ModuleHolder (a TORCH_MODULE type, torch::nn::Sequential, ...) or a
/// std::shared_ptr to a module. The target starts as an exact copy of the online network
/// (parameters and buffers); none of its parameters requires grad.
///
///     MyNet online;                                   // TORCH_MODULE(MyNet), Cloneable or not
///     byol::EmaTarget<MyNet> ema(online, MyNet());    // the twin is built, weights copied in
///     ema.update(byol::schedule::target_tau(step, total, 0.99));
template <typename Module>
class EmaTarget {
  using Access = detail::ModuleAccess<Module>;

 public:
  /// Target = online->clone(): for modules whose Impl derives from torch::nn::Cloneable.
  explicit EmaTarget(Module online, EmaOptions options = {})
      : online_(std::move(online)), target_(detail::clone_module(online_, "EmaTarget")), options_(options) {
    init_();
  }

  /// For modules that are not Cloneable: `blank_twin` is a freshly built instance of the same
  /// structure (its initial weights do not matter); the online weights and buffers are copied in.
  EmaTarget(Module online, Module blank_twin, EmaOptions options = {})
      : online_(std::move(online)), target_(std::move(blank_twin)), options_(options) {
    init_();
  }

  /// xi <- tau * xi + (1 - tau) * theta for every parameter; buffers per EmaOptions::buffers.
  /// Follows the online network to a new device, dtype or memory format (after `.to(...)`)
  /// before averaging.
  ///
  /// The online module must still have the parameters it had when this EmaTarget was built:
  /// one registered, replaced or reshaped since is an error saying to rebuild the EmaTarget
  /// (the target would silently not follow it). Buffers are checked too unless the policy is
  /// BufferPolicy::own.
  void update(double tau) {
    TORCH_CHECK(tau >= 0.0 && tau <= 1.0, "EmaTarget::update: tau must be in [0, 1], got ", tau);
    check_structure_();
    at::NoGradGuard no_grad;
    follow_layout_(target_params_, online_params_);
    follow_layout_(target_buffers_, online_buffers_);
    functional::ema_update_(target_params_, online_params_, tau);
    switch (options_.buffers()) {
      case BufferPolicy::own:
        break;
      case BufferPolicy::copy:
        for (size_t i = 0; i < target_buffers_.size(); ++i) {
          target_buffers_[i].copy_(online_buffers_[i]);
        }
        break;
      case BufferPolicy::average: {
        std::vector<at::Tensor> t, o;
        for (size_t i = 0; i < target_buffers_.size(); ++i) {
          if (at::isFloatingType(target_buffers_[i].scalar_type())) {
            t.push_back(target_buffers_[i]);
            o.push_back(online_buffers_[i]);
          } else {
            target_buffers_[i].copy_(online_buffers_[i]);
          }
        }
        functional::ema_update_(t, o, tau);
        break;
      }
    }
  }

  /// Copies every online parameter and buffer into the target (an update with tau = 0 that
  /// also copies buffers, whatever the policy).
  void copy_from_online() {
    at::NoGradGuard no_grad;
    copy_all_(target_params_, online_params_);
    copy_all_(target_buffers_, online_buffers_);
  }

  /// The target network. None of its parameters requires grad.
  Module& target() { return target_; }
  const Module& target() const { return target_; }
  /// The online network, as given.
  Module& online() { return online_; }
  const Module& online() const { return online_; }
  const EmaOptions& options() const { return options_; }

 private:
  void init_() {
    auto online = Access::base(online_);
    auto target = Access::base(target_);
    TORCH_CHECK(online.get() != target.get(),
                "EmaTarget: the twin is the online module itself; pass a separately built instance");
    collect_(online->named_parameters(), target->named_parameters(), "parameter", online_params_,
             target_params_);
    collect_(online->named_buffers(), target->named_buffers(), "buffer", online_buffers_, target_buffers_);
    for (auto& p : target_params_) {
      p.set_requires_grad(false);
    }
    copy_from_online();
  }

  // The online module's parameters (and buffers, when they are followed) must be the tensors
  // collected at construction: same count, same tensors, same shapes.
  void check_structure_() const {
    auto online = Access::base(online_);
    check_same_(online->parameters(), online_params_, target_params_, "parameter",
                [&] { return online->named_parameters(); });
    if (options_.buffers() != BufferPolicy::own) {
      check_same_(online->buffers(), online_buffers_, target_buffers_, "buffer",
                  [&] { return online->named_buffers(); });
    }
  }

  template <typename Names>
  static void check_same_(const std::vector<at::Tensor>& now, const std::vector<at::Tensor>& built,
                          const std::vector<at::Tensor>& target, const char* what, const Names& names) {
    TORCH_CHECK(now.size() == built.size(), "EmaTarget::update: the online module has ", now.size(), " ", what,
                "s but had ", built.size(), " when the EmaTarget was built; the target does not follow ", what,
                "s registered or removed since: rebuild the EmaTarget (or build it after the model is complete)");
    for (size_t i = 0; i < now.size(); ++i) {
      // The target keeps the shape of construction time (set_data can reshape `built` in place).
      if (now[i].unsafeGetTensorImpl() != built[i].unsafeGetTensorImpl() || now[i].sizes() != target[i].sizes()) {
        const auto named = names();
        TORCH_CHECK(false, "EmaTarget::update: online ", what, " '", named[i].key(), "' (", now[i].sizes(),
                    ") was replaced or reshaped since the EmaTarget was built (", target[i].sizes(),
                    "); rebuild the EmaTarget");
      }
    }
  }

  static void collect_(const torch::OrderedDict<std::string, at::Tensor>& online,
                       const torch::OrderedDict<std::string, at::Tensor>& target, const char* what,
                       std::vector<at::Tensor>& online_out, std::vector<at::Tensor>& target_out) {
    TORCH_CHECK(online.size() == target.size(), "EmaTarget: the online module has ", online.size(), " ",
                what, "s but the target has ", target.size(), "; the twin must have the same structure");
    for (size_t i = 0; i < online.size(); ++i) {
      const auto& o = online[i];
      const auto& t = target[i];
      TORCH_CHECK(o.key() == t.key(), "EmaTarget: ", what, " ", i, " is '", o.key(), "' online but '",
                  t.key(), "' in the target; the twin must have the same structure");
      TORCH_CHECK(o.value().sizes() == t.value().sizes(), "EmaTarget: ", what, " '", o.key(),
                  "' has shape ", o.value().sizes(), " online but ", t.value().sizes(), " in the target");
      online_out.push_back(o.value());
      target_out.push_back(t.value());
    }
  }

  // Moves each target tensor to its online twin's device, dtype and strides, keeping its values,
  // so that the fused update sees matching layouts after the user calls online->to(...).
  static void follow_layout_(std::vector<at::Tensor>& target, const std::vector<at::Tensor>& online) {
    for (size_t i = 0; i < target.size(); ++i) {
      at::Tensor& t = target[i];
      const at::Tensor& o = online[i];
      if (t.device() != o.device() || t.scalar_type() != o.scalar_type() || t.strides() != o.strides()) {
        t.set_data(at::empty_like(o).copy_(t));
      }
    }
  }

  static void copy_all_(std::vector<at::Tensor>& target, const std::vector<at::Tensor>& online) {
    for (size_t i = 0; i < target.size(); ++i) {
      target[i].set_data(online[i].detach().clone());
    }
  }

  Module online_;
  Module target_;
  EmaOptions options_;
  std::vector<at::Tensor> online_params_, target_params_;
  std::vector<at::Tensor> online_buffers_, target_buffers_;
};

}  // namespace byol

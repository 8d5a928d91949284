#pragma once

/// LARS (You et al. 2017) as the BYOL reference uses it. For each parameter w with gradient g:
///
///   adapted (dim() >= 2 by default):  g' = g + weight_decay * w
///                                     trust = eta * ||w|| / ||g'||  if both norms > 0, else 1
///                                     u = trust * g'
///   excluded (biases, norm scales):   u = g
///   a group with trust_ratio(false):  u = g' for adapted parameters (plain SGD with momentum and
///                                     weight decay), u = g for excluded ones
///   then:                             m <- momentum * m + u ;   w <- w - lr * m
///
///     byol::optim::LARS lars(model->parameters(),
///                            byol::optim::LARSOptions(0.2 * batch / 256).weight_decay(1.5e-6));
///     loss.backward(); lars.step(); lars.zero_grad();

#include <byol/detail/aliasing.hpp>
#include <byol/detail/aten/lars.hpp>
#include <byol/detail/blocks.hpp>
#include <byol/detail/compat.hpp>
#include <byol/detail/cpu/lars.hpp>
#include <byol/detail/partition.hpp>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/serialize.h>
#include <torch/serialize/archive.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace byol::optim {

/// Options of LARS, per parameter group.
struct LARSOptions : public torch::optim::OptimizerCloneableOptions<LARSOptions> {
  /// @param lr  learning rate (the peak when a schedule drives it); >= 0
  LARSOptions(double lr = 0.1) : lr_(lr) {}  // NOLINT(google-explicit-constructor): as torch's options
  /// Learning rate. Paper: 0.2 * batch_size / 256.
  TORCH_ARG(double, lr) = 0.1;
  /// Heavy-ball momentum mu (no Nesterov). Default 0.9.
  TORCH_ARG(double, momentum) = 0.9;
  /// Decoupled-into-the-gradient weight decay lambda (g' = g + lambda w). Default 0; paper 1.5e-6.
  TORCH_ARG(double, weight_decay) = 0.0;
  /// Trust coefficient eta. Default 0.001.
  TORCH_ARG(double, eta) = 0.001;
  /// When true, parameters with dim() < 2 (biases, BatchNorm scales and shifts) get neither
  /// weight decay nor the trust ratio. Default true.
  TORCH_ARG(bool, exclude_bias_and_norm) = true;
  /// When false, the group's adapted parameters get no trust ratio (u = g + lambda w): plain SGD
  /// with momentum and weight decay, e.g. for an online linear probe in its own group, which the
  /// trust ratio would barely move (LARC's and solo-learn's switch). Default true.
  TORCH_ARG(bool, trust_ratio) = true;

 public:
  void serialize(torch::serialize::OutputArchive& archive) const override {
    archive.write("lr", c10::IValue(lr()));
    archive.write("momentum", c10::IValue(momentum()));
    archive.write("weight_decay", c10::IValue(weight_decay()));
    archive.write("eta", c10::IValue(eta()));
    archive.write("exclude_bias_and_norm", c10::IValue(exclude_bias_and_norm()));
    archive.write("trust_ratio", c10::IValue(trust_ratio()));
  }
  void serialize(torch::serialize::InputArchive& archive) override {
    c10::IValue value;
    archive.read("lr", value);
    lr(value.toDouble());
    archive.read("momentum", value);
    momentum(value.toDouble());
    archive.read("weight_decay", value);
    weight_decay(value.toDouble());
    archive.read("eta", value);
    eta(value.toDouble());
    archive.read("exclude_bias_and_norm", value);
    exclude_bias_and_norm(value.toBool());
    // Archives written before the field existed lack it: those groups used the trust ratio.
    trust_ratio(archive.try_read("trust_ratio", value) ? value.toBool() : true);
  }
  double get_lr() const override { return lr(); }
  void set_lr(const double value) override { lr(value); }

  friend bool operator==(const LARSOptions& a, const LARSOptions& b) {
    return a.lr() == b.lr() && a.momentum() == b.momentum() && a.weight_decay() == b.weight_decay() &&
           a.eta() == b.eta() && a.exclude_bias_and_norm() == b.exclude_bias_and_norm() && a.trust_ratio() == b.trust_ratio();
  }

  /// Checks every field; LARS calls it for the defaults and for each group.
  void check() const {
    TORCH_CHECK(lr() >= 0, "LARS: lr must be >= 0, got ", lr());
    TORCH_CHECK(momentum() >= 0 && momentum() < 1, "LARS: momentum must be in [0, 1), got ", momentum());
    TORCH_CHECK(weight_decay() >= 0, "LARS: weight_decay must be >= 0, got ", weight_decay());
    TORCH_CHECK(eta() > 0, "LARS: eta must be > 0, got ", eta());
  }
};

/// Per-parameter state of LARS: the momentum buffer m.
struct LARSParamState : public torch::optim::OptimizerCloneableParamState<LARSParamState> {
  /// m, same shape, dtype and device as the parameter; zero before the first step.
  TORCH_ARG(at::Tensor, momentum_buffer);

 public:
  void serialize(torch::serialize::OutputArchive& archive) const override {
    if (momentum_buffer().defined()) {
      archive.write("momentum_buffer", momentum_buffer(), /*is_buffer=*/true);
    }
  }
  void serialize(torch::serialize::InputArchive& archive) override {
    at::Tensor buffer;
    if (archive.try_read("momentum_buffer", buffer, /*is_buffer=*/true)) {
      momentum_buffer(buffer);
    }
  }
  friend bool operator==(const LARSParamState& a, const LARSParamState& b) {
    return a.momentum_buffer().defined() == b.momentum_buffer().defined() &&
           (!a.momentum_buffer().defined() || a.momentum_buffer().equal(b.momentum_buffer()));
  }
};


/// LARS as a torch::optim::Optimizer: parameter groups, state_dict save/load (the momentum
/// buffers, so a resumed run follows the identical trajectory), and LibTorch's LR schedulers,
/// which drive it through LARSOptions::get_lr/set_lr.
///
///     std::vector<torch::optim::OptimizerParamGroup> groups = {...};
///     byol::optim::LARS lars(groups, byol::optim::LARSOptions(4.8).weight_decay(1.5e-6));
///     byol::schedule::WarmupCosineLR schedule(lars, warmup_steps, total_steps);
///     ... lars.step(); schedule.step();
class LARS : public torch::optim::Optimizer {
 public:
  explicit LARS(std::vector<torch::optim::OptimizerParamGroup> param_groups, LARSOptions defaults = {})
      : torch::optim::Optimizer(std::move(param_groups), std::make_unique<LARSOptions>(defaults)) {
    defaults.check();
    for (const auto& group : param_groups_) {
      static_cast<const LARSOptions&>(group.options()).check();
    }
  }
  explicit LARS(std::vector<at::Tensor> params, LARSOptions defaults = {})
      : LARS({torch::optim::OptimizerParamGroup(std::move(params))}, defaults) {}

  /// One LARS step over every parameter that has a gradient. `closure`, when given, is called
  /// first (with grad enabled) and its loss returned.
  ///
  /// A tensor listed more than once (tied weights, in one group or in several) is updated once,
  /// with the options of the first group that lists it; two different views of one storage whose
  /// memory overlaps are an error. A gradient on another device than its parameter, or of
  /// another shape, is an error naming the group and the parameter's index in it.
  at::Tensor step(LossClosure closure = nullptr) override {
    at::NoGradGuard no_grad;
    at::Tensor loss;
    if (closure != nullptr) {
      at::AutoGradMode enable_grad(true);
      loss = closure();
    }
    // Every parameter with a gradient, in order, to find the ones listed twice.
    std::vector<at::Tensor> listed;
    for (size_t gi = 0; gi < param_groups_.size(); ++gi) {
      const auto& params = param_groups_[gi].params();
      for (size_t pi = 0; pi < params.size(); ++pi) {
        const at::Tensor& p = params[pi];
        if (!p.grad().defined()) {
          continue;
        }
        const at::Tensor& g = p.grad();
        TORCH_CHECK(!g.is_sparse(), "LARS: parameter ", pi, " of group ", gi, " has a sparse gradient; LARS does not ",
                    "support sparse gradients");
        TORCH_CHECK(g.device() == p.device(), "LARS: parameter ", pi, " of group ", gi, " is on ", p.device(),
                    " but its gradient is on ", g.device());
        TORCH_CHECK(g.sizes() == p.sizes(), "LARS: parameter ", pi, " of group ", gi, " has shape ", p.sizes(),
                    " but its gradient has shape ", g.sizes());
        TORCH_CHECK(at::isFloatingType(p.scalar_type()) && at::isFloatingType(g.scalar_type()), "LARS: parameter ",
                    pi, " of group ", gi, " (", p.scalar_type(), ") and its gradient (", g.scalar_type(),
                    ") must be floating point");
        listed.push_back(p);
      }
    }
    const std::vector<size_t> first = byol::detail::first_occurrences(listed, "LARS", "parameter (with a gradient)");
    size_t k = 0;
    for (auto& group : param_groups_) {
      const auto& options = static_cast<const LARSOptions&>(group.options());
      options.check();
      const detail::LARSStep hp{options.lr(), options.momentum(), options.weight_decay(), options.eta(),
                                options.trust_ratio()};
      std::vector<at::Tensor> ws, gs, ms;
      std::vector<char> adapted;
      byol::detail::PathPartition part;
      for (auto& p : group.params()) {
        if (!p.grad().defined()) {
          continue;
        }
        const bool repeated = first[k] != k;
        ++k;
        if (repeated) {
          continue;  // listed before: updated there
        }
        const at::Tensor& g = p.grad();
        at::Tensor& m = momentum_buffer_(p);
        const bool fusable = g.scalar_type() == p.scalar_type() && byol::detail::same_dense_layout(p, g) &&
                             byol::detail::same_dense_layout(p, m);
        part.add(ws.size(), p.device(), fusable);
        ws.push_back(p);
        // ATen's path is given a gradient converted to the parameter's dtype when it differs (the
        // fused kernel only takes entries where it does not).
        gs.push_back(g.scalar_type() == p.scalar_type() ? g : g.to(p.scalar_type()));
        ms.push_back(m);
        adapted.push_back(!(options.exclude_bias_and_norm() && p.dim() < 2));
      }
      if (!part.fused().empty()) {
        const auto& idx = part.fused();
        detail::lars_step_cpu(byol::detail::pick(ws, idx), byol::detail::pick(gs, idx), byol::detail::pick(ms, idx),
                              byol::detail::pick(adapted, idx), hp);
      }
      for (const auto& group_on_device : part.aten()) {
        const auto& idx = group_on_device.indices;
        detail::lars_step_foreach(byol::detail::pick(ws, idx), byol::detail::pick(gs, idx),
                                  byol::detail::pick(ms, idx), byol::detail::pick(adapted, idx), hp);
      }
    }
    return loss;
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    torch::optim::serialize<LARSParamState, LARSOptions>(archive, *this);
  }
  /// Restores what save() wrote, on any LibTorch release: the archive (LibTorch's optimizer
  /// layout, the same in 1.x and 2.x) names each parameter by a key that the writing process made
  /// from a pointer, hexadecimal in 1.x and decimal in 2.x. LibTorch 2.x's own loader parses the
  /// key as a decimal number, so every 1.x key reads as 0 and the states collide; here each group's
  /// i-th saved key is looked up as the text it is, so a state written by either release resumes
  /// on either. Nothing changes unless the whole archive reads and fits (shapes are checked).
  void load(torch::serialize::InputArchive& archive) override {
    c10::IValue version;
    TORCH_CHECK(archive.try_read("pytorch_version", version) && version.isString(),
                "LARS::load: the archive holds no optimizer state (no 'pytorch_version')");
    torch::serialize::InputArchive states, groups;
    TORCH_CHECK(archive.try_read("state", states) && archive.try_read("param_groups", groups),
                "LARS::load: the archive holds no optimizer state ('state' or 'param_groups' missing)");
    at::Tensor group_count;
    groups.read("param_groups/size", group_count);
    TORCH_CHECK(group_count.item<int64_t>() == static_cast<int64_t>(param_groups_.size()), "LARS::load: the state has ",
                group_count.item<int64_t>(), " parameter groups, this optimizer ", param_groups_.size());
    std::vector<LARSOptions> options;
    std::vector<std::pair<at::Tensor, std::unique_ptr<LARSParamState>>> loaded;
    for (size_t i = 0; i < param_groups_.size(); ++i) {
      torch::serialize::InputArchive group, options_archive;
      groups.read("param_groups/" + std::to_string(i), group);
      at::Tensor size;
      group.read("params/size", size);
      const auto& params = param_groups_[i].params();
      TORCH_CHECK(size.item<int64_t>() == static_cast<int64_t>(params.size()), "LARS::load: parameter group ", i,
                  " has ", size.item<int64_t>(), " parameters in the state, ", params.size(), " in this optimizer");
      for (size_t j = 0; j < params.size(); ++j) {
        c10::IValue key;
        group.read("params/" + std::to_string(j), key);
        TORCH_CHECK(key.isString(), "LARS::load: parameter ", j, " of group ", i, " has no key in the state");
        torch::serialize::InputArchive saved;
        auto state = std::make_unique<LARSParamState>();
        if (states.try_read(key.toStringRef(), saved)) {
          state->serialize(saved);
        }
        if (state->momentum_buffer().defined()) {
          TORCH_CHECK(state->momentum_buffer().sizes() == params[j].sizes(), "LARS::load: the momentum buffer of "
                      "parameter ", j, " of group ", i, " has shape ", state->momentum_buffer().sizes(),
                      " in the state but the parameter has shape ", params[j].sizes());
          loaded.emplace_back(params[j], std::move(state));
        } else {
          loaded.emplace_back(params[j], nullptr);
        }
      }
      group.read("options", options_archive);
      options.emplace_back(0.0);
      options.back().serialize(options_archive);
    }
    for (auto& [param, state] : loaded) {
      const auto key = byol::detail::optimizer_state_key(param);
      state_.erase(key);
      if (state) {
        state_.insert({key, std::move(state)});
      }
    }
    for (size_t i = 0; i < param_groups_.size(); ++i) {
      static_cast<LARSOptions&>(param_groups_[i].options()) = options[i];
    }
  }

 private:
  // The momentum buffer of p, created as zeros (same layout as p) on first use.
  at::Tensor& momentum_buffer_(const at::Tensor& p) {
    const auto key = byol::detail::optimizer_state_key(p);
    auto it = state_.find(key);
    if (it == state_.end()) {
      auto state = std::make_unique<LARSParamState>();
      state->momentum_buffer(at::zeros_like(p, at::MemoryFormat::Preserve));
      it = state_.insert({key, std::move(state)}).first;
    }
    auto& state = static_cast<LARSParamState&>(*it->second);
    TORCH_CHECK(state.momentum_buffer().defined() && state.momentum_buffer().sizes() == p.sizes(),
                "LARS: the saved momentum buffer does not match a parameter of shape ", p.sizes());
    if (state.momentum_buffer().device() != p.device() || state.momentum_buffer().scalar_type() != p.scalar_type()) {
      // The parameter moved (model.to(...)) after the state was created or loaded.
      state.momentum_buffer(state.momentum_buffer().to(p.options()));
    }
    return state.momentum_buffer();
  }
};

}  // namespace byol::optim

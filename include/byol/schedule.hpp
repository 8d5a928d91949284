#pragma once

/// Schedules of BYOL: the target decay rate tau and the learning rate, per optimizer step.
///
///   target_tau:     tau_k = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2          (tau_0 = base, tau_K = 1)
///   warmup_cosine:  k <  W:  peak * k / W
///                   k >= W:  final + (peak - final) (1 + cos(pi (k - W) / (K - W))) / 2
///
///     for (int64_t k = 0; k < total; ++k) {
///       ... lars.step(); schedule.step(); model.update_target(byol::schedule::target_tau(k, total, 0.99));
///     }
///
/// or, with the schedule objects (WarmupCosineLR, TargetTau) on one counter:
///
///     ... lars.step(); lr.step(); model.update_target(tau.step());

#include <torch/optim/optimizer.h>
#include <torch/optim/schedulers/lr_scheduler.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace byol::schedule {

namespace detail {
constexpr double kPi = 3.14159265358979323846;
}

/// The target network's decay rate at step k of K: 1 - (1 - base_tau) (cos(pi k / K) + 1) / 2.
///
/// @param step        k, in [0, total_steps]
/// @param total_steps K > 0
/// @param base_tau    tau_0 in [0, 1]; 0.996 for 1000-epoch runs, 0.99 for 100/300 epochs
inline double target_tau(int64_t step, int64_t total_steps, double base_tau) {
  TORCH_CHECK(total_steps > 0, "target_tau: total_steps must be > 0, got ", total_steps);
  TORCH_CHECK(step >= 0 && step <= total_steps, "target_tau: step must be in [0, total_steps = ", total_steps,
              "], got ", step);
  TORCH_CHECK(base_tau >= 0.0 && base_tau <= 1.0, "target_tau: base_tau must be in [0, 1], got ", base_tau);
  const double k = static_cast<double>(step) / static_cast<double>(total_steps);
  return 1.0 - (1.0 - base_tau) * (std::cos(detail::kPi * k) + 1.0) / 2.0;
}

/// Linear warm-up from 0 to `peak` over `warmup_steps`, then cosine decay to `final_value` at
/// `total_steps` (docs/spec.md's learning-rate schedule with final_value = 0).
///
/// @param step          k, in [0, total_steps]
/// @param warmup_steps  W, in [0, total_steps)
/// @param total_steps   K > 0
/// @param peak          value reached at k = W (lr_peak = base_lr * batch / 256)
/// @param final_value   value at k = K. Default 0.
inline double warmup_cosine(int64_t step, int64_t warmup_steps, int64_t total_steps, double peak,
                            double final_value = 0.0) {
  TORCH_CHECK(total_steps > 0, "warmup_cosine: total_steps must be > 0, got ", total_steps);
  TORCH_CHECK(warmup_steps >= 0 && warmup_steps < total_steps,
              "warmup_cosine: warmup_steps must be in [0, total_steps = ", total_steps, "), got ", warmup_steps);
  TORCH_CHECK(step >= 0 && step <= total_steps, "warmup_cosine: step must be in [0, total_steps = ", total_steps,
              "], got ", step);
  if (step < warmup_steps) {
    return peak * static_cast<double>(step) / static_cast<double>(warmup_steps);
  }
  const double progress =
      static_cast<double>(step - warmup_steps) / static_cast<double>(total_steps - warmup_steps);
  return final_value + (peak - final_value) * (1.0 + std::cos(detail::kPi * progress)) / 2.0;
}

/// A torch::optim::LRScheduler that sets every parameter group's learning rate to
/// warmup_cosine(k, W, K, peak_g, final_value), where peak_g is the group's learning rate when
/// the scheduler is built. Construction applies step 0 (lr 0 when W > 0); each step() moves to
/// the next step. Build it before loading an optimizer checkpoint (the peaks are read at
/// construction), then call set_step(k) to resume.
///
///     byol::optim::LARS lars(params, byol::optim::LARSOptions(peak_lr));
///     byol::schedule::WarmupCosineLR schedule(lars, 10 * steps_per_epoch, total_steps);
///     for (...) { ...; lars.step(); schedule.step(); }
class WarmupCosineLR : public torch::optim::LRScheduler {
 public:
  WarmupCosineLR(torch::optim::Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps,
                 double final_value = 0.0, int64_t start_step = 0)
      : torch::optim::LRScheduler(optimizer),
        optimizer_(optimizer),
        warmup_steps_(warmup_steps),
        total_steps_(total_steps),
        final_value_(final_value),
        peaks_(get_current_lrs()) {
    // Validates the arguments once, with warmup_cosine's messages.
    (void)warmup_cosine(0, warmup_steps_, total_steps_, 0.0, final_value_);
    set_step(start_step);
  }

  /// The step whose learning rate is in effect now.
  int64_t current_step() const { return current_; }
  /// The learning rate each group reached at warm-up's end.
  const std::vector<double>& peaks() const { return peaks_; }
  /// W.
  int64_t warmup_steps() const { return warmup_steps_; }
  /// K.
  int64_t total_steps() const { return total_steps_; }

  /// Jumps to step k (for resuming) and sets the learning rates of step k.
  void set_step(int64_t step) {
    TORCH_CHECK(step >= 0 && step <= total_steps_, "WarmupCosineLR::set_step: step must be in [0, ",
                total_steps_, "], got ", step);
    current_ = step;
    apply_(lrs_at_(step));
  }

 protected:
  // LRScheduler::step() asks for the learning rates of the next step, then applies them.
  std::vector<double> get_lrs() override {
    current_ = std::min(current_ + 1, total_steps_);
    return lrs_at_(current_);
  }

 private:
  std::vector<double> lrs_at_(int64_t step) const {
    std::vector<double> lrs;
    lrs.reserve(peaks_.size());
    for (const double peak : peaks_) {
      lrs.push_back(warmup_cosine(step, warmup_steps_, total_steps_, peak, final_value_));
    }
    return lrs;
  }

  void apply_(const std::vector<double>& lrs) {
    auto& groups = optimizer_.param_groups();
    TORCH_CHECK(groups.size() == lrs.size(), "WarmupCosineLR: the optimizer has ", groups.size(),
                " parameter groups, the scheduler was built for ", lrs.size());
    for (size_t i = 0; i < groups.size(); ++i) {
      groups[i].options().set_lr(lrs[i]);
    }
  }

  torch::optim::Optimizer& optimizer_;
  int64_t warmup_steps_;
  int64_t total_steps_;
  double final_value_;
  std::vector<double> peaks_;
  int64_t current_ = 0;
};

/// The target decay rate as an object beside WarmupCosineLR, on the same step counter: it
/// holds k, the number of updates done, and `step()` returns tau_k (the decay rate of the target
/// update that follows update k, as in the reference, where tau and the learning rate of one
/// update come from the same `global_step`) and moves to k + 1. After the k-th call both this
/// and a WarmupCosineLR stepped alongside have current_step() == k.
///
///   tau_k = 1 - (1 - base_tau) (cos(pi k / K) + 1) / 2        (target_tau; tau_0 = base_tau)
///
///     byol::schedule::WarmupCosineLR lr(lars, warmup, total);
///     byol::schedule::TargetTau tau(0.996, total);
///     for (...) { loss.backward(); lars.step(); lr.step(); model.update_target(tau.step()); }
class TargetTau {
 public:
  /// @param base_tau     tau_0 in [0, 1]: 0.996 for 1000-epoch runs, 0.99 for 100/300 epochs
  /// @param total_steps  K > 0, the run's number of optimizer updates
  /// @param start_step   the step a resumed run starts at, in [0, K]. Default 0.
  TargetTau(double base_tau, int64_t total_steps, int64_t start_step = 0)
      : base_tau_(base_tau), total_steps_(total_steps) {
    // Validates the arguments once, with target_tau's messages.
    (void)target_tau(0, total_steps_, base_tau_);
    set_step(start_step);
  }

  /// tau_k, k = current_step(): the decay rate the next target update uses.
  double get() const { return target_tau(current_, total_steps_, base_tau_); }

  /// Returns tau_k for the target update that follows optimizer update k, then moves to k + 1
  /// (past K it stays at K, where tau is 1).
  double step() {
    const double tau = get();
    current_ = std::min(current_ + 1, total_steps_);
    return tau;
  }

  /// Jumps to step k (for resuming), k in [0, K].
  void set_step(int64_t step) {
    TORCH_CHECK(step >= 0 && step <= total_steps_, "TargetTau::set_step: step must be in [0, ", total_steps_,
                "], got ", step);
    current_ = step;
  }

  /// k: the updates done so far.
  int64_t current_step() const { return current_; }
  /// tau_0.
  double base_tau() const { return base_tau_; }
  /// K.
  int64_t total_steps() const { return total_steps_; }

 private:
  double base_tau_;
  int64_t total_steps_;
  int64_t current_ = 0;
};

}  // namespace byol::schedule

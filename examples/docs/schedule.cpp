// docs/schedule.md: the learning-rate and target-decay schedules, and the reference's presets.
#include <byol/optim/lars.hpp>
#include <byol/presets.hpp>
#include <byol/schedule.hpp>

#include <torch/torch.h>

#include <iostream>

int example_schedule() {
  const int64_t steps_per_epoch = 312, epochs = 300;
  const int64_t total = steps_per_epoch * epochs, warmup = 10 * steps_per_epoch;
  const double peak = 0.3 * 4096 / 256;
  for (const int64_t k : {int64_t{0}, warmup / 2, warmup, (warmup + total) / 2, total}) {
    std::cout << "step " << k << ": lr " << byol::schedule::warmup_cosine(k, warmup, total, peak) << ", tau "
              << byol::schedule::target_tau(k, total, 0.99) << "\n";
  }

  // The objects, on one counter: a 300-epoch run with the reference's preset.
  const auto preset = byol::presets::imagenet_300_epochs();
  auto w = torch::randn({4, 4}, torch::requires_grad());
  byol::optim::LARS lars({w}, byol::optim::LARSOptions(preset.peak_lr(4096)).weight_decay(preset.weight_decay));
  byol::schedule::WarmupCosineLR lr(lars, warmup, total);
  byol::schedule::TargetTau tau(preset.base_tau, total);
  double first_tau = 0;
  for (int k = 0; k < 3; ++k) {
    w.mutable_grad() = torch::randn({4, 4});
    lars.step();
    lr.step();
    const double t = tau.step();  // model.update_target(t) in a training loop
    if (k == 0) first_tau = t;
  }
  const bool ok = byol::schedule::target_tau(total, total, 0.99) == 1.0 && first_tau == preset.base_tau &&
                  lr.current_step() == tau.current_step();
  return ok ? 0 : 1;
}

// docs/schedule.md: the learning-rate and target-decay schedules.
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
  return byol::schedule::target_tau(total, total, 0.99) == 1.0 ? 0 : 1;
}

// docs/ema.md: a target network that follows the online network by moving average.
#include <byol/ema.hpp>
#include <byol/schedule.hpp>

#include <torch/torch.h>

#include <iostream>

int example_ema() {
  torch::nn::Sequential online(torch::nn::Linear(32, 64), torch::nn::BatchNorm1d(64), torch::nn::Linear(64, 16));

  // The target starts as a deep copy; its parameters never require grad.
  byol::EmaTarget<torch::nn::Sequential> ema(online, byol::EmaOptions().buffers(byol::BufferPolicy::own));

  const int64_t total_steps = 100;
  for (int64_t step = 0; step < 3; ++step) {
    // ... loss.backward(); optimizer.step(); on the online network ...
    ema.update(byol::schedule::target_tau(step, total_steps, /*base_tau=*/0.99));
  }
  auto z = ema.target()->forward(torch::randn({8, 32}));
  std::cout << "target output " << z.sizes() << "\n";
  return z.size(1) == 16 ? 0 : 1;
}

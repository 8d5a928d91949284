// docs/lars.md: LARS with the paper's settings, weight decay, and biases/norms excluded.
#include <byol/optim/lars.hpp>
#include <byol/schedule.hpp>

#include <torch/torch.h>

#include <iostream>

int example_lars() {
  torch::nn::Linear model(128, 10);
  const int64_t batch_size = 4096;
  const double peak_lr = 0.2 * batch_size / 256;  // base_lr 0.2, scaled by batch / 256

  byol::optim::LARS lars(model->parameters(), byol::optim::LARSOptions(peak_lr)
                                                  .momentum(0.9)
                                                  .weight_decay(1.5e-6)
                                                  .eta(0.001)
                                                  .exclude_bias_and_norm(true));
  byol::schedule::WarmupCosineLR schedule(lars, /*warmup_steps=*/10, /*total_steps=*/100);

  for (int step = 0; step < 3; ++step) {
    auto loss = model(torch::randn({32, 128})).pow(2).mean();
    lars.zero_grad();
    loss.backward();
    lars.step();
    schedule.step();
  }
  std::cout << "lr after 3 steps " << lars.param_groups()[0].options().get_lr() << "\n";
  return 0;
}

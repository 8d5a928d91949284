// docs/learner.md: BYOL around an encoder, trained with LARS and the schedules.
#include <byol/learner.hpp>
#include <byol/optim/lars.hpp>
#include <byol/schedule.hpp>

#include <torch/torch.h>

#include <iostream>

int example_learner() {
  torch::nn::Sequential encoder(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 16, 3).padding(1)),
                                torch::nn::BatchNorm2d(16), torch::nn::ReLU(),
                                torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(1)),
                                torch::nn::Flatten());  // images -> [B, 16]

  byol::BYOL<torch::nn::Sequential> model(encoder, byol::BYOLOptions(16).hidden_dim(256).projection_dim(64));
  byol::optim::LARS lars(model.online_parameters(), byol::optim::LARSOptions(0.2).weight_decay(1.5e-6));

  const int64_t total_steps = 3;
  for (int64_t step = 0; step < total_steps; ++step) {
    const auto view1 = torch::rand({8, 3, 16, 16});
    const auto view2 = torch::rand({8, 3, 16, 16});
    auto loss = model.loss(view1, view2);
    lars.zero_grad();
    loss.backward();
    lars.step();
    model.update_target(byol::schedule::target_tau(step, total_steps, 0.99));
    std::cout << "step " << step << " loss " << loss.item<float>() << "\n";
  }
  // After training, keep the online encoder.
  torch::nn::Sequential trained = model.encoder();
  return trained->size() == 5 ? 0 : 1;
}

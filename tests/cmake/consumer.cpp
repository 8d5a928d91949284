// A user's program: includes the umbrella header and runs one loss + EMA + LARS step.
#include <byol/byol.hpp>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include <iostream>

int main() {
  torch::nn::Sequential encoder(torch::nn::Linear(8, 16));
  byol::BYOL<torch::nn::Sequential> model(encoder, byol::BYOLOptions(16).hidden_dim(32).projection_dim(8)
                                                       .predictor_hidden_dim(32));
  byol::optim::LARS lars(model.online_parameters(), byol::optim::LARSOptions(0.1));
  auto loss = model.loss(torch::randn({4, 8}), torch::randn({4, 8}));
  loss.backward();
  lars.step();
  model.update_target(byol::schedule::target_tau(1, 10, 0.99));
  const double value = loss.item<double>();
  if (!(value >= 0.0 && value <= 8.0)) {
    std::cerr << "loss out of range: " << value << "\n";
    return 1;
  }
  std::cout << "byol consumer ok, loss " << value << "\n";
  return 0;
}

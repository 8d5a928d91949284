// docs/loss.md: the symmetric BYOL loss on predictions and target projections.
#include <byol/loss.hpp>

#include <torch/torch.h>

#include <iostream>

int example_loss() {
  const auto p1 = torch::randn({256, 256}, torch::requires_grad());  // online predictions, view 1
  const auto p2 = torch::randn({256, 256}, torch::requires_grad());  // online predictions, view 2
  const auto z1 = torch::randn({256, 256});                          // target projections, view 1
  const auto z2 = torch::randn({256, 256});                          // target projections, view 2

  auto loss = byol::functional::byol_loss(p1, z2, p2, z1);  // 0-dim float32, in [0, 8]
  loss.backward();                                          // gradients reach p1 and p2 only

  // One direction alone, and the module form.
  auto one_way = byol::functional::normalized_mse(p1, z2);
  byol::nn::BYOLLoss criterion;
  auto same = criterion(p1, z2, p2, z1);

  std::cout << "loss " << loss.item<float>() << " = " << one_way.item<float>() << " + ...; module "
            << same.item<float>() << "\n";
  return loss.item<float>() >= 0 && loss.item<float>() <= 8 ? 0 : 1;
}

// docs/heads.md: the projector and predictor.
#include <byol/heads.hpp>

#include <torch/torch.h>

#include <iostream>

int example_heads() {
  byol::nn::MLPHead projector(byol::nn::MLPHeadOptions(2048));                    // 2048 -> 4096 -> 256
  byol::nn::MLPHead predictor(byol::nn::MLPHeadOptions(256));                     // 256 -> 4096 -> 256
  byol::nn::MLPHead small(byol::nn::MLPHeadOptions(512).hidden_dim(1024).out_dim(128));

  auto z = projector(torch::randn({8, 2048}));
  auto p = predictor(z);
  std::cout << "projection " << z.sizes() << ", prediction " << p.sizes() << ", small head "
            << small(torch::randn({4, 512})).sizes() << "\n";
  return p.size(1) == 256 ? 0 : 1;
}

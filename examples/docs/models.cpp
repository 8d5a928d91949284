// docs/models.md: ResNets with torchvision's names, a small CNN, and BYOL around them.
#include <byol/learner.hpp>
#include <byol/models.hpp>

#include <torch/torch.h>

#include <iostream>

int example_models() {
  // torchvision's resnet50; num_classes(0) drops the fc: an encoder of [B, 2048] features.
  byol::models::ResNet resnet50(byol::models::ResNetOptions::resnet50().num_classes(0));
  // ResNet-18 for 32x32 images: 3x3 stride-1 stem, no max-pool; [B, 512].
  byol::models::ResNet cifar(byol::models::ResNetOptions::resnet18().num_classes(0).small_stem(true));
  // A small CNN for 28x28 gray images on a CPU; [B, 256].
  byol::models::SmallCNN small(byol::models::SmallCNNOptions().in_channels(1));
  {
    torch::NoGradGuard no_grad;
    std::cout << "resnet50 " << resnet50(torch::randn({2, 3, 64, 64})).sizes() << ", cifar resnet18 "
              << cifar(torch::randn({2, 3, 32, 32})).sizes() << ", small cnn "
              << small(torch::randn({2, 1, 28, 28})).sizes() << "\n";
  }
  // The names match torchvision's state_dict, buffers included.
  std::cout << "has layer2.0.downsample.1.running_var: "
            << (resnet50->named_buffers().find("layer2.0.downsample.1.running_var") != nullptr) << "\n";

  // Any of them is a BYOL encoder (the target network is a deep copy: the Impls are Cloneable).
  byol::BYOL<byol::models::SmallCNN> model(small, byol::BYOLOptions(small->feature_dim()).hidden_dim(512));
  auto loss = model.loss(torch::rand({8, 1, 28, 28}), torch::rand({8, 1, 28, 28}));
  loss.backward();
  std::cout << "BYOL loss with the small CNN: " << loss.item<double>() << "\n";
  return resnet50->feature_dim() == 2048 && cifar->feature_dim() == 512 ? 0 : 1;
}

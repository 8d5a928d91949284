#pragma once

/// byol::models: encoders to train with BYOL. LibTorch alone (the byol::byol target).
///
///     #include <byol/models.hpp>
///
/// or one header each: models/resnet.hpp (ResNet-18/34/50/101/152 with torchvision's names),
/// models/small_cnn.hpp (a small CNN for 28x28 images on a CPU).
///
///     byol::models::ResNet resnet(byol::models::ResNetOptions::resnet50().num_classes(0));   // [B, 2048]
///     byol::models::SmallCNN small(byol::models::SmallCNNOptions().in_channels(1));         // [B, 256]

#include <byol/models/resnet.hpp>
#include <byol/models/small_cnn.hpp>

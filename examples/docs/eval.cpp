// docs/eval.md: k-NN and linear evaluation of an encoder's frozen features, the online probe and
// the collapse metric.
#include <byol/eval.hpp>

#include <torch/torch.h>

#include <iostream>

int example_eval() {
  torch::nn::Sequential encoder(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3).stride(2)), torch::nn::ReLU(),
                                torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(1)),
                                torch::nn::Flatten());  // [B, 1, 28, 28] -> [B, 8]
  const auto train_images = torch::randint(0, 256, {512, 1, 28, 28}).to(torch::kByte);
  const auto test_images = torch::randint(0, 256, {128, 1, 28, 28}).to(torch::kByte);
  const auto train_labels = torch::randint(10, {512}, torch::kLong);
  const auto test_labels = torch::randint(10, {128}, torch::kLong);

  // Frozen features: eval mode, no grad, uint8 scaled to [0, 1].
  const auto train_f = byol::eval::extract_features(encoder, train_images, /*batch_size=*/256);
  const auto test_f = byol::eval::extract_features(encoder, test_images, 256);

  const double knn = byol::eval::knn_accuracy(train_f, train_labels, test_f, test_labels,
                                              byol::eval::KNNOptions().k(20).temperature(0.1));
  const auto linear = byol::eval::linear_eval(train_f, train_labels, test_f, test_labels,
                                              byol::eval::LinearEvalOptions().epochs(5));

  // During pre-training: a linear classifier on the stop-gradient of the features.
  byol::eval::OnlineProbe probe(8, 10);
  auto probe_loss = probe->loss(train_f.narrow(0, 0, 64), train_labels.narrow(0, 0, 64));

  // The collapse metric: about 1/sqrt(D) for spread-out outputs, 0 for collapsed ones.
  const double spread = byol::eval::collapse_std(torch::randn({256, 64}));
  const double collapsed = byol::eval::collapse_std(torch::ones({256, 64}));
  std::cout << "collapse_std " << spread << " (healthy " << byol::eval::healthy_collapse_std(64) << "), collapsed "
            << collapsed << "\n";

  std::cout << "k-NN " << knn << ", linear " << linear.test_accuracy << ", probe loss " << probe_loss.item<float>()
            << " (random labels: about 0.1 expected)\n";
  return collapsed == 0.0 && spread > 0.5 * byol::eval::healthy_collapse_std(64) ? 0 : 1;
}

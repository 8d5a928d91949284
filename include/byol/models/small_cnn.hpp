#pragma once

/// A small convolutional encoder sized to train BYOL on 28x28 images (Fashion-MNIST) on a
/// 2-core CPU: a stack of conv3x3 -> BatchNorm -> ReLU blocks, then a global average pool.
///
///   default: 1 -> 32 (stride 2, 14x14) -> 64 (stride 2, 7x7) -> 128 (stride 2, 4x4)
///            -> 256 (stride 1, 4x4) -> mean over H, W -> [B, 256]
///   0.39 M parameters and 6.9 M multiply-adds per 28x28 image. Striding the first block
///   (rather than the last) makes a BYOL step about 5x cheaper on a CPU: full-resolution
///   feature maps dominate the cost of the backward pass.
///
///     byol::models::SmallCNN encoder(byol::models::SmallCNNOptions().in_channels(1));
///     auto h = encoder(torch::randn({16, 1, 28, 28}));                        // [16, 256]
///     byol::BYOL<byol::models::SmallCNN> model(encoder, byol::BYOLOptions(encoder->feature_dim()));

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace byol::models {

/// Options of SmallCNN.
struct SmallCNNOptions {
  /// Channels of the input images. Default 1 (Fashion-MNIST).
  TORCH_ARG(int64_t, in_channels) = 1;
  /// Output channels of each block; the last is the feature width. Default {32, 64, 128, 256}.
  TORCH_ARG(std::vector<int64_t>, channels) = std::vector<int64_t>{32, 64, 128, 256};
  /// Stride of each block's convolution (1 or 2), one per block. Default {2, 2, 2, 1}.
  TORCH_ARG(std::vector<int64_t>, strides) = std::vector<int64_t>{2, 2, 2, 1};
};

/// conv3x3(stride, padding 1, no bias) -> BatchNorm2d -> ReLU per block, held in one Sequential
/// `features` (parameter names features.0.weight, features.1.weight, features.1.running_mean,
/// ...: three entries per block, the ReLU holding none), then the spatial mean. Input
/// [B, in_channels, H, W] floating point; output [B, channels.back()]. Convolutions start
/// kaiming_normal (fan_out, ReLU) and BatchNorm at weight 1, bias 0, as in ResNet.
///
///     byol::models::SmallCNN net(byol::models::SmallCNNOptions().in_channels(3));
///     auto h = net(torch::randn({4, 3, 32, 32}));     // [4, 256]
///     net->feature_dim();                              // 256
class SmallCNNImpl : public torch::nn::Cloneable<SmallCNNImpl> {
 public:
  explicit SmallCNNImpl(SmallCNNOptions options_ = {}) : options(std::move(options_)) { reset(); }

  void reset() override {
    const SmallCNNOptions& o = options;
    TORCH_CHECK(o.in_channels() > 0, "SmallCNN: in_channels must be > 0, got ", o.in_channels());
    TORCH_CHECK(!o.channels().empty(), "SmallCNN: channels must have at least one entry");
    TORCH_CHECK(o.strides().size() == o.channels().size(), "SmallCNN: strides ", c10::IntArrayRef(o.strides()),
                " must have one entry per block of channels ", c10::IntArrayRef(o.channels()));
    features = torch::nn::Sequential();
    int64_t in = o.in_channels();
    for (size_t b = 0; b < o.channels().size(); ++b) {
      const int64_t out = o.channels()[b];
      const int64_t stride = o.strides()[b];
      TORCH_CHECK(out > 0, "SmallCNN: every entry of channels must be > 0, got ", c10::IntArrayRef(o.channels()));
      TORCH_CHECK(stride == 1 || stride == 2, "SmallCNN: every stride must be 1 or 2, got ",
                  c10::IntArrayRef(o.strides()));
      torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
      {
        at::NoGradGuard no_grad;
        torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      }
      features->push_back(conv);
      features->push_back(torch::nn::BatchNorm2d(out));
      features->push_back(torch::nn::ReLU());
      in = out;
    }
    features = register_module("features", features);
  }

  at::Tensor forward(const at::Tensor& x) {
    TORCH_CHECK(x.dim() == 4 && x.size(1) == options.in_channels(), "SmallCNN: input must have shape [B, ",
                options.in_channels(), ", H, W], got ", x.sizes());
    TORCH_CHECK(at::isFloatingType(x.scalar_type()), "SmallCNN: input must be floating point, got ",
                x.scalar_type());
    return features->forward(x).mean({2, 3});
  }

  /// Width of the output features: channels.back().
  int64_t feature_dim() const { return options.channels().back(); }

  SmallCNNOptions options;
  torch::nn::Sequential features{nullptr};
};
TORCH_MODULE(SmallCNN);

}  // namespace byol::models

#pragma once

/// ResNet (He et al. 2016) with torchvision's exact parameter and buffer names, shapes and
/// initialisation, so that state dicts line up with torchvision's `resnet18` / `resnet50`.
///
///   conv1 -> bn1 -> relu -> maxpool -> layer1..layer4 -> global average pool -> fc
///   BasicBlock (ResNet-18/34, expansion 1): 3x3 -> 3x3
///   Bottleneck (ResNet-50/101/152, expansion 4): 1x1 -> 3x3 (carries the stride, "v1.5") -> 1x1
///   small_stem: conv1 is 3x3 stride 1 and there is no max-pool (CIFAR-sized inputs)
///   num_classes = 0: no fc; forward returns the pooled features [B, 512 * expansion]
///
///     byol::models::ResNet encoder(byol::models::ResNetOptions::resnet18().num_classes(0).small_stem(true));
///     auto h = encoder(torch::randn({8, 3, 32, 32}));            // [8, 512]
///     byol::BYOL<byol::models::ResNet> model(encoder, byol::BYOLOptions(encoder->feature_dim()));

#include <byol/detail/norm_dispatch.hpp>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace byol::models {

/// The residual block a ResNet is built from.
enum class ResNetBlock {
  /// Two 3x3 convolutions; expansion 1 (ResNet-18, -34).
  basic,
  /// 1x1 -> 3x3 -> 1x1 convolutions; expansion 4 (ResNet-50, -101, -152).
  bottleneck,
};

/// Options of ResNet. Start from a named depth and adjust:
///
///     auto options = byol::models::ResNetOptions::resnet50().num_classes(0);
///     auto cifar = byol::models::ResNetOptions::resnet18().small_stem(true).num_classes(10);
///     byol::models::ResNet net(options);
struct ResNetOptions {
  /// @param block   residual block type
  /// @param layers  blocks per stage, 4 entries (ResNet-18: {2, 2, 2, 2}; ResNet-50: {3, 4, 6, 3})
  ResNetOptions(ResNetBlock block, std::vector<int64_t> layers) : block_(block), layers_(std::move(layers)) {}

  /// torchvision's resnet18: BasicBlock, {2, 2, 2, 2}; 11,689,512 parameters with the 1000-way fc.
  static ResNetOptions resnet18() { return ResNetOptions(ResNetBlock::basic, {2, 2, 2, 2}); }
  /// torchvision's resnet34: BasicBlock, {3, 4, 6, 3}.
  static ResNetOptions resnet34() { return ResNetOptions(ResNetBlock::basic, {3, 4, 6, 3}); }
  /// torchvision's resnet50: Bottleneck, {3, 4, 6, 3}; 25,557,032 parameters with the fc.
  static ResNetOptions resnet50() { return ResNetOptions(ResNetBlock::bottleneck, {3, 4, 6, 3}); }
  /// torchvision's resnet101: Bottleneck, {3, 4, 23, 3}.
  static ResNetOptions resnet101() { return ResNetOptions(ResNetBlock::bottleneck, {3, 4, 23, 3}); }
  /// torchvision's resnet152: Bottleneck, {3, 8, 36, 3}.
  static ResNetOptions resnet152() { return ResNetOptions(ResNetBlock::bottleneck, {3, 8, 36, 3}); }
  /// The options of torchvision's model of that name: "resnet18", "resnet34", "resnet50",
  /// "resnet101" or "resnet152" (a command-line flag, say); any other name is an error that
  /// lists them.
  ///
  ///     auto options = byol::models::ResNetOptions::named("resnet50").num_classes(0);
  static ResNetOptions named(const std::string& name) {
    if (name == "resnet18") return resnet18();
    if (name == "resnet34") return resnet34();
    if (name == "resnet50") return resnet50();
    if (name == "resnet101") return resnet101();
    TORCH_CHECK(name == "resnet152", "ResNetOptions::named: '", name,
                "' is not one of resnet18, resnet34, resnet50, resnet101, resnet152");
    return resnet152();
  }

  /// Residual block type.
  TORCH_ARG(ResNetBlock, block);
  /// Blocks in layer1..layer4 (4 positive entries).
  TORCH_ARG(std::vector<int64_t>, layers);
  /// Width of the fc classifier; 0 = no fc, forward returns the pooled features (an encoder).
  /// Default 1000.
  TORCH_ARG(int64_t, num_classes) = 1000;
  /// Channels of the input images. Default 3.
  TORCH_ARG(int64_t, in_channels) = 3;
  /// true: conv1 is 3x3 stride 1 padding 1 and the max-pool is skipped, for 32x32-sized inputs
  /// (the CIFAR variant of SimCLR/BYOL ports). Default false (7x7 stride 2 + max-pool).
  TORCH_ARG(bool, small_stem) = false;
  /// Zero the last BatchNorm scale of every residual branch, so each block starts as the
  /// identity (Goyal et al. 2017). Default false.
  TORCH_ARG(bool, zero_init_residual) = false;
};

namespace detail {

inline torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

/// The downsample branch: 1x1 conv with the block's stride -> BatchNorm ("downsample.0", "downsample.1").
inline torch::nn::Sequential downsample(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Sequential(conv(in, out, 1, stride, 0), torch::nn::BatchNorm2d(out));
}

}  // namespace detail

/// ResNet-18/34's block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), conv1 carrying
/// the stride. Parameter names as torchvision's BasicBlock.
///
///     byol::models::BasicBlock block(64, 128, 2);      // in 64, planes 128, stride 2
///     auto y = block(torch::randn({1, 64, 8, 8}));      // [1, 128, 4, 4]
///     block->downsample.is_empty();                     // false: the shortcut needs a 1x1 conv
class BasicBlockImpl : public torch::nn::Cloneable<BasicBlockImpl> {
 public:
  static constexpr int64_t kExpansion = 1;

  BasicBlockImpl(int64_t in_channels, int64_t planes, int64_t stride)
      : in_channels_(in_channels), planes_(planes), stride_(stride) {
    reset();
  }

  void reset() override {
    conv1 = register_module("conv1", detail::conv(in_channels_, planes_, 3, stride_, 1));
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(planes_));
    conv2 = register_module("conv2", detail::conv(planes_, planes_, 3, 1, 1));
    bn2 = register_module("bn2", torch::nn::BatchNorm2d(planes_));
    downsample = nullptr;
    if (stride_ != 1 || in_channels_ != planes_ * kExpansion) {
      downsample = register_module("downsample", detail::downsample(in_channels_, planes_ * kExpansion, stride_));
    }
  }

  at::Tensor forward(const at::Tensor& x) {
    at::Tensor out = torch::nn::functional::relu(byol::detail::forward_norm_child(*this, "bn1", bn1, conv1(x)));
    out = byol::detail::forward_norm_child(*this, "bn2", bn2, conv2(out));
    out += downsample.is_empty() ? x : downsample->forward(x);
    return torch::nn::functional::relu(out);
  }

  /// The BatchNorm that ends the residual branch (zeroed by zero_init_residual).
  torch::nn::BatchNorm2d& last_bn() { return bn2; }

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};

 private:
  int64_t in_channels_, planes_, stride_;
};
TORCH_MODULE(BasicBlock);

/// ResNet-50/101/152's block: 1x1 (planes) -> 3x3 (planes, the stride: torchvision's "v1.5") ->
/// 1x1 (4 * planes), each followed by BatchNorm, ReLU after the first two and after the sum
/// with the shortcut. Parameter names as torchvision's Bottleneck.
///
///     byol::models::Bottleneck block(256, 128, 2);     // in 256, planes 128 -> out 512, stride 2
///     auto y = block(torch::randn({1, 256, 8, 8}));     // [1, 512, 4, 4]
///     block->conv2->options.stride();                   // {2, 2}
class BottleneckImpl : public torch::nn::Cloneable<BottleneckImpl> {
 public:
  static constexpr int64_t kExpansion = 4;

  BottleneckImpl(int64_t in_channels, int64_t planes, int64_t stride)
      : in_channels_(in_channels), planes_(planes), stride_(stride) {
    reset();
  }

  void reset() override {
    conv1 = register_module("conv1", detail::conv(in_channels_, planes_, 1, 1, 0));
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(planes_));
    conv2 = register_module("conv2", detail::conv(planes_, planes_, 3, stride_, 1));
    bn2 = register_module("bn2", torch::nn::BatchNorm2d(planes_));
    conv3 = register_module("conv3", detail::conv(planes_, planes_ * kExpansion, 1, 1, 0));
    bn3 = register_module("bn3", torch::nn::BatchNorm2d(planes_ * kExpansion));
    downsample = nullptr;
    if (stride_ != 1 || in_channels_ != planes_ * kExpansion) {
      downsample = register_module("downsample", detail::downsample(in_channels_, planes_ * kExpansion, stride_));
    }
  }

  at::Tensor forward(const at::Tensor& x) {
    at::Tensor out = torch::nn::functional::relu(byol::detail::forward_norm_child(*this, "bn1", bn1, conv1(x)));
    out = torch::nn::functional::relu(byol::detail::forward_norm_child(*this, "bn2", bn2, conv2(out)));
    out = byol::detail::forward_norm_child(*this, "bn3", bn3, conv3(out));
    out += downsample.is_empty() ? x : downsample->forward(x);
    return torch::nn::functional::relu(out);
  }

  /// The BatchNorm that ends the residual branch (zeroed by zero_init_residual).
  torch::nn::BatchNorm2d& last_bn() { return bn3; }

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};

 private:
  int64_t in_channels_, planes_, stride_;
};
TORCH_MODULE(Bottleneck);

/// A ResNet as torchvision builds it (see the file comment). Input [B, in_channels, H, W]
/// floating point; output [B, num_classes], or [B, feature_dim()] with num_classes = 0.
///
/// Initialisation as torchvision: every conv kaiming_normal (fan_out, ReLU gain: std =
/// sqrt(2 / (out_channels * k * k))), every BatchNorm weight 1 and bias 0, fc LibTorch's
/// Linear default (as PyTorch's). The Impl is Cloneable, so EmaTarget and BYOL deep-copy it.
///
///     byol::models::ResNet net(byol::models::ResNetOptions::resnet50());
///     auto logits = net(torch::randn({2, 3, 224, 224}));        // [2, 1000]
///     net->named_parameters().contains("layer2.0.downsample.0.weight");   // true
class ResNetImpl : public torch::nn::Cloneable<ResNetImpl> {
 public:
  explicit ResNetImpl(ResNetOptions options_) : options(std::move(options_)) { reset(); }

  void reset() override {
    const ResNetOptions& o = options;
    TORCH_CHECK(o.layers().size() == 4, "ResNet: layers must have 4 entries (blocks per stage), got ",
                c10::IntArrayRef(o.layers()));
    for (const int64_t n : o.layers()) {
      TORCH_CHECK(n >= 1, "ResNet: every entry of layers must be >= 1, got ", c10::IntArrayRef(o.layers()));
    }
    TORCH_CHECK(o.num_classes() >= 0, "ResNet: num_classes must be >= 0 (0 = no fc), got ", o.num_classes());
    TORCH_CHECK(o.in_channels() > 0, "ResNet: in_channels must be > 0, got ", o.in_channels());
    const int64_t expansion = o.block() == ResNetBlock::basic ? BasicBlockImpl::kExpansion : BottleneckImpl::kExpansion;
    conv1 = register_module("conv1", o.small_stem() ? detail::conv(o.in_channels(), 64, 3, 1, 1)
                                                    : detail::conv(o.in_channels(), 64, 7, 2, 3));
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(64));
    int64_t in = 64;
    const int64_t planes[4] = {64, 128, 256, 512};
    torch::nn::Sequential* stages[4] = {&layer1, &layer2, &layer3, &layer4};
    for (int s = 0; s < 4; ++s) {
      torch::nn::Sequential stage;
      for (int64_t b = 0; b < o.layers()[static_cast<size_t>(s)]; ++b) {
        const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
        if (o.block() == ResNetBlock::basic) {
          stage->push_back(BasicBlock(in, planes[s], stride));
        } else {
          stage->push_back(Bottleneck(in, planes[s], stride));
        }
        in = planes[s] * expansion;
      }
      *stages[s] = register_module("layer" + std::to_string(s + 1), stage);
    }
    feature_dim_ = in;
    fc = nullptr;
    if (o.num_classes() > 0) {
      fc = register_module("fc", torch::nn::Linear(feature_dim_, o.num_classes()));
    }
    init_weights_();
  }

  at::Tensor forward(const at::Tensor& x) {
    TORCH_CHECK(x.dim() == 4 && x.size(1) == options.in_channels(), "ResNet: input must have shape [B, ",
                options.in_channels(), ", H, W], got ", x.sizes());
    TORCH_CHECK(at::isFloatingType(x.scalar_type()), "ResNet: input must be floating point, got ", x.scalar_type());
    at::Tensor h = features(x);
    return fc.is_empty() ? h : fc(h);
  }

  /// The pooled features before the fc: [B, feature_dim()].
  at::Tensor features(const at::Tensor& x) {
    at::Tensor h = torch::nn::functional::relu(byol::detail::forward_norm_child(*this, "bn1", bn1, conv1(x)));
    if (!options.small_stem()) {
      h = torch::nn::functional::max_pool2d(h, torch::nn::functional::MaxPool2dFuncOptions(3).stride(2).padding(1));
    }
    h = layer4->forward(layer3->forward(layer2->forward(layer1->forward(h))));
    return h.mean({2, 3});
  }

  /// Width of the pooled features: 512 (BasicBlock) or 2048 (Bottleneck).
  int64_t feature_dim() const { return feature_dim_; }

  ResNetOptions options;
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  void init_weights_() {
    at::NoGradGuard no_grad;
    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* c = module->as<torch::nn::Conv2d>()) {
        torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      } else if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
        bn->weight.fill_(1.0);
        bn->bias.zero_();
      }
    }
    if (options.zero_init_residual()) {
      for (auto& module : modules(/*include_self=*/false)) {
        if (auto* block = module->as<BasicBlock>()) {
          block->last_bn()->weight.zero_();
        } else if (auto* bottleneck = module->as<Bottleneck>()) {
          bottleneck->last_bn()->weight.zero_();
        }
      }
    }
  }

  int64_t feature_dim_ = 0;
};
TORCH_MODULE(ResNet);

}  // namespace byol::models

// The model zoo against torchvision itself: names, shapes, parameter counts and the eval-mode
// output for formula weights all come from tests/data/gen_resnet_keys.py (torchvision 0.14),
// committed as tests/data/resnet_keys.txt. Block wiring is re-derived with ATen calls, the
// initialisation checked against its closed-form standard deviation.
#include <byol/learner.hpp>
#include <byol/models.hpp>

#include "reference_models.hpp"
#include "support.hpp"

#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace {

using byol::models::ResNet;
using byol::models::ResNetOptions;
using byol_test::reference;
using byol_test::shape_string;

std::map<std::string, torch::Tensor> state(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : module.named_parameters()) {
    out[p.key()] = p.value();
  }
  for (const auto& b : module.named_buffers()) {
    out[b.key()] = b.value();
  }
  return out;
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) {
    n += p.numel();
  }
  return n;
}

// The formula weights of gen_resnet_keys.py's fill(), entry by entry in sorted-name order.
void fill_like_the_script(const torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> entries = state(module);
  int64_t j = 0;
  for (auto& entry : entries) {
    const std::string& name = entry.first;
    torch::Tensor& t = entry.second;
    auto ends_with = [&](const std::string& suffix) {
      return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with("num_batches_tracked")) {
      continue;
    }
    const auto k = torch::arange(t.numel(), torch::kDouble);
    const double jd = static_cast<double>(j);
    torch::Tensor v;
    if (ends_with("running_var")) {
      v = 1 + 0.5 * torch::sin(0.1 * k + jd).abs();
    } else if (ends_with("running_mean")) {
      v = 0.1 * torch::sin(0.3 * k + jd);
    } else if (t.dim() == 4) {
      v = 2.0 / std::sqrt(static_cast<double>(t[0].numel())) * torch::cos(1.3 * k + jd);
    } else if (name.rfind("fc.", 0) == 0) {
      v = 0.01 * torch::cos(0.7 * k + jd);
    } else if (ends_with("weight")) {
      v = 1 + 0.1 * torch::sin(k + jd);
    } else {
      v = 0.1 * torch::cos(k + jd);
    }
    t.copy_(v.reshape(t.sizes()).to(t.scalar_type()));
    ++j;
  }
}

torch::Tensor formula_input() {
  return torch::sin(0.01 * torch::arange(3 * 64 * 64, torch::kDouble)).reshape({1, 3, 64, 64}).to(torch::kFloat);
}

// A plain convolution without bias: square stride and zero padding.
torch::Tensor conv_ref(const torch::Tensor& x, const torch::Tensor& w, int64_t stride, int64_t padding) {
  const std::vector<int64_t> s = {stride, stride}, p = {padding, padding}, d = {1, 1};
  return at::conv2d(x, w, at::Tensor(), s, p, d, 1);
}

// Eval-mode BatchNorm written out: (x - mean) / sqrt(var + eps) * weight + bias.
torch::Tensor bn_eval(const torch::Tensor& x, const torch::nn::BatchNorm2dImpl& bn) {
  auto shape = [](const torch::Tensor& t) { return t.reshape({1, -1, 1, 1}); };
  return (x - shape(bn.running_mean)) / torch::sqrt(shape(bn.running_var) + 1e-5) * shape(bn.weight) +
         shape(bn.bias);
}

void randomise_bn_statistics(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules()) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.2, 0.2);
      bn->running_mean.uniform_(-0.2, 0.2);
      bn->running_var.uniform_(0.5, 2.0);
    }
  }
}

}  // namespace

TEST_CASE("ResNet-18 and ResNet-50 have torchvision's parameter and buffer names and shapes", "[models]") {
  for (const std::string name : {"resnet18", "resnet50"}) {
    DYNAMIC_SECTION(name) {
      const auto& expected = reference().shapes.at(name);
      REQUIRE(expected.size() > 100);
      ResNet net(ResNetOptions::named(name));
      std::map<std::string, std::string> actual;
      for (const auto& entry : state(*net)) {
        actual[entry.first] = shape_string(entry.second);
      }
      for (const auto& e : expected) {
        INFO("torchvision has " << e.first << " " << e.second);
        REQUIRE(actual.count(e.first) == 1);
        CHECK(actual.at(e.first) == e.second);
      }
      for (const auto& a : actual) {
        INFO("byol has " << a.first << ", which torchvision does not");
        CHECK(expected.count(a.first) == 1);
      }
    }
  }
}

TEST_CASE("ResNet parameter counts equal torchvision's, with and without the fc", "[models]") {
  for (const std::string name : {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"}) {
    DYNAMIC_SECTION(name) {
      CHECK(count_parameters(*ResNet(ResNetOptions::named(name))) == reference().params.at(name));
      ResNet encoder(ResNetOptions::named(name).num_classes(0));
      CHECK(count_parameters(*encoder) == reference().params_nofc.at(name));
      CHECK(encoder->named_parameters().find("fc.weight") == nullptr);
    }
  }
  // The numbers the brief states, as a cross-check of the generated file.
  CHECK(reference().params.at("resnet50") == 25557032);
  CHECK(reference().params_nofc.at("resnet50") == 23508032);
}

TEST_CASE("ResNet eval output equals torchvision's for the same formula weights and input", "[models]") {
  for (const std::string name : {"resnet18", "resnet50"}) {
    DYNAMIC_SECTION(name) {
      ResNet net(ResNetOptions::named(name));
      fill_like_the_script(*net);
      net->eval();
      torch::NoGradGuard no_grad;
      const torch::Tensor x = formula_input();
      const torch::Tensor logits = net(x)[0].to(torch::kDouble);
      const torch::Tensor features = net->features(x)[0].to(torch::kDouble);
      REQUIRE(logits.size(0) == 1000);
      REQUIRE(features.size(0) == net->feature_dim());
      const auto& want_logits = reference().logits.at(name);
      const auto& want_features = reference().features.at(name);
      REQUIRE(want_logits.size() == 28);
      REQUIRE(want_features.size() >= 32);
      for (const auto& e : want_logits) {
        INFO("logit " << e.first);
        CHECK(logits[e.first].item<double>() == Approx(e.second).epsilon(1e-3).margin(1e-5));
      }
      for (const auto& e : want_features) {
        INFO("feature " << e.first);
        CHECK(features[e.first].item<double>() == Approx(e.second).epsilon(1e-3).margin(1e-5));
      }
    }
  }
}

TEST_CASE("ResNet forward shapes: classifier, encoder (num_classes 0), small stem", "[models]") {
  torch::NoGradGuard no_grad;
  ResNet r18(ResNetOptions::resnet18());
  CHECK(r18(torch::randn({2, 3, 64, 64})).sizes() == torch::IntArrayRef({2, 1000}));
  ResNet r18_encoder(ResNetOptions::resnet18().num_classes(0));
  CHECK(r18_encoder->feature_dim() == 512);
  CHECK(r18_encoder(torch::randn({2, 3, 64, 64})).sizes() == torch::IntArrayRef({2, 512}));
  ResNet r50_encoder(ResNetOptions::resnet50().num_classes(0).in_channels(1));
  CHECK(r50_encoder->feature_dim() == 2048);
  CHECK(r50_encoder(torch::randn({2, 1, 64, 64})).sizes() == torch::IntArrayRef({2, 2048}));
  CHECK(r50_encoder->conv1->weight.sizes() == torch::IntArrayRef({64, 1, 7, 7}));
  ResNet r10(ResNetOptions::resnet18().num_classes(10));
  CHECK(r10->fc->weight.sizes() == torch::IntArrayRef({10, 512}));

  // Small stem: 3x3 stride-1 conv1 and no max-pool, so layer1 sees the full 32x32 image
  // (the standard stem gives it 8x8) and layer4 ends at 4x4 instead of 1x1.
  ResNet small(ResNetOptions::resnet18().small_stem(true).num_classes(0));
  ResNet standard(ResNetOptions::resnet18().num_classes(0));
  CHECK(small->conv1->weight.sizes() == torch::IntArrayRef({64, 3, 3, 3}));
  CHECK(standard->conv1->weight.sizes() == torch::IntArrayRef({64, 3, 7, 7}));
  const auto x = torch::randn({2, 3, 32, 32});
  const auto stem = torch::relu(small->bn1(small->conv1(x)));
  CHECK(stem.sizes() == torch::IntArrayRef({2, 64, 32, 32}));
  const auto l4 = small->layer4->forward(small->layer3->forward(small->layer2->forward(small->layer1->forward(stem))));
  CHECK(l4.sizes() == torch::IntArrayRef({2, 512, 4, 4}));
  CHECK(small(x).sizes() == torch::IntArrayRef({2, 512}));
  CHECK(torch::allclose(small(x), l4.mean({2, 3}), 1e-5, 1e-6));
  CHECK(count_parameters(*small) == reference().params_nofc.at("resnet18") - 64 * 3 * (7 * 7 - 3 * 3));
}

TEST_CASE("BasicBlock and Bottleneck compute the torchvision block, re-derived with ATen calls", "[models]") {
  torch::NoGradGuard no_grad;
  SECTION("BasicBlock with a strided downsample") {
    byol::models::BasicBlock block(8, 16, 2);
    randomise_bn_statistics(*block);
    block->eval();
    const auto x = torch::randn({2, 8, 9, 9});
    auto branch = torch::relu(bn_eval(conv_ref(x, block->conv1->weight, 2, 1), *block->bn1));
    branch = bn_eval(conv_ref(branch, block->conv2->weight, 1, 1), *block->bn2);
    const auto* ds_conv = block->downsample[0]->as<torch::nn::Conv2d>();
    const auto* ds_bn = block->downsample[1]->as<torch::nn::BatchNorm2d>();
    REQUIRE(ds_conv != nullptr);
    REQUIRE(ds_bn != nullptr);
    const auto shortcut = bn_eval(conv_ref(x, ds_conv->weight, 2, 0), *ds_bn);
    const auto actual = block(x);
    REQUIRE(actual.sizes() == torch::IntArrayRef({2, 16, 5, 5}));
    CHECK(torch::allclose(actual, torch::relu(branch + shortcut), 1e-4, 1e-5));
  }
  SECTION("BasicBlock with the identity shortcut") {
    byol::models::BasicBlock block(16, 16, 1);
    CHECK(block->downsample.is_empty());
    randomise_bn_statistics(*block);
    block->eval();
    const auto x = torch::randn({2, 16, 6, 6});
    auto branch = torch::relu(bn_eval(conv_ref(x, block->conv1->weight, 1, 1), *block->bn1));
    branch = bn_eval(conv_ref(branch, block->conv2->weight, 1, 1), *block->bn2);
    CHECK(torch::allclose(block(x), torch::relu(branch + x), 1e-4, 1e-5));
  }
  SECTION("Bottleneck: the stride is on the 3x3 convolution (v1.5)") {
    byol::models::Bottleneck block(16, 8, 2);  // 16 -> 8 -> 8 -> 32
    randomise_bn_statistics(*block);
    block->eval();
    CHECK(block->conv1->weight.sizes() == torch::IntArrayRef({8, 16, 1, 1}));
    CHECK(block->conv2->weight.sizes() == torch::IntArrayRef({8, 8, 3, 3}));
    CHECK(block->conv3->weight.sizes() == torch::IntArrayRef({32, 8, 1, 1}));
    const auto x = torch::randn({2, 16, 8, 8});
    auto branch = torch::relu(bn_eval(conv_ref(x, block->conv1->weight, 1, 0), *block->bn1));
    branch = torch::relu(bn_eval(conv_ref(branch, block->conv2->weight, 2, 1), *block->bn2));
    branch = bn_eval(conv_ref(branch, block->conv3->weight, 1, 0), *block->bn3);
    const auto* ds_conv = block->downsample[0]->as<torch::nn::Conv2d>();
    const auto* ds_bn = block->downsample[1]->as<torch::nn::BatchNorm2d>();
    REQUIRE(ds_conv != nullptr);
    REQUIRE(ds_bn != nullptr);
    const auto shortcut = bn_eval(conv_ref(x, ds_conv->weight, 2, 0), *ds_bn);
    const auto actual = block(x);
    REQUIRE(actual.sizes() == torch::IntArrayRef({2, 32, 4, 4}));
    CHECK(torch::allclose(actual, torch::relu(branch + shortcut), 1e-4, 1e-5));
  }
}

TEST_CASE("ResNet initialisation: kaiming_normal fan_out for convs, BN 1 and 0, zero_init_residual", "[models]") {
  ResNet net(ResNetOptions::resnet18());
  // layer4.0.conv2: 512 x 512 x 3 x 3, fan_out = 512 * 9; 2.4 M samples pin the std to ~0.1%.
  const auto w = net->layer4[0]->as<byol::models::BasicBlock>()->conv2->weight.to(torch::kDouble);
  const double expected_std = std::sqrt(2.0 / (512 * 9));
  CHECK(w.std().item<double>() == Approx(expected_std).epsilon(0.01));
  CHECK(std::abs(w.mean().item<double>()) < 0.01 * expected_std);
  // conv1: 64 x 3 x 7 x 7, fan_out = 64 * 49 (fan_in would give sqrt(2 / 147), 2.3x larger).
  CHECK(net->conv1->weight.std().item<double>() == Approx(std::sqrt(2.0 / (64 * 49))).epsilon(0.05));
  for (const auto& p : net->named_parameters()) {
    const std::string& key = p.key();
    if (key.find("bn") != std::string::npos || key.find("downsample.1") != std::string::npos) {
      INFO(key);
      const double target = key.substr(key.size() - 6) == "weight" ? 1.0 : 0.0;
      CHECK(p.value().eq(target).all().item<bool>());
    }
  }

  for (const auto& options : {ResNetOptions::resnet18(), ResNetOptions::resnet50()}) {
    ResNet zeroed(ResNetOptions(options).zero_init_residual(true).num_classes(0));
    const std::string last = options.block() == byol::models::ResNetBlock::basic ? ".bn2.weight" : ".bn3.weight";
    int64_t zeroed_count = 0;
    for (const auto& p : zeroed->named_parameters()) {
      const std::string& key = p.key();
      const bool is_last = key.size() > last.size() && key.compare(key.size() - last.size(), last.size(), last) == 0 &&
                           key.rfind("layer", 0) == 0;
      if (is_last) {
        CHECK(p.value().eq(0).all().item<bool>());
        ++zeroed_count;
      } else if (key.find("bn") != std::string::npos && key.substr(key.size() - 6) == "weight") {
        CHECK(p.value().eq(1).all().item<bool>());
      }
    }
    CHECK(zeroed_count == (options.block() == byol::models::ResNetBlock::basic ? 8 : 16));
    // Each block then starts as relu(shortcut): layer1.1 has an identity shortcut, so relu(x).
    torch::NoGradGuard no_grad;
    zeroed->eval();
    const int64_t width = last == ".bn2.weight" ? 64 : 256;  // layer1's output: 64 x expansion
    const auto x = torch::randn({1, width, 5, 5});
    const auto y = last == ".bn2.weight" ? zeroed->layer1[1]->as<byol::models::BasicBlock>()->forward(x)
                                          : zeroed->layer1[1]->as<byol::models::Bottleneck>()->forward(x);
    CHECK(torch::allclose(y, torch::relu(x)));
  }
}

// ---- the small CNN --------------------------------------------------------------------------

TEST_CASE("SmallCNN: shapes, names and the closed-form parameter count", "[models]") {
  byol::models::SmallCNN net{byol::models::SmallCNNOptions()};
  CHECK(net->feature_dim() == 256);
  CHECK(net(torch::randn({3, 1, 28, 28})).sizes() == torch::IntArrayRef({3, 256}));
  // conv3x3 without bias + BatchNorm scale and shift per block: sum of 9 c_in c_out + 2 c_out.
  const std::vector<int64_t> widths = {1, 32, 64, 128, 256};
  int64_t expected = 0;
  for (size_t b = 1; b < widths.size(); ++b) {
    expected += 9 * widths[b - 1] * widths[b] + 2 * widths[b];
  }
  CHECK(count_parameters(*net) == expected);
  CHECK(expected == 388320);
  const auto params = net->named_parameters();
  CHECK(params.find("features.0.weight") != nullptr);
  CHECK(params["features.0.weight"].sizes() == torch::IntArrayRef({32, 1, 3, 3}));
  CHECK(params["features.10.bias"].sizes() == torch::IntArrayRef({256}));
  CHECK(net->named_buffers().find("features.4.running_var") != nullptr);
  // Strides 2, 2, 2, 1: 28 -> 14 -> 7 -> 4 -> 4.
  torch::NoGradGuard no_grad;
  CHECK(net->features->forward(torch::randn({2, 1, 28, 28})).sizes() == torch::IntArrayRef({2, 256, 4, 4}));
  CHECK(torch::IntArrayRef(net->features[0]->as<torch::nn::Conv2d>()->options.stride()) == torch::IntArrayRef({2, 2}));
  CHECK(torch::IntArrayRef(net->features[9]->as<torch::nn::Conv2d>()->options.stride()) == torch::IntArrayRef({1, 1}));

  byol::models::SmallCNN rgb(
      byol::models::SmallCNNOptions().in_channels(3).channels({16, 32}).strides({2, 2}));
  CHECK(rgb(torch::randn({2, 3, 32, 32})).sizes() == torch::IntArrayRef({2, 32}));
  CHECK(rgb->features->forward(torch::randn({2, 3, 32, 32})).sizes() == torch::IntArrayRef({2, 32, 8, 8}));
  // Its output is the spatial mean of the last block.
  const auto x = torch::randn({2, 3, 16, 16});
  rgb->eval();
  CHECK(torch::allclose(rgb(x), rgb->features->forward(x).mean({2, 3})));
}

TEST_CASE("Models are Cloneable: BYOL deep-copies them into its target network", "[models]") {
  SECTION("clone() copies values into separate storage") {
    ResNet net(ResNetOptions::resnet18().small_stem(true).num_classes(0));
    auto copy = std::dynamic_pointer_cast<byol::models::ResNetImpl>(net->clone());
    REQUIRE(copy != nullptr);
    const auto a = state(*net);
    const auto b = state(*copy);
    REQUIRE(a.size() == b.size());
    for (const auto& entry : a) {
      INFO(entry.first);
      CHECK(torch::equal(entry.second, b.at(entry.first)));
      CHECK(entry.second.data_ptr() != b.at(entry.first).data_ptr());
    }
    CHECK(copy->feature_dim() == 512);
    CHECK(copy->options.small_stem());
  }
  SECTION("BYOL<ResNet> and BYOL<SmallCNN> train a step") {
    ResNet resnet(ResNetOptions::resnet18().small_stem(true).num_classes(0));
    byol::BYOL<ResNet> with_resnet(
        resnet, byol::BYOLOptions(resnet->feature_dim()).hidden_dim(32).projection_dim(16).predictor_hidden_dim(32));
    const auto loss = with_resnet.loss(torch::rand({2, 3, 16, 16}), torch::rand({2, 3, 16, 16}));
    CHECK(loss.item<double>() >= 0.0);
    CHECK(loss.item<double>() <= 8.0);
    loss.backward();
    CHECK(resnet->conv1->weight.grad().defined());

    byol::models::SmallCNN small{byol::models::SmallCNNOptions()};
    byol::BYOL<byol::models::SmallCNN> with_small(
        small, byol::BYOLOptions(small->feature_dim()).hidden_dim(32).projection_dim(16).predictor_hidden_dim(32));
    const auto small_loss = with_small.loss(torch::rand({4, 1, 28, 28}), torch::rand({4, 1, 28, 28}));
    small_loss.backward();
    CHECK(std::isfinite(small_loss.item<double>()));
    CHECK(small->features[0]->as<torch::nn::Conv2d>()->weight.grad().defined());
  }
}

TEST_CASE("Model errors name the bad option or input", "[models]") {
  using byol_test::require_error;
  require_error([] { ResNet(ResNetOptions(byol::models::ResNetBlock::basic, {2, 2, 2})); },
                {"ResNet", "layers must have 4 entries", "[2, 2, 2]"});
  require_error([] { ResNet(ResNetOptions::resnet18().num_classes(-1)); }, {"num_classes", "-1"});
  require_error([] { ResNet(ResNetOptions(byol::models::ResNetBlock::bottleneck, {3, 0, 6, 3})); },
                {"layers", ">= 1"});
  ResNet net(ResNetOptions::resnet18());
  require_error([&] { net(torch::randn({2, 1, 32, 32})); }, {"ResNet", "[B, 3, H, W]", "[2, 1, 32, 32]"});
  require_error([&] { net(torch::randn({3, 32, 32})); }, {"ResNet", "[3, 32, 32]"});
  require_error([&] { net(torch::ones({1, 3, 32, 32}, torch::kLong)); }, {"floating point", "Long"});
  require_error([] { byol::models::SmallCNN(byol::models::SmallCNNOptions().strides({1, 2})); },
                {"SmallCNN", "strides", "[1, 2]", "[32, 64, 128, 256]"});
  require_error([] { byol::models::SmallCNN(byol::models::SmallCNNOptions().strides({1, 3, 2, 2})); },
                {"stride must be 1 or 2", "[1, 3, 2, 2]"});
  byol::models::SmallCNN small{byol::models::SmallCNNOptions()};
  require_error([&] { small(torch::randn({2, 3, 28, 28})); }, {"SmallCNN", "[B, 1, H, W]", "[2, 3, 28, 28]"});
}

TEST_CASE("ResNetOptions::named gives torchvision's models by name", "[models]") {
  REQUIRE(byol::models::ResNetOptions::named("resnet18").layers() == std::vector<int64_t>{2, 2, 2, 2});
  REQUIRE(byol::models::ResNetOptions::named("resnet50").block() == byol::models::ResNetBlock::bottleneck);
  REQUIRE(byol::models::ResNetOptions::named("resnet152").layers() == std::vector<int64_t>{3, 8, 36, 3});
  byol_test::require_error([] { byol::models::ResNetOptions::named("resnet51"); }, {"resnet51", "resnet50"});
}

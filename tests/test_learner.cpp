// The heads and the BYOL learner around three kinds of encoder.
#include <byol/heads.hpp>
#include <byol/learner.hpp>
#include <byol/optim/lars.hpp>
#include <byol/schedule.hpp>

#include "support.hpp"

#include <sstream>

namespace {

using byol_test::values;

// A user's encoder that is not Cloneable, with BatchNorm buffers.
struct TinyConvImpl : torch::nn::Module {
  TinyConvImpl() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)));
    bn = register_module("bn", torch::nn::BatchNorm2d(4));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::adaptive_avg_pool2d(torch::relu(bn(conv(x))), {2, 2}).flatten(1);  // [B, 16]
  }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(TinyConv);

byol::BYOLOptions small_options(int64_t features) {
  return byol::BYOLOptions(features).hidden_dim(32).projection_dim(8).predictor_hidden_dim(32);
}

torch::nn::Sequential make_encoder() {
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)),
                               torch::nn::BatchNorm2d(4), torch::nn::ReLU(),
                               torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions({2, 2})),
                               torch::nn::Flatten());
}

template <typename Encoder>
void check_learner(byol::BYOL<Encoder>& model) {
  const auto v1 = torch::rand({6, 1, 8, 8});
  const auto v2 = torch::rand({6, 1, 8, 8});
  // At the start the target is an exact copy, so in training mode (batch statistics) its
  // projections equal the online projector's.
  const byol::BYOLOutput out = model.forward(v1, v2);
  REQUIRE(out.z1.sizes() == torch::IntArrayRef({6, 8}));
  REQUIRE(out.h1.sizes() == torch::IntArrayRef({6, 16}));
  REQUIRE_FALSE(out.z1.requires_grad());
  REQUIRE(torch::allclose(out.z1, model.projector()(out.h1).detach(), 1e-5, 1e-6));
  REQUIRE(torch::allclose(out.z2, model.projector()(out.h2).detach(), 1e-5, 1e-6));
  // loss() is byol_loss of those parts.
  const torch::Tensor loss = model.loss(v1, v2);
  const torch::Tensor expected = byol::functional::byol_loss(out.p1, out.z2, out.p2, out.z1);
  REQUIRE(loss.item<double>() == Approx(expected.item<double>()).epsilon(1e-5));
  REQUIRE(loss.item<double>() >= 0.0);
  REQUIRE(loss.item<double>() <= 8.0);
  // Gradients reach the online parameters and nothing else.
  loss.backward();
  const auto online = model.online_parameters();
  size_t expected_count = 0;
  for (const auto& p : model.encoder()->parameters()) (void)p, ++expected_count;
  expected_count += model.projector()->parameters().size() + model.predictor()->parameters().size();
  REQUIRE(online.size() == expected_count);
  for (const auto& p : online) REQUIRE(p.grad().defined());
  for (const auto& p : model.target_encoder()->parameters()) {
    REQUIRE_FALSE(p.requires_grad());
    REQUIRE_FALSE(p.grad().defined());
  }
  // The learner's sub-modules cover online, predictor and target.
  REQUIRE(model.named_parameters().size() == online.size() + model.ema().target()->parameters().size());
}

}  // namespace

TEST_CASE("MLPHead is Linear-BN-ReLU-Linear with the docs/spec.md defaults", "[learner][heads]") {
  byol::nn::MLPHead head(byol::nn::MLPHeadOptions(12));
  REQUIRE(head->options.hidden_dim() == 4096);
  REQUIRE(head->options.out_dim() == 256);
  REQUIRE(head->fc1->weight.sizes() == torch::IntArrayRef({4096, 12}));
  REQUIRE(head->fc1->bias.defined());
  REQUIRE(head->bn->options.eps() == 1e-5);
  REQUIRE(head->bn->options.momentum().value() == 0.1);
  REQUIRE(head->fc2->weight.sizes() == torch::IntArrayRef({256, 4096}));
  // The reference's last Linear has no bias (hk.Linear(output_size, with_bias=False)).
  REQUIRE_FALSE(head->options.last_bias());
  REQUIRE_FALSE(head->fc2->bias.defined());
  REQUIRE(head->parameters().size() == 5);  // fc1 weight and bias, bn weight and bias, fc2 weight
  byol::nn::MLPHead biased(byol::nn::MLPHeadOptions(12).hidden_dim(8).out_dim(4).last_bias(true));
  REQUIRE(biased->fc2->bias.defined());
  REQUIRE(biased->fc2->bias.sizes() == torch::IntArrayRef({4}));
  // The forward is the composition, checked against the modules applied by hand.
  byol::nn::MLPHead small(byol::nn::MLPHeadOptions(5).hidden_dim(7).out_dim(3));
  const auto x = torch::randn({4, 5});
  const auto h = small->fc1(x);
  const auto mean = h.mean(0);
  const auto var = h.var(0, /*unbiased=*/false);
  const auto bn = (h - mean) / torch::sqrt(var + 1e-5) * small->bn->weight + small->bn->bias;
  const auto expected = small->fc2(torch::relu(bn));
  REQUIRE(torch::allclose(small(x), expected, 1e-5, 1e-6));
  // Cloneable: a deep copy with equal weights.
  auto copy = std::dynamic_pointer_cast<byol::nn::MLPHeadImpl>(small->clone());
  REQUIRE(torch::equal(copy->fc1->weight, small->fc1->weight));
  REQUIRE(copy->fc1->weight.data_ptr() != small->fc1->weight.data_ptr());
  byol_test::require_error([&] { small(torch::randn({4, 6})); }, {"[B, 5]", "[4, 6]"});
  byol_test::require_error([] { byol::nn::MLPHead bad(byol::nn::MLPHeadOptions(0)); }, {"in_dim", "0"});
}

TEST_CASE("BYOL around a torch::nn::Sequential encoder", "[learner]") {
  byol::BYOL<torch::nn::Sequential> model(make_encoder(), small_options(16));
  check_learner(model);
  // The heads end without a bias by default; head_last_bias(true) gives all three one.
  REQUIRE_FALSE(model.projector()->fc2->bias.defined());
  REQUIRE_FALSE(model.predictor()->fc2->bias.defined());
  byol::BYOL<torch::nn::Sequential> biased(make_encoder(), small_options(16).head_last_bias(true));
  REQUIRE(biased.projector()->fc2->bias.defined());
  REQUIRE(biased.predictor()->fc2->bias.defined());
  REQUIRE(biased.ema().target()->projector->fc2->bias.defined());
}

TEST_CASE("BYOL around a user TORCH_MODULE that is not Cloneable, with a twin", "[learner]") {
  TinyConv encoder;
  byol::BYOL<TinyConv> model(encoder, TinyConv(), small_options(16));
  REQUIRE(model.encoder().ptr() == encoder.ptr());
  check_learner(model);
  byol_test::require_error([] { byol::BYOL<TinyConv> bad(TinyConv(), small_options(16)); }, {"Cloneable", "twin"});
}

TEST_CASE("BYOL rejects a twin that is, or shares parameters with, the online encoder", "[learner]") {
  TinyConv encoder;
  // The same module twice, and a copy of the handle (which shares the module).
  byol_test::require_error([&] { byol::BYOL<TinyConv> bad(encoder, encoder, small_options(16)); },
                           {"twin", "freshly constructed", "Cloneable"});
  TinyConv handle_copy = encoder;
  byol_test::require_error([&] { byol::BYOL<TinyConv> bad(encoder, handle_copy, small_options(16)); },
                           {"twin", "freshly constructed"});
  // A twin built around one of the online encoder's own layers.
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1));
  auto around = [](const torch::nn::Conv2d& first) {
    return torch::nn::Sequential(first, torch::nn::BatchNorm2d(4), torch::nn::ReLU(),
                                 torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions({2, 2})),
                                 torch::nn::Flatten());
  };
  torch::nn::Sequential online = around(conv);
  torch::nn::Sequential twin = around(conv);
  byol_test::require_error([&] { byol::BYOL<torch::nn::Sequential> bad(online, twin, small_options(16)); },
                           {"'0.weight'", "shares its memory", "freshly constructed"});
  // The error left the online encoder trainable.
  for (const auto& p : encoder->parameters()) {
    REQUIRE(p.requires_grad());
  }
  for (const auto& p : online->parameters()) {
    REQUIRE(p.requires_grad());
  }
  // A proper twin: every online parameter trains, no target parameter does.
  byol::BYOL<TinyConv> model(encoder, TinyConv(), small_options(16));
  for (const auto& p : model.online_parameters()) {
    REQUIRE(p.requires_grad());
  }
  for (const auto& p : model.target_encoder()->parameters()) {
    REQUIRE_FALSE(p.requires_grad());
  }
}

TEST_CASE("BYOL::loss(BYOLOutput) pairs each prediction with the other view's target", "[learner]") {
  byol::BYOL<torch::nn::Sequential> model(make_encoder(), small_options(16));
  const auto v1 = torch::rand({6, 1, 8, 8});
  const auto v2 = torch::rand({6, 1, 8, 8});
  const byol::BYOLOutput out = model.forward(v1, v2);
  // docs/spec.md, float64: l(p, z) = (1/B) sum_i (2 - 2 cos(p_i, z_i)); L = l(p1, z2) + l(p2, z1).
  auto l = [](const torch::Tensor& p, const torch::Tensor& z) {
    const auto pd = p.detach().to(torch::kFloat64);
    const auto zd = z.detach().to(torch::kFloat64);
    const auto cos = (pd * zd).sum(1) / (pd.norm(2, 1) * zd.norm(2, 1));
    return (2.0 - 2.0 * cos).mean().item<double>();
  };
  const double expected = l(out.p1, out.z2) + l(out.p2, out.z1);
  const auto loss = model.loss(out);
  REQUIRE(loss.dim() == 0);
  REQUIRE(loss.requires_grad());
  CHECK(loss.item<double>() == Approx(expected).epsilon(1e-5));
  // The same views through loss(view1, view2): training-mode BatchNorm uses batch statistics, so
  // the second forward pass computes the same outputs.
  CHECK(model.loss(v1, v2).item<double>() == Approx(expected).epsilon(1e-5));
  byol::BYOLOutput empty;
  byol_test::require_error([&] { model.loss(empty); }, {"BYOLOutput", "undefined"});
}

TEST_CASE("BYOL around a std::shared_ptr encoder", "[learner]") {
  auto encoder = std::make_shared<TinyConvImpl>();
  byol::BYOL<std::shared_ptr<TinyConvImpl>> model(encoder, std::make_shared<TinyConvImpl>(), small_options(16));
  check_learner(model);
}

TEST_CASE("BYOL training lowers the loss on fixed views and moves the target", "[learner]") {
  byol::BYOL<torch::nn::Sequential> model(make_encoder(), small_options(16));
  byol::optim::LARS lars(model.online_parameters(), byol::optim::LARSOptions(1.0).weight_decay(1e-6));
  const auto v1 = torch::rand({16, 1, 8, 8});
  const auto v2 = (v1 + 0.1 * torch::randn_like(v1)).clamp(0, 1);
  const auto target_before = model.target_encoder()->parameters()[0].detach().clone();
  const int steps = 40;
  double first = 0.0, last = 0.0;
  for (int k = 0; k < steps; ++k) {
    auto loss = model.loss(v1, v2);
    if (k == 0) first = loss.item<double>();
    last = loss.item<double>();
    lars.zero_grad();
    loss.backward();
    lars.step();
    model.update_target(byol::schedule::target_tau(k, steps, 0.9));
  }
  INFO("first " << first << ", last " << last);
  REQUIRE(last < 0.5 * first);
  REQUIRE_FALSE(torch::equal(model.target_encoder()->parameters()[0], target_before));
}

TEST_CASE("BYOL rejects bad input with named arguments", "[learner]") {
  using byol_test::require_error;
  byol::BYOL<torch::nn::Sequential> model(make_encoder(), small_options(16));
  require_error([&] { model.loss(torch::rand({4, 1, 8, 8}), torch::rand({5, 1, 8, 8})); }, {"view1", "[4, 1, 8, 8]", "[5, 1, 8, 8]"});
  require_error([&] { model.loss(torch::rand({1, 1, 8, 8}), torch::rand({1, 1, 8, 8})); }, {"more than one", "[1, 1, 8, 8]"});
  byol::BYOL<torch::nn::Sequential> wrong(make_encoder(), small_options(20));
  require_error([&] { wrong.loss(torch::rand({4, 1, 8, 8}), torch::rand({4, 1, 8, 8})); }, {"feature_dim = 20", "[4, 16]"});
  require_error([] { byol::BYOL<torch::nn::Sequential> bad(make_encoder(), byol::BYOLOptions(0)); }, {"feature_dim", "0"});
}

TEST_CASE("torch::save and torch::load of a learner held by value round-trip it bitwise", "[learner]") {
  auto train = [](byol::BYOL<torch::nn::Sequential>& model, int steps) {
    byol::optim::LARS lars(model.online_parameters(), byol::optim::LARSOptions(0.5));
    for (int k = 0; k < steps; ++k) {
      auto loss = model.loss(torch::rand({6, 1, 8, 8}), torch::rand({6, 1, 8, 8}));
      lars.zero_grad();
      loss.backward();
      lars.step();
      model.update_target(0.5);
    }
  };
  byol::BYOL<torch::nn::Sequential> model(make_encoder(), small_options(16));
  train(model, 3);  // target, BatchNorm statistics and counters all differ from a fresh learner's
  std::stringstream stream;
  torch::save(model, stream);

  byol::BYOL<torch::nn::Sequential> restored(make_encoder(), small_options(16));
  stream.seekg(0);
  torch::load(restored, stream);
  const auto params = model.named_parameters();
  const auto loaded_params = restored.named_parameters();
  REQUIRE(params.size() == loaded_params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    INFO("parameter " << params[i].key());
    REQUIRE(loaded_params[i].key() == params[i].key());
    REQUIRE(torch::equal(loaded_params[i].value(), params[i].value()));
    REQUIRE(loaded_params[i].value().requires_grad() == params[i].value().requires_grad());
  }
  const auto buffers = model.named_buffers();
  const auto loaded_buffers = restored.named_buffers();
  REQUIRE(buffers.size() == loaded_buffers.size());
  for (size_t i = 0; i < buffers.size(); ++i) {
    INFO("buffer " << buffers[i].key());
    REQUIRE(loaded_buffers[i].key() == buffers[i].key());
    REQUIRE(torch::equal(loaded_buffers[i].value(), buffers[i].value()));
  }
  // The target is part of it, and the restored learner's EMA follows its loaded weights.
  REQUIRE(torch::equal(restored.target_encoder()->parameters()[0], model.target_encoder()->parameters()[0]));
  REQUIRE_FALSE(torch::equal(model.target_encoder()->parameters()[0], model.encoder()->parameters()[0]));
  model.update_target(0.25);
  restored.update_target(0.25);
  for (size_t i = 0; i < params.size(); ++i) {
    INFO("after an update, parameter " << params[i].key());
    REQUIRE(torch::equal(loaded_params[i].value(), params[i].value()));
  }
}

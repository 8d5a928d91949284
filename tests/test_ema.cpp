// The target network: EMA arithmetic against float64 re-derivations, for a Sequential, a user
// module that is not Cloneable, and a std::shared_ptr module, under each buffer policy.
#include <byol/ema.hpp>

#include "support.hpp"

#include <limits>
#include <vector>

namespace {

using byol_test::values;

// A user module with a parameter, a BatchNorm child and a buffer of its own, not Cloneable.
struct PlainNetImpl : torch::nn::Module {
  PlainNetImpl() {
    fc = register_module("fc", torch::nn::Linear(6, 4));
    bn = register_module("bn", torch::nn::BatchNorm1d(4));
    scale = register_parameter("scale", torch::ones({4}));
    seen = register_buffer("seen", torch::zeros({4}));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    seen.add_(1.0);
    return bn(fc(x)) * scale;
  }
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
  torch::Tensor scale, seen;
};
TORCH_MODULE(PlainNet);

torch::nn::Sequential make_sequential() {
  return torch::nn::Sequential(torch::nn::Linear(5, 7), torch::nn::BatchNorm1d(7), torch::nn::ReLU(),
                               torch::nn::Linear(7, 3));
}

std::vector<std::vector<double>> snapshot(const std::vector<torch::Tensor>& tensors) {
  std::vector<std::vector<double>> out;
  for (const auto& t : tensors) {
    out.push_back(values(t));
  }
  return out;
}

// Moves the online network somewhere else, as an optimizer step and a forward pass would.
void perturb(torch::nn::Module& online) {
  torch::NoGradGuard no_grad;
  for (auto& p : online.parameters()) {
    p.add_(torch::randn_like(p));
  }
}

// Checks target == tau * before + (1 - tau) * online, element by element, in float64.
void require_ema(const std::vector<torch::Tensor>& target, const std::vector<std::vector<double>>& before,
                 const std::vector<torch::Tensor>& online, double tau) {
  REQUIRE(target.size() == online.size());
  for (size_t i = 0; i < target.size(); ++i) {
    const auto o = values(online[i]);
    std::vector<double> expected(o.size());
    for (size_t k = 0; k < o.size(); ++k) {
      expected[k] = tau * before[i][k] + (1.0 - tau) * o[k];
    }
    INFO("tensor " << i);
    REQUIRE_CLOSE(values(target[i]), expected, 1e-6, 1e-6);
  }
}

template <typename M>
void run_policy_checks(M online, byol::EmaTarget<M>& ema, byol::BufferPolicy policy, const torch::Tensor& batch) {
  auto& target = ema.target();
  // The target starts as an exact copy and never asks for gradients.
  const auto op = online->parameters();
  const auto tp = target->parameters();
  REQUIRE(op.size() == tp.size());
  for (size_t i = 0; i < op.size(); ++i) {
    REQUIRE(torch::equal(op[i], tp[i]));
    REQUIRE_FALSE(tp[i].requires_grad());
    REQUIRE(op[i].data_ptr() != tp[i].data_ptr());
  }
  // Forward passes in training mode move each network's own BatchNorm statistics.
  online->forward(batch);
  target->forward(batch * 2 + 1);
  perturb(*online);
  const auto params_before = snapshot(tp);
  const auto buffers_before = snapshot(target->buffers());
  const double tau = 0.9;
  ema.update(tau);
  require_ema(target->parameters(), params_before, online->parameters(), tau);

  const auto ob = online->buffers();
  const auto tb = target->buffers();
  for (size_t i = 0; i < tb.size(); ++i) {
    INFO("buffer " << i);
    switch (policy) {
      case byol::BufferPolicy::own:
        REQUIRE(values(tb[i]) == buffers_before[i]);
        break;
      case byol::BufferPolicy::copy:
        REQUIRE(torch::equal(tb[i], ob[i]));
        break;
      case byol::BufferPolicy::average:
        if (tb[i].is_floating_point()) {
          require_ema({tb[i]}, {buffers_before[i]}, {ob[i]}, tau);
        } else {
          REQUIRE(torch::equal(tb[i], ob[i]));
        }
        break;
    }
  }
}

const std::vector<byol::BufferPolicy> kPolicies = {byol::BufferPolicy::own, byol::BufferPolicy::copy,
                                                   byol::BufferPolicy::average};

}  // namespace

TEST_CASE("ema_update_ computes tau * target + (1 - tau) * online over many tensors", "[ema]") {
  // Sizes around and above the 32 Ki-element block, and an empty tensor.
  std::vector<torch::Tensor> target, online;
  for (const int64_t n : {1, 5, 32768, 32769, 100000, 0, 7}) {
    target.push_back(torch::randn({n}));
    online.push_back(torch::randn({n}));
  }
  target.push_back(torch::randn({3, 4}, torch::kDouble));
  online.push_back(torch::randn({3, 4}, torch::kDouble));
  const auto before = snapshot(target);
  byol::functional::ema_update_(target, online, 0.996);
  require_ema(target, before, online, 0.996);
}

TEST_CASE("ema_update_ is exact at tau = 1 and tau = 0", "[ema]") {
  std::vector<torch::Tensor> target = {torch::randn({1000}), torch::randn({3, 3})};
  std::vector<torch::Tensor> online = {torch::randn({1000}), torch::randn({3, 3})};
  const auto t0 = target[0].clone();
  byol::functional::ema_update_(target, online, 1.0);
  REQUIRE(torch::equal(target[0], t0));
  byol::functional::ema_update_(target, online, 0.0);
  REQUIRE(torch::equal(target[0], online[0]));
  REQUIRE(torch::equal(target[1], online[1]));
}

TEST_CASE("ema_update_ handles mixed dtypes and strides through the fallback", "[ema]") {
  std::vector<torch::Tensor> target = {torch::randn({4, 6}), torch::randn({8}, torch::kDouble)};
  std::vector<torch::Tensor> online = {torch::randn({6, 4}).t(), torch::randn({8})};
  const auto before = snapshot(target);
  byol::functional::ema_update_(target, online, 0.75);
  require_ema(target, before, online, 0.75);
}

TEST_CASE("ema_update_ at tau = 1 leaves fallback pairs bitwise unchanged, even next to an inf", "[ema]") {
  // Both pairs take the fallback: different dtypes, and different strides. 1 * x + 0 * inf would
  // be NaN, so any arithmetic on them at tau = 1 shows.
  std::vector<torch::Tensor> target = {torch::randn({8}, torch::kDouble), torch::randn({4, 6})};
  std::vector<torch::Tensor> online = {torch::randn({8}), torch::randn({6, 4}).t()};
  online[0][3] = std::numeric_limits<float>::infinity();
  online[1][2][1] = -std::numeric_limits<float>::infinity();
  const auto t0 = target[0].clone();
  const auto t1 = target[1].clone();
  byol::functional::ema_update_(target, online, 1.0);
  REQUIRE(torch::equal(target[0], t0));
  REQUIRE(torch::equal(target[1], t1));
}

TEST_CASE("EmaTarget on a torch::nn::Sequential, each buffer policy", "[ema]") {
  for (const auto policy : kPolicies) {
    DYNAMIC_SECTION("policy " << static_cast<int>(policy)) {
      auto online = make_sequential();
      byol::EmaTarget<torch::nn::Sequential> ema(online, byol::EmaOptions().buffers(policy));
      run_policy_checks(online, ema, policy, torch::randn({9, 5}));
    }
  }
}

TEST_CASE("EmaTarget on a user module that is not Cloneable, with a blank twin", "[ema]") {
  for (const auto policy : kPolicies) {
    DYNAMIC_SECTION("policy " << static_cast<int>(policy)) {
      PlainNet online;
      PlainNet twin;
      byol::EmaTarget<PlainNet> ema(online, twin, byol::EmaOptions().buffers(policy));
      REQUIRE(ema.target().ptr() == twin.ptr());
      run_policy_checks(online, ema, policy, torch::randn({9, 6}));
    }
  }
  // Without a twin, the error says what to do.
  PlainNet online;
  byol_test::require_error([&] { byol::EmaTarget<PlainNet> ema(online); }, {"Cloneable", "twin"});
}

TEST_CASE("EmaTarget on a std::shared_ptr module", "[ema]") {
  auto online = std::make_shared<PlainNetImpl>();
  byol::EmaTarget<std::shared_ptr<PlainNetImpl>> ema(online, std::make_shared<PlainNetImpl>(),
                                                     byol::EmaOptions().buffers(byol::BufferPolicy::average));
  run_policy_checks(online, ema, byol::BufferPolicy::average, torch::randn({9, 6}));
}

TEST_CASE("EmaTarget follows the online network to another dtype and memory format", "[ema]") {
  torch::nn::Sequential online(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3)), torch::nn::BatchNorm2d(8));
  byol::EmaTarget<torch::nn::Sequential> ema(online);
  online->to(torch::kDouble);
  for (auto& p : online->parameters()) {
    if (p.dim() == 4) {
      p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }
  perturb(*online);
  // The target's values, as they were, in float64.
  const auto before = snapshot(ema.target()->parameters());
  ema.update(0.5);
  for (auto& p : ema.target()->parameters()) {
    REQUIRE(p.scalar_type() == torch::kDouble);
    REQUIRE_FALSE(p.requires_grad());
  }
  REQUIRE(ema.target()->parameters()[0].is_contiguous(torch::MemoryFormat::ChannelsLast));
  for (auto& b : ema.target()->buffers()) {
    if (b.is_floating_point()) {
      REQUIRE(b.scalar_type() == torch::kDouble);
    }
  }
  require_ema(ema.target()->parameters(), before, online->parameters(), 0.5);
  // And it still runs.
  ema.target()->forward(torch::randn({2, 3, 5, 5}, torch::kDouble));
}

TEST_CASE("EmaTarget rejects bad input with named arguments", "[ema]") {
  using byol_test::require_error;
  auto online = make_sequential();
  byol::EmaTarget<torch::nn::Sequential> ema(online);
  require_error([&] { ema.update(1.5); }, {"tau", "1.5"});
  require_error([&] { ema.update(-0.1); }, {"tau", "-0.1"});
  // A twin of another structure names the mismatch.
  torch::nn::Sequential other(torch::nn::Linear(5, 7), torch::nn::BatchNorm1d(7), torch::nn::ReLU(),
                              torch::nn::Linear(7, 4));
  require_error([&] { byol::EmaTarget<torch::nn::Sequential> bad(online, other); }, {"3.weight", "[4, 7]", "[3, 7]"});
  require_error([&] { byol::EmaTarget<torch::nn::Sequential> bad(online, online); }, {"twin"});
  std::vector<torch::Tensor> a = {torch::randn({3})}, b = {torch::randn({4})};
  require_error([&] { byol::functional::ema_update_(a, b, 0.5); }, {"shape", "[3]", "[4]"});
}

TEST_CASE("ema_update_ updates a tied tensor once: the single update, bitwise the same every run", "[ema]") {
  torch::manual_seed(11);
  const auto t0 = torch::rand({300, 300});
  const auto o = torch::rand({300, 300});
  std::vector<torch::Tensor> results;
  for (int run = 0; run < 3; ++run) {
    auto t = t0.clone();
    byol::functional::ema_update_({t, t}, {o, o}, 0.5);
    results.push_back(t);
  }
  // 0.5 * t + 0.5 * o, once, in float64.
  std::vector<double> expected;
  const auto tv = values(t0), ov = values(o);
  for (size_t i = 0; i < tv.size(); ++i) expected.push_back(0.5 * tv[i] + 0.5 * ov[i]);
  REQUIRE_CLOSE(values(results[0]), expected, 1e-6, 1e-7);
  REQUIRE(torch::equal(results[0], results[1]));
  REQUIRE(torch::equal(results[0], results[2]));
  // Two handles to one view are the same tensor too.
  auto t = t0.clone();
  byol::functional::ema_update_({t.view({90000}), t.view({90000})}, {o.view({90000}), o.view({90000})}, 0.5);
  REQUIRE(torch::equal(t, results[0]));
}

TEST_CASE("ema_update_ rejects ambiguous ties and overlapping views", "[ema]") {
  using byol_test::require_error;
  auto t = torch::rand({4, 4});
  require_error([&] { byol::functional::ema_update_({t, t}, {torch::rand({4, 4}), torch::rand({4, 4})}, 0.5); },
                {"target tensor 1", "target tensor 0", "differ"});
  auto base = torch::rand({10});
  require_error([&] { byol::functional::ema_update_({base.narrow(0, 0, 6), base.narrow(0, 3, 6)},
                                                    {torch::rand({6}), torch::rand({6})}, 0.5); },
                {"0 and 1", "overlap"});
}

TEST_CASE("EmaTarget on a module with tied weights follows the single update", "[ema]") {
  torch::nn::Linear shared(3, 3), twin_shared(3, 3);
  torch::nn::Sequential online(shared, shared);
  byol::EmaTarget<torch::nn::Sequential> ema(online, torch::nn::Sequential(twin_shared, twin_shared));
  const auto w0 = values(shared->weight);  // the target starts as this copy
  {
    torch::NoGradGuard no_grad;
    shared->weight.add_(1.0);
  }
  const auto w1 = values(shared->weight);
  ema.update(0.5);
  std::vector<double> expected;
  for (size_t i = 0; i < w0.size(); ++i) expected.push_back(0.5 * w0[i] + 0.5 * w1[i]);
  REQUIRE_CLOSE(values(twin_shared->weight), expected, 1e-6, 1e-7);
}

TEST_CASE("EmaTarget refuses to update after the online module gained or replaced a parameter", "[ema]") {
  using byol_test::require_error;
  auto online = std::make_shared<PlainNetImpl>();
  byol::EmaTarget<std::shared_ptr<PlainNetImpl>> ema(online, std::make_shared<PlainNetImpl>());
  ema.update(0.9);
  online->register_parameter("late", torch::ones({2}));
  require_error([&] { ema.update(0.9); }, {"EmaTarget::update", "6 parameters", "had 5", "rebuild the EmaTarget"});
  auto other = std::make_shared<PlainNetImpl>();
  byol::EmaTarget<std::shared_ptr<PlainNetImpl>> ema2(other, std::make_shared<PlainNetImpl>());
  {
    torch::NoGradGuard no_grad;
    other->scale.set_data(torch::ones({5}));
  }
  require_error([&] { ema2.update(0.9); }, {"'scale'", "[5]", "[4]", "rebuild the EmaTarget"});
}

TEST_CASE("EmaTarget::copy_from_online copies every parameter and buffer, whatever the policy", "[ema]") {
  PlainNet online;
  PlainNet twin;
  byol::EmaTarget<PlainNet> ema(online, twin, byol::EmaOptions().buffers(byol::BufferPolicy::own));
  // Move the online network away from the target: new weights, and buffers from a forward pass
  // that the target (policy own) does not follow.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : online->parameters()) {
      p.add_(torch::randn_like(p));
    }
  }
  online->train();
  online->forward(torch::randn({8, 6}));
  ema.update(0.99);
  REQUIRE_FALSE(torch::equal(ema.target()->fc->weight, online->fc->weight));
  REQUIRE_FALSE(torch::equal(ema.target()->seen, online->seen));

  ema.copy_from_online();
  const auto target_params = ema.target()->named_parameters();
  for (const auto& item : online->named_parameters()) {
    INFO(item.key());
    REQUIRE(torch::equal(target_params[item.key()], item.value()));
    REQUIRE_FALSE(target_params[item.key()].requires_grad());
  }
  const auto target_buffers = ema.target()->named_buffers();
  for (const auto& item : online->named_buffers()) {
    INFO(item.key());
    REQUIRE(torch::equal(target_buffers[item.key()], item.value()));
  }
  // A copy, not an alias: the target does not move with the online network afterwards.
  {
    torch::NoGradGuard no_grad;
    online->fc->weight.add_(1.0);
  }
  REQUIRE_FALSE(torch::equal(ema.target()->fc->weight, online->fc->weight));
}

// The one helper that sorts EMA's pairs and LARS's parameters between the fused CPU kernel and
// ATen's per-device foreach calls (byol/detail/partition.hpp). Devices need no hardware here:
// only their identity is compared.
TEST_CASE("PathPartition: fusable CPU entries go to the fused kernel, the rest to one group per device", "[ema]") {
  const c10::Device cpu(c10::kCPU), gpu0("cuda:0"), gpu1("cuda:1");
  auto sort = [&] {
    byol::detail::PathPartition part;
    part.add(0, cpu, true);
    part.add(1, gpu1, true);
    part.add(2, cpu, false);
    part.add(3, gpu0, true);
    part.add(4, gpu1, false);
    part.add(5, cpu, true);
    return part;
  };
  const auto part = sort();
  CHECK(part.fused() == std::vector<size_t>{0, 5});
  REQUIRE(part.aten().size() == 3);
  CHECK(part.aten()[0].device == gpu1);
  CHECK(part.aten()[0].indices == std::vector<size_t>{1, 4});
  CHECK(part.aten()[1].device == cpu);
  CHECK(part.aten()[1].indices == std::vector<size_t>{2});
  CHECK(part.aten()[2].device == gpu0);
  CHECK(part.aten()[2].indices == std::vector<size_t>{3});

  // Under a guard that asks for ATen's path, the CPU entries join the CPU group in their order.
  byol::detail::KernelPathGuard aten(byol::detail::KernelPath::aten);
  const auto forced = sort();
  CHECK(forced.fused().empty());
  REQUIRE(forced.aten().size() == 3);
  CHECK(forced.aten()[0].device == cpu);
  CHECK(forced.aten()[0].indices == std::vector<size_t>{0, 2, 5});

  CHECK(byol::detail::pick(std::vector<int>{10, 11, 12, 13}, {3, 1}) == std::vector<int>{13, 11});
}

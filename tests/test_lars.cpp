// LARS against a plain float64 re-derivation of docs/spec.md's update, over several steps, plus the
// Optimizer contract: param groups, state_dict resume, LR schedulers.
#include <byol/optim/lars.hpp>
#include <byol/schedule.hpp>

#include "support.hpp"

#include <cmath>
#include <sstream>
#include <vector>

namespace {

using byol_test::values;

// One parameter as docs/spec.md describes it, in float64.
struct RefParam {
  std::vector<double> w;
  std::vector<double> m;
  bool adapted;
};

double norm(const std::vector<double>& x) {
  double s = 0.0;
  for (double v : x) s += v * v;
  return std::sqrt(s);
}

// use_trust = false: a group with LARSOptions::trust_ratio(false), u = g' (plain SGD with momentum
// and weight decay) for adapted parameters.
void reference_step(RefParam& p, const std::vector<double>& g, double lr, double mu, double wd, double eta,
                    bool use_trust = true) {
  std::vector<double> u(g.size());
  if (p.adapted) {
    std::vector<double> gp(g.size());
    for (size_t i = 0; i < g.size(); ++i) gp[i] = g[i] + wd * p.w[i];
    const double nw = norm(p.w), ng = norm(gp);
    const double trust = (use_trust && nw > 0 && ng > 0) ? eta * nw / ng : 1.0;
    for (size_t i = 0; i < g.size(); ++i) u[i] = trust * gp[i];
  } else {
    u = g;
  }
  if (p.m.empty()) p.m.assign(g.size(), 0.0);
  for (size_t i = 0; i < g.size(); ++i) {
    p.m[i] = mu * p.m[i] + u[i];
    p.w[i] -= lr * p.m[i];
  }
}

// A weight matrix, a bias, a conv kernel, a zero-initialised weight (the ||w|| = 0 guard) and a
// matrix large enough to span several of the fused kernel's blocks.
std::vector<torch::Tensor> make_params(torch::ScalarType dtype) {
  auto zero_weight = torch::zeros({4, 3}, dtype);
  return {torch::randn({7, 5}, dtype), torch::randn({7}, dtype), torch::randn({3, 2, 3, 3}, dtype), zero_weight,
          torch::randn({6, 40000}, dtype)};
}

std::vector<std::vector<torch::Tensor>> make_grads(const std::vector<torch::Tensor>& params, int steps) {
  std::vector<std::vector<torch::Tensor>> grads(steps);
  for (auto& g : grads) {
    for (const auto& p : params) g.push_back(torch::randn_like(p));
  }
  return grads;
}

void set_grads(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads) {
  for (size_t i = 0; i < params.size(); ++i) {
    auto p = params[i];
    p.mutable_grad() = grads[i].clone();
  }
}

std::vector<torch::Tensor> leaves(const std::vector<torch::Tensor>& init) {
  std::vector<torch::Tensor> out;
  for (const auto& t : init) out.push_back(t.clone().requires_grad_(true));
  return out;
}

void check_trajectory(torch::ScalarType dtype, double rtol, bool exclude) {
  const double lr = 0.7, mu = 0.9, wd = 0.05, eta = 0.02;
  const auto init = make_params(dtype);
  const auto grads = make_grads(init, 6);
  auto params = leaves(init);
  byol::optim::LARS lars(params, byol::optim::LARSOptions(lr).momentum(mu).weight_decay(wd).eta(eta)
                                     .exclude_bias_and_norm(exclude));
  std::vector<RefParam> ref;
  for (const auto& p : init) ref.push_back({values(p), {}, !(exclude && p.dim() < 2)});
  for (size_t step = 0; step < grads.size(); ++step) {
    set_grads(params, grads[step]);
    lars.step();
    for (size_t i = 0; i < params.size(); ++i) {
      reference_step(ref[i], values(grads[step][i]), lr, mu, wd, eta);
      INFO("step " << step << ", parameter " << i);
      REQUIRE_CLOSE(values(params[i]), ref[i].w, rtol, rtol);
    }
  }
}

}  // namespace

TEST_CASE("LARS follows the float64 re-derivation step by step", "[lars]") {
  SECTION("float64 parameters, biases excluded") { check_trajectory(torch::kDouble, 1e-11, true); }
  SECTION("float32 parameters, biases excluded") { check_trajectory(torch::kFloat, 2e-5, true); }
  SECTION("float64 parameters, nothing excluded") { check_trajectory(torch::kDouble, 1e-11, false); }
}

TEST_CASE("LARS trust-ratio guards: zero weights and zero gradients", "[lars]") {
  // ||w|| = 0: trust 1, so the first update is lr * (g + wd * 0) = lr * g.
  auto w = torch::zeros({3, 4}, torch::requires_grad());
  // ||g'|| = 0 (zero gradient, no decay): trust 1 and u = 0, the weight stays.
  auto v = torch::randn({3, 4}, torch::requires_grad());
  byol::optim::LARS lars({w, v}, byol::optim::LARSOptions(0.5).momentum(0.9).weight_decay(0.0));
  const auto g = torch::randn({3, 4});
  w.mutable_grad() = g.clone();
  v.mutable_grad() = torch::zeros({3, 4});
  const auto v0 = v.detach().clone();
  lars.step();
  REQUIRE_CLOSE(values(w), values(-0.5 * g), 1e-6, 1e-7);
  REQUIRE(torch::equal(v.detach(), v0));
  REQUIRE(torch::isfinite(w).all().item<bool>());
}

TEST_CASE("LARS skips parameters without gradients and honours param groups", "[lars]") {
  auto a = torch::randn({5, 5}, torch::requires_grad());
  auto b = torch::randn({5}, torch::requires_grad());
  auto c = torch::randn({5, 5}, torch::requires_grad());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{a, b});
  groups.emplace_back(std::vector<torch::Tensor>{c}, std::make_unique<byol::optim::LARSOptions>(
                                                          byol::optim::LARSOptions(2.0).momentum(0.0)));
  byol::optim::LARS lars(groups, byol::optim::LARSOptions(0.1).momentum(0.0));
  const auto b0 = b.detach().clone();
  const auto a0 = values(a), c0 = values(c);
  const auto ga = torch::randn({5, 5}), gc = torch::randn({5, 5});
  a.mutable_grad() = ga.clone();
  c.mutable_grad() = gc.clone();
  lars.step();
  REQUIRE(torch::equal(b.detach(), b0));
  RefParam ra{a0, {}, true}, rc{c0, {}, true};
  reference_step(ra, values(ga), 0.1, 0.0, 0.0, 0.001);
  reference_step(rc, values(gc), 2.0, 0.0, 0.0, 0.001);
  REQUIRE_CLOSE(values(a), ra.w, 1e-6, 1e-7);
  REQUIRE_CLOSE(values(c), rc.w, 1e-6, 1e-7);
}

TEST_CASE("LARS state_dict save and load resume the identical trajectory", "[lars]") {
  const auto init = make_params(torch::kFloat);
  const auto grads = make_grads(init, 7);
  const auto options = byol::optim::LARSOptions(0.3).weight_decay(1e-3);
  // Uninterrupted: 7 steps.
  auto straight = leaves(init);
  byol::optim::LARS lars_a(straight, options);
  for (const auto& g : grads) {
    set_grads(straight, g);
    lars_a.step();
  }
  // Interrupted after 4: save, rebuild everything, load, 3 more.
  auto first = leaves(init);
  byol::optim::LARS lars_b(first, options);
  for (int k = 0; k < 4; ++k) {
    set_grads(first, grads[k]);
    lars_b.step();
  }
  std::stringstream stream;
  {
    torch::serialize::OutputArchive archive;
    lars_b.save(archive);
    archive.save_to(stream);
  }
  std::vector<torch::Tensor> resumed;
  for (const auto& p : first) resumed.push_back(p.detach().clone().requires_grad_(true));
  byol::optim::LARS lars_c(resumed, byol::optim::LARSOptions(99.0));  // options come from the file
  {
    torch::serialize::InputArchive archive;
    archive.load_from(stream);
    lars_c.load(archive);
  }
  REQUIRE(lars_c.param_groups()[0].options().get_lr() == 0.3);
  for (int k = 4; k < 7; ++k) {
    set_grads(resumed, grads[k]);
    lars_c.step();
  }
  for (size_t i = 0; i < straight.size(); ++i) {
    INFO("parameter " << i);
    REQUIRE(torch::equal(resumed[i], straight[i]));
  }
}

TEST_CASE("LARS is driven by LibTorch's schedulers and by WarmupCosineLR", "[lars]") {
  auto w = torch::randn({4, 4}, torch::requires_grad());
  byol::optim::LARS lars({w}, byol::optim::LARSOptions(0.8));
  // StepLR's step() k = 0, 1, 2 ... multiplies by gamma when k is a positive multiple of step_size.
  torch::optim::StepLR step_lr(lars, /*step_size=*/2, /*gamma=*/0.5);
  for (int k = 0; k < 3; ++k) step_lr.step();
  REQUIRE(lars.param_groups()[0].options().get_lr() == Approx(0.4));

  byol::schedule::WarmupCosineLR schedule(lars, /*warmup_steps=*/4, /*total_steps=*/12);
  REQUIRE(lars.param_groups()[0].options().get_lr() == 0.0);
  schedule.step();
  schedule.step();
  REQUIRE(lars.param_groups()[0].options().get_lr() == Approx(0.2));  // 0.4 * 2 / 4
}

TEST_CASE("the fused CPU step and the multi-tensor path agree", "[lars]") {
  const auto init = make_params(torch::kFloat);
  const auto grads = make_grads(init, 3);
  std::vector<torch::Tensor> a, b, ma, mb;
  for (const auto& p : init) {
    a.push_back(p.clone());
    b.push_back(p.clone());
    ma.push_back(torch::zeros_like(p));
    mb.push_back(torch::zeros_like(p));
  }
  std::vector<char> adapted;
  for (const auto& p : init) adapted.push_back(p.dim() >= 2);
  const byol::optim::detail::LARSStep hp{0.5, 0.9, 0.01, 0.001};
  for (const auto& g : grads) {
    byol::optim::detail::lars_step_cpu(a, g, ma, adapted, hp);
    byol::optim::detail::lars_step_foreach(b, g, mb, adapted, hp);
  }
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("parameter " << i);
    REQUIRE_CLOSE(values(a[i]), values(b[i]), 1e-5, 1e-6);
    REQUIRE_CLOSE(values(ma[i]), values(mb[i]), 1e-5, 1e-6);
  }
  // A non-contiguous gradient takes the multi-tensor path inside LARS::step and still matches.
  auto w = torch::randn({6, 5}, torch::requires_grad());
  auto w_ref = values(w);
  byol::optim::LARS lars({w}, byol::optim::LARSOptions(0.5).weight_decay(0.01));
  const auto g = torch::randn({5, 6}).t();
  w.mutable_grad() = g;
  lars.step();
  RefParam ref{w_ref, {}, true};
  reference_step(ref, values(g), 0.5, 0.9, 0.01, 0.001);
  REQUIRE_CLOSE(values(w), ref.w, 1e-5, 1e-6);
}

TEST_CASE("the multi-tensor path keeps float64 trust ratios in float64", "[lars]") {
  // A float32 trust ratio is off by ~1e-7 relative, which moves w by ~1e-9 here.
  const double lr = 0.7, mu = 0.9, wd = 0.05, eta = 0.02;
  const auto init = make_params(torch::kDouble);
  const auto grads = make_grads(init, 3);
  std::vector<torch::Tensor> w, m;
  std::vector<char> adapted;
  std::vector<RefParam> ref;
  for (const auto& p : init) {
    w.push_back(p.clone());
    m.push_back(torch::zeros_like(p));
    adapted.push_back(p.dim() >= 2);
    ref.push_back({values(p), {}, p.dim() >= 2});
  }
  const byol::optim::detail::LARSStep hp{lr, mu, wd, eta};
  for (size_t step = 0; step < grads.size(); ++step) {
    byol::optim::detail::lars_step_foreach(w, grads[step], m, adapted, hp);
    for (size_t i = 0; i < w.size(); ++i) {
      reference_step(ref[i], values(grads[step][i]), lr, mu, wd, eta);
      INFO("step " << step << ", parameter " << i);
      REQUIRE(w[i].scalar_type() == torch::kDouble);
      REQUIRE_CLOSE(values(w[i]), ref[i].w, 1e-12, 1e-12);
      REQUIRE_CLOSE(values(m[i]), ref[i].m, 1e-12, 1e-12);
    }
  }
}

TEST_CASE("the fused LARS step does not depend on the thread count", "[lars]") {
  const auto init = make_params(torch::kFloat);
  const auto grads = make_grads(init, 2);
  auto run = [&](int threads) {
    const int saved = torch::get_num_threads();
    torch::set_num_threads(threads);
    auto params = leaves(init);
    byol::optim::LARS lars(params, byol::optim::LARSOptions(0.5).weight_decay(1e-4));
    for (const auto& g : grads) {
      set_grads(params, g);
      lars.step();
    }
    torch::set_num_threads(saved);
    return params;
  };
  const auto one = run(1);
  const auto two = run(2);
  for (size_t i = 0; i < one.size(); ++i) REQUIRE(torch::equal(one[i], two[i]));
}

TEST_CASE("LARS rejects bad options with named arguments", "[lars]") {
  using byol_test::require_error;
  auto w = torch::randn({2, 2}, torch::requires_grad());
  require_error([&] { byol::optim::LARS({w}, byol::optim::LARSOptions(-1.0)); }, {"lr", "-1"});
  require_error([&] { byol::optim::LARS({w}, byol::optim::LARSOptions(0.1).momentum(1.5)); }, {"momentum", "1.5"});
  require_error([&] { byol::optim::LARS({w}, byol::optim::LARSOptions(0.1).weight_decay(-2)); },
                {"weight_decay", "-2"});
  require_error([&] { byol::optim::LARS({w}, byol::optim::LARSOptions(0.1).eta(0)); }, {"eta", "0"});
}

TEST_CASE("LARS refuses a gradient on another device, naming the parameter and both devices", "[lars]") {
  using byol_test::require_error;
  auto a = torch::randn({3, 4}).requires_grad_(true);
  auto b = torch::randn({5, 2}).requires_grad_(true);
  byol::optim::LARS lars({a, b}, byol::optim::LARSOptions(0.1));
  a.mutable_grad() = torch::randn({3, 4});
  b.mutable_grad() = torch::empty({5, 2}, torch::TensorOptions().device(torch::kMeta));
  const auto before = a.detach().clone();
  require_error([&] { lars.step(); }, {"parameter 1 of group 0", "cpu", "meta"});
  REQUIRE(torch::equal(a.detach(), before));  // checked before anything is updated
  b.mutable_grad() = torch::randn({2, 5});
  require_error([&] { lars.step(); }, {"parameter 1 of group 0", "[5, 2]", "[2, 5]"});
  b.mutable_grad() = torch::ones({5, 2}, torch::kInt);
  require_error([&] { lars.step(); }, {"parameter 1 of group 0", "Int", "floating point"});
  // A gradient of another floating dtype is converted, as before.
  b.mutable_grad() = torch::randn({5, 2}, torch::kDouble);
  REQUIRE_NOTHROW(lars.step());
}

TEST_CASE("LARS updates a tied weight once: the untied single update, bitwise the same every run", "[lars]") {
  const double lr = 0.3, mu = 0.9, wd = 0.01, eta = 0.05;
  torch::manual_seed(5);
  const auto init = torch::randn({64, 600}, torch::kDouble);
  const auto grad0 = torch::randn({64, 600}, torch::kDouble);
  const auto grad1 = torch::randn({64, 600}, torch::kDouble);
  std::vector<torch::Tensor> results;
  for (int run = 0; run < 3; ++run) {
    auto w = init.clone().requires_grad_(true);
    // Sequential(shared, shared)->parameters() lists the same tensor twice; so does this.
    byol::optim::LARS lars({w, w}, byol::optim::LARSOptions(lr).momentum(mu).weight_decay(wd).eta(eta));
    for (const auto& g : {grad0, grad1}) {
      w.mutable_grad() = g.clone();
      lars.step();
    }
    results.push_back(w.detach().clone());
  }
  RefParam ref{values(init), {}, true};
  reference_step(ref, values(grad0), lr, mu, wd, eta);
  reference_step(ref, values(grad1), lr, mu, wd, eta);
  REQUIRE_CLOSE(values(results[0]), ref.w, 1e-11, 1e-11);
  REQUIRE(torch::equal(results[0], results[1]));
  REQUIRE(torch::equal(results[0], results[2]));
  // Tied through a module: both children share one Linear.
  torch::nn::Linear shared(4, 3);
  torch::nn::Sequential model(shared, shared);
  REQUIRE(model->parameters().size() == 4);
  byol::optim::LARS tied(model->parameters(), byol::optim::LARSOptions(0.1));
  const auto w0 = shared->weight.detach().clone();
  const auto b0 = values(shared->bias);
  shared->weight.mutable_grad() = torch::ones({3, 4});
  shared->bias.mutable_grad() = torch::ones({3});
  tied.step();
  // bias (excluded): m = g = 1, b -= 0.1 * 1, once (twice would take 0.1 + 0.19).
  std::vector<double> b1;
  for (double b : b0) b1.push_back(b - 0.1);
  REQUIRE_CLOSE(values(shared->bias), b1, 1e-6, 1e-6);
  RefParam rw{values(w0), {}, true};
  reference_step(rw, values(torch::ones({3, 4})), 0.1, 0.9, 0.0, 0.001);
  REQUIRE_CLOSE(values(shared->weight), rw.w, 1e-6, 1e-6);
}

TEST_CASE("LARS rejects different views of one storage that overlap", "[lars]") {
  auto base = torch::randn({10, 4}).requires_grad_(true);
  auto storage = base.detach();
  auto a = storage.narrow(0, 0, 6);
  auto b = storage.narrow(0, 4, 6);
  a.mutable_grad() = torch::randn({6, 4});
  b.mutable_grad() = torch::randn({6, 4});
  byol::optim::LARS lars({a, b}, byol::optim::LARSOptions(0.1));
  byol_test::require_error([&] { lars.step(); }, {"LARS", "0 and 1", "overlap"});
  // Disjoint views of one storage are two tensors, each updated.
  auto c = storage.narrow(0, 6, 4);
  c.mutable_grad() = torch::randn({4, 4});
  byol::optim::LARS disjoint({a, c}, byol::optim::LARSOptions(0.1));
  REQUIRE_NOTHROW(disjoint.step());
}

TEST_CASE("LARSOptions::trust_ratio(false) gives a group plain SGD with momentum and weight decay", "[lars]") {
  const double lr = 0.3, mu = 0.9, wd = 0.05, eta = 0.001;
  // Group 0: the encoder, LARS as usual. Group 1: a probe (weight and bias) without trust ratio.
  const std::vector<torch::Tensor> init = {torch::randn({6, 5}, torch::kDouble), torch::randn({3, 6}, torch::kDouble),
                                           torch::randn({3}, torch::kDouble)};
  const auto grads = make_grads(init, 4);
  const auto probe_options = byol::optim::LARSOptions(lr).momentum(mu).weight_decay(wd).eta(eta).trust_ratio(false);
  const std::vector<bool> trust = {true, false, false};
  std::vector<RefParam> ref;
  for (const auto& p : init) ref.push_back({values(p), {}, p.dim() >= 2});

  SECTION("the fused CPU step, through LARS") {
    auto params = leaves(init);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<torch::Tensor>{params[0]});
    groups.emplace_back(std::vector<torch::Tensor>{params[1], params[2]},
                        std::make_unique<byol::optim::LARSOptions>(probe_options));
    byol::optim::LARS lars(groups, byol::optim::LARSOptions(lr).momentum(mu).weight_decay(wd).eta(eta));
    for (size_t step = 0; step < grads.size(); ++step) {
      set_grads(params, grads[step]);
      lars.step();
      for (size_t i = 0; i < params.size(); ++i) {
        reference_step(ref[i], values(grads[step][i]), lr, mu, wd, eta, trust[i]);
        INFO("step " << step << ", parameter " << i);
        REQUIRE_CLOSE(values(params[i]), ref[i].w, 1e-11, 1e-11);
      }
    }
  }
  SECTION("the multi-tensor path") {
    std::vector<torch::Tensor> w, m;
    for (const auto& p : init) {
      w.push_back(p.clone());
      m.push_back(torch::zeros_like(p));
    }
    const byol::optim::detail::LARSStep with{lr, mu, wd, eta, true};
    const byol::optim::detail::LARSStep without{lr, mu, wd, eta, false};
    for (size_t step = 0; step < grads.size(); ++step) {
      byol::optim::detail::lars_step_foreach({w[0]}, {grads[step][0]}, {m[0]}, {1}, with);
      byol::optim::detail::lars_step_foreach({w[1], w[2]}, {grads[step][1], grads[step][2]}, {m[1], m[2]}, {1, 0},
                                             without);
      for (size_t i = 0; i < w.size(); ++i) {
        reference_step(ref[i], values(grads[step][i]), lr, mu, wd, eta, trust[i]);
        INFO("step " << step << ", parameter " << i);
        REQUIRE_CLOSE(values(w[i]), ref[i].w, 1e-12, 1e-12);
        REQUIRE_CLOSE(values(m[i]), ref[i].m, 1e-12, 1e-12);
      }
    }
  }
}

TEST_CASE("LARSOptions::trust_ratio is saved and loaded; older archives load as true", "[lars]") {
  auto a = torch::randn({4, 4}, torch::requires_grad());
  auto b = torch::randn({2, 4}, torch::requires_grad());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{a});
  groups.emplace_back(std::vector<torch::Tensor>{b}, std::make_unique<byol::optim::LARSOptions>(
                                                         byol::optim::LARSOptions(0.5).trust_ratio(false)));
  byol::optim::LARS lars(groups, byol::optim::LARSOptions(0.1));
  std::stringstream stream;
  {
    torch::serialize::OutputArchive archive;
    lars.save(archive);
    archive.save_to(stream);
  }
  std::vector<torch::optim::OptimizerParamGroup> fresh;
  fresh.emplace_back(std::vector<torch::Tensor>{a});
  fresh.emplace_back(std::vector<torch::Tensor>{b});
  byol::optim::LARS loaded(fresh, byol::optim::LARSOptions(0.1));
  REQUIRE(static_cast<const byol::optim::LARSOptions&>(loaded.param_groups()[1].options()).trust_ratio());
  {
    torch::serialize::InputArchive archive;
    archive.load_from(stream);
    loaded.load(archive);
  }
  REQUIRE(static_cast<const byol::optim::LARSOptions&>(loaded.param_groups()[0].options()).trust_ratio());
  REQUIRE_FALSE(static_cast<const byol::optim::LARSOptions&>(loaded.param_groups()[1].options()).trust_ratio());

  // Options as an archive written before the field existed: the five older fields only.
  std::stringstream old_stream;
  {
    torch::serialize::OutputArchive old;
    old.write("lr", c10::IValue(0.25));
    old.write("momentum", c10::IValue(0.8));
    old.write("weight_decay", c10::IValue(1e-6));
    old.write("eta", c10::IValue(0.002));
    old.write("exclude_bias_and_norm", c10::IValue(false));
    old.save_to(old_stream);
  }
  torch::serialize::InputArchive old_in;
  old_in.load_from(old_stream);
  byol::optim::LARSOptions options(9.0);
  options.trust_ratio(false);
  options.serialize(old_in);
  REQUIRE(options.lr() == 0.25);
  REQUIRE_FALSE(options.exclude_bias_and_norm());
  REQUIRE(options.trust_ratio());
}

// Schedules at the points where their closed forms are known by hand: the first step, the end of
// warm-up, the middle of the cosine, and the last step.
#include <byol/optim/lars.hpp>
#include <byol/schedule.hpp>

#include "support.hpp"

#include <cmath>

TEST_CASE("target_tau: base at the start, halfway at the middle, 1 at the end", "[schedule]") {
  using byol::schedule::target_tau;
  REQUIRE(target_tau(0, 1000, 0.996) == Approx(0.996).epsilon(1e-15));
  REQUIRE(target_tau(500, 1000, 0.996) == Approx(0.998).epsilon(1e-15));   // cos(pi/2) = 0
  REQUIRE(target_tau(1000, 1000, 0.996) == 1.0);
  // A quarter of the way: 1 - 0.01 (cos(pi/4) + 1) / 2.
  REQUIRE(target_tau(250, 1000, 0.99) == Approx(1 - 0.01 * (std::sqrt(0.5) + 1) / 2).epsilon(1e-15));
  // Monotone non-decreasing.
  for (int k = 1; k <= 100; ++k) REQUIRE(target_tau(k, 100, 0.99) >= target_tau(k - 1, 100, 0.99));
}

TEST_CASE("warmup_cosine: linear ramp, peak at the boundary, cosine to the final value", "[schedule]") {
  using byol::schedule::warmup_cosine;
  // W = 10, K = 110, peak 2.
  REQUIRE(warmup_cosine(0, 10, 110, 2.0) == 0.0);
  REQUIRE(warmup_cosine(5, 10, 110, 2.0) == Approx(1.0));
  REQUIRE(warmup_cosine(9, 10, 110, 2.0) == Approx(1.8));
  REQUIRE(warmup_cosine(10, 10, 110, 2.0) == Approx(2.0));
  REQUIRE(warmup_cosine(60, 10, 110, 2.0) == Approx(1.0));                 // (1 + cos(pi/2)) / 2
  REQUIRE(warmup_cosine(110, 10, 110, 2.0) == Approx(0.0).margin(1e-15));
  REQUIRE(warmup_cosine(60, 10, 110, 2.0, 0.5) == Approx(1.25));           // 0.5 + 1.5 / 2
  REQUIRE(warmup_cosine(110, 10, 110, 2.0, 0.5) == Approx(0.5));
  // No warm-up: the peak at step 0.
  REQUIRE(warmup_cosine(0, 0, 50, 3.0) == Approx(3.0));
}

TEST_CASE("WarmupCosineLR sets each group's learning rate from its own peak", "[schedule]") {
  auto a = torch::randn({2, 2}, torch::requires_grad());
  auto b = torch::randn({2, 2}, torch::requires_grad());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{a});
  groups.emplace_back(std::vector<torch::Tensor>{b},
                      std::make_unique<byol::optim::LARSOptions>(byol::optim::LARSOptions(0.5)));
  byol::optim::LARS lars(groups, byol::optim::LARSOptions(2.0));
  byol::schedule::WarmupCosineLR schedule(lars, /*warmup_steps=*/10, /*total_steps=*/110);
  auto lr = [&](size_t g) { return lars.param_groups()[g].options().get_lr(); };
  REQUIRE(lr(0) == 0.0);
  REQUIRE(lr(1) == 0.0);
  for (int k = 0; k < 10; ++k) schedule.step();
  REQUIRE(schedule.current_step() == 10);
  REQUIRE(lr(0) == Approx(2.0));
  REQUIRE(lr(1) == Approx(0.5));
  for (int k = 0; k < 50; ++k) schedule.step();
  REQUIRE(lr(0) == Approx(1.0));
  REQUIRE(lr(1) == Approx(0.25));
  schedule.set_step(110);
  REQUIRE(lr(0) == Approx(0.0).margin(1e-15));
  // Resuming: a new scheduler built at step 5 of the same run.
  byol::optim::LARS fresh({a}, byol::optim::LARSOptions(2.0));
  byol::schedule::WarmupCosineLR resumed(fresh, 10, 110, 0.0, /*start_step=*/5);
  REQUIRE(fresh.param_groups()[0].options().get_lr() == Approx(1.0));
}

TEST_CASE("schedules reject bad steps with named arguments", "[schedule]") {
  using byol_test::require_error;
  using byol::schedule::target_tau;
  using byol::schedule::warmup_cosine;
  require_error([] { target_tau(11, 10, 0.99); }, {"step", "11"});
  require_error([] { target_tau(-1, 10, 0.99); }, {"step", "-1"});
  require_error([] { target_tau(0, 0, 0.99); }, {"total_steps", "0"});
  require_error([] { target_tau(0, 10, 1.5); }, {"base_tau", "1.5"});
  require_error([] { warmup_cosine(0, 10, 10, 1.0); }, {"warmup_steps", "10"});
  require_error([] { warmup_cosine(12, 1, 10, 1.0); }, {"step", "12"});
  auto w = torch::randn({2, 2}, torch::requires_grad());
  byol::optim::LARS lars({w}, byol::optim::LARSOptions(1.0));
  require_error([&] { byol::schedule::WarmupCosineLR s(lars, 20, 10); }, {"warmup_steps", "20"});
}

TEST_CASE("the documented loop uses one counter k for lr and tau, as the reference does", "[schedule]") {
  // docs/spec.md, "The step convention": update k (0 at the first) is made with lr(k) and is
  // followed by the target update with tau_k. The reference's formulas, in float64:
  const int64_t K = 7, W = 2;
  const double peak = 0.8, tau_base = 0.9, pi = std::acos(-1.0);
  auto ref_lr = [&](int64_t k) {
    return k < W ? peak * static_cast<double>(k) / static_cast<double>(W)
                 : peak * (1.0 + std::cos(pi * static_cast<double>(k - W) / static_cast<double>(K - W))) / 2.0;
  };
  auto ref_tau = [&](int64_t k) {
    return 1.0 - (1.0 - tau_base) * (std::cos(pi * static_cast<double>(k) / static_cast<double>(K)) + 1.0) / 2.0;
  };
  auto w = torch::randn({3, 3}, torch::requires_grad());
  byol::optim::LARS lars({w}, byol::optim::LARSOptions(peak));
  byol::schedule::WarmupCosineLR schedule(lars, W, K);
  // The loop of docs/spec.md and schedule.hpp: backward; lars.step(); schedule.step();
  // update_target(target_tau(k, K, tau_base)), k = current_step() before schedule.step().
  for (int64_t update = 0; update < K; ++update) {
    w.mutable_grad() = torch::randn({3, 3});
    const double lr_used = lars.param_groups()[0].options().get_lr();
    const int64_t k = schedule.current_step();
    lars.step();
    schedule.step();
    const double tau = byol::schedule::target_tau(k, K, tau_base);
    INFO("update " << update);
    REQUIRE(k == update);
    CHECK(lr_used == Approx(ref_lr(update)).epsilon(1e-14).margin(1e-15));
    CHECK(tau == Approx(ref_tau(update)).epsilon(1e-14));
  }
  // The first update: lr 0 (warm-up) and tau_base; the last: lr(K - 1) > 0 and tau just below 1.
  CHECK(ref_lr(0) == 0.0);
  CHECK(ref_tau(0) == Approx(tau_base).epsilon(1e-15));
  CHECK(ref_tau(K - 1) < 1.0);
}

TEST_CASE("TargetTau gives the reference's tau_k for update k and keeps step with WarmupCosineLR", "[schedule]") {
  // tau_k = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2, here written out in long double.
  const int64_t K = 13;
  const long double base = 0.99L, pi = 3.14159265358979323846264338327950288L;
  auto closed = [&](int64_t k) {
    return static_cast<double>(1.0L - (1.0L - base) * (std::cos(pi * static_cast<long double>(k) / K) + 1.0L) / 2.0L);
  };
  auto w = torch::randn({2, 2}, torch::requires_grad());
  byol::optim::LARS lars({w}, byol::optim::LARSOptions(1.0));
  byol::schedule::WarmupCosineLR lr(lars, 3, K);
  byol::schedule::TargetTau tau(0.99, K);
  REQUIRE(tau.base_tau() == 0.99);
  REQUIRE(tau.total_steps() == K);
  for (int64_t k = 0; k < K; ++k) {
    INFO("update " << k);
    REQUIRE(tau.current_step() == k);
    REQUIRE(tau.get() == Approx(closed(k)).epsilon(1e-14));
    lr.step();
    const double used = tau.step();  // the decay rate of the target update after update k
    CHECK(used == Approx(closed(k)).epsilon(1e-14));
    CHECK(tau.current_step() == lr.current_step());
  }
  // By hand at K = 4, tau_base = 0.9: 0.9, 1 - 0.05 (1 + sqrt(1/2)), 0.95, 1 - 0.05 (1 - sqrt(1/2)), then 1.
  byol::schedule::TargetTau four(0.9, 4);
  CHECK(four.step() == Approx(0.9).epsilon(1e-15));
  CHECK(four.step() == Approx(1 - 0.05 * (1 + std::sqrt(0.5))).epsilon(1e-15));
  CHECK(four.step() == Approx(0.95).epsilon(1e-15));
  CHECK(four.step() == Approx(1 - 0.05 * (1 - std::sqrt(0.5))).epsilon(1e-15));
  CHECK(four.current_step() == 4);
  CHECK(four.step() == 1.0);  // past K it stays at K
  CHECK(four.current_step() == 4);
  // Resuming: built at step 2, or moved there.
  byol::schedule::TargetTau resumed(0.9, 4, /*start_step=*/2);
  CHECK(resumed.get() == Approx(0.95).epsilon(1e-15));
  resumed.set_step(0);
  CHECK(resumed.get() == Approx(0.9).epsilon(1e-15));
}

TEST_CASE("TargetTau rejects bad arguments with named values", "[schedule]") {
  using byol_test::require_error;
  require_error([] { byol::schedule::TargetTau t(1.5, 10); }, {"base_tau", "1.5"});
  require_error([] { byol::schedule::TargetTau t(0.99, 0); }, {"total_steps", "0"});
  require_error([] { byol::schedule::TargetTau t(0.99, 10, 11); }, {"step", "11"});
  byol::schedule::TargetTau tau(0.99, 10);
  require_error([&] { tau.set_step(-1); }, {"TargetTau::set_step", "-1"});
}

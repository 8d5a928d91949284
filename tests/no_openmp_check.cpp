// A program built as a user would who adds byol's include folder without linking the byol::byol
// target, so without -fopenmp. With LibTorch's OpenMP backend, at::parallel_for runs on one
// thread in such a unit; byol's fused kernels must spread over LibTorch's inter-op pool instead
// (byol/detail/parallel.hpp), and give the method's numbers. Expected values are recomputed in
// float64 from the formulas of docs/spec.md, not taken from byol.
//
// Exit status 0 when every check passes; each failure prints what differs.

#include <byol/augment/functional.hpp>
#include <byol/ema.hpp>
#include <byol/loss.hpp>
#include <byol/optim/lars.hpp>

#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>
#include <vector>
#include <iostream>
#include <string>

#if defined(_OPENMP)
#error "tests/no_openmp_check.cpp must be compiled without OpenMP: check its CMake target"
#endif

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::cout << (ok ? "ok    " : "FAIL  ") << what << "\n";
  failures += ok ? 0 : 1;
}

bool close(const torch::Tensor& got, const torch::Tensor& want, double rtol, double atol) {
  return torch::allclose(got.to(torch::kDouble), want, rtol, atol);
}

// n(x) = x / max(||x||, 1e-6), row by row, in float64.
torch::Tensor normalized(const torch::Tensor& x) {
  return x / x.norm(2, 1, true).clamp_min(1e-6);
}

void loss_on_both_paths() {
  const auto p = torch::randn({64, 16});
  const auto z = torch::randn({64, 16});
  const auto pd = p.to(torch::kDouble);
  const auto zd = z.to(torch::kDouble);
  const auto np = normalized(pd);
  const auto nz = normalized(zd);
  const auto want_loss = (np - nz).pow(2).sum(1).mean();
  // d l / d p_i = -(2/B) (n(z_i) - cos_i n(p_i)) / max(||p_i||, 1e-6)
  const auto cos = (np * nz).sum(1, true);
  const auto want_grad = -(2.0 / 64) * (nz - cos * np) / pd.norm(2, 1, true).clamp_min(1e-6);

  for (const auto path : {byol::detail::KernelPath::fused, byol::detail::KernelPath::aten}) {
    const std::string name = path == byol::detail::KernelPath::fused ? "fused kernels" : "ATen path";
    byol::detail::KernelPathGuard guard(path);
    auto leaf = p.clone().requires_grad_(true);
    const auto loss = byol::functional::normalized_mse(leaf, z);
    loss.backward();
    check(close(loss.detach(), want_loss, 1e-5, 1e-7), "normalized_mse value, " + name);
    check(close(leaf.grad(), want_grad, 1e-4, 1e-7), "normalized_mse gradient, " + name);
  }
}

// Two ranges of one parallel_for wait (up to 30 s) until both have started: they can only pass
// if two threads run them at once.
bool parallel_for_uses_two_threads() {
  std::mutex mutex;
  std::condition_variable cv;
  int started = 0;
  std::set<std::thread::id> ids;
  bool all_met = true;
  byol::detail::parallel_for(0, 2, 1, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      std::unique_lock<std::mutex> lock(mutex);
      ++started;
      ids.insert(std::this_thread::get_id());
      cv.notify_all();
      if (!cv.wait_for(lock, std::chrono::seconds(30), [&] { return started >= 2; })) {
        all_met = false;
      }
    }
  });
  return all_met && ids.size() == 2;
}

// parallel_for covers [0, n) exactly once with non-empty ranges, whatever n and the threads
// (5 indices over 4 threads once made an empty fourth range).
bool parallel_for_covers_once() {
  const int saved = torch::get_num_threads();
  torch::set_num_threads(4);
  bool ok = true;
  for (const int64_t n : {1, 2, 3, 5, 7, 64, 1000}) {
    std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
    std::atomic<bool> empty_range{false};
    byol::detail::parallel_for(0, n, 1, [&](int64_t first, int64_t last) {
      if (first >= last) {
        empty_range = true;
      }
      for (int64_t i = first; i < last; ++i) {
        ++seen[static_cast<size_t>(i)];
      }
    });
    for (const auto& count : seen) {
      ok = ok && count == 1 && !empty_range;
    }
  }
  torch::set_num_threads(saved);
  return ok;
}

void ema_on_the_fused_path() {
  std::vector<torch::Tensor> target = {torch::randn({40, 30}), torch::randn({7})};
  std::vector<torch::Tensor> online = {torch::randn({40, 30}), torch::randn({7})};
  std::vector<torch::Tensor> want;
  for (size_t i = 0; i < target.size(); ++i) {
    want.push_back(0.9 * target[i].to(torch::kDouble) + 0.1 * online[i].to(torch::kDouble));
  }
  byol::functional::ema_update_(target, online, 0.9);
  for (size_t i = 0; i < target.size(); ++i) {
    check(close(target[i], want[i], 1e-6, 1e-7), "ema_update_ tensor " + std::to_string(i));
  }
}

void lars_on_the_fused_path() {
  // One step from zero momentum: m = u, w <- w - lr u, with u = trust (g + lambda w) for the
  // 2-d weight and u = g for the 1-d bias (excluded from decay and trust ratio).
  const double lr = 0.5, lambda = 0.01, eta = 0.001;
  auto w = torch::randn({20, 10}).requires_grad_(true);
  auto b = torch::randn({10}).requires_grad_(true);
  const auto gw = torch::randn({20, 10});
  const auto gb = torch::randn({10});
  const auto wd = w.detach().to(torch::kDouble);
  const auto bd = b.detach().to(torch::kDouble);
  const auto decayed = gw.to(torch::kDouble) + lambda * wd;
  const double trust = eta * wd.norm().item<double>() / decayed.norm().item<double>();
  const auto want_w = wd - lr * trust * decayed;
  const auto want_b = bd - lr * gb.to(torch::kDouble);

  byol::optim::LARS lars({w, b}, byol::optim::LARSOptions(lr).weight_decay(lambda).eta(eta));
  w.mutable_grad() = gw.clone();
  b.mutable_grad() = gb.clone();
  lars.step();
  check(close(w.detach(), want_w, 1e-5, 1e-7), "LARS step, adapted weight");
  check(close(b.detach(), want_b, 1e-5, 1e-7), "LARS step, excluded bias");
}

void augment_on_the_fused_path() {
  const auto x = torch::rand({4, 3, 9, 11});
  const auto delta = torch::tensor({-0.3, 0.0, 0.2, 0.5});
  const auto want = (x.to(torch::kDouble) + delta.to(torch::kDouble).view({4, 1, 1, 1})).clamp(0.0, 1.0);
  check(close(byol::augment::functional::adjust_brightness(x, delta), want, 1e-6, 1e-7), "adjust_brightness");
  const auto xd = x.to(torch::kDouble);
  const auto solarized = torch::where(xd < 0.5, xd, 1.0 - xd);
  check(close(byol::augment::functional::solarize(x, 0.5), solarized, 1e-6, 1e-7), "solarize");
}

}  // namespace

int main() {
  torch::manual_seed(7);
  torch::set_num_threads(2);
  std::cout << "LibTorch parallel backend: " << (AT_PARALLEL_OPENMP ? "OpenMP" : "not OpenMP")
            << "; this program: no OpenMP\n";
  // With LibTorch's OpenMP backend, a unit without OpenMP must not use at::parallel_for.
  check(byol::detail::kAtenParallelFor == !AT_PARALLEL_OPENMP,
        "parallel_for is at::parallel_for exactly when LibTorch's backend is not OpenMP");
  check(byol::detail::use_fused_cpu_kernels(), "CPU tensors take the fused kernels");
  check(parallel_for_uses_two_threads(), "parallel_for runs two ranges on two threads at once");
  check(parallel_for_covers_once(), "parallel_for covers every index once, in non-empty ranges");
  loss_on_both_paths();
  ema_on_the_fused_path();
  lars_on_the_fused_path();
  augment_on_the_fused_path();
  std::cout << (failures == 0 ? "all checks passed\n" : std::to_string(failures) + " check(s) failed\n");
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

// The BYOL loss against an independent float64 computation written with plain loops, finite
// differences, and the closed-form gradient of docs/spec.md.
#include <byol/loss.hpp>

#include "support.hpp"

#include <cmath>
#include <vector>

namespace {

using byol_test::values;

constexpr double kEps = 1e-6;

struct Reference {
  double loss;
  std::vector<double> grad;  // d loss / d prediction
};

// n(x) = x / max(||x||, 1e-6), l = mean_i ||n(p_i) - n(z_i)||^2, all in float64.
// Gradient: docs/spec.md's closed form -(2/B)(n(z) - cos n(p)) / ||p|| above the norm floor; below it
// n(p) = p / 1e-6 is linear, so the gradient is (2/B)(n(p) - n(z)) / 1e-6.
Reference reference_nmse(const std::vector<double>& p, const std::vector<double>& z, int64_t rows, int64_t width) {
  Reference out{0.0, std::vector<double>(p.size(), 0.0)};
  for (int64_t i = 0; i < rows; ++i) {
    double np = 0.0, nz = 0.0;
    for (int64_t d = 0; d < width; ++d) {
      np += p[i * width + d] * p[i * width + d];
      nz += z[i * width + d] * z[i * width + d];
    }
    np = std::sqrt(np);
    nz = std::sqrt(nz);
    const double rp = std::max(np, kEps);
    const double rz = std::max(nz, kEps);
    double row = 0.0, cos = 0.0;
    for (int64_t d = 0; d < width; ++d) {
      const double u = p[i * width + d] / rp;
      const double v = z[i * width + d] / rz;
      row += (u - v) * (u - v);
      cos += u * v;
    }
    out.loss += row / static_cast<double>(rows);
    for (int64_t d = 0; d < width; ++d) {
      const double u = p[i * width + d] / rp;
      const double v = z[i * width + d] / rz;
      out.grad[i * width + d] = np > kEps ? -(2.0 / rows) * (v - cos * u) / rp : (2.0 / rows) * (u - v) / kEps;
    }
  }
  return out;
}

torch::Tensor nmse_value(const torch::Tensor& p, const torch::Tensor& z) {
  return byol::functional::normalized_mse(p, z);
}

}  // namespace

TEST_CASE("normalized_mse matches a float64 re-computation, value and gradient", "[loss]") {
  // Odd sizes exercise the vector loop's remainder; B = 300 spans several parallel chunks.
  for (const auto& shape : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 3}, {37, 19}, {300, 256}}) {
    const int64_t rows = shape.first, width = shape.second;
    DYNAMIC_SECTION("B = " << rows << ", D = " << width) {
      auto p = torch::randn({rows, width}).requires_grad_(true);
      auto z = torch::randn({rows, width});
      auto loss = nmse_value(p, z);
      loss.backward();
      const Reference ref = reference_nmse(values(p), values(z), rows, width);
      REQUIRE(loss.dim() == 0);
      REQUIRE(loss.scalar_type() == torch::kFloat);
      REQUIRE(loss.item<double>() == Approx(ref.loss).epsilon(1e-5));
      // The absolute floor covers float32 rounding where the exact gradient is 0 (D = 1).
      REQUIRE_CLOSE(values(p.grad()), ref.grad, 1e-4, 1e-6);
    }
  }
}

TEST_CASE("normalized_mse gradient agrees with central finite differences in float64", "[loss]") {
  auto p = torch::randn({3, 5}, torch::kDouble);
  auto z = torch::randn({3, 5}, torch::kDouble);
  // Row 1 sits below the norm floor, where n(p) = p / 1e-6 is linear in p.
  p[1] = p[1] / p[1].norm() * 5e-7;
  auto pg = p.clone().requires_grad_(true);
  nmse_value(pg, z).backward();
  const std::vector<double> analytic = values(pg.grad());
  auto pd = p.clone();
  auto* data = pd.data_ptr<double>();
  for (int64_t k = 0; k < pd.numel(); ++k) {
    const double h = (k / 5 == 1) ? 1e-10 : 1e-6;
    const double saved = data[k];
    data[k] = saved + h;
    const double up = nmse_value(pd, z).item<double>();
    data[k] = saved - h;
    const double down = nmse_value(pd, z).item<double>();
    data[k] = saved;
    const double numeric = (up - down) / (2 * h);
    INFO("element " << k);
    REQUIRE(analytic[k] == Approx(numeric).epsilon(1e-5).margin(1e-6));
  }
}

TEST_CASE("byol_loss is the sum of the two directions", "[loss]") {
  const int64_t rows = 64, width = 32;
  auto p1 = torch::randn({rows, width}, torch::requires_grad());
  auto p2 = torch::randn({rows, width}, torch::requires_grad());
  auto z1 = torch::randn({rows, width});
  auto z2 = torch::randn({rows, width});
  auto loss = byol::functional::byol_loss(p1, z2, p2, z1);
  loss.backward();
  const Reference a = reference_nmse(values(p1), values(z2), rows, width);
  const Reference b = reference_nmse(values(p2), values(z1), rows, width);
  REQUIRE(loss.item<double>() == Approx(a.loss + b.loss).epsilon(1e-5));
  REQUIRE(loss.item<double>() >= 0.0);
  REQUIRE(loss.item<double>() <= 8.0);
  REQUIRE_CLOSE(values(p1.grad()), a.grad, 1e-4, 1e-7);
  REQUIRE_CLOSE(values(p2.grad()), b.grad, 1e-4, 1e-7);

  // Known points of the range: identical directions give 0, opposite directions give 8.
  auto x = torch::randn({rows, width});
  REQUIRE(byol::functional::byol_loss(x, 3 * x, 2 * x, x).item<double>() == Approx(0.0).margin(1e-5));
  REQUIRE(byol::functional::byol_loss(x, -x, x, -0.5 * x).item<double>() == Approx(8.0).epsilon(1e-6));

  byol::nn::BYOLLoss criterion;
  REQUIRE(criterion(p1, z2, p2, z1).item<double>() == Approx(loss.item<double>()).epsilon(1e-7));
}

TEST_CASE("no gradient flows into the target", "[loss]") {
  auto p = torch::randn({8, 16}, torch::requires_grad());
  auto z = torch::randn({8, 16}, torch::requires_grad());
  byol::functional::normalized_mse(p, z).backward();
  REQUIRE(p.grad().defined());
  REQUIRE_FALSE(z.grad().defined());
}

TEST_CASE("a zero row gives a finite loss and gradient", "[loss]") {
  auto p = torch::randn({4, 8});
  auto z = torch::randn({4, 8});
  p[2].zero_();
  z[3].zero_();
  auto pg = p.clone().requires_grad_(true);
  auto loss = nmse_value(pg, z);
  loss.backward();
  REQUIRE(std::isfinite(loss.item<double>()));
  REQUIRE(torch::isfinite(pg.grad()).all().item<bool>());
  const Reference ref = reference_nmse(values(p), values(z), 4, 8);
  REQUIRE(loss.item<double>() == Approx(ref.loss).epsilon(1e-5));
  // docs/spec.md's closed form at p = 0: -(2/B) n(z) / 1e-6.
  REQUIRE_CLOSE(values(pg.grad()), ref.grad, 1e-4, 1e-6);
}

TEST_CASE("half and bfloat16 inputs are accumulated in float32", "[loss]") {
  for (const auto dtype : {torch::kHalf, torch::kBFloat16}) {
    DYNAMIC_SECTION("dtype " << dtype) {
      auto p = torch::randn({50, 40}).to(dtype).requires_grad_(true);
      auto z = torch::randn({50, 40}).to(dtype);
      auto loss = nmse_value(p, z);
      loss.backward();
      REQUIRE(loss.scalar_type() == torch::kFloat);
      REQUIRE(p.grad().scalar_type() == dtype);
      // The reference sees exactly the rounded inputs, so only float32 accumulation separates them.
      const Reference ref = reference_nmse(values(p), values(z), 50, 40);
      REQUIRE(loss.item<double>() == Approx(ref.loss).epsilon(1e-5));
      const double grad_tol = dtype == torch::kHalf ? 2e-3 : 1.6e-2;  // the gradient's own rounding
      REQUIRE_CLOSE(values(p.grad()), ref.grad, grad_tol, 1e-5);
    }
  }
  // Mixed dtypes are promoted: a bf16 prediction against a float32 target.
  auto p = torch::randn({6, 10}).to(torch::kBFloat16).requires_grad_(true);
  auto z = torch::randn({6, 10});
  auto loss = nmse_value(p, z);
  loss.backward();
  REQUIRE(loss.item<double>() == Approx(reference_nmse(values(p), values(z), 6, 10).loss).epsilon(1e-5));
  REQUIRE(p.grad().scalar_type() == torch::kBFloat16);
}

TEST_CASE("the fused CPU kernels agree with the ATen path used on other devices", "[loss]") {
  auto p = torch::randn({129, 70});
  auto z = torch::randn({129, 70});
  p[5].zero_();
  auto fused_p = p.clone().requires_grad_(true);
  auto generic_p = p.clone().requires_grad_(true);
  // Backward takes the path of its forward, whatever is forced when it runs.
  torch::Tensor fused, generic;
  {
    byol::detail::KernelPathGuard path(byol::detail::KernelPath::fused);
    fused = byol::functional::normalized_mse(fused_p, z);
  }
  {
    byol::detail::KernelPathGuard path(byol::detail::KernelPath::aten);
    generic = byol::functional::normalized_mse(generic_p, z);
  }
  (3 * fused).backward();
  (3 * generic).backward();
  REQUIRE(fused.item<double>() == Approx(generic.item<double>()).epsilon(1e-6));
  REQUIRE_CLOSE(values(fused_p.grad()), values(generic_p.grad()), 1e-5, 1e-8);
}

TEST_CASE("the fused loss does not depend on the thread count", "[loss]") {
  auto p = torch::randn({1000, 64});
  auto z = torch::randn({1000, 64});
  auto run = [&](int threads) {
    const int saved = torch::get_num_threads();
    torch::set_num_threads(threads);
    auto pg = p.clone().requires_grad_(true);
    auto loss = nmse_value(pg, z);
    loss.backward();
    torch::set_num_threads(saved);
    return std::make_pair(loss, pg.grad());
  };
  const auto one = run(1);
  const auto two = run(2);
  REQUIRE(torch::equal(one.first, two.first));
  REQUIRE(torch::equal(one.second, two.second));
}

TEST_CASE("non-contiguous inputs give the same loss", "[loss]") {
  auto p = torch::randn({24, 12});
  auto z = torch::randn({24, 12});
  auto pt = p.t().contiguous().t();  // same values, column-major strides
  REQUIRE_FALSE(pt.is_contiguous());
  REQUIRE(nmse_value(pt, z).item<double>() == Approx(nmse_value(p, z).item<double>()).epsilon(1e-7));
}

TEST_CASE("bad loss inputs raise errors that name the argument", "[loss]") {
  using byol_test::require_error;
  const auto good = torch::randn({4, 8});
  require_error([&] { byol::functional::normalized_mse(torch::randn({4}), good); }, {"prediction", "[4]"});
  require_error([&] { byol::functional::normalized_mse(good, torch::randn({4, 8, 1})); }, {"target", "[4, 8, 1]"});
  require_error([&] { byol::functional::normalized_mse(good, torch::randn({4, 7})); }, {"[4, 8]", "[4, 7]"});
  require_error([&] { byol::functional::normalized_mse(torch::randn({0, 8}), torch::randn({0, 8})); },
                {"empty batch", "[0, 8]"});
  require_error([&] { byol::functional::normalized_mse(torch::ones({4, 8}, torch::kLong), good); },
                {"prediction", "floating point", "Long"});
  require_error([&] { byol::functional::normalized_mse(torch::Tensor(), good); }, {"prediction", "undefined"});
  require_error([&] { byol::functional::byol_loss(good, good, good, torch::randn({3, 8})); }, {"z1", "[3, 8]"});
}

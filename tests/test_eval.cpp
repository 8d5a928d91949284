// Evaluation: weighted k-NN against hand-worked votes and a float64 brute force, linear
// evaluation on data with a known answer, and the online probe's stop-gradient.
#include <byol/eval.hpp>

#include "support.hpp"

#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace {

using byol_test::values;

// Brute-force weighted k-NN in float64 with plain loops.
std::vector<int64_t> brute_knn(const torch::Tensor& train, const torch::Tensor& labels, const torch::Tensor& test,
                               int64_t k, double temperature, int64_t classes) {
  const int64_t n = train.size(0), m = test.size(0), f = train.size(1);
  const auto tr = values(train), te = values(test);
  const auto y = values(labels);
  auto unit = [&](const std::vector<double>& x, int64_t row) {
    double s = 0;
    for (int64_t d = 0; d < f; ++d) s += x[row * f + d] * x[row * f + d];
    std::vector<double> out(f);
    for (int64_t d = 0; d < f; ++d) out[d] = x[row * f + d] / std::sqrt(s);
    return out;
  };
  std::vector<int64_t> predictions;
  for (int64_t i = 0; i < m; ++i) {
    const auto q = unit(te, i);
    std::vector<std::pair<double, int64_t>> sims;
    for (int64_t j = 0; j < n; ++j) {
      const auto t = unit(tr, j);
      double s = 0;
      for (int64_t d = 0; d < f; ++d) s += q[d] * t[d];
      sims.push_back({s, j});
    }
    std::sort(sims.begin(), sims.end(), [](auto a, auto b) { return a.first > b.first; });
    std::vector<double> votes(classes, 0.0);
    for (int64_t r = 0; r < k; ++r) votes[static_cast<int64_t>(y[sims[r].second])] += std::exp(sims[r].first / temperature);
    predictions.push_back(std::max_element(votes.begin(), votes.end()) - votes.begin());
  }
  return predictions;
}

// Gaussian clusters around well-separated centres: any sensible classifier is perfect on them.
std::pair<torch::Tensor, torch::Tensor> clusters(int64_t per_class, int64_t classes, int64_t width, double spread) {
  const auto centres = torch::eye(classes, width) * 10;
  std::vector<torch::Tensor> xs, ys;
  for (int64_t c = 0; c < classes; ++c) {
    xs.push_back(centres[c] + spread * torch::randn({per_class, width}));
    ys.push_back(torch::full({per_class}, c, torch::kLong));
  }
  return {torch::cat(xs), torch::cat(ys)};
}

}  // namespace

TEST_CASE("k-NN votes are weighted by exp(similarity / T)", "[eval]") {
  // One class-1 neighbour almost along the query, three class-0 neighbours at 60 degrees.
  const double c60 = 0.5, s60 = std::sqrt(3.0) / 2;
  const auto train = torch::tensor({{1.0, 0.01}, {c60, s60}, {c60, -s60}, {c60, s60 * 1.001}});
  const auto labels = torch::tensor({1, 0, 0, 0}, torch::kLong);
  const auto query = torch::tensor({{1.0, 0.0}});
  // T = 0.1: e^(10 * 0.99995) = 22015 for class 1 against 3 e^(5) = 445 for class 0.
  auto sharp = byol::eval::knn_predict(train, labels, query, byol::eval::KNNOptions().k(4).temperature(0.1));
  REQUIRE(sharp.item<int64_t>() == 1);
  // T = 10: e^0.1 = 1.105 against 3 e^0.05 = 3.15: the majority wins.
  auto flat = byol::eval::knn_predict(train, labels, query, byol::eval::KNNOptions().k(4).temperature(10));
  REQUIRE(flat.item<int64_t>() == 0);
  // k = 1: the nearest alone.
  REQUIRE(byol::eval::knn_predict(train, labels, query, byol::eval::KNNOptions().k(1).temperature(10)).item<int64_t>() == 1);
}

TEST_CASE("k-NN matches a float64 brute force, in any chunking", "[eval]") {
  const auto train = torch::randn({300, 8});
  const auto labels = torch::randint(5, {300}, torch::kLong);
  const auto test = torch::randn({50, 8});
  const auto expected = brute_knn(train, labels, test, 7, 0.1, 5);
  for (const int64_t chunk : {1024, 16, 1}) {
    const auto got = byol::eval::knn_predict(train, labels, test, byol::eval::KNNOptions().k(7).chunk_size(chunk));
    std::vector<int64_t> actual(got.data_ptr<int64_t>(), got.data_ptr<int64_t>() + got.numel());
    INFO("chunk " << chunk);
    REQUIRE(actual == expected);
  }
  // k larger than the training set uses every row.
  const auto all = byol::eval::knn_predict(train, labels, test, byol::eval::KNNOptions().k(1000));
  const auto expected_all = brute_knn(train, labels, test, 300, 0.1, 5);
  REQUIRE(std::vector<int64_t>(all.data_ptr<int64_t>(), all.data_ptr<int64_t>() + all.numel()) == expected_all);
}

TEST_CASE("k-NN and linear evaluation are perfect on separated clusters and at chance on noise", "[eval]") {
  const auto train = clusters(100, 5, 16, 1.0);
  const auto test = clusters(40, 5, 16, 1.0);
  REQUIRE(byol::eval::knn_accuracy(train.first, train.second, test.first, test.second) == 1.0);
  const auto linear = byol::eval::linear_eval(train.first, train.second, test.first, test.second,
                                              byol::eval::LinearEvalOptions().epochs(20).batch_size(64));
  REQUIRE(linear.test_accuracy == 1.0);
  REQUIRE(linear.train_accuracy == 1.0);
  // Labels independent of the features: nothing generalises; 5 classes, 1000 test rows, so the
  // accuracy is 0.2 +- 0.013 (one standard deviation); 0.1 is over seven of them.
  const auto noise_train = torch::randn({1000, 16});
  const auto noise_test = torch::randn({1000, 16});
  const auto y_train = torch::randint(5, {1000}, torch::kLong);
  const auto y_test = torch::randint(5, {1000}, torch::kLong);
  const auto chance = byol::eval::linear_eval(noise_train, y_train, noise_test, y_test,
                                              byol::eval::LinearEvalOptions().epochs(5));
  REQUIRE(std::abs(chance.test_accuracy - 0.2) < 0.1);
  REQUIRE(std::abs(byol::eval::knn_accuracy(noise_train, y_train, noise_test, y_test) - 0.2) < 0.1);
}

TEST_CASE("the online probe learns on stop-gradient features and counts its accuracy", "[eval]") {
  byol::eval::OnlineProbe probe(3, 3);
  {
    torch::NoGradGuard no_grad;
    probe->linear->weight.copy_(torch::eye(3));
    probe->linear->bias.zero_();
  }
  auto features = torch::tensor({{3.0, 0.0, 1.0}, {0.0, 2.0, 0.0}, {1.0, 0.0, 5.0}, {0.0, 0.0, 1.0}}).requires_grad_(true);
  const auto labels = torch::tensor({0, 1, 0, 2}, torch::kLong);
  auto loss = probe->loss(features, labels);
  // With identity weights the logits are the features: predictions 0, 1, 2, 2 -> 3 of 4 right.
  REQUIRE(probe->accuracy() == Approx(0.75));
  loss.backward();
  REQUIRE_FALSE(features.grad().defined());
  REQUIRE(probe->linear->weight.grad().defined());
  // Cross-entropy by hand for the first row: -log softmax(3, 0, 1)[0].
  const double row0 = -3.0 + std::log(std::exp(3.0) + std::exp(0.0) + std::exp(1.0));
  const double row1 = -2.0 + std::log(2 * std::exp(0.0) + std::exp(2.0));
  const double row2 = -1.0 + std::log(std::exp(1.0) + std::exp(0.0) + std::exp(5.0));
  const double row3 = -1.0 + std::log(2 * std::exp(0.0) + std::exp(1.0));
  REQUIRE(loss.item<double>() == Approx((row0 + row1 + row2 + row3) / 4).epsilon(1e-6));
  probe->reset_accuracy();
  REQUIRE(probe->accuracy() == 0.0);
}

TEST_CASE("extract_features runs the encoder in eval mode on [0, 1] inputs", "[eval]") {
  torch::nn::Sequential encoder(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3)), torch::nn::BatchNorm2d(4),
                                torch::nn::Flatten());
  encoder->train();
  const auto images = torch::randint(0, 256, {10, 1, 5, 5}).to(torch::kByte);
  const auto features = byol::eval::extract_features(encoder, images, 4);
  REQUIRE(encoder->is_training());
  encoder->eval();
  const auto expected = encoder->forward(images.to(torch::kFloat) / 255).detach();
  REQUIRE(torch::allclose(features, expected, 1e-5, 1e-6));
  // A throwing preprocess (or forward) still leaves the encoder in the mode it was in.
  encoder->train();
  REQUIRE_THROWS(byol::eval::extract_features(encoder, images, 4, [](const torch::Tensor&) -> torch::Tensor {
    throw std::runtime_error("preprocess failed");
  }));
  REQUIRE(encoder->is_training());
  REQUIRE_THROWS(byol::eval::extract_features(encoder, torch::rand({2, 3, 5, 5}), 4));  // 3 channels, conv wants 1
  REQUIRE(encoder->is_training());
}

TEST_CASE("evaluation rejects bad input with named arguments", "[eval]") {
  using byol_test::require_error;
  const auto f = torch::randn({10, 4});
  const auto y = torch::randint(3, {10}, torch::kLong);
  require_error([&] { byol::eval::knn_predict(f, torch::randint(3, {9}, torch::kLong), f); }, {"train_labels", "[9]"});
  require_error([&] { byol::eval::knn_predict(f, y, torch::randn({2, 5})); }, {"test_features", "[2, 5]"});
  require_error([&] { byol::eval::knn_predict(f, y, torch::randn({0, 4})); }, {"test_features", "[0, 4]"});
  require_error([&] { byol::eval::knn_predict(f, y, f, byol::eval::KNNOptions().num_classes(2)); },
                {"knn_predict", "num_classes", "2"});
  require_error([&] { byol::eval::linear_eval(f, y, f, y, byol::eval::LinearEvalOptions().num_classes(2)); },
                {"linear_eval", "num_classes", "2"});
  require_error([&] { byol::eval::knn_predict(f, y, f, byol::eval::KNNOptions().k(0)); }, {"k", "0"});
  require_error([&] { byol::eval::knn_predict(f, y, f, byol::eval::KNNOptions().temperature(-1)); }, {"temperature", "-1"});
  require_error([&] { byol::eval::knn_predict(f, y.to(torch::kFloat), f); }, {"train_labels", "Float"});
  require_error([&] { byol::eval::linear_eval(f, y, f, y, byol::eval::LinearEvalOptions().epochs(0)); }, {"epochs", "0"});
  byol::eval::OnlineProbe probe(4, 3);
  require_error([&] { probe->loss(torch::randn({2, 5}), torch::zeros({2}, torch::kLong)); }, {"features", "[2, 5]"});
}

TEST_CASE("k-NN and linear evaluation on CUDA features with CPU labels match the CPU results", "[eval][cuda]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: CUDA case not run");
    return;
  }
  // k-NN on noise: the votes are the same computation on either device, so the same predictions
  // up to float rounding at near-ties (allowed: 2 of 200 test rows).
  const auto train = torch::randn({500, 16});
  const auto y_train = torch::randint(5, {500}, torch::kLong);
  const auto test = torch::randn({200, 16});
  const auto y_test = torch::randint(5, {200}, torch::kLong);
  const auto options = byol::eval::KNNOptions().k(20).chunk_size(64);
  const double knn_cpu = byol::eval::knn_accuracy(train, y_train, test, y_test, options);
  const double knn_cuda = byol::eval::knn_accuracy(train.to(torch::kCUDA), y_train, test, y_test, options);
  REQUIRE(knn_cuda == Approx(knn_cpu).margin(0.01));
  const auto predicted = byol::eval::knn_predict(train.to(torch::kCUDA), y_train, test.to(torch::kCUDA), options);
  REQUIRE(predicted.device().is_cuda());
  // Linear evaluation: the same initialisation and batch order (CPU generator), so the same
  // trajectory up to rounding; separated clusters make both perfect.
  const auto clusters_train = clusters(60, 4, 8, 1.0);
  const auto clusters_test = clusters(20, 4, 8, 1.0);
  const auto linear_options = byol::eval::LinearEvalOptions().epochs(10).batch_size(32).seed(7);
  const auto cpu = byol::eval::linear_eval(clusters_train.first, clusters_train.second, clusters_test.first,
                                           clusters_test.second, linear_options);
  const auto cuda = byol::eval::linear_eval(clusters_train.first.to(torch::kCUDA), clusters_train.second,
                                            clusters_test.first.to(torch::kCUDA), clusters_test.second,
                                            linear_options);
  REQUIRE(cpu.test_accuracy == 1.0);
  REQUIRE(cuda.test_accuracy == cpu.test_accuracy);
  REQUIRE(cuda.train_accuracy == cpu.train_accuracy);
  REQUIRE(cuda.final_loss == Approx(cpu.final_loss).epsilon(1e-3).margin(1e-6));
}

TEST_CASE("linear_eval refuses to standardise a single training row instead of training on NaN", "[eval]") {
  using byol_test::require_error;
  const auto one = torch::randn({1, 4});
  const auto label = torch::zeros({1}, torch::kLong);
  const auto test = torch::randn({3, 4});
  const auto test_labels = torch::tensor({0, 1, 2}, torch::kLong);
  require_error([&] { byol::eval::linear_eval(one, label, test, test_labels); },
                {"linear_eval", "train_features", "at least 2 rows", "standardize(false)"});
  // Without standardisation one row is a valid (if tiny) training set: a finite loss.
  const auto result = byol::eval::linear_eval(one, label, test, test_labels,
                                              byol::eval::LinearEvalOptions().standardize(false).epochs(5));
  REQUIRE(std::isfinite(result.final_loss));
  REQUIRE(result.train_accuracy == 1.0);  // the one row, the only class seen with a positive gradient
}

TEST_CASE("OnlineProbe::loss refuses floating-point and bool labels", "[eval]") {
  using byol_test::require_error;
  byol::eval::OnlineProbe probe(4, 3);
  const auto features = torch::randn({2, 4});
  require_error([&] { probe->loss(features, torch::tensor({0.0, 2.7})); }, {"OnlineProbe", "labels", "Float"});
  require_error([&] { probe->loss(features, torch::tensor({true, false})); }, {"OnlineProbe", "labels", "Bool"});
  REQUIRE(probe->accuracy() == 0.0);  // nothing was counted
  REQUIRE(std::isfinite(probe->loss(features, torch::tensor({0, 2}, torch::kInt)).item<double>()));
}

TEST_CASE("collapse_std: 0 for one direction, sqrt(B / (B - 1)) / D for rows +-e1, 1/sqrt(D) for Gaussians",
          "[eval]") {
  // Every row the same: the normalised rows are equal, their std is 0; every row a positive
  // multiple of one vector: 0 up to rounding.
  const auto direction = torch::randn({1, 16});
  CHECK(byol::eval::collapse_std(direction.repeat({32, 1})) == 0.0);
  const auto scales = torch::rand({32, 1}) + 0.5;
  CHECK(byol::eval::collapse_std(scales * direction) == Approx(0.0).margin(1e-6));
  // Rows +-c e1 (B = 4, D = 8): normalised to +-e1, so coordinate 0 is +1, -1, +1, -1 with mean
  // 0 and unbiased variance 4 / 3; the other 7 coordinates are 0. Mean over D: sqrt(4/3) / 8.
  auto rows = torch::zeros({4, 8}, torch::kDouble);
  rows[0][0] = 3.0;
  rows[1][0] = -2.0;
  rows[2][0] = 5.0;
  rows[3][0] = -0.5;
  CHECK(byol::eval::collapse_std(rows) == Approx(std::sqrt(4.0 / 3.0) / 8.0).epsilon(1e-12));
  // Independent Gaussian rows are uniform on the sphere: each coordinate of a unit vector has
  // variance 1 / D. D = 64: 1/8, within the sampling error of B = 8192 rows.
  const double gaussian = byol::eval::collapse_std(torch::randn({8192, 64}));
  CHECK(gaussian == Approx(0.125).epsilon(0.02));
  CHECK(byol::eval::healthy_collapse_std(64) == 0.125);
  CHECK(byol::eval::healthy_collapse_std(256) == 0.0625);
  // Scaling rows does not change it; it has no gradient.
  const auto x = torch::randn({50, 10}, torch::requires_grad());
  CHECK(byol::eval::collapse_std(x * 7.0) == Approx(byol::eval::collapse_std(x)).epsilon(1e-5));
}

TEST_CASE("collapse_std rejects bad input with named shapes", "[eval]") {
  using byol_test::require_error;
  require_error([] { byol::eval::collapse_std(torch::randn({5})); }, {"collapse_std", "[B, D]", "[5]"});
  require_error([] { byol::eval::collapse_std(torch::randn({1, 5})); }, {"2 rows", "[1, 5]"});
  require_error([] { byol::eval::collapse_std(torch::ones({3, 5}, torch::kLong)); }, {"floating point", "Long"});
  require_error([] { byol::eval::healthy_collapse_std(0); }, {"dim", "0"});
}

#pragma once

/// Evaluating representations: weighted k-NN, linear evaluation on frozen features, and the
/// online linear probe the reference trains on stop-gradient features during pre-training.
///
///   k-NN:    s_ij = n(f_i) . n(g_j);  vote_c(i) = sum over the k nearest j of class c of exp(s_ij / T)
///   linear:  softmax regression on frozen features, SGD (Nesterov) with cosine decay
///
///     auto train_f = byol::eval::extract_features(encoder, train_images, 512);
///     auto test_f  = byol::eval::extract_features(encoder, test_images, 512);
///     double acc = byol::eval::knn_accuracy(train_f, train_y, test_f, test_y);

#include <byol/schedule.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

namespace byol::eval {

namespace detail {

inline void check_features_and_labels(const at::Tensor& features, const at::Tensor& labels, const char* where,
                                      const char* features_name, const char* labels_name) {
  TORCH_CHECK(features.defined() && features.dim() == 2, where, ": ", features_name, " must be [N, F], got ",
              features.defined() ? features.sizes() : at::IntArrayRef{});
  TORCH_CHECK(features.size(0) > 0, where, ": ", features_name, " is empty, shape ", features.sizes());
  TORCH_CHECK(at::isFloatingType(features.scalar_type()), where, ": ", features_name,
              " must be floating point, got ", features.scalar_type());
  TORCH_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == features.size(0), where, ": ",
              labels_name, " must be [N = ", features.size(0), "], got ",
              labels.defined() ? labels.sizes() : at::IntArrayRef{});
  TORCH_CHECK(!at::isFloatingType(labels.scalar_type()) && labels.scalar_type() != at::kBool, where, ": ",
              labels_name, " must hold integer class indices, got ", labels.scalar_type());
  TORCH_CHECK(labels.min().item<int64_t>() >= 0, where, ": ", labels_name, " has a negative class index");
}

// Rows scaled to unit length, in float32 (zero rows stay zero).
inline at::Tensor unit_rows(const at::Tensor& x) {
  const at::Tensor f = x.to(at::kFloat);
  return f / f.norm(2, {1}, true).clamp_min(1e-12);
}

inline int64_t class_count(const at::Tensor& labels, int64_t given, const char* where) {
  const int64_t needed = labels.max().item<int64_t>() + 1;
  TORCH_CHECK(given == 0 || given >= needed, where, ": num_classes = ", given, " but the labels go up to ",
              needed - 1);
  return given > 0 ? given : needed;
}

// Puts a module in eval mode and restores its training mode when the scope ends, also when the
// scope is left by an exception.
template <typename Module>
class EvalModeGuard {
 public:
  explicit EvalModeGuard(Module& module) : module_(module), was_training_(module->is_training()) {
    module_->eval();
  }
  ~EvalModeGuard() { module_->train(was_training_); }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  Module& module_;
  bool was_training_;
};

}  // namespace detail

/// Runs `encoder` in eval mode without grad over `images` in batches and returns the
/// features [N, F] in float32 on the CPU. `preprocess` maps each batch (as stored, e.g. uint8
/// [B, C, H, W]) to the encoder's input, which is then moved to the encoder's device; by default
/// a batch is moved as stored and uint8 becomes float in [0, 1] there. The encoder's training
/// mode is restored afterwards, also when the encoder or `preprocess` throws.
///
///     auto features = byol::eval::extract_features(model.encoder(), images, 512);
template <typename Encoder>
inline at::Tensor extract_features(Encoder& encoder, const at::Tensor& images, int64_t batch_size,
                                   const std::function<at::Tensor(const at::Tensor&)>& preprocess = nullptr) {
  TORCH_CHECK(images.defined() && images.dim() >= 2 && images.size(0) > 0,
              "extract_features: images must be a non-empty batch, got ",
              images.defined() ? images.sizes() : at::IntArrayRef{});
  TORCH_CHECK(batch_size > 0, "extract_features: batch_size must be > 0, got ", batch_size);
  const detail::EvalModeGuard<Encoder> eval_mode(encoder);
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> chunks;
  at::Device device = at::kCPU;
  for (const auto& p : encoder->parameters()) {
    device = p.device();
    break;
  }
  for (int64_t begin = 0; begin < images.size(0); begin += batch_size) {
    at::Tensor batch = images.narrow(0, begin, std::min(batch_size, images.size(0) - begin));
    if (preprocess) {
      batch = preprocess(batch).to(device);
    } else {
      // Copied as stored and converted on the device: uint8 moves a quarter of float's bytes.
      batch = batch.to(device);
      if (batch.scalar_type() == at::kByte) {
        batch = batch.to(at::kFloat).div_(255.0);
      }
    }
    at::Tensor f = encoder->forward(batch);
    chunks.push_back(f.flatten(1).to(at::kCPU, at::kFloat));
  }
  return at::cat(chunks);
}

/// Options of the weighted k-NN classifier.
struct KNNOptions {
  /// Neighbours that vote. Default 200 (clamped to the size of the training set).
  TORCH_ARG(int64_t, k) = 200;
  /// Temperature T of the votes exp(s / T). Default 0.1.
  TORCH_ARG(double, temperature) = 0.1;
  /// Number of classes; 0 infers max(label) + 1. Default 0.
  TORCH_ARG(int64_t, num_classes) = 0;
  /// Test rows scored at once (memory: chunk x N similarities). Default 1024.
  TORCH_ARG(int64_t, chunk_size) = 1024;
};

/// Weighted k-NN predictions: for each test row, the k training rows of highest cosine
/// similarity s vote for their class with weight exp(s / T); the class with the most weight wins.
/// The work runs on train_features' device; the labels and test features are moved there.
///
/// @return int64 [M] predicted classes, on train_features' device
inline at::Tensor knn_predict(const at::Tensor& train_features, const at::Tensor& train_labels,
                              const at::Tensor& test_features, const KNNOptions& options = {}) {
  detail::check_features_and_labels(train_features, train_labels, "knn_predict", "train_features", "train_labels");
  TORCH_CHECK(test_features.defined() && test_features.dim() == 2 && test_features.size(1) == train_features.size(1),
              "knn_predict: test_features must be [M, ", train_features.size(1), "], got ",
              test_features.defined() ? test_features.sizes() : at::IntArrayRef{});
  TORCH_CHECK(test_features.size(0) > 0, "knn_predict: test_features is empty, shape ", test_features.sizes());
  TORCH_CHECK(options.k() > 0, "knn_predict: k must be > 0, got ", options.k());
  TORCH_CHECK(options.temperature() > 0, "knn_predict: temperature must be > 0, got ", options.temperature());
  TORCH_CHECK(options.chunk_size() > 0, "knn_predict: chunk_size must be > 0, got ", options.chunk_size());
  const int64_t classes = detail::class_count(train_labels, options.num_classes(), "knn_predict");
  const int64_t k = std::min(options.k(), train_features.size(0));
  const at::Device device = train_features.device();
  const at::Tensor train = detail::unit_rows(train_features);
  const at::Tensor labels = train_labels.to(device, at::kLong);
  std::vector<at::Tensor> predictions;
  for (int64_t begin = 0; begin < test_features.size(0); begin += options.chunk_size()) {
    const int64_t rows = std::min(options.chunk_size(), test_features.size(0) - begin);
    const at::Tensor test = detail::unit_rows(test_features.narrow(0, begin, rows).to(device));
    const auto top = at::mm(test, train.t()).topk(k, 1);
    const at::Tensor weights = (std::get<0>(top) / options.temperature()).exp();
    const at::Tensor neighbour_labels = labels.index_select(0, std::get<1>(top).flatten()).view({rows, k});
    const at::Tensor votes = at::zeros({rows, classes}, weights.options()).scatter_add_(1, neighbour_labels, weights);
    predictions.push_back(votes.argmax(1));
  }
  return at::cat(predictions);
}

/// Top-1 accuracy (in [0, 1]) of knn_predict on labelled test features.
inline double knn_accuracy(const at::Tensor& train_features, const at::Tensor& train_labels,
                           const at::Tensor& test_features, const at::Tensor& test_labels,
                           const KNNOptions& options = {}) {
  detail::check_features_and_labels(test_features, test_labels, "knn_accuracy", "test_features", "test_labels");
  const at::Tensor predicted = knn_predict(train_features, train_labels, test_features, options);
  return predicted.eq(test_labels.to(predicted.device(), at::kLong)).to(at::kDouble).mean().item<double>();
}

/// Options of linear evaluation on frozen features.
struct LinearEvalOptions {
  /// Passes over the training features. Default 100 (the reference trains 80 epochs on augmented images).
  TORCH_ARG(int64_t, epochs) = 100;
  /// Mini-batch size. Default 256.
  TORCH_ARG(int64_t, batch_size) = 256;
  /// Base learning rate, scaled by batch_size / 256 and decayed by a cosine to 0. Default 0.2 (the reference).
  TORCH_ARG(double, base_lr) = 0.2;
  /// SGD momentum (Nesterov). Default 0.9.
  TORCH_ARG(double, momentum) = 0.9;
  /// Weight decay. Default 0 (the reference).
  TORCH_ARG(double, weight_decay) = 0.0;
  /// Standardise each feature with the training set's mean and (unbiased) standard deviation
  /// first, so one learning rate fits encoders of any output scale; needs at least 2 training
  /// rows (fewer is an error). Default true.
  TORCH_ARG(bool, standardize) = true;
  /// Number of classes; 0 infers max(label) + 1. Default 0.
  TORCH_ARG(int64_t, num_classes) = 0;
  /// Seed of the mini-batch order and the classifier's initialisation. Default 0.
  TORCH_ARG(uint64_t, seed) = 0;
};

/// What linear evaluation reports.
struct LinearEvalResult {
  double train_accuracy = 0.0;  ///< top-1 on the training features after the last epoch
  double test_accuracy = 0.0;   ///< top-1 on the test features
  double final_loss = 0.0;      ///< mean cross-entropy of the last epoch
};

/// Linear evaluation: a softmax-regression classifier trained on frozen features with SGD
/// (Nesterov momentum, lr = base_lr * batch / 256 with cosine decay, no weight decay), then top-1
/// accuracy on the test features. The classifier trains on train_features' device; the labels and
/// test features are moved there. Its initialisation and the mini-batch order come from a CPU
/// generator seeded by `seed`, so they are the same on every device.
inline LinearEvalResult linear_eval(const at::Tensor& train_features, const at::Tensor& train_labels,
                                    const at::Tensor& test_features, const at::Tensor& test_labels,
                                    const LinearEvalOptions& options = {}) {
  detail::check_features_and_labels(train_features, train_labels, "linear_eval", "train_features", "train_labels");
  detail::check_features_and_labels(test_features, test_labels, "linear_eval", "test_features", "test_labels");
  TORCH_CHECK(test_features.size(1) == train_features.size(1), "linear_eval: test_features ",
              test_features.sizes(), " and train_features ", train_features.sizes(), " differ in width");
  TORCH_CHECK(options.epochs() > 0, "linear_eval: epochs must be > 0, got ", options.epochs());
  TORCH_CHECK(options.batch_size() > 0, "linear_eval: batch_size must be > 0, got ", options.batch_size());
  TORCH_CHECK(options.base_lr() > 0, "linear_eval: base_lr must be > 0, got ", options.base_lr());
  const at::Device device = train_features.device();
  const at::Tensor y_train = train_labels.to(device, at::kLong);
  const at::Tensor y_test = test_labels.to(device, at::kLong);
  const int64_t classes = detail::class_count(at::cat({y_train, y_test}), options.num_classes(), "linear_eval");
  at::Tensor train = train_features.to(at::kFloat);
  at::Tensor test = test_features.to(device, at::kFloat);
  if (options.standardize()) {
    // The unbiased standard deviation of a single row is 0 / 0: refuse rather than train on NaN.
    TORCH_CHECK(train.size(0) >= 2, "linear_eval: standardize needs at least 2 rows of train_features to estimate ",
                "each feature's standard deviation, got ", train.size(0), " (shape ", train_features.sizes(),
                "); pass more rows or LinearEvalOptions().standardize(false)");
    const at::Tensor mean = train.mean(0, true);
    const at::Tensor std = train.std(0, true, true).clamp_min(1e-6);
    train = (train - mean) / std;
    test = (test - mean) / std;
  }
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(options.seed());
  torch::nn::Linear classifier(train.size(1), classes);
  {
    at::NoGradGuard no_grad;
    classifier->weight.normal_(0.0, 0.01, gen);
    classifier->bias.zero_();
  }
  classifier->to(device);
  const double peak = options.base_lr() * static_cast<double>(options.batch_size()) / 256.0;
  torch::optim::SGD sgd(classifier->parameters(), torch::optim::SGDOptions(peak)
                                                      .momentum(options.momentum())
                                                      .nesterov(options.momentum() > 0)
                                                      .weight_decay(options.weight_decay()));
  const int64_t n = train.size(0);
  const int64_t steps_per_epoch = (n + options.batch_size() - 1) / options.batch_size();
  const int64_t total = steps_per_epoch * options.epochs();
  // lr = warmup_cosine(step, 0, total, peak): peak at the first step, decaying to 0.
  schedule::WarmupCosineLR lr_schedule(sgd, 0, total);
  LinearEvalResult result;
  for (int64_t epoch = 0; epoch < options.epochs(); ++epoch) {
    const at::Tensor order = at::randperm(n, gen, at::TensorOptions().dtype(at::kLong)).to(device);
    double loss_sum = 0.0;
    for (int64_t begin = 0; begin < n; begin += options.batch_size()) {
      const at::Tensor idx = order.narrow(0, begin, std::min(options.batch_size(), n - begin));
      const at::Tensor loss = torch::nn::functional::cross_entropy(classifier(train.index_select(0, idx)),
                                                                   y_train.index_select(0, idx));
      sgd.zero_grad();
      loss.backward();
      sgd.step();
      lr_schedule.step();
      loss_sum += loss.item<double>() * static_cast<double>(idx.size(0));
    }
    result.final_loss = loss_sum / static_cast<double>(n);
  }
  at::NoGradGuard no_grad;
  result.train_accuracy = classifier(train).argmax(1).eq(y_train).to(at::kDouble).mean().item<double>();
  result.test_accuracy = classifier(test).argmax(1).eq(y_test).to(at::kDouble).mean().item<double>();
  return result;
}

/// The reference's online linear classifier: trained during pre-training on the stop-gradient of
/// the encoder's features, so representation quality shows without a separate run. Add its loss
/// to the BYOL loss and its parameters to the optimizer; no gradient reaches the encoder.
///
///     byol::eval::OnlineProbe probe(512, 10);
///     auto loss = model.loss(v1, v2) + probe->loss(out.h1, labels);
class OnlineProbeImpl : public torch::nn::Cloneable<OnlineProbeImpl> {
 public:
  OnlineProbeImpl(int64_t feature_dim, int64_t num_classes) : feature_dim_(feature_dim), num_classes_(num_classes) {
    reset();
  }
  void reset() override {
    TORCH_CHECK(feature_dim_ > 0, "OnlineProbe: feature_dim must be > 0, got ", feature_dim_);
    TORCH_CHECK(num_classes_ > 1, "OnlineProbe: num_classes must be > 1, got ", num_classes_);
    linear = register_module("linear", torch::nn::Linear(feature_dim_, num_classes_));
  }

  /// Logits of the stop-gradient features.
  at::Tensor forward(const at::Tensor& features) { return linear(features.detach()); }

  /// Cross-entropy of the stop-gradient features against `labels` (integer class indices [B];
  /// a floating-point or bool dtype is an error), counting correct predictions into the running
  /// accuracy.
  at::Tensor loss(const at::Tensor& features, const at::Tensor& labels) {
    TORCH_CHECK(features.dim() == 2 && features.size(1) == feature_dim_, "OnlineProbe: features must be [B, ",
                feature_dim_, "], got ", features.sizes());
    TORCH_CHECK(labels.dim() == 1 && labels.size(0) == features.size(0), "OnlineProbe: labels must be [B = ",
                features.size(0), "], got ", labels.sizes());
    // A float label of 2.7 would be truncated to class 2 without a word.
    TORCH_CHECK(!at::isFloatingType(labels.scalar_type()) && !at::isComplexType(labels.scalar_type()) &&
                    labels.scalar_type() != at::kBool,
                "OnlineProbe: labels must hold integer class indices, got dtype ", labels.scalar_type());
    const at::Tensor logits = forward(features);
    const at::Tensor target = labels.to(logits.device(), at::kLong);
    {
      // Counted on the logits' device: reading it back is left to accuracy(), not every step.
      at::NoGradGuard no_grad;
      const at::Tensor hits = logits.argmax(1).eq(target).sum();
      correct_ = correct_.defined() ? correct_ + hits : hits;
      seen_ += labels.size(0);
    }
    return torch::nn::functional::cross_entropy(logits, target);
  }

  /// Running top-1 accuracy since the last reset_accuracy(); 0 before any batch.
  double accuracy() const {
    return seen_ == 0 ? 0.0 : static_cast<double>(correct_.item<int64_t>()) / static_cast<double>(seen_);
  }
  void reset_accuracy() {
    correct_ = at::Tensor();
    seen_ = 0;
  }

  torch::nn::Linear linear{nullptr};

 private:
  int64_t feature_dim_;
  int64_t num_classes_;
  at::Tensor correct_;
  int64_t seen_ = 0;
};
TORCH_MODULE(OnlineProbe);

/// The collapse metric: the standard deviation over the batch of the l2-normalised outputs,
/// averaged over the D dimensions (the unbiased estimator, as torch's std):
///
///   n_i = z_i / max(||z_i||, 1e-12),   collapse_std(z) = (1 / D) sum_d std_i(n_id)
///
/// It is 0 when every row points the same way (a collapsed representation) and about
/// 1 / sqrt(D) (healthy_collapse_std) when the rows are spread uniformly over the unit sphere,
/// e.g. independent Gaussian rows. Computed in float32 (float64 for float64 input), without
/// gradient; returns a double.
///
/// @param outputs  [B, D] floating point, B >= 2 (projections, predictions or features)
///
///     const auto out = model.forward(view1, view2);
///     const double s = byol::eval::collapse_std(out.z1);
///     if (s < 0.1 * byol::eval::healthy_collapse_std(out.z1.size(1))) std::cerr << "collapse?\n";
inline double collapse_std(const at::Tensor& outputs) {
  TORCH_CHECK(outputs.defined() && outputs.dim() == 2, "collapse_std: outputs must be [B, D], got ",
              outputs.defined() ? outputs.sizes() : at::IntArrayRef{});
  TORCH_CHECK(outputs.size(0) >= 2 && outputs.size(1) >= 1,
              "collapse_std: outputs needs at least 2 rows and 1 column for a standard deviation, got shape ",
              outputs.sizes());
  TORCH_CHECK(at::isFloatingType(outputs.scalar_type()), "collapse_std: outputs must be floating point, got ",
              outputs.scalar_type());
  at::NoGradGuard no_grad;
  const at::Tensor z = outputs.detach().to(outputs.scalar_type() == at::kDouble ? at::kDouble : at::kFloat);
  const at::Tensor n = z / z.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);
  return n.std(0).mean().item<double>();
}

/// What collapse_std gives for rows spread uniformly over the unit sphere of dimension D:
/// 1 / sqrt(D) (each coordinate of a unit vector has mean 0 and variance 1 / D).
///
///     byol::eval::healthy_collapse_std(256);   // 0.0625
inline double healthy_collapse_std(int64_t dim) {
  TORCH_CHECK(dim >= 1, "healthy_collapse_std: dim must be >= 1, got ", dim);
  return 1.0 / std::sqrt(static_cast<double>(dim));
}

}  // namespace byol::eval

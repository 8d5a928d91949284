#pragma once

/// The reference's hyper-parameters for ImageNet pre-training of 40, 100, 300 and 1000 epochs
/// (`_LR_PRESETS`, `_WD_PRESETS`, `_EMA_PRESETS` in the reference's `byol/configs/byol.py`;
/// docs/spec.md, "Learning rate"):
///
///   epochs | base_lr | weight_decay | base_tau
///     1000 |   0.2   |    1.5e-6    |  0.996
///      300 |   0.3   |    1e-6      |  0.99
///      100 |   0.45  |    1e-6      |  0.99
///       40 |   0.45  |    1e-6      |  0.97
///
/// and, for all four, batch 4096, 10 warm-up epochs, LARS momentum 0.9 and eta 0.001.
///
///     const auto preset = byol::presets::imagenet_300_epochs();
///     byol::optim::LARS lars(model.online_parameters(),
///                            byol::optim::LARSOptions(preset.peak_lr(batch)).weight_decay(preset.weight_decay));
///     byol::schedule::TargetTau tau(preset.base_tau, total_steps);

#include <c10/util/Exception.h>

#include <cstdint>

namespace byol::presets {

/// One preset: what the reference's config sets for a run of `epochs` epochs.
struct Preset {
  /// Pre-training epochs the values are for.
  int64_t epochs = 1000;
  /// Learning rate at batch 256: lr_peak = base_lr * batch / 256.
  double base_lr = 0.2;
  /// LARS weight decay lambda (biases and normalisation parameters excluded).
  double weight_decay = 1.5e-6;
  /// tau_0 of the target's cosine schedule (schedule::target_tau, schedule::TargetTau).
  double base_tau = 0.996;
  /// Global batch size of the reference's runs.
  int64_t batch_size = 4096;
  /// Linear warm-up of the learning rate, in epochs.
  double warmup_epochs = 10.0;
  /// LARS momentum mu.
  double momentum = 0.9;
  /// LARS trust coefficient eta.
  double eta = 0.001;

  /// lr_peak for a global batch of `batch` images: base_lr * batch / 256.
  double peak_lr(int64_t batch) const {
    TORCH_CHECK(batch > 0, "Preset::peak_lr: batch must be > 0, got ", batch);
    return base_lr * static_cast<double>(batch) / 256.0;
  }
};

namespace detail {
inline Preset make(int64_t epochs, double base_lr, double weight_decay, double base_tau) {
  Preset p;
  p.epochs = epochs;
  p.base_lr = base_lr;
  p.weight_decay = weight_decay;
  p.base_tau = base_tau;
  return p;
}
}  // namespace detail

/// The reference's 1000-epoch run (the paper's headline: 74.3% linear top-1 with ResNet-50):
/// base_lr 0.2, weight decay 1.5e-6, tau_0 0.996.
inline Preset imagenet_1000_epochs() { return detail::make(1000, 0.2, 1.5e-6, 0.996); }
/// The reference's 300-epoch run (72.5% linear top-1): base_lr 0.3, weight decay 1e-6, tau_0 0.99.
inline Preset imagenet_300_epochs() { return detail::make(300, 0.3, 1e-6, 0.99); }
/// The reference's 100-epoch run: base_lr 0.45, weight decay 1e-6, tau_0 0.99.
inline Preset imagenet_100_epochs() { return detail::make(100, 0.45, 1e-6, 0.99); }
/// The reference's 40-epoch run: base_lr 0.45, weight decay 1e-6, tau_0 0.97.
inline Preset imagenet_40_epochs() { return detail::make(40, 0.45, 1e-6, 0.97); }

/// The preset for `epochs` (40, 100, 300 or 1000); any other number is an error that lists them.
///
///     auto preset = byol::presets::imagenet(300);   // == imagenet_300_epochs()
inline Preset imagenet(int64_t epochs) {
  switch (epochs) {
    case 40:
      return imagenet_40_epochs();
    case 100:
      return imagenet_100_epochs();
    case 300:
      return imagenet_300_epochs();
    case 1000:
      return imagenet_1000_epochs();
    default:
      TORCH_CHECK(false, "presets::imagenet: the reference has presets for 40, 100, 300 and 1000 epochs, got epochs = ",
                  epochs);
  }
  return Preset{};  // not reached
}

}  // namespace byol::presets

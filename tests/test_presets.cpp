// The reference's presets, against docs/spec.md's table ("Learning rate"), written out here from
// that table (the reference's _LR_PRESETS, _WD_PRESETS and _EMA_PRESETS in byol/configs/byol.py).
#include <byol/presets.hpp>

#include "support.hpp"

TEST_CASE("the ImageNet presets are docs/spec.md's table", "[presets]") {
  struct Row {
    int64_t epochs;
    double base_lr, weight_decay, base_tau;
  };
  const Row table[] = {{1000, 0.2, 1.5e-6, 0.996}, {300, 0.3, 1e-6, 0.99}, {100, 0.45, 1e-6, 0.99}, {40, 0.45, 1e-6, 0.97}};
  const byol::presets::Preset named[] = {byol::presets::imagenet_1000_epochs(), byol::presets::imagenet_300_epochs(),
                                         byol::presets::imagenet_100_epochs(), byol::presets::imagenet_40_epochs()};
  for (size_t i = 0; i < 4; ++i) {
    INFO(table[i].epochs << " epochs");
    for (const auto& p : {named[i], byol::presets::imagenet(table[i].epochs)}) {
      CHECK(p.epochs == table[i].epochs);
      CHECK(p.base_lr == table[i].base_lr);
      CHECK(p.weight_decay == table[i].weight_decay);
      CHECK(p.base_tau == table[i].base_tau);
      // The same for all: batch 4096, 10 warm-up epochs, LARS momentum 0.9 and eta 0.001.
      CHECK(p.batch_size == 4096);
      CHECK(p.warmup_epochs == 10.0);
      CHECK(p.momentum == 0.9);
      CHECK(p.eta == 0.001);
    }
  }
  // lr_peak = base_lr * batch / 256: 0.2 * 16 at batch 4096.
  CHECK(byol::presets::imagenet_1000_epochs().peak_lr(4096) == Approx(3.2).epsilon(1e-15));
  CHECK(byol::presets::imagenet_300_epochs().peak_lr(512) == Approx(0.6).epsilon(1e-15));
}

TEST_CASE("an epoch count without a preset is an error that lists the four", "[presets]") {
  byol_test::require_error([] { byol::presets::imagenet(200); }, {"40, 100, 300 and 1000", "200"});
  byol_test::require_error([] { byol::presets::imagenet_300_epochs().peak_lr(0); }, {"batch", "0"});
}

#pragma once

/// TrainState: everything a training run needs to continue bit for bit, saved and restored in
/// one call, in one checkpoint file (byol/checkpoint.hpp: checksummed, written atomically, the
/// previous one kept as `.prev` and used when the newest is damaged).
///
/// It holds references to what the run owns (they must outlive it): modules (the learner, a
/// probe), optimizers, the schedules (WarmupCosineLR, TargetTau), integer counters (the step),
/// random generators (the global CPU generator and each CUDA device's default generator from the
/// start) and, for saving, the data loader's position. `save(path)` writes them all; `load(path)`
/// checks everything it can first (presence, shapes, types, the schedules' lengths), then
/// restores them all, so a checkpoint of another run is refused without changing anything.
///
///     int64_t step = 0;
///     byol::TrainState state;
///     state.module("model", model).optimizer("optimizer", lars).schedule("lr", lr).schedule("tau", tau)
///         .counter("step", step);
///     if (resume) state.load("run/checkpoint.pt");      // or its .prev
///     const auto start = state.loader_position();        // (epoch, batch) to build the loader at
///     ...
///     state.loader(loader);                               // its position() is saved
///     state.save("run/checkpoint.pt");

#include <byol/checkpoint.hpp>
#include <byol/schedule.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace byol {

/// A training run's state, saved and restored atomically in one call (see the file comment).
class TrainState {
 public:
  /// The version of the layout inside the checkpoint archive.
  static constexpr int64_t kVersion = 1;

  /// Covers the global CPU generator (key "cpu", what torch::manual_seed seeds) and each CUDA
  /// device's default generator (keys "cuda0", "cuda1", ...; restored when the file has them).
  TrainState() {
    add_generator_("cpu", at::detail::getDefaultCPUGenerator(), /*required=*/true);
    const auto devices = static_cast<int64_t>(torch::cuda::device_count());
    for (int64_t i = 0; i < devices; ++i) {
      add_generator_("cuda" + std::to_string(i),
                     at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(i))),
                     /*required=*/false);
    }
  }

  TrainState(const TrainState&) = delete;
  TrainState& operator=(const TrainState&) = delete;

  /// A module's parameters and buffers (the learner holds online, predictor and target).
  TrainState& module(const std::string& key, torch::nn::Module& target) {
    claim_(key, "module");
    modules_.push_back({key, &target});
    return *this;
  }
  /// The same for a module handle (a TORCH_MODULE type).
  template <typename Impl>
  TrainState& module(const std::string& key, torch::nn::ModuleHolder<Impl>& holder) {
    return module(key, *holder);
  }
  /// An optimizer's state: momentum buffers, options, per-group learning rates.
  TrainState& optimizer(const std::string& key, torch::optim::Optimizer& target) {
    claim_(key, "optimizer");
    optimizers_.push_back({key, &target});
    return *this;
  }
  /// A learning-rate schedule's step. Build it before load (it reads the peaks from the
  /// optimizer at construction); load sets its step after the optimizers are restored, and
  /// refuses a file whose schedule has another length (a run with other flags).
  TrainState& schedule(const std::string& key, schedule::WarmupCosineLR& lr) {
    claim_(key, "schedule");
    schedules_.push_back({key, [&lr] { return lr.current_step(); }, [&lr](int64_t k) { lr.set_step(k); },
                          lr.total_steps()});
    return *this;
  }
  /// A target-tau schedule's step (and, checked on load, its length).
  TrainState& schedule(const std::string& key, schedule::TargetTau& tau) {
    claim_(key, "schedule");
    schedules_.push_back({key, [&tau] { return tau.current_step(); }, [&tau](int64_t k) { tau.set_step(k); },
                          tau.total_steps()});
    return *this;
  }
  /// An integer the run counts with (the step, an epoch, a metric row count).
  TrainState& counter(const std::string& key, int64_t& value) {
    claim_(key, "counter");
    counters_.push_back({key, &value});
    return *this;
  }
  /// A random generator of the run's own (a CPU generator its augmentation draws from, say).
  TrainState& generator(const std::string& key, at::Generator target) {
    TORCH_CHECK(target.defined(), "TrainState::generator: generator '", key, "' is undefined");
    add_generator_(key, std::move(target), /*required=*/true);
    return *this;
  }
  /// The data loader whose position() ((epoch, batch) of the next batch it returns) is saved;
  /// any type with `std::pair<int64_t, int64_t> position() const` (byol::data::TwoViewLoader).
  /// Register it once it exists: after load, which gives the position to build it at.
  template <typename Loader>
  TrainState& loader(const Loader& source) {
    loader_ = [&source] { return std::pair<int64_t, int64_t>(source.position()); };
    return *this;
  }

  /// (epoch, batch) of the loader's next batch as the last load found it: what LoaderOptions'
  /// start_epoch and start_batch take to go on where the saved run stopped. (0, 0) before a
  /// load, or when the file has no loader position.
  std::pair<int64_t, int64_t> loader_position() const { return loader_position_; }

  /// Writes everything to `path` atomically (checkpoint::save_atomically: a unique temporary,
  /// fsync, the previous file kept as `path.prev`, rename).
  void save(const std::string& path) const {
    torch::serialize::OutputArchive archive;
    checkpoint::write_int(archive, "train_state_version", kVersion);
    auto nested = [&archive](const char* name, const auto& fill) {
      torch::serialize::OutputArchive part(archive.compilation_unit());
      fill(part);
      archive.write(name, part);
    };
    nested("modules", [this](auto& a) {
      for (const auto& m : modules_) checkpoint::write(a, m.key, *m.module);
    });
    nested("optimizers", [this](auto& a) {
      for (const auto& o : optimizers_) checkpoint::write(a, o.key, *o.optimizer);
    });
    nested("schedules", [this](auto& a) {
      for (const auto& s : schedules_) {
        checkpoint::write_int(a, s.key + "_step", s.get());
        checkpoint::write_int(a, s.key + "_total_steps", s.total_steps);
      }
    });
    nested("counters", [this](auto& a) {
      for (const auto& c : counters_) checkpoint::write_int(a, c.key, *c.value);
    });
    nested("generators", [this](auto& a) {
      for (const auto& g : generators_) checkpoint::write_rng(a, g.key, g.generator);
    });
    if (loader_) {
      const auto position = loader_();
      nested("loader", [&position](auto& a) {
        checkpoint::write_int(a, "epoch", position.first);
        checkpoint::write_int(a, "batch", position.second);
      });
    }
    checkpoint::save_atomically(archive, path);
  }

  /// Restores everything from `path`, or from `path.prev` when `path` is missing or damaged
  /// (checkpoint::load_latest, which warns). Everything is checked before anything changes:
  /// every registered module with its shapes, optimizer, schedule (with the same total steps),
  /// counter and generator must be in the file; otherwise a c10::Error names the file and the
  /// first thing missing or different, and nothing was modified. Returns what load_latest found
  /// (the archive, for keys of your own, and the file used).
  checkpoint::LoadedCheckpoint load(const std::string& path) {
    checkpoint::LoadedCheckpoint loaded = checkpoint::load_latest(path);
    const std::string& file = loaded.path;
    auto& archive = loaded.archive;
    c10::IValue version_value;
    TORCH_CHECK(archive.try_read("train_state_version", version_value) && version_value.isInt(),
                "TrainState::load: ", file, " is not a TrainState checkpoint (it has no integer ",
                "'train_state_version'): it was written by checkpoint::save_atomically directly, or by an older ",
                "byol; load it with checkpoint::load and checkpoint::read");
    const int64_t version = version_value.toInt();
    TORCH_CHECK(version == kVersion, "TrainState::load: ", file, " holds train state version ", version,
                "; this byol reads version ", kVersion);
    auto part = [&](const char* name) {
      torch::serialize::InputArchive nested;
      TORCH_CHECK(archive.try_read(name, nested), "TrainState::load: ", file, " has no '", name,
                  "' section: it is not a TrainState checkpoint");
      return nested;
    };
    auto modules = part("modules");
    auto optimizers = part("optimizers");
    auto schedules = part("schedules");
    auto counters = part("counters");
    auto generators = part("generators");

    // ---- check everything --------------------------------------------------------------------
    std::vector<torch::serialize::InputArchive> module_parts(modules_.size());
    for (size_t i = 0; i < modules_.size(); ++i) {
      const auto& m = modules_[i];
      TORCH_CHECK(modules.try_read(m.key, module_parts[i]), "TrainState::load: ", file, " has no module '", m.key,
                  "'");
      try {
        checkpoint::detail::check_module_shapes(module_parts[i], *m.module, "", m.key);
      } catch (const c10::Error& e) {
        TORCH_CHECK(false, "TrainState::load: ", file, ": ", e.what_without_backtrace());
      }
    }
    std::vector<torch::serialize::InputArchive> optimizer_parts(optimizers_.size());
    for (size_t i = 0; i < optimizers_.size(); ++i) {
      TORCH_CHECK(optimizers.try_read(optimizers_[i].key, optimizer_parts[i]), "TrainState::load: ", file,
                  " has no optimizer '", optimizers_[i].key, "'");
    }
    std::vector<int64_t> schedule_steps;
    for (const auto& s : schedules_) {
      const int64_t total = read_int_(schedules, s.key + "_total_steps", file, "schedule '" + s.key + "'");
      TORCH_CHECK(total == s.total_steps, "TrainState::load: schedule '", s.key, "' in ", file, " is of a run of ",
                  total, " steps, this one has ", s.total_steps,
                  " (resume with the settings that fixed the run's length: epochs, batch size, data)");
      const int64_t step = read_int_(schedules, s.key + "_step", file, "schedule '" + s.key + "'");
      TORCH_CHECK(step >= 0 && step <= total, "TrainState::load: schedule '", s.key, "' in ", file, " is at step ",
                  step, ", outside [0, ", total, "]");
      schedule_steps.push_back(step);
    }
    std::vector<int64_t> counter_values;
    for (const auto& c : counters_) {
      counter_values.push_back(read_int_(counters, c.key, file, "counter '" + c.key + "'"));
    }
    std::vector<at::Tensor> generator_states(generators_.size());
    for (size_t i = 0; i < generators_.size(); ++i) {
      const auto& g = generators_[i];
      const bool found = generators.try_read(g.key, generator_states[i], /*is_buffer=*/true);
      TORCH_CHECK(found || !g.required, "TrainState::load: ", file, " has no state of generator '", g.key, "'");
      if (!found) {
        TORCH_WARN("TrainState::load: ", file, " has no state of generator '", g.key,
                   "' (saved on a machine without that device); it keeps its current state");
      }
    }
    std::pair<int64_t, int64_t> position{0, 0};
    torch::serialize::InputArchive loader_part;
    if (archive.try_read("loader", loader_part)) {
      position.first = read_int_(loader_part, "epoch", file, "the loader position");
      position.second = read_int_(loader_part, "batch", file, "the loader position");
    }

    // ---- then restore it -------------------------------------------------------------------
    for (size_t i = 0; i < modules_.size(); ++i) {
      modules_[i].module->load(module_parts[i]);
    }
    for (size_t i = 0; i < optimizers_.size(); ++i) {
      optimizers_[i].optimizer->load(optimizer_parts[i]);
    }
    for (size_t i = 0; i < schedules_.size(); ++i) {
      schedules_[i].set(schedule_steps[i]);
    }
    for (size_t i = 0; i < counters_.size(); ++i) {
      *counters_[i].value = counter_values[i];
    }
    for (size_t i = 0; i < generators_.size(); ++i) {
      if (generator_states[i].defined()) {
        auto& g = generators_[i].generator;
        std::lock_guard<std::mutex> lock(g.mutex());
        g.set_state(generator_states[i]);
      }
    }
    loader_position_ = position;
    return loaded;
  }

 private:
  struct ModuleEntry {
    std::string key;
    torch::nn::Module* module;
  };
  struct OptimizerEntry {
    std::string key;
    torch::optim::Optimizer* optimizer;
  };
  struct ScheduleEntry {
    std::string key;
    std::function<int64_t()> get;
    std::function<void(int64_t)> set;
    int64_t total_steps;
  };
  struct CounterEntry {
    std::string key;
    int64_t* value;
  };
  struct GeneratorEntry {
    std::string key;
    at::Generator generator;
    bool required;
  };

  // Keys become archive attribute names: letters, digits and '_', unique within their kind.
  void claim_(const std::string& key, const char* kind) {
    TORCH_CHECK(!key.empty(), "TrainState::", kind, ": the key is empty");
    for (const char ch : key) {
      const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
      TORCH_CHECK(ok, "TrainState::", kind, ": key '", key, "' may hold only letters, digits and '_'");
    }
    TORCH_CHECK(keys_.insert(std::string(kind) + ":" + key).second, "TrainState::", kind, ": key '", key,
                "' is already registered");
  }

  void add_generator_(const std::string& key, at::Generator g, bool required) {
    claim_(key, "generator");
    generators_.push_back({key, std::move(g), required});
  }

  static int64_t read_int_(torch::serialize::InputArchive& archive, const std::string& key, const std::string& file,
                           const std::string& what) {
    try {
      return checkpoint::read_int(archive, key);
    } catch (const c10::Error& e) {
      TORCH_CHECK(false, "TrainState::load: ", file, ": ", what, ": ", e.what_without_backtrace());
    }
    return 0;  // not reached
  }

  std::vector<ModuleEntry> modules_;
  std::vector<OptimizerEntry> optimizers_;
  std::vector<ScheduleEntry> schedules_;
  std::vector<CounterEntry> counters_;
  std::vector<GeneratorEntry> generators_;
  std::function<std::pair<int64_t, int64_t>()> loader_;
  std::pair<int64_t, int64_t> loader_position_{0, 0};
  std::set<std::string> keys_;
};

}  // namespace byol

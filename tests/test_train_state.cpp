// TrainState: a run stopped after K1 steps, saved, rebuilt from other seeds and restored continues
// exactly as the uninterrupted run (parameters, target, buffers, LARS momentum, learning rate,
// tau, counters, generators); a damaged file falls back to .prev; a checkpoint of another run is
// refused before anything changes.
#include <byol/learner.hpp>
#include <byol/optim/lars.hpp>
#include <byol/schedule.hpp>
#include <byol/train_state.hpp>

#include "support.hpp"

#include <byol/detail/compat.hpp>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

std::string temp_dir() {
  char pattern[] = "/tmp/byol_train_state_XXXXXX";
  const char* dir = ::mkdtemp(pattern);
  REQUIRE(dir != nullptr);
  return dir;
}

// Dropout draws from the global CPU generator, so the run's result depends on its state.
torch::nn::Sequential make_encoder(int64_t width = 4) {
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, width, 3).padding(1)),
                               torch::nn::BatchNorm2d(width), torch::nn::ReLU(), torch::nn::Dropout(0.2),
                               torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(2)),
                               torch::nn::Flatten());
}

// A stand-in for a data loader: its position is what TrainState saves.
struct Position {
  int64_t consumed = 0;
  std::pair<int64_t, int64_t> position() const { return {consumed / 3, consumed % 3}; }
};

struct Run {
  static constexpr int64_t kTotal = 9;
  explicit Run(int64_t width = 4)
      : model(make_encoder(width), byol::BYOLOptions(4 * width).hidden_dim(32).projection_dim(8).predictor_hidden_dim(32)) {
    state.module("model", model).optimizer("lars", lars).schedule("lr", lr).schedule("tau", tau).counter("step", step)
        .generator("data", data);
    state.loader(loader);
  }
  byol::BYOL<torch::nn::Sequential> model;
  byol::optim::LARS lars{model.online_parameters(), byol::optim::LARSOptions(0.5).weight_decay(1e-4)};
  byol::schedule::WarmupCosineLR lr{lars, 2, kTotal};
  byol::schedule::TargetTau tau{0.9, kTotal};
  int64_t step = 0;
  at::Generator data = at::make_generator<at::CPUGeneratorImpl>(11);  // the run's own data stream
  Position loader;
  byol::TrainState state;

  void train_step() {
    const auto images = torch::rand({8, 1, 6, 6}, data);
    const auto v1 = (images + 0.1 * torch::randn({8, 1, 6, 6}, data)).clamp(0, 1);
    const auto v2 = images.flip({3});
    auto loss = model.loss(v1, v2);
    lars.zero_grad();
    loss.backward();
    lars.step();
    lr.step();
    model.update_target(tau.step());
    ++step;
    ++loader.consumed;
  }
};

at::Tensor generator_state(at::Generator g) {
  std::lock_guard<std::mutex> lock(g.mutex());
  return g.get_state();
}

void require_same(Run& a, Run& b) {
  const auto pa = a.model.named_parameters(), pb = b.model.named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].key());
    REQUIRE(pa[i].key() == pb[i].key());
    REQUIRE(torch::equal(pa[i].value(), pb[i].value()));
  }
  const auto ba = a.model.named_buffers(), bb = b.model.named_buffers();
  REQUIRE(ba.size() == bb.size());
  for (size_t i = 0; i < ba.size(); ++i) {
    INFO(ba[i].key());
    REQUIRE(torch::equal(ba[i].value(), bb[i].value()));
  }
  // LARS momentum, parameter by parameter.
  const auto la = a.model.online_parameters(), lb = b.model.online_parameters();
  for (size_t i = 0; i < la.size(); ++i) {
    auto& sa = a.lars.state().at(byol::detail::optimizer_state_key(la[i]));
    auto& sb = b.lars.state().at(byol::detail::optimizer_state_key(lb[i]));
    INFO("momentum of online parameter " << i);
    REQUIRE(torch::equal(static_cast<byol::optim::LARSParamState&>(*sa).momentum_buffer(),
                         static_cast<byol::optim::LARSParamState&>(*sb).momentum_buffer()));
  }
  REQUIRE(a.lars.param_groups()[0].options().get_lr() == b.lars.param_groups()[0].options().get_lr());
  REQUIRE(a.step == b.step);
  REQUIRE(a.lr.current_step() == b.lr.current_step());
  REQUIRE(a.tau.current_step() == b.tau.current_step());
  REQUIRE(a.loader.position() == b.loader.position());
  REQUIRE(torch::equal(generator_state(a.data), generator_state(b.data)));
}

}  // namespace

TEST_CASE("K steps straight equal K1 steps, save, fresh objects, load, K - K1 steps: bitwise", "[train_state]") {
  const int saved_threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const std::string path = temp_dir() + "/state.pt";

  torch::manual_seed(7);
  Run straight;
  torch::manual_seed(1234);  // the dropout stream starts here in both runs
  for (int k = 0; k < 7; ++k) straight.train_step();
  const auto straight_global = generator_state(at::detail::getDefaultCPUGenerator());

  torch::manual_seed(7);
  auto first = std::make_unique<Run>();
  torch::manual_seed(1234);
  for (int k = 0; k < 3; ++k) first->train_step();
  first->state.save(path);
  first.reset();

  torch::manual_seed(999);  // another initialisation and generator state: all of it overwritten
  Run resumed;
  resumed.data.set_current_seed(5);
  const auto loaded = resumed.state.load(path);
  CHECK_FALSE(loaded.fell_back);
  CHECK(loaded.path == path);
  REQUIRE(resumed.step == 3);
  REQUIRE(resumed.lr.current_step() == 3);
  REQUIRE(resumed.tau.current_step() == 3);
  REQUIRE((resumed.state.loader_position() == std::pair<int64_t, int64_t>(1, 0)));
  resumed.loader.consumed = 3;  // a real loader is built at loader_position()
  for (int k = 0; k < 4; ++k) resumed.train_step();

  require_same(straight, resumed);
  REQUIRE(torch::equal(straight_global, generator_state(at::detail::getDefaultCPUGenerator())));
  torch::set_num_threads(saved_threads);
}

TEST_CASE("a damaged checkpoint falls back to .prev, the state saved before it", "[train_state]") {
  const std::string path = temp_dir() + "/state.pt";
  torch::manual_seed(3);
  Run run;
  run.train_step();
  run.state.save(path);  // step 1
  const auto after_one = run.model.named_parameters()[0].value().clone();
  run.train_step();
  run.state.save(path);  // step 2; step 1 is kept as path.prev
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x5a');
  }
  Run restored;
  const auto loaded = restored.state.load(path);  // load_latest warns about the fallback
  CHECK(loaded.fell_back);
  CHECK(loaded.path == byol::checkpoint::previous_path(path));
  CHECK(restored.step == 1);
  CHECK(torch::equal(restored.model.named_parameters()[0].value(), after_one));
}

TEST_CASE("a checkpoint of another run is refused by name and changes nothing", "[train_state]") {
  using byol_test::require_error;
  const std::string dir = temp_dir();
  torch::manual_seed(3);
  Run narrow(4);
  narrow.train_step();
  narrow.state.save(dir + "/narrow.pt");

  // Another width: the first parameter of another shape is named; nothing is loaded.
  Run wide(6);
  const auto before = wide.model.named_parameters()[0].value().clone();
  const auto global_before = generator_state(at::detail::getDefaultCPUGenerator());
  require_error([&] { wide.state.load(dir + "/narrow.pt"); }, {"TrainState::load", "narrow.pt", "shape", "model"});
  CHECK(wide.step == 0);
  CHECK(wide.lr.current_step() == 0);
  CHECK(torch::equal(wide.model.named_parameters()[0].value(), before));
  CHECK(torch::equal(generator_state(at::detail::getDefaultCPUGenerator()), global_before));

  // A run of another length: the schedule says so.
  struct Longer {
    byol::optim::LARS lars{std::vector<torch::Tensor>{torch::randn({2, 2}, torch::requires_grad())},
                           byol::optim::LARSOptions(1.0)};
    byol::schedule::WarmupCosineLR lr{lars, 2, 20};
    byol::TrainState state;
  } longer;
  longer.state.schedule("lr", longer.lr);
  require_error([&] { longer.state.load(dir + "/narrow.pt"); }, {"schedule 'lr'", "run of 9 steps", "this one has 20"});

  // Something registered that the file does not hold.
  int64_t epoch = 0;
  Run extra(4);
  extra.state.counter("epoch", epoch);
  require_error([&] { extra.state.load(dir + "/narrow.pt"); }, {"counter 'epoch'", "narrow.pt"});
  CHECK(extra.step == 0);

  // Not a train state at all.
  torch::serialize::OutputArchive plain;
  byol::checkpoint::write_int(plain, "step", 4);
  byol::checkpoint::save_atomically(plain, dir + "/plain.pt");
  require_error([&] { extra.state.load(dir + "/plain.pt"); }, {"plain.pt", "train_state_version"});
  require_error([&] { extra.state.load(dir + "/missing.pt"); }, {"missing.pt"});
}

TEST_CASE("TrainState keys are checked when they are registered", "[train_state]") {
  using byol_test::require_error;
  byol::TrainState state;
  int64_t a = 0, b = 0;
  state.counter("step", a);
  require_error([&] { state.counter("step", b); }, {"counter", "'step'", "already registered"});
  require_error([&] { state.counter("a.b", b); }, {"'a.b'", "letters, digits and '_'"});
  require_error([&] { state.counter("", b); }, {"counter", "empty"});
  require_error([&] { state.generator("cpu", at::make_generator<at::CPUGeneratorImpl>(1)); }, {"'cpu'", "already"});
  require_error([&] { state.generator("g", at::Generator()); }, {"generator 'g'", "undefined"});
}

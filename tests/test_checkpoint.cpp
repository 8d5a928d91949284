// Checkpoints: a run interrupted, saved, rebuilt from scratch and resumed follows the same
// trajectory bit for bit; saves are atomic; bad files give errors that name them.
#include <byol/checkpoint.hpp>
#include <byol/learner.hpp>
#include <byol/optim/lars.hpp>
#include <byol/schedule.hpp>

#include "support.hpp"

#include <cstdio>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace {

std::string temp_dir() {
  char pattern[] = "/tmp/byol_checkpoint_XXXXXX";
  const char* dir = ::mkdtemp(pattern);
  REQUIRE(dir != nullptr);
  return dir;
}

torch::nn::Sequential make_encoder() {
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)),
                               torch::nn::BatchNorm2d(4), torch::nn::ReLU(),
                               torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(2)),
                               torch::nn::Flatten());
}

// Everything a run holds: the learner (online, predictor, target), LARS and its schedule.
struct Run {
  static constexpr int64_t kTotal = 10;
  byol::BYOL<torch::nn::Sequential> model{make_encoder(), byol::BYOLOptions(16).hidden_dim(32).projection_dim(8)
                                                              .predictor_hidden_dim(32)};
  byol::optim::LARS lars{model.online_parameters(), byol::optim::LARSOptions(0.5).weight_decay(1e-4)};
  byol::schedule::WarmupCosineLR schedule{lars, 2, kTotal};
  int64_t step = 0;

  // One training step whose data and augmentation come from the global generator.
  void train_step() {
    const auto images = torch::rand({8, 1, 6, 6});
    const auto v1 = (images + 0.1 * torch::randn_like(images)).clamp(0, 1);
    const auto v2 = images.flip({3});
    auto loss = model.loss(v1, v2);
    lars.zero_grad();
    loss.backward();
    lars.step();
    schedule.step();
    model.update_target(byol::schedule::target_tau(step + 1, kTotal, 0.9));
    ++step;
  }

  void save(const std::string& path) {
    torch::serialize::OutputArchive archive;
    byol::checkpoint::write(archive, "model", model);
    byol::checkpoint::write(archive, "optimizer", lars);
    byol::checkpoint::write_int(archive, "step", step);
    byol::checkpoint::write_rng(archive, "rng");
    byol::checkpoint::save_atomically(archive, path);
  }

  void load(const std::string& path) {
    auto archive = byol::checkpoint::load(path);
    byol::checkpoint::read(archive, "model", model);
    byol::checkpoint::read(archive, "optimizer", lars);
    step = byol::checkpoint::read_int(archive, "step");
    byol::checkpoint::read_rng(archive, "rng");
    schedule.set_step(step);
  }
};

}  // namespace

TEST_CASE("resume equivalence: N steps, save, load, M steps equals N + M steps, bitwise", "[checkpoint]") {
  const int saved_threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const std::string dir = temp_dir();
  const std::string path = dir + "/run.pt";

  torch::manual_seed(7);
  Run straight;
  torch::manual_seed(1234);  // the data stream starts here in both runs
  for (int k = 0; k < 7; ++k) straight.train_step();

  torch::manual_seed(7);
  auto first = std::make_unique<Run>();
  torch::manual_seed(1234);
  for (int k = 0; k < 4; ++k) first->train_step();
  first->save(path);
  first.reset();

  torch::manual_seed(999);  // a different initialisation and generator state, all overwritten
  Run resumed;
  resumed.load(path);
  REQUIRE(resumed.step == 4);
  for (int k = 0; k < 3; ++k) resumed.train_step();

  const auto a = straight.model.named_parameters();
  const auto b = resumed.model.named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].key());
    REQUIRE(torch::equal(a[i].value(), b[i].value()));
  }
  const auto ab = straight.model.named_buffers();
  const auto bb = resumed.model.named_buffers();
  for (size_t i = 0; i < ab.size(); ++i) {
    INFO(ab[i].key());
    REQUIRE(torch::equal(ab[i].value(), bb[i].value()));
  }
  REQUIRE(straight.lars.param_groups()[0].options().get_lr() == resumed.lars.param_groups()[0].options().get_lr());
  torch::set_num_threads(saved_threads);
}

TEST_CASE("save_atomically replaces the file whole and leaves no temporary", "[checkpoint]") {
  const std::string dir = temp_dir();
  const std::string path = dir + "/ckpt.pt";
  for (const int64_t value : {1, 2}) {
    torch::serialize::OutputArchive archive;
    byol::checkpoint::write_int(archive, "value", value);
    byol::checkpoint::save_atomically(archive, path);
    auto in = byol::checkpoint::load(path);
    REQUIRE(byol::checkpoint::read_int(in, "value") == value);
    REQUIRE_FALSE(byol::checkpoint::exists(path + ".tmp"));
  }
  // A save that fails part-way (here: the temporary cannot be written, a folder is in its way)
  // throws and leaves the previous checkpoint intact. A folder is not a checkpoint file.
  REQUIRE(::mkdir((path + ".tmp").c_str(), 0700) == 0);
  REQUIRE_FALSE(byol::checkpoint::exists(path + ".tmp"));
  torch::serialize::OutputArchive failing;
  byol::checkpoint::write_int(failing, "value", 3);
  REQUIRE_THROWS(byol::checkpoint::save_atomically(failing, path));
  auto in = byol::checkpoint::load(path);
  REQUIRE(byol::checkpoint::read_int(in, "value") == 2);
  ::rmdir((path + ".tmp").c_str());
}

TEST_CASE("the generator state round-trips", "[checkpoint]") {
  torch::manual_seed(42);
  (void)torch::rand({3});
  torch::serialize::OutputArchive archive;
  byol::checkpoint::write_rng(archive, "rng");
  const auto next = torch::rand({5});
  (void)torch::rand({11});
  std::stringstream stream;
  archive.save_to(stream);
  torch::serialize::InputArchive in;
  in.load_from(stream);
  byol::checkpoint::read_rng(in, "rng");
  REQUIRE(torch::equal(torch::rand({5}), next));
}

TEST_CASE("bad checkpoints give errors that name the file or key", "[checkpoint]") {
  using byol_test::require_error;
  const std::string dir = temp_dir();
  require_error([&] { byol::checkpoint::load(dir + "/missing.pt"); }, {"missing.pt"});
  { std::ofstream junk(dir + "/junk.pt"); junk << "not a checkpoint"; }
  require_error([&] { byol::checkpoint::load(dir + "/junk.pt"); }, {"junk.pt"});
  torch::serialize::OutputArchive archive;
  byol::checkpoint::write_int(archive, "step", 3);
  byol::checkpoint::save_atomically(archive, dir + "/small.pt");
  auto in = byol::checkpoint::load(dir + "/small.pt");
  require_error([&] { byol::checkpoint::read_int(in, "epoch"); }, {"epoch"});
  torch::nn::Linear linear(2, 2);
  require_error([&] { byol::checkpoint::read(in, "model", *linear); }, {"model"});
}

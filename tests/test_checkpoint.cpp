// Checkpoints: a run interrupted, saved, rebuilt from scratch and resumed follows the same
// trajectory bit for bit; saves are atomic; bad files give errors that name them.
#include <byol/checkpoint.hpp>
#include <byol/learner.hpp>
#include <byol/optim/lars.hpp>
#include <byol/schedule.hpp>

#include "support.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <sys/stat.h>
#include <unistd.h>

namespace {

std::string temp_dir() {
  char pattern[] = "/tmp/byol_checkpoint_XXXXXX";
  const char* dir = ::mkdtemp(pattern);
  REQUIRE(dir != nullptr);
  return dir;
}

// The names in `dir`, sorted.
std::vector<std::string> folder_entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
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
    model.update_target(byol::schedule::target_tau(step, kTotal, 0.9));
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
    // Only the checkpoint and, from the second save on, the previous one are left.
    REQUIRE(folder_entries(dir) == (value == 1 ? std::vector<std::string>{"ckpt.pt"}
                                               : std::vector<std::string>{"ckpt.pt", "ckpt.pt.prev"}));
  }
  // A save that fails part-way (here: the final rename, a non-empty folder is in the way of a
  // second target) throws and removes its temporary; the other files are untouched.
  const std::string blocked = dir + "/blocked.pt";
  REQUIRE(::mkdir(blocked.c_str(), 0700) == 0);
  { std::ofstream inside(blocked + "/x"); inside << "x"; }
  torch::serialize::OutputArchive failing;
  byol::checkpoint::write_int(failing, "value", 3);
  byol_test::require_error([&] { byol::checkpoint::save_atomically(failing, blocked); }, {"blocked.pt"});
  REQUIRE(folder_entries(dir) == std::vector<std::string>{"blocked.pt", "ckpt.pt", "ckpt.pt.prev"});
  auto in = byol::checkpoint::load(path);
  REQUIRE(byol::checkpoint::read_int(in, "value") == 2);
}

TEST_CASE("save_atomically never writes through a symlink at the old fixed temporary name", "[checkpoint]") {
  const std::string dir = temp_dir();
  const std::string path = dir + "/ckpt.pt";
  const std::string victim = dir + "/victim.txt";
  { std::ofstream out(victim); out << "keep me"; }
  REQUIRE(::symlink(victim.c_str(), (path + ".tmp").c_str()) == 0);
  torch::serialize::OutputArchive archive;
  byol::checkpoint::write_int(archive, "value", 5);
  byol::checkpoint::save_atomically(archive, path);
  std::ifstream in(victim);
  std::string text;
  std::getline(in, text);
  REQUIRE(text == "keep me");
  auto loaded = byol::checkpoint::load(path);
  REQUIRE(byol::checkpoint::read_int(loaded, "value") == 5);
}

TEST_CASE("save_atomically from several threads to one path: every save succeeds", "[checkpoint]") {
  const std::string dir = temp_dir();
  const std::string path = dir + "/shared.pt";
  constexpr int kThreads = 4;
  constexpr int kSaves = 10;
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int k = 0; k < kSaves; ++k) {
          torch::serialize::OutputArchive archive;
          byol::checkpoint::write_int(archive, "value", t * 100 + k);
          byol::checkpoint::save_atomically(archive, path);
        }
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(t)] = e.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors) {
    INFO(error);
    REQUIRE(error.empty());
  }
  auto in = byol::checkpoint::load(path);
  const int64_t value = byol::checkpoint::read_int(in, "value");
  REQUIRE(value % 100 == kSaves - 1);  // some thread's last save won
  REQUIRE(folder_entries(dir) == std::vector<std::string>{"shared.pt", "shared.pt.prev"});
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

TEST_CASE("FNV-1a-64 matches the published test vectors", "[checkpoint]") {
  // From the FNV reference (Fowler, Noll, Vo; draft-eastlake-fnv), not from this code.
  REQUIRE(byol::checkpoint::fnv1a64("", 0) == 0xcbf29ce484222325ull);
  REQUIRE(byol::checkpoint::fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull);
  REQUIRE(byol::checkpoint::fnv1a64("foobar", 6) == 0x85944171f73967e8ull);
}

TEST_CASE("the file is the 32-byte header, then the archive; the checksum covers both", "[checkpoint]") {
  const std::string dir = temp_dir();
  torch::serialize::OutputArchive archive;
  byol::checkpoint::write_int(archive, "step", 11);
  std::ostringstream bare;
  archive.save_to(bare);
  byol::checkpoint::save_atomically(archive, dir + "/c.pt");
  std::ifstream in(dir + "/c.pt", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() == 32 + bare.str().size());
  REQUIRE(bytes.compare(0, 8, "BYOLCKPT") == 0);
  auto le = [&](size_t at, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
    return v;
  };
  REQUIRE(le(8, 4) == 1);
  REQUIRE(le(16, 8) == bare.str().size());
  REQUIRE(bytes.substr(32) == bare.str());
  // FNV-1a-64 written out here, byte by byte, over the first 24 bytes and the archive.
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i >= 24 && i < 32) continue;
    h = (h ^ static_cast<unsigned char>(bytes[i])) * 0x100000001b3ull;
  }
  REQUIRE(le(24, 8) == h);
}

TEST_CASE("a checkpoint of the old format (a bare LibTorch archive) still loads", "[checkpoint]") {
  const std::string dir = temp_dir();
  torch::serialize::OutputArchive archive;
  byol::checkpoint::write_int(archive, "step", 17);
  archive.save_to(dir + "/old.pt");
  auto in = byol::checkpoint::load(dir + "/old.pt");
  REQUIRE(byol::checkpoint::read_int(in, "step") == 17);
}

TEST_CASE("corrupted checkpoints are refused cleanly: seeded bit flips and truncations", "[checkpoint]") {
  const std::string dir = temp_dir();
  const std::string good = dir + "/good.pt";
  torch::manual_seed(3);
  Run run;
  run.train_step();
  run.save(good);
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 1000);
  std::mt19937_64 rng(20200613);
  constexpr int kFlips = 200;
  constexpr int kCuts = 100;
  int refused = 0;
  const std::string bad = dir + "/damaged.pt";
  for (int k = 0; k < kFlips + kCuts; ++k) {
    std::string damaged = bytes;
    if (k < kFlips) {
      const size_t at = static_cast<size_t>(rng() % bytes.size());
      damaged[at] = static_cast<char>(damaged[at] ^ (1 << (rng() % 8)));
    } else {
      damaged.resize(static_cast<size_t>(rng() % bytes.size()));
    }
    { std::ofstream out(bad, std::ios::binary | std::ios::trunc); out << damaged; }
    try {
      Run victim;
      victim.load(bad);
    } catch (const c10::Error& e) {
      const std::string message = e.what_without_backtrace();
      if (message.find("damaged.pt") != std::string::npos) ++refused;
      else INFO("case " << k << ": " << message);
    }
  }
  std::cout << "checkpoint corruption: refused cleanly: " << refused << " of " << kFlips + kCuts << "\n";
  REQUIRE(refused == kFlips + kCuts);
}

TEST_CASE("load_latest falls back to the previous checkpoint when the newest is damaged", "[checkpoint]") {
  const std::string dir = temp_dir();
  const std::string path = dir + "/run.pt";
  for (const int64_t step : {1, 2}) {
    torch::serialize::OutputArchive archive;
    byol::checkpoint::write_int(archive, "step", step);
    byol::checkpoint::save_atomically(archive, path);
  }
  {
    auto latest = byol::checkpoint::load_latest(path);
    REQUIRE(latest.path == path);
    REQUIRE_FALSE(latest.fell_back);
    REQUIRE(byol::checkpoint::read_int(latest.archive, "step") == 2);
  }
  {  // cut the newest short, as a full disk or a dying machine would
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    bytes.resize(bytes.size() / 2);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  auto latest = byol::checkpoint::load_latest(path);
  REQUIRE(latest.fell_back);
  REQUIRE(latest.path == path + ".prev");
  REQUIRE(latest.reason.find("run.pt") != std::string::npos);
  REQUIRE(byol::checkpoint::read_int(latest.archive, "step") == 1);
  // A damaged newest does not replace the good previous one at the next save.
  torch::serialize::OutputArchive archive;
  byol::checkpoint::write_int(archive, "step", 3);
  byol::checkpoint::save_atomically(archive, path);
  auto prev = byol::checkpoint::load(path + ".prev");
  REQUIRE(byol::checkpoint::read_int(prev, "step") == 1);
  // Both gone: the error names both files.
  std::remove(path.c_str());
  std::remove((path + ".prev").c_str());
  byol_test::require_error([&] { byol::checkpoint::load_latest(path); }, {"run.pt", "run.pt.prev"});
}

// Run by tests/full_disk.sh (CTest: unit.checkpoint_full_disk), which mounts a 1 MiB tmpfs at
// BYOL_FULL_DISK_DIR; hidden, since it needs that folder.
TEST_CASE("a save on a full disk fails naming the file, keeps the checkpoints, leaves no temporary",
          "[.][full_disk]") {
  const char* root = std::getenv("BYOL_FULL_DISK_DIR");
  INFO("run through tests/full_disk.sh, which sets BYOL_FULL_DISK_DIR");
  REQUIRE(root != nullptr);
  const std::string dir = root;
  REQUIRE(folder_entries(dir).empty());
  const std::string path = dir + "/ckpt.pt";
  auto save = [&](int64_t step, int64_t floats) {
    torch::serialize::OutputArchive archive;
    byol::checkpoint::write_int(archive, "step", step);
    archive.write("payload", torch::full({floats}, static_cast<double>(step)));
    byol::checkpoint::save_atomically(archive, path);
  };
  auto require_step = [](const std::string& file, int64_t step) {
    auto in = byol::checkpoint::load(file);
    REQUIRE(byol::checkpoint::read_int(in, "step") == step);
    torch::Tensor payload;
    in.read("payload", payload);
    REQUIRE(payload.eq(static_cast<double>(step)).all().item<bool>());
  };
  save(1, 16 << 10);  // 64 KiB of floats each: both fit
  save(2, 16 << 10);
  // 4 MiB of floats do not fit in 1 MiB.
  byol_test::require_error([&] { save(3, 1 << 20); }, {path, "No space left on device"});
  REQUIRE(folder_entries(dir) == std::vector<std::string>{"ckpt.pt", "ckpt.pt.prev"});
  require_step(path, 2);
  require_step(path + ".prev", 1);
  // The temporary's space was given back with it: a small save fits again.
  save(4, 16 << 10);
  require_step(path, 4);
  require_step(path + ".prev", 2);
  REQUIRE(folder_entries(dir) == std::vector<std::string>{"ckpt.pt", "ckpt.pt.prev"});
}

TEST_CASE("read_int / read_double of a key of another type name the key", "[checkpoint]") {
  torch::serialize::OutputArchive archive;
  byol::checkpoint::write_double(archive, "lr", 0.5);
  byol::checkpoint::write_int(archive, "step", 4);
  archive.write("flag", c10::IValue(true));
  std::stringstream stream;
  archive.save_to(stream);
  torch::serialize::InputArchive in;
  in.load_from(stream);
  byol_test::require_error([&] { byol::checkpoint::read_int(in, "lr"); }, {"'lr'", "not an integer"});
  byol_test::require_error([&] { byol::checkpoint::read_double(in, "flag"); }, {"'flag'", "not a number"});
  REQUIRE(byol::checkpoint::read_double(in, "step") == 4.0);
  REQUIRE(byol::checkpoint::read_double(in, "lr") == 0.5);
}

TEST_CASE("reading a module of another shape names the first mismatch instead of loading it", "[checkpoint]") {
  torch::nn::Sequential saved(torch::nn::Linear(4, 8), torch::nn::BatchNorm1d(8));
  torch::serialize::OutputArchive archive;
  byol::checkpoint::write(archive, "model", *saved);
  std::stringstream stream;
  archive.save_to(stream);
  torch::serialize::InputArchive in;
  in.load_from(stream);
  torch::nn::Sequential wider(torch::nn::Linear(4, 16), torch::nn::BatchNorm1d(16));
  const auto before = wider->parameters()[0].clone();
  byol_test::require_error([&] { byol::checkpoint::read(in, "model", *wider); },
                           {"'0.weight'", "[8, 4]", "[16, 4]", "model"});
  REQUIRE(wider->parameters()[0].sizes() == torch::IntArrayRef({16, 4}));
  REQUIRE(torch::equal(wider->parameters()[0], before));
  torch::nn::Sequential same(torch::nn::Linear(4, 8), torch::nn::BatchNorm1d(8));
  byol::checkpoint::read(in, "model", *same);
  REQUIRE(torch::equal(same->parameters()[0], saved->parameters()[0]));
}

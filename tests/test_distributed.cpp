// Data-parallel training: the process group from the environment, SyncBatchNorm against
// LibTorch's BatchNorm, the converter, and DataParallel. The [distributed] cases that need two
// processes start this binary twice (the hidden case "distributed worker", as ranks 0 and 1,
// Gloo over loopback) and compare what the ranks end with against one process that trains on
// the whole batch with plain BatchNorm, computed here.
#include <byol/distributed.hpp>
#include <byol/heads.hpp>
#include <byol/learner.hpp>
#include <byol/optim/lars.hpp>
#include <byol/schedule.hpp>
#include <byol/train_state.hpp>

#include "support.hpp"

#include <torch/cuda.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

// Catch2 v2's Contains matcher is v3's ContainsSubstring: a plain check works with both.
#define CHECK_CONTAINS(text, part)                     \
  do {                                                 \
    const std::string checked_text_ = (text);          \
    INFO("message: " << checked_text_);                \
    CHECK(checked_text_.find(part) != std::string::npos); \
  } while (false)

namespace {

namespace dist = byol::distributed;

using Vars = std::map<std::string, std::optional<std::string>>;

// Sets (or, with nullopt, unsets) environment variables for one scope.
class ScopedEnv {
 public:
  explicit ScopedEnv(const Vars& values) {
    for (const auto& [name, value] : values) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old != nullptr ? std::optional<std::string>(old) : std::nullopt;
      set(name, value);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      set(name, value);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  static void set(const std::string& name, const std::optional<std::string>& value) {
    if (value) {
      ::setenv(name.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

const std::map<std::string, std::optional<std::string>> kNoTorchrun{
    {"RANK", std::nullopt},        {"WORLD_SIZE", std::nullopt},
    {"LOCAL_RANK", std::nullopt},  {"MASTER_ADDR", std::nullopt},
    {"MASTER_PORT", std::nullopt}, {"TORCHELASTIC_USE_AGENT_STORE", std::nullopt},
    {"GLOO_SOCKET_IFNAME", std::nullopt}};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

// A TCP port on loopback that nothing listens on (bound, read, closed).
int unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// The store that torchrun's agent would host: a server on a free loopback port (port 0 lets the
// kernel pick, so parallel CTest entries cannot collide). Every rank is its client.
c10::intrusive_ptr<c10d::TCPStore> agent_store(int world_size) {
  c10d::TCPStoreOptions options;
  options.port = 0;
  options.isServer = true;
  options.numWorkers = static_cast<std::size_t>(world_size);
  options.waitWorkers = false;
  options.timeout = std::chrono::seconds(30);
  byol::detail::tcp_store_classic_backend(options);
  return c10::make_intrusive<c10d::TCPStore>("127.0.0.1", options);
}

// ---- the model both runs train ----------------------------------------------------------------

constexpr int64_t kSteps = 3;        // optimizer steps
constexpr int64_t kMicro = 2;        // micro-batches per step (the first under no_sync)
constexpr int64_t kRows[2] = {3, 5};  // rows per micro-batch on rank 0 and rank 1: unequal
constexpr int64_t kGlobalRows = kRows[0] + kRows[1];
constexpr double kLr = 0.1;
constexpr double kMomentum = 0.9;

// Conv -> BatchNorm2d (inside a Sequential) -> ReLU -> Linear -> MLPHead (a typed BatchNorm1d
// member), in float64.
torch::nn::Sequential make_model(uint64_t seed) {
  torch::manual_seed(seed);
  torch::nn::Sequential model(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 4, 3).padding(1)), torch::nn::BatchNorm2d(4), torch::nn::ReLU(),
      torch::nn::Flatten(), torch::nn::Linear(4 * 4 * 4, 8),
      byol::nn::MLPHead(byol::nn::MLPHeadOptions(8).hidden_dim(6).out_dim(3)));
  model->to(torch::kDouble);
  return model;
}

// Micro-batch (step, micro) of the global batch: inputs [8, 2, 4, 4] and targets [8, 3].
std::pair<torch::Tensor, torch::Tensor> global_batch(int64_t step, int64_t micro) {
  auto generator = at::detail::createCPUGenerator(static_cast<uint64_t>(1000 + step * kMicro + micro));
  auto options = torch::dtype(torch::kDouble);
  auto x = at::randn({kGlobalRows, 2, 4, 4}, generator, options) * 2.0 + 0.5;
  auto t = at::randn({kGlobalRows, 3}, generator, options);
  return {x, t};
}

// The squared error summed over the rows given, times world_size / kGlobalRows: DataParallel's
// average over the ranks then gives the gradient of the global batch's mean squared error, which
// is what one process computes with world_size 1, whatever the per-rank row counts.
torch::Tensor loss_of(torch::nn::Sequential& model, const torch::Tensor& x, const torch::Tensor& t,
                      int64_t world_size) {
  auto out = model->forward(x);
  return (out - t).pow(2).sum() * (static_cast<double>(world_size) / static_cast<double>(kGlobalRows));
}

// Parameters then buffers, on the CPU, buffers in float64.
std::vector<torch::Tensor> state_of(torch::nn::Sequential& model) {
  std::vector<torch::Tensor> out;
  for (const auto& p : model->named_parameters()) {
    out.push_back(p.value().detach().to(torch::kCPU).clone());
  }
  for (const auto& b : model->named_buffers()) {
    out.push_back(b.value().detach().to(torch::kCPU).clone().to(torch::kDouble));
  }
  return out;
}

std::vector<std::string> state_names(torch::nn::Sequential& model) {
  std::vector<std::string> out;
  for (const auto& p : model->named_parameters()) {
    out.push_back(p.key());
  }
  for (const auto& b : model->named_buffers()) {
    out.push_back(b.key());
  }
  return out;
}

// The single process: the whole batch, plain BatchNorm, same optimizer and steps.
std::vector<torch::Tensor> train_single() {
  auto model = make_model(7);
  torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(kLr).momentum(kMomentum));
  for (int64_t step = 0; step < kSteps; ++step) {
    sgd.zero_grad();
    for (int64_t micro = 0; micro < kMicro; ++micro) {
      auto [x, t] = global_batch(step, micro);
      loss_of(model, x, t, 1).backward();
    }
    sgd.step();
  }
  return state_of(model);
}

// What one rank ends with, and how DataParallel went.
struct RankRun {
  std::vector<torch::Tensor> state;  // state_of the model
  int64_t converted = 0;             // BatchNorms that convert_sync_batchnorm replaced
  int64_t buckets = 0;
  int64_t started_in_backward = 0;   // buckets started from the hooks, summed over the steps
};

// One rank's run on `device`: its rows of every micro-batch (all of them in a group of one);
// SyncBatchNorm unless `plain`.
RankRun run_rank(const dist::ProcessGroup& group, bool plain, const torch::Device& device = torch::kCPU) {
  const int64_t rank = group.rank();
  // Each rank starts from other weights: DataParallel must broadcast rank 0's (seed 7's).
  auto model = make_model(7 + static_cast<uint64_t>(rank));
  model->to(device);
  RankRun run;
  if (!plain) {
    run.converted = dist::convert_sync_batchnorm(*model, group);
  }
  // Small buckets: several of them, started from the hooks during backward.
  dist::DataParallel ddp(*model, group, dist::DataParallelOptions().bucket_bytes(512));
  torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(kLr).momentum(kMomentum));
  const int64_t begin = rank == 0 ? 0 : kRows[0];
  const int64_t rows = group.world_size() == 1 ? kGlobalRows : kRows[rank];
  for (int64_t step = 0; step < kSteps; ++step) {
    sgd.zero_grad();
    for (int64_t micro = 0; micro < kMicro; ++micro) {
      auto [x, t] = global_batch(step, micro);
      x = x.narrow(0, begin, rows).to(device);
      t = t.narrow(0, begin, rows).to(device);
      if (micro + 1 < kMicro) {
        auto guard = ddp.no_sync();
        loss_of(model, x, t, group.world_size()).backward();
      } else {
        loss_of(model, x, t, group.world_size()).backward();
        run.started_in_backward += ddp.buckets_started_in_backward();
      }
    }
    sgd.step();
  }
  run.state = state_of(model);
  run.buckets = ddp.bucket_count();
  return run;
}

// A worker rank's run, written to `dir` for the parent to compare.
void train_rank(const dist::ProcessGroup& group, bool plain, const std::string& dir) {
  const auto run = run_rank(group, plain);
  const auto rank = std::to_string(group.rank());
  torch::save(run.state, dir + "/rank" + rank + ".pt");
  std::ofstream(dir + "/rank" + rank + ".txt")
      << run.converted << " " << run.buckets << " " << run.started_in_backward << "\n";
}

// Starts this binary as `rank` of 2 running the hidden worker case; returns its pid.
// `agent`: torchrun's agent-store layout (the test serves the store on `port`); otherwise rank 0
// serves it there, as under scripts/launch.sh. `extra`: more NAME=value entries.
pid_t spawn_rank(int rank, int port, const std::string& mode, const std::string& dir, bool agent = true,
                 const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    if (kNoTorchrun.count(name) == 0 && name.rfind("BYOL_DIST_", 0) != 0 && name != "TORCHELASTIC_RESTART_COUNT") {
      env.push_back(entry);
    }
  }
  for (const auto& extra : {"RANK=" + std::to_string(rank), "LOCAL_RANK=" + std::to_string(rank),
                            std::string("WORLD_SIZE=2"), std::string("MASTER_ADDR=127.0.0.1"),
                            "MASTER_PORT=" + std::to_string(port), std::string("TORCHELASTIC_RESTART_COUNT=0"),
                            std::string("OMP_NUM_THREADS=1"), "BYOL_DIST_MODE=" + mode, "BYOL_DIST_DIR=" + dir}) {
    env.push_back(extra);
  }
  if (agent) {
    env.emplace_back("TORCHELASTIC_USE_AGENT_STORE=True");
  }
  for (const auto& extra : extra_env) {
    env.push_back(extra);
  }
  std::vector<char*> envp;
  for (auto& e : env) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  std::string name = "distributed worker";
  std::vector<char*> argv{exe.data(), name.data(), nullptr};
  pid_t pid = 0;
  REQUIRE(::posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), envp.data()) == 0);
  return pid;
}

// Waits for the ranks; kills them all after `limit` (a hang is a failure, never a stuck CTest).
std::vector<int> wait_ranks(const std::vector<pid_t>& pids, std::chrono::seconds limit) {
  std::vector<int> status(pids.size(), -1);
  std::vector<bool> done(pids.size(), false);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::size_t left = pids.size();
  while (left > 0 && std::chrono::steady_clock::now() < deadline) {
    for (std::size_t i = 0; i < pids.size(); ++i) {
      int s = 0;
      if (!done[i] && ::waitpid(pids[i], &s, WNOHANG) == pids[i]) {
        done[i] = true;
        status[i] = WIFEXITED(s) ? WEXITSTATUS(s) : 128 + WTERMSIG(s);
        --left;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (std::size_t i = 0; i < pids.size(); ++i) {
    if (!done[i]) {
      ::kill(pids[i], SIGKILL);
      ::waitpid(pids[i], nullptr, 0);
    }
  }
  return status;
}

std::string fresh_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "byol-dist-XXXXXX").string();
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

std::vector<torch::Tensor> run_two_ranks(const std::string& mode, const std::string& dir, std::vector<int64_t>* stats0,
                                         std::vector<torch::Tensor>* other) {
  auto store = agent_store(2);
  const int port = store->getPort();
  const std::vector<pid_t> pids{spawn_rank(0, port, mode, dir), spawn_rank(1, port, mode, dir)};
  const auto status = wait_ranks(pids, std::chrono::seconds(120));
  INFO("mode " << mode << ": exit status of rank 0 " << status[0] << ", rank 1 " << status[1]);
  REQUIRE(status[0] == 0);
  REQUIRE(status[1] == 0);
  std::vector<torch::Tensor> rank0, rank1;
  torch::load(rank0, dir + "/rank0.pt");
  torch::load(rank1, dir + "/rank1.pt");
  if (stats0 != nullptr) {
    std::ifstream in(dir + "/rank0.txt");
    int64_t v = 0;
    while (in >> v) {
      stats0->push_back(v);
    }
  }
  *other = rank1;
  return rank0;
}

}  // namespace

namespace {

// ---- a BYOL run that stops and resumes ---------------------------------------------------------

constexpr int64_t kByolSteps = 4;  // the uninterrupted run
constexpr int64_t kByolStop = 2;   // where the interrupted one stops

// Conv -> BatchNorm2d -> ReLU -> Linear as the encoder: five BatchNorms after conversion.
byol::BYOL<torch::nn::Sequential> make_learner(uint64_t seed) {
  torch::manual_seed(seed);
  torch::nn::Sequential encoder(torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 4, 3).padding(1)),
                                torch::nn::BatchNorm2d(4), torch::nn::ReLU(), torch::nn::Flatten(),
                                torch::nn::Linear(4 * 4 * 4, 8));
  return byol::BYOL<torch::nn::Sequential>(
      encoder, byol::BYOLOptions(8).hidden_dim(16).projection_dim(4).predictor_hidden_dim(16));
}

// Rank `rank`'s rows of step `step`'s two views: a generator of the step's own, so that any
// process reproduces them.
std::pair<torch::Tensor, torch::Tensor> views_of(int64_t step, int64_t rank) {
  auto generator = at::detail::createCPUGenerator(static_cast<uint64_t>(5000 + step));
  auto v1 = at::randn({kGlobalRows, 2, 4, 4}, generator, torch::dtype(torch::kFloat));
  auto v2 = at::randn({kGlobalRows, 2, 4, 4}, generator, torch::dtype(torch::kFloat));
  const int64_t begin = rank == 0 ? 0 : kRows[0];
  return {v1.narrow(0, begin, kRows[rank]), v2.narrow(0, begin, kRows[rank])};
}

std::vector<torch::Tensor> module_state(torch::nn::Module& module) {
  std::vector<torch::Tensor> out;
  for (const auto& p : module.named_parameters()) {
    out.push_back(p.value().detach().clone());
  }
  for (const auto& b : module.named_buffers()) {
    out.push_back(b.value().detach().clone());
  }
  return out;
}

// phase "full": steps [0, 4); "first": [0, 2), then a checkpoint from rank 0; "second": loads it
// and runs [2, 4). SyncBatchNorm, DataParallel, LARS with a warm-up cosine schedule, the target's
// tau schedule, all in the TrainState.
void train_byol_rank(const dist::ProcessGroup& group, const std::string& dir, const std::string& phase) {
  const int64_t rank = group.rank();
  auto learner = make_learner(21 + static_cast<uint64_t>(rank));  // DataParallel broadcasts rank 0's
  dist::convert_sync_batchnorm(learner, group);
  byol::optim::LARS lars(learner.online_parameters(), byol::optim::LARSOptions(0.2).weight_decay(1.5e-6));
  byol::schedule::WarmupCosineLR lr(lars, 1, kByolSteps);
  byol::schedule::TargetTau tau(0.9, kByolSteps);
  int64_t step = 0;
  byol::TrainState state;
  state.module("learner", learner).optimizer("lars", lars).schedule("lr", lr).schedule("tau", tau).counter("step", step);
  const std::string checkpoint = dir + "/checkpoint.pt";
  if (phase == "second") {
    state.load(checkpoint);  // every rank reads rank 0's file
  }
  dist::DataParallel ddp(learner, group, dist::DataParallelOptions().bucket_bytes(1024));
  const int64_t end = phase == "first" ? kByolStop : kByolSteps;
  for (; step < end; ++step) {
    lars.zero_grad();
    auto [v1, v2] = views_of(step, rank);
    learner.loss(v1, v2).backward();
    lars.step();
    lr.step();
    learner.update_target(tau.step());
  }
  if (phase == "first") {
    dist::save_on_main(group, state, checkpoint);
    return;
  }
  torch::save(module_state(learner), dir + "/rank" + std::to_string(rank) + ".pt");
}

// ---- all_gather_rows, run_on_main, save_on_main -------------------------------------------------

// Rows [8, 5] (float), labels [8] (int64) and [2, 3] (double) that the ranks split.
std::vector<torch::Tensor> global_rows() {
  auto generator = at::detail::createCPUGenerator(77);
  return {at::randn({kGlobalRows, 5}, generator, torch::dtype(torch::kFloat)),
          at::randint(0, 10, {kGlobalRows}, generator, torch::dtype(torch::kLong)),
          at::randn({2, 3}, generator, torch::dtype(torch::kDouble))};
}

// A checkpoint-like object: save() writes who wrote it, slowly (so that a rank that did not
// wait for it would find the file missing or empty).
struct SlowWriter {
  int64_t rank;
  void save(const std::string& path) const {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::ofstream(path) << "written by rank " << rank << "\n";
  }
};

void gather_rank(const dist::ProcessGroup& group, const std::string& dir) {
  const int64_t rank = group.rank();
  const auto all = global_rows();
  const int64_t begin = rank == 0 ? 0 : kRows[0];
  std::vector<torch::Tensor> gathered{
      dist::all_gather_rows(all[0].narrow(0, begin, kRows[rank]), group),
      dist::all_gather_rows(all[1].narrow(0, begin, kRows[rank]), group),
      // rank 1 has no rows at all
      dist::all_gather_rows(rank == 0 ? all[2] : all[2].narrow(0, 2, 0), group)};
  torch::save(gathered, dir + "/rank" + std::to_string(rank) + ".pt");
  std::ofstream report(dir + "/rank" + std::to_string(rank) + ".txt");
  // Another dimension than the first differs: every rank fails, naming the shapes.
  report << "mismatch: "
         << error_of([&] { dist::all_gather_rows(torch::zeros({2, 3 + rank}), group); }) << "\n";
  // The others wait for rank 0's write.
  const std::string marker = dir + "/marker.txt";
  dist::save_on_main(group, SlowWriter{rank}, marker);
  std::ifstream written(marker);
  std::string line;
  std::getline(written, line);
  report << "after save_on_main: " << line << "\n";
  // A write that fails on rank 0 fails on every rank, with rank 0's message.
  byol::TrainState state;
  int64_t counter = 3;
  state.counter("step", counter);
  report << "failed save: " << error_of([&] { dist::save_on_main(group, state, dir + "/missing/ckpt.pt"); })
         << "\n";
  report << "main: " << dist::is_main_process(group) << "\n";
}

// ---- a rank that dies or throws mid-run --------------------------------------------------------

// SyncBatchNorm + DataParallel steps; the failing rank (BYOL_DIST_FAIL_RANK) dies or throws at
// step 2; the other one's error (or the thrower's own) goes to rank<r>.err.
void failing_rank(const dist::ProcessGroup& group, const std::string& dir, const std::string& how) {
  const int64_t rank = group.rank();
  const char* fail_text = std::getenv("BYOL_DIST_FAIL_RANK");
  const int64_t fail_rank = fail_text != nullptr ? std::atoll(fail_text) : 1;
  std::string message = "no error";
  try {
    dist::run_or_abort(group, [&] {
      auto model = make_model(7);
      dist::convert_sync_batchnorm(*model, group);
      dist::DataParallel ddp(*model, group);
      torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(kLr));
      for (int64_t step = 0; step < 1000; ++step) {
        if (rank == fail_rank && step == 2) {
          if (how == "die") {
            ::raise(SIGKILL);
          }
          throw std::runtime_error("rank " + std::to_string(rank) + " gives up at step 2");
        }
        sgd.zero_grad();
        auto [x, t] = global_batch(step, 0);
        const int64_t begin = rank == 0 ? 0 : kRows[0];
        loss_of(model, x.narrow(0, begin, kRows[rank]), t.narrow(0, begin, kRows[rank]), group.world_size())
            .backward();
        sgd.step();
      }
    });
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
  } catch (const std::exception& e) {
    message = e.what();
  }
  std::ofstream(dir + "/rank" + std::to_string(rank) + ".err") << message;
}

}  // namespace

// The worker that the two-process cases (and tests/launch_check.sh) start; it does nothing when
// run by hand. BYOL_DIST_MODE says what it does.
TEST_CASE("distributed worker", "[.][distributed_worker]") {
  const char* mode_text = std::getenv("BYOL_DIST_MODE");
  const char* dir_text = std::getenv("BYOL_DIST_DIR");
  if (mode_text == nullptr || dir_text == nullptr) {
    return;
  }
  const std::string mode(mode_text);
  const std::string dir(dir_text);
  const char* timeout_text = std::getenv("BYOL_DIST_TIMEOUT_S");
  const auto timeout = std::chrono::seconds(timeout_text != nullptr ? std::atoll(timeout_text) : 30);
  torch::set_num_threads(1);
  auto group = dist::init_process_group(dist::ProcessGroupOptions().timeout(timeout));
  REQUIRE(group.world_size() == 2);
  REQUIRE(group.backend() == "gloo");
  if (mode == "sync" || mode == "plain") {
    train_rank(group, mode == "plain", dir);
  } else if (mode.rfind("byol_", 0) == 0) {
    train_byol_rank(group, dir, mode.substr(5));
  } else if (mode == "gather") {
    gather_rank(group, dir);
  } else if (mode == "die" || mode == "throw") {
    failing_rank(group, dir, mode);
    return;  // no barrier: the group is down
  } else if (mode == "hello") {  // tests/launch_check.sh: the launcher's variables reach the group
    auto t = torch::full({1}, static_cast<double>(group.rank() + 1), torch::kDouble);
    group.all_reduce_sum_(t);
    std::cout << "hello from rank " << group.rank() << " of " << group.world_size() << ", local rank "
              << group.local_rank() << ", sum " << t.item<double>() << std::endl;
  } else if (mode == "exit3") {  // tests/launch_check.sh: rank 1 fails, rank 0 would wait for long
    if (group.rank() == 1) {
      // Once rank 0 has said where it is (so the script can check that it was stopped).
      for (int i = 0; i < 3000 && !std::filesystem::exists(dir + "/rank0.pid"); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      std::_Exit(3);
    }
    // Busy elsewhere (not in a collective, which would notice rank 1's exit by itself): only the
    // launcher can end it in time.
    {
      std::ofstream(dir + "/rank0.pid.tmp") << ::getpid() << "\n";
    }
    std::filesystem::rename(dir + "/rank0.pid.tmp", dir + "/rank0.pid");
    std::cout << "rank 0 sleeps" << std::endl;
    std::this_thread::sleep_for(std::chrono::minutes(10));
  } else {
    FAIL("unknown BYOL_DIST_MODE " << mode);
  }
  group.barrier();
}

TEST_CASE("no torchrun variables: a group of one process, collectives are no-ops", "[distributed]") {
  ScopedEnv env(kNoTorchrun);
  auto group = dist::init_process_group();
  CHECK(group.rank() == 0);
  CHECK(group.world_size() == 1);
  CHECK(group.backend() == "none");
  auto t = torch::arange(4, torch::kDouble);
  group.all_reduce_sum_(t);
  group.broadcast_(t, 0);
  group.barrier();
  CHECK(torch::equal(t, torch::arange(4, torch::kDouble)));

  auto model = make_model(3);
  dist::DataParallel ddp(*model, group);
  auto [x, target] = global_batch(0, 0);
  loss_of(model, x, target, 1).backward();
  std::vector<torch::Tensor> grads;
  for (auto& p : model->parameters()) {
    grads.push_back(p.grad().clone());
  }
  // Reference: the same model and batch without DataParallel.
  auto twin = make_model(3);
  loss_of(twin, x, target, 1).backward();
  const auto twin_params = twin->parameters();
  for (std::size_t i = 0; i < grads.size(); ++i) {
    CHECK(torch::equal(grads[i], twin_params[i].grad()));
  }
}

TEST_CASE("init_process_group names the missing or malformed variable and its value", "[distributed]") {
  ScopedEnv clean(kNoTorchrun);
  {
    ScopedEnv env(Vars{{"WORLD_SIZE", "2"}});
    CHECK_CONTAINS(error_of([] { dist::init_process_group(); }), "RANK is not set");
  }
  {
    ScopedEnv env(Vars{{"WORLD_SIZE", "2"}, {"RANK", "one"}});
    const auto message = error_of([] { dist::init_process_group(); });
    CHECK_CONTAINS(message, "RANK must be an integer, got 'one'");
  }
  {
    ScopedEnv env(Vars{{"WORLD_SIZE", "2"}, {"RANK", "2"}});
    CHECK_CONTAINS(error_of([] { dist::init_process_group(); }), "RANK must be in [0, 1], got 2");
  }
  {
    ScopedEnv env(Vars{{"WORLD_SIZE", "two"}, {"RANK", "0"}});
    CHECK_CONTAINS(error_of([] { dist::init_process_group(); }), "WORLD_SIZE must be an integer, got 'two'");
  }
  {
    ScopedEnv env(Vars{{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_PORT", "29500"}});
    CHECK_CONTAINS(error_of([] { dist::init_process_group(); }), "MASTER_ADDR is not set");
  }
  {
    ScopedEnv env(Vars{{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "70000"}});
    CHECK_CONTAINS(error_of([] { dist::init_process_group(); }), "MASTER_PORT must be in [1, 65535], got 70000");
  }
  {
    ScopedEnv env(Vars{{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"},
                   {"LOCAL_RANK", "-1"}});
    CHECK_CONTAINS(error_of([] { dist::init_process_group(); }), "LOCAL_RANK must be in [0, ");
  }
  {
    ScopedEnv env(Vars{{"WORLD_SIZE", "1"}, {"RANK", "0"}});  // one process: no store needed
    CHECK(dist::init_process_group().world_size() == 1);
  }
}

TEST_CASE("a rank that never arrives: a clear error within the timeout, never a hang", "[distributed]") {
  ScopedEnv clean(kNoTorchrun);
  const auto timeout = std::chrono::seconds(1);
  // Start-up may spend the timeout more than once (store, then Gloo's connection): a bound of a
  // few timeouts still tells a clear failure from a hang.
  const auto limit = 3 * timeout + std::chrono::seconds(3);
  const auto options = dist::ProcessGroupOptions().timeout(timeout);
  SECTION("rank 1 alone: rank 0's store never comes up") {
    ScopedEnv env(Vars{{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "127.0.0.1"},
                   {"MASTER_PORT", std::to_string(unused_port())}});
    const auto start = std::chrono::steady_clock::now();
    const auto message = error_of([&] { dist::init_process_group(options); });
    const auto waited = std::chrono::steady_clock::now() - start;
    INFO(message);
    CHECK_CONTAINS(message, "rank 1 of 2 could not reach the store at MASTER_ADDR=127.0.0.1");
    CHECK(waited < limit);
  }
  SECTION("rank 0 alone: its store waits for the other rank") {
    ScopedEnv env(Vars{{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "127.0.0.1"},
                   {"MASTER_PORT", std::to_string(unused_port())}});
    const auto start = std::chrono::steady_clock::now();
    const auto message = error_of([&] { dist::init_process_group(options); });
    const auto waited = std::chrono::steady_clock::now() - start;
    INFO(message);
    // LibTorch 1.13's store does not wait for its clients; then Gloo's connection times out.
    CHECK_CONTAINS(message, "byol::distributed: rank 0 of 2 could not");
    CHECK_CONTAINS(message, "within 1000 ms");
    CHECK(waited < limit);
  }
  SECTION("rank 0 alone at torchrun's agent store: Gloo waits for rank 1") {
    auto store = agent_store(2);
    ScopedEnv env(Vars{{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "127.0.0.1"},
                   {"MASTER_PORT", std::to_string(store->getPort())}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}});
    const auto start = std::chrono::steady_clock::now();
    const auto message = error_of([&] { dist::init_process_group(options); });
    const auto waited = std::chrono::steady_clock::now() - start;
    INFO(message);
    CHECK_CONTAINS(message, "rank 0 of 2 could not connect to the other ranks within 1000 ms");
    CHECK(waited < limit);
  }
}

TEST_CASE("SyncBatchNorm in one process is BatchNorm: output, gradients, running statistics", "[distributed]") {
  const dist::ProcessGroup single;
  for (const int dim : {1, 2}) {
    for (const bool track : {true, false}) {
      DYNAMIC_SECTION("dim " << dim << ", track_running_stats " << track) {
        const auto options = torch::nn::BatchNormOptions(5).momentum(0.3).eps(1e-3).track_running_stats(track);
        std::shared_ptr<torch::nn::Module> plain;
        if (dim == 1) {
          plain = torch::nn::BatchNorm1d(options).ptr();
        } else {
          plain = torch::nn::BatchNorm2d(options).ptr();
        }
        plain->to(torch::kDouble);
        auto sync = std::make_shared<dist::SyncBatchNormImpl>(options, dim, single);
        sync->to(torch::kDouble);
        {
          torch::NoGradGuard no_grad;
          auto w = torch::randn({5}, torch::kDouble);
          auto b = torch::randn({5}, torch::kDouble);
          for (auto& m : std::vector<std::shared_ptr<torch::nn::Module>>{plain, sync}) {
            m->named_parameters()["weight"].copy_(w);
            m->named_parameters()["bias"].copy_(b);
          }
        }
        auto run = [&](torch::nn::Module& m, const torch::Tensor& x) -> torch::Tensor {
          if (auto* s = m.as<dist::SyncBatchNorm>()) {
            return s->forward(x);
          }
          if (auto* p1 = m.as<torch::nn::BatchNorm1d>()) {
            return p1->forward(x);
          }
          return m.as<torch::nn::BatchNorm2d>()->forward(x);
        };
        for (int step = 0; step < 3; ++step) {
          auto shape = dim == 1 ? std::vector<int64_t>{7, 5, 3} : std::vector<int64_t>{4, 5, 3, 2};
          if (dim == 1 && step == 1) {
            shape = {9, 5};
          }
          auto x = (torch::randn(shape, torch::kDouble) * 3 + 1).requires_grad_();
          auto xs = x.detach().clone().requires_grad_();
          auto weights = torch::randn(shape, torch::kDouble);
          auto yp = run(*plain, x);
          auto ys = run(*sync, xs);
          CHECK(torch::allclose(ys, yp, 1e-12, 1e-12));
          (yp * weights).sum().backward();
          (ys * weights).sum().backward();
          CHECK(torch::allclose(xs.grad(), x.grad(), 1e-12, 1e-12));
          CHECK(torch::allclose(sync->weight.grad(), plain->named_parameters()["weight"].grad(), 1e-12, 1e-12));
          CHECK(torch::allclose(sync->bias.grad(), plain->named_parameters()["bias"].grad(), 1e-12, 1e-12));
          if (track) {
            CHECK(torch::allclose(sync->running_mean, plain->named_buffers()["running_mean"], 1e-12, 1e-12));
            CHECK(torch::allclose(sync->running_var, plain->named_buffers()["running_var"], 1e-12, 1e-12));
            CHECK(sync->num_batches_tracked.item<int64_t>() == step + 1);
          }
        }
        plain->eval();
        sync->eval();
        auto x = torch::randn(dim == 1 ? std::vector<int64_t>{3, 5} : std::vector<int64_t>{2, 5, 2, 2}, torch::kDouble);
        CHECK(torch::allclose(run(*sync, x), run(*plain, x), 1e-12, 1e-12));
      }
    }
  }
  auto bn = dist::SyncBatchNorm(torch::nn::BatchNormOptions(3), 2);
  CHECK_CONTAINS(error_of([&] { bn(torch::randn({2, 3})); }), "expected 4D input (dim 2), got 2D");
  CHECK_CONTAINS(error_of([&] { bn(torch::randn({1, 3, 1, 1})); }), "expected more than 1 value per channel");
}

TEST_CASE("convert_sync_batchnorm reaches Sequential contents, typed members and the target", "[distributed]") {
  auto model = make_model(5);
  auto reference = make_model(5);
  const auto names = state_names(model);
  CHECK(dist::convert_sync_batchnorm(*model, dist::ProcessGroup()) == 2);
  CHECK(model[1]->as<dist::SyncBatchNorm>() != nullptr);  // what the Sequential calls
  CHECK(model->named_modules()["5.bn"]->as<dist::SyncBatchNorm>() != nullptr);
  CHECK(state_names(model) == names);  // checkpoints keep their keys
  // The typed member still reads the shared tensors.
  auto* head = model[5]->as<byol::nn::MLPHead>();
  CHECK(head->bn->running_mean.is_same(model->named_buffers()["5.bn.running_mean"]));
  // A forward pass goes through the replacements: equal outputs and running statistics.
  auto [x, t] = global_batch(0, 0);
  CHECK(torch::allclose(model->forward(x), reference->forward(x), 1e-12, 1e-12));
  const auto after = state_of(model);
  const auto expected = state_of(reference);
  for (std::size_t i = 0; i < after.size(); ++i) {
    CHECK(torch::allclose(after[i], expected[i], 1e-12, 1e-12));
  }
  // A converted Sequential clones into SyncBatchNorm.
  torch::nn::Sequential plain(torch::nn::Linear(3, 4), torch::nn::BatchNorm1d(4));
  CHECK(dist::convert_sync_batchnorm(*plain, dist::ProcessGroup()) == 1);
  auto copy = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(plain->clone());
  REQUIRE(copy != nullptr);
  CHECK(copy->named_modules()["1"]->as<dist::SyncBatchNorm>() != nullptr);
  CHECK(copy->forward(torch::randn({5, 3})).sizes() == std::vector<int64_t>{5, 4});
}

TEST_CASE("convert_sync_batchnorm on a BYOL learner: encoder, projector, predictor and the target", "[distributed]") {
  auto make = [] {
    torch::manual_seed(11);
    torch::nn::Sequential encoder(torch::nn::Linear(6, 8), torch::nn::BatchNorm1d(8), torch::nn::ReLU());
    return byol::BYOL<torch::nn::Sequential>(
        encoder, byol::BYOLOptions(8).hidden_dim(16).projection_dim(4).predictor_hidden_dim(16));
  };
  auto learner = make();
  auto reference = make();
  std::vector<std::string> keys;
  for (const auto& p : learner.named_parameters()) {
    keys.push_back(p.key());
  }
  // online encoder and projector, predictor, target encoder and projector
  CHECK(dist::convert_sync_batchnorm(learner, dist::ProcessGroup()) == 5);
  int64_t sync_modules = 0;
  for (const auto& m : learner.modules(/*include_self=*/false)) {
    sync_modules += m->as<dist::SyncBatchNorm>() != nullptr ? 1 : 0;
  }
  CHECK(sync_modules == 5);
  std::vector<std::string> after;
  for (const auto& p : learner.named_parameters()) {
    after.push_back(p.key());
  }
  CHECK(after == keys);
  torch::optim::SGD sgd(learner.online_parameters(), torch::optim::SGDOptions(0.1));
  torch::optim::SGD sgd_reference(reference.online_parameters(), torch::optim::SGDOptions(0.1));
  for (int step = 0; step < 2; ++step) {
    auto v1 = torch::randn({5, 6});
    auto v2 = torch::randn({5, 6});
    auto loss = learner.loss(v1, v2);
    auto expected = reference.loss(v1, v2);
    CHECK(loss.item<double>() == Approx(expected.item<double>()).epsilon(1e-5));
    loss.backward();
    expected.backward();
    sgd.step();
    sgd_reference.step();
    learner.update_target(0.9);  // EmaTarget's check: the converted modules hold the same tensors
    reference.update_target(0.9);
  }
  const auto ours = learner.named_buffers();
  const auto theirs = reference.named_buffers();
  for (const auto& b : theirs) {
    CHECK(torch::allclose(ours[b.key()], b.value(), 1e-5, 1e-6));
  }
}

// Two processes of kRows = {3, 5} rows each with SyncBatchNorm and DataParallel against one
// process with the 8 rows and plain BatchNorm, after kSteps = 3 SGD steps of kMicro = 2
// micro-batches (the first accumulated under no_sync).
//
// Tolerance, from the arithmetic. Both runs compute the same float64 function; they differ only
// in the order of the floating-point sums (per-rank partial sums added by the allreduce, the
// statistics summed in another order, gradients accumulated per rank then averaged). A sum of n
// terms in another order differs by at most 2 (n - 1) u sum|terms| (u = 2^-53 = 1.1e-16); the
// longest sums here have n <= 8 rows x 16 pixels = 128 terms, so each BN statistic, gradient
// entry and loss term differs by <= 256 u = 2.8e-14 relative to the sum of the magnitudes of its
// terms. With inputs ~ N(0.5, 2^2), O(1) weights and a loss of O(10), those magnitudes are
// <= 1e3 (the BN backward divides by std ~ 1), so each gradient differs by <= 3e-11; an SGD step
// moves a parameter by lr = 0.1 times the momentum buffer, which sums at most 1 + 0.9 + 0.81 of
// them (< 3): <= 1e-11 per step, and over 3 steps, even if each step amplified the earlier
// differences by 1 + lr L with a Lipschitz constant L of the gradient up to 100 (factor 11^3),
// <= 1.3e-8. So: |two-process - one-process| <= 1e-8 + 1e-8 |one-process|. A real error (say,
// per-rank BN statistics, the negative control below) moves parameters by more than 1e-4.
TEST_CASE("two processes with SyncBatchNorm end where one process with the whole batch does", "[distributed]") {
  const double tolerance = 1e-8;
  const auto expected = train_single();
  const auto dir = fresh_dir();
  std::vector<int64_t> stats;
  std::vector<torch::Tensor> rank1;
  const auto rank0 = run_two_ranks("sync", dir, &stats, &rank1);
  REQUIRE(rank0.size() == expected.size());
  REQUIRE(rank1.size() == expected.size());
  REQUIRE(stats.size() == 3);
  CHECK(stats[0] == 2);             // both BatchNorms converted
  CHECK(stats[1] > 1);              // several buckets of 512 bytes
  CHECK(stats[2] >= 1);             // of which some started during backward
  auto named = make_model(7);
  const auto names = state_names(named);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO(names[i] << ": max difference " << (rank0[i] - expected[i]).abs().max().item<double>());
    CHECK(torch::allclose(rank0[i], expected[i], tolerance, tolerance));
    // The ranks hold the same bits: allreduce and broadcast give every rank one result.
    CHECK(torch::equal(rank0[i], rank1[i]));
  }
  std::filesystem::remove_all(dir);

  SECTION("negative control: plain BatchNorm per rank does not match") {
    const auto plain_dir = fresh_dir();
    std::vector<torch::Tensor> plain1;
    const auto plain0 = run_two_ranks("plain", plain_dir, nullptr, &plain1);
    double largest = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      largest = std::max(largest, (plain0[i] - expected[i]).abs().max().item<double>());
    }
    CHECK(largest > 1e-4);
    std::filesystem::remove_all(plain_dir);
  }
}

namespace {

// A group of one rank made through a store has its backend, as PyTorch's does: the collectives of
// SyncBatchNorm and DataParallel really run (through Gloo here, NCCL in the CUDA case below), and
// the run ends where one process with plain BatchNorm does, within the tolerance derived above.

void check_one_rank_run(const dist::ProcessGroup& group, const torch::Device& device) {
  REQUIRE(group.world_size() == 1);
  REQUIRE(group.connected());
  const double tolerance = 1e-8;
  const auto expected = train_single();
  const auto run = run_rank(group, false, device);
  REQUIRE(run.state.size() == expected.size());
  CHECK(run.converted == 2);
  CHECK(run.buckets > 1);
  CHECK(run.started_in_backward >= 1);
  auto named = make_model(7);
  const auto names = state_names(named);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO(names[i] << ": max difference " << (run.state[i] - expected[i]).abs().max().item<double>());
    CHECK(torch::allclose(run.state[i], expected[i], tolerance, tolerance));
  }
}

}  // namespace

TEST_CASE("one rank with a store: its collectives run through Gloo and end where plain BatchNorm does",
          "[distributed]") {
  ScopedEnv clean(kNoTorchrun);
  SECTION("make_process_group with a store") {
    auto store = agent_store(1);
    auto group = dist::make_process_group(store, 0, 1, dist::ProcessGroupOptions().timeout(std::chrono::seconds(30)),
                                          -1, "127.0.0.1");
    CHECK(group.backend() == "gloo");
    check_one_rank_run(group, torch::kCPU);
    // The collectives go through the backend: once it is aborted, they fail and say why.
    group.abort("stopped by the test");
    auto t = torch::ones({2}, torch::kDouble);
    CHECK_CONTAINS(error_of([&] { group.all_reduce_sum_(t); }), "stopped by the test");
  }
  SECTION("init_process_group with WORLD_SIZE=1 and MASTER_ADDR, as torchrun --nproc_per_node=1 sets them") {
    ScopedEnv env(Vars{{"WORLD_SIZE", "1"}, {"RANK", "0"}, {"MASTER_ADDR", "127.0.0.1"},
                       {"MASTER_PORT", std::to_string(unused_port())}});
    auto group = dist::init_process_group(dist::ProcessGroupOptions().timeout(std::chrono::seconds(30)));
    CHECK(group.connected());
    CHECK(group.backend() == "gloo");
    auto t = torch::arange(4, torch::kDouble);
    group.all_reduce_sum_(t);  // the sum over one rank
    CHECK(torch::equal(t, torch::arange(4, torch::kDouble)));
    CHECK(torch::equal(dist::all_gather_rows(t.view({2, 2}), group), t.view({2, 2})));
  }
  SECTION("WORLD_SIZE=1 with a backend that was not compiled in: the single process, with a warning") {
    ScopedEnv env(Vars{{"WORLD_SIZE", "1"}, {"RANK", "0"}, {"MASTER_ADDR", "127.0.0.1"},
                       {"MASTER_PORT", std::to_string(unused_port())}});
#ifndef BYOL_DISTRIBUTED_NCCL
    auto group = dist::init_process_group(dist::ProcessGroupOptions().backend("nccl"));
    CHECK_FALSE(group.connected());
    CHECK(group.backend() == "none");
    CHECK(group.world_size() == 1);
#endif
    // A backend that does not exist is still an error, whatever the world size.
    CHECK_CONTAINS(error_of([] { dist::init_process_group(dist::ProcessGroupOptions().backend("mpi")); }),
                   "backend must be 'gloo' or 'nccl', got 'mpi'");
  }
}

// Issue 10, item 5: the NCCL path with one process (one GPU) runs the first two-process check at
// world size 1. scripts/gpu-check.sh runs it (step 3, the [cuda] cases).
TEST_CASE("CUDA: NCCL with one rank: SyncBatchNorm and DataParallel on the GPU end where plain BatchNorm does",
          "[distributed][cuda]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: CUDA case not run");
    return;
  }
#ifndef BYOL_DISTRIBUTED_NCCL
  FAIL("a CUDA device is present, but byol/distributed.hpp was compiled without NCCL (USE_C10D_NCCL undefined "
       "or <nccl.h> not found; see the byol: lines of CMake's output)");
#else
  ScopedEnv clean(kNoTorchrun);
  auto store = agent_store(1);
  auto group = dist::make_process_group(
      store, 0, 1, dist::ProcessGroupOptions().backend("nccl").timeout(std::chrono::seconds(60)));
  CHECK(group.backend() == "nccl");
  check_one_rank_run(group, torch::Device(torch::kCUDA, 0));
#endif
}

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Starts ranks 0 and 1 in `mode` and returns their exit statuses (-1: killed after 120 s).
std::vector<int> run_pair(const std::string& mode, const std::string& dir, bool agent = true,
                          const std::vector<std::string>& extra_env = {}) {
  auto store = agent ? agent_store(2) : c10::intrusive_ptr<c10d::TCPStore>();
  const int port = agent ? store->getPort() : unused_port();
  const std::vector<pid_t> pids{spawn_rank(0, port, mode, dir, agent, extra_env),
                                spawn_rank(1, port, mode, dir, agent, extra_env)};
  return wait_ranks(pids, std::chrono::seconds(120));
}

}  // namespace

TEST_CASE("one process: all_gather_rows, run_on_main and save_on_main do the work in place", "[distributed]") {
  const dist::ProcessGroup single;
  CHECK(dist::is_main_process(single));
  auto rows = torch::randn({3, 2});
  CHECK(dist::all_gather_rows(rows, single).is_same(rows));
  CHECK_CONTAINS(error_of([&] { dist::all_gather_rows(torch::tensor(1.0), single); }),
                 "all_gather_rows: rows must have a row dimension, got 0-D tensor");
  int calls = 0;
  dist::run_on_main(single, [&] { ++calls; });
  CHECK(calls == 1);
  CHECK_CONTAINS(error_of([&] { dist::run_on_main(single, [] { TORCH_CHECK(false, "disk full"); }); }), "disk full");
  const auto dir = fresh_dir();
  int64_t step = 5;
  byol::TrainState state;
  state.counter("step", step);
  dist::save_on_main(single, state, dir + "/ckpt.pt");
  step = 0;
  state.load(dir + "/ckpt.pt");
  CHECK(step == 5);
  std::filesystem::remove_all(dir);
}

// Rank 0 has 3 rows, rank 1 has 5 (and, for the double rows, 2 and 0): every rank must end with
// the 8 rows of the single process in rank order, bit for bit (a gather moves bytes, it adds
// nothing), so k-NN and linear evaluation over them compute what one process computes.
TEST_CASE("two processes: all_gather_rows, save_on_main and errors on rank 0 reach every rank", "[distributed]") {
  const auto dir = fresh_dir();
  const auto status = run_pair("gather", dir);
  INFO("exit status of rank 0 " << status[0] << ", rank 1 " << status[1]);
  REQUIRE(status[0] == 0);
  REQUIRE(status[1] == 0);
  const auto expected = global_rows();
  for (int rank = 0; rank < 2; ++rank) {
    INFO("rank " << rank);
    std::vector<torch::Tensor> gathered;
    torch::load(gathered, dir + "/rank" + std::to_string(rank) + ".pt");
    REQUIRE(gathered.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      CHECK(gathered[i].scalar_type() == expected[i].scalar_type());
      CHECK(torch::equal(gathered[i], expected[i]));
    }
    const auto report = read_text(dir + "/rank" + std::to_string(rank) + ".txt");
    INFO(report);
    CHECK_CONTAINS(report, "mismatch: all_gather_rows: the ranks' rows differ in dtype or in a dimension other than "
                           "the first (rank 0: Float [2, 3], rank 1: Float [2, 4])");
    CHECK_CONTAINS(report, "after save_on_main: written by rank 0\n");
    CHECK_CONTAINS(report, "failed save: byol::distributed: rank 0 failed to write the checkpoint " + dir +
                               "/missing/ckpt.pt: ");
    CHECK_CONTAINS(report, std::string("main: ") + (rank == 0 ? "1" : "0"));
  }
  std::filesystem::remove_all(dir);
}

// Expected: the uninterrupted run of the same program. Both runs execute the same floating-point
// operations on the same bits in the same order (a checkpoint stores every tensor exactly, the
// views come from per-step generators, one thread per process, and a 2-rank allreduce gives both
// ranks the same sum whatever else happens), so the comparison is bitwise.
TEST_CASE("a two-process BYOL run stopped and resumed ends where an uninterrupted one does", "[distributed]") {
  const auto full = fresh_dir();
  const auto resumed = fresh_dir();
  auto status = run_pair("byol_full", full);
  REQUIRE(status == std::vector<int>{0, 0});
  status = run_pair("byol_first", resumed);
  REQUIRE(status == std::vector<int>{0, 0});
  REQUIRE(std::filesystem::exists(resumed + "/checkpoint.pt"));
  REQUIRE(!std::filesystem::exists(resumed + "/rank0.pt"));
  status = run_pair("byol_second", resumed);
  REQUIRE(status == std::vector<int>{0, 0});

  auto initial = make_learner(21);
  const auto start = module_state(initial);
  std::vector<std::string> names;
  for (const auto& p : initial.named_parameters()) {
    names.push_back(p.key());
  }
  for (const auto& b : initial.named_buffers()) {
    names.push_back(b.key());
  }
  std::vector<torch::Tensor> full0, full1, resumed0, resumed1;
  torch::load(full0, full + "/rank0.pt");
  torch::load(full1, full + "/rank1.pt");
  torch::load(resumed0, resumed + "/rank0.pt");
  torch::load(resumed1, resumed + "/rank1.pt");
  REQUIRE(full0.size() == start.size());
  REQUIRE(resumed0.size() == start.size());
  int64_t moved = 0;
  for (std::size_t i = 0; i < start.size(); ++i) {
    INFO(names[i] << ": max difference " << (resumed0[i].to(torch::kDouble) - full0[i].to(torch::kDouble)).abs().max());
    CHECK(torch::equal(resumed0[i], full0[i]));
    CHECK(torch::equal(resumed1[i], full1[i]));
    CHECK(torch::equal(full0[i], full1[i]));
    moved += torch::equal(full0[i], start[i]) ? 0 : 1;
  }
  // The run trained: the online network, the target (EMA) and the running statistics changed.
  CHECK(moved > static_cast<int64_t>(start.size()) / 2);
  std::filesystem::remove_all(full);
  std::filesystem::remove_all(resumed);
}

TEST_CASE("a rank that dies or throws mid-run: the other fails with a clear error, never hangs", "[distributed]") {
  // A 20 s collective timeout, 120 s before the test kills the ranks: exit status 0 with a message
  // in rank<r>.err means the surviving rank failed by itself rather than hanging.
  const std::vector<std::string> timeout{"BYOL_DIST_TIMEOUT_S=20"};
  SECTION("rank 1 is killed (SIGKILL) at step 2") {
    const auto dir = fresh_dir();
    const auto status = run_pair("die", dir, true, timeout);
    CHECK(status[1] == 128 + SIGKILL);
    REQUIRE(status[0] == 0);
    const auto message = read_text(dir + "/rank0.err");
    CHECK_CONTAINS(message, "on rank 0 of 2 failed (a rank that died, never arrived or ran another collective");
    std::filesystem::remove_all(dir);
  }
  SECTION("rank 1 throws at step 2: rank 0's error carries its message") {
    const auto dir = fresh_dir();
    const auto status = run_pair("throw", dir, true, timeout);
    REQUIRE(status == std::vector<int>{0, 0});
    CHECK(read_text(dir + "/rank1.err") == "rank 1 gives up at step 2");
    CHECK_CONTAINS(read_text(dir + "/rank0.err"), "on rank 0 of 2 failed because rank 1: rank 1 gives up at step 2");
    std::filesystem::remove_all(dir);
  }
  SECTION("rank 0 throws while it hosts the store (no torchrun agent): rank 1 still gets the message") {
    const auto dir = fresh_dir();
    auto env = timeout;
    env.emplace_back("BYOL_DIST_FAIL_RANK=0");
    const auto status = run_pair("throw", dir, false, env);
    REQUIRE(status == std::vector<int>{0, 0});
    CHECK(read_text(dir + "/rank0.err") == "rank 0 gives up at step 2");
    CHECK_CONTAINS(read_text(dir + "/rank1.err"), "on rank 1 of 2 failed because rank 0: rank 0 gives up at step 2");
    std::filesystem::remove_all(dir);
  }
}

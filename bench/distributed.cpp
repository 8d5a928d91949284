// byol_bench_distributed: data-parallel costs, 2 processes, Gloo over loopback.
//
//   BM_GradAllreduce/bucketed    ResNet-50's gradients (159 tensors, 23.5M floats) averaged by
//                                DataParallel: 25 MiB flat buckets, one allreduce each
//   BM_GradAllreduce/per_tensor  the same gradients, one allreduce per tensor, each waited for (the
//                                way it is usually written by hand)
//   BM_GradAllreduce/one_buffer  one allreduce of one buffer of the same bytes: the floor
//   BM_Step/single               a BYOL step (SmallCNN, 28 x 28 views, LARS, EMA) in one process
//                                with the per-process batch (rank 1 idles meanwhile)
//   BM_Step/distributed          the same step in both processes: SyncBatchNorm and DataParallel
//
// Started without WORLD_SIZE, it starts itself once more as rank 1 (the same arguments, its output
// dropped) and runs as rank 0; under scripts/launch.sh -n 2 it joins the group it is given. Both
// ranks run every benchmark with fixed iteration counts, so they issue the same collectives.
// At the end rank 0 prints the ratios bucketed / per_tensor, bucketed / one_buffer and
// distributed / single (medians over --benchmark_repetitions). --byol_quick runs one iteration
// of each, the step at batch 16 (the CTest smoke entry).
#include <byol/byol.hpp>
#include <byol/distributed.hpp>
#include <byol/models.hpp>

#include "shapes.hpp"

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <map>
#include <string>
#include <vector>

extern char** environ;

namespace {

namespace dist = byol::distributed;

dist::ProcessGroup& group() {
  static dist::ProcessGroup g;
  return g;
}
bool quick = false;
std::map<std::string, std::vector<double>> seconds_per_iteration;  // rank 0's, per repetition, by name

int64_t iterations(int64_t full) { return quick ? 1 : full; }

// Times the loop by hand as well, for the ratios printed at the end.
template <typename Step>
void timed_loop(benchmark::State& state, const std::string& name, Step&& step) {
  group().barrier();
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    step();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  seconds_per_iteration[name].push_back(seconds / static_cast<double>(state.iterations()));
  group().barrier();
}

// A module whose parameters have ResNet-50's shapes, each with a gradient.
struct Gradients : torch::nn::Module {
  Gradients() {
    int i = 0;
    for (const auto& shape : byol_bench::resnet50_encoder_shapes()) {
      auto p = register_parameter("p" + std::to_string(i++), torch::randn(shape));
      p.mutable_grad() = torch::randn(shape);
    }
  }
  int64_t bytes() {
    int64_t total = 0;
    for (const auto& p : parameters()) {
      total += p.numel() * static_cast<int64_t>(p.element_size());
    }
    return total;
  }
};

void BM_GradAllreduceBucketed(benchmark::State& state) {
  Gradients module;
  dist::DataParallel ddp(module, group());  // 25 MiB buckets
  timed_loop(state, "bucketed", [&] { ddp.synchronize(); });  // pack, allreduce, average, unpack
  state.SetBytesProcessed(state.iterations() * module.bytes());
  state.counters["buckets"] = static_cast<double>(ddp.bucket_count());
}

void BM_GradAllreducePerTensor(benchmark::State& state) {
  Gradients module;
  const double scale = 1.0 / static_cast<double>(group().world_size());
  timed_loop(state, "per_tensor", [&] {
    for (auto& p : module.parameters()) {
      group().all_reduce_sum_(p.mutable_grad());
      p.mutable_grad().mul_(scale);
    }
  });
  state.SetBytesProcessed(state.iterations() * module.bytes());
}

void BM_GradAllreduceOneBuffer(benchmark::State& state) {
  Gradients module;
  auto flat = torch::randn({module.bytes() / 4});
  timed_loop(state, "one_buffer", [&] { group().all_reduce_sum_(flat); });
  state.SetBytesProcessed(state.iterations() * module.bytes());
}

void run_step(benchmark::State& state, bool distributed, const std::string& name) {
  const int64_t batch = state.range(0);
  torch::manual_seed(1);
  byol::models::SmallCNN encoder;
  byol::BYOL<byol::models::SmallCNN> model(encoder, byol::BYOLOptions(encoder->feature_dim()));
  std::unique_ptr<dist::DataParallel> ddp;
  if (distributed) {
    dist::convert_sync_batchnorm(model, group());
    ddp = std::make_unique<dist::DataParallel>(model, group());
  }
  byol::optim::LARS lars(model.online_parameters(), byol::optim::LARSOptions(0.1).weight_decay(1.5e-6));
  const int64_t channels = encoder->parameters()[0].size(1);
  auto v1 = torch::rand({batch, channels, 28, 28});
  auto v2 = torch::rand({batch, channels, 28, 28});
  const bool active = distributed || group().rank() == 0;
  auto step = [&] {
    if (!active) {
      return;  // rank 1 idles while rank 0 times the single-process step
    }
    model.loss(v1, v2).backward();
    lars.step();
    for (auto& p : model.online_parameters()) {
      p.mutable_grad().reset();
    }
    model.update_target(0.996);
  };
  step();  // warm-up
  timed_loop(state, name, step);
  state.SetItemsProcessed(state.iterations() * batch);
}

void BM_StepSingle(benchmark::State& state) { run_step(state, false, "single"); }
void BM_StepDistributed(benchmark::State& state) { run_step(state, true, "distributed"); }

void register_benchmarks() {
  benchmark::RegisterBenchmark("BM_GradAllreduce/bucketed", BM_GradAllreduceBucketed)
      ->Iterations(iterations(10))->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("BM_GradAllreduce/per_tensor", BM_GradAllreducePerTensor)
      ->Iterations(iterations(10))->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("BM_GradAllreduce/one_buffer", BM_GradAllreduceOneBuffer)
      ->Iterations(iterations(10))->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("BM_Step/single", BM_StepSingle)
      ->Arg(quick ? 16 : 128)->Iterations(iterations(20))->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("BM_Step/distributed", BM_StepDistributed)
      ->Arg(quick ? 16 : 128)->Iterations(iterations(20))->Unit(benchmark::kMillisecond)->UseRealTime();
}

// Rank 1 reports nothing.
class SilentReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("byol_bench_distributed: no free port");
    std::exit(1);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// This program again, as rank 1 of 2, its output to /dev/null.
pid_t spawn_rank1(int argc, char** argv, int port) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    env.emplace_back(*e);
  }
  for (const auto& extra : {std::string("RANK=1"), std::string("LOCAL_RANK=1"), std::string("WORLD_SIZE=2"),
                            std::string("MASTER_ADDR=127.0.0.1"), "MASTER_PORT=" + std::to_string(port)}) {
    env.push_back(extra);
  }
  std::vector<char*> envp;
  for (auto& e : env) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::string exe = "/proc/self/exe";
  std::vector<char*> args{exe.data()};
  for (int i = 1; i < argc; ++i) {
    args.push_back(argv[i]);
  }
  args.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawn(&pid, exe.c_str(), &actions, nullptr, args.data(), envp.data()) != 0) {
    std::perror("byol_bench_distributed: cannot start rank 1");
    std::exit(1);
  }
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> kept;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--byol_quick") == 0) {
      quick = true;
    } else {
      kept.push_back(argv[i]);
    }
  }
  pid_t child = -1;
  if (std::getenv("WORLD_SIZE") == nullptr) {
    const int port = free_port();
    child = spawn_rank1(argc, argv, port);
    ::setenv("RANK", "0", 1);
    ::setenv("LOCAL_RANK", "0", 1);
    ::setenv("WORLD_SIZE", "2", 1);
    ::setenv("MASTER_ADDR", "127.0.0.1", 1);
    ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  }
  const char* omp = std::getenv("OMP_NUM_THREADS");
  at::set_num_threads(omp != nullptr && std::atoi(omp) > 0 ? std::atoi(omp) : 1);
  group() = dist::init_process_group(dist::ProcessGroupOptions().timeout(std::chrono::minutes(5)));
  const bool main_process = dist::is_main_process(group());
  benchmark::AddCustomContext("processes", std::to_string(group().world_size()) + " (Gloo over loopback)");
  benchmark::AddCustomContext("torch_threads_per_process", std::to_string(at::get_num_threads()));
  if (!main_process) {
    // Rank 1 reports nothing, to the console or to a --benchmark_out file (rank 0 writes that).
    kept.erase(std::remove_if(kept.begin() + 1, kept.end(),
                              [](const char* a) { return std::strncmp(a, "--benchmark_out", 15) == 0; }),
               kept.end());
  }
  int kept_argc = static_cast<int>(kept.size());
  benchmark::Initialize(&kept_argc, kept.data());
  if (benchmark::ReportUnrecognizedArguments(kept_argc, kept.data())) {
    return 1;
  }
  register_benchmarks();
  if (main_process) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    SilentReporter silent;
    benchmark::RunSpecifiedBenchmarks(&silent);
  }
  benchmark::Shutdown();
  if (main_process) {
    const auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    const auto ratio = [&](const char* a, const char* b) {
      const auto x = seconds_per_iteration.find(a);
      const auto y = seconds_per_iteration.find(b);
      if (x == seconds_per_iteration.end() || y == seconds_per_iteration.end()) {
        return;
      }
      const double tx = median(x->second);
      const double ty = median(y->second);
      std::cout << std::left << std::setw(28) << (std::string(a) + " / " + b) << std::fixed << std::setprecision(3)
                << tx / ty << "  (" << tx * 1e3 << " ms / " << ty * 1e3 << " ms)\n";
    };
    std::cout << "\nratios of the median times per iteration (over repetitions; rank 0's clock):\n";
    ratio("bucketed", "per_tensor");
    ratio("bucketed", "one_buffer");
    ratio("distributed", "single");
  }
  group().barrier();
  if (child > 0) {
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::cerr << "byol_bench_distributed: rank 1 failed (status " << status << ")\n";
      return 1;
    }
  }
  return 0;
}

#pragma once

/// Data-parallel training on LibTorch's c10d: a process group, gradient averaging and
/// SyncBatchNorm. N processes each run the same model on their own part of the global batch.
///
///   process group   from torchrun's variables RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
///                   MASTER_PORT (a TCPStore; Gloo for CPU tensors, NCCL where LibTorch has it);
///                   no variables at all = one process, every collective a no-op
///   DataParallel    parameters and buffers broadcast from rank 0 at construction; after each
///                   backward every gradient is g <- (1/N) sum_r g_r, reduced in buckets of
///                   bucket_bytes as flat buffers (one allreduce per bucket), each bucket started
///                   from the gradient hooks as soon as its gradients are computed
///   SyncBatchNorm   training-mode BatchNorm over the global batch of all ranks:
///                     mean = (sum_r sum_i x) / (sum_r n_r),  var = (sum_r sum_i x^2) / n - mean^2
///                   (one allreduce of [sum x, sum x^2, n] per call, in float64; per-rank batch
///                   sizes may differ); backward allreduces [sum dy, sum dy (x - mean)] as
///                   PyTorch's SyncBatchNorm does; running statistics as BatchNorm keeps them,
///                   with the unbiased global variance
///
///     auto group = byol::distributed::init_process_group();      // reads torchrun's variables
///     byol::distributed::convert_sync_batchnorm(*model, group);  // every BatchNorm1d/2d
///     byol::distributed::DataParallel ddp(*model, group);        // broadcast from rank 0
///     loss.backward(); optimizer.step();                         // gradients already averaged
///
/// Gloo needs its headers (Debian: libgloo-dev), which c10d's ProcessGroupGloo.hpp includes;
/// without them (or with BYOL_NO_GLOO defined) only world size 1 without a backend works. The
/// NCCL backend is compiled only when USE_C10D_NCCL is defined (a CUDA build of LibTorch that has
/// it) and <nccl.h> is found (BYOL_NO_NCCL leaves it out).

#include <byol/detail/compat.hpp>
#include <byol/detail/norm_dispatch.hpp>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/arg.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#include <torch/nn/cloneable.h>
#include <torch/nn/functional/batchnorm.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/options/batchnorm.h>
#include <torch/nn/pimpl.h>

#if !defined(BYOL_NO_GLOO) && defined(__has_include)
#if __has_include(<gloo/config.h>)
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#define BYOL_DISTRIBUTED_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#endif
// NCCL: where LibTorch was built with it (its CUDA targets define USE_C10D_NCCL) and <nccl.h> is
// on the include path (a pip wheel keeps it in site-packages/nvidia/nccl/include; byol's CMake adds
// that folder when it finds it).
#if defined(USE_C10D_NCCL) && !defined(BYOL_NO_NCCL) && defined(__has_include)
#if __has_include(<nccl.h>)
#define BYOL_DISTRIBUTED_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace byol::distributed {

/// How init_process_group builds its group.
struct ProcessGroupOptions {
  /// How long a collective, or the start-up (store and connections), may wait for the other
  /// ranks before it fails. Default 30 minutes (PyTorch's).
  TORCH_ARG(std::chrono::milliseconds, timeout) = std::chrono::minutes(30);
  /// "gloo" (CPU tensors; CUDA tensors are staged through the host) or "nccl" (CUDA tensors,
  /// only where compiled in). Default "gloo".
  TORCH_ARG(std::string, backend) = "gloo";
};

namespace detail {

// The collectives byol uses, over whichever c10d backend was built.
struct Collectives {
  virtual ~Collectives() = default;
  virtual c10::intrusive_ptr<c10d::Work> all_reduce_sum(std::vector<at::Tensor>& tensors) = 0;
  virtual c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& tensors, int root) = 0;
  virtual c10::intrusive_ptr<c10d::Work> barrier() = 0;
  // outputs[0][r] <- rank r's inputs[0]; every rank's input has the same shape and dtype.
  virtual c10::intrusive_ptr<c10d::Work> all_gather(std::vector<std::vector<at::Tensor>>& outputs,
                                                    std::vector<at::Tensor>& inputs) = 0;
};

// ProcessGroupGloo derives from c10d::ProcessGroup in LibTorch 1.x and from c10d::Backend in 2.x;
// the methods used here have the same names and arguments in both, so the concrete type is held.
template <typename Backend>
struct CollectivesOf final : Collectives {
  explicit CollectivesOf(c10::intrusive_ptr<Backend> backend) : backend_(std::move(backend)) {}
  c10::intrusive_ptr<c10d::Work> all_reduce_sum(std::vector<at::Tensor>& tensors) override {
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    return backend_->allreduce(tensors, options);
  }
  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& tensors, int root) override {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    return backend_->broadcast(tensors, options);
  }
  c10::intrusive_ptr<c10d::Work> barrier() override { return backend_->barrier(); }
  c10::intrusive_ptr<c10d::Work> all_gather(std::vector<std::vector<at::Tensor>>& outputs,
                                            std::vector<at::Tensor>& inputs) override {
    return backend_->allgather(outputs, inputs);
  }
  c10::intrusive_ptr<Backend> backend_;
};

// A process group's state. A CustomClassHolder, so that an autograd context can keep it.
struct GroupState : torch::CustomClassHolder {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};
  std::string backend_name = "none";         // "none" until a backend is built
  c10::intrusive_ptr<c10d::Store> store;
  std::unique_ptr<Collectives> collectives;  // null without a backend, or after abort
  bool serves_store = false;                 // this process hosts the TCPStore (rank 0, no agent)
  int64_t main_sequence = 0;                 // run_on_main calls so far (the same on every rank)
  std::string aborted;                       // why abort() brought the group down ("" if not)
};

// Store keys of the error protocol: the first failing rank's message, and each rank's receipt.
constexpr const char* kErrorKey = "byol/error";
inline std::string error_seen_key(int rank) { return "byol/error_seen/" + std::to_string(rank); }

inline std::string to_string(const std::vector<uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }

// The message another rank published with ProcessGroup::abort, or "" (none, or no store to ask).
// Acknowledges it, so that a rank hosting the store knows it may exit.
inline std::string published_error(const GroupState& group) {
  if (!group.store) {
    return "";
  }
  try {
    if (!group.store->check({kErrorKey})) {
      return "";
    }
    auto message = to_string(group.store->get(kErrorKey));
    group.store->set(error_seen_key(group.rank), std::vector<uint8_t>{1});
    return message;
  } catch (const std::exception&) {  // the store went down with its host: nothing to report
    return "";
  }
}

inline const char* getenv_or_null(const char* name) { return std::getenv(name); }

// An exception's message, without the backtrace that c10::Error appends.
inline std::string message_of(const std::exception& e) {
  if (const auto* error = dynamic_cast<const c10::Error*>(&e)) {
    return error->what_without_backtrace();
  }
  return e.what();
}

// The integer in environment variable `name`, which must lie in [low, high].
inline int64_t env_integer(const char* name, const char* text, int64_t low, int64_t high) {
  TORCH_CHECK(text != nullptr, "byol::distributed: environment variable ", name,
              " is not set (torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT)");
  const std::string value(text);
  std::size_t used = 0;
  int64_t parsed = 0;
  bool ok = !value.empty();
  if (ok) {
    try {
      parsed = std::stoll(value, &used, 10);
    } catch (const std::exception&) {
      ok = false;
    }
  }
  TORCH_CHECK(ok && used == value.size(), "byol::distributed: environment variable ", name,
              " must be an integer, got '", value, "'");
  TORCH_CHECK(parsed >= low && parsed <= high, "byol::distributed: environment variable ", name,
              " must be in [", low, ", ", high, "], got ", parsed);
  return parsed;
}

inline void wait_for(const c10::intrusive_ptr<c10d::Work>& work, const GroupState& group, const char* what) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    const auto peer = published_error(group);
    TORCH_CHECK(peer.empty(), "byol::distributed: ", what, " on rank ", group.rank, " of ", group.world_size,
                " failed because ", peer, " (", message_of(e), ")");
    TORCH_CHECK(false, "byol::distributed: ", what, " on rank ", group.rank, " of ", group.world_size,
                " failed (a rank that died, never arrived or ran another collective; timeout ",
                group.timeout.count(), " ms): ", message_of(e));
  }
}

// Whether `backend` ("gloo" or "nccl") was compiled into this unit.
inline bool backend_compiled(const std::string& backend) {
#ifdef BYOL_DISTRIBUTED_GLOO
  if (backend == "gloo") {
    return true;
  }
#endif
#ifdef BYOL_DISTRIBUTED_NCCL
  if (backend == "nccl") {
    return true;
  }
#endif
  (void)backend;
  return false;
}

// The group's collectives; an error after abort() (which dropped them) or in a single process.
inline Collectives& collectives_of(const GroupState& group) {
  TORCH_CHECK(group.collectives != nullptr, "byol::distributed: rank ", group.rank, " of ", group.world_size,
              " has no connections to the other ranks any more: the group was aborted (", group.aborted, ")");
  return *group.collectives;
}

}  // namespace detail

/// A group of processes that reduce tensors together: a handle, cheap to copy. The default one
/// is a single process (rank 0 of 1) without a backend, in which every collective is a no-op. A
/// group made through a store (make_process_group with one, or init_process_group with
/// MASTER_ADDR set) runs its collectives through its backend even at world size 1, as PyTorch's
/// does: `torchrun --nproc_per_node=1` exercises NCCL or Gloo.
class ProcessGroup {
 public:
  /// Rank 0 of 1: every collective returns its input unchanged.
  ProcessGroup() : state_(c10::make_intrusive<detail::GroupState>()) {}
  explicit ProcessGroup(c10::intrusive_ptr<detail::GroupState> state) : state_(std::move(state)) {}

  int64_t rank() const { return state_->rank; }
  int64_t world_size() const { return state_->world_size; }
  /// The rank within this machine (LOCAL_RANK; equal to rank() when LOCAL_RANK is not set).
  int64_t local_rank() const { return state_->local_rank; }
  /// "gloo", "nccl", or "none" for a single process without a backend.
  const std::string& backend() const { return state_->backend_name; }
  /// True when collectives go through a backend (false: they return their input unchanged).
  bool connected() const { return state_->backend_name != "none"; }
  std::chrono::milliseconds timeout() const { return state_->timeout; }
  /// The store the ranks met through (null for a single process).
  const c10::intrusive_ptr<c10d::Store>& store() const { return state_->store; }

  /// Starts tensor <- sum over ranks of tensor, in place; `wait` on the result before reading it.
  /// A group without a backend returns null (nothing to wait for).
  c10::intrusive_ptr<c10d::Work> all_reduce_sum_async(const at::Tensor& tensor) const {
    if (!connected()) {
      return {};
    }
    TORCH_CHECK(tensor.is_contiguous(), "byol::distributed: all_reduce needs a contiguous tensor, got strides ",
                tensor.strides());
    std::vector<at::Tensor> tensors{tensor};
    return detail::collectives_of(*state_).all_reduce_sum(tensors);
  }
  /// Waits for work started by all_reduce_sum_async (null is done already); a failure names the
  /// rank and the timeout.
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what = "allreduce") const {
    if (work) {
      detail::wait_for(work, *state_, what);
    }
  }
  /// tensor <- sum over ranks of tensor, in place (contiguous tensors).
  void all_reduce_sum_(const at::Tensor& tensor) const { wait(all_reduce_sum_async(tensor)); }
  /// tensor <- rank `root`'s tensor, in place (contiguous tensors).
  void broadcast_(const at::Tensor& tensor, int64_t root = 0) const {
    TORCH_CHECK(root >= 0 && root < state_->world_size, "byol::distributed: broadcast root must be in [0, ",
                state_->world_size, "), got ", root);
    if (!connected()) {
      return;
    }
    TORCH_CHECK(tensor.is_contiguous(), "byol::distributed: broadcast needs a contiguous tensor, got strides ",
                tensor.strides());
    std::vector<at::Tensor> tensors{tensor};
    detail::wait_for(detail::collectives_of(*state_).broadcast(tensors, static_cast<int>(root)), *state_, "broadcast");
  }
  /// Returns when every rank has called it.
  void barrier() const {
    if (connected()) {
      detail::wait_for(detail::collectives_of(*state_).barrier(), *state_, "barrier");
    }
  }
  /// Every rank's `tensor`, in rank order: element r is rank r's. The tensors must have the same
  /// shape and dtype on every rank (all_gather_rows takes unequal row counts). A group without
  /// a backend returns {tensor}.
  std::vector<at::Tensor> all_gather(const at::Tensor& tensor) const {
    if (!connected()) {
      return {tensor};
    }
    std::vector<at::Tensor> inputs{tensor.contiguous()};
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int r = 0; r < state_->world_size; ++r) {
      outputs[0].push_back(at::empty_like(inputs[0]));
    }
    detail::wait_for(detail::collectives_of(*state_).all_gather(outputs, inputs), *state_, "allgather");
    return outputs[0];
  }

  /// Brings the group down after this rank failed with `message`: publishes "rank r: message" in
  /// the store (the first such message stays), then closes this rank's connections, so that a
  /// collective that another rank is waiting in fails at once, and its error carries the message
  /// (instead of Gloo's bare "connection closed"). The rank that hosts the store (rank 0 without
  /// torchrun's agent) then waits, up to min(timeout, 60 s), until every other rank has read it,
  /// since the store ends with its process. Later collectives on this rank fail. run_or_abort
  /// calls it; a group without a store only records the message.
  ///
  ///     catch (const std::exception& e) { group.abort(e.what()); throw; }
  void abort(const std::string& message) const {
    auto& state = *state_;
    state.aborted = "rank " + std::to_string(state.rank) + ": " + message;
    if (!state.store) {
      return;
    }
    try {
      if (!state.store->check({detail::kErrorKey})) {
        state.store->set(detail::kErrorKey, std::vector<uint8_t>(state.aborted.begin(), state.aborted.end()));
      }
    } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): the store is gone; still close
    }
    state.collectives.reset();  // Gloo's destructor closes the connections the others wait on
    if (state.serves_store) {
      std::vector<std::string> receipts;
      for (int r = 0; r < state.world_size; ++r) {
        if (r != state.rank) {
          receipts.push_back(detail::error_seen_key(r));
        }
      }
      try {
        state.store->wait(receipts, std::min<std::chrono::milliseconds>(state.timeout, std::chrono::seconds(60)));
      } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): a rank that died reads nothing
      }
    }
  }

  const c10::intrusive_ptr<detail::GroupState>& state() const { return state_; }

 private:
  c10::intrusive_ptr<detail::GroupState> state_;
};

/// The group of `world_size` processes that meet through `store`, this one being `rank`.
/// init_process_group makes the store from the environment; tests and launchers may pass their own.
/// Given a store, the backend is built even for world_size 1 (one rank's collectives then run
/// through it); without one, world_size must be 1 and the group has no backend.
inline ProcessGroup make_process_group(c10::intrusive_ptr<c10d::Store> store, int64_t rank, int64_t world_size,
                                       ProcessGroupOptions options = {}, int64_t local_rank = -1,
                                       const std::string& host_for_gloo = "") {
  TORCH_CHECK(world_size >= 1, "byol::distributed: world_size must be >= 1, got ", world_size);
  TORCH_CHECK(rank >= 0 && rank < world_size, "byol::distributed: rank must be in [0, ", world_size, "), got ", rank);
  TORCH_CHECK(options.timeout().count() > 0, "byol::distributed: timeout must be > 0 ms, got ",
              options.timeout().count());
  auto state = c10::make_intrusive<detail::GroupState>();
  state->rank = static_cast<int>(rank);
  state->world_size = static_cast<int>(world_size);
  state->local_rank = static_cast<int>(local_rank >= 0 ? local_rank : rank);
  state->timeout = options.timeout();
  if (world_size == 1 && !store) {
    return ProcessGroup(state);  // no backend: every collective is a no-op
  }
  TORCH_CHECK(store, "byol::distributed: a group of ", world_size, " processes needs a store");
  state->store = store;
  store->setTimeout(options.timeout());
  if (options.backend() == "gloo") {
#ifdef BYOL_DISTRIBUTED_GLOO
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(options.timeout());
    // GLOO_SOCKET_IFNAME picks the interface, as in PyTorch; a loopback master means one machine.
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname != nullptr && *ifname != '\0') {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (!host_for_gloo.empty()) {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host_for_gloo));
    } else {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
    try {
      gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(rank), static_cast<int>(world_size),
                                                         gloo_options);
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "byol::distributed: rank ", rank, " of ", world_size,
                  " could not connect to the other ranks within ", options.timeout().count(),
                  " ms (a rank that never arrived?): ", detail::message_of(e));
    }
    state->collectives = std::make_unique<detail::CollectivesOf<c10d::ProcessGroupGloo>>(std::move(gloo));
    state->backend_name = "gloo";
#else
    (void)host_for_gloo;
    TORCH_CHECK(false, "byol::distributed: backend 'gloo' was not compiled in: Gloo's headers were not found "
                "(Debian: apt-get install libgloo-dev) or BYOL_NO_GLOO is defined");
#endif
  } else if (options.backend() == "nccl") {
#ifdef BYOL_DISTRIBUTED_NCCL
    auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
    nccl_options->timeout = options.timeout();
    auto nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, static_cast<int>(rank),
                                                            static_cast<int>(world_size), nccl_options);
    state->collectives = std::make_unique<detail::CollectivesOf<c10d::ProcessGroupNCCL>>(std::move(nccl));
    state->backend_name = "nccl";
#else
    TORCH_CHECK(false, "byol::distributed: backend 'nccl' was not compiled in: it needs a LibTorch built with "
                "NCCL (whose CUDA targets define USE_C10D_NCCL) and NCCL's header <nccl.h> on the include path");
#endif
  } else {
    TORCH_CHECK(false, "byol::distributed: backend must be 'gloo' or 'nccl', got '", options.backend(), "'");
  }
  return ProcessGroup(state);
}

/// The group that torchrun (or Slurm, mpirun, a script) describes in the environment:
///   WORLD_SIZE  number of processes (>= 1)
///   RANK        this process, in [0, WORLD_SIZE)
///   LOCAL_RANK  this process on its machine (optional; default RANK)
///   MASTER_ADDR, MASTER_PORT  where rank 0 serves the TCPStore that the ranks meet through
/// With none of RANK, WORLD_SIZE set, or WORLD_SIZE=1 without MASTER_ADDR, the group is the single
/// process without a backend (no store, no connection). WORLD_SIZE=1 with MASTER_ADDR set (what
/// `torchrun --nproc_per_node=1` does) builds the store and the backend for the one rank, unless
/// that backend was not compiled in: then it warns and returns the single process. Under
/// torchrun's agent store (TORCHELASTIC_USE_AGENT_STORE=True) every rank is a client of the
/// agent's store, under the prefix /worker/attempt_<TORCHELASTIC_RESTART_COUNT>, as PyTorch does.
/// A missing or malformed variable is an error that names it and its value.
///
///     auto group = byol::distributed::init_process_group(
///         byol::distributed::ProcessGroupOptions().timeout(std::chrono::seconds(60)));
inline ProcessGroup init_process_group(ProcessGroupOptions options = {}) {
  using detail::env_integer;
  using detail::getenv_or_null;
  const char* world_text = getenv_or_null("WORLD_SIZE");
  const char* rank_text = getenv_or_null("RANK");
  if (world_text == nullptr && rank_text == nullptr) {
    return make_process_group({}, 0, 1, options);
  }
  const int64_t world_size = env_integer("WORLD_SIZE", world_text, 1, std::numeric_limits<int>::max());
  const int64_t rank = env_integer("RANK", rank_text, 0, world_size - 1);
  const char* local_text = getenv_or_null("LOCAL_RANK");
  const int64_t local_rank =
      local_text == nullptr ? rank : env_integer("LOCAL_RANK", local_text, 0, std::numeric_limits<int>::max());
  const char* addr = getenv_or_null("MASTER_ADDR");
  if (world_size == 1 && addr == nullptr) {
    return make_process_group({}, 0, 1, options, local_rank);
  }
  if (world_size == 1 && (options.backend() == "gloo" || options.backend() == "nccl") &&
      !detail::backend_compiled(options.backend())) {
    // One rank computes the same without collectives: a launch of one keeps working where the
    // backend is missing (Gloo without libgloo-dev's headers, NCCL without <nccl.h>).
    TORCH_WARN("byol::distributed: WORLD_SIZE=1 but backend '", options.backend(),
               "' was not compiled in: running as a single process without a backend");
    return make_process_group({}, 0, 1, options, local_rank);
  }
  TORCH_CHECK(addr != nullptr && *addr != '\0', "byol::distributed: environment variable MASTER_ADDR is ",
              addr == nullptr ? "not set" : "empty", " (WORLD_SIZE=", world_size, ", RANK=", rank, ")");
  const int64_t port = env_integer("MASTER_PORT", getenv_or_null("MASTER_PORT"), 1, 65535);
  const std::string host(addr);

  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(port);
  store_options.timeout = options.timeout();
  byol::detail::tcp_store_classic_backend(store_options);
  const char* agent = getenv_or_null("TORCHELASTIC_USE_AGENT_STORE");
  const bool agent_store = agent != nullptr && std::string(agent) == "True";
  c10::intrusive_ptr<c10d::Store> store;
  try {
    if (agent_store) {
      store_options.isServer = false;
      store_options.waitWorkers = false;
      const char* attempt = getenv_or_null("TORCHELASTIC_RESTART_COUNT");
      auto tcp = c10::make_intrusive<c10d::TCPStore>(host, store_options);
      store = c10::make_intrusive<c10d::PrefixStore>(
          std::string("/worker/attempt_") + (attempt != nullptr ? attempt : "0"), tcp);
    } else {
      store_options.isServer = rank == 0;
      store_options.numWorkers = static_cast<std::size_t>(world_size);
      store_options.waitWorkers = true;
      store_options.multiTenant = true;
      store = c10::make_intrusive<c10d::TCPStore>(host, store_options);
    }
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "byol::distributed: rank ", rank, " of ", world_size, " could not ",
                agent_store || rank != 0 ? "reach" : "start", " the store at MASTER_ADDR=", host,
                " MASTER_PORT=", port, " within ", options.timeout().count(), " ms: ", detail::message_of(e));
  }
  const bool loopback = host == "localhost" || host.rfind("127.", 0) == 0;
  auto group = make_process_group(store, rank, world_size, options, local_rank, loopback ? "127.0.0.1" : "");
  group.state()->serves_store = !agent_store && rank == 0;
  return group;
}

// ---- rank 0's work, errors, features -----------------------------------------------------------

/// True on rank 0, the process that logs, prints progress and writes checkpoints (and in a
/// single process).
///
///     if (byol::distributed::is_main_process(group)) std::cout << "step " << step << "\n";
inline bool is_main_process(const ProcessGroup& group) { return group.rank() == 0; }

/// Runs `work` on rank 0 only; every rank returns when rank 0 has finished it. If it threw, every
/// rank throws a c10::Error with rank 0's message. Rank 0 posts the outcome in the group's store
/// (so it works with any backend); the others wait for it up to the group's timeout, so a rank 0
/// that died gives them an error, not a hang. Every rank must call it at the same point; `what`
/// names the work in the errors. A single process just runs it.
///
///     byol::distributed::run_on_main(group, [&] { write_metrics_row(step, loss); }, "log metrics");
template <typename Work>
void run_on_main(const ProcessGroup& group, Work&& work, const std::string& what = "run_on_main's work") {
  if (group.world_size() == 1) {
    work();
    return;
  }
  auto& state = *group.state();
  TORCH_CHECK(state.store, "byol::distributed: run_on_main needs the group's store");
  const std::string key = "byol/main/" + std::to_string(state.main_sequence++);
  if (group.rank() == 0) {
    std::string error;
    try {
      work();
    } catch (const std::exception& e) {
      error = detail::message_of(e);
    }
    // 'o' for done, 'e' + the message for a failure.
    const std::string outcome = error.empty() ? std::string("o") : "e" + error;
    try {
      state.store->set(key, std::vector<uint8_t>(outcome.begin(), outcome.end()));
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "byol::distributed: rank 0 could not tell the other ranks the outcome of '", what,
                  "': ", detail::message_of(e), error.empty() ? "" : "; it failed: ", error);
    }
    TORCH_CHECK(error.empty(), "byol::distributed: rank 0 failed to ", what, ": ", error);
    return;
  }
  std::string outcome;
  try {
    state.store->wait({key}, state.timeout);
    outcome = detail::to_string(state.store->get(key));
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "byol::distributed: rank ", group.rank(), " of ", group.world_size(),
                " waited in vain for rank 0 to ", what, " (rank 0 died or never got there; timeout ",
                state.timeout.count(), " ms): ", detail::message_of(e));
  }
  TORCH_CHECK(!outcome.empty() && outcome[0] == 'o', "byol::distributed: rank 0 failed to ", what, ": ",
              outcome.empty() ? std::string("(no message)") : outcome.substr(1));
}

/// Writes a checkpoint from rank 0 only: `source.save(path)` (a byol::TrainState, or anything
/// with such a save: TrainState writes atomically, keeping path.prev) on rank 0, while the others
/// wait until it is on disk; a failure to write is an error on every rank, with rank 0's
/// message. Then every rank may load `path` (on a file system they share). For a
/// checkpoint::save_atomically of an archive, call run_on_main with it.
///
///     byol::distributed::save_on_main(group, train_state, "run/checkpoint.pt");
template <typename Saveable>
void save_on_main(const ProcessGroup& group, const Saveable& source, const std::string& path) {
  run_on_main(group, [&] { source.save(path); }, "write the checkpoint " + path);
}

/// The rows of every rank's `rows`, concatenated in rank order: [sum_r n_r, ...] from each
/// rank's [n_r, ...]. The row counts n_r may differ (and be 0); the other dimensions and the
/// dtype must agree (an error on every rank otherwise, naming the ranks' shapes). For k-NN and
/// linear evaluation over the features and labels of a sharded data set: each rank extracts its
/// shard's features, and every rank ends with all of them, in the order of the shards. Not
/// differentiable (the result is a new tensor). A group without a backend returns `rows` itself.
///
///     auto features = byol::distributed::all_gather_rows(byol::eval::extract_features(...), group);
///     auto labels = byol::distributed::all_gather_rows(shard_labels, group);
inline at::Tensor all_gather_rows(const at::Tensor& rows, const ProcessGroup& group) {
  TORCH_CHECK(rows.defined() && rows.dim() >= 1, "all_gather_rows: rows must have a row dimension, got ",
              rows.defined() ? std::to_string(rows.dim()) + "-D tensor" : std::string("an undefined tensor"));
  if (!group.connected()) {
    return rows;
  }
  constexpr int64_t kMaxDims = 8;
  TORCH_CHECK(rows.dim() <= kMaxDims, "all_gather_rows: at most ", kMaxDims, " dimensions, got ", rows.sizes());
  // Each rank's [dtype, dim, sizes...] first: the ranks agree on what follows, or all fail.
  auto header = at::full({kMaxDims + 2}, -1, rows.options().dtype(at::kLong));
  {
    std::vector<int64_t> values{static_cast<int64_t>(rows.scalar_type()), rows.dim()};
    for (const auto size : rows.sizes()) {
      values.push_back(size);
    }
    header.narrow(0, 0, static_cast<int64_t>(values.size()))
        .copy_(at::tensor(values, at::dtype(at::kLong)).to(header.device()));
  }
  const auto headers = at::stack(group.all_gather(header)).cpu();
  const auto h = headers.accessor<int64_t, 2>();
  int64_t most = 0;
  std::vector<int64_t> counts;
  for (int64_t r = 0; r < group.world_size(); ++r) {
    bool same = h[r][0] == h[0][0] && h[r][1] == h[0][1];
    for (int64_t d = 3; d < kMaxDims + 2; ++d) {
      same = same && h[r][d] == h[0][d];
    }
    if (!same) {
      std::ostringstream shapes;
      for (int64_t q = 0; q < group.world_size(); ++q) {
        shapes << (q > 0 ? ", " : "") << "rank " << q << ": "
               << c10::toString(static_cast<c10::ScalarType>(h[q][0])) << " [";
        for (int64_t d = 0; d < h[q][1]; ++d) {
          shapes << (d > 0 ? ", " : "") << h[q][2 + d];
        }
        shapes << "]";
      }
      TORCH_CHECK(false, "all_gather_rows: the ranks' rows differ in dtype or in a dimension other than the "
                  "first (", shapes.str(), ")");
    }
    counts.push_back(h[r][2]);
    most = std::max(most, h[r][2]);
  }
  // Padded to the largest count, gathered, the padding dropped.
  auto sizes = rows.sizes().vec();
  sizes[0] = most;
  auto padded = at::zeros(sizes, rows.options());
  padded.narrow(0, 0, rows.size(0)).copy_(rows);
  const auto gathered = group.all_gather(padded);
  std::vector<at::Tensor> parts;
  for (int64_t r = 0; r < group.world_size(); ++r) {
    parts.push_back(gathered[static_cast<std::size_t>(r)].narrow(0, 0, counts[static_cast<std::size_t>(r)]));
  }
  return at::cat(parts);
}

/// Runs `body` (a training loop, say) and returns what it returns; if it throws, brings the group
/// down with the exception's message (ProcessGroup::abort) and rethrows: another rank waiting in
/// a collective then fails at once with "... failed because rank r: <message>" rather than
/// Gloo's "connection closed" or, worse, the timeout.
///
///     byol::distributed::run_or_abort(group, [&] { train(group); });
template <typename Body>
decltype(auto) run_or_abort(const ProcessGroup& group, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    group.abort(detail::message_of(e));
    throw;
  }
}

// ---- gradient averaging ----------------------------------------------------------------------

/// Options of DataParallel.
struct DataParallelOptions {
  /// Gradients are reduced in buckets of at most this many bytes (one flat buffer and one
  /// allreduce each; a larger tensor gets a bucket of its own). Default 25 MiB (PyTorch's).
  TORCH_ARG(int64_t, bucket_bytes) = 25 * 1024 * 1024;
  /// Broadcast the buffers (BatchNorm running statistics, ...) from rank 0 at construction, with
  /// the parameters. Default true.
  TORCH_ARG(bool, broadcast_buffers) = true;
};

namespace detail {

struct Bucket {
  at::Tensor flat;                  // the bucket's gradients, one after another
  std::vector<std::size_t> params;  // indices into ReducerState::params
  std::vector<int64_t> offsets;
  int64_t pending = 0;              // gradients not yet copied in, this backward
  bool launched = false;
  c10::intrusive_ptr<c10d::Work> work;
};

struct ReducerState : std::enable_shared_from_this<ReducerState> {
  ProcessGroup group;
  std::vector<at::Tensor> params;      // those that require grad
  std::vector<std::size_t> bucket_of;  // per parameter
  std::vector<std::size_t> slot_of;    // per parameter: its place in its bucket
  std::vector<bool> ready;             // per parameter, this backward
  std::vector<Bucket> buckets;
  std::size_t next_launch = 0;  // buckets start in index order on every rank
  bool in_backward = false;
  bool sync_enabled = true;
  int64_t launched_from_hooks = 0;  // statistics of the last backward
  std::mutex mutex;                 // hooks of CUDA tensors run on the engine's device threads

  void begin_backward_locked() {
    in_backward = true;
    next_launch = 0;
    launched_from_hooks = 0;
    std::fill(ready.begin(), ready.end(), false);
    for (auto& bucket : buckets) {
      bucket.pending = static_cast<int64_t>(bucket.params.size());
      bucket.launched = false;
      bucket.work.reset();
    }
  }

  void launch_ready_locked(bool from_hook) {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      auto& bucket = buckets[next_launch];
      bucket.work = group.all_reduce_sum_async(bucket.flat);
      bucket.launched = true;
      launched_from_hooks += from_hook ? 1 : 0;
      ++next_launch;
    }
  }

  // The gradient that .grad will hold once this backward has accumulated `incoming` into it.
  void copy_in_locked(std::size_t p, const at::Tensor& incoming) {
    auto& bucket = buckets[bucket_of[p]];
    const auto& param = params[p];
    auto slot = bucket.flat.narrow(0, bucket.offsets[slot_of[p]], param.numel());
    const auto& prior = param.grad();
    if (incoming.defined()) {
      slot.copy_(incoming.reshape({-1}));
      if (prior.defined()) {
        slot.add_(prior.reshape({-1}));
      }
    } else if (prior.defined()) {
      slot.copy_(prior.reshape({-1}));
    } else {
      slot.zero_();  // no gradient on this rank: it contributes zeros, as every rank agrees
    }
    ready[p] = true;
    --bucket.pending;
  }

  void on_gradient(std::size_t p, const at::Tensor& incoming) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!sync_enabled) {
      return;
    }
    if (!in_backward) {
      begin_backward_locked();
      // Runs when this backward's graph is done, every AccumulateGrad included.
      torch::autograd::Engine::get_default_engine().queue_callback([weak = weak_from_this()] {
        if (auto state = weak.lock()) {
          state->finish();
        }
      });
    }
    if (ready[p]) {
      return;
    }
    copy_in_locked(p, incoming);
    launch_ready_locked(true);
  }

  void finish() {
    std::lock_guard<std::mutex> lock(mutex);
    if (!in_backward) {
      return;
    }
    at::NoGradGuard no_grad;
    for (std::size_t p = 0; p < params.size(); ++p) {
      if (!ready[p]) {
        copy_in_locked(p, at::Tensor());
        // A bucket starts as soon as it is full, while the next ones are still being filled.
        launch_ready_locked(false);
      }
    }
    launch_ready_locked(false);
    const double scale = 1.0 / static_cast<double>(group.world_size());
    for (auto& bucket : buckets) {
      group.wait(bucket.work, "gradient allreduce");
      bucket.work.reset();
      if (group.world_size() > 1) {
        bucket.flat.mul_(scale);
      }
      for (std::size_t i = 0; i < bucket.params.size(); ++i) {
        auto& param = params[bucket.params[i]];
        auto averaged = bucket.flat.narrow(0, bucket.offsets[i], param.numel()).view(param.sizes());
        auto& grad = param.mutable_grad();
        if (grad.defined()) {
          grad.copy_(averaged);
        } else {
          grad = averaged.clone();
        }
      }
    }
    in_backward = false;
  }
};

// Broadcasts `tensors` from rank 0, packed into flat buffers of at most `bucket_bytes`.
inline void broadcast_coalesced(const ProcessGroup& group, const std::vector<at::Tensor>& tensors,
                                int64_t bucket_bytes) {
  if (!group.connected()) {
    return;
  }
  at::NoGradGuard no_grad;
  std::size_t i = 0;
  while (i < tensors.size()) {
    std::vector<at::Tensor> batch{tensors[i]};
    int64_t bytes = tensors[i].numel() * static_cast<int64_t>(tensors[i].element_size());
    std::size_t j = i + 1;
    while (j < tensors.size() && tensors[j].scalar_type() == tensors[i].scalar_type() &&
           tensors[j].device() == tensors[i].device() &&
           bytes + tensors[j].numel() * static_cast<int64_t>(tensors[j].element_size()) <= bucket_bytes) {
      bytes += tensors[j].numel() * static_cast<int64_t>(tensors[j].element_size());
      batch.push_back(tensors[j]);
      ++j;
    }
    std::vector<at::Tensor> flats;
    for (const auto& t : batch) {
      flats.push_back(t.reshape({-1}));
    }
    auto flat = at::cat(flats);
    group.broadcast_(flat, 0);
    int64_t offset = 0;
    for (auto& t : batch) {
      t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
    i = j;
  }
}

}  // namespace detail

/// Averages a module's gradients over the ranks of a group, the way PyTorch's
/// DistributedDataParallel does: construct it once on every rank after the module is built (and
/// after convert_sync_batchnorm, before the optimizer takes the parameters' gradients), and each
/// backward leaves every rank with g = (1/N) sum_r g_r in .grad.
///
/// - construction broadcasts every parameter and (by default) buffer from rank 0;
/// - the parameters that require grad are packed, in reverse registration order (roughly the
///   order backward computes them), into buckets of at most bucket_bytes per dtype and device;
/// - a hook on each parameter copies its gradient into its bucket's flat buffer as backward
///   computes it, and a full bucket starts its allreduce at once (buckets start in the same
///   order on every rank); when backward ends, gradients that were never computed contribute
///   zeros (or what .grad held), the remaining buckets start, all are waited for and divided by N,
///   and .grad is overwritten with the average (defined on every rank, even where a parameter
///   got no gradient).
/// - within a no_sync() scope gradients just accumulate locally; the first backward outside it
///   averages the accumulated sums.
///
///     byol::distributed::DataParallel ddp(*model, group);
///     { auto guard = ddp.no_sync(); loss(micro1).backward(); }   // accumulate only
///     loss(micro2).backward();                                   // averaged over ranks
class DataParallel {
 public:
  DataParallel(torch::nn::Module& module, ProcessGroup group, DataParallelOptions options = {})
      : options_(std::move(options)) {
    TORCH_CHECK(options_.bucket_bytes() > 0, "DataParallel: bucket_bytes must be > 0, got ",
                options_.bucket_bytes());
    state_ = std::make_shared<detail::ReducerState>();
    state_->group = std::move(group);
    std::vector<at::Tensor> all = module.parameters();
    if (options_.broadcast_buffers()) {
      for (auto& b : module.buffers()) {
        all.push_back(b);
      }
    }
    detail::broadcast_coalesced(state_->group, all, options_.bucket_bytes());

    for (auto& p : module.parameters()) {
      if (p.requires_grad()) {
        state_->params.push_back(p);
      }
    }
    std::reverse(state_->params.begin(), state_->params.end());
    const auto n = state_->params.size();
    state_->bucket_of.resize(n);
    state_->slot_of.resize(n);
    state_->ready.assign(n, false);
    // Buckets fill in order, a new one when dtype or device changes or the bucket would overflow.
    std::vector<int64_t> bucket_bytes;
    for (std::size_t p = 0; p < n; ++p) {
      const auto& param = state_->params[p];
      const int64_t bytes = param.numel() * static_cast<int64_t>(param.element_size());
      bool fresh = state_->buckets.empty();
      if (!fresh) {
        auto& last = state_->buckets.back();
        const auto& first = state_->params[last.params.front()];
        fresh = first.scalar_type() != param.scalar_type() || first.device() != param.device() ||
                bucket_bytes.back() + bytes > options_.bucket_bytes();
      }
      if (fresh) {
        state_->buckets.emplace_back();
        bucket_bytes.push_back(0);
      }
      auto& bucket = state_->buckets.back();
      state_->bucket_of[p] = state_->buckets.size() - 1;
      state_->slot_of[p] = bucket.params.size();
      bucket.params.push_back(p);
      bucket.offsets.push_back(bucket_bytes.back() / static_cast<int64_t>(param.element_size()));
      bucket_bytes.back() += bytes;
    }
    for (std::size_t b = 0; b < state_->buckets.size(); ++b) {
      auto& bucket = state_->buckets[b];
      const auto& first = state_->params[bucket.params.front()];
      bucket.flat = at::zeros({bucket_bytes[b] / static_cast<int64_t>(first.element_size())}, first.options());
    }
    std::weak_ptr<detail::ReducerState> weak = state_;
    for (std::size_t p = 0; p < n; ++p) {
      auto handle = state_->params[p].register_hook([weak, p](const at::Tensor& grad) {
        if (auto state = weak.lock()) {
          state->on_gradient(p, grad);
        }
      });
      hooks_.push_back(static_cast<int64_t>(handle));
    }
  }

  ~DataParallel() {
    for (std::size_t p = 0; p < hooks_.size(); ++p) {
      try {
        state_->params[p].remove_hook(static_cast<unsigned>(hooks_[p]));
      } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
      }
    }
  }
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  /// While the returned guard lives, backward only accumulates gradients locally.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(std::shared_ptr<detail::ReducerState> state) : state_(std::move(state)) {
      std::lock_guard<std::mutex> lock(state_->mutex);
      previous_ = state_->sync_enabled;
      state_->sync_enabled = false;
    }
    ~NoSyncGuard() {
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->sync_enabled = previous_;
    }
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    std::shared_ptr<detail::ReducerState> state_;
    bool previous_ = true;
  };
  NoSyncGuard no_sync() { return NoSyncGuard(state_); }

  /// Finishes the averaging of the current backward if it has not finished (backward finishes
  /// it by itself; a backward in which no parameter got a gradient does not start it: call this
  /// then, on every rank, to average what .grad holds).
  void synchronize() {
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      if (!state_->in_backward) {
        state_->begin_backward_locked();
      }
    }
    state_->finish();
  }

  const ProcessGroup& group() const { return state_->group; }
  /// How many buckets the gradients are reduced in.
  int64_t bucket_count() const { return static_cast<int64_t>(state_->buckets.size()); }
  /// Of the last backward's buckets, how many started from the hooks, during backward.
  int64_t buckets_started_in_backward() const { return state_->launched_from_hooks; }

 private:
  DataParallelOptions options_;
  std::shared_ptr<detail::ReducerState> state_;
  std::vector<int64_t> hooks_;
};

// ---- SyncBatchNorm ---------------------------------------------------------------------------

namespace detail {

inline std::vector<int64_t> batch_norm_reduce_dims(const at::Tensor& input) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < input.dim(); ++d) {
    dims.push_back(d);
  }
  return dims;
}

// Per-channel view shape [1, C, 1, ...] for an input of input.dim() dimensions.
inline std::vector<int64_t> channel_shape(const at::Tensor& input) {
  std::vector<int64_t> shape(static_cast<std::size_t>(input.dim()), 1);
  shape[1] = input.size(1);
  return shape;
}

struct SyncBatchNormFunction : torch::autograd::Function<SyncBatchNormFunction> {
  // weight and bias are optional (affine = false); the running statistics are no inputs of the
  // graph (a pair of tensors, possibly undefined, updated in place).
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input,
                            const c10::optional<at::Tensor>& weight_opt, const c10::optional<at::Tensor>& bias_opt,
                            const std::pair<at::Tensor, at::Tensor>& running, double momentum, double eps,
                            const ProcessGroup& group) {
    const at::Tensor weight = weight_opt.has_value() ? *weight_opt : at::Tensor();
    const at::Tensor bias = bias_opt.has_value() ? *bias_opt : at::Tensor();
    const auto& running_mean = running.first;
    const auto& running_var = running.second;
    const auto dims = batch_norm_reduce_dims(input);
    const int64_t channels = input.size(1);
    const int64_t local_count = input.numel() / std::max<int64_t>(channels, 1);
    // [sum x, sum x^2, n] in float64, reduced over the ranks in one allreduce.
    auto stats = at::empty({2 * channels + 1}, input.options().dtype(at::kDouble));
    stats.narrow(0, 0, channels).copy_(at::sum(input, dims, false, at::kDouble));
    stats.narrow(0, channels, channels).copy_(at::sum(input * input, dims, false, at::kDouble));
    stats.narrow(0, 2 * channels, 1).fill_(static_cast<double>(local_count));
    group.all_reduce_sum_(stats);
    const double count = stats[2 * channels].item<double>();
    TORCH_CHECK(count > 1, "SyncBatchNorm: expected more than 1 value per channel over all ranks when training, "
                "got input of size ", input.sizes(), " on rank ", group.rank(), " and ", count, " in total");
    auto mean = stats.narrow(0, 0, channels) / count;
    auto var = (stats.narrow(0, channels, channels) / count - mean * mean).clamp_min(0.0);
    auto invstd = (var + eps).rsqrt();
    if (running_mean.defined()) {
      running_mean.mul_(1.0 - momentum).add_(mean.to(running_mean.scalar_type()), momentum);
    }
    if (running_var.defined()) {
      running_var.mul_(1.0 - momentum).add_((var * (count / (count - 1))).to(running_var.scalar_type()), momentum);
    }
    const auto shape = channel_shape(input);
    auto scale = weight.defined() ? invstd * weight.to(at::kDouble) : invstd;
    auto shift = bias.defined() ? bias.to(at::kDouble) - mean * scale : -mean * scale;
    auto output = input * scale.to(input.scalar_type()).view(shape) + shift.to(input.scalar_type()).view(shape);
    ctx->save_for_backward({input, weight, mean, invstd});
    ctx->saved_data["count"] = count;
    ctx->saved_data["group"] = c10::IValue::make_capsule(group.state());
    return output;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& input = saved[0];
    const auto& weight = saved[1];
    const auto& mean = saved[2];
    const auto& invstd = saved[3];
    const double count = ctx->saved_data["count"].toDouble();
    const ProcessGroup group(c10::static_intrusive_pointer_cast<GroupState>(ctx->saved_data["group"].toCapsule()));
    const auto& grad_output = grad_outputs[0];
    const auto dims = batch_norm_reduce_dims(input);
    const int64_t channels = input.size(1);
    const auto shape = channel_shape(input);
    const auto dtype = input.scalar_type();

    auto xmu = input - mean.to(dtype).view(shape);
    // [sum dy, sum dy (x - mean)] over this rank's rows; the weight and bias gradients are this
    // rank's (DataParallel averages them), the input's needs the sums over all ranks.
    auto sums = at::empty({2 * channels}, input.options().dtype(at::kDouble));
    sums.narrow(0, 0, channels).copy_(at::sum(grad_output, dims, false, at::kDouble));
    sums.narrow(0, channels, channels).copy_(at::sum(grad_output * xmu, dims, false, at::kDouble));
    at::Tensor grad_weight, grad_bias;
    if (weight.defined()) {
      grad_weight = (sums.narrow(0, channels, channels) * invstd).to(weight.scalar_type());
      grad_bias = sums.narrow(0, 0, channels).to(weight.scalar_type());
    }
    // Every rank reduces, whether or not its input needs a gradient, so the ranks stay in step.
    auto global = sums.clone();
    group.all_reduce_sum_(global);
    at::Tensor grad_input;
    if (ctx->needs_input_grad(0)) {
      auto mean_dy = global.narrow(0, 0, channels) / count;
      auto mean_dy_xmu = global.narrow(0, channels, channels) / count;
      auto scale = weight.defined() ? invstd * weight.to(at::kDouble) : invstd;
      // dx = (dy - mean(dy) - (x - mean) invstd^2 mean(dy (x - mean))) invstd w
      grad_input = (grad_output - mean_dy.to(dtype).view(shape) -
                    xmu * (invstd * invstd * mean_dy_xmu).to(dtype).view(shape)) *
                   scale.to(dtype).view(shape);
    }
    return {grad_input, grad_weight, grad_bias, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace detail

namespace functional {

/// Training-mode batch norm over the global batch of `group`: per channel, mean and biased
/// variance of all ranks' inputs together, y = (x - mean) / sqrt(var + eps) * weight + bias.
/// running_mean/running_var (if defined) become (1 - momentum) r + momentum s, with the unbiased
/// global variance. Every rank of the group must call it at the same point. `input` is [N, C],
/// [N, C, L] or [N, C, H, W]; N may differ between ranks (and be 0 on some).
///
///     auto y = byol::distributed::functional::sync_batch_norm(x, rm, rv, w, b, 0.1, 1e-5, group);
inline at::Tensor sync_batch_norm(const at::Tensor& input, const at::Tensor& running_mean,
                                  const at::Tensor& running_var, const at::Tensor& weight, const at::Tensor& bias,
                                  double momentum, double eps, const ProcessGroup& group) {
  TORCH_CHECK(input.dim() >= 2, "sync_batch_norm: input must be [N, C, ...], got ", input.sizes());
  TORCH_CHECK(eps > 0, "sync_batch_norm: eps must be > 0, got ", eps);
  TORCH_CHECK(momentum >= 0 && momentum <= 1, "sync_batch_norm: momentum must be in [0, 1], got ", momentum);
  const auto optional = [](const at::Tensor& t) { return t.defined() ? c10::optional<at::Tensor>(t) : c10::nullopt; };
  return detail::SyncBatchNormFunction::apply(input, optional(weight), optional(bias),
                                              std::make_pair(running_mean, running_var), momentum, eps, group);
}

}  // namespace functional

/// BatchNorm whose training-mode statistics are those of the global batch over a process group.
/// Its parameters and buffers carry BatchNorm's names (weight, bias, running_mean, running_var,
/// num_batches_tracked), so state dicts and checkpoints are interchangeable. In eval mode it is
/// plain BatchNorm with the running statistics. `dim` is 1 (input [N, C] or [N, C, L]) or 2
/// ([N, C, H, W]).
///
///     byol::distributed::SyncBatchNorm bn(torch::nn::BatchNormOptions(64), 2, group);
class SyncBatchNormImpl : public torch::nn::Cloneable<SyncBatchNormImpl>, public byol::detail::ReplacedNorm {
 public:
  SyncBatchNormImpl(torch::nn::BatchNormOptions options_, int64_t dim_, ProcessGroup group_ = {})
      : options(std::move(options_)), dim(dim_), group(std::move(group_)) {
    reset();
  }

  /// Takes the place of `bn`, sharing its very tensors (the same parameter and buffer objects):
  /// what the replaced module reads or is loaded with stays in step.
  template <typename Derived>
  SyncBatchNormImpl(const torch::nn::BatchNormImplBase<1, Derived>& bn, ProcessGroup group_)
      : options(bn.options), dim(1), group(std::move(group_)) {
    share(bn);
  }
  template <typename Derived>
  SyncBatchNormImpl(const torch::nn::BatchNormImplBase<2, Derived>& bn, ProcessGroup group_)
      : options(bn.options), dim(2), group(std::move(group_)) {
    share(bn);
  }

  void reset() override {
    TORCH_CHECK(dim == 1 || dim == 2, "SyncBatchNorm: dim must be 1 or 2, got ", dim);
    TORCH_CHECK(options.num_features() > 0, "SyncBatchNorm: num_features must be > 0, got ", options.num_features());
    if (options.affine()) {
      weight = register_parameter("weight", torch::ones({options.num_features()}));
      bias = register_parameter("bias", torch::zeros({options.num_features()}));
    } else {
      weight = register_parameter("weight", at::Tensor(), false);
      bias = register_parameter("bias", at::Tensor(), false);
    }
    if (options.track_running_stats()) {
      running_mean = register_buffer("running_mean", torch::zeros({options.num_features()}));
      running_var = register_buffer("running_var", torch::ones({options.num_features()}));
      num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::dtype(torch::kLong)));
    } else {
      running_mean = register_buffer("running_mean", at::Tensor());
      running_var = register_buffer("running_var", at::Tensor());
      num_batches_tracked = register_buffer("num_batches_tracked", at::Tensor());
    }
  }

  at::Tensor forward(const at::Tensor& input) {
    const bool ok = dim == 1 ? (input.dim() == 2 || input.dim() == 3) : input.dim() == 4;
    TORCH_CHECK(ok, "SyncBatchNorm: expected ", dim == 1 ? "2D or 3D" : "4D", " input (dim ", dim, "), got ",
                input.dim(), "D input of size ", input.sizes());
    TORCH_CHECK(input.size(1) == options.num_features(), "SyncBatchNorm: expected ", options.num_features(),
                " channels, got input of size ", input.sizes());
    double factor = 0.0;
    if (is_training() && options.track_running_stats()) {
      num_batches_tracked.add_(1);
      factor = options.momentum().has_value() ? *options.momentum()
                                              : 1.0 / num_batches_tracked.item<double>();
    }
    if (!is_training() && options.track_running_stats()) {
      return torch::nn::functional::detail::batch_norm(input, running_mean, running_var, weight, bias, false, 0.0,
                                                       options.eps());
    }
    return functional::sync_batch_norm(input, running_mean, running_var, weight, bias, factor, options.eps(), group);
  }

  at::Tensor forward_replaced(const at::Tensor& input) override { return forward(input); }

  void pretty_print(std::ostream& stream) const override {
    stream << "byol::distributed::SyncBatchNorm(" << options.num_features() << ", eps=" << options.eps()
           << ", dim=" << dim << ", world_size=" << group.world_size() << ")";
  }

  torch::nn::BatchNormOptions options;
  int64_t dim;
  ProcessGroup group;
  at::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  template <typename Base>
  void share(const Base& bn) {
    weight = register_parameter("weight", bn.weight, bn.weight.defined() && bn.weight.requires_grad());
    bias = register_parameter("bias", bn.bias, bn.bias.defined() && bn.bias.requires_grad());
    running_mean = register_buffer("running_mean", bn.running_mean);
    running_var = register_buffer("running_var", bn.running_var);
    num_batches_tracked = register_buffer("num_batches_tracked", bn.num_batches_tracked);
    train(bn.is_training());
  }
};
TORCH_MODULE(SyncBatchNorm);

/// Replaces every torch::nn::BatchNorm1d and BatchNorm2d in `module`'s tree (itself excluded)
/// with a SyncBatchNorm over `group` that shares its tensors, and returns how many it replaced.
/// The replacement is registered under the same name (replace_module), and the contents of a
/// torch::nn::Sequential are rebuilt around it. A parent whose forward calls a typed member
/// (torch::nn::BatchNorm2d bn; ... bn(x)) keeps calling the old module unless it calls
/// byol::detail::forward_norm_child, as byol's heads and models do. Convert before building the
/// optimizer and DataParallel is not needed (the tensors are the same), but before cloning.
///
///     int64_t n = byol::distributed::convert_sync_batchnorm(*learner, group);
inline int64_t convert_sync_batchnorm(torch::nn::Module& module, const ProcessGroup& group) {
  int64_t replaced = 0;
  for (auto& child : module.named_children()) {
    std::shared_ptr<torch::nn::Module> fresh;
    if (auto* bn1 = child.value()->as<torch::nn::BatchNorm1d>()) {
      fresh = std::make_shared<SyncBatchNormImpl>(*bn1, group);
    } else if (auto* bn2 = child.value()->as<torch::nn::BatchNorm2d>()) {
      fresh = std::make_shared<SyncBatchNormImpl>(*bn2, group);
    }
    if (fresh) {
      module.replace_module(child.key(), fresh);
      ++replaced;
    } else {
      replaced += convert_sync_batchnorm(*child.value(), group);
    }
  }
  if (replaced > 0) {
    if (auto* sequential = module.as<torch::nn::Sequential>()) {
      // Sequential calls the AnyModules it holds, not its registry: rebuild them, in place.
      const bool training = sequential->is_training();
      torch::nn::SequentialImpl rebuilt;
      const auto children = sequential->named_children();
      std::size_t index = 0;
      for (const auto& item : *sequential) {
        const auto& registered = children[index].value();
        if (registered.get() != item.ptr().get()) {
          rebuilt.push_back(children[index].key(),
                            torch::nn::AnyModule(std::dynamic_pointer_cast<SyncBatchNormImpl>(registered)));
        } else {
          rebuilt.push_back(children[index].key(), item);
        }
        ++index;
      }
      *sequential = std::move(rebuilt);
      sequential->train(training);
    }
  }
  return replaced;
}

}  // namespace byol::distributed

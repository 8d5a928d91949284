#pragma once

/// Checkpoints that survive crashes: an archive is written to a temporary file in the target's
/// folder, flushed to disk, then renamed over the target, so a crash at any moment leaves either
/// the previous checkpoint or the new one, never a torn file. Helpers put modules, optimizers,
/// numbers and the random generator's state into one archive and read them back.
///
///     torch::serialize::OutputArchive archive;
///     byol::checkpoint::write(archive, "model", model);
///     byol::checkpoint::write(archive, "optimizer", lars);
///     byol::checkpoint::write_int(archive, "step", step);
///     byol::checkpoint::save_atomically(archive, "run/checkpoint.pt");

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace byol::checkpoint {

namespace detail {

inline void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  TORCH_CHECK(fd >= 0, "checkpoint: cannot open ", path, " to flush it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  TORCH_CHECK(rc == 0, "checkpoint: fsync of ", path, " failed: ", std::strerror(saved));
}

inline std::string parent_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace detail

/// Writes `archive` to `path` atomically: `path.tmp` is written and fsync'ed, renamed over
/// `path`, and the folder is fsync'ed so the rename itself is durable.
inline void save_atomically(torch::serialize::OutputArchive& archive, const std::string& path) {
  TORCH_CHECK(!path.empty(), "checkpoint::save_atomically: path is empty");
  const std::string tmp = path + ".tmp";
  archive.save_to(tmp);
  detail::fsync_path(tmp, false);
  TORCH_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "checkpoint: cannot rename ", tmp, " to ", path, ": ",
              std::strerror(errno));
  detail::fsync_path(detail::parent_of(path), true);
}

/// True when a regular, readable file exists at `path` (a folder, a socket, ... is not one).
inline bool exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(path.c_str(), R_OK) == 0;
}

/// Loads an archive written by save_atomically; the error names the file.
inline torch::serialize::InputArchive load(const std::string& path) {
  TORCH_CHECK(exists(path), "checkpoint::load: no readable checkpoint at ", path);
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "checkpoint::load: ", path, " is not a readable checkpoint: ", e.what_without_backtrace());
  }
  return archive;
}

/// A module's parameters and buffers, under `key`.
inline void write(torch::serialize::OutputArchive& archive, const std::string& key, const torch::nn::Module& module) {
  torch::serialize::OutputArchive nested(archive.compilation_unit());
  module.save(nested);
  archive.write(key, nested);
}
inline void read(torch::serialize::InputArchive& archive, const std::string& key, torch::nn::Module& module) {
  torch::serialize::InputArchive nested;
  TORCH_CHECK(archive.try_read(key, nested), "checkpoint: no module '", key, "' in the checkpoint");
  module.load(nested);
}

/// An optimizer's state (momentum buffers, options), under `key`.
inline void write(torch::serialize::OutputArchive& archive, const std::string& key,
                  const torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive nested(archive.compilation_unit());
  optimizer.save(nested);
  archive.write(key, nested);
}
inline void read(torch::serialize::InputArchive& archive, const std::string& key, torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive nested;
  TORCH_CHECK(archive.try_read(key, nested), "checkpoint: no optimizer '", key, "' in the checkpoint");
  optimizer.load(nested);
}

/// An integer (step counters, epochs), under `key`.
inline void write_int(torch::serialize::OutputArchive& archive, const std::string& key, int64_t value) {
  archive.write(key, c10::IValue(value));
}
inline int64_t read_int(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  TORCH_CHECK(archive.try_read(key, value), "checkpoint: no integer '", key, "' in the checkpoint");
  return value.toInt();
}

/// A floating-point number, under `key`.
inline void write_double(torch::serialize::OutputArchive& archive, const std::string& key, double value) {
  archive.write(key, c10::IValue(value));
}
inline double read_double(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  TORCH_CHECK(archive.try_read(key, value), "checkpoint: no number '", key, "' in the checkpoint");
  return value.toDouble();
}

/// A CPU random generator's state (the global one by default), under `key`.
inline void write_rng(torch::serialize::OutputArchive& archive, const std::string& key,
                      at::Generator generator = at::detail::getDefaultCPUGenerator()) {
  at::Tensor state;
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    state = generator.get_state();
  }
  archive.write(key, state, /*is_buffer=*/true);
}
inline void read_rng(torch::serialize::InputArchive& archive, const std::string& key,
                     at::Generator generator = at::detail::getDefaultCPUGenerator()) {
  at::Tensor state;
  TORCH_CHECK(archive.try_read(key, state, /*is_buffer=*/true), "checkpoint: no generator state '", key,
              "' in the checkpoint");
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

}  // namespace byol::checkpoint

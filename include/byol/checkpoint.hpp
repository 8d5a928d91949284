#pragma once

/// Checkpoints that survive crashes and refuse damaged files.
///
/// File format (version 1): a 32-byte byol header, then the LibTorch archive's bytes:
///
///   magic "BYOLCKPT" (8) | version, uint32 LE (4) | reserved, 0 (4) | archive length, uint64 LE (8)
///   | checksum, uint64 LE (8): FNV-1a-64 of the first 24 header bytes followed by the archive
///
/// `load` reads the whole file and checks the magic, the version, the length and the checksum
/// before LibTorch parses a byte, so a file with flipped bits or cut short is refused with a
/// c10::Error that names it. Files written before this format (a bare LibTorch zip archive, no
/// header) are still read, with a warning: they carry no checksum, so such a file, if damaged,
/// is only as safe as LibTorch's own parser.
///
/// `save_atomically` writes to a unique temporary in the target's folder (created exclusively,
/// never through a symlink), flushes it to disk, keeps the previous good checkpoint as
/// `path + ".prev"`, renames the temporary over `path` and flushes the folder: a crash at any
/// moment leaves a complete `path` or a complete `path.prev`, and `load_latest` reads whichever
/// is the newest that verifies.
///
///     torch::serialize::OutputArchive archive;
///     byol::checkpoint::write(archive, "model", model);
///     byol::checkpoint::write(archive, "optimizer", lars);
///     byol::checkpoint::write_int(archive, "step", step);
///     byol::checkpoint::save_atomically(archive, "run/checkpoint.pt");
///     auto latest = byol::checkpoint::load_latest("run/checkpoint.pt");   // falls back to .prev

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace byol::checkpoint {

/// The first 8 bytes of a checkpoint written by byol (format version 1 and later).
constexpr char kMagic[8] = {'B', 'Y', 'O', 'L', 'C', 'K', 'P', 'T'};
/// The format version written by save_atomically.
constexpr uint32_t kFormatVersion = 1;
/// Bytes before the archive: magic, version, reserved, length, checksum.
constexpr size_t kHeaderBytes = 32;

/// FNV-1a-64 (Fowler, Noll, Vo) of `size` bytes, continuing from `hash` (the offset basis
/// 0xcbf29ce484222325 by default). Any single changed byte changes the result: each step is a
/// bijection of the state.
///
///     byol::checkpoint::fnv1a64("", 0);         // 0xcbf29ce484222325
///     byol::checkpoint::fnv1a64("a", 1);        // 0xaf63dc4c8601ec8c
///     byol::checkpoint::fnv1a64("foobar", 6);   // 0x85944171f73967e8
inline uint64_t fnv1a64(const void* data, size_t size, uint64_t hash = 0xcbf29ce484222325ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    hash ^= p[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

namespace detail {

inline void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY) | O_CLOEXEC);
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

inline void put_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

inline uint64_t get_le(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return value;
}

/// Header + archive bytes, as save_atomically writes them.
inline std::string frame(const std::string& archive_bytes) {
  std::string out(kMagic, sizeof kMagic);
  put_le(out, kFormatVersion, 4);
  put_le(out, 0, 4);
  put_le(out, archive_bytes.size(), 8);
  const uint64_t hash = fnv1a64(archive_bytes.data(), archive_bytes.size(), fnv1a64(out.data(), out.size()));
  put_le(out, hash, 8);
  out.reserve(out.size() + archive_bytes.size());
  out += archive_bytes;
  return out;
}

/// The whole of the regular file `path` (opened without blocking on a FIFO, no symlink
/// restriction: a checkpoint may be a link); errors name `who` and the file.
inline std::string read_whole_file(const std::string& path, const char* who) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  TORCH_CHECK(fd >= 0, who, ": cannot open ", path, ": ", std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info {};
  TORCH_CHECK(::fstat(fd, &info) == 0, who, ": cannot stat ", path, ": ", std::strerror(errno));
  TORCH_CHECK(S_ISREG(info.st_mode), who, ": ", path, " is not a regular file");
  std::string bytes;
  bytes.resize(static_cast<size_t>(info.st_size));
  size_t used = 0;
  for (;;) {
    if (used == bytes.size()) {
      bytes.resize(bytes.size() + (size_t(1) << 16));  // the file grew since fstat
    }
    const ssize_t got = ::read(fd, &bytes[used], bytes.size() - used);
    if (got < 0 && errno == EINTR) continue;
    TORCH_CHECK(got >= 0, who, ": cannot read ", path, ": ", std::strerror(errno));
    if (got == 0) break;
    used += static_cast<size_t>(got);
  }
  bytes.resize(used);
  return bytes;
}

/// Why the bytes of a checkpoint file are not a verified byol checkpoint; "" when they are.
/// `legacy` is set for a bare LibTorch zip archive (the format before version 1).
inline std::string verify(const std::string& bytes, bool& legacy) {
  legacy = false;
  if (bytes.size() >= 4 && bytes.compare(0, 4, "PK\x03\x04", 4) == 0) {
    legacy = true;
    return {};
  }
  if (bytes.size() < sizeof kMagic || bytes.compare(0, sizeof kMagic, kMagic, sizeof kMagic) != 0) {
    return "it does not start with the byol checkpoint magic \"BYOLCKPT\" (nor is it a LibTorch archive)";
  }
  if (bytes.size() < kHeaderBytes) {
    return "it is truncated: " + std::to_string(bytes.size()) + " bytes, shorter than the " +
           std::to_string(kHeaderBytes) + "-byte header";
  }
  const uint64_t version = get_le(bytes.data() + 8, 4);
  if (version != kFormatVersion) {
    return "it has format version " + std::to_string(version) + "; this byol reads version " +
           std::to_string(kFormatVersion);
  }
  const uint64_t length = get_le(bytes.data() + 16, 8);
  if (length != bytes.size() - kHeaderBytes) {
    return "its header declares " + std::to_string(length) + " archive bytes but the file holds " +
           std::to_string(bytes.size() - kHeaderBytes) + " (truncated or damaged)";
  }
  const uint64_t stored = get_le(bytes.data() + 24, 8);
  const uint64_t actual = fnv1a64(bytes.data() + kHeaderBytes, length, fnv1a64(bytes.data(), 24));
  if (stored != actual) {
    return "its checksum does not match its contents (the file is damaged)";
  }
  return {};
}

/// Parses verified (or legacy) bytes; any parser exception becomes a c10::Error naming `path`.
inline torch::serialize::InputArchive parse(const std::string& bytes, bool legacy, const std::string& path,
                                            const char* who) {
  torch::serialize::InputArchive archive;
  const size_t offset = legacy ? 0 : kHeaderBytes;
  std::string reason;
  try {
    archive.load_from(bytes.data() + offset, bytes.size() - offset);
    return archive;
  } catch (const c10::Error& e) {
    reason = e.what_without_backtrace();
  } catch (const std::exception& e) {
    reason = e.what();
  } catch (...) {
    reason = "unknown error";
  }
  TORCH_CHECK(false, who, ": ", path, " is not a readable checkpoint: ", reason);
  return archive;  // not reached
}

/// True when the regular file at `path` holds a verified checkpoint or a legacy archive.
inline bool verifies(const std::string& path) {
  try {
    bool legacy = false;
    return verify(read_whole_file(path, "checkpoint"), legacy).empty();
  } catch (const c10::Error&) {
    return false;
  }
}

/// Creates a new file next to `path` with a unique name, exclusively (O_EXCL: never an
/// existing file, never through a symlink); returns its descriptor and sets `name`.
inline int create_unique(const std::string& path, const std::string& tag, std::string& name) {
  static std::atomic<uint64_t> counter{0};
  std::random_device device;
  const uint64_t base = (static_cast<uint64_t>(device()) << 32) ^ static_cast<uint64_t>(device()) ^
                        static_cast<uint64_t>(::getpid()) ^
                        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  const std::string parent = parent_of(path);
  const std::string file = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  int saved = 0;
  for (int attempt = 0; attempt < 100; ++attempt) {
    uint64_t x = base + 0x9E3779B97F4A7C15ull * (counter.fetch_add(1) + 1);
    x = (x ^ (x >> 31)) * 0xBF58476D1CE4E5B9ull;
    char suffix[17];
    std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(x ^ (x >> 29)));
    name = parent + "/." + file + "." + tag + "." + suffix;
    const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    saved = errno;
    if (saved != EEXIST) break;
  }
  TORCH_CHECK(false, "checkpoint::save_atomically: cannot create a temporary file next to ", path, " (", name,
              "): ", std::strerror(saved));
  return -1;  // not reached
}

/// Removes the file `name` unless dismissed: the temporary of a save that failed part-way.
struct RemoveOnFailure {
  std::string name;
  bool armed = true;
  ~RemoveOnFailure() {
    if (armed) ::unlink(name.c_str());
  }
};

inline void write_all(int fd, const char* data, size_t size, const std::string& name) {
  while (size > 0) {
    const ssize_t put = ::write(fd, data, size);
    if (put < 0 && errno == EINTR) continue;
    TORCH_CHECK(put > 0, "checkpoint::save_atomically: cannot write ", name, ": ",
                put < 0 ? std::strerror(errno) : "no progress");
    data += put;
    size -= static_cast<size_t>(put);
  }
}

}  // namespace detail

/// Where the previous checkpoint is kept beside `path`: `path + ".prev"`.
///
///     byol::checkpoint::previous_path("run/ckpt.pt");   // "run/ckpt.pt.prev"
inline std::string previous_path(const std::string& path) { return path + ".prev"; }

/// Writes `archive` to `path` atomically, with the byol header and checksum:
///   1. the bytes go to a new temporary `.<name>.tmp.<random>` in the same folder, created with
///      O_CREAT | O_EXCL | O_NOFOLLOW (never an existing file, never through a symlink), written
///      and fsync'ed; on any failure it is removed and the error rethrown;
///   2. with `keep_previous` (the default) and a `path` that verifies, `path` is kept as
///      `path.prev` (hard-linked then renamed there, so `path` never disappears; a damaged
///      `path` does not replace a good `path.prev`);
///   3. the temporary is renamed over `path` and the folder fsync'ed.
/// Saves to one path from several threads or processes at once all succeed; the last rename wins.
///
///     torch::serialize::OutputArchive archive;
///     byol::checkpoint::write_int(archive, "step", 100);
///     byol::checkpoint::save_atomically(archive, "run/ckpt.pt");   // run/ckpt.pt, run/ckpt.pt.prev
inline void save_atomically(torch::serialize::OutputArchive& archive, const std::string& path,
                            bool keep_previous = true) {
  TORCH_CHECK(!path.empty(), "checkpoint::save_atomically: path is empty");
  TORCH_CHECK(path.back() != '/', "checkpoint::save_atomically: ", path, " names a folder, not a file");
  std::string payload;
  archive.save_to([&payload](const void* data, size_t size) -> size_t {
    payload.append(static_cast<const char*>(data), size);
    return size;
  });
  const std::string bytes = detail::frame(payload);
  payload = std::string();

  std::string tmp;
  const int fd = detail::create_unique(path, "tmp", tmp);
  detail::RemoveOnFailure cleanup{tmp};
  {
    struct Closer {
      int fd;
      ~Closer() {
        if (fd >= 0) ::close(fd);
      }
    } closer{fd};
    // Errors name the checkpoint as well as its temporary (a full disk shows up here).
    const std::string what = tmp + " (the temporary of " + path + ")";
    detail::write_all(fd, bytes.data(), bytes.size(), what);
    TORCH_CHECK(::fsync(fd) == 0, "checkpoint::save_atomically: fsync of ", what, " failed: ", std::strerror(errno));
    closer.fd = -1;
    TORCH_CHECK(::close(fd) == 0, "checkpoint::save_atomically: cannot close ", what, ": ", std::strerror(errno));
  }
  struct stat info {};
  if (keep_previous && ::lstat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && detail::verifies(path)) {
    // A hard link to the current file, renamed over path.prev: path stays in place throughout.
    std::string link_name;
    const int link_fd = detail::create_unique(path, "prev", link_name);
    ::close(link_fd);
    ::unlink(link_name.c_str());
    if (::link(path.c_str(), link_name.c_str()) == 0) {
      // Always removed afterwards: when path.prev is already a link to the same file (another
      // saver kept it first), rename succeeds without doing anything and leaves it.
      detail::RemoveOnFailure link_cleanup{link_name};
      TORCH_CHECK(std::rename(link_name.c_str(), previous_path(path).c_str()) == 0, "checkpoint::save_atomically: ",
                  "cannot keep the previous checkpoint as ", previous_path(path), ": ", std::strerror(errno));
    } else {
      // No hard links on this file system: rename; load_latest covers the moment without path.
      // Another saver may have renamed it first (ENOENT): nothing to keep then.
      TORCH_CHECK(std::rename(path.c_str(), previous_path(path).c_str()) == 0 || errno == ENOENT,
                  "checkpoint::save_atomically: cannot keep the previous checkpoint as ", previous_path(path), ": ",
                  std::strerror(errno));
    }
  }
  TORCH_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "checkpoint::save_atomically: cannot rename ", tmp,
              " to ", path, ": ", std::strerror(errno));
  cleanup.armed = false;
  detail::fsync_path(detail::parent_of(path), true);
}

/// True when a regular, readable file exists at `path` (a folder, a socket, ... is not one).
inline bool exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(path.c_str(), R_OK) == 0;
}

/// Loads an archive written by save_atomically. The whole file is read and its length and
/// checksum verified before LibTorch parses it; a missing, damaged or foreign file, or any
/// error of LibTorch's parser, is a c10::Error that names the file. A legacy file (a bare
/// LibTorch archive, written before the byol header) loads with a warning and no verification.
///
///     auto archive = byol::checkpoint::load("run/ckpt.pt");
///     const int64_t step = byol::checkpoint::read_int(archive, "step");
inline torch::serialize::InputArchive load(const std::string& path) {
  TORCH_CHECK(exists(path), "checkpoint::load: no readable checkpoint at ", path);
  const std::string bytes = detail::read_whole_file(path, "checkpoint::load");
  bool legacy = false;
  const std::string problem = detail::verify(bytes, legacy);
  TORCH_CHECK(problem.empty(), "checkpoint::load: ", path, " is refused: ", problem);
  if (legacy) {
    TORCH_WARN("checkpoint::load: ", path, " has no byol header (written by an older byol); it is loaded ",
               "without a checksum, so damage to it cannot be detected before parsing");
  }
  return detail::parse(bytes, legacy, path, "checkpoint::load");
}

/// What load_latest found: the archive and the file it came from.
struct LoadedCheckpoint {
  /// The parsed archive.
  torch::serialize::InputArchive archive;
  /// The file that was loaded: `path`, or `path.prev` after a fallback.
  std::string path;
  /// True when `path` could not be used and `path.prev` was loaded instead.
  bool fell_back = false;
  /// Why `path` could not be used (empty unless fell_back).
  std::string reason;
};

/// Loads the newest checkpoint that verifies: `path`, or else the previous one save_atomically
/// kept at `path.prev`, with a warning that says why `path` was passed over. When neither
/// loads, the error names both files and both reasons.
///
///     auto latest = byol::checkpoint::load_latest("run/ckpt.pt");
///     if (latest.fell_back) std::cerr << "resuming from " << latest.path << "\n";
///     byol::checkpoint::read(latest.archive, "model", *model);
inline LoadedCheckpoint load_latest(const std::string& path) {
  LoadedCheckpoint out;
  std::string first_error;
  try {
    out.archive = load(path);
    out.path = path;
    return out;
  } catch (const c10::Error& e) {
    first_error = e.what_without_backtrace();
  }
  const std::string previous = previous_path(path);
  try {
    out.archive = load(previous);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "checkpoint::load_latest: neither ", path, " nor ", previous, " loads: ", first_error, "; ",
                e.what_without_backtrace());
  }
  TORCH_WARN("checkpoint::load_latest: ", path, " cannot be used (", first_error, "); loaded the previous ",
             "checkpoint ", previous, " instead");
  out.path = previous;
  out.fell_back = true;
  out.reason = first_error;
  return out;
}

namespace detail {

// Every parameter and buffer of `module` (recursively) must be in `archive` with its shape.
inline void check_module_shapes(torch::serialize::InputArchive& archive, const torch::nn::Module& module,
                                const std::string& prefix, const std::string& key) {
  for (const auto& item : module.named_parameters(/*recurse=*/false)) {
    at::Tensor saved;
    TORCH_CHECK(archive.try_read(item.key(), saved), "checkpoint: module '", key, "' has no parameter '",
                prefix + item.key(), "' in the checkpoint");
    TORCH_CHECK(saved.sizes() == item.value().sizes(), "checkpoint: parameter '", prefix + item.key(),
                "' of module '", key, "' has shape ", saved.sizes(), " in the checkpoint but ", item.value().sizes(),
                " in the model");
  }
  for (const auto& item : module.named_buffers(/*recurse=*/false)) {
    at::Tensor saved;
    TORCH_CHECK(archive.try_read(item.key(), saved, /*is_buffer=*/true), "checkpoint: module '", key,
                "' has no buffer '", prefix + item.key(), "' in the checkpoint");
    TORCH_CHECK(saved.sizes() == item.value().sizes(), "checkpoint: buffer '", prefix + item.key(), "' of module '",
                key, "' has shape ", saved.sizes(), " in the checkpoint but ", item.value().sizes(), " in the model");
  }
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive nested;
    TORCH_CHECK(archive.try_read(child.key(), nested), "checkpoint: module '", key, "' has no submodule '",
                prefix + child.key(), "' in the checkpoint");
    check_module_shapes(nested, *child.value(), prefix + child.key() + ".", key);
  }
}

}  // namespace detail

/// A module's parameters and buffers, under `key`. `read` first checks that every parameter
/// and buffer is in the checkpoint with the model's shape (the first mismatch is named), then
/// loads them.
inline void write(torch::serialize::OutputArchive& archive, const std::string& key, const torch::nn::Module& module) {
  torch::serialize::OutputArchive nested(archive.compilation_unit());
  module.save(nested);
  archive.write(key, nested);
}
inline void read(torch::serialize::InputArchive& archive, const std::string& key, torch::nn::Module& module) {
  torch::serialize::InputArchive nested;
  TORCH_CHECK(archive.try_read(key, nested), "checkpoint: no module '", key, "' in the checkpoint");
  detail::check_module_shapes(nested, module, "", key);
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

/// An integer (step counters, epochs), under `key`. Reading a key that holds another type is
/// an error naming the key and the type found.
inline void write_int(torch::serialize::OutputArchive& archive, const std::string& key, int64_t value) {
  archive.write(key, c10::IValue(value));
}
inline int64_t read_int(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  TORCH_CHECK(archive.try_read(key, value), "checkpoint: no integer '", key, "' in the checkpoint");
  TORCH_CHECK(value.isInt(), "checkpoint: '", key, "' holds a ", value.tagKind(), " in the checkpoint, not an integer");
  return value.toInt();
}

/// A floating-point number, under `key`. An integer stored there is read as a number too;
/// any other type is an error naming the key.
inline void write_double(torch::serialize::OutputArchive& archive, const std::string& key, double value) {
  archive.write(key, c10::IValue(value));
}
inline double read_double(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  TORCH_CHECK(archive.try_read(key, value), "checkpoint: no number '", key, "' in the checkpoint");
  TORCH_CHECK(value.isDouble() || value.isInt(), "checkpoint: '", key, "' holds a ", value.tagKind(),
              " in the checkpoint, not a number");
  return value.isDouble() ? value.toDouble() : static_cast<double>(value.toInt());
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

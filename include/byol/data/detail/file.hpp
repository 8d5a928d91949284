#pragma once

// File reading shared by the data readers: whole files, gunzipped when they are gzip streams
// (zlib's gzread passes other files through unchanged), and plain bytes for images. Only
// regular files are read (checked on the opened descriptor), up to a size limit.

#include <c10/util/Exception.h>

#include <zlib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace byol::data::detail {

/// The largest dataset file (IDX, CIFAR records) the readers take, counted after
/// decompression: 4 GiB. A gzip stream that inflates beyond it is refused once it has; an IDX
/// file is also refused as soon as it inflates past the size its own header declares.
constexpr uint64_t kMaxDataFileBytes = uint64_t(4) << 30;

/// An open file descriptor, closed on destruction unless released.
struct FileDescriptor {
  int fd = -1;
  FileDescriptor() = default;
  explicit FileDescriptor(int value) : fd(value) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  FileDescriptor(FileDescriptor&& other) noexcept : fd(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&&) = delete;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    const int out = fd;
    fd = -1;
    return out;
  }
};

/// What `mode` is, in words, for errors about a file that is not a regular one.
inline const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

/// Opens `path` for reading, following a symlink, and checks on the OPENED descriptor (fstat,
/// so the file cannot be swapped after the check) that it is a regular file: a FIFO, a device
/// such as /dev/zero, a socket or a folder is refused with an error naming `who` and `path`.
/// The open is non-blocking, so a FIFO without a writer cannot block it. Sets `size`.
inline FileDescriptor open_regular_file(const std::string& path, const char* who, uint64_t& size) {
  FileDescriptor file(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (file.fd < 0) {
    const int saved = errno;
    TORCH_CHECK(saved != ENOENT, who, ": file '", path, "' does not exist");
    TORCH_CHECK(false, who, ": cannot open '", path, "': ", std::strerror(saved));
  }
  struct stat info {};
  TORCH_CHECK(::fstat(file.fd, &info) == 0, who, ": cannot stat '", path, "': ", std::strerror(errno));
  TORCH_CHECK(!S_ISDIR(info.st_mode), who, ": '", path, "' is a folder, expected a file");
  TORCH_CHECK(S_ISREG(info.st_mode), who, ": '", path, "' is ", file_kind(info.st_mode),
              ", not a regular file; only regular files are read");
  // Regular files never block; plain blocking reads from here on.
  const int flags = ::fcntl(file.fd, F_GETFL);
  if (flags >= 0) ::fcntl(file.fd, F_SETFL, flags & ~O_NONBLOCK);
  size = static_cast<uint64_t>(info.st_size);
  return file;
}

/// Fails with a message naming `who` and `path` unless `path` is an existing regular file (or a
/// link to one).
inline void check_regular_file(const std::string& path, const char* who) {
  uint64_t size = 0;
  (void)open_regular_file(path, who, size);
}

/// Given the first `size` bytes of a (decompressed) file, the total size its header declares,
/// or 0 while the header is incomplete.
using DeclaredSize = std::function<uint64_t(const uint8_t* data, size_t size)>;

/// The whole content of the regular file `path`; a gzip stream is decompressed (detected by its
/// magic bytes, as zlib does). A truncated or corrupt gzip stream is an error naming the file,
/// and so is content beyond `max_bytes` or beyond what `declared` (when given) says the file's
/// own header declares: reading stops there, so a small file cannot inflate to gigabytes.
inline std::vector<uint8_t> read_file(const std::string& path, const char* who,
                                      uint64_t max_bytes = kMaxDataFileBytes, const DeclaredSize& declared = nullptr) {
  uint64_t on_disk = 0;
  FileDescriptor fd = open_regular_file(path, who, on_disk);
  gzFile file = gzdopen(fd.fd, "rb");
  TORCH_CHECK(file != nullptr, who, ": cannot open '", path, "' (out of memory)");
  fd.release();  // gzclose_r closes it now
  std::unique_ptr<gzFile_s, int (*)(gzFile)> closer(file, gzclose_r);
  gzbuffer(file, 1 << 17);
  std::vector<uint8_t> bytes;
  constexpr size_t kChunk = size_t(1) << 20;
  uint64_t limit = max_bytes;
  bool from_header = false;
  for (;;) {
    const size_t used = bytes.size();
    // Ask for at most one byte past the limit: enough to know it is exceeded.
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, limit + 1 - used));
    bytes.resize(used + want);
    const int got = gzread(file, bytes.data() + used, static_cast<unsigned>(want));
    if (got < 0) {
      int code = Z_OK;
      const char* message = gzerror(file, &code);
      TORCH_CHECK(false, who, ": cannot read '", path, "': ", message != nullptr ? message : "read error",
                  " (zlib error ", code, ")");
    }
    bytes.resize(used + static_cast<size_t>(got));
    if (declared && !from_header) {
      const uint64_t total = declared(bytes.data(), bytes.size());
      if (total != 0 && total < limit) {
        limit = total;
        from_header = true;
      }
    }
    TORCH_CHECK(bytes.size() <= limit, who, ": '", path, "' holds more than ", limit, " bytes",
                from_header ? ", the size its header declares (reading stopped there)"
                            : " (decompressed), the most the data readers take",
                on_disk != bytes.size() ? " [" + std::to_string(on_disk) + " bytes on disk]" : std::string());
    if (got == 0) {
      break;
    }
  }
  // A gzip stream that ends early returns what it had and flags Z_BUF_ERROR.
  int code = Z_OK;
  const char* message = gzerror(file, &code);
  TORCH_CHECK(code == Z_OK || code == Z_STREAM_END, who, ": '", path, "' is a truncated or corrupt gzip stream (",
              message != nullptr ? message : "zlib error", ", after ", bytes.size(), " decompressed bytes)");
  bytes.shrink_to_fit();
  return bytes;
}

/// The raw bytes of the regular file `path` (no decompression): what an image decoder reads.
/// A file larger than `max_bytes` is refused before it is read.
inline std::vector<uint8_t> read_bytes(const std::string& path, const char* who,
                                       uint64_t max_bytes = kMaxDataFileBytes) {
  uint64_t size = 0;
  FileDescriptor fd = open_regular_file(path, who, size);
  TORCH_CHECK(size <= max_bytes, who, ": '", path, "' has ", size, " bytes, more than the limit of ", max_bytes,
              " bytes for one file");
  std::vector<uint8_t> bytes(static_cast<size_t>(size) + 1);  // one more: notices a file that grew
  size_t used = 0;
  for (;;) {
    if (used == bytes.size()) {
      TORCH_CHECK(bytes.size() <= max_bytes, who, ": '", path, "' grew past the limit of ", max_bytes,
                  " bytes while it was read");
      bytes.resize(std::min<size_t>(bytes.size() * 2, static_cast<size_t>(max_bytes) + 1));
    }
    const ssize_t got = ::read(fd.fd, bytes.data() + used, bytes.size() - used);
    if (got < 0 && errno == EINTR) continue;
    TORCH_CHECK(got >= 0, who, ": cannot read '", path, "': ", std::strerror(errno));
    if (got == 0) break;
    used += static_cast<size_t>(got);
  }
  bytes.resize(used);
  return bytes;
}

/// Writes `size` bytes to `path`, replacing it.
inline void write_bytes(const std::string& path, const uint8_t* data, size_t size, const char* who) {
  errno = 0;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  TORCH_CHECK(file != nullptr, who, ": cannot open '", path, "' for writing: ", std::strerror(errno));
  const size_t written = std::fwrite(data, 1, size, file);
  const bool flushed = std::fflush(file) == 0;
  const int saved = errno;
  const bool closed = std::fclose(file) == 0;
  TORCH_CHECK(written == size && flushed && closed, who, ": cannot write '", path, "': ", std::strerror(saved));
}

}  // namespace byol::data::detail

#pragma once

// File reading shared by the data readers: whole files, gunzipped when they are gzip streams
// (zlib's gzread passes other files through unchanged), and plain bytes for images.

#include <c10/util/Exception.h>

#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace byol::data::detail {

/// Fails with a message naming `who` and `path` unless `path` is an existing regular file (or a
/// link to one).
inline void check_regular_file(const std::string& path, const char* who) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  TORCH_CHECK(std::filesystem::exists(status), who, ": file '", path, "' does not exist");
  TORCH_CHECK(!std::filesystem::is_directory(status), who, ": '", path, "' is a folder, expected a file");
}

/// The whole content of `path`; a gzip stream is decompressed (detected by its magic bytes,
/// as zlib does). A truncated or corrupt gzip stream is an error naming the file.
inline std::vector<uint8_t> read_file(const std::string& path, const char* who) {
  check_regular_file(path, who);
  errno = 0;
  gzFile file = gzopen(path.c_str(), "rb");
  TORCH_CHECK(file != nullptr, who, ": cannot open '", path, "': ",
              errno != 0 ? std::strerror(errno) : "out of memory");
  std::unique_ptr<gzFile_s, int (*)(gzFile)> closer(file, gzclose_r);
  gzbuffer(file, 1 << 17);
  std::vector<uint8_t> bytes;
  constexpr size_t kChunk = size_t(1) << 20;
  for (;;) {
    const size_t used = bytes.size();
    bytes.resize(used + kChunk);
    const int got = gzread(file, bytes.data() + used, static_cast<unsigned>(kChunk));
    if (got < 0) {
      int code = Z_OK;
      const char* message = gzerror(file, &code);
      TORCH_CHECK(false, who, ": cannot read '", path, "': ", message != nullptr ? message : "read error",
                  " (zlib error ", code, ")");
    }
    bytes.resize(used + static_cast<size_t>(got));
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

/// The raw bytes of `path` (no decompression): what an image decoder reads.
inline std::vector<uint8_t> read_bytes(const std::string& path, const char* who) {
  check_regular_file(path, who);
  errno = 0;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  TORCH_CHECK(file != nullptr, who, ": cannot open '", path, "': ", std::strerror(errno));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(file, std::fclose);
  std::vector<uint8_t> bytes;
  constexpr size_t kChunk = size_t(1) << 16;
  for (;;) {
    const size_t used = bytes.size();
    bytes.resize(used + kChunk);
    const size_t got = std::fread(bytes.data() + used, 1, kChunk, file);
    bytes.resize(used + got);
    if (got < kChunk) {
      TORCH_CHECK(!std::ferror(file), who, ": cannot read '", path, "': ", std::strerror(errno));
      break;
    }
  }
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

/// The 64-bit finaliser of SplitMix64 (Steele, Lea and Flood 2014): a bijective mix in which
/// every input bit affects every output bit.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// A seed derived from a parent seed and one more coordinate; distinct coordinates give
/// unrelated seeds.
inline uint64_t mix_seed(uint64_t seed, uint64_t coordinate) {
  return splitmix64(seed ^ splitmix64(coordinate ^ 0x5851F42D4C957F2Dull));
}

}  // namespace byol::data::detail

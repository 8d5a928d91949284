#pragma once

// What the data layer's tests (test_idx, test_cifar, test_image, test_thread_pool,
// test_image_folder, test_loader) share: temporary folders, files written byte by byte, IDX
// headers, JPEGs from TurboJPEG's compressor, PNGs from libpng directly, and pixel patterns.

#include <byol/data.hpp>

#include "support.hpp"

#include <png.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csetjmp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace byol_test_data {

namespace fs = std::filesystem;
using byol_test::require_error;
using Bytes = std::vector<uint8_t>;

/// A fresh folder under the system temp dir, removed at the end of the test.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("byol_test_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline void write_file(const std::string& path, const Bytes& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

inline void write_text(const std::string& path, const std::string& text) { write_file(path, Bytes(text.begin(), text.end())); }

inline void write_gzip(const std::string& path, const Bytes& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(file) == Z_OK);
}

inline void save_png(const fs::path& path, const torch::Tensor& image) {
  fs::create_directories(path.parent_path());
  byol::data::write_png(path.string(), image);
}

inline Bytes read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void push_be32(Bytes& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

/// An IDX file: magic, big-endian sizes, data.
inline Bytes idx_file(uint32_t magic, const std::vector<uint32_t>& sizes, const Bytes& data) {
  Bytes out;
  push_be32(out, magic);
  for (const uint32_t s : sizes) {
    push_be32(out, s);
  }
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

inline uint8_t pixel_pattern(int64_t n, int64_t c, int64_t y, int64_t x) {
  return static_cast<uint8_t>((n * 31 + c * 7 + y * 3 + x * 11) % 256);
}

/// A JPEG from TurboJPEG's compressor: pixels are [h][w][channels], channels 1 (gray) or 3.
inline Bytes make_jpeg(const Bytes& pixels, int width, int height, int channels, int quality, int subsampling) {
  tjhandle tj = tjInitCompress();
  REQUIRE(tj != nullptr);
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, pixels.data(), width, 0, height, channels == 1 ? TJPF_GRAY : TJPF_RGB, &jpeg, &size,
                             channels == 1 ? TJSAMP_GRAY : subsampling, quality, TJFLAG_ACCURATEDCT);
  INFO(tjGetErrorStr2(tj));
  REQUIRE(rc == 0);
  Bytes out(jpeg, jpeg + size);
  tjFree(jpeg);
  tjDestroy(tj);
  return out;
}

inline Bytes flat_rgb(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  Bytes out;
  for (int i = 0; i < width * height; ++i) {
    out.insert(out.end(), {r, g, b});
  }
  return out;
}

/// A PNG written with libpng directly (not through byol), for the layouts our writer does not
/// produce: palette (with transparency), 16-bit, gray + alpha, 1-bit gray, interlaced.
struct RawPng {
  int width = 0, height = 0, color_type = PNG_COLOR_TYPE_RGB, bit_depth = 8;
  bool interlaced = false;
  std::vector<Bytes> rows;  // packed as PNG stores them (16-bit samples big-endian)
  std::vector<png_color> palette;
  Bytes transparency;
};

struct PngWriteContext {
  Bytes out;
};

inline void raw_png_write(png_structp png, png_bytep data, png_size_t n) {
  auto* ctx = static_cast<PngWriteContext*>(png_get_io_ptr(png));
  ctx->out.insert(ctx->out.end(), data, data + n);
}
inline void raw_png_flush(png_structp) {}

inline bool write_raw_png_into(const RawPng* spec, PngWriteContext* ctx, png_bytep* rows) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, ctx, raw_png_write, raw_png_flush);
  png_set_IHDR(png, info, static_cast<png_uint_32>(spec->width), static_cast<png_uint_32>(spec->height),
               spec->bit_depth, spec->color_type, spec->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!spec->palette.empty()) {
    png_set_PLTE(png, info, spec->palette.data(), static_cast<int>(spec->palette.size()));
  }
  if (!spec->transparency.empty()) {
    png_set_tRNS(png, info, spec->transparency.data(), static_cast<int>(spec->transparency.size()), nullptr);
  }
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

inline Bytes write_raw_png(RawPng spec) {
  std::vector<png_bytep> rows;
  for (auto& row : spec.rows) {
    rows.push_back(row.data());
  }
  PngWriteContext ctx;
  REQUIRE(write_raw_png_into(&spec, &ctx, rows.data()));
  return ctx.out;
}

inline std::vector<int64_t> as_vector(const torch::Tensor& t) {
  const auto c = t.to(torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

/// A [3, h, w] uint8 image whose pixel (c, y, x) is pixel_pattern(seed, c, y, x).
inline torch::Tensor pattern_image(int64_t seed, int64_t h, int64_t w, int64_t channels = 3) {
  auto t = torch::empty({channels, h, w}, torch::kByte);
  auto a = t.accessor<uint8_t, 3>();
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) a[c][y][x] = pixel_pattern(seed, c, y, x);
  return t;
}

}  // namespace byol_test_data

// The data layer on files the tests write themselves: IDX (raw and gzipped, written byte by
// byte here), CIFAR records, JPEGs from TurboJPEG's compressor, PNGs from libpng directly and
// from our writer; then corrupt, truncated and non-image files; then the loader's ordering,
// determinism, resume, shutdown and error propagation.
#include <byol/data.hpp>
#include <byol/learner.hpp>
#include <byol/optim/lars.hpp>
#include <byol/schedule.hpp>
#include <byol/train_state.hpp>
#include <byol/detail/compat.hpp>

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

namespace {

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

void write_file(const std::string& path, const Bytes& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

void write_text(const std::string& path, const std::string& text) { write_file(path, Bytes(text.begin(), text.end())); }

void write_gzip(const std::string& path, const Bytes& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(file) == Z_OK);
}

void save_png(const fs::path& path, const torch::Tensor& image) {
  fs::create_directories(path.parent_path());
  byol::data::write_png(path.string(), image);
}

Bytes read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void push_be32(Bytes& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

/// An IDX file: magic, big-endian sizes, data.
Bytes idx_file(uint32_t magic, const std::vector<uint32_t>& sizes, const Bytes& data) {
  Bytes out;
  push_be32(out, magic);
  for (const uint32_t s : sizes) {
    push_be32(out, s);
  }
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

uint8_t pixel_pattern(int64_t n, int64_t c, int64_t y, int64_t x) {
  return static_cast<uint8_t>((n * 31 + c * 7 + y * 3 + x * 11) % 256);
}

/// A JPEG from TurboJPEG's compressor: pixels are [h][w][channels], channels 1 (gray) or 3.
Bytes make_jpeg(const Bytes& pixels, int width, int height, int channels, int quality, int subsampling) {
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

Bytes flat_rgb(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
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

void raw_png_write(png_structp png, png_bytep data, png_size_t n) {
  auto* ctx = static_cast<PngWriteContext*>(png_get_io_ptr(png));
  ctx->out.insert(ctx->out.end(), data, data + n);
}
void raw_png_flush(png_structp) {}

bool write_raw_png_into(const RawPng* spec, PngWriteContext* ctx, png_bytep* rows) {
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

Bytes write_raw_png(RawPng spec) {
  std::vector<png_bytep> rows;
  for (auto& row : spec.rows) {
    rows.push_back(row.data());
  }
  PngWriteContext ctx;
  REQUIRE(write_raw_png_into(&spec, &ctx, rows.data()));
  return ctx.out;
}

std::vector<int64_t> as_vector(const torch::Tensor& t) {
  const auto c = t.to(torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

/// A [3, h, w] uint8 image whose pixel (c, y, x) is pixel_pattern(seed, c, y, x).
torch::Tensor pattern_image(int64_t seed, int64_t h, int64_t w, int64_t channels = 3) {
  auto t = torch::empty({channels, h, w}, torch::kByte);
  auto a = t.accessor<uint8_t, 3>();
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) a[c][y][x] = pixel_pattern(seed, c, y, x);
  return t;
}

}  // namespace

// ---- IDX --------------------------------------------------------------------------------------

TEST_CASE("IDX images and labels read exactly, raw and gzipped", "[data]") {
  TempDir dir("idx");
  const uint32_t n = 3, h = 4, w = 5;
  Bytes pixels;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t y = 0; y < h; ++y)
      for (uint32_t x = 0; x < w; ++x) pixels.push_back(pixel_pattern(i, 0, y, x));
  const Bytes images = idx_file(0x00000803, {n, h, w}, pixels);
  const Bytes labels = idx_file(0x00000801, {n}, {7, 0, 9});
  write_file(dir / "images", images);
  write_gzip(dir / "images.gz", images);
  write_file(dir / "labels", labels);
  write_gzip(dir / "labels.gz", labels);
  const Bytes gz = read_whole(dir / "images.gz");
  REQUIRE((gz.size() > 2 && gz[0] == 0x1f && gz[1] == 0x8b));  // really gzip

  for (const std::string suffix : {"", ".gz"}) {
    DYNAMIC_SECTION("suffix '" << suffix << "'") {
      const auto t = byol::data::read_idx_images(dir / ("images" + suffix));
      REQUIRE(t.sizes() == torch::IntArrayRef({3, 1, 4, 5}));
      REQUIRE(t.scalar_type() == torch::kByte);
      auto a = t.accessor<uint8_t, 4>();
      for (uint32_t i = 0; i < n; ++i)
        for (uint32_t y = 0; y < h; ++y)
          for (uint32_t x = 0; x < w; ++x) REQUIRE(a[i][0][y][x] == pixel_pattern(i, 0, y, x));
      const auto l = byol::data::read_idx_labels(dir / ("labels" + suffix));
      REQUIRE(l.scalar_type() == torch::kLong);
      CHECK(as_vector(l) == std::vector<int64_t>({7, 0, 9}));
    }
  }
  // read_idx keeps the header's own shape.
  CHECK(byol::data::read_idx(dir / "images.gz").sizes() == torch::IntArrayRef({3, 4, 5}));
}

TEST_CASE("IDX errors name the file: truncated, wrong magic, trailing bytes, not IDX, missing", "[data]") {
  TempDir dir("idx_bad");
  Bytes pixels(2 * 3 * 3, 42);
  const Bytes images = idx_file(0x00000803, {2, 3, 3}, pixels);  // 16 + 18 = 34 bytes
  write_file(dir / "short", Bytes(images.begin(), images.end() - 5));
  require_error([&] { byol::data::read_idx_images(dir / "short"); },
                {"read_idx_images", dir / "short", "truncated", "needs 34 bytes", "has 29"});
  // Truncated gzip: the stream itself is cut.
  write_gzip(dir / "full.gz", images);
  const Bytes gz = read_whole(dir / "full.gz");
  write_file(dir / "cut.gz", Bytes(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2)));
  require_error([&] { byol::data::read_idx_images(dir / "cut.gz"); }, {"read_idx_images", dir / "cut.gz"});
  // A gzip of a file that is itself short: the IDX size check names it.
  write_gzip(dir / "short.gz", Bytes(images.begin(), images.end() - 1));
  require_error([&] { byol::data::read_idx_images(dir / "short.gz"); },
                {dir / "short.gz", "truncated", "needs 34 bytes", "has 33"});
  // Labels where images are expected, and the other way round.
  write_file(dir / "labels", idx_file(0x00000801, {2}, {1, 2}));
  require_error([&] { byol::data::read_idx_images(dir / "labels"); },
                {dir / "labels", "magic number 0x00000801", "expected 0x00000803"});
  write_file(dir / "images", images);
  require_error([&] { byol::data::read_idx_labels(dir / "images"); },
                {dir / "images", "magic number 0x00000803", "expected 0x00000801"});
  Bytes longer = images;
  longer.push_back(0);
  write_file(dir / "long", longer);
  require_error([&] { byol::data::read_idx_images(dir / "long"); }, {dir / "long", "1 bytes after"});
  write_text(dir / "text", "hello, this is not an IDX file");
  require_error([&] { byol::data::read_idx(dir / "text"); }, {dir / "text", "not an IDX file"});
  write_file(dir / "float", idx_file(0x00000D01, {1}, {0, 0, 0, 0}));
  require_error([&] { byol::data::read_idx(dir / "float"); }, {dir / "float", "type 0x0d"});
  write_file(dir / "tiny", {0, 0});
  require_error([&] { byol::data::read_idx(dir / "tiny"); }, {dir / "tiny", "too short", "2 bytes"});
  require_error([&] { byol::data::read_idx(dir / "missing"); }, {dir / "missing", "does not exist"});
  require_error([&] { byol::data::read_idx(dir.path.string()); }, {"is a folder"});
  // A corrupt header claiming 2^32 - 1 images fails on the size check, without allocating them.
  write_file(dir / "huge", idx_file(0x00000803, {0xFFFFFFFFu, 28, 28}, pixels));
  require_error([&] { byol::data::read_idx_images(dir / "huge"); }, {dir / "huge", "truncated"});
}

TEST_CASE("load_mnist / load_fashion_mnist read the four files and name what is missing", "[data]") {
  TempDir dir("mnist");
  Bytes train_pixels(5 * 28 * 28), test_pixels(2 * 28 * 28);
  for (size_t i = 0; i < train_pixels.size(); ++i) train_pixels[i] = static_cast<uint8_t>(i % 251);
  for (size_t i = 0; i < test_pixels.size(); ++i) test_pixels[i] = static_cast<uint8_t>(i % 7);
  write_gzip(dir / "train-images-idx3-ubyte.gz", idx_file(0x803, {5, 28, 28}, train_pixels));
  write_gzip(dir / "train-labels-idx1-ubyte.gz", idx_file(0x801, {5}, {1, 2, 3, 4, 5}));
  write_file(dir / "t10k-images-idx3-ubyte", idx_file(0x803, {2, 28, 28}, test_pixels));
  write_file(dir / "t10k-labels-idx1-ubyte", idx_file(0x801, {2}, {9, 8}));

  const auto train = byol::data::load_fashion_mnist(dir.path.string());
  CHECK(train.images.sizes() == torch::IntArrayRef({5, 1, 28, 28}));
  CHECK(as_vector(train.labels) == std::vector<int64_t>({1, 2, 3, 4, 5}));
  CHECK(train.images.flatten()[300].item<int64_t>() == 300 % 251);
  const auto test = byol::data::load_mnist(dir.path.string(), byol::data::Split::test);
  CHECK(test.size() == 2);
  CHECK(as_vector(test.labels) == std::vector<int64_t>({9, 8}));
  CHECK(byol::data::mnist_files_present(dir.path.string(), byol::data::Split::test));

  require_error([&] { byol::data::load_fashion_mnist(dir / "nowhere"); },
                {"load_fashion_mnist", dir / "nowhere", "does not exist", "dataset-fashion-mnist"});
  require_error([&] { byol::data::load_mnist(dir / "nowhere"); }, {"load_mnist", dir / "nowhere", "does not exist"});
  fs::remove(dir / "t10k-labels-idx1-ubyte");
  CHECK_FALSE(byol::data::mnist_files_present(dir.path.string(), byol::data::Split::test));
  require_error([&] { byol::data::load_fashion_mnist(dir.path.string(), byol::data::Split::test); },
                {"t10k-labels-idx1-ubyte", dir.path.string(), "dataset-fashion-mnist"});
  write_file(dir / "t10k-labels-idx1-ubyte", idx_file(0x801, {3}, {9, 8, 7}));
  require_error([&] { byol::data::load_mnist(dir.path.string(), byol::data::Split::test); },
                {"2 images", "3 labels"});
}

// Its own CTest entry (unit.data_fashion_mnist), reported as skipped without the data.
TEST_CASE("The real Fashion-MNIST, when dataset-fashion-mnist is installed", "[data][fashion_mnist_files]") {
  const std::string root = byol::data::kFashionMnistRoot;
  if (!byol::data::mnist_files_present(root, byol::data::Split::train) ||
      !byol::data::mnist_files_present(root, byol::data::Split::test)) {
    WARN("no Fashion-MNIST: case not run (" << root << "; Debian package dataset-fashion-mnist)");
    return;
  }
  const auto train = byol::data::load_fashion_mnist();
  const auto test = byol::data::load_fashion_mnist(root, byol::data::Split::test);
  CHECK(train.images.sizes() == torch::IntArrayRef({60000, 1, 28, 28}));
  CHECK(test.images.sizes() == torch::IntArrayRef({10000, 1, 28, 28}));
  // The dataset is balanced: 6000 training and 1000 test images per class, labels 0..9.
  CHECK(as_vector(torch::bincount(train.labels)) == std::vector<int64_t>(10, 6000));
  CHECK(as_vector(torch::bincount(test.labels)) == std::vector<int64_t>(10, 1000));
  CHECK(train.images.max().item<int64_t>() == 255);
  CHECK(train.images.min().item<int64_t>() == 0);
}

// ---- CIFAR ------------------------------------------------------------------------------------

namespace {
Bytes cifar_records(int64_t first, int64_t count, const std::vector<std::vector<uint8_t>>& labels) {
  Bytes out;
  for (int64_t r = 0; r < count; ++r) {
    for (const uint8_t l : labels[static_cast<size_t>(r)]) out.push_back(l);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) out.push_back(pixel_pattern(first + r, c, y, x));
  }
  return out;
}

void check_cifar_pixels(const torch::Tensor& images) {
  REQUIRE(images.scalar_type() == torch::kByte);
  auto a = images.accessor<uint8_t, 4>();
  for (int64_t n = 0; n < images.size(0); ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) REQUIRE(a[n][c][y][x] == pixel_pattern(n, c, y, x));
}
}  // namespace

TEST_CASE("CIFAR-10 and CIFAR-100 records read exactly, files concatenated in order", "[data]") {
  TempDir dir("cifar");
  write_file(dir / "data_batch_1.bin", cifar_records(0, 2, {{3}, {9}}));
  write_gzip(dir / "data_batch_2.bin", cifar_records(2, 3, {{0}, {5}, {1}}));  // gzipped is fine too
  const auto c10 = byol::data::read_cifar10({dir / "data_batch_1.bin", dir / "data_batch_2.bin"});
  REQUIRE(c10.images.sizes() == torch::IntArrayRef({5, 3, 32, 32}));
  check_cifar_pixels(c10.images);
  CHECK(as_vector(c10.labels) == std::vector<int64_t>({3, 9, 0, 5, 1}));
  CHECK_FALSE(c10.coarse_labels.defined());

  write_file(dir / "train.bin", cifar_records(0, 3, {{19, 99}, {0, 0}, {4, 42}}));
  const auto c100 = byol::data::read_cifar100({dir / "train.bin"});
  REQUIRE(c100.images.sizes() == torch::IntArrayRef({3, 3, 32, 32}));
  check_cifar_pixels(c100.images);
  CHECK(as_vector(c100.labels) == std::vector<int64_t>({99, 0, 42}));
  CHECK(as_vector(c100.coarse_labels) == std::vector<int64_t>({19, 0, 4}));
  CHECK(byol::data::load_cifar100(dir.path.string()).size() == 3);
}

TEST_CASE("CIFAR errors name the file: truncated, wrong variant, bad label, missing", "[data]") {
  TempDir dir("cifar_bad");
  Bytes two = cifar_records(0, 2, {{1}, {2}});
  write_file(dir / "cut.bin", Bytes(two.begin(), two.end() - 100));
  require_error([&] { byol::data::read_cifar10({dir / "cut.bin"}); },
                {"read_cifar10", dir / "cut.bin", "6046 bytes", "3073", "truncated"});
  write_file(dir / "c100.bin", cifar_records(0, 2, {{1, 50}, {2, 60}}));
  require_error([&] { byol::data::read_cifar10({dir / "c100.bin"}); }, {dir / "c100.bin", "6148 bytes", "3073"});
  write_file(dir / "label.bin", cifar_records(0, 2, {{1}, {10}}));
  require_error([&] { byol::data::read_cifar10({dir / "label.bin"}); },
                {dir / "label.bin", "record 1", "label 10", "0..9"});
  write_file(dir / "fine.bin", cifar_records(0, 1, {{3, 100}}));
  require_error([&] { byol::data::read_cifar100({dir / "fine.bin"}); }, {dir / "fine.bin", "fine label 100", "0..99"});
  write_file(dir / "empty.bin", {});
  require_error([&] { byol::data::read_cifar10({dir / "empty.bin"}); }, {dir / "empty.bin", "0 bytes"});
  require_error([&] { byol::data::read_cifar10({}); }, {"read_cifar10", "no files"});
  require_error([&] { byol::data::read_cifar10({dir / "absent.bin"}); }, {dir / "absent.bin", "does not exist"});
  require_error([&] { byol::data::load_cifar10(dir / "nowhere"); }, {"load_cifar10", dir / "nowhere"});
  require_error([&] { byol::data::load_cifar10(dir.path.string()); }, {"data_batch_1.bin", "does not exist"});
}

// ---- image decoding and PNG writing -------------------------------------------------------------

TEST_CASE("write_png / encode_png: exact round trips, header fields, float scaling", "[data]") {
  TempDir dir("png");
  const auto rgb = torch::randint(0, 256, {3, 7, 5}, torch::kByte);
  byol::data::write_png(dir / "rgb.png", rgb);
  const Bytes file = read_whole(dir / "rgb.png");
  // PNG signature, then IHDR: width 5, height 7 (big-endian), bit depth 8, colour type 2 (RGB).
  const Bytes signature = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  REQUIRE(file.size() > 33);
  CHECK(Bytes(file.begin(), file.begin() + 8) == signature);
  CHECK(Bytes(file.begin() + 12, file.begin() + 16) == Bytes({'I', 'H', 'D', 'R'}));
  CHECK(Bytes(file.begin() + 16, file.begin() + 26) == Bytes({0, 0, 0, 5, 0, 0, 0, 7, 8, 2}));
  CHECK(torch::equal(byol::data::read_image(dir / "rgb.png"), rgb));

  const auto gray = torch::randint(0, 256, {1, 6, 4}, torch::kByte);
  const Bytes gray_png = byol::data::encode_png(gray);
  CHECK(gray_png[25] == 0);  // colour type 0: gray
  const auto keep = byol::data::decode_image(gray_png, byol::data::DecodeOptions().mode(byol::data::ImageMode::keep));
  CHECK(torch::equal(keep, gray));
  const auto as_rgb = byol::data::decode_image(gray_png);
  CHECK(torch::equal(as_rgb, gray.expand({3, 6, 4})));

  // Floats: [0, 1] scaled by 255 and rounded; out of range clipped; NaN -> 0.
  const auto values = torch::tensor({0.0f, 0.5f, 1.0f, 1.2f, -0.1f, std::nanf(""), 0.2f, 0.999f}).reshape({1, 2, 4});
  const auto back = byol::data::decode_image(byol::data::encode_png(values),
                                             byol::data::DecodeOptions().mode(byol::data::ImageMode::keep));
  CHECK(as_vector(back) == std::vector<int64_t>({0, 128, 255, 255, 0, 0, 51, 255}));
  // double and a non-contiguous view go through too.
  const auto wide = torch::rand({5, 3, 4}, torch::kDouble).permute({1, 0, 2});  // [3, 5, 4]
  const auto expected = wide.mul(255).round().to(torch::kByte);
  CHECK(torch::equal(byol::data::decode_image(byol::data::encode_png(wide)), expected));

  require_error([&] { byol::data::write_png(dir / "x.png", torch::zeros({2, 4, 4}, torch::kByte)); },
                {"write_png", "[3, H, W] or [1, H, W]", "[2, 4, 4]"});
  require_error([&] { byol::data::write_png(dir / "x.png", torch::zeros({4, 4}, torch::kByte)); }, {"[4, 4]"});
  require_error([&] { byol::data::write_png(dir / "x.png", torch::zeros({3, 4, 4}, torch::kLong)); },
                {"write_png", "uint8", "Long"});
  require_error([&] { byol::data::write_png(dir / "x.png", torch::zeros({3, 0, 4}, torch::kByte)); }, {"no pixels"});
  require_error([&] { byol::data::write_png(dir / "no/such/folder/x.png", rgb); },
                {"write_png", dir / "no/such/folder/x.png"});
  require_error([&] { byol::data::encode_png(rgb, 10); }, {"compression_level", "10"});
}

TEST_CASE("PNG layouts our writer does not make decode to the values written", "[data]") {
  SECTION("palette with transparency -> RGB of the entries, alpha dropped") {
    RawPng spec;
    spec.width = 3;
    spec.height = 2;
    spec.color_type = PNG_COLOR_TYPE_PALETTE;
    spec.palette = {{10, 20, 30}, {200, 100, 0}, {1, 2, 3}};
    spec.transparency = {0, 128};
    spec.rows = {{0, 1, 2}, {2, 2, 1}};
    const auto t = byol::data::decode_image(write_raw_png(spec));
    REQUIRE(t.sizes() == torch::IntArrayRef({3, 2, 3}));
    const std::vector<std::vector<int>> index = {{0, 1, 2}, {2, 2, 1}};
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x) {
        const png_color e = spec.palette[static_cast<size_t>(index[y][x])];
        CHECK(t[0][y][x].item<int>() == e.red);
        CHECK(t[1][y][x].item<int>() == e.green);
        CHECK(t[2][y][x].item<int>() == e.blue);
      }
    // A palette image counts as colour: keep gives 3 channels.
    CHECK(byol::data::decode_image(write_raw_png(spec), byol::data::DecodeOptions().mode(byol::data::ImageMode::keep))
              .size(0) == 3);
  }
  SECTION("16-bit RGB -> round(v * 255 / 65535)") {
    RawPng spec;
    spec.width = 2;
    spec.height = 1;
    spec.bit_depth = 16;
    // v = 257 k + d with |d| < 128 rounds to k.
    const std::vector<int> v = {0, 65535, 257 * 100 + 60, 257 * 7 - 100, 257 * 200, 257 * 1 + 100};
    Bytes row;
    for (const int s : v) row.insert(row.end(), {static_cast<uint8_t>(s >> 8), static_cast<uint8_t>(s & 255)});
    spec.rows = {row};
    const auto t = byol::data::decode_image(write_raw_png(spec));
    REQUIRE(t.sizes() == torch::IntArrayRef({3, 1, 2}));
    // Interleaved RGB: pixel 0 = (v0, v1, v2), pixel 1 = (v3, v4, v5).
    CHECK(as_vector(t.permute({1, 2, 0}).flatten()) == std::vector<int64_t>({0, 255, 100, 7, 200, 1}));
  }
  SECTION("gray + alpha keeps the gray; 1-bit gray expands to 0 / 255; gray mode of colour") {
    RawPng ga;
    ga.width = 2;
    ga.height = 1;
    ga.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
    ga.rows = {{17, 0, 230, 255}};
    const auto keep = byol::data::decode_image(write_raw_png(ga), byol::data::DecodeOptions().mode(byol::data::ImageMode::keep));
    CHECK(keep.sizes() == torch::IntArrayRef({1, 1, 2}));
    CHECK(as_vector(keep) == std::vector<int64_t>({17, 230}));

    RawPng bits;
    bits.width = 10;
    bits.height = 1;
    bits.color_type = PNG_COLOR_TYPE_GRAY;
    bits.bit_depth = 1;
    bits.rows = {{0xA5, 0x80}};  // 1010 0101 | 10
    const auto b = byol::data::decode_image(write_raw_png(bits), byol::data::DecodeOptions().mode(byol::data::ImageMode::gray));
    CHECK(as_vector(b) == std::vector<int64_t>({255, 0, 255, 0, 0, 255, 0, 255, 255, 0}));

    // Colour to gray: round(0.299 R + 0.587 G + 0.114 B).
    const auto colour = torch::tensor({200, 10, 0, 50, 250, 255}, torch::kByte).reshape({3, 1, 2});
    const auto g = byol::data::decode_image(byol::data::encode_png(colour),
                                            byol::data::DecodeOptions().mode(byol::data::ImageMode::gray));
    const int expected0 = static_cast<int>(std::lround(0.299 * 200 + 0.587 * 0 + 0.114 * 250));
    const int expected1 = static_cast<int>(std::lround(0.299 * 10 + 0.587 * 50 + 0.114 * 255));
    CHECK(as_vector(g) == std::vector<int64_t>({expected0, expected1}));
  }
  SECTION("Adam7 interlacing is undone") {
    RawPng spec;
    spec.width = 9;
    spec.height = 11;
    spec.interlaced = true;
    const auto image = pattern_image(5, 11, 9);
    for (int y = 0; y < 11; ++y) {
      Bytes row;
      for (int x = 0; x < 9; ++x)
        for (int c = 0; c < 3; ++c) row.push_back(pixel_pattern(5, c, y, x));
      spec.rows.push_back(row);
    }
    CHECK(torch::equal(byol::data::decode_image(write_raw_png(spec)), image));
  }
}

TEST_CASE("JPEG decoding: layout, colour, gray, odd sizes, against TurboJPEG's compressor", "[data]") {
  SECTION("a flat colour at quality 100 comes back within 2 levels") {
    const Bytes jpeg = make_jpeg(flat_rgb(13, 9, 200, 100, 50), 13, 9, 3, 100, TJSAMP_444);
    const auto t = byol::data::decode_jpeg(jpeg.data(), jpeg.size());
    REQUIRE(t.sizes() == torch::IntArrayRef({3, 9, 13}));
    REQUIRE(t.scalar_type() == torch::kByte);
    const auto expected = torch::tensor({200, 100, 50}, torch::kInt).reshape({3, 1, 1}).expand({3, 9, 13});
    CHECK((t.to(torch::kInt) - expected).abs().max().item<int>() <= 2);
  }
  SECTION("left red, right blue: channels and columns land where they belong") {
    Bytes pixels;
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 32; ++x) {
        if (x < 16) pixels.insert(pixels.end(), {255, 0, 0});
        else pixels.insert(pixels.end(), {0, 0, 255});
      }
    const Bytes jpeg = make_jpeg(pixels, 32, 16, 3, 100, TJSAMP_444);
    const auto t = byol::data::decode_image(jpeg).to(torch::kInt);
    CHECK(t[0][8][2].item<int>() > 245);
    CHECK(t[2][8][2].item<int>() < 10);
    CHECK(t[0][8][29].item<int>() < 10);
    CHECK(t[2][8][29].item<int>() > 245);
  }
  SECTION("a smooth image at quality 95 with 4:2:0 stays close") {
    Bytes pixels;
    for (int y = 0; y < 24; ++y)
      for (int x = 0; x < 40; ++x)
        pixels.insert(pixels.end(), {static_cast<uint8_t>(4 * x), static_cast<uint8_t>(8 * y), 128});
    const Bytes jpeg = make_jpeg(pixels, 40, 24, 3, 95, TJSAMP_420);
    const auto t = byol::data::decode_image(jpeg).to(torch::kFloat);
    const auto source = torch::tensor(std::vector<int64_t>(pixels.begin(), pixels.end()))
                            .reshape({24, 40, 3}).permute({2, 0, 1}).to(torch::kFloat);
    CHECK((t - source).abs().mean().item<double>() < 2.0);
  }
  SECTION("gray JPEG: keep gives 1 channel, rgb replicates it") {
    Bytes pixels(10 * 6);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = 77;
    const Bytes jpeg = make_jpeg(pixels, 10, 6, 1, 100, TJSAMP_GRAY);
    const auto keep = byol::data::decode_image(jpeg, byol::data::DecodeOptions().mode(byol::data::ImageMode::keep));
    REQUIRE(keep.sizes() == torch::IntArrayRef({1, 6, 10}));
    CHECK((keep.to(torch::kInt) - 77).abs().max().item<int>() <= 1);
    const auto rgb = byol::data::decode_image(jpeg);
    REQUIRE(rgb.sizes() == torch::IntArrayRef({3, 6, 10}));
    CHECK(torch::equal(rgb[0], rgb[1]));
    CHECK(torch::equal(rgb[1], rgb[2]));
  }
}

TEST_CASE("Decoding errors name the input: garbage, truncated, CRC, not an image, empty, too large", "[data]") {
  TempDir dir("decode_bad");
  Bytes busy;  // detail everywhere: most of the file is entropy-coded data, not headers
  for (int i = 0; i < 64 * 64 * 3; ++i) busy.push_back(static_cast<uint8_t>((i * 7919) % 251));
  const Bytes jpeg = make_jpeg(busy, 64, 64, 3, 90, TJSAMP_420);
  Bytes garbage = {0xFF, 0xD8, 0xFF};
  for (int i = 0; i < 200; ++i) garbage.push_back(static_cast<uint8_t>(i * 37 + 11));
  write_file(dir / "garbage.jpg", garbage);
  require_error([&] { byol::data::read_image(dir / "garbage.jpg"); }, {"read_image", dir / "garbage.jpg", "JPEG"});

  const Bytes cut_jpeg(jpeg.begin(), jpeg.begin() + static_cast<long>(jpeg.size() * 3 / 4));
  require_error([&] { byol::data::decode_image(cut_jpeg, {}, "half.jpg"); }, {"decode_image", "half.jpg"});
  // Not strict: libjpeg's warning is accepted and the full-size image comes back.
  const auto lenient = byol::data::decode_image(cut_jpeg, byol::data::DecodeOptions().strict(false));
  CHECK(lenient.sizes() == torch::IntArrayRef({3, 64, 64}));

  const Bytes png = byol::data::encode_png(pattern_image(1, 16, 16));
  const Bytes cut_png(png.begin(), png.begin() + static_cast<long>(png.size() / 2));
  require_error([&] { byol::data::decode_image(cut_png, {}, "half.png"); }, {"half.png", "truncated"});
  // Cut after the pixel data: only the strict read through IEND notices.
  const Bytes no_end(png.begin(), png.end() - 12);
  require_error([&] { byol::data::decode_image(no_end, {}, "no_end.png"); }, {"no_end.png"});
  CHECK(torch::equal(byol::data::decode_image(no_end, byol::data::DecodeOptions().strict(false)),
                     pattern_image(1, 16, 16)));
  Bytes flipped = png;
  flipped[png.size() / 2] ^= 0x55;  // inside IDAT: its CRC no longer matches
  require_error([&] { byol::data::decode_image(flipped, {}, "flipped.png"); }, {"flipped.png"});

  write_text(dir / "text.png", "I am a text file with a .png name\n");
  require_error([&] { byol::data::read_image(dir / "text.png"); },
                {dir / "text.png", "neither a JPEG nor a PNG", "49 20 61 6D"});
  write_file(dir / "empty.png", {});
  require_error([&] { byol::data::read_image(dir / "empty.png"); }, {dir / "empty.png", "empty"});
  require_error([&] { byol::data::read_image(dir / "absent.png"); }, {dir / "absent.png", "does not exist"});
  require_error([&] { byol::data::decode_image(jpeg, byol::data::DecodeOptions().max_pixels(64 * 63), "big.jpg"); },
                {"big.jpg", "64x64", "max_pixels"});
  require_error([&] { byol::data::decode_image(png, byol::data::DecodeOptions().max_pixels(100), "big.png"); },
                {"big.png", "max_pixels"});
  require_error([&] { byol::data::decode_image(torch::zeros({2, 2}, torch::kByte)); }, {"1-D uint8", "[2, 2]"});

  CHECK(byol::data::sniff_image_format(jpeg.data(), jpeg.size()) == byol::data::ImageFormat::jpeg);
  CHECK(byol::data::sniff_image_format(png.data(), png.size()) == byol::data::ImageFormat::png);
  CHECK(byol::data::sniff_image_format(png.data(), 7) == byol::data::ImageFormat::unknown);
  // The tensor overload decodes the same bytes.
  const auto bytes = torch::tensor(std::vector<int64_t>(png.begin(), png.end())).to(torch::kByte);
  CHECK(torch::equal(byol::data::decode_image(bytes), pattern_image(1, 16, 16)));
}

// ---- ThreadPool ---------------------------------------------------------------------------------

TEST_CASE("ThreadPool runs every index once, rethrows, and runs nested calls inline", "[data]") {
  for (const int64_t threads : {0, 1, 3}) {
    DYNAMIC_SECTION(threads << " threads") {
      byol::data::ThreadPool pool(threads);
      std::vector<std::atomic<int>> hits(1000);
      pool.parallel_for(1000, [&](int64_t i) { hits[static_cast<size_t>(i)]++; });
      for (auto& h : hits) REQUIRE(h.load() == 1);
      std::atomic<int> done{0};
      require_error(
          [&] {
            pool.parallel_for(50, [&](int64_t i) {
              TORCH_CHECK(i != 17, "item ", i, " failed");
              done++;
            });
          },
          {"item 17 failed"});
      CHECK(done.load() == 49);  // the others still ran
      std::atomic<int> inner{0};
      pool.parallel_for(4, [&](int64_t) { pool.parallel_for(5, [&](int64_t) { inner++; }); });
      CHECK(inner.load() == 20);
    }
  }
  require_error([] { byol::data::ThreadPool(-1); }, {"num_threads", "-1"});
}

// ---- ImageFolder --------------------------------------------------------------------------------

TEST_CASE("ImageFolder: classes, file order, labels and pixels", "[data]") {
  TempDir dir("folder");
  const auto root = dir.path;
  save_png(root / "cat/b.png", pattern_image(1, 5, 6));
  write_file((root / "cat/a.JPG").string(), make_jpeg(flat_rgb(8, 8, 250, 5, 5), 8, 8, 3, 100, TJSAMP_444));
  fs::create_directories(root / "cat/sub");
  save_png(root / "cat/sub/c.jpeg.png", pattern_image(2, 3, 3));
  save_png(root / "dog/x.PNG", pattern_image(3, 4, 7, 1));  // gray
  write_text((root / "dog/notes.txt").string(), "not an image");
  fs::create_directories(root / "empty_class");
  write_text((root / "readme.png").string(), "files in the root are not samples");

  byol::data::ImageFolder folder(byol::data::ImageFolderOptions(root.string()).num_workers(2));
  CHECK(folder.classes() == std::vector<std::string>({"cat", "dog", "empty_class"}));
  REQUIRE(folder.size() == 4);
  CHECK(folder.paths() == std::vector<std::string>({(root / "cat/a.JPG").string(), (root / "cat/b.png").string(),
                                                   (root / "cat/sub/c.jpeg.png").string(),
                                                   (root / "dog/x.PNG").string()}));
  CHECK(as_vector(folder.labels()) == std::vector<int64_t>({0, 0, 0, 1}));
  const auto red = folder.get(0);
  CHECK(red.label == 0);
  CHECK(red.image.sizes() == torch::IntArrayRef({3, 8, 8}));
  CHECK((red.image.to(torch::kInt) - torch::tensor({250, 5, 5}, torch::kInt).reshape({3, 1, 1})).abs().max().item<int>() <= 2);
  CHECK(torch::equal(folder.get(1).image, pattern_image(1, 5, 6)));
  const auto gray = folder.get(3);
  CHECK(gray.label == 1);
  CHECK(torch::equal(gray.image, pattern_image(3, 4, 7, 1).expand({3, 4, 7})));  // replicated to RGB

  const auto batch = folder.get_batch({3, 1, 1});
  REQUIRE(batch.images.size() == 3);
  CHECK(torch::equal(batch.images[1], pattern_image(1, 5, 6)));
  CHECK(as_vector(batch.labels) == std::vector<int64_t>({1, 0, 0}));
  CHECK(as_vector(batch.indices) == std::vector<int64_t>({3, 1, 1}));
  CHECK(folder.skipped_count() == 0);

  byol::data::ImageFolder gray_folder(
      byol::data::ImageFolderOptions(root.string()).decode(byol::data::DecodeOptions().mode(byol::data::ImageMode::gray)));
  CHECK(gray_folder.get(3).image.sizes() == torch::IntArrayRef({1, 4, 7}));
  // Extensions are an option (and compared case-insensitively).
  byol::data::ImageFolder only_jpeg(byol::data::ImageFolderOptions(root.string()).extensions({".jpg"}));
  CHECK(only_jpeg.size() == 1);

  require_error([&] { folder.get(4); }, {"ImageFolder::get", "index 4", "4 samples"});
  require_error([&] { folder.get_batch({0, -1}); }, {"get_batch", "index -1"});
}

TEST_CASE("ImageFolder skips, counts and names corrupt, truncated and non-image files", "[data]") {
  TempDir dir("folder_bad");
  const auto root = dir.path;
  save_png(root / "a/good.png", pattern_image(1, 4, 4));
  Bytes garbage = {0xFF, 0xD8, 0xFF};
  for (int i = 0; i < 100; ++i) garbage.push_back(static_cast<uint8_t>(i * 13 + 1));
  write_file((root / "a/garbage.jpg").string(), garbage);
  const Bytes png = byol::data::encode_png(pattern_image(2, 8, 8));
  write_file((root / "a/truncated.png").string(), Bytes(png.begin(), png.begin() + static_cast<long>(png.size() / 2)));
  write_text((root / "b/text.png").string(), "just text\n");
  write_file((root / "b/good.jpg").string(), make_jpeg(flat_rgb(6, 6, 0, 0, 250), 6, 6, 3, 100, TJSAMP_444));
  const std::set<std::string> bad = {(root / "a/garbage.jpg").string(), (root / "a/truncated.png").string(),
                                     (root / "b/text.png").string()};

  for (const int64_t workers : {0, 1, 3}) {
    DYNAMIC_SECTION(workers << " decoding threads") {
      std::vector<std::string> warnings;
      byol::data::ImageFolder folder(
          byol::data::ImageFolderOptions(root.string()).num_workers(workers).on_skip([&](const byol::data::SkippedFile& f) {
            warnings.push_back(f.reason);
          }));
      REQUIRE(folder.size() == 5);  // a/garbage.jpg a/good.png a/truncated.png b/good.jpg b/text.png
      const auto batch = folder.get_batch({0, 1, 2, 3, 4});
      REQUIRE(batch.images.size() == 2);
      CHECK(as_vector(batch.indices) == std::vector<int64_t>({1, 3}));
      CHECK(as_vector(batch.labels) == std::vector<int64_t>({0, 1}));
      CHECK(torch::equal(batch.images[0], pattern_image(1, 4, 4)));
      CHECK(folder.skipped_count() == 3);
      const auto skipped = folder.skipped_files();
      std::set<std::string> named;
      for (const auto& s : skipped) {
        named.insert(s.path);
        CHECK(s.reason.find(s.path) != std::string::npos);  // the reason names the file
      }
      CHECK(named == bad);
      REQUIRE(warnings.size() == 3);
      for (size_t k = 0; k < 3; ++k) {
        CHECK(warnings[k].find(skipped[k].path) != std::string::npos);
      }
      // Known-bad files are skipped without a second warning; the count stays.
      const auto again = folder.get_batch({2, 1, 0});
      CHECK(again.images.size() == 1);
      CHECK(warnings.size() == 3);
      CHECK(folder.skipped_count() == 3);
      // get() does not skip: it throws, naming the file.
      require_error([&] { folder.get(4); }, {(root / "b/text.png").string(), "neither a JPEG nor a PNG"});
    }
  }
  SECTION("the default report is a warning; a copy shares the record") {
    byol::data::ImageFolder folder(byol::data::ImageFolderOptions(root.string()).num_workers(2));
    byol::data::ImageFolder copy = folder;
    CHECK(copy.get_batch({0, 1}).images.size() == 1);
    CHECK(folder.skipped_count() == 1);
    CHECK(folder.skipped_files()[0].path == (root / "a/garbage.jpg").string());
  }
  SECTION("verify drops the bad files up front") {
    int reported = 0;
    byol::data::ImageFolder folder(byol::data::ImageFolderOptions(root.string()).verify(true).on_skip(
        [&](const byol::data::SkippedFile&) { ++reported; }));
    CHECK(folder.size() == 2);
    CHECK(reported == 3);
    CHECK(folder.skipped_count() == 3);
    CHECK(folder.paths() == std::vector<std::string>({(root / "a/good.png").string(), (root / "b/good.jpg").string()}));
    CHECK(folder.get_batch({0, 1}).images.size() == 2);
  }
}

TEST_CASE("ImageFolder errors name the root: missing, not a folder, no classes, no images", "[data]") {
  TempDir dir("folder_errors");
  require_error([&] { byol::data::ImageFolder(byol::data::ImageFolderOptions(dir / "missing")); },
                {"ImageFolder", dir / "missing", "does not exist"});
  write_text(dir / "file", "x");
  require_error([&] { byol::data::ImageFolder(byol::data::ImageFolderOptions(dir / "file")); },
                {dir / "file", "not a folder"});
  fs::create_directories(dir.path / "empty");
  require_error([&] { byol::data::ImageFolder(byol::data::ImageFolderOptions(dir / "empty")); },
                {dir / "empty", "no class sub-folders"});
  fs::create_directories(dir.path / "no_images/cat");
  fs::create_directories(dir.path / "no_images/dog");
  write_text(dir / "no_images/cat/notes.txt", "x");
  require_error([&] { byol::data::ImageFolder(byol::data::ImageFolderOptions(dir / "no_images")); },
                {dir / "no_images", "no image files", ".jpg, .jpeg, .png", "2 class folders"});
  write_text(dir / "all_bad/cat/x.png", "x");
  require_error(
      [&] {
        byol::data::ImageFolder(byol::data::ImageFolderOptions(dir / "all_bad").verify(true).on_skip(
            [](const byol::data::SkippedFile&) {}));
      },
      {dir / "all_bad", "none of the 1 image files"});
  require_error([&] { byol::data::ImageFolder(byol::data::ImageFolderOptions("")); }, {"root is an empty path"});
  require_error(
      [&] {
        byol::data::ImageFolder(byol::data::ImageFolderOptions(dir / "no_images")
                                    .decode(byol::data::DecodeOptions().mode(byol::data::ImageMode::keep)));
      },
      {"ImageMode::keep"});
  require_error([&] { byol::data::ImageFolder(byol::data::ImageFolderOptions(dir / "no_images").num_workers(-2)); },
                {"num_workers", "-2"});
}

// ---- TwoViewLoader ------------------------------------------------------------------------------

namespace {

/// Sample i's image is the constant i, its label 1000 + i.
byol::data::TensorSource counting_source(int64_t n) {
  return byol::data::TensorSource(torch::arange(n, torch::kLong).reshape({n, 1, 1, 1}).to(torch::kFloat),
                                  torch::arange(n, torch::kLong) + 1000);
}

// view1 keeps the images; view2 adds noise drawn from the batch's generator.
const auto keep_view = [](const torch::Tensor& x, at::Generator&) { return x.clone(); };
const auto noisy_view = [](const torch::Tensor& x, at::Generator& g) {
  return x + at::rand(x.sizes(), g, torch::TensorOptions().dtype(torch::kFloat));
};

struct Seen {
  std::vector<torch::Tensor> view1, view2, indices;
  std::vector<std::pair<int64_t, int64_t>> where;
};

template <typename Loader>
Seen drain(Loader& loader) {
  Seen seen;
  while (auto batch = loader.next()) {
    seen.view1.push_back(batch->view1);
    seen.view2.push_back(batch->view2);
    seen.indices.push_back(batch->indices);
    seen.where.emplace_back(batch->epoch, batch->batch);
  }
  return seen;
}

}  // namespace

TEST_CASE("TwoViewLoader yields every index exactly once per epoch, views matching indices", "[data]") {
  for (const bool drop_last : {true, false}) {
    DYNAMIC_SECTION("drop_last " << drop_last) {
      byol::data::TwoViewLoader loader(counting_source(103), keep_view, noisy_view,
                                       byol::data::LoaderOptions(10).epochs(3).drop_last(drop_last).seed(7).num_workers(2));
      CHECK(loader.batches_per_epoch() == (drop_last ? 10 : 11));
      std::map<int64_t, std::vector<int64_t>> per_epoch;
      int64_t batches = 0;
      while (auto b = loader.next()) {
        ++batches;
        const auto idx = as_vector(b->indices);
        CHECK(idx.size() == (drop_last || b->batch < 10 ? 10u : 3u));
        CHECK(as_vector(b->view1.flatten()) == idx);  // the images are the samples at those indices
        CHECK(as_vector(b->labels) == as_vector(b->indices + 1000));
        const auto noise = (b->view2 - b->view1).flatten();
        CHECK(noise.min().item<double>() >= 0.0);
        CHECK(noise.max().item<double>() < 1.0);
        CHECK(b->view1.sizes() == torch::IntArrayRef({static_cast<int64_t>(idx.size()), 1, 1, 1}));
        per_epoch[b->epoch].insert(per_epoch[b->epoch].end(), idx.begin(), idx.end());
      }
      CHECK(batches == 3 * loader.batches_per_epoch());
      REQUIRE(per_epoch.size() == 3);
      for (auto& e : per_epoch) {
        const std::set<int64_t> distinct(e.second.begin(), e.second.end());
        CHECK(distinct.size() == e.second.size());  // no index twice
        CHECK(e.second.size() == (drop_last ? 100u : 103u));
        CHECK(*distinct.begin() >= 0);
        CHECK(*distinct.rbegin() <= 102);
      }
      CHECK(per_epoch[0] != per_epoch[1]);  // reshuffled each epoch
    }
  }
  SECTION("shuffle false keeps the source order") {
    byol::data::TwoViewLoader loader(counting_source(12), keep_view, keep_view,
                                     byol::data::LoaderOptions(4).shuffle(false).num_workers(0));
    std::vector<int64_t> all;
    while (auto b = loader.next()) {
      const auto idx = as_vector(b->indices);
      all.insert(all.end(), idx.begin(), idx.end());
    }
    std::vector<int64_t> expected(12);
    for (int64_t i = 0; i < 12; ++i) expected[static_cast<size_t>(i)] = i;
    CHECK(all == expected);
  }
}

TEST_CASE("epoch_permutation and batch_seed are pure functions of their arguments", "[data]") {
  const auto a = byol::data::epoch_permutation(1000, 3, 5);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) REQUIRE(sorted[static_cast<size_t>(i)] == i);
  CHECK(byol::data::epoch_permutation(1000, 3, 5) == a);
  CHECK(byol::data::epoch_permutation(1000, 3, 6) != a);
  CHECK(byol::data::epoch_permutation(1000, 4, 5) != a);
  CHECK(byol::data::epoch_permutation(0, 1, 1).empty());
  CHECK(byol::data::epoch_permutation(1, 1, 1) == std::vector<int64_t>({0}));
  // Pinned orders, from a Python re-implementation of the documented algorithm: SplitMix64
  // (x += 0x9E3779B97F4A7C15; x ^= x >> 30, *= 0xBF58476D1CE4E5B9; x ^= x >> 27,
  // *= 0x94D049BB133111EB; x ^= x >> 31) seeded by mix_seed(mix_seed(seed, "perm"), epoch), driving
  // a Fisher-Yates shuffle from the back with rejection below 2^64 - 1 - (2^64 - 1) mod (i + 1).
  CHECK(byol::data::epoch_permutation(10, 3, 5) == std::vector<int64_t>({1, 5, 0, 6, 2, 3, 4, 9, 7, 8}));
  CHECK(byol::data::epoch_permutation(10, 0, 0) == std::vector<int64_t>({8, 7, 0, 4, 1, 2, 6, 5, 3, 9}));
  // Every position receives every value about equally often over many epochs (uniformity).
  std::vector<std::vector<int>> counts(4, std::vector<int>(4, 0));
  for (int64_t e = 0; e < 4000; ++e) {
    const auto p = byol::data::epoch_permutation(4, 11, e);
    for (size_t i = 0; i < 4; ++i) counts[i][static_cast<size_t>(p[i])]++;
  }
  for (const auto& row : counts)
    for (const int c : row) CHECK(std::abs(c - 1000) < 150);  // 1000 +- 5 sigma
  CHECK(byol::data::batch_seed(1, 2, 3) == byol::data::batch_seed(1, 2, 3));
  CHECK(byol::data::batch_seed(1, 2, 3) != byol::data::batch_seed(1, 3, 2));
  CHECK(byol::data::batch_seed(1, 2, 3) != byol::data::batch_seed(2, 2, 3));
}

TEST_CASE("TwoViewLoader is deterministic whatever the number of workers and the prefetch depth", "[data]") {
  auto run = [](int64_t workers, int64_t prefetch, uint64_t seed) {
    byol::data::TwoViewLoader loader(
        counting_source(50), noisy_view, noisy_view,
        byol::data::LoaderOptions(8).epochs(2).seed(seed).num_workers(workers).prefetch(prefetch));
    return drain(loader);
  };
  const Seen reference = run(0, 1, 42);
  REQUIRE(reference.view1.size() == 12);
  for (const auto& config : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {2, 2}, {3, 5}}) {
    DYNAMIC_SECTION(config.first << " workers, prefetch " << config.second) {
      const Seen other = run(config.first, config.second, 42);
      REQUIRE(other.view1.size() == reference.view1.size());
      for (size_t b = 0; b < reference.view1.size(); ++b) {
        CHECK(other.where[b] == reference.where[b]);
        CHECK(torch::equal(other.indices[b], reference.indices[b]));
        CHECK(torch::equal(other.view1[b], reference.view1[b]));
        CHECK(torch::equal(other.view2[b], reference.view2[b]));
      }
    }
  }
  // The two views of a batch get different draws; another seed gives other batches.
  CHECK_FALSE(torch::equal(reference.view1[0], reference.view2[0]));
  const Seen reseeded = run(1, 2, 43);
  CHECK_FALSE(torch::equal(reseeded.indices[0], reference.indices[0]));
  // A batch's views are exactly view(images, generator seeded by batch_seed), view1 first.
  auto g = at::make_generator<at::CPUGeneratorImpl>(byol::data::batch_seed(42, 1, 2));
  const auto images = counting_source(50).get_batch(as_vector(reference.indices[6 + 2])).images;
  const auto v1 = noisy_view(images, g);
  const auto v2 = noisy_view(images, g);
  CHECK((reference.where[8] == std::pair<int64_t, int64_t>(1, 2)));
  CHECK(torch::equal(reference.view1[8], v1));
  CHECK(torch::equal(reference.view2[8], v2));
}

TEST_CASE("TwoViewLoader resumed at (epoch, batch) yields what the uninterrupted run yields there", "[data]") {
  byol::data::TwoViewLoader full(counting_source(40), noisy_view, noisy_view,
                                 byol::data::LoaderOptions(6).epochs(3).seed(9).num_workers(2));
  const Seen all = drain(full);
  REQUIRE(all.view1.size() == 18);  // 6 batches per epoch
  byol::data::TwoViewLoader resumed(
      counting_source(40), noisy_view, noisy_view,
      byol::data::LoaderOptions(6).epochs(3).seed(9).num_workers(1).start_epoch(1).start_batch(4));
  CHECK((resumed.position() == std::pair<int64_t, int64_t>(1, 4)));
  const Seen rest = drain(resumed);
  REQUIRE(rest.view1.size() == 18 - 10);
  for (size_t b = 0; b < rest.view1.size(); ++b) {
    CHECK(rest.where[b] == all.where[b + 10]);
    CHECK(torch::equal(rest.indices[b], all.indices[b + 10]));
    CHECK(torch::equal(rest.view1[b], all.view1[b + 10]));
    CHECK(torch::equal(rest.view2[b], all.view2[b + 10]));
  }
  byol::data::TwoViewLoader finished(counting_source(40), noisy_view, noisy_view,
                                     byol::data::LoaderOptions(6).epochs(3).start_epoch(3));
  CHECK_FALSE(finished.next().has_value());
}

TEST_CASE("TwoViewLoader stops cleanly when the consumer stops early", "[data]") {
  std::atomic<int> built{0};
  auto slow = [&built](const torch::Tensor& x, at::Generator&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    built++;
    return x.clone();
  };
  {
    byol::data::TwoViewLoader loader(counting_source(1000), slow, slow,
                                     byol::data::LoaderOptions(4).epochs(100).num_workers(3).prefetch(3));
    REQUIRE(loader.next().has_value());
  }  // destroyed with 24999 batches left: must join, not hang
  {
    byol::data::TwoViewLoader loader(counting_source(1000), slow, slow,
                                     byol::data::LoaderOptions(4).epochs(100).num_workers(2));
  }  // destroyed before any next()
  // Prefetch bounds the work done ahead: at most prefetch batches beyond the consumed one per
  // loader (each batch calls the view twice).
  CHECK(built.load() <= 2 * ((1 + 3) + 2));
}

namespace {

// A view whose copies draw on a shared budget: the copy that finds it spent throws.
struct RationedView {
  explicit RationedView(std::shared_ptr<int> budget) : copies_left(std::move(budget)) {}
  RationedView(const RationedView& other) : copies_left(other.copies_left) {
    if (*copies_left == 0) throw std::runtime_error("out of copies");
    --*copies_left;
  }
  RationedView(RationedView&&) noexcept = default;
  torch::Tensor operator()(const torch::Tensor& x, at::Generator&) const { return x.clone(); }
  std::shared_ptr<int> copies_left;
};

}  // namespace

TEST_CASE("TwoViewLoader whose second worker fails to start stops the first and throws", "[data]") {
  // Each worker takes a copy of both views: a budget of 2 starts worker 0, and worker 1's copy
  // throws. The started worker must be joined (a joinable std::thread would call terminate).
  auto budget = std::make_shared<int>(2);
  REQUIRE_THROWS_WITH(([&] {
                        byol::data::TwoViewLoader loader(counting_source(64), RationedView(budget),
                                                         RationedView(budget),
                                                         byol::data::LoaderOptions(4).epochs(3).num_workers(2));
                      })(),
                      "out of copies");
  CHECK(*budget == 0);
}

TEST_CASE("TwoViewLoader rethrows a worker's exception to the consumer and continues after it", "[data]") {
  auto failing = [](const torch::Tensor& x, at::Generator&) {
    TORCH_CHECK((x.flatten() != 5).all().item<bool>(), "cannot augment the batch holding sample 5");
    return x.clone();
  };
  for (const int64_t workers : {0, 2}) {
    DYNAMIC_SECTION(workers << " workers") {
      byol::data::TwoViewLoader loader(counting_source(20), failing, keep_view,
                                       byol::data::LoaderOptions(4).num_workers(workers).seed(3));
      int64_t ok = 0, failed = 0;
      std::vector<int64_t> seen;
      for (;;) {
        try {
          auto b = loader.next();
          if (!b) break;
          ++ok;
          const auto idx = as_vector(b->indices);
          seen.insert(seen.end(), idx.begin(), idx.end());
        } catch (const c10::Error& e) {
          ++failed;
          CHECK(std::string(e.what_without_backtrace()).find("sample 5") != std::string::npos);
        }
      }
      CHECK(failed == 1);
      CHECK(ok == 4);
      CHECK(std::find(seen.begin(), seen.end(), 5) == seen.end());
      CHECK(seen.size() == 16);
    }
  }
}

TEST_CASE("TwoViewLoader over an ImageFolder: lists of images, skipped files left out", "[data]") {
  TempDir dir("loader_folder");
  for (int i = 0; i < 6; ++i) {
    save_png(dir.path / (i < 3 ? "a" : "b") / ("img" + std::to_string(i) + ".png"),
                          pattern_image(i, 6 + i, 5));
  }
  write_text(dir / "b/zz_broken.png", "broken");
  int reports = 0;
  byol::data::ImageFolder folder(byol::data::ImageFolderOptions(dir.path.string()).num_workers(2).on_skip(
      [&](const byol::data::SkippedFile&) { ++reports; }));
  REQUIRE(folder.size() == 7);
  // A view over a list of differently sized images: crop each to 5x5 and stack, as a resized
  // crop would.
  auto crop = [](const std::vector<torch::Tensor>& images, at::Generator&) {
    std::vector<torch::Tensor> out;
    for (const auto& im : images) out.push_back(im.slice(1, 0, 5).to(torch::kFloat).div(255));
    return torch::stack(out);
  };
  std::function<torch::Tensor(const std::vector<torch::Tensor>&, at::Generator&)> as_function = crop;
  byol::data::TwoViewLoader loader(folder, crop, as_function,
                                   byol::data::LoaderOptions(3).drop_last(false).epochs(2).num_workers(1));
  std::map<int64_t, int64_t> images_per_epoch;
  while (auto b = loader.next()) {
    CHECK(b->view1.size(0) == b->indices.size(0));
    CHECK(b->view1.sizes().slice(1) == torch::IntArrayRef({3, 5, 5}));
    CHECK(torch::equal(b->view1, b->view2));
    for (int64_t k = 0; k < b->indices.size(0); ++k) {
      const int64_t i = b->indices[k].item<int64_t>();
      CHECK(torch::allclose(b->view1[k], pattern_image(i, 6 + i, 5).slice(1, 0, 5).to(torch::kFloat).div(255)));
      CHECK(b->labels[k].item<int64_t>() == (i < 3 ? 0 : 1));
    }
    images_per_epoch[b->epoch] += b->indices.size(0);
  }
  CHECK(images_per_epoch[0] == 6);
  CHECK(images_per_epoch[1] == 6);
  CHECK(folder.skipped_count() == 1);  // the loader's copy reports to the same record
  CHECK(reports == 1);
}

TEST_CASE("TwoViewLoader option errors name the option and value", "[data]") {
  auto make = [](byol::data::LoaderOptions o) {
    byol::data::TwoViewLoader loader(counting_source(10), keep_view, keep_view, o);
  };
  require_error([&] { make(byol::data::LoaderOptions(0)); }, {"batch_size", "> 0", "0"});
  require_error([&] { make(byol::data::LoaderOptions(11)); }, {"10 samples", "batch_size = 11", "drop_last"});
  CHECK_NOTHROW(make(byol::data::LoaderOptions(11).drop_last(false)));
  require_error([&] { make(byol::data::LoaderOptions(2).epochs(0)); }, {"epochs", ">= 1"});
  require_error([&] { make(byol::data::LoaderOptions(2).prefetch(0)); }, {"prefetch", ">= 1"});
  require_error([&] { make(byol::data::LoaderOptions(2).num_workers(-1)); }, {"num_workers", "-1"});
  require_error([&] { make(byol::data::LoaderOptions(2).start_batch(5)); }, {"start_batch", "[0, 5)", "5"});
  require_error([&] { make(byol::data::LoaderOptions(2).epochs(2).start_epoch(3)); }, {"start_epoch", "[0, 2]", "3"});
  require_error([&] { byol::data::TensorSource(torch::zeros({3, 2}), torch::zeros({4}, torch::kLong)); },
                {"TensorSource", "3 samples", "4"});
  require_error([&] { byol::data::TensorSource(torch::zeros({3, 2}), torch::zeros({3})); },
                {"labels must be integers", "Float"});
  require_error([&] { counting_source(5).get_batch({5}); }, {"index 5", "5 samples"});
}

// ---- files that are not regular files, size limits ----------------------------------------------

TEST_CASE("The readers refuse FIFOs and devices by name instead of blocking or reading forever", "[data]") {
  TempDir dir("special_files");
  REQUIRE(::mkfifo((dir / "pipe.gz").c_str(), 0600) == 0);
  REQUIRE(::mkfifo((dir / "pipe.jpg").c_str(), 0600) == 0);
  REQUIRE(::symlink("/dev/zero", (dir / "zero.jpg").c_str()) == 0);
  REQUIRE(::symlink("/dev/zero", (dir / "zero.bin").c_str()) == 0);
  require_error([&] { byol::data::read_idx(dir / "pipe.gz"); }, {"read_idx", dir / "pipe.gz", "FIFO", "regular file"});
  require_error([&] { byol::data::read_idx(dir / "zero.bin"); }, {dir / "zero.bin", "character device"});
  require_error([&] { byol::data::read_cifar10({dir / "zero.bin"}); }, {"read_cifar10", dir / "zero.bin", "regular file"});
  require_error([&] { byol::data::read_cifar10({dir / "pipe.gz"}); }, {dir / "pipe.gz", "FIFO"});
  require_error([&] { byol::data::read_image(dir / "pipe.jpg"); }, {"read_image", dir / "pipe.jpg", "FIFO"});
  require_error([&] { byol::data::read_image(dir / "zero.jpg"); }, {"read_image", dir / "zero.jpg", "character device"});
}

TEST_CASE("ImageFolder skips a FIFO and a link to /dev/zero named like images, naming them", "[data]") {
  TempDir dir("folder_special");
  const auto root = dir.path;
  save_png(root / "a/good.png", pattern_image(1, 4, 4));
  REQUIRE(::mkfifo((root / "a/x.jpg").c_str(), 0600) == 0);
  REQUIRE(::symlink("/dev/zero", (root / "a/zero.jpg").c_str()) == 0);
  std::vector<std::string> reasons;
  byol::data::ImageFolder folder(byol::data::ImageFolderOptions(root.string()).num_workers(2).on_skip(
      [&](const byol::data::SkippedFile& f) { reasons.push_back(f.reason); }));
  REQUIRE(folder.size() == 3);  // a/good.png a/x.jpg a/zero.jpg
  const auto batch = folder.get_batch({0, 1, 2});
  REQUIRE(batch.images.size() == 1);
  REQUIRE(folder.skipped_count() == 2);
  std::sort(reasons.begin(), reasons.end());
  REQUIRE(reasons.size() == 2);
  CHECK(reasons[0].find((root / "a/x.jpg").string()) != std::string::npos);
  CHECK(reasons[0].find("FIFO") != std::string::npos);
  CHECK(reasons[1].find((root / "a/zero.jpg").string()) != std::string::npos);
  CHECK(reasons[1].find("character device") != std::string::npos);
}

TEST_CASE("Image files above max_file_bytes are refused before they are read", "[data]") {
  TempDir dir("big_image");
  save_png(dir.path / "a/img.png", pattern_image(3, 8, 8));
  const auto size = fs::file_size(dir.path / "a/img.png");
  require_error([&] { byol::data::read_image(dir / "a/img.png", byol::data::DecodeOptions().max_file_bytes(10)); },
                {"read_image", dir / "a/img.png", std::to_string(size) + " bytes", "limit of 10"});
  CHECK(byol::data::read_image(dir / "a/img.png").size(1) == 8);
  byol::data::ImageFolder folder(
      byol::data::ImageFolderOptions(dir.path.string()).decode(byol::data::DecodeOptions().max_file_bytes(10)));
  require_error([&] { folder.get(0); }, {dir / "a/img.png", "limit of 10"});
}

TEST_CASE("A gzipped IDX file is inflated no further than its header declares", "[data]") {
  TempDir dir("gzip_bomb");
  // Header [1, 2, 2]: 16 + 4 = 20 bytes declared; then 32 MiB of zeros (a 32 KiB gzip file).
  Bytes bomb = idx_file(0x00000803, {1, 2, 2}, {1, 2, 3, 4});
  bomb.resize(bomb.size() + (size_t(32) << 20), 0);
  write_gzip(dir / "bomb.gz", bomb);
  REQUIRE(fs::file_size(dir.path / "bomb.gz") < (size_t(1) << 20));
  // 20 + 64 bytes of slack: reading stops at byte 85, not at 32 MiB.
  require_error([&] { byol::data::read_idx_images(dir / "bomb.gz"); },
                {"read_idx_images", dir / "bomb.gz", "more than 84 bytes", "header declares"});
}

TEST_CASE("ImageFolder names a class folder it cannot list instead of treating it as empty", "[data]") {
  TempDir dir("folder_mode");
  const auto root = dir.path;
  save_png(root / "a/good.png", pattern_image(1, 4, 4));
  save_png(root / "b/hidden.png", pattern_image(2, 4, 4));
  fs::permissions(root / "b", fs::perms::none);
  struct Restore {
    fs::path path;
    ~Restore() {
      std::error_code ec;
      fs::permissions(path, fs::perms::owner_all, ec);
    }
  } restore{root / "b"};
  auto attempt = [&]() -> std::string {  // the error's message, "" if none
    try {
      byol::data::ImageFolder folder(byol::data::ImageFolderOptions(root.string()).num_workers(0));
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "";
  };
  if (::geteuid() != 0) {
    const std::string message = attempt();
    INFO(message);
    CHECK(message.find("ImageFolder") != std::string::npos);
    CHECK(message.find((root / "b").string()) != std::string::npos);
    CHECK(message.find("cannot list") != std::string::npos);
    return;
  }
  // As root, mode 000 is still readable: try it as the unprivileged user "nobody" in a child.
  fs::permissions(root, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(root / "a", fs::perms::owner_all | fs::perms::group_all | fs::perms::others_all);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    const std::string message = attempt();
    std::fprintf(stderr, "as user nobody: %s\n", message.c_str());
    const bool named = message.find((root / "b").string()) != std::string::npos &&
                       message.find("cannot list") != std::string::npos;
    ::_exit(named ? 0 : (message.empty() ? 1 : 2));
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 3) {
    WARN("running as root and cannot switch to user nobody: the mode-000 case is not exercised");
    return;
  }
  INFO("child exit status: 0 = error naming the folder, 1 = no error (an empty class), 2 = another error");
  REQUIRE(WEXITSTATUS(status) == 0);
}

TEST_CASE("TwoViewLoader: overflowing run lengths, absurd worker counts and undefined views are errors", "[data]") {
  auto make = [](byol::data::LoaderOptions o) {
    byol::data::TwoViewLoader loader(counting_source(10), keep_view, keep_view, o);
  };
  // 5 batches per epoch: epochs * 5 would overflow int64.
  require_error([&] { make(byol::data::LoaderOptions(2).epochs(std::numeric_limits<int64_t>::max() / 2)); },
                {"epochs", "overflows"});
  require_error([&] { make(byol::data::LoaderOptions(2).num_workers(100000)); }, {"num_workers", "100000", "1024"});
  // A huge prefetch depth is fine: every batch, once, in order.
  byol::data::TwoViewLoader deep(counting_source(10), keep_view, keep_view,
                                 byol::data::LoaderOptions(2).epochs(2).shuffle(false).num_workers(2).prefetch(
                                     std::numeric_limits<int64_t>::max()));
  int64_t count = 0;
  while (auto batch = deep.next()) {
    CHECK(batch->epoch * 5 + batch->batch == count);
    ++count;
  }
  CHECK(count == 10);
  // A view that hands on an undefined tensor: the error says which view and which batch.
  for (const int64_t workers : {0, 1}) {
    auto undefined = [](const torch::Tensor&, at::Generator&) { return torch::Tensor(); };
    byol::data::TwoViewLoader loader(counting_source(10), keep_view, undefined,
                                     byol::data::LoaderOptions(2).num_workers(workers));
    require_error([&] { loader.next(); }, {"TwoViewLoader", "view2", "undefined", "batch 0", "epoch 0"});
  }
}

// ---- TrainState with a real loader ----------------------------------------------------------------

namespace {

using NoisyView = std::decay_t<decltype(noisy_view)>;

// A run fed by a TwoViewLoader with background workers and prefetching: the state saves the
// loader's position, and a resumed loader built there yields what the straight run got.
struct LoaderRun {
  explicit LoaderRun(const torch::Tensor& images) : source(images, torch::zeros({images.size(0)}, torch::kLong)) {
    state.module("model", model).optimizer("lars", lars).schedule("lr", lr).schedule("tau", tau).counter("step", step);
  }
  static torch::nn::Sequential encoder() {
    return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)),
                                 torch::nn::BatchNorm2d(4), torch::nn::ReLU(), torch::nn::Dropout(0.2),
                                 torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(2)),
                                 torch::nn::Flatten());
  }
  // Builds the loader where the state says the run stopped ((0, 0) for a new run).
  void start_loader() {
    const auto at = state.loader_position();
    loader = std::make_unique<byol::data::TwoViewLoader<byol::data::TensorSource, NoisyView>>(
        source, noisy_view, noisy_view,
        byol::data::LoaderOptions(8).epochs(2).seed(5).num_workers(2).prefetch(3).start_epoch(at.first).start_batch(
            at.second));
    state.loader(*loader);
  }
  void train_step() {
    auto batch = loader->next();
    REQUIRE(batch.has_value());
    auto loss = model.loss(batch->view1.clamp(0, 1), batch->view2.clamp(0, 1));
    lars.zero_grad();
    loss.backward();
    lars.step();
    lr.step();
    model.update_target(tau.step());
    ++step;
  }

  byol::data::TensorSource source;
  byol::BYOL<torch::nn::Sequential> model{encoder(), byol::BYOLOptions(16).hidden_dim(16).projection_dim(8)
                                                          .predictor_hidden_dim(16)};
  byol::optim::LARS lars{model.online_parameters(), byol::optim::LARSOptions(0.5).weight_decay(1e-4)};
  byol::schedule::WarmupCosineLR lr{lars, 2, 10};  // 40 images / 8 = 5 batches, 2 epochs
  byol::schedule::TargetTau tau{0.9, 10};
  int64_t step = 0;
  byol::TrainState state;
  std::unique_ptr<byol::data::TwoViewLoader<byol::data::TensorSource, NoisyView>> loader;
};

}  // namespace

TEST_CASE("TrainState with a TwoViewLoader: stopped, saved, rebuilt and resumed equals straight, bitwise",
          "[data][train_state]") {
  const int saved_threads = torch::get_num_threads();
  torch::set_num_threads(1);
  char pattern[] = "/tmp/byol_train_state_loader_XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::string path = std::string(pattern) + "/state.pt";
  torch::manual_seed(1);
  const auto images = torch::rand({40, 1, 6, 6});

  torch::manual_seed(2);
  LoaderRun straight(images);
  straight.start_loader();
  for (int k = 0; k < 10; ++k) straight.train_step();

  torch::manual_seed(2);
  auto first = std::make_unique<LoaderRun>(images);
  first->start_loader();
  for (int k = 0; k < 6; ++k) first->train_step();  // into the second epoch, batches prefetched
  first->state.save(path);
  first.reset();

  torch::manual_seed(77);
  LoaderRun resumed(images);
  resumed.state.load(path);
  REQUIRE((resumed.state.loader_position() == std::pair<int64_t, int64_t>(1, 1)));
  resumed.start_loader();
  for (int k = 0; k < 4; ++k) resumed.train_step();
  CHECK_FALSE(resumed.loader->next().has_value());

  const auto a = straight.model.named_parameters(), b = resumed.model.named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].key());
    REQUIRE(torch::equal(a[i].value(), b[i].value()));
  }
  const auto ab = straight.model.named_buffers(), bb = resumed.model.named_buffers();
  for (size_t i = 0; i < ab.size(); ++i) {
    INFO(ab[i].key());
    REQUIRE(torch::equal(ab[i].value(), bb[i].value()));
  }
  const auto pa = straight.model.online_parameters(), pb = resumed.model.online_parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    const auto& sa = static_cast<const byol::optim::LARSParamState&>(
        *straight.lars.state().at(byol::detail::optimizer_state_key(pa[i])));
    const auto& sb = static_cast<const byol::optim::LARSParamState&>(
        *resumed.lars.state().at(byol::detail::optimizer_state_key(pb[i])));
    REQUIRE(torch::equal(sa.momentum_buffer(), sb.momentum_buffer()));
  }
  CHECK(straight.lars.param_groups()[0].options().get_lr() == resumed.lars.param_groups()[0].options().get_lr());
  CHECK(resumed.step == 10);
  torch::set_num_threads(saved_threads);
}

// byol/data/idx.hpp on files the tests write byte by byte: IDX raw and gzipped, MNIST and
// Fashion-MNIST loaders, errors naming the file, the gzip bomb limit, and the readers' refusal of
// FIFOs and devices (detail/file.hpp, shared by the IDX, CIFAR and image readers).

#include "data_support.hpp"

using namespace byol_test_data;  // NOLINT(google-build-using-namespace)

// ---- IDX --------------------------------------------------------------------------------------

TEST_CASE("IDX images and labels read exactly, raw and gzipped", "[idx]") {
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

TEST_CASE("IDX errors name the file: truncated, wrong magic, trailing bytes, not IDX, missing", "[idx]") {
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

TEST_CASE("load_mnist / load_fashion_mnist read the four files and name what is missing", "[idx]") {
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

// Its own CTest entry (unit.idx_fashion_mnist), reported as skipped without the data.
TEST_CASE("The real Fashion-MNIST, when dataset-fashion-mnist is installed", "[idx][fashion_mnist_files]") {
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

// ---- files that are not regular files, size limits ----------------------------------------------

TEST_CASE("The readers refuse FIFOs and devices by name instead of blocking or reading forever", "[idx]") {
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

TEST_CASE("A gzipped IDX file is inflated no further than its header declares", "[idx]") {
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

// byol/data/cifar.hpp: CIFAR-10 and CIFAR-100 records written here, read back exactly; errors
// naming the file.

#include "data_support.hpp"

using namespace byol_test_data;  // NOLINT(google-build-using-namespace)

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

TEST_CASE("CIFAR-10 and CIFAR-100 records read exactly, files concatenated in order", "[cifar]") {
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

TEST_CASE("CIFAR errors name the file: truncated, wrong variant, bad label, missing", "[cifar]") {
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

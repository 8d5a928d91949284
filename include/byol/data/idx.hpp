#pragma once

/// Readers for the IDX format of MNIST and Fashion-MNIST, gzipped or not.
///
///   file = magic (0x00 0x00 type ndim) | ndim big-endian uint32 sizes | the uint8 data, row-major
///   images: magic 0x00000803, sizes [N, H, W];   labels: magic 0x00000801, sizes [N]
///
///     auto images = byol::data::read_idx_images("train-images-idx3-ubyte.gz");   // uint8 [N, 1, 28, 28]
///     auto labels = byol::data::read_idx_labels("train-labels-idx1-ubyte.gz");   // int64 [N]
///     auto train  = byol::data::load_fashion_mnist();        // both, from the Debian package's folder

#include <byol/data/dataset.hpp>
#include <byol/data/detail/file.hpp>

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace byol::data {

/// Magic number of an IDX file of uint8 [N, H, W] images.
constexpr uint32_t kIdxImagesMagic = 0x00000803;
/// Magic number of an IDX file of uint8 [N] labels.
constexpr uint32_t kIdxLabelsMagic = 0x00000801;
/// Where Debian's dataset-fashion-mnist package puts the four gzipped IDX files.
constexpr const char* kFashionMnistRoot = "/usr/share/datasets/fashion-mnist";

namespace detail {

inline std::string hex32(uint32_t value) {
  std::ostringstream out;
  out << "0x" << std::hex << std::setw(8) << std::setfill('0') << value;
  return out.str();
}

inline uint32_t big_endian32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

/// Bytes past an IDX file's declared size that are still read, to report them precisely.
constexpr uint64_t kIdxSlackBytes = 64;

/// Reads an IDX file of unsigned bytes; with `expected_magic` != 0 the magic must equal it.
/// Returns a uint8 tensor shaped as the header says, which owns the file's bytes (no copy).
inline at::Tensor read_idx_checked(const std::string& path, uint32_t expected_magic, const char* who) {
  // Inflate no further than the header declares (plus a little, so that a few trailing bytes
  // get the precise message below): a small gzip file cannot expand to gigabytes.
  auto declared = [](const uint8_t* p, size_t n) -> uint64_t {
    if (n < 4 || n < 4 + 4 * static_cast<size_t>(p[3])) return 0;
    const uint64_t header = 4 + 4 * static_cast<uint64_t>(p[3]);
    uint64_t count = 1;
    for (uint64_t d = 0; d < p[3]; ++d) {
      const uint64_t size = big_endian32(p + 4 + 4 * d);
      count = (size != 0 && count > (uint64_t(1) << 62) / size) ? (uint64_t(1) << 62) : count * size;
    }
    return header + count + kIdxSlackBytes;
  };
  auto bytes = std::make_unique<std::vector<uint8_t>>(read_file(path, who, kMaxDataFileBytes, declared));
  const size_t have = bytes->size();
  TORCH_CHECK(have >= 4, who, ": '", path, "' is too short for an IDX file: ", have, " bytes");
  const uint8_t* data = bytes->data();
  const uint32_t magic = big_endian32(data);
  if (expected_magic != 0) {
    TORCH_CHECK(magic == expected_magic, who, ": '", path, "' has magic number ", hex32(magic), ", expected ",
                hex32(expected_magic), expected_magic == kIdxImagesMagic ? " (IDX uint8 images [N, H, W])"
                                                                        : " (IDX uint8 labels [N])");
  }
  TORCH_CHECK(data[0] == 0 && data[1] == 0, who, ": '", path, "' is not an IDX file: magic number ", hex32(magic),
              " does not start with two zero bytes");
  TORCH_CHECK(data[2] == 0x08, who, ": '", path, "' holds IDX type 0x", hex32(data[2]).substr(8),
              "; only unsigned bytes (type 0x08) are supported");
  const int64_t ndim = data[3];
  TORCH_CHECK(ndim >= 1, who, ": '", path, "' declares 0 dimensions");
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  TORCH_CHECK(have >= header, who, ": '", path, "' is truncated: its ", ndim, "-dimensional header needs ", header,
              " bytes, the file has ", have);
  std::vector<int64_t> sizes;
  // The product saturates at 2^62: far beyond any file, and no overflow on a corrupt header.
  constexpr uint64_t kLimit = uint64_t(1) << 62;
  uint64_t count = 1;
  for (int64_t d = 0; d < ndim; ++d) {
    const uint32_t size = big_endian32(data + 4 + 4 * d);
    sizes.push_back(static_cast<int64_t>(size));
    count = (size != 0 && count > kLimit / size) ? kLimit : count * size;
  }
  const uint64_t expected = header + count;
  TORCH_CHECK(have >= expected, who, ": '", path, "' is truncated: its header (sizes ", c10::IntArrayRef(sizes),
              ") needs ", expected, " bytes, the file has ", have);
  TORCH_CHECK(have == expected, who, ": '", path, "' has ", have - expected,
              " bytes after the data its header describes (sizes ", c10::IntArrayRef(sizes), ", ", expected,
              " bytes)");
  std::vector<uint8_t>* owner = bytes.release();
  return at::from_blob(
      owner->data() + header, sizes, [owner](void*) { delete owner; }, at::TensorOptions().dtype(at::kByte));
}

}  // namespace detail

/// Reads any IDX file of unsigned bytes (type 0x08), gzipped or not, as uint8 shaped by its
/// header. Only a regular file is read (a FIFO or a device is refused), and a gzip stream is
/// inflated no further than the size its header declares (plus 64 bytes), at most 4 GiB.
/// Errors name the file: missing, not a regular file, not IDX, another element type, truncated
/// (with the expected and actual byte counts), or trailing bytes.
///
///     auto t = byol::data::read_idx("t10k-images-idx3-ubyte");   // uint8 [10000, 28, 28]
///     t.sizes();
///     t.dtype();
inline at::Tensor read_idx(const std::string& path) { return detail::read_idx_checked(path, 0, "read_idx"); }

/// Reads an IDX image file (magic 0x00000803, sizes [N, H, W]) as uint8 [N, 1, H, W].
///
///     auto images = byol::data::read_idx_images("train-images-idx3-ubyte.gz");
///     images.sizes();   // [60000, 1, 28, 28]
///     images.dtype();   // uint8
inline at::Tensor read_idx_images(const std::string& path) {
  at::Tensor t = detail::read_idx_checked(path, kIdxImagesMagic, "read_idx_images");
  TORCH_CHECK(t.dim() == 3, "read_idx_images: '", path, "' has sizes ", t.sizes(), ", expected [N, H, W]");
  return t.unsqueeze(1);
}

/// Reads an IDX label file (magic 0x00000801, sizes [N]) as int64 [N].
///
///     auto labels = byol::data::read_idx_labels("train-labels-idx1-ubyte.gz");
///     labels.sizes();   // [60000]
///     labels.dtype();   // int64
inline at::Tensor read_idx_labels(const std::string& path) {
  at::Tensor t = detail::read_idx_checked(path, kIdxLabelsMagic, "read_idx_labels");
  TORCH_CHECK(t.dim() == 1, "read_idx_labels: '", path, "' has sizes ", t.sizes(), ", expected [N]");
  return t.to(at::kLong);
}

namespace detail {

/// root/<stem> or root/<stem>.gz, whichever exists (the uncompressed one first); "" if neither.
inline std::string find_idx_file(const std::string& root, const std::string& stem) {
  std::error_code ec;
  for (const std::string& name : {stem, stem + ".gz"}) {
    const std::filesystem::path path = std::filesystem::path(root) / name;
    if (std::filesystem::is_regular_file(path, ec)) {
      return path.string();
    }
  }
  return {};
}

inline LabeledImages load_mnist_like(const std::string& root, Split split, const char* who, const char* hint) {
  std::error_code ec;
  TORCH_CHECK(std::filesystem::is_directory(root, ec), who, ": folder '", root, "' does not exist", hint);
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const std::string images_stem = prefix + "-images-idx3-ubyte";
  const std::string labels_stem = prefix + "-labels-idx1-ubyte";
  const std::string images_path = find_idx_file(root, images_stem);
  const std::string labels_path = find_idx_file(root, labels_stem);
  TORCH_CHECK(!images_path.empty(), who, ": no ", images_stem, " or ", images_stem, ".gz in '", root, "'", hint);
  TORCH_CHECK(!labels_path.empty(), who, ": no ", labels_stem, " or ", labels_stem, ".gz in '", root, "'", hint);
  LabeledImages out;
  out.images = read_idx_images(images_path);
  out.labels = read_idx_labels(labels_path);
  TORCH_CHECK(out.images.size(0) == out.labels.size(0), who, ": '", images_path, "' holds ", out.images.size(0),
              " images but '", labels_path, "' holds ", out.labels.size(0), " labels");
  return out;
}

}  // namespace detail

/// True when `root` holds the image and label files of `split`, gzipped or not.
///
///     if (byol::data::mnist_files_present(byol::data::kFashionMnistRoot)) {
///       auto train = byol::data::load_fashion_mnist();
///     }
inline bool mnist_files_present(const std::string& root, Split split = Split::train) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  return !detail::find_idx_file(root, prefix + "-images-idx3-ubyte").empty() &&
         !detail::find_idx_file(root, prefix + "-labels-idx1-ubyte").empty();
}

/// Loads MNIST from `root`: {train,t10k}-images-idx3-ubyte[.gz] and
/// {train,t10k}-labels-idx1-ubyte[.gz]. Images uint8 [N, 1, 28, 28], labels int64 [N].
///
///     auto train = byol::data::load_mnist("/data/mnist");                        // N = 60000
///     auto test = byol::data::load_mnist("/data/mnist", byol::data::Split::test);   // N = 10000
///     train.images.sizes();
inline LabeledImages load_mnist(const std::string& root, Split split = Split::train) {
  return detail::load_mnist_like(root, split, "load_mnist", "");
}

/// Loads Fashion-MNIST (the same file names and format as MNIST). The default folder is where
/// Debian's dataset-fashion-mnist package installs it; the error for a missing folder or file
/// says so.
///
///     auto train = byol::data::load_fashion_mnist();                                      // 60000
///     auto test = byol::data::load_fashion_mnist(byol::data::kFashionMnistRoot, byol::data::Split::test);
///     train.labels.max();                                                                 // 9
inline LabeledImages load_fashion_mnist(const std::string& root = kFashionMnistRoot, Split split = Split::train) {
  return detail::load_mnist_like(root, split, "load_fashion_mnist",
                                 " (install the Debian package dataset-fashion-mnist, which puts the files in "
                                 "/usr/share/datasets/fashion-mnist, or pass the folder that holds them)");
}

}  // namespace byol::data

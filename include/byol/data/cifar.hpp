#pragma once

/// Readers for the binary versions of CIFAR-10 and CIFAR-100.
///
///   CIFAR-10 record:  1 label byte (0..9)                          + 3072 pixel bytes
///   CIFAR-100 record: 1 coarse label (0..19) + 1 fine label (0..99) + 3072 pixel bytes
///   pixels: the 1024 red values of the 32x32 image row by row, then the green, then the blue
///
/// Only regular files (or links to them) are read, gzipped or not, at most 4 GiB each after
/// decompression (kMaxDataFileBytes): a FIFO or a device is an error naming it.
///
///     auto train = byol::data::load_cifar10("cifar-10-batches-bin");          // 50000 images
///     train.images.sizes();                                                  // [50000, 3, 32, 32]
///     auto one = byol::data::read_cifar10({"cifar-10-batches-bin/test_batch.bin"});

#include <byol/data/dataset.hpp>
#include <byol/data/detail/file.hpp>

#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace byol::data {

/// Bytes of one CIFAR image: 3 planes of 32x32.
constexpr int64_t kCifarImageBytes = 3 * 32 * 32;

namespace detail {

/// Reads the records of every file in order. `label_bytes` is 1 (CIFAR-10) or 2 (CIFAR-100);
/// label byte k must be below classes[k].
inline LabeledImages read_cifar_records(const std::vector<std::string>& files, int64_t label_bytes,
                                        const int64_t* classes, const char* who) {
  TORCH_CHECK(!files.empty(), who, ": no files given");
  const int64_t record = label_bytes + kCifarImageBytes;
  std::vector<std::vector<uint8_t>> contents;
  int64_t total = 0;
  for (const std::string& path : files) {
    contents.push_back(read_file(path, who));
    const int64_t size = static_cast<int64_t>(contents.back().size());
    TORCH_CHECK(size > 0 && size % record == 0, who, ": '", path, "' has ", size, " bytes, not a positive multiple of ",
                record, " (", label_bytes, " label byte", label_bytes > 1 ? "s" : "", " + ", kCifarImageBytes,
                " pixel bytes per record): truncated, or not a ", label_bytes == 1 ? "CIFAR-10" : "CIFAR-100",
                " binary batch");
    total += size / record;
  }
  LabeledImages out;
  out.images = at::empty({total, 3, 32, 32}, at::kByte);
  out.labels = at::empty({total}, at::kLong);
  if (label_bytes == 2) {
    out.coarse_labels = at::empty({total}, at::kLong);
  }
  uint8_t* pixels = out.images.data_ptr<uint8_t>();
  int64_t* fine = out.labels.data_ptr<int64_t>();
  int64_t* coarse = label_bytes == 2 ? out.coarse_labels.data_ptr<int64_t>() : nullptr;
  int64_t n = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    const std::vector<uint8_t>& bytes = contents[f];
    const int64_t records = static_cast<int64_t>(bytes.size()) / record;
    for (int64_t r = 0; r < records; ++r, ++n) {
      const uint8_t* rec = bytes.data() + r * record;
      for (int64_t k = 0; k < label_bytes; ++k) {
        TORCH_CHECK(rec[k] < classes[k], who, ": '", files[f], "' record ", r, " has ",
                    label_bytes == 1 ? "label " : (k == 0 ? "coarse label " : "fine label "), int(rec[k]),
                    ", expected 0..", classes[k] - 1, label_bytes == 1 ? " (is it a CIFAR-100 file?)" : "");
      }
      if (label_bytes == 1) {
        fine[n] = rec[0];
      } else {
        coarse[n] = rec[0];
        fine[n] = rec[1];
      }
      std::memcpy(pixels + n * kCifarImageBytes, rec + label_bytes, kCifarImageBytes);
    }
  }
  return out;
}

inline std::vector<std::string> in_folder(const std::string& root, const std::vector<std::string>& names,
                                          const char* who) {
  std::error_code ec;
  TORCH_CHECK(std::filesystem::is_directory(root, ec), who, ": folder '", root, "' does not exist");
  std::vector<std::string> paths;
  for (const std::string& name : names) {
    paths.push_back((std::filesystem::path(root) / name).string());
  }
  return paths;
}

}  // namespace detail

/// Reads CIFAR-10 binary batch files (gzipped or not), concatenated in the order given.
/// Images uint8 [N, 3, 32, 32] (RGB planes), labels int64 [N] in 0..9. A file whose size is not
/// a multiple of 3073 bytes (truncated, or CIFAR-100) or a label above 9 is an error naming it.
///
///     auto data = byol::data::read_cifar10({"data_batch_1.bin", "data_batch_2.bin"});
///     data.images.sizes();   // [20000, 3, 32, 32]
///     data.labels.max();     // 9
inline LabeledImages read_cifar10(const std::vector<std::string>& files) {
  const int64_t classes[] = {10};
  return detail::read_cifar_records(files, 1, classes, "read_cifar10");
}

/// Reads CIFAR-100 binary files (gzipped or not), concatenated in the order given. Images uint8
/// [N, 3, 32, 32], `labels` the fine labels (0..99), `coarse_labels` the superclasses (0..19).
///
///     auto data = byol::data::read_cifar100({"cifar-100-binary/train.bin"});
///     data.labels.max();          // 99
///     data.coarse_labels.max();   // 19
inline LabeledImages read_cifar100(const std::vector<std::string>& files) {
  const int64_t classes[] = {20, 100};
  return detail::read_cifar_records(files, 2, classes, "read_cifar100");
}

/// Loads CIFAR-10 from the folder of its binary version (cifar-10-batches-bin):
/// data_batch_1.bin .. data_batch_5.bin for Split::train (50000), test_batch.bin for Split::test.
///
///     auto train = byol::data::load_cifar10("cifar-10-batches-bin");
///     auto test = byol::data::load_cifar10("cifar-10-batches-bin", byol::data::Split::test);
///     test.size();   // 10000
inline LabeledImages load_cifar10(const std::string& root, Split split = Split::train) {
  const std::vector<std::string> names =
      split == Split::train ? std::vector<std::string>{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                                       "data_batch_4.bin", "data_batch_5.bin"}
                            : std::vector<std::string>{"test_batch.bin"};
  return read_cifar10(detail::in_folder(root, names, "load_cifar10"));
}

/// Loads CIFAR-100 from the folder of its binary version (cifar-100-binary): train.bin for
/// Split::train (50000), test.bin for Split::test (10000).
///
///     auto train = byol::data::load_cifar100("cifar-100-binary");
///     train.labels;          // fine labels
///     train.coarse_labels;   // superclasses
inline LabeledImages load_cifar100(const std::string& root, Split split = Split::train) {
  return read_cifar100(
      detail::in_folder(root, {split == Split::train ? "train.bin" : "test.bin"}, "load_cifar100"));
}

}  // namespace byol::data

// libFuzzer target: read_idx, read_idx_images and read_idx_labels on arbitrary bytes (raw or
// gzipped IDX; zlib inflates a gzip stream the readers detect).
#include <byol/data/idx.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static byol_fuzz::InputFile file;
  const std::string& path = file.hold(data, size);
  byol_fuzz::expect_result_or_c10_error([&] {
    const at::Tensor t = byol::data::read_idx(path);
    // The tensor owns the bytes it claims: touch every one.
    if (t.numel() > 0) (void)t.sum().item<int64_t>();
  });
  byol_fuzz::expect_result_or_c10_error([&] { (void)byol::data::read_idx_images(path); });
  byol_fuzz::expect_result_or_c10_error([&] { (void)byol::data::read_idx_labels(path); });
  return 0;
}

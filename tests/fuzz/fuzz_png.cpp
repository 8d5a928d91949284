// libFuzzer target: the PNG decoder on arbitrary bytes, in every channel mode, strict and not,
// and read_image on the same bytes as a file.
#include <byol/data/image.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using byol::data::DecodeOptions;
  using byol::data::ImageMode;
  static byol_fuzz::InputFile file;
  // A small pixel limit: the limit's check is exercised and no input allocates gigabytes.
  const auto options = DecodeOptions().max_pixels(int64_t(1) << 20);
  for (const ImageMode mode : {ImageMode::keep, ImageMode::gray, ImageMode::rgb}) {
    for (const bool strict : {true, false}) {
      byol_fuzz::expect_result_or_c10_error([&] {
        const at::Tensor image = byol::data::decode_png(data, size, DecodeOptions(options).mode(mode).strict(strict));
        (void)image.sum().item<int64_t>();
      });
    }
  }
  byol_fuzz::expect_result_or_c10_error([&] { (void)byol::data::read_image(file.hold(data, size), options); });
  return 0;
}

// What the PNG and JPEG targets share: one decoder on arbitrary bytes, in every channel mode,
// strict and not, then read_image on the same bytes as a file.
#pragma once

#include <byol/data/image.hpp>

#include "fuzz_input.hpp"

#include <cstddef>
#include <cstdint>

namespace byol_fuzz {

// decode(data, size, options) is byol::data::decode_png or decode_jpeg.
template <typename Decode>
int fuzz_image_decoder(const uint8_t* data, size_t size, const Decode& decode) {
  using byol::data::DecodeOptions;
  using byol::data::ImageMode;
  static InputFile file;
  // A small pixel limit: the limit's check is exercised and no input allocates gigabytes.
  const auto options = DecodeOptions().max_pixels(int64_t(1) << 20);
  for (const ImageMode mode : {ImageMode::keep, ImageMode::gray, ImageMode::rgb}) {
    for (const bool strict : {true, false}) {
      expect_result_or_c10_error([&] {
        const at::Tensor image = decode(data, size, DecodeOptions(options).mode(mode).strict(strict));
        (void)image.sum().item<int64_t>();
      });
    }
  }
  expect_result_or_c10_error([&] { (void)byol::data::read_image(file.hold(data, size), options); });
  return 0;
}

}  // namespace byol_fuzz

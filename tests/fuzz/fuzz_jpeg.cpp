// libFuzzer target: the JPEG decoder (TurboJPEG) on arbitrary bytes, in every channel mode,
// strict and not, and read_image on the same bytes as a file (tests/fuzz/fuzz_image.hpp).
#include "fuzz_image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return byol_fuzz::fuzz_image_decoder(data, size, [](const uint8_t* bytes, size_t n, const byol::data::DecodeOptions& options) {
    return byol::data::decode_jpeg(bytes, n, options);
  });
}

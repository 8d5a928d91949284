#pragma once

/// Image files: JPEG and PNG decoding to uint8 [C, H, W] tensors (libjpeg-turbo, libpng), and
/// PNG encoding of [1, H, W] / [3, H, W] tensors. Part of the byol::data target.
///
///     auto image = byol::data::read_image("cat.jpg");            // uint8 [3, H, W]
///     byol::data::write_png("preview.png", image);               // uint8 or float in [0, 1]
///     auto gray = byol::data::read_image("scan.png", byol::data::DecodeOptions().mode(byol::data::ImageMode::gray));

#include <byol/data/detail/file.hpp>

#include <ATen/ATen.h>
#include <torch/arg.h>

#include <png.h>
#include <turbojpeg.h>

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace byol::data {

/// The channels a decoder returns.
enum class ImageMode {
  /// What the file holds: 1 channel for grayscale images, 3 for colour ones (alpha dropped).
  keep,
  /// 1 channel. Colour JPEGs give libjpeg's luma Y; colour PNGs round(0.299 R + 0.587 G + 0.114 B).
  gray,
  /// 3 channels, RGB; grayscale images are replicated into the three.
  rgb,
};

/// What an image's bytes hold, judged from their first bytes (not from a file name).
enum class ImageFormat {
  unknown,
  /// Starts with FF D8 FF.
  jpeg,
  /// Starts with the 8-byte PNG signature 89 'P' 'N' 'G' 0D 0A 1A 0A.
  png,
};

/// Options of the decoders.
struct DecodeOptions {
  /// The channels to return. Default ImageMode::rgb (3 channels whatever the file holds).
  TORCH_ARG(ImageMode, mode) = ImageMode::rgb;
  /// true: a JPEG that libjpeg warns about (truncated or corrupt entropy data) is an error, and a
  /// PNG is read through to its IEND chunk (so data cut after the pixels is an error too).
  /// false: accept whatever the library could decode. Default true.
  TORCH_ARG(bool, strict) = true;
  /// Largest accepted width * height: a corrupt header cannot make the decoder allocate
  /// gigabytes. Default 2^28 (16384 x 16384).
  TORCH_ARG(int64_t, max_pixels) = int64_t(1) << 28;
  /// Largest image file read_image and ImageFolder read, in bytes: a bigger file is refused
  /// (by name) before it is read. Default 256 MiB.
  TORCH_ARG(int64_t, max_file_bytes) = int64_t(256) << 20;
};

/// The format of `size` bytes at `data`, from their signature.
///
///     std::vector<uint8_t> bytes = ...;
///     auto format = byol::data::sniff_image_format(bytes.data(), bytes.size());
///     bool is_png = format == byol::data::ImageFormat::png;
inline ImageFormat sniff_image_format(const uint8_t* data, size_t size) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (data != nullptr && size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
    return ImageFormat::jpeg;
  }
  if (data != nullptr && size >= 8 && std::memcmp(data, kPng, 8) == 0) {
    return ImageFormat::png;
  }
  return ImageFormat::unknown;
}

namespace detail {

inline void check_decode_input(const uint8_t* data, size_t size, const DecodeOptions& options,
                               const std::string& name, const char* who) {
  TORCH_CHECK(data != nullptr || size == 0, who, ": '", name, "': null data pointer with size ", size);
  TORCH_CHECK(size > 0, who, ": '", name, "' is empty (0 bytes)");
  TORCH_CHECK(options.max_pixels() > 0, who, ": max_pixels must be > 0, got ", options.max_pixels());
}

inline void check_image_size(int64_t width, int64_t height, const DecodeOptions& options, const std::string& name,
                             const char* who) {
  TORCH_CHECK(width > 0 && height > 0, who, ": '", name, "' declares a ", width, "x", height, " image");
  TORCH_CHECK(width * height <= options.max_pixels(), who, ": '", name, "' declares a ", width, "x", height,
              " image, more than max_pixels = ", options.max_pixels());
}

/// One TurboJPEG decompressor per thread, reused across images. After a failure it is
/// replaced: libjpeg-turbo 2.1's tjDecompressHeader3 returns from an error without resetting the
/// decompressor, and the next image would then be read from the failed one's parser state.
struct TurboJpegDecompressor {
  tjhandle handle = tjInitDecompress();
  TurboJpegDecompressor() = default;
  TurboJpegDecompressor(const TurboJpegDecompressor&) = delete;
  TurboJpegDecompressor& operator=(const TurboJpegDecompressor&) = delete;
  ~TurboJpegDecompressor() { destroy(); }
  void destroy() {
    if (handle != nullptr) {
      tjDestroy(handle);
      handle = nullptr;
    }
  }
  /// Its error text, then a fresh decompressor for the next image.
  std::string fail() {
    std::string message = handle != nullptr ? tjGetErrorStr2(handle) : "no decompressor";
    destroy();
    handle = tjInitDecompress();
    return message;
  }
};

inline TurboJpegDecompressor& thread_jpeg_decompressor() {
  thread_local TurboJpegDecompressor decompressor;
  if (decompressor.handle == nullptr) {
    decompressor.handle = tjInitDecompress();
  }
  return decompressor;
}

inline at::Tensor decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& options,
                              const std::string& name, const char* who) {
  check_decode_input(data, size, options, name, who);
  TurboJpegDecompressor& decompressor = thread_jpeg_decompressor();
  tjhandle tj = decompressor.handle;
  TORCH_CHECK(tj != nullptr, who, ": cannot create a TurboJPEG decompressor: ", tjGetErrorStr2(nullptr));
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, data, static_cast<unsigned long>(size), &width, &height, &subsampling, &colorspace) !=
      0) {
    const std::string message = decompressor.fail();
    TORCH_CHECK(false, who, ": '", name, "' is not a readable JPEG: ", message);
  }
  TORCH_CHECK(colorspace != TJCS_CMYK && colorspace != TJCS_YCCK, who, ": '", name,
              "' is a CMYK JPEG; converting CMYK to RGB needs a colour-management system, which byol does not use");
  check_image_size(width, height, options, name, who);
  const bool gray =
      options.mode() == ImageMode::gray || (options.mode() == ImageMode::keep && colorspace == TJCS_GRAY);
  const int64_t channels = gray ? 1 : 3;
  at::Tensor hwc = at::empty({height, width, channels}, at::kByte);
  const int flags = TJFLAG_ACCURATEDCT | (options.strict() ? TJFLAG_STOPONWARNING : 0);
  if (tjDecompress2(tj, data, static_cast<unsigned long>(size), hwc.data_ptr<uint8_t>(), width, 0, height,
                    gray ? TJPF_GRAY : TJPF_RGB, flags) != 0) {
    // libjpeg reports truncated or corrupt entropy data as a warning and fills in the rest.
    const bool warning_only = tjGetErrorCode(tj) == TJERR_WARNING;
    if (!warning_only || options.strict()) {
      const std::string message = decompressor.fail();
      TORCH_CHECK(false, who, ": cannot decode JPEG '", name, "': ", message);
    }
  }
  return hwc.permute({2, 0, 1}).contiguous();
}

// ---- libpng: errors come back through setjmp/longjmp. The functions that call setjmp hold no
// object with a destructor between setjmp and the calls that may longjmp; tensors and vectors
// live in the caller's frame and are reached through the state pointer.

struct PngErrorState {
  char message[256] = {0};
};

inline void png_on_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngErrorState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message != nullptr ? message : "unknown error");
  png_longjmp(png, 1);
}

// Warnings (an sRGB profile libpng calls incorrect, an unknown chunk, ...) do not stop decoding.
inline void png_on_warning(png_structp, png_const_charp) {}

struct PngDecodeState {
  PngErrorState error;
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t offset = 0;
  bool gray_to_rgb = false;
  bool strict = true;
  int64_t max_pixels = 0;
  // Set while reading: the source's type and the decoded layout.
  bool color_source = false;
  int64_t width = 0, height = 0, channels = 0;
  // Owned by the caller.
  at::Tensor* pixels = nullptr;
  std::vector<png_bytep>* rows = nullptr;
};

inline void png_on_read(png_structp png, png_bytep out, png_size_t count) {
  auto* state = static_cast<PngDecodeState*>(png_get_io_ptr(png));
  if (state->size - state->offset < count) {
    png_error(png, "truncated: the data ends before the image does");
  }
  std::memcpy(out, state->data + state->offset, count);
  state->offset += count;
}

inline bool png_allocate(PngDecodeState* state, size_t row_bytes) noexcept {
  try {
    *state->pixels = at::empty({state->height, state->width, state->channels}, at::kByte);
    state->rows->resize(static_cast<size_t>(state->height));
    uint8_t* base = state->pixels->data_ptr<uint8_t>();
    for (int64_t y = 0; y < state->height; ++y) {
      (*state->rows)[static_cast<size_t>(y)] = base + static_cast<size_t>(y) * row_bytes;
    }
    return true;
  } catch (...) {
    return false;
  }
}

/// Decodes into *state->pixels as [H, W, 1 or 3] uint8; false with state->error.message set on
/// failure.
inline bool png_decode_into(PngDecodeState* state) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state->error, png_on_error, png_on_warning);
  if (png == nullptr) {
    std::snprintf(state->error.message, sizeof state->error.message, "cannot create a libpng reader");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(state->error.message, sizeof state->error.message, "cannot create a libpng info struct");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, state, png_on_read);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  if (static_cast<int64_t>(width) * static_cast<int64_t>(height) > state->max_pixels) {
    png_error(png, "the image has more pixels than max_pixels");
  }
  state->color_source = (color_type & PNG_COLOR_MASK_COLOR) != 0;  // RGB, RGBA and palette
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    png_set_palette_to_rgb(png);
  }
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
    png_set_expand_gray_1_2_4_to_8(png);
  }
  if (bit_depth == 16) {
    png_set_scale_16(png);  // round(v * 255 / 65535)
  }
  // Alpha is dropped, whether stored or made from a tRNS chunk (png_set_palette_to_rgb
  // expands tRNS to alpha).
  if ((color_type & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS) != 0) {
    png_set_strip_alpha(png);
  }
  if (!state->color_source && state->gray_to_rgb) {
    png_set_gray_to_rgb(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  state->width = width;
  state->height = height;
  state->channels = png_get_channels(png, info);
  if (png_get_bit_depth(png, info) != 8 || (state->channels != 1 && state->channels != 3)) {
    png_error(png, "unexpected layout after the 8-bit expansion");
  }
  if (!png_allocate(state, png_get_rowbytes(png, info))) {
    png_error(png, "out of memory for the pixels");
  }
  png_read_image(png, state->rows->data());
  if (state->strict) {
    png_read_end(png, nullptr);
  }
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

/// [H, W, 3] uint8 -> [H, W, 1]: round(0.299 R + 0.587 G + 0.114 B), in integers.
inline at::Tensor rgb_to_luma(const at::Tensor& hwc) {
  const int64_t pixels = hwc.size(0) * hwc.size(1);
  at::Tensor out = at::empty({hwc.size(0), hwc.size(1), 1}, at::kByte);
  const uint8_t* src = hwc.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  for (int64_t i = 0; i < pixels; ++i) {
    dst[i] = static_cast<uint8_t>((299 * src[3 * i] + 587 * src[3 * i + 1] + 114 * src[3 * i + 2] + 500) / 1000);
  }
  return out;
}

inline at::Tensor decode_png(const uint8_t* data, size_t size, const DecodeOptions& options, const std::string& name,
                             const char* who) {
  check_decode_input(data, size, options, name, who);
  at::Tensor pixels;
  std::vector<png_bytep> rows;
  PngDecodeState state;
  state.data = data;
  state.size = size;
  state.gray_to_rgb = options.mode() == ImageMode::rgb;
  state.strict = options.strict();
  state.max_pixels = options.max_pixels();
  state.pixels = &pixels;
  state.rows = &rows;
  TORCH_CHECK(png_decode_into(&state), who, ": cannot decode PNG '", name, "': ", state.error.message);
  if (options.mode() == ImageMode::gray && state.channels == 3) {
    pixels = rgb_to_luma(pixels);
  }
  return pixels.permute({2, 0, 1}).contiguous();
}

inline at::Tensor decode_any(const uint8_t* data, size_t size, const DecodeOptions& options, const std::string& name,
                             const char* who) {
  check_decode_input(data, size, options, name, who);
  switch (sniff_image_format(data, size)) {
    case ImageFormat::jpeg:
      return decode_jpeg(data, size, options, name, who);
    case ImageFormat::png:
      return decode_png(data, size, options, name, who);
    case ImageFormat::unknown:
      break;
  }
  char start[64];
  const size_t shown = size < 4 ? size : 4;
  int used = 0;
  for (size_t i = 0; i < shown; ++i) {
    used += std::snprintf(start + used, sizeof start - static_cast<size_t>(used), "%s%02X", i == 0 ? "" : " ",
                          static_cast<unsigned>(data[i]));
  }
  TORCH_CHECK(false, who, ": '", name, "' is neither a JPEG nor a PNG image (it starts with bytes ", start, ")");
}

// ---- PNG encoding

struct PngEncodeState {
  PngErrorState error;
  int64_t width = 0, height = 0, channels = 0;
  const std::vector<png_bytep>* rows = nullptr;
  std::vector<uint8_t>* out = nullptr;
  int compression_level = 6;
};

inline bool png_append(std::vector<uint8_t>* out, const uint8_t* data, size_t count) noexcept {
  try {
    out->insert(out->end(), data, data + count);
    return true;
  } catch (...) {
    return false;
  }
}

inline void png_on_write(png_structp png, png_bytep data, png_size_t count) {
  auto* state = static_cast<PngEncodeState*>(png_get_io_ptr(png));
  if (!png_append(state->out, data, count)) {
    png_error(png, "out of memory for the encoded bytes");
  }
}

inline void png_on_flush(png_structp) {}

inline bool png_encode_into(PngEncodeState* state) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state->error, png_on_error, png_on_warning);
  if (png == nullptr) {
    std::snprintf(state->error.message, sizeof state->error.message, "cannot create a libpng writer");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(state->error.message, sizeof state->error.message, "cannot create a libpng info struct");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, state, png_on_write, png_on_flush);
  png_set_compression_level(png, state->compression_level);
  png_set_IHDR(png, info, static_cast<png_uint_32>(state->width), static_cast<png_uint_32>(state->height), 8,
               state->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, const_cast<png_bytepp>(state->rows->data()));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

/// [C, H, W] (C = 1 or 3), uint8 or floating point in [0, 1] -> contiguous uint8 [H, W, C] on the CPU.
inline at::Tensor to_hwc_uint8(const at::Tensor& image, const char* who) {
  TORCH_CHECK(image.defined(), who, ": image is an undefined tensor");
  TORCH_CHECK(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3), who,
              ": image must have shape [3, H, W] or [1, H, W], got ", image.sizes());
  TORCH_CHECK(image.size(1) > 0 && image.size(2) > 0, who, ": image has no pixels, shape ", image.sizes());
  TORCH_CHECK(image.size(1) <= PNG_UINT_31_MAX && image.size(2) <= PNG_UINT_31_MAX, who,
              ": image is too large for PNG, shape ", image.sizes());
  at::Tensor pixels = image.detach().to(at::kCPU);
  if (pixels.scalar_type() != at::kByte) {
    TORCH_CHECK(at::isFloatingType(pixels.scalar_type()), who,
                ": image must be uint8 (0..255) or floating point (0..1), got ", pixels.scalar_type());
    pixels = pixels.to(at::kDouble).nan_to_num(0.0).clamp(0.0, 1.0).mul(255.0).round().to(at::kByte);
  }
  return pixels.permute({1, 2, 0}).contiguous();
}

inline std::vector<uint8_t> encode_png(const at::Tensor& image, int compression_level, const char* who) {
  TORCH_CHECK(compression_level >= 0 && compression_level <= 9, who, ": compression_level must be in 0..9, got ",
              compression_level);
  const at::Tensor hwc = to_hwc_uint8(image, who);
  std::vector<png_bytep> rows(static_cast<size_t>(hwc.size(0)));
  const size_t row_bytes = static_cast<size_t>(hwc.size(1) * hwc.size(2));
  for (size_t y = 0; y < rows.size(); ++y) {
    rows[y] = hwc.data_ptr<uint8_t>() + y * row_bytes;
  }
  std::vector<uint8_t> out;
  PngEncodeState state;
  state.width = hwc.size(1);
  state.height = hwc.size(0);
  state.channels = hwc.size(2);
  state.rows = &rows;
  state.out = &out;
  state.compression_level = compression_level;
  TORCH_CHECK(png_encode_into(&state), who, ": libpng failed: ", state.error.message);
  return out;
}

}  // namespace detail

/// Decodes a JPEG: uint8 [C, H, W] with C = 3 or 1 per `options.mode`. Errors (a c10::Error
/// naming `name`): not a JPEG, corrupt or truncated data (see DecodeOptions::strict), CMYK
/// colour, more than max_pixels.
///
///     std::vector<uint8_t> bytes = ...;                 // a .jpg file's content
///     auto image = byol::data::decode_jpeg(bytes.data(), bytes.size());
///     image.sizes();                                     // [3, H, W]
inline at::Tensor decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& options = {},
                              const std::string& name = "<memory>") {
  return detail::decode_jpeg(data, size, options, name, "decode_jpeg");
}

/// Decodes a PNG: uint8 [C, H, W]. Palette images are expanded to RGB, 1/2/4-bit gray to 8 bits,
/// 16-bit samples scaled to 8 (round(v * 255 / 65535)), alpha dropped (not blended), interlacing
/// undone. Errors name `name`: not a PNG, bad CRC, truncated data, more than max_pixels.
///
///     auto image = byol::data::decode_png(bytes.data(), bytes.size());
///     auto gray = byol::data::decode_png(bytes.data(), bytes.size(),
///                                        byol::data::DecodeOptions().mode(byol::data::ImageMode::keep));
inline at::Tensor decode_png(const uint8_t* data, size_t size, const DecodeOptions& options = {},
                             const std::string& name = "<memory>") {
  return detail::decode_png(data, size, options, name, "decode_png");
}

/// Decodes a JPEG or a PNG, told apart by their signatures (not by a file name): uint8 [C, H, W].
/// Anything else is an error naming `name` and showing its first bytes.
///
///     std::vector<uint8_t> bytes = ...;
///     auto image = byol::data::decode_image(bytes);                 // [3, H, W]
///     auto same = byol::data::decode_image(bytes.data(), bytes.size());
inline at::Tensor decode_image(const uint8_t* data, size_t size, const DecodeOptions& options = {},
                               const std::string& name = "<memory>") {
  return detail::decode_any(data, size, options, name, "decode_image");
}

/// decode_image over a byte vector.
///
///     std::vector<uint8_t> bytes = ...;
///     auto image = byol::data::decode_image(bytes);
///     image.dtype();   // uint8
inline at::Tensor decode_image(const std::vector<uint8_t>& bytes, const DecodeOptions& options = {},
                               const std::string& name = "<memory>") {
  return detail::decode_any(bytes.data(), bytes.size(), options, name, "decode_image");
}

/// decode_image over a 1-D uint8 tensor of the encoded bytes (on the CPU).
///
///     at::Tensor bytes = ...;                          // uint8 [size]
///     auto image = byol::data::decode_image(bytes);     // uint8 [C, H, W]
///     image.sizes();
inline at::Tensor decode_image(const at::Tensor& bytes, const DecodeOptions& options = {},
                               const std::string& name = "<memory>") {
  TORCH_CHECK(bytes.defined() && bytes.dim() == 1 && bytes.scalar_type() == at::kByte, "decode_image: bytes must be a ",
              "1-D uint8 tensor, got ", bytes.defined() ? bytes.sizes() : c10::IntArrayRef{}, " ",
              bytes.defined() ? c10::toString(bytes.scalar_type()) : "undefined");
  const at::Tensor cpu = bytes.to(at::kCPU).contiguous();
  return detail::decode_any(cpu.data_ptr<uint8_t>(), static_cast<size_t>(cpu.numel()), options, name, "decode_image");
}

/// Reads and decodes a JPEG or PNG file: uint8 [C, H, W] (3 channels by default). The format
/// comes from the file's first bytes, not its extension. Only a regular file (or a link to one)
/// of at most DecodeOptions::max_file_bytes (256 MiB) is read: a FIFO, /dev/zero or a folder
/// is refused. Errors name the file.
///
///     auto image = byol::data::read_image("photo.jpg");                       // [3, H, W]
///     auto keep = byol::data::read_image("mask.png",
///                                        byol::data::DecodeOptions().mode(byol::data::ImageMode::keep));
inline at::Tensor read_image(const std::string& path, const DecodeOptions& options = {}) {
  TORCH_CHECK(options.max_file_bytes() > 0, "read_image: max_file_bytes must be > 0, got ", options.max_file_bytes());
  const std::vector<uint8_t> bytes =
      detail::read_bytes(path, "read_image", static_cast<uint64_t>(options.max_file_bytes()));
  return detail::decode_any(bytes.data(), bytes.size(), options, path, "read_image");
}

/// Encodes an image as an 8-bit PNG (gray for [1, H, W], RGB for [3, H, W]). uint8 values are
/// written as they are; floating-point values are taken as [0, 1], clipped, scaled by 255 and
/// rounded (NaN -> 0). Tensors on another device are copied to the CPU.
///
/// @param compression_level  zlib level 0 (none) .. 9 (smallest). Default 6.
///
///     std::vector<uint8_t> png = byol::data::encode_png(torch::rand({3, 32, 32}));
///     auto back = byol::data::decode_image(png);      // uint8 [3, 32, 32]
///     png.size();
inline std::vector<uint8_t> encode_png(const at::Tensor& image, int compression_level = 6) {
  return detail::encode_png(image, compression_level, "encode_png");
}

/// Writes an image as an 8-bit PNG file (see encode_png for the accepted tensors). Errors name
/// the file when it cannot be written.
///
///     byol::data::write_png("view1.png", view1[0]);       // float [3, H, W] in [0, 1]
///     byol::data::write_png("digit.png", images[0]);      // uint8 [1, 28, 28]
///     auto back = byol::data::read_image("digit.png", byol::data::DecodeOptions().mode(byol::data::ImageMode::keep));
inline void write_png(const std::string& path, const at::Tensor& image, int compression_level = 6) {
  const std::vector<uint8_t> bytes = detail::encode_png(image, compression_level, "write_png");
  detail::write_bytes(path, bytes.data(), bytes.size(), "write_png");
}

}  // namespace byol::data

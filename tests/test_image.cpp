// byol/data/image.hpp: PNG writing and decoding, JPEG decoding against TurboJPEG's compressor,
// errors naming the input, and the file size limit.

#include "data_support.hpp"

using namespace byol_test_data;  // NOLINT(google-build-using-namespace)

// ---- image decoding and PNG writing -------------------------------------------------------------

TEST_CASE("write_png / encode_png: exact round trips, header fields, float scaling", "[image]") {
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

TEST_CASE("PNG layouts our writer does not make decode to the values written", "[image]") {
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

TEST_CASE("JPEG decoding: layout, colour, gray, odd sizes, against TurboJPEG's compressor", "[image]") {
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

TEST_CASE("Decoding errors name the input: garbage, truncated, CRC, not an image, empty, too large", "[image]") {
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

TEST_CASE("Image files above max_file_bytes are refused before they are read", "[image]") {
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

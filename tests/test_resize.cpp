// byol/augment/resize.hpp against torchvision's output sizes, a hand-written float64 bilinear
// interpolation (source coordinate (i + 0.5) H / h - 0.5, clamped to the image), the closed form
// of linear ramps, and the resampling sums of tests/augment_support.hpp with the whole image as
// the box.
#include "augment_support.hpp"

using namespace augment_test;  // NOLINT(google-build-using-namespace): the shared references

namespace {

// Bilinear interpolation with half-pixel centres, written from its definition: for output pixel
// (i, j) of an h x w result from an H x W image, the source point is
// (y, x) = ((i + 0.5) H / h - 0.5, (j + 0.5) W / w - 0.5), clamped to [0, H - 1] x [0, W - 1],
// and the value the two-way linear blend of the four pixels around it.
std::vector<double> ref_bilinear(const Pixels& in, int64_t h, int64_t w) {
  const auto source = [](int64_t i, int64_t n_in, int64_t n_out) {
    const double s = (static_cast<double>(i) + 0.5) * static_cast<double>(n_in) / static_cast<double>(n_out) - 0.5;
    return std::min(std::max(s, 0.0), static_cast<double>(n_in - 1));
  };
  std::vector<double> out;
  for (int64_t b = 0; b < in.b; ++b)
    for (int64_t c = 0; c < in.c; ++c)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
          const double y = source(i, in.h, h), x = source(j, in.w, w);
          const auto y0 = static_cast<int64_t>(std::floor(y)), x0 = static_cast<int64_t>(std::floor(x));
          const int64_t y1 = std::min(y0 + 1, in.h - 1), x1 = std::min(x0 + 1, in.w - 1);
          const double ty = y - static_cast<double>(y0), tx = x - static_cast<double>(x0);
          const double top = (1 - tx) * in.at(b, c, y0, x0) + tx * in.at(b, c, y0, x1);
          const double bottom = (1 - tx) * in.at(b, c, y1, x0) + tx * in.at(b, c, y1, x1);
          out.push_back((1 - ty) * top + ty * bottom);
        }
  return out;
}

// The resampling sums of the crop tests with the whole image as the box, h x w out.
std::vector<double> ref_resize(const Pixels& in, int64_t h, int64_t w, bool cubic, bool antialias) {
  std::vector<double> out;
  for (int64_t b = 0; b < in.b; ++b)
    for (int64_t c = 0; c < in.c; ++c)
      for (int64_t i = 0; i < h; ++i) {
        const auto wy = resample_row(i, 0, static_cast<double>(in.h), h, in.h, cubic, antialias);
        for (int64_t j = 0; j < w; ++j) {
          const auto wx = resample_row(j, 0, static_cast<double>(in.w), w, in.w, cubic, antialias);
          double acc = 0;
          for (int64_t y = 0; y < in.h; ++y)
            for (int64_t x = 0; x < in.w; ++x)
              acc += wy[static_cast<size_t>(y)] * wx[static_cast<size_t>(x)] * in.at(b, c, y, x);
          out.push_back(clip01(acc));
        }
      }
  return out;
}

}  // namespace

TEST_CASE("resize: the shorter side to size, the longer to floor(size * long / short), as torchvision", "[resize]") {
  // torchvision.transforms.Resize(256) on 300 x 400: 256 x int(256 * 400 / 300) = 256 x 341.
  REQUIRE(F::resize(torch::rand({2, 3, 300, 400}), 256).sizes() == torch::IntArrayRef({2, 3, 256, 341}));
  REQUIRE(F::resize(torch::rand({1, 3, 400, 300}), 256).sizes() == torch::IntArrayRef({1, 3, 341, 256}));
  REQUIRE(F::resize(torch::rand({1, 1, 9, 9}), 4).sizes() == torch::IntArrayRef({1, 1, 4, 4}));
  REQUIRE(F::resize(torch::rand({1, 1, 1, 5}), 2).sizes() == torch::IntArrayRef({1, 1, 2, 10}));
  REQUIRE(F::resize(torch::rand({1, 1, 7, 5}), 3, 11).sizes() == torch::IntArrayRef({1, 1, 3, 11}));
}

TEST_CASE("resize to the image's own size returns its pixels; uint8 is divided by 255", "[resize]") {
  BOTH_PATHS();
  const auto x = torch::rand({3, 3, 6, 9});
  REQUIRE(torch::equal(F::resize(x, 6), x));
  REQUIRE(torch::equal(F::resize(x, 6, 9), x));
  const auto d = x.to(torch::kDouble);
  REQUIRE(torch::equal(F::resize(d, 6), d));
  const auto bytes = torch::randint(0, 256, {2, 3, 5, 4}, torch::kByte);
  const auto out = F::resize(bytes, 4);
  REQUIRE(out.scalar_type() == torch::kFloat);
  REQUIRE(torch::allclose(out, bytes.to(torch::kFloat) / 255, 0, 1e-6));
}

TEST_CASE("resize is bilinear interpolation with half-pixel centres, enlarging and shrinking", "[resize]") {
  BOTH_PATHS();
  const auto x = torch::rand({2, 3, 5, 7}, torch::kDouble);
  const auto big = torch::rand({2, 1, 20, 30}, torch::kDouble);
  for (const auto& hw : std::vector<std::pair<int64_t, int64_t>>{{12, 9}, {5, 16}, {3, 4}, {1, 1}}) {
    INFO(hw.first << "x" << hw.second << " from 5x7");
    REQUIRE_CLOSE(values(F::resize(x, hw.first, hw.second)), ref_bilinear(pixels(x), hw.first, hw.second), 0, 1e-12);
  }
  REQUIRE_CLOSE(values(F::resize(big, 7, 11)), ref_bilinear(pixels(big), 7, 11), 0, 1e-12);
  // The shorter-side form is the same resampling to its computed size.
  REQUIRE_CLOSE(values(F::resize(x, 10)), ref_bilinear(pixels(x), 10, 14), 0, 1e-12);
  // float32 in, float32 out, to float32 rounding.
  REQUIRE_CLOSE(values(F::resize(x.to(torch::kFloat), 12, 9)), ref_bilinear(pixels(x), 12, 9), 0, 1e-6);
}

TEST_CASE("resize reproduces a linear ramp a + b y + c x exactly where no clamping happens", "[resize]") {
  BOTH_PATHS();
  const int64_t H = 8, W = 10, h = 13, w = 6;
  const double a = 0.1, b = 0.04, c = 0.03;  // in [0.1, 0.65]: no clipping
  auto x = torch::empty({1, 1, H, W}, torch::kDouble);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t q = 0; q < W; ++q) x[0][0][y][q] = a + b * static_cast<double>(y) + c * static_cast<double>(q);
  const auto out = F::resize(x, h, w);
  for (int64_t i = 0; i < h; ++i) {
    const double sy = (static_cast<double>(i) + 0.5) * H / h - 0.5;
    for (int64_t j = 0; j < w; ++j) {
      const double sx = (static_cast<double>(j) + 0.5) * W / w - 0.5;
      if (sy < 0 || sy > H - 1 || sx < 0 || sx > W - 1) continue;  // clamped to the edge there
      INFO("pixel " << i << ", " << j);
      REQUIRE(out[0][0][i][j].item<double>() == Approx(a + b * sy + c * sx).margin(1e-12));
    }
  }
}

TEST_CASE("resize with bicubic or antialiasing matches the direct resampling sums, non-square", "[resize]") {
  BOTH_PATHS();
  const auto x = torch::rand({2, 3, 16, 11}, torch::kDouble);
  for (const bool cubic : {false, true}) {
    for (const bool antialias : {false, true}) {
      INFO((cubic ? "bicubic" : "bilinear") << (antialias ? ", antialiased" : ""));
      const auto interpolation = cubic ? A::Interpolation::bicubic : A::Interpolation::bilinear;
      REQUIRE_CLOSE(values(F::resize(x, 6, 9, interpolation, antialias)), ref_resize(pixels(x), 6, 9, cubic, antialias),
                    0, 1e-12);
      REQUIRE_CLOSE(values(F::resize(x, 7, interpolation, antialias)), ref_resize(pixels(x), 10, 7, cubic, antialias),
                    0, 1e-12);
    }
  }
}

TEST_CASE("Resize forwards to functional::resize and composes with CenterCrop", "[resize]") {
  const auto x = torch::rand({2, 3, 30, 40});
  const A::Resize shorter(20);
  REQUIRE(shorter.options().size() == std::vector<int64_t>{20});
  REQUIRE(shorter.options().interpolation() == A::Interpolation::bilinear);
  REQUIRE_FALSE(shorter.options().antialias());
  REQUIRE(torch::equal(shorter(x), F::resize(x, 20)));
  auto gen = at::detail::createCPUGenerator(3);
  REQUIRE(torch::equal(shorter(x, gen), F::resize(x, 20)));
  const A::Resize exact(A::ResizeOptions(9, 14).interpolation(A::Interpolation::bicubic).antialias(true));
  REQUIRE(torch::equal(exact(x), F::resize(x, 9, 14, A::Interpolation::bicubic, true)));
  // Resize then CenterCrop: torchvision's evaluation transform, in one pipeline.
  const auto bytes = torch::randint(0, 256, {2, 3, 30, 40}, torch::kByte);
  const auto test = A::Compose(A::Resize(20), A::CenterCrop(16));
  const auto expected = F::center_crop(F::resize(bytes, 20), 16);
  REQUIRE(torch::equal(test(bytes), expected));
  REQUIRE(test(bytes).sizes() == torch::IntArrayRef({2, 3, 16, 16}));
  // The input is not written into.
  const auto before = x.clone();
  A::Compose(A::Normalize(), A::Resize(12))(x);
  REQUIRE(torch::equal(x, before));
}

TEST_CASE("resize and Resize reject bad input naming the argument and its value or shape", "[resize]") {
  using byol_test::require_error;
  require_error([] { F::resize(torch::rand({1, 3, 8, 8}), 0); }, {"resize", "size must be >= 1", "0"});
  require_error([] { F::resize(torch::rand({1, 3, 8, 8}), 4, 0); }, {"resize", ">= 1", "4x0"});
  require_error([] { F::resize(torch::rand({3, 8, 8}), 4); }, {"resize", "[B, C, H, W]", "[3, 8, 8]"});
  require_error([] { F::resize(torch::zeros({1, 3, 8, 8}, torch::kInt), 4); }, {"resize", "uint8", "Int"});
  require_error([] { A::Resize(A::ResizeOptions(0)); }, {"Resize", "size must be >= 1", "[0]"});
  require_error([] { A::Resize(A::ResizeOptions(8).size({1, 2, 3})); }, {"Resize", "one value", "3 values"});
  require_error([] { A::Resize(8)(torch::rand({2, 8, 8})); }, {"Resize", "[2, 8, 8]"});
}

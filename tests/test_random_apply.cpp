// byol/augment/random_apply.hpp and the Bernoulli ops built on it (random_apply.hpp,
// horizontal_flip.hpp, grayscale.hpp, solarize.hpp), with the other random ops' rates beside
// them: apply rates against binomial bounds.
#include "augment_support.hpp"

#include <type_traits>

using namespace augment_test;  // NOLINT(google-build-using-namespace): the shared references

TEST_CASE("random ops apply per image at their rate p (binomial bounds over thousands of images)", "[random_apply]") {
  BOTH_PATHS();
  const int64_t n = 4000;
  auto gen = at::detail::createCPUGenerator(11);
  // Colourful images, away from 0 and 1, none with equal channels.
  const auto x = torch::rand({n, 3, 4, 4}) * 0.5 + 0.25;

  SECTION("flip") {
    const auto y = A::RandomHorizontalFlip(A::RandomHorizontalFlipOptions().p(0.3))(x, gen);
    const auto flipped = x.flip({3});
    require_binomial(count_images(n, [&](int64_t i) { return same_image(y, flipped, i) && !same_image(y, x, i); }), n,
                     0.3);
    REQUIRE(count_images(n, [&](int64_t i) { return !same_image(y, flipped, i) && !same_image(y, x, i); }) == 0);
  }
  SECTION("colour jitter") {
    const auto y = A::ColorJitter(A::ColorJitterOptions().p(0.8))(x, gen);
    require_binomial(count_images(n, [&](int64_t i) { return !same_image(y, x, i); }), n, 0.8);
  }
  SECTION("grayscale") {
    const auto y = A::RandomGrayscale(A::RandomGrayscaleOptions().p(0.2))(x, gen);
    const auto gray = F::rgb_to_grayscale(x);
    require_binomial(count_images(n, [&](int64_t i) { return same_image(y, gray, i, 1e-6); }), n, 0.2);
    REQUIRE(count_images(n, [&](int64_t i) { return !same_image(y, gray, i, 1e-6) && !same_image(y, x, i); }) == 0);
  }
  SECTION("blur") {
    const auto y = A::RandomGaussianBlur(A::RandomGaussianBlurOptions(3).p(0.1).sigma_min(0.5))(x, gen);
    require_binomial(count_images(n, [&](int64_t i) { return !same_image(y, x, i); }), n, 0.1);
  }
  SECTION("solarize") {
    const auto bright = x + 0.3;  // in [0.55, 1.05): solarized images end below 0.45
    const auto y = A::RandomSolarize(A::RandomSolarizeOptions().p(0.2))(bright.clamp(0, 1), gen);
    require_binomial(count_images(n, [&](int64_t i) { return y[i].max().item<double>() < 0.5; }), n, 0.2);
  }
  SECTION("p = 0 and p = 1") {
    REQUIRE(torch::equal(A::RandomGrayscale(A::RandomGrayscaleOptions().p(0.0))(x, gen), x));
    REQUIRE(torch::allclose(A::RandomGrayscale(A::RandomGrayscaleOptions().p(1.0))(x, gen), F::rgb_to_grayscale(x)));
  }
}

namespace {

// RandomApply<Op> with p = 1 against Op's functional op and an independent expression, and with
// p = 0 against the input.
template <typename Op>
void check_bernoulli_op(typename Op::Options options, const torch::Tensor& x,
                        const std::function<torch::Tensor(const torch::Tensor&)>& expected) {
  auto gen = at::detail::createCPUGenerator(31);
  const A::RandomApply<Op> always(options.p(1.0));
  const auto y = always(x, gen);
  REQUIRE(torch::allclose(y, Op::apply(x, options), 0, 1e-6));
  REQUIRE(torch::allclose(y, expected(x), 0, 1e-6));
  const A::RandomApply<Op> never(options.p(0.0));
  REQUIRE(torch::equal(never(x, gen), x));
}

// An op written outside byol, on RandomApply's contract: 1 - x on the chosen images.
struct Invert {
  struct Options {
    TORCH_ARG(double, p) = 0.5;

   public:
    void check() const { TORCH_CHECK(p() >= 0 && p() <= 1, "Invert: p must be in [0, 1], got ", p()); }
  };
  static constexpr const char* kName = "Invert";
  static torch::Tensor apply(const torch::Tensor& images, const Options& /*options*/) { return 1 - images; }
  static void apply_rows_(torch::Tensor& images, const std::vector<int64_t>& rows, const Options& /*options*/) {
    for (const int64_t r : rows) {
      images.select(0, r).mul_(-1).add_(1);
    }
  }
};

}  // namespace

TEST_CASE("each Bernoulli op is RandomApply over its functional op: p = 1 is the op, p = 0 the identity",
          "[random_apply]") {
  BOTH_PATHS();
  const auto x = torch::rand({6, 3, 5, 7});
  check_bernoulli_op<A::ops::HorizontalFlip>(A::RandomHorizontalFlipOptions(), x,
                                             [](const torch::Tensor& t) { return t.flip({3}); });
  check_bernoulli_op<A::ops::Grayscale>(A::RandomGrayscaleOptions(), x, [](const torch::Tensor& t) {
    const auto g = 0.2989 * t.select(1, 0) + 0.5870 * t.select(1, 1) + 0.1140 * t.select(1, 2);
    return g.unsqueeze(1).expand({-1, 3, -1, -1});
  });
  check_bernoulli_op<A::ops::Solarize>(A::RandomSolarizeOptions().threshold(0.3), x,
                                       [](const torch::Tensor& t) { return torch::where(t < 0.3, t, 1 - t); });
  // The public names are the RandomApply instances.
  REQUIRE(std::is_same<A::RandomHorizontalFlip, A::RandomApply<A::ops::HorizontalFlip>>::value);
  REQUIRE(std::is_same<A::RandomGrayscale, A::RandomApply<A::ops::Grayscale>>::value);
  REQUIRE(std::is_same<A::RandomSolarize, A::RandomApply<A::ops::Solarize>>::value);
}

TEST_CASE("RandomApply takes an op written outside byol: drawn per image, applied to the drawn ones",
          "[random_apply]") {
  const int64_t n = 2000;
  const auto x = torch::rand({n, 3, 2, 2}) * 0.4;  // 1 - x >= 0.6 > x: inverted images are told apart
  const A::RandomApply<Invert> invert(Invert::Options().p(0.3));
  auto gen = at::detail::createCPUGenerator(12);
  const auto params = invert.sample(n, gen);
  const auto y = invert.apply_(x.clone(), params);
  for (int64_t i = 0; i < n; ++i) {
    REQUIRE(torch::allclose(y[i], params.apply[i].item<bool>() ? 1 - x[i] : x[i]));
  }
  require_binomial(params.apply.sum().item<int64_t>(), n, 0.3);
  // The calling conventions come with it: uint8 in, Compose, the global generator.
  const auto bytes = torch::full({2, 1, 2, 2}, 51, torch::kByte);
  REQUIRE(torch::allclose(A::RandomApply<Invert>(Invert::Options().p(1.0))(bytes), torch::full({2, 1, 2, 2}, 0.8f)));
  const auto both = A::Compose(A::RandomApply<Invert>(Invert::Options().p(1.0)),
                               A::RandomHorizontalFlip(A::RandomHorizontalFlipOptions().p(1.0)));
  REQUIRE(torch::allclose(both(x.narrow(0, 0, 4)), (1 - x.narrow(0, 0, 4)).flip({3})));
  byol_test::require_error([] { A::RandomApply<Invert>(Invert::Options().p(2.0)); }, {"Invert", "p", "2"});
}

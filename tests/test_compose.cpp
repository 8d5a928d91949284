// byol/augment/compose.hpp: the order of the ops, the pipeline's accessors, and what its errors say.
#include "augment_support.hpp"

#include <tuple>
#include <type_traits>

using namespace augment_test;  // NOLINT(google-build-using-namespace): the shared references

TEST_CASE("a pipeline's errors show the shape passed, and name channels-last input", "[compose]") {
  const auto view = A::byol_view1(16);
  // [B, H, W, C]: the crop reads 24 channels of 24 x 3 pixels, and ColorJitter rejects the result.
  byol_test::require_error([&] { view(torch::rand({2, 24, 24, 3})); },
                           {"ColorJitter", "[2, 24, 24, 3]", "channels last", "permute"});
  byol_test::require_error([&] { view(torch::rand({2, 5, 24, 24})); }, {"ColorJitter", "[2, 5, 24, 24]"});
}

TEST_CASE("Compose applies its ops left to right; forward_ and ops() expose the pipeline", "[compose]") {
  const auto x = torch::rand({3, 3, 6, 6});
  const auto flip = A::RandomHorizontalFlip(A::RandomHorizontalFlipOptions().p(1.0));
  const auto solarize = A::RandomSolarize(A::RandomSolarizeOptions().p(1.0).threshold(0.5));
  const auto pipeline = A::Compose(flip, solarize);
  const auto expected = torch::where(x.flip({3}) < 0.5, x.flip({3}), 1 - x.flip({3}));
  REQUIRE(torch::allclose(pipeline(x), expected));
  REQUIRE(std::tuple_size<std::decay_t<decltype(pipeline.ops())>>::value == 2);
  REQUIRE(std::get<1>(pipeline.ops()).options().threshold() == 0.5);
  REQUIRE(pipeline.get<0>().options().p() == 1.0);
  // forward_ works on a tensor the pipeline may overwrite; a pipeline nests in another.
  auto gen = at::detail::createCPUGenerator(5);
  auto owned = x.clone();
  REQUIRE(torch::allclose(pipeline.forward_(owned, gen), expected));
  const A::Compose<std::decay_t<decltype(pipeline)>> nested(pipeline);
  REQUIRE(torch::allclose(nested(x, gen), expected));
}

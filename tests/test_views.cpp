// byol/augment/views.hpp: byol_view1 and byol_view2 against docs/spec.md's table, determinism,
// both kernel paths, CUDA, and 1-channel images.
#include "augment_support.hpp"

using namespace augment_test;  // NOLINT(google-build-using-namespace): the shared references

TEST_CASE("views are reproducible under manual_seed and with an explicit generator", "[views]") {
  BOTH_PATHS();
  const auto x = torch::randint(0, 256, {16, 3, 40, 48}, torch::kByte);
  const auto t1 = A::byol_view1(32);
  const auto t2 = A::byol_view2(32);
  torch::manual_seed(7);
  const auto a1 = t1(x);
  const auto a2 = t2(x);
  torch::manual_seed(7);
  REQUIRE(torch::equal(t1(x), a1));
  REQUIRE(torch::equal(t2(x), a2));
  torch::manual_seed(8);
  REQUIRE_FALSE(torch::equal(t1(x), a1));
  auto g1 = at::detail::createCPUGenerator(21), g2 = at::detail::createCPUGenerator(21);
  REQUIRE(torch::equal(t2(x, g1), t2(x, g2)));
  REQUIRE(torch::equal(t1(x, g1), t1(x, g2)));
  REQUIRE(a1.sizes() == torch::IntArrayRef({16, 3, 32, 32}));
  REQUIRE(a1.scalar_type() == torch::kFloat);
  REQUIRE(a1.min().item<double>() >= 0.0);
  REQUIRE(a1.max().item<double>() <= 1.0);
  // Data preparation: outputs never require grad, even from inputs that do.
  const auto leaf = torch::rand({2, 3, 8, 8}, torch::requires_grad());
  REQUIRE_FALSE(t1(leaf).requires_grad());
  REQUIRE_FALSE(F::adjust_hue(leaf, torch::zeros({2})).requires_grad());
  REQUIRE_FALSE(F::hflip(leaf).requires_grad());
  // The input is never modified; float input is copied, not written into.
  const auto f = x.to(torch::kFloat) / 255;
  const auto before = f.clone();
  A::RandomSolarize(A::RandomSolarizeOptions().p(1.0))(f);
  A::Compose(A::RandomHorizontalFlip(A::RandomHorizontalFlipOptions().p(1.0)), A::Normalize())(f);
  REQUIRE(torch::equal(f, before));
}

TEST_CASE("byol_view1 and byol_view2 follow docs/spec.md's table", "[views]") {
  // docs/spec.md's blur kernel 2 floor(S / 20) + 1, worked out by hand: 23 at 224, 9 at 96, 3 at 32,
  // 1 (no blur) at 10.
  const std::vector<std::pair<int64_t, int64_t>> kernels{{224, 23}, {96, 9}, {32, 3}, {10, 1}};
  for (const auto& size_kernel : kernels) {
    const int64_t size = size_kernel.first, kernel = size_kernel.second;
    REQUIRE(A::byol_blur_kernel_size(size) == kernel);
    const auto t1 = A::byol_view1(size);
    const auto t2 = A::byol_view2(size);
    for (const auto* view : {&t1, &t2}) {
      const auto& crop = view->get<0>().options();
      REQUIRE(crop.size() == size);
      REQUIRE(crop.scale_min() == 0.08);
      REQUIRE(crop.scale_max() == 1.0);
      REQUIRE(crop.ratio_min() == Approx(0.75));
      REQUIRE(crop.ratio_max() == Approx(4.0 / 3.0));
      REQUIRE(crop.interpolation() == A::Interpolation::bicubic);
      REQUIRE(view->get<1>().options().p() == 0.5);
      const auto& jitter = view->get<2>().options();
      REQUIRE(jitter.p() == 0.8);
      REQUIRE(jitter.brightness() == 0.4);
      REQUIRE(jitter.contrast() == 0.4);
      REQUIRE(jitter.saturation() == 0.2);
      REQUIRE(jitter.hue() == 0.1);
      REQUIRE(view->get<3>().options().p() == 0.2);
      REQUIRE(view->get<4>().options().kernel_size() == kernel);
      REQUIRE(view->get<4>().options().sigma_min() == 0.1);
      REQUIRE(view->get<4>().options().sigma_max() == 2.0);
      REQUIRE(view->get<5>().options().threshold() == 0.5);
    }
    REQUIRE(t1.get<4>().options().p() == 1.0);
    REQUIRE(t2.get<4>().options().p() == 0.1);
    REQUIRE(t1.get<5>().options().p() == 0.0);
    REQUIRE(t2.get<5>().options().p() == 0.2);
  }
  REQUIRE(A::byol_blur_kernel_size(19) == 1);
  REQUIRE(A::byol_blur_kernel_size(20) == 3);
  // At 10 px view 1's blur (p 1.0, kernel 1) leaves every image as it is, on both paths.
  const auto blur = A::byol_view1(10).get<4>();
  const auto small = torch::rand({4, 3, 10, 10});
  for (const bool generic : {false, true}) {
    byol::detail::KernelPathGuard path(generic ? byol::detail::KernelPath::aten : byol::detail::KernelPath::fused);
    auto gen = at::detail::createCPUGenerator(13);
    REQUIRE(torch::equal(blur(small, gen), small));
    REQUIRE(torch::equal(F::gaussian_blur(small, torch::tensor({0.1, 0.5, 1.0, 2.0}), 1), small));
  }
  // A list of decoded images through a whole view, then Normalize.
  std::vector<torch::Tensor> decoded{torch::randint(0, 256, {3, 50, 70}, torch::kByte),
                                     torch::randint(0, 256, {3, 64, 40}, torch::kByte)};
  const auto normalized = A::Compose(A::byol_view2(32), A::Normalize())(decoded);
  REQUIRE(normalized.sizes() == torch::IntArrayRef({2, 3, 32, 32}));
}

namespace {

// f() with CPU tensors forced onto one path.
torch::Tensor on_path(byol::detail::KernelPath path, const std::function<torch::Tensor()>& f) {
  byol::detail::KernelPathGuard guard(path);
  return f();
}

template <typename View>
torch::Tensor view_on(byol::detail::KernelPath path, const View& view, const torch::Tensor& x, at::Generator& gen) {
  return on_path(path, [&] { return view(x, gen); });
}

}  // namespace

TEST_CASE("the fused CPU kernels and the ATen path give the same views from the same draws", "[views]") {
  const auto x = torch::randint(0, 256, {64, 3, 50, 70}, torch::kByte);
  for (const int64_t size : {32, 96}) {
    for (const auto& view : {A::byol_view1(size), A::byol_view2(size)}) {
      auto g1 = at::detail::createCPUGenerator(6), g2 = at::detail::createCPUGenerator(6);
      const auto fused = view_on(byol::detail::KernelPath::fused, view, x, g1);
      const auto aten = view_on(byol::detail::KernelPath::aten, view, x, g2);
      REQUIRE(torch::allclose(fused, aten, 0, 1e-5));
    }
  }
}

TEST_CASE("the ATen path gives the fused kernels' results slab by slab on large images", "[views]") {
  // 1 MiB per image: the ATen path on the CPU works in slabs of a few images, gathering the
  // chosen ones when they are not contiguous.
  const auto x = torch::rand({8, 3, 300, 300});
  const auto boxes = torch::tensor({0.0,  0.0, 300.0, 300.0, 10.0,  20.0,  100.0, 250.0, 5.0,   7.0,  33.0,
                                    21.0, 0.0, 0.0,   300.0, 1.0,   150.0, 150.0, 150.0, 150.0, 1.0,  2.0,
                                    3.0,  4.0, 50.0,  60.0,  240.0, 200.0, 0.0,   100.0, 300.0, 120.0})
                         .view({8, 4});
  const auto both = [&](const std::function<torch::Tensor()>& run) {
    auto fused = on_path(byol::detail::KernelPath::fused, run);
    return std::make_pair(fused, on_path(byol::detail::KernelPath::aten, run));
  };
  const auto crop = both([&] { return F::resized_crop(x, boxes, 40); });
  REQUIRE(torch::allclose(crop.first, crop.second, 0, 1e-5));
  const auto ops = std::vector<std::function<torch::Tensor(const torch::Tensor&, at::Generator&)>>{
      [](const torch::Tensor& t, at::Generator& g) { return A::ColorJitter(A::ColorJitterOptions().p(0.7))(t, g); },
      [](const torch::Tensor& t, at::Generator& g) {
        return A::RandomGaussianBlur(A::RandomGaussianBlurOptions(5).p(0.6))(t, g);
      },
      [](const torch::Tensor& t, at::Generator& g) {
        return A::RandomGrayscale(A::RandomGrayscaleOptions().p(0.5))(t, g);
      },
      [](const torch::Tensor& t, at::Generator& g) { return A::RandomHorizontalFlip()(t, g); },
      [](const torch::Tensor& t, at::Generator& g) {
        return A::RandomSolarize(A::RandomSolarizeOptions().p(0.5))(t, g);
      }};
  for (size_t k = 0; k < ops.size(); ++k) {
    INFO("op " << k);
    const auto result = both([&] {
      auto g = at::detail::createCPUGenerator(12);
      return ops[k](x, g);
    });
    REQUIRE_FALSE(torch::equal(result.first, x));
    REQUIRE(torch::allclose(result.first, result.second, 0, 1e-5));
  }
}

TEST_CASE("on CUDA the views equal the CPU views drawn from the same generator state", "[views]") {
  if (!torch::cuda::is_available()) {
    return;  // nothing to compare against here; the CPU paths are tested above
  }
  const auto x = torch::randint(0, 256, {32, 3, 64, 80}, torch::kByte);
  for (const auto& view : {A::byol_view1(48), A::byol_view2(48)}) {
    auto g1 = at::detail::createCPUGenerator(2), g2 = at::detail::createCPUGenerator(2);
    const auto cpu = view(x, g1);
    const auto gpu = view(x.to(torch::kCUDA), g2);
    REQUIRE(gpu.device().is_cuda());
    REQUIRE(torch::allclose(gpu.cpu(), cpu, 0, 2e-4));
  }
}

TEST_CASE("byol_view1 and byol_view2 take 1-channel images; the random stream ignores the channel count",
          "[views]") {
  const auto gray = torch::rand({6, 1, 40, 40});
  const auto rgb = gray.expand({-1, 3, -1, -1}).contiguous();
  for (const bool first : {true, false}) {
    INFO((first ? "byol_view1" : "byol_view2"));
    const auto view = first ? A::byol_view1(32) : A::byol_view2(32);
    auto gen1 = at::detail::createCPUGenerator(23);
    auto gen3 = at::detail::createCPUGenerator(23);
    const auto one = view(gray, gen1);
    const auto three = view(rgb, gen3);
    REQUIRE(one.sizes() == torch::IntArrayRef({6, 1, 32, 32}));
    REQUIRE(three.sizes() == torch::IntArrayRef({6, 3, 32, 32}));
    REQUIRE(one.min().item<float>() >= 0.0f);
    REQUIRE(one.max().item<float>() <= 1.0f);
    // Both calls drew the same numbers: the generators are in the same state afterwards.
    REQUIRE(torch::equal(at::rand({8}, gen1), at::rand({8}, gen3)));
    if (first) {
      // T has no solarisation, so the gray view follows the RGB view of the repeated image up to
      // grayscale's weights summing to 0.9999 instead of 1 (a gray pixel g becomes 0.9999 g).
      const double diff = (one - three.narrow(1, 0, 1)).abs().max().item<double>();
      INFO("largest difference " << diff);
      REQUIRE(diff < 1e-3);
    }
  }
}

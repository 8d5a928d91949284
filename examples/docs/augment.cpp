// docs/augment.md: BYOL's two views of a batch, and the pieces they are made of.
#include <byol/augment.hpp>

#include <torch/torch.h>

#include <iostream>
#include <vector>

int example_augment() {
  namespace A = byol::augment;
  // A decoded batch: uint8 RGB images in [0, 255] (float images in [0, 1] work the same).
  const auto images = torch::randint(0, 256, {16, 3, 40, 48}, torch::kByte);

  // T and T' of the paper for 32x32 views: float [16, 3, 32, 32] in [0, 1].
  const auto t1 = A::byol_view1(32);
  const auto t2 = A::byol_view2(32);
  torch::manual_seed(0);  // the global CPU generator makes every draw reproducible
  const auto v1 = t1(images);
  const auto v2 = t2(images);

  // An explicit CPU generator, and ImageNet normalisation appended to a view.
  auto generator = at::detail::createCPUGenerator(42);
  const auto normalized = A::Compose(A::byol_view1(32), A::Normalize())(images, generator);

  // A policy of one's own from the same ops; it also takes differently sized decoded images.
  const A::Compose policy(A::RandomResizedCrop(A::RandomResizedCropOptions(24).scale_min(0.2)),
                          A::RandomHorizontalFlip(A::RandomHorizontalFlipOptions().p(0.5)),
                          A::ColorJitter(A::ColorJitterOptions().p(1.0).hue(0.0)),
                          A::RandomSolarize(A::RandomSolarizeOptions().p(0.5).threshold(0.5)));
  const std::vector<torch::Tensor> decoded{torch::randint(0, 256, {3, 50, 70}, torch::kByte),
                                           torch::randint(0, 256, {3, 64, 40}, torch::kByte)};
  const auto batch = policy(decoded);  // [2, 3, 24, 24]

  // The functional math, with one parameter per image.
  const auto turned = A::functional::adjust_hue(v1, torch::full({16}, 1.0 / 3.0));
  const auto blurred = A::functional::gaussian_blur(v1, torch::rand({16}) * 1.9 + 0.1, 3);

  // The evaluation crop: resize the shorter side to 36, keep the centred 32 x 32, normalise;
  // in one resampling (the reference's way), or torchvision's Resize then CenterCrop.
  const A::Compose test_view(A::CenterCrop(A::CenterCropOptions(32).resize(36)), A::Normalize());
  const auto test_batch = test_view(images);  // [16, 3, 32, 32]
  const A::Compose torchvision_test_view(A::Resize(36), A::CenterCrop(32), A::Normalize());
  const auto resized = torchvision_test_view(images);  // [16, 3, 32, 32]

  std::cout << "views " << v1.sizes() << " and " << v2.sizes() << ", normalized " << normalized.sizes()
            << ", policy " << batch.sizes() << "\n";
  const bool ok = v1.min().item<float>() >= 0 && v1.max().item<float>() <= 1 && batch.size(0) == 2 &&
                  turned.sizes() == v1.sizes() && blurred.sizes() == v1.sizes() && test_batch.sizes() == v1.sizes() &&
                  resized.sizes() == v1.sizes();
  return ok ? 0 : 1;
}

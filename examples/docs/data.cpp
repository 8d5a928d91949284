// docs/data.md: Fashion-MNIST (or a stand-in), two-view batches, PNG files and an image folder.
#include <byol/data.hpp>

#include <torch/torch.h>

#include <filesystem>
#include <iostream>

int example_data() {
  // Fashion-MNIST from Debian's dataset-fashion-mnist when installed; random digits otherwise.
  byol::data::LabeledImages train;
  if (byol::data::mnist_files_present(byol::data::kFashionMnistRoot)) {
    train = byol::data::load_fashion_mnist();  // uint8 [60000, 1, 28, 28], int64 [60000]
  } else {
    std::cout << "no Fashion-MNIST in " << byol::data::kFashionMnistRoot << ", using random images\n";
    train.images = torch::randint(0, 256, {64, 1, 28, 28}, torch::kByte);
    train.labels = torch::randint(0, 10, {64}, torch::kLong);
  }

  // Two views of every batch, built ahead by a background thread. A view gets the uint8 batch
  // and the batch's generator, seeded by (seed, epoch, batch): reproducible and resumable.
  auto flip_at_random = [](const torch::Tensor& images, at::Generator& gen) {
    const auto x = images.to(torch::kFloat).div(255);
    const auto flip = at::rand({x.size(0), 1, 1, 1}, gen, torch::TensorOptions(torch::kFloat)) < 0.5;
    return torch::where(flip, x.flip(3), x);
  };
  byol::data::TwoViewLoader loader(byol::data::TensorSource(train), flip_at_random, flip_at_random,
                                   byol::data::LoaderOptions(32).epochs(1).seed(1).num_workers(1));
  auto batch = loader.next();  // std::nullopt after the last batch
  std::cout << "view1 " << batch->view1.sizes() << ", view2 " << batch->view2.sizes() << ", "
            << loader.batches_per_epoch() << " batches per epoch\n";

  // Image files: a view as PNG; a folder of class sub-folders decoded on two threads.
  const auto root = std::filesystem::temp_directory_path() / "byol_docs_data";
  std::filesystem::create_directories(root / "shirts");
  byol::data::write_png((root / "shirts" / "view1.png").string(), batch->view1[0]);  // float [1, 28, 28]
  byol::data::write_png((root / "shirts" / "view2.png").string(), batch->view2[0]);
  byol::data::ImageFolder folder(byol::data::ImageFolderOptions(root.string()).num_workers(2));
  auto images = folder.get_batch({0, 1});  // two uint8 [3, 28, 28] images (gray -> RGB)
  auto gray = byol::data::read_image((root / "shirts" / "view1.png").string(),
                                     byol::data::DecodeOptions().mode(byol::data::ImageMode::keep));
  std::filesystem::remove_all(root);
  std::cout << folder.classes().size() << " class, " << images.images.size() << " images of "
            << images.images[0].sizes() << ", read back " << gray.sizes() << "\n";
  return images.images.size() == 2 && gray.size(0) == 1 && folder.skipped_count() == 0 ? 0 : 1;
}

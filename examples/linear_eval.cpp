// The linear evaluation of docs/spec.md for an exported BYOL encoder: the encoder frozen (eval mode, no
// grad), a linear classifier trained on its features for 80 epochs with SGD (Nesterov momentum
// 0.9, lr 0.2 x batch / 256, cosine decay, no weight decay); train transform random resized crop
// + flip, test transform resize 256 + centre crop 224; top-1 and top-5 on the validation folder.
//
//   linear_eval --encoder runs/imagenet_byol/encoder.pt --train /data/imagenet/train --val /data/imagenet/val
//   (--help lists every flag)
#include <byol/augment.hpp>
#include <byol/data.hpp>
#include <byol/models.hpp>
#include <byol/models/export.hpp>
#include <byol/schedule.hpp>

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "common/cli.hpp"

#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{
      "linear_eval: docs/spec.md's linear evaluation of an encoder exported by imagenet_byol (or any state dict\n"
      "with torchvision's ResNet names)."};
  std::string encoder_path;
  app.add_option("--encoder", encoder_path, "the exported encoder (encoder.pt); empty: random init");
  std::string arch = "resnet50";
  app.add_option("--arch", arch, "encoder: resnet18, resnet34, resnet50, resnet101, resnet152");
  std::string train_dir;
  app.add_option("--train", train_dir, "training images DIR/<class>/*");
  std::string val_dir;
  app.add_option("--val", val_dir, "validation images DIR/<class>/*");
  bool synthetic = false;
  app.add_flag("--synthetic", synthetic, "random images and labels instead of folders (a smoke test)");
  int64_t epochs = 80;
  app.add_option("--epochs", epochs, "epochs of the linear classifier");
  int64_t batch_size = 256;
  app.add_option("--batch-size", batch_size, "images per step");
  double base_lr = 0.2;
  app.add_option("--base-lr", base_lr, "learning rate at batch 256 (scaled by batch / 256), cosine to 0");
  int64_t image_size = 224;
  app.add_option("--image-size", image_size, "crop size");
  int64_t resize = 256;
  app.add_option("--resize", resize, "test transform: shorter side before the centre crop");
  std::string device_name = "auto";
  app.add_option("--device", device_name, "cuda, cpu, or auto");
  int64_t workers = 0;
  app.add_option("--workers", workers, "decoding threads (0: every core)");
  int64_t threads = 0;
  app.add_option("--threads", threads, "LibTorch CPU threads (0: OMP_NUM_THREADS, else every core)");
  int64_t seed = 0;
  app.add_option("--seed", seed, "seed");
  byol_examples::parse_or_exit(app, argc, argv);

  if (synthetic == (!train_dir.empty() || !val_dir.empty()) || (!synthetic && (train_dir.empty() || val_dir.empty()))) {
    std::cerr << "error: pass --train DIR and --val DIR, or --synthetic\n";
    return 2;
  }
  const torch::Device device = byol_examples::choose_device(device_name);
  torch::set_num_threads(byol_examples::choose_threads(threads));
  torch::manual_seed(static_cast<uint64_t>(seed));
  const int64_t decode_threads = workers > 0 ? workers : byol_examples::choose_threads(0);

  // ---- the frozen encoder -------------------------------------------------------------------
  auto resnet_options = byol_examples::or_exit(2, "--arch: ", [&] { return byol::models::ResNetOptions::named(arch); });
  byol::models::ResNet encoder(resnet_options.num_classes(0));
  if (!encoder_path.empty()) {
    const auto unused =
        byol_examples::or_exit(1, "", [&] { return byol::models::load_state_dict(*encoder, encoder_path); });
    std::cout << "encoder from " << encoder_path << (unused.empty() ? "" : " (ignored: a classifier's keys)") << "\n";
  } else {
    std::cout << "no --encoder: evaluating the encoder at random initialisation\n";
  }
  encoder->to(device);
  encoder->eval();
  for (auto& p : encoder->parameters()) p.set_requires_grad(false);

  // ---- data ---------------------------------------------------------------------------------
  std::unique_ptr<byol::data::ImageFolder> train, val;
  int64_t classes = 10, n_train = 512, n_val = 128;
  if (!synthetic) {
    auto open_folder = [&](const std::string& dir) {
      return byol_examples::or_exit(1, "", [&] {
        return std::make_unique<byol::data::ImageFolder>(
            byol::data::ImageFolderOptions(dir).num_workers(decode_threads));
      });
    };
    train = open_folder(train_dir);
    val = open_folder(val_dir);
    classes = static_cast<int64_t>(train->classes().size());
    n_train = train->size();
    n_val = val->size();
  }
  const auto crop = byol::augment::RandomResizedCrop(byol::augment::RandomResizedCropOptions(image_size));
  const auto flip = byol::augment::RandomHorizontalFlip(byol::augment::RandomHorizontalFlipOptions().p(0.5));
  const byol::augment::Normalize normalize;
  // A batch of (images [B, 3, S, S] normalised on the device, labels [B]).
  auto train_batch = [&](const std::vector<int64_t>& idx, at::Generator& g) {
    at::Tensor x, y;
    if (train) {
      auto batch = train->get_batch(idx);
      x = flip(crop(batch.images, g), g);
      y = batch.labels;
    } else {
      x = torch::rand({static_cast<int64_t>(idx.size()), 3, image_size, image_size}, g);
      y = torch::tensor(idx, torch::kLong).remainder(classes);
    }
    return std::make_pair(normalize(x.to(device)), y.to(device));
  };
  auto val_batch = [&](const std::vector<int64_t>& idx) {
    at::Tensor x, y;
    if (val) {
      auto batch = val->get_batch(idx);
      x = byol::augment::functional::resized_center_crop(batch.images, image_size, resize);  // the test crop
      y = batch.labels;
    } else {
      auto g = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(idx.front()) + 7);
      x = torch::rand({static_cast<int64_t>(idx.size()), 3, image_size, image_size}, g);
      y = torch::tensor(idx, torch::kLong).remainder(classes);
    }
    return std::make_pair(normalize(x.to(device)), y.to(device));
  };

  // ---- the linear classifier ----------------------------------------------------------------
  torch::nn::Linear classifier(encoder->feature_dim(), classes);
  {
    torch::NoGradGuard no_grad;
    classifier->weight.normal_(0, 0.01);
    classifier->bias.zero_();
  }
  classifier->to(device);
  const double peak = base_lr * static_cast<double>(batch_size) / 256.0;
  torch::optim::SGD sgd(classifier->parameters(), torch::optim::SGDOptions(peak).momentum(0.9).nesterov(true));
  const int64_t steps_per_epoch = n_train / batch_size;
  if (steps_per_epoch == 0) {
    std::cerr << "error: --batch-size " << batch_size << " exceeds the " << n_train << " training images\n";
    return 2;
  }
  if (epochs < 1) {
    std::cerr << "error: --epochs must be >= 1, got " << epochs << "\n";
    return 2;
  }
  const int64_t total = steps_per_epoch * epochs;
  byol::schedule::WarmupCosineLR schedule(sgd, /*warmup_steps=*/0, total);
  std::cout << "linear evaluation: " << classes << " classes, " << n_train << " training and " << n_val
            << " validation images, " << epochs << " epochs x " << steps_per_epoch << " steps, SGD Nesterov peak lr "
            << peak << ", device " << device << "\n";
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    const auto order = byol::data::epoch_permutation(n_train, static_cast<uint64_t>(seed), epoch);
    // The loss and the hits are summed on the device and read back once per epoch: each
    // read-back waits for the device.
    auto loss_sum = torch::zeros({}, device);
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      std::vector<int64_t> idx(order.begin() + s * batch_size, order.begin() + (s + 1) * batch_size);
      at::Generator g = at::make_generator<at::CPUGeneratorImpl>(byol::data::batch_seed(static_cast<uint64_t>(seed), epoch, s));
      const auto batch = train_batch(idx, g);
      at::Tensor features;
      {
        torch::NoGradGuard no_grad;
        features = encoder->forward(batch.first).flatten(1).to(torch::kFloat);
      }
      auto loss = torch::nn::functional::cross_entropy(classifier(features), batch.second);
      sgd.zero_grad();
      loss.backward();
      sgd.step();
      schedule.step();
      loss_sum += loss.detach();
    }
    // Validation: resize + centre crop, top-1 and top-5.
    torch::NoGradGuard no_grad;
    auto top1 = torch::zeros({}, torch::TensorOptions(device).dtype(torch::kLong)), top5 = torch::zeros_like(top1);
    for (int64_t begin = 0; begin < n_val; begin += batch_size) {
      std::vector<int64_t> idx;
      for (int64_t i = begin; i < std::min(n_val, begin + batch_size); ++i) idx.push_back(i);
      const auto batch = val_batch(idx);
      const auto logits = classifier(encoder->forward(batch.first).flatten(1).to(torch::kFloat));
      const auto best = std::get<1>(logits.topk(std::min<int64_t>(5, classes), 1));
      const auto hit = best.eq(batch.second.unsqueeze(1));
      top1 += hit.select(1, 0).sum();
      top5 += hit.any(1).sum();
    }
    std::cout << "epoch " << epoch + 1 << "/" << epochs << "  train loss " << std::fixed << std::setprecision(4)
              << loss_sum.item<double>() / static_cast<double>(steps_per_epoch) << "  val top-1 " << std::setprecision(2)
              << 100.0 * top1.item<double>() / static_cast<double>(n_val) << "%  top-5 "
              << 100.0 * top5.item<double>() / static_cast<double>(n_val) << "%" << std::endl;
  }
  return 0;
}

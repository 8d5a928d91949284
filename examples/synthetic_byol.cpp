// BYOL on synthetic images for a few steps, printing the loss: the smallest complete use of the
// library (learner, LARS, both schedules), with no data to download.
//
//   synthetic_byol [--steps N] [--batch B] [--threads T]   (--help lists the defaults)
#include <byol/byol.hpp>

#include <torch/torch.h>

#include "common/cli.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

namespace {

// Random images with some structure: a smooth colour gradient plus a bright square.
torch::Tensor synthetic_images(int64_t n, int64_t size) {
  auto ramp = torch::linspace(0, 1, size);
  auto base = torch::rand({n, 3, 1, 1}) * ramp.view({1, 1, 1, size}) + torch::rand({n, 3, 1, 1}) * 0.5;
  auto images = base.expand({n, 3, size, size}).clone();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t top = std::rand() % (size / 2), left = std::rand() % (size / 2);
    images[i].narrow(1, top, size / 3).narrow(2, left, size / 3).fill_(0.9);
  }
  return images.clamp(0, 1);
}

// A cheap stand-in for the real augmentations: random flips, brightness and noise per image.
torch::Tensor random_view(const torch::Tensor& images) {
  const int64_t n = images.size(0);
  auto flip = torch::rand({n, 1, 1, 1}) < 0.5;
  auto view = torch::where(flip, images.flip({3}), images);
  view = view + (torch::rand({n, 1, 1, 1}) - 0.5) * 0.4 + 0.05 * torch::randn_like(view);
  return view.clamp(0, 1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"synthetic_byol: BYOL on synthetic images for a few steps, printing the loss."};
  int64_t steps = 20, batch = 64, threads = 0;
  app.add_option("--steps", steps, "optimizer steps")->check(CLI::Range(1, 1000000));
  app.add_option("--batch", batch, "images per step (two views each)")->check(CLI::Range(1, 1000000));
  app.add_option("--threads", threads, "LibTorch threads (0: OMP_NUM_THREADS, else every core)");
  byol_examples::parse_or_exit(app, argc, argv);
  threads = byol_examples::choose_threads(threads);
  torch::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(0);
  std::srand(0);

  const int64_t size = 32;
  torch::nn::Sequential encoder(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 32, 3).stride(2).padding(1)), torch::nn::BatchNorm2d(32),
      torch::nn::ReLU(), torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3).stride(2).padding(1)),
      torch::nn::BatchNorm2d(64), torch::nn::ReLU(),
      torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(1)), torch::nn::Flatten());
  byol::BYOL<torch::nn::Sequential> model(encoder, byol::BYOLOptions(64).hidden_dim(512).projection_dim(128)
                                                       .predictor_hidden_dim(512));
  const double peak_lr = 0.2 * static_cast<double>(batch) / 256;
  byol::optim::LARS lars(model.online_parameters(), byol::optim::LARSOptions(peak_lr).weight_decay(1.5e-6));
  byol::schedule::WarmupCosineLR schedule(lars, std::min<int64_t>(steps - 1, std::max<int64_t>(1, steps / 10)), steps);

  const auto images = synthetic_images(batch * 4, size);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < steps; ++step) {
    const auto batch_images = images.index_select(0, torch::randint(images.size(0), {batch}, torch::kLong));
    auto loss = model.loss(random_view(batch_images), random_view(batch_images));
    lars.zero_grad();
    loss.backward();
    lars.step();
    schedule.step();
    model.update_target(byol::schedule::target_tau(step, steps, 0.99));  // k: the lr of this update was lr(k)
    std::cout << "step " << step + 1 << "/" << steps << "  loss " << loss.item<float>() << "  lr "
              << lars.param_groups()[0].options().get_lr() << std::endl;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "done: " << steps << " steps in " << seconds << " s (" << steps * batch * 2 / seconds
            << " views/s) on " << threads << " threads\n";
  return 0;
}

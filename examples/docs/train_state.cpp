// docs/train_state.md: a training run's whole state, saved and restored in one call.
#include <byol/learner.hpp>
#include <byol/optim/lars.hpp>
#include <byol/schedule.hpp>
#include <byol/train_state.hpp>

#include <torch/torch.h>

#include <cstdio>
#include <iostream>

int example_train_state() {
  const std::string path = "/tmp/byol_example_train_state.pt";
  std::remove(path.c_str());
  std::remove((path + ".prev").c_str());
  const int64_t total_steps = 20;

  // What a run owns, built the same way when it starts and when it resumes.
  torch::nn::Sequential encoder(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3).stride(2)),
                                torch::nn::BatchNorm2d(8), torch::nn::ReLU(),
                                torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(1)),
                                torch::nn::Flatten());
  byol::BYOL<torch::nn::Sequential> model(encoder, byol::BYOLOptions(8).hidden_dim(32).projection_dim(16)
                                                       .predictor_hidden_dim(32));
  byol::optim::LARS lars(model.online_parameters(), byol::optim::LARSOptions(0.4).weight_decay(1.5e-6));
  byol::schedule::WarmupCosineLR lr(lars, /*warmup_steps=*/2, total_steps);
  byol::schedule::TargetTau tau(0.99, total_steps);
  int64_t step = 0;

  // What the state covers; the global CPU generator (and CUDA's) is in it from the start.
  byol::TrainState state;
  state.module("model", model).optimizer("optimizer", lars).schedule("lr", lr).schedule("tau", tau)
      .counter("step", step);
  if (byol::checkpoint::exists(path)) {
    state.load(path);  // everything, or nothing when the file is of another run
  }

  while (step < 5) {
    const auto images = torch::rand({16, 1, 12, 12});
    auto loss = model.loss(images, images.flip({3}));
    lars.zero_grad();
    loss.backward();
    lars.step();
    lr.step();
    model.update_target(tau.step());
    ++step;
  }
  state.save(path);  // one file, checksummed, written atomically; the previous one kept as .prev

  // Later, in another process: the same objects, then one call.
  int64_t resumed_step = 0;
  byol::optim::LARS fresh(model.online_parameters(), byol::optim::LARSOptions(0.4).weight_decay(1.5e-6));
  byol::schedule::WarmupCosineLR fresh_lr(fresh, 2, total_steps);
  byol::schedule::TargetTau fresh_tau(0.99, total_steps);
  byol::TrainState again;
  again.module("model", model).optimizer("optimizer", fresh).schedule("lr", fresh_lr).schedule("tau", fresh_tau)
      .counter("step", resumed_step);
  const auto loaded = again.load(path);
  std::cout << "resumed from " << loaded.path << " at step " << resumed_step << ", lr "
            << fresh.param_groups()[0].options().get_lr() << ", next tau " << fresh_tau.get() << "\n";
  return resumed_step == 5 && fresh_tau.current_step() == 5 && fresh_lr.current_step() == 5 ? 0 : 1;
}

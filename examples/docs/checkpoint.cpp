// docs/checkpoint.md: save a training run atomically and resume it.
#include <byol/checkpoint.hpp>
#include <byol/optim/lars.hpp>

#include <torch/torch.h>

#include <cstdio>
#include <iostream>

int example_checkpoint() {
  torch::nn::Linear model(16, 4);
  byol::optim::LARS lars(model->parameters(), byol::optim::LARSOptions(0.1));
  const std::string path = "/tmp/byol_example_checkpoint.pt";
  int64_t step = 42;

  {  // Save: write everything into one archive, then replace the file atomically.
    torch::serialize::OutputArchive archive;
    byol::checkpoint::write(archive, "model", *model);
    byol::checkpoint::write(archive, "optimizer", lars);
    byol::checkpoint::write_int(archive, "step", step);
    byol::checkpoint::write_rng(archive, "rng");  // the global CPU generator
    byol::checkpoint::save_atomically(archive, path);
  }
  {  // Resume: build the same objects, then read into them.
    auto archive = byol::checkpoint::load(path);
    byol::checkpoint::read(archive, "model", *model);
    byol::checkpoint::read(archive, "optimizer", lars);
    step = byol::checkpoint::read_int(archive, "step");
    byol::checkpoint::read_rng(archive, "rng");
  }
  std::cout << "resumed at step " << step << "\n";
  std::remove(path.c_str());
  return step == 42 ? 0 : 1;
}

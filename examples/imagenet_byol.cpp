// The paper's recipe: ResNet-50 BYOL on an ImageFolder of JPEGs in ImageNet's layout (or on
// synthetic images for data-free throughput runs), on CUDA when present.
//
//   LARS, lr = base_lr x global_batch / 256 with 10 warm-up epochs and cosine decay, weight decay
//   (biases and norms excluded) and tau -> 1 from the reference's preset for the run's length
//   (--preset 1000: base lr 0.2, weight decay 1.5e-6, tau 0.996; also 40, 100, 300), global batch
//   4096 = per-device batch x processes x accumulation steps. On CUDA: bfloat16 autocast, channels_last, uint8 crops to the device and
//   the rest of the augmentation there, pinned memory, loading overlapped with compute.
//
//   imagenet_byol --data /data/imagenet/train [--preset 300] [--batch-size 256] [--accum-steps 16]
//   imagenet_byol --synthetic --steps 100          # throughput: images/s and MFU
//   scripts/launch.sh -n 8 -- imagenet_byol --data DIR --batch-size 256 --accum-steps 2   # 8 ranks
//   (--help lists every flag)
//
// As N data-parallel processes (scripts/launch.sh, torchrun, or RANK/WORLD_SIZE/MASTER_ADDR/
// MASTER_PORT set by hand): each rank reads its shard, batch norm is synchronized over the N
// ranks, gradients are averaged once per optimizer step (no_sync during accumulation), rank 0
// alone prints and writes the checkpoint and the encoder; rank r uses cuda:LOCAL_RANK.
#include <byol/augment.hpp>
#include <byol/byol.hpp>
#include <byol/data.hpp>
#include <byol/models.hpp>
#include <byol/models/export.hpp>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "common/cli.hpp"
#include "common/images.hpp"
#include "common/ranks.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_interrupted{false};
extern "C" void on_signal(int) { g_interrupted = true; }

// Every 4-D parameter and buffer of `module` in channels-last layout (what Tensor Cores want for
// convolutions); the learner's target follows its online twin's layout by itself.
void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// The view pipelines after the crop: flip, jitter, grayscale, blur, solarize, then ImageNet
// normalisation. They run on the device, on uint8 crops made by the loader's CPU threads.
using Tail = byol::augment::Compose<byol::augment::RandomHorizontalFlip, byol::augment::ColorJitter,
                                    byol::augment::RandomGrayscale, byol::augment::RandomGaussianBlur,
                                    byol::augment::RandomSolarize, byol::augment::Normalize>;
Tail tail_of(const byol::augment::ByolView& view) {
  return Tail(view.get<1>(), view.get<2>(), view.get<3>(), view.get<4>(), view.get<5>(), byol::augment::Normalize());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "imagenet_byol: BYOL with the paper's recipe on an ImageFolder of JPEGs (ImageNet's layout) or on\n"
      "synthetic images; exports the trained encoder for torchvision.models.resnet50."};
  std::string data_dir;
  app.add_option("--data", data_dir, "training images: DIR/<class>/*.JPEG (ImageNet's train folder)");
  bool synthetic = false;
  app.add_flag("--synthetic", synthetic, "random images made on the device instead of --data (throughput)");
  int64_t synthetic_images = 1281167;
  app.add_option("--synthetic-images", synthetic_images, "images per synthetic epoch (ImageNet's)");
  std::string arch = "resnet50";
  app.add_option("--arch", arch, "encoder: resnet18, resnet34, resnet50, resnet101, resnet152");
  int64_t image_size = 224;
  app.add_option("--image-size", image_size, "view size in pixels");
  int64_t preset_epochs = 1000;
  app.add_option("--preset", preset_epochs,
                 "the reference's base lr, weight decay and tau for a run of 40, 100, 300 or 1000 epochs");
  int64_t epochs = 0;
  app.add_option("--epochs", epochs, "epochs (the schedules' length); 0: the preset's");
  int64_t steps_limit = 0;
  app.add_option("--steps", steps_limit, "stop after this many optimizer steps (0: run all epochs)");
  int64_t batch_size = 256;
  app.add_option("--batch-size", batch_size, "images per device batch (one forward/backward)");
  int64_t accum = 16;
  app.add_option("--accum-steps", accum, "device batches per optimizer step (global batch = product)");
  double base_lr = -1.0;
  app.add_option("--base-lr", base_lr, "learning rate at global batch 256; negative: the preset's");
  double weight_decay = -1.0;
  app.add_option("--weight-decay", weight_decay, "LARS weight decay; negative: the preset's");
  double tau_base = -1.0;
  app.add_option("--tau", tau_base, "target decay rate at step 0; negative: the preset's");
  double warmup_epochs = 10.0;
  app.add_option("--warmup-epochs", warmup_epochs, "linear warm-up, in epochs");
  std::string device_name = "auto";
  app.add_option("--device", device_name, "cuda, cpu, or auto (cuda when present)");
  bool no_bf16 = false;
  app.add_flag("--no-bf16", no_bf16, "keep float32 on CUDA (no bfloat16 autocast)");
  bool no_channels_last = false;
  app.add_flag("--no-channels-last", no_channels_last, "keep the default memory format on CUDA");
  int64_t workers = 0;
  app.add_option("--workers", workers, "decoding threads (0: byol::data::thread_budget's share)");
  int64_t threads = 0;
  app.add_option("--threads", threads, "LibTorch CPU threads (0: OMP_NUM_THREADS, else every core)");
  std::string out_dir = "runs/imagenet_byol";
  app.add_option("--out", out_dir, "checkpoint.pt and encoder.pt go here");
  bool resume = false;
  app.add_flag("--resume", resume, "continue the run saved in --out");
  int64_t checkpoint_every = 1000;
  app.add_option("--checkpoint-every", checkpoint_every, "optimizer steps between checkpoints");
  int64_t log_every = 10;
  app.add_option("--log-every", log_every, "optimizer steps between log lines");
  double peak_tflops = 989.0;
  app.add_option("--peak-tflops", peak_tflops, "the device's dense bf16 peak for MFU (H100 SXM: 989)");
  int64_t seed = 0;
  app.add_option("--seed", seed, "seed of initialisation, data order and augmentation");
  std::string backend = "auto";
  app.add_option("--dist-backend", backend,
                 "collectives of a multi-process run: gloo, nccl, or auto (NCCL for CUDA where LibTorch has it)");
  byol_examples::parse_or_exit(app, argc, argv);
  const auto preset = byol_examples::or_exit(2, "--preset: ", [&] { return byol::presets::imagenet(preset_epochs); });
  if (epochs <= 0) epochs = preset.epochs;
  if (base_lr < 0) base_lr = preset.base_lr;
  if (weight_decay < 0) weight_decay = preset.weight_decay;
  if (tau_base < 0) tau_base = preset.base_tau;

  if (synthetic == !data_dir.empty()) {
    std::cerr << "error: pass exactly one of --data DIR and --synthetic\n";
    return 2;
  }
  torch::Device device = byol_examples::choose_device(device_name);
  const bool cuda = device.is_cuda();
  if (backend == "auto") {
#ifdef USE_C10D_NCCL
    backend = cuda ? "nccl" : "gloo";
#else
    backend = "gloo";
#endif
  }
  // One process, or one rank of N; each rank of a machine takes its own GPU.
  const auto group = byol_examples::or_exit(1, "", [&] {
    return byol::distributed::init_process_group(byol::distributed::ProcessGroupOptions().backend(backend));
  });
  const int64_t world = group.world_size();
  // Launched as ranks (torchrun, scripts/launch.sh; one rank included): SyncBatchNorm and
  // DataParallel over the group's backend. A plain run has no backend and needs neither.
  const bool data_parallel = group.connected();
  std::ostream& out = byol_examples::main_out(group);
  if (cuda && data_parallel && !device.has_index()) device = torch::Device(torch::kCUDA, static_cast<int8_t>(group.local_rank()));
  const bool bf16 = cuda && !no_bf16;
  const bool channels_last = cuda && !no_channels_last;
  torch::set_num_threads(byol_examples::choose_threads(threads));
  torch::manual_seed(static_cast<uint64_t>(seed));
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  fs::create_directories(out_dir);
  const std::string checkpoint_path = out_dir + "/checkpoint.pt", encoder_path = out_dir + "/encoder.pt";

  // ---- model ----------------------------------------------------------------------------
  auto resnet_options = byol_examples::or_exit(2, "--arch: ", [&] { return byol::models::ResNetOptions::named(arch); });
  // As the reference's ResNet (haiku's bottleneck block starts its last BatchNorm scale at 0);
  // its basic blocks keep a scale of 1.
  const bool bottleneck = resnet_options.block() == byol::models::ResNetBlock::bottleneck;
  byol::models::ResNet encoder(resnet_options.num_classes(0).zero_init_residual(bottleneck));
  byol::BYOL<byol::models::ResNet> model(encoder, byol::BYOLOptions(encoder->feature_dim()));
  if (data_parallel) {
    // Batch norm over every rank's batch, in the online network and the target.
    const int64_t synced = byol::distributed::convert_sync_batchnorm(model, group);
    out << world << (world == 1 ? " rank (" : " ranks (") << group.backend() << "): " << synced
        << " BatchNorm layers synchronized\n";
  }
  model.to(device);
  if (channels_last) to_channels_last(model);

  // ---- data -------------------------------------------------------------------------------
  const auto view1 = byol::augment::byol_view1(image_size);
  const auto view2 = byol::augment::byol_view2(image_size);
  const Tail tail1 = tail_of(view1), tail2 = tail_of(view2);
  std::unique_ptr<byol::data::ImageFolder> folder;
  int64_t images_per_epoch = synthetic_images;
  if (!synthetic) {
    folder = byol_examples::or_exit(1, "", [&] {
      return std::make_unique<byol::data::ImageFolder>(
          // 0: the thread budget's share for decoding (docs/data.md, "Threads"), not every core.
          workers > 0 ? byol::data::ImageFolderOptions(data_dir).num_workers(workers)
                      : byol::data::ImageFolderOptions(data_dir));
    });
    images_per_epoch = folder->size();
  }
  const int64_t global_batch = batch_size * world * accum;
  const int64_t batches_per_epoch = images_per_epoch / world / batch_size;  // on each rank
  const int64_t steps_per_epoch = batches_per_epoch / accum;
  if (steps_per_epoch == 0) {
    std::cerr << "error: " << images_per_epoch << " images make no full global batch of " << global_batch << "\n";
    return 2;
  }
  const int64_t total_steps = steps_per_epoch * epochs;
  const int64_t warmup = std::min<int64_t>(total_steps - 1, std::llround(warmup_epochs * steps_per_epoch));

  // ---- optimizer, schedules, resume --------------------------------------------------------
  const double peak_lr = base_lr * static_cast<double>(global_batch) / 256.0;
  byol::optim::LARS lars(model.online_parameters(), byol::optim::LARSOptions(peak_lr).weight_decay(weight_decay));
  byol::schedule::WarmupCosineLR schedule(lars, warmup, total_steps);
  byol::schedule::TargetTau tau(tau_base, total_steps);
  int64_t step = 0;
  // The whole run's state (and the generators): one atomic, checksummed file.
  byol::TrainState state;
  state.module("model", model).optimizer("optimizer", lars).schedule("lr", schedule).schedule("tau", tau)
      .counter("step", step);
  if (resume) {
    const auto loaded = byol_examples::or_exit(1, "--resume: ", [&] { return state.load(checkpoint_path); });  // rank 0's file
    if (channels_last) to_channels_last(model);
    out << "resumed from " << loaded.path << " at step " << step << "\n";
  } else if (byol::checkpoint::exists(checkpoint_path)) {
    std::cerr << "error: " << checkpoint_path << " exists; pass --resume, or another --out\n";
    return 2;
  }
  // Gradients averaged over the ranks (rank 0's weights broadcast first).
  std::optional<byol::distributed::DataParallel> parallel;
  if (data_parallel) parallel.emplace(model, group);
  // A failed save (a full disk, say) ends the run with a message; the previous checkpoint stays.
  // Rank 0 writes; the others wait for it and share its error.
  auto saved = [&] {
    try {
      byol::distributed::save_on_main(group, state, checkpoint_path);
      return true;
    } catch (const c10::Error& e) {
      std::cerr << "error: cannot save the checkpoint at step " << step << ": " << e.what_without_backtrace() << "\n"
                << checkpoint_path << " (or " << byol::checkpoint::previous_path(checkpoint_path)
                << ") is the last complete checkpoint; free some space and continue with --resume\n";
      return false;
    }
  };

  // The loader's CPU threads decode and crop (uint8, pinned on CUDA); the device does the rest.
  const auto crop = view1.get<0>();
  auto crop_to_uint8 = [&](const std::vector<at::Tensor>& images, at::Generator& g) {
    auto x = byol_examples::to_uint8(crop(images, g));
    return cuda ? x.pin_memory() : x;
  };
  std::optional<byol::data::TwoViewLoader<byol::data::ImageFolder, decltype(crop_to_uint8), decltype(crop_to_uint8)>>
      loader;
  if (folder) {
    byol::data::LoaderOptions lo(batch_size);
    lo.rank(group.rank()).world_size(world);  // this rank's shard
    lo.epochs(epochs).seed(static_cast<uint64_t>(seed)).num_workers(std::max<int64_t>(1, workers > 0 ? workers / 4 : 2))
        .prefetch(4).start_epoch(state.loader_position().first).start_batch(state.loader_position().second);
    loader.emplace(*folder, crop_to_uint8, crop_to_uint8, lo);
    state.loader(*loader);
  }
  // One device batch of two views, ready for the network.
  auto next_views = [&](int64_t micro) -> std::optional<std::pair<at::Tensor, at::Tensor>> {
    at::Tensor u1, u2;
    uint64_t tail_seed = 0;
    if (loader) {
      auto batch = loader->next();
      if (!batch) return std::nullopt;
      u1 = batch->view1.to(device, /*non_blocking=*/true);
      u2 = batch->view2.to(device, /*non_blocking=*/true);
      tail_seed = byol::data::batch_seed(static_cast<uint64_t>(seed) + 1, batch->epoch, batch->batch);
    } else {
      // Synthetic: random 256 x 256 images made on the device; the whole view pipeline runs there.
      const auto images = torch::randint(0, 256, {batch_size, 3, 256, 256}, torch::TensorOptions().dtype(torch::kByte).device(device));
      at::Generator g = at::make_generator<at::CPUGeneratorImpl>(
          byol::data::batch_seed(static_cast<uint64_t>(seed), group.rank(), micro));
      u1 = crop(images, g);
      u2 = crop(images, g);
      tail_seed = byol::data::batch_seed(static_cast<uint64_t>(seed) + 1, group.rank(), micro);
    }
    at::Generator g = at::make_generator<at::CPUGeneratorImpl>(tail_seed);
    auto v1 = tail1(u1, g), v2 = tail2(u2, g);
    if (channels_last) {
      v1 = v1.contiguous(torch::MemoryFormat::ChannelsLast);
      v2 = v2.contiguous(torch::MemoryFormat::ChannelsLast);
    }
    return std::make_pair(v1, v2);
  };

  // ---- training ---------------------------------------------------------------------------
  const int64_t last_step = steps_limit > 0 ? std::min(total_steps, step + steps_limit) : total_steps;
  out << "BYOL " << arch << " on " << (synthetic ? "synthetic images" : data_dir) << ", " << images_per_epoch
            << " images/epoch; global batch " << global_batch << " = " << batch_size << " x " << world
            << (world == 1 ? " process x " : " processes x ") << accum << " accumulation steps; LARS peak lr " << peak_lr << ", " << warmup << " warm-up of " << total_steps
            << " steps; device " << device << (bf16 ? ", bf16 autocast" : "")
            << (channels_last ? ", channels_last" : "") << "\n";
  model.train();
  auto window_start = std::chrono::steady_clock::now();
  int64_t window_images = 0;
  double sum_images_per_second = 0;
  int64_t measured_windows = 0;
  bool stop = false;
  while (step < last_step && !stop) {
    // Summed on the device and read back once per optimizer step: a read-back waits for the GPU.
    auto loss_sum = torch::zeros({}, device);
    for (int64_t micro = 0; micro < accum; ++micro) {
      auto views = next_views(step * accum + micro);
      if (!views) break;
      torch::Tensor loss;
      {
        byol::CudaAutocast mixed_precision(bf16);  // the forward pass and the loss; backward outside
        // Each device batch's loss is a mean over its images; averaging them over the
        // accumulation steps gives the mean over the global batch.
        loss = model.loss(views->first, views->second) / static_cast<double>(accum);
      }
      if (parallel && micro + 1 < accum) {
        auto local_only = parallel->no_sync();  // the ranks average once, at the last device batch
        loss.backward();
      } else {
        loss.backward();
      }
      loss_sum += loss.detach();
      window_images += batch_size;
    }
    const double loss_value = loss_sum.item<double>();
    if (!std::isfinite(loss_value)) {
      std::cerr << "error: the loss is " << loss_value << " at step " << step + 1 << "; stopping without saving. "
                << "The last good checkpoint is " << checkpoint_path << ".\n";
      return 1;
    }
    lars.step();
    lars.zero_grad();
    schedule.step();
    model.update_target(tau.step());  // tau_k: the counter of the learning rate this update used
    ++step;
    if (step % log_every == 0 || step == last_step) {
      synchronize(device);
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - window_start).count();
      const double ips = static_cast<double>(window_images) / seconds;
      // 65.6 GFLOP per source image: two views through the online network forward and backward
      // and through the target forward, for ResNet-50 at 224 px.
      const double mfu = ips * 65.6e9 / (peak_tflops * 1e12);
      if (step > log_every) {  // the first window holds the warm-up
        sum_images_per_second += ips;
        ++measured_windows;
      }
      out << "step " << step << "/" << total_steps << "  loss " << std::fixed << std::setprecision(4) << loss_value
                << "  lr " << std::setprecision(4) << lars.param_groups()[0].options().get_lr() << "  "
                << std::setprecision(1) << ips << " img/s";
      if (cuda) out << "  MFU " << std::setprecision(1) << 100 * mfu << "%";
      out << std::endl;
      window_start = now;
      window_images = 0;
    }
    if (step % checkpoint_every == 0 && !saved()) return 1;
    stop = g_interrupted;
    if (data_parallel) {
      // A signal reaches the ranks at different steps: they stop together when any of them got it.
      // On the GPU under NCCL, which reduces CUDA tensors only.
      const at::Tensor any = torch::tensor({stop ? 1.0 : 0.0}, torch::TensorOptions().device(
                                               group.backend() == "nccl" ? device : torch::Device(torch::kCPU)));
      group.all_reduce_sum_(any);
      stop = any.item<double>() > 0;
    }
  }
  if (!saved()) return 1;
  byol::distributed::run_on_main(group, [&] { byol::models::save_state_dict(*model.encoder(), encoder_path); },
                                 "write the encoder " + encoder_path);
  if (measured_windows > 0) {
    const double ips = sum_images_per_second / static_cast<double>(measured_windows);
    out << "throughput: " << std::fixed << std::setprecision(1) << ips << " images/s";
    if (cuda) out << ", MFU " << 100 * ips * 65.6e9 / (peak_tflops * 1e12) << "% of " << peak_tflops << " TFLOP/s";
    out << " (mean of " << measured_windows << " windows after the first)\n";
  }
  out << (stop ? "interrupted; " : "") << "checkpoint " << checkpoint_path << " (step " << step
            << "), encoder " << encoder_path << " (torch.load + torchvision resnet load_state_dict, strict=False)\n";
  return stop ? 130 : 0;
}

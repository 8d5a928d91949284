// BYOL on Fashion-MNIST on a CPU: pre-training with docs/spec.md's two views, LARS and the schedules,
// then k-NN and linear evaluation on the 10,000 test images against the same architecture at
// random initialisation. Writes metrics.csv (appended to, never rewritten), plot.png (loss and
// accuracies, drawn with PLplot) and atomic checkpoints; --resume continues a run; Ctrl-C saves
// and exits.
//
// As N data-parallel processes (scripts/launch.sh -n N -- fashion_mnist ..., or torchrun): each
// rank reads its shard of every epoch, --batch-size images per step (global batch N x that, and
// the learning rate scaled by it), batch norm synchronized over the ranks, gradients averaged;
// rank 0 alone prints, writes metrics.csv, plot.png and the checkpoints (the others wait).
//
//   fashion_mnist [--epochs N] [--out DIR] [--resume] [--data IMAGE_FOLDER] ... (--help lists all)
#include <byol/augment.hpp>
#include <byol/byol.hpp>
#include <byol/data.hpp>
#include <byol/models.hpp>

#include <torch/torch.h>

#include "common/cli.hpp"
#include "common/images.hpp"
#include "common/plot.hpp"
#include "common/progress.hpp"
#include "common/ranks.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }

// The labelled images of a run: Fashion-MNIST from the IDX files, or an image folder.
struct Data {
  at::Tensor train_images, train_labels, test_images, test_labels;  // uint8 [N, C, S, S], int64 [N]
  int64_t classes = 10;
  std::string description;
};

// An image folder becomes fixed-size uint8 tensors: each image's largest centred square resampled
// to `size`. DIR/train and DIR/test (or DIR/val) when present, else a 90/10 split.
std::pair<at::Tensor, at::Tensor> load_folder(const std::string& root, int64_t size, int64_t workers) {
  byol::data::ImageFolder folder(byol::data::ImageFolderOptions(root).num_workers(workers));
  std::vector<int64_t> all(static_cast<size_t>(folder.size()));
  for (int64_t i = 0; i < folder.size(); ++i) all[static_cast<size_t>(i)] = i;
  auto batch = folder.get_batch(all);
  std::vector<at::Tensor> rgb;
  for (const auto& image : batch.images) rgb.push_back(image.size(0) == 1 ? image.expand({3, -1, -1}) : image);
  std::cout << "  " << root << ": " << rgb.size() << " images, " << folder.classes().size() << " classes, "
            << folder.skipped_count() << " skipped\n";
  // The largest centred square of each image, resampled to size x size.
  return {byol_examples::to_uint8(byol::augment::functional::resized_center_crop(rgb, size, size)), batch.labels};
}

Data load_data(const std::string& folder, const std::string& root, int64_t size, int64_t workers) {
  Data d;
  if (folder.empty()) {
    auto train = byol::data::load_fashion_mnist(root, byol::data::Split::train);
    auto test = byol::data::load_fashion_mnist(root, byol::data::Split::test);
    d.train_images = train.images;
    d.train_labels = train.labels;
    d.test_images = test.images;
    d.test_labels = test.labels;
    d.description = "Fashion-MNIST from " + root;
    return d;
  }
  const bool split = fs::is_directory(folder + "/train");
  if (split) {
    std::string held_out = fs::is_directory(folder + "/test") ? folder + "/test" : folder + "/val";
    std::tie(d.train_images, d.train_labels) = load_folder(folder + "/train", size, workers);
    std::tie(d.test_images, d.test_labels) = load_folder(held_out, size, workers);
  } else {
    at::Tensor images, labels;
    std::tie(images, labels) = load_folder(folder, size, workers);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
    auto order = torch::randperm(images.size(0), gen, torch::TensorOptions().dtype(torch::kLong));
    const int64_t n_test = std::max<int64_t>(1, images.size(0) / 10);
    d.test_images = images.index_select(0, order.narrow(0, 0, n_test));
    d.test_labels = labels.index_select(0, order.narrow(0, 0, n_test));
    d.train_images = images.index_select(0, order.narrow(0, n_test, images.size(0) - n_test));
    d.train_labels = labels.index_select(0, order.narrow(0, n_test, images.size(0) - n_test));
  }
  d.classes = std::max(d.train_labels.max().item<int64_t>(), d.test_labels.max().item<int64_t>()) + 1;
  d.description = "image folder " + folder;
  return d;
}

// A 64-bit FNV-1a digest of every parameter and buffer, to compare runs bit for bit.
std::string digest(const torch::nn::Module& module) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const at::Tensor& t) {
    const auto c = t.detach().contiguous().to(torch::kCPU);
    const auto* bytes = static_cast<const uint8_t*>(c.data_ptr());
    for (int64_t i = 0; i < c.numel() * static_cast<int64_t>(c.element_size()); ++i) {
      h = (h ^ bytes[i]) * 1099511628211ull;
    }
  };
  for (const auto& p : module.parameters()) mix(p);
  for (const auto& b : module.buffers()) mix(b);
  std::ostringstream s;
  s << std::hex << std::setw(16) << std::setfill('0') << h;
  return s.str();
}

// One row of metrics.csv.
struct Row {
  int64_t step = 0, epoch = 0;
  double loss = 0, lr = 0, tau = 0, collapse_std = NAN, probe_accuracy = NAN, knn_accuracy = NAN;
};

constexpr char kCsvHeader[] = "step,epoch,loss,lr,tau,collapse_std,probe_accuracy,knn_accuracy\n";

std::string csv_number(double v) {
  if (!std::isfinite(v)) return "";
  std::ostringstream s;
  s << std::setprecision(6) << v;
  return s.str();
}

// metrics.csv is only ever appended to: a header, then each step's row, written at each save just
// before the checkpoint, which records the file's length then (the counter "metrics_bytes"). A
// resumed run cuts the file back to that length, dropping rows of steps the checkpoint does not
// have (a run killed between the two writes, or a damaged checkpoint.pt replaced by its .prev),
// and appends from there; the file is never read to be rewritten.
class MetricsFile {
 public:
  explicit MetricsFile(std::string path) : path_(std::move(path)) {}

  // A new run: a file with the header alone.
  void start() {
    std::ofstream out(path_, std::ios::trunc);
    out << kCsvHeader;
    out.close();
    TORCH_CHECK(out.good(), "cannot write ", path_);
    bytes_ = sizeof(kCsvHeader) - 1;
  }

  // A resumed run: the file back to the length the checkpoint recorded.
  void resume_at(int64_t step) {
    std::error_code ec;
    const auto size = static_cast<int64_t>(fs::file_size(path_, ec));
    TORCH_CHECK(!ec && size >= bytes_, path_, " has ", ec ? std::string("gone") : std::to_string(size) + " bytes",
                " but the checkpoint at step ", step, " was saved after its first ", bytes_,
                " bytes: it is not this run's metrics file; restore it, or start a new run in another --out");
    fs::resize_file(path_, static_cast<uintmax_t>(bytes_), ec);
    TORCH_CHECK(!ec, "cannot cut ", path_, " back to ", bytes_, " bytes: ", ec.message());
  }

  // Appends the rows since the last call; a failed write (a full disk) is an error naming the file.
  void append(const std::vector<Row>& rows) {
    std::ofstream out(path_, std::ios::app);
    for (size_t i = written_; i < rows.size(); ++i) {
      const Row& r = rows[i];
      out << r.step << "," << r.epoch << "," << csv_number(r.loss) << "," << csv_number(r.lr) << ","
          << csv_number(r.tau) << "," << csv_number(r.collapse_std) << "," << csv_number(r.probe_accuracy) << ","
          << csv_number(r.knn_accuracy) << "\n";
    }
    out.close();
    TORCH_CHECK(out.good(), "cannot append to ", path_, " (disk full?)");
    written_ = rows.size();
    std::error_code ec;
    bytes_ = static_cast<int64_t>(fs::file_size(path_, ec));
    TORCH_CHECK(!ec, "cannot read the size of ", path_, ": ", ec.message());
  }

  int64_t& bytes() { return bytes_; }  // what the checkpoint records
  void skip(size_t rows) { written_ = rows; }  // rows already in the file

 private:
  std::string path_;
  int64_t bytes_ = 0;
  size_t written_ = 0;
};

// The plot needs the rows of the steps before a resume: the one time metrics.csv is read, once,
// at --resume, after it was cut back to the checkpoint. Cells that are not numbers are gaps.
std::vector<Row> read_for_plot(const std::string& path) {
  std::vector<Row> rows;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::vector<double> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) {
      char* end = nullptr;
      const double v = std::strtod(cell.c_str(), &end);
      cells.push_back(!cell.empty() && *end == '\0' ? v : NAN);
    }
    cells.resize(8, NAN);
    Row r;
    r.step = std::isfinite(cells[0]) ? static_cast<int64_t>(cells[0]) : 0;
    r.epoch = std::isfinite(cells[1]) ? static_cast<int64_t>(cells[1]) : 0;
    r.loss = cells[2];
    r.lr = cells[3];
    r.tau = cells[4];
    r.collapse_std = cells[5];
    r.probe_accuracy = cells[6];
    r.knn_accuracy = cells[7];
    rows.push_back(r);
  }
  return rows;
}

// plot.png: the loss (and its mean over 50 steps) and the accuracies, against epochs.
void write_plot(const std::string& path, const std::vector<Row>& rows, int64_t steps_per_epoch) {
  byol_examples::Series loss{"loss", {}, {}, {140, 180, 220}}, smooth{"mean of 50 steps", {}, {}, {31, 80, 160}};
  byol_examples::Series knn{"k-NN (subset)", {}, {}, {44, 160, 44}, true};
  byol_examples::Series probe{"online linear probe", {}, {}, {230, 110, 0}, true};
  double window = 0;
  std::vector<double> recent;
  for (const auto& r : rows) {
    const double epoch = static_cast<double>(r.step) / static_cast<double>(std::max<int64_t>(1, steps_per_epoch));
    if (std::isfinite(r.loss)) {
      loss.x.push_back(epoch);
      loss.y.push_back(r.loss);
      recent.push_back(r.loss);
      window += r.loss;
      if (recent.size() > 50) window -= recent[recent.size() - 51];
      smooth.x.push_back(epoch);
      smooth.y.push_back(window / static_cast<double>(std::min<size_t>(recent.size(), 50)));
    }
    if (std::isfinite(r.knn_accuracy)) {
      knn.x.push_back(epoch);
      knn.y.push_back(100 * r.knn_accuracy);
    }
    if (std::isfinite(r.probe_accuracy)) {
      probe.x.push_back(epoch);
      probe.y.push_back(100 * r.probe_accuracy);
    }
  }
  byol_examples::plot_png(path, {{"BYOL loss", "epoch", "loss", {loss, smooth}},
                                 {"Top-1 accuracy", "epoch", "accuracy (%)", {probe, knn}, true}});
}

// Top-1 accuracies of an encoder's frozen features: weighted k-NN and linear evaluation.
struct Scores {
  double knn = 0, linear = 0;
};

template <typename Encoder>
Scores evaluate(Encoder& encoder, const Data& d, const std::function<at::Tensor(const at::Tensor&)>& prep,
                int64_t linear_epochs, const byol::distributed::ProcessGroup& group) {
  // Each rank extracts a share of the features; every rank then evaluates on all of them.
  const auto train_f = byol_examples::gathered_features(encoder, d.train_images, 1024, prep, group);
  const auto test_f = byol_examples::gathered_features(encoder, d.test_images, 1024, prep, group);
  Scores s;
  s.knn = byol::eval::knn_accuracy(train_f, d.train_labels, test_f, d.test_labels);
  s.linear = byol::eval::linear_eval(train_f, d.train_labels, test_f, d.test_labels,
                                     byol::eval::LinearEvalOptions().epochs(linear_epochs).batch_size(256))
                 .test_accuracy;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fashion_mnist: BYOL pre-training on Fashion-MNIST (or an image folder) on the CPU, then k-NN and linear\n"
      "evaluation against the same encoder at random initialisation."};
  std::string root = byol::data::kFashionMnistRoot;
  app.add_option("--data-root", root, "Fashion-MNIST IDX files (Debian package dataset-fashion-mnist)");
  std::string folder;
  app.add_option("--data", folder,
                 "train on an image folder DIR instead (DIR/<class>/*.jpg|png, or DIR/train + DIR/test); images are "
                 "resized to --image-size");
  int64_t image_size = 0;
  app.add_option("--image-size", image_size, "view size in pixels; 0 = 28 for Fashion-MNIST, 32 for a folder");
  int64_t epochs = 12;
  app.add_option("--epochs", epochs, "pre-training epochs");
  int64_t batch_size = 256;
  app.add_option("--batch-size", batch_size, "images per step (two views each)");
  double base_lr = 2.0;
  app.add_option("--base-lr", base_lr, "LARS learning rate at batch 256 (scaled by batch / 256)");
  double weight_decay = 1.5e-6;
  app.add_option("--weight-decay", weight_decay, "LARS weight decay (biases and norms excluded)");
  double warmup_epochs = 0.5;
  app.add_option("--warmup-epochs", warmup_epochs, "linear warm-up, in epochs");
  double tau_base = 0.99;
  app.add_option("--tau", tau_base, "target decay rate at step 0 (cosine to 1)");
  int64_t width = 16;
  app.add_option("--width", width, "channels of the encoder's first block (then x2, x4, x8)");
  int64_t hidden = 1024;
  app.add_option("--hidden-dim", hidden, "projector and predictor hidden width");
  int64_t projection = 128;
  app.add_option("--projection-dim", projection, "projection width");
  int64_t knn_every = 1;
  app.add_option("--knn-every", knn_every, "epochs between k-NN checks on a subset (0: never)");
  int64_t linear_epochs = 30;
  app.add_option("--linear-epochs", linear_epochs, "epochs of the final linear evaluation");
  int64_t limit_train = 0;
  app.add_option("--limit-train", limit_train, "use only the first N training images (0: all)");
  std::string out_dir = "runs/fashion_mnist";
  app.add_option("--out", out_dir, "folder for metrics.csv, plot.png, checkpoint.pt");
  int64_t checkpoint_every = 200;
  app.add_option("--checkpoint-every", checkpoint_every, "steps between checkpoints (and every epoch end)");
  int64_t stop_after = 0;
  app.add_option("--stop-after", stop_after, "save and exit after this many steps, as Ctrl-C does (testing)");
  int64_t seed = 0;
  app.add_option("--seed", seed, "seed of initialisation, data order and augmentation");
  int64_t threads = 0;
  app.add_option("--threads", threads, "LibTorch threads (0: OMP_NUM_THREADS, else every core)");
  int64_t workers = 1;
  app.add_option("--workers", workers, "background threads preparing batches");
  bool resume = false;
  app.add_flag("--resume", resume, "continue the run saved in --out");
  bool no_eval = false;
  app.add_flag("--no-eval", no_eval, "skip the final evaluation (for quick runs)");
  byol_examples::parse_or_exit(app, argc, argv);

  // One process, or one rank of N (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set).
  const auto group = byol_examples::or_exit(1, "", [] { return byol::distributed::init_process_group(); });
  const int64_t world = group.world_size();
  const bool main_rank = byol::distributed::is_main_process(group);
  std::ostream& console = byol_examples::main_out(group);
  const auto start = std::chrono::steady_clock::now();
  torch::set_num_threads(byol_examples::choose_threads(threads));
  torch::manual_seed(static_cast<uint64_t>(seed));
  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);
  fs::create_directories(out_dir);
  const std::string checkpoint_path = out_dir + "/checkpoint.pt", metrics_path = out_dir + "/metrics.csv";
  const std::string plot_path = out_dir + "/plot.png";
  if (!resume && byol::checkpoint::exists(checkpoint_path)) {
    std::cerr << "error: " << checkpoint_path << " exists; pass --resume to continue it, or another --out\n";
    return 2;
  }
  if (resume && !byol::checkpoint::exists(checkpoint_path) &&
      !byol::checkpoint::exists(byol::checkpoint::previous_path(checkpoint_path))) {
    std::cerr << "error: --resume but no checkpoint at " << checkpoint_path << " (nor "
              << byol::checkpoint::previous_path(checkpoint_path) << ")\n";
    return 2;
  }

  // ---- data -------------------------------------------------------------------------------
  const int64_t size = image_size > 0 ? image_size : (folder.empty() ? 28 : 32);
  console << "loading data\n";
  Data data = byol_examples::or_exit(1, "", [&] { return load_data(folder, root, size, workers); });
  if (limit_train > 0 && limit_train < data.train_images.size(0)) {
    data.train_images = data.train_images.narrow(0, 0, limit_train);
    data.train_labels = data.train_labels.narrow(0, 0, limit_train);
  }
  const int64_t channels = data.train_images.size(1);
  console << "  " << data.description << ": " << data.train_images.size(0) << " training and "
            << data.test_images.size(0) << " test images, " << channels << "x" << data.train_images.size(2) << "x"
            << data.train_images.size(3) << ", " << data.classes << " classes\n";

  // T and T' of docs/spec.md take the grey images as they are: saturation, hue and grayscale leave
  // a 1-channel image alone (and still make their random draws).
  const auto view1 = byol::augment::byol_view1(size);
  const auto view2 = byol::augment::byol_view2(size);
  auto make_view1 = [&](const at::Tensor& x, at::Generator& g) { return view1(x, g); };
  auto make_view2 = [&](const at::Tensor& x, at::Generator& g) { return view2(x, g); };
  // Evaluation sees the plain image in [0, 1].
  const std::function<at::Tensor(const at::Tensor&)> plain = [](const at::Tensor& x) {
    return x.to(torch::kFloat).div(255);
  };

  // ---- model, optimizer, schedules -------------------------------------------------------
  auto make_encoder = [&] {
    return byol::models::SmallCNN(byol::models::SmallCNNOptions()
                                      .in_channels(channels)
                                      .channels({width, 2 * width, 4 * width, 8 * width})
                                      .strides({2, 2, 2, 1}));
  };
  auto encoder = make_encoder();
  const int64_t features = encoder->feature_dim();
  byol::BYOL<byol::models::SmallCNN> model(
      encoder, byol::BYOLOptions(features).hidden_dim(hidden).projection_dim(projection).predictor_hidden_dim(hidden));
  byol::eval::OnlineProbe probe(features, data.classes);
  std::vector<at::Tensor> trained = model.online_parameters();
  for (const auto& p : probe->parameters()) trained.push_back(p);
  if (world > 1) {
    // Batch norm over the global batch, in the online network and the target (the probe has none).
    const int64_t synced = byol::distributed::convert_sync_batchnorm(model, group);
    console << "  " << world << " ranks: " << synced << " BatchNorm layers synchronized, global batch "
        << world * batch_size << "\n";
  }
  const double peak_lr = base_lr * static_cast<double>(world * batch_size) / 256.0;
  byol::optim::LARS lars(trained, byol::optim::LARSOptions(peak_lr).weight_decay(weight_decay));

  byol::data::TensorSource source(data.train_images, data.train_labels);
  byol::data::LoaderOptions loader_options(batch_size);
  loader_options.epochs(epochs).seed(static_cast<uint64_t>(seed)).num_workers(workers);
  loader_options.rank(group.rank()).world_size(world);  // this rank's shard: N / world images an epoch
  const int64_t steps_per_epoch = data.train_images.size(0) / world / batch_size;
  if (steps_per_epoch == 0) {
    std::cerr << "error: --batch-size " << batch_size << " is larger than the training set's share of each of "
              << world << " ranks (" << data.train_images.size(0) / world << " images)\n";
    return 2;
  }
  const int64_t total_steps = steps_per_epoch * epochs;
  const int64_t warmup = std::min<int64_t>(total_steps - 1, std::llround(warmup_epochs * steps_per_epoch));
  byol::schedule::WarmupCosineLR schedule(lars, warmup, total_steps);
  byol::schedule::TargetTau tau(tau_base, total_steps);

  // The whole run's state (and the global generator): one atomic, checksummed file.
  int64_t step = 0;
  std::vector<Row> rows;  // every step's row since step 1: what the plot draws
  MetricsFile metrics(metrics_path);
  byol::TrainState state;
  state.module("model", model).module("probe", probe).optimizer("optimizer", lars).schedule("lr", schedule)
      .schedule("tau", tau).counter("step", step).counter("metrics_bytes", metrics.bytes());
  // Every rank loads rank 0's checkpoint; rank 0 alone keeps metrics.csv.
  if (resume) {
    const auto loaded = byol_examples::or_exit(1, "--resume: ", [&] { return state.load(checkpoint_path); });
    if (main_rank) {
      byol_examples::or_exit(1, "--resume: ", [&] { metrics.resume_at(step); });
      rows = read_for_plot(metrics_path);
      metrics.skip(rows.size());
    }
    console << "resumed from " << loaded.path << " at step " << step << "\n";
  } else if (main_rank) {
    byol_examples::or_exit(1, "", [&] { metrics.start(); });
  }
  // N ranks: rank 0's weights everywhere (they are equal already: one seed), then gradients
  // averaged over the ranks in buckets during backward. The target follows the online network on
  // each rank alike.
  std::optional<byol::distributed::DataParallel> parallel_model, parallel_probe;
  if (world > 1) {
    parallel_model.emplace(model, group);
    parallel_probe.emplace(*probe, group);
  }
  const std::string no_plot = byol_examples::plot_unavailable();
  if (!no_plot.empty()) console << "no " << plot_path << ": " << no_plot << "\n";
  loader_options.start_epoch(state.loader_position().first).start_batch(state.loader_position().second);
  byol::data::TwoViewLoader loader(source, make_view1, make_view2, loader_options);
  state.loader(loader);

  // Rank 0 writes; the others wait for it, and share its error if it fails.
  auto save = [&] {
    byol::distributed::run_on_main(group, [&] {
      metrics.append(rows);  // first: the checkpoint records the file's new length
      state.save(checkpoint_path);
      if (no_plot.empty()) write_plot(plot_path, rows, steps_per_epoch);
    }, "save the checkpoint " + checkpoint_path);
  };
  // A failed save (a full disk, say) ends the run with a message; the rename never happened, so
  // the previous checkpoint is intact.
  auto saved = [&] {
    try {
      save();
      return true;
    } catch (const std::exception& e) {
      const c10::Error* error = dynamic_cast<const c10::Error*>(&e);
      std::cerr << "\nerror: cannot save the checkpoint at step " << step << ": "
                << (error != nullptr ? error->what_without_backtrace() : e.what()) << "\n"
                << checkpoint_path << " (or " << byol::checkpoint::previous_path(checkpoint_path)
                << ") is the last complete checkpoint; free some space and continue with the same flags and --resume\n";
      return false;
    }
  };

  // A k-NN check on a subset, cheap enough to run every epoch.
  const int64_t knn_train = std::min<int64_t>(10000, data.train_images.size(0));
  const int64_t knn_test = std::min<int64_t>(2000, data.test_images.size(0));
  auto quick_knn = [&] {
    auto& enc = model.encoder();
    const auto tr = byol_examples::gathered_features(enc, data.train_images.narrow(0, 0, knn_train), 1024, plain, group);
    const auto te = byol_examples::gathered_features(enc, data.test_images.narrow(0, 0, knn_test), 1024, plain, group);
    return byol::eval::knn_accuracy(tr, data.train_labels.narrow(0, 0, knn_train), te,
                                    data.test_labels.narrow(0, 0, knn_test));
  };

  // ---- pre-training -----------------------------------------------------------------------
  console << "pre-training: " << epochs << " epochs x " << steps_per_epoch << " steps of " << batch_size
            << " images, encoder " << features << "-d (" << width << "-" << 8 * width << " channels), LARS peak lr "
            << peak_lr << ", " << torch::get_num_threads() << " threads\n";
  model.train();
  byol_examples::ProgressBar bar(total_steps, step, main_rank);
  int64_t low_std_checks = 0;
  const double healthy_std = byol::eval::healthy_collapse_std(projection);
  while (step < total_steps) {
    auto batch = loader.next();
    if (!batch) break;
    const auto out = model.forward(batch->view1, batch->view2);
    const auto loss = model.loss(out);
    const auto probe_loss = probe->loss(out.h1, batch->labels);
    const double loss_value = loss.item<double>();
    if (!std::isfinite(loss_value)) {
      bar.finish();
      std::cerr << "error: the loss is " << loss_value << " at step " << step + 1
                << "; stopping without saving. The last good checkpoint is " << checkpoint_path
                << " (if one was written); lower --base-lr and --resume from it.\n";
      return 1;
    }
    lars.zero_grad();
    (loss + probe_loss).backward();
    lars.step();
    schedule.step();
    const double tau_k = tau.step();  // the same counter as the learning rate this update used
    model.update_target(tau_k);
    ++step;

    Row row;
    row.step = step;
    row.epoch = (step - 1) / steps_per_epoch;
    row.loss = loss_value;
    row.lr = lars.param_groups()[0].options().get_lr();
    row.tau = tau_k;
    if (step % 10 == 0 || step == total_steps) {
      // Collapse guard: about 1/sqrt(D) when healthy, 0 when every image maps to the same point.
      row.collapse_std = byol::eval::collapse_std(out.z1);
      low_std_checks = row.collapse_std < 0.1 * healthy_std ? low_std_checks + 1 : 0;
      if (low_std_checks == 3) {
        bar.finish();
        std::cerr << "warning: collapse? the std of normalised projections is " << row.collapse_std
                  << " (healthy: about " << healthy_std << ") at step " << step << "\n";
      }
    }
    const bool epoch_end = step % steps_per_epoch == 0;
    if (epoch_end) {
      row.probe_accuracy = probe->accuracy();
      probe->reset_accuracy();
      const int64_t epoch = step / steps_per_epoch;
      if (knn_every > 0 && (epoch % knn_every == 0 || step == total_steps)) {
        row.knn_accuracy = quick_knn();
        model.train();
      }
      bar.finish();
      console << "epoch " << epoch << "/" << epochs << ": loss " << std::setprecision(4) << loss_value
                << ", online probe " << std::setprecision(3) << 100 * row.probe_accuracy << "%";
      if (std::isfinite(row.knn_accuracy)) {
        console << ", k-NN (" << knn_train << "/" << knn_test << " subset) " << 100 * row.knn_accuracy << "%";
      }
      console << std::endl;
    }
    rows.push_back(row);
    std::ostringstream status;
    status << "epoch " << row.epoch + 1 << "/" << epochs << "  loss " << std::fixed << std::setprecision(3) << loss_value;
    bar.update(step, status.str(), static_cast<double>(batch_size));

    bool stop = g_interrupted || (stop_after > 0 && step >= stop_after);
    if (world > 1) {
      // A signal reaches the ranks at different steps: they stop together when any of them got it.
      const at::Tensor any = torch::tensor({stop ? 1.0 : 0.0});
      group.all_reduce_sum_(any);
      stop = any.item<double>() > 0;
    }
    if ((stop || epoch_end || step % checkpoint_every == 0) && !saved()) return 1;
    if (stop) {
      bar.finish();
      console << (g_interrupted ? "interrupted" : "stopped") << " at step " << step << "/" << total_steps
                << "; checkpoint saved to " << checkpoint_path << ". Continue with the same flags and --resume.\n";
      std::cout << "state digest " << digest(model) << "\n";  // every rank: they must agree
      return g_interrupted ? 130 : 0;
    }
  }
  bar.finish();
  if (!saved()) return 1;
  const double train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "state digest " << digest(model) << "\n";  // every rank: they must agree
  console << "wrote " << metrics_path << ", " << (no_plot.empty() ? plot_path + ", " : "") << checkpoint_path << "\n";
  if (no_eval) return 0;

  // ---- evaluation -------------------------------------------------------------------------
  console << "evaluating on " << data.test_images.size(0) << " test images (k-NN k=200 T=0.1; linear: "
            << linear_epochs << " epochs on frozen features)\n";
  const Scores byol_scores = evaluate(model.encoder(), data, plain, linear_epochs, group);
  torch::manual_seed(static_cast<uint64_t>(seed));
  auto random_encoder = make_encoder();
  const Scores random_scores = evaluate(random_encoder, data, plain, linear_epochs, group);
  const double total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  console << std::fixed << std::setprecision(2) << "\n"
            << "                      k-NN top-1   linear top-1\n"
            << "  BYOL pre-trained    " << std::setw(9) << 100 * byol_scores.knn << "%   " << std::setw(10)
            << 100 * byol_scores.linear << "%\n"
            << "  random init         " << std::setw(9) << 100 * random_scores.knn << "%   " << std::setw(10)
            << 100 * random_scores.linear << "%\n"
            << "  difference          " << std::setw(9) << 100 * (byol_scores.knn - random_scores.knn) << "    "
            << std::setw(10) << 100 * (byol_scores.linear - random_scores.linear) << "\n\n"
            << "pre-training and checkpoints " << byol_examples::format_duration(train_seconds) << ", total "
            << byol_examples::format_duration(total_seconds) << " on " << torch::get_num_threads() << " threads\n";
  if (!main_rank) return 0;
  std::ofstream summary(out_dir + "/summary.txt");
  summary << "byol_knn " << byol_scores.knn << "\nbyol_linear " << byol_scores.linear << "\nrandom_knn "
          << random_scores.knn << "\nrandom_linear " << random_scores.linear << "\nseconds " << total_seconds << "\n";
  return 0;
}

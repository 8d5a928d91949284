// Writes a PNG grid of images beside their BYOL views: each row is one original, then views drawn
// from T (byol_view1) and T' (byol_view2). From the Fashion-MNIST images the set-up installs, or
// from a folder of JPEG/PNG images.
//
//   augment_preview [--data DIR] [--rows 8] [--views 3] [--size 28] [--out augment_preview.png]
#include <byol/augment.hpp>
#include <byol/data.hpp>

#include <torch/torch.h>

#include "common/cli.hpp"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace {

// Nearest-neighbour upscaling by an integer factor, so small images stay crisp in the grid.
at::Tensor upscale(const at::Tensor& image, int64_t factor) {
  return image.repeat_interleave(factor, 1).repeat_interleave(factor, 2);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "augment_preview: a PNG grid of originals beside their view 1 (T) and view 2 (T') samples, to look at\n"
      "what BYOL's augmentations do."};
  std::string folder;
  app.add_option("--data", folder, "a folder of JPEG/PNG images (searched recursively) instead of Fashion-MNIST");
  std::string root = byol::data::kFashionMnistRoot;
  app.add_option("--data-root", root, "Fashion-MNIST IDX files");
  int64_t rows = 8;
  app.add_option("--rows", rows, "images (rows) in the grid");
  int64_t views = 3;
  app.add_option("--views", views, "samples of each view per image");
  int64_t size = 0;
  app.add_option("--size", size, "view size in pixels (0: 28 for Fashion-MNIST, 224 for a folder)");
  int64_t cell = 112;
  app.add_option("--cell", cell, "displayed size of each cell in pixels");
  int64_t seed = 0;
  app.add_option("--seed", seed, "seed of the random views");
  std::string out = "augment_preview.png";
  app.add_option("--out", out, "the PNG file to write");
  byol_examples::parse_or_exit(app, argc, argv);
  torch::set_num_threads(byol_examples::choose_threads(0));
  torch::manual_seed(static_cast<uint64_t>(seed));

  std::vector<at::Tensor> originals;  // uint8 [C, H, W], any sizes
  try {
    if (folder.empty()) {
      const auto train = byol::data::load_fashion_mnist(root, byol::data::Split::train);
      // One image of each class first, then the next ones.
      for (int64_t c = 0; c < 10 && static_cast<int64_t>(originals.size()) < rows; ++c) {
        const auto idx = (train.labels == c).nonzero().flatten();
        if (idx.numel() > 0) originals.push_back(train.images[idx[0].item<int64_t>()]);
      }
    } else {
      std::vector<std::string> files;
      for (const auto& entry : std::filesystem::recursive_directory_iterator(folder)) {
        std::string ext = entry.path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
        if (entry.is_regular_file() && (ext == ".jpg" || ext == ".jpeg" || ext == ".png")) {
          files.push_back(entry.path().string());
        }
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        if (static_cast<int64_t>(originals.size()) >= rows) break;
        try {
          originals.push_back(byol::data::read_image(f));
        } catch (const c10::Error& e) {
          std::cerr << "skipping " << f << ": " << e.what_without_backtrace() << "\n";
        }
      }
    }
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  }
  if (originals.empty()) {
    std::cerr << "error: no images found in " << (folder.empty() ? root : folder) << "\n";
    return 1;
  }

  const int64_t view_size = size > 0 ? size : (folder.empty() ? 28 : 224);
  const int64_t factor = std::max<int64_t>(1, cell / view_size);
  const int64_t shown = view_size * factor;
  const auto t1 = byol::augment::byol_view1(view_size);
  const auto t2 = byol::augment::byol_view2(view_size);
  std::vector<at::Tensor> rgb;
  for (const auto& o : originals) rgb.push_back(o.size(0) == 1 ? o.expand({3, -1, -1}).contiguous() : o);

  // Column 0: each original, resized whole; then each column is one draw over all rows at once,
  // as in training.
  std::vector<at::Tensor> columns;
  std::vector<at::Tensor> fitted;
  for (const auto& o : rgb) {
    const auto box = torch::tensor({{0.0, 0.0, static_cast<double>(o.size(1)), static_cast<double>(o.size(2))}});
    // Scaled to [0, 1] before the crop: uint8 in works too, but moves a few pixels by one level.
    const auto x = o.unsqueeze(0).to(torch::kFloat).div(255);
    fitted.push_back(byol::augment::functional::resized_crop(x, box, view_size)[0]);
  }
  columns.push_back(torch::stack(fitted));
  for (int64_t v = 0; v < views; ++v) columns.push_back(t1(rgb));
  for (int64_t v = 0; v < views; ++v) columns.push_back(t2(rgb));

  const int64_t pad = 4, gap = 12;
  const int64_t n_rows = static_cast<int64_t>(rgb.size()), n_cols = static_cast<int64_t>(columns.size());
  const int64_t width = n_cols * (shown + pad) + 2 * gap + pad, height = n_rows * (shown + pad) + pad;
  auto grid = torch::ones({3, height, width});
  for (int64_t c = 0; c < n_cols; ++c) {
    // Gaps separate originals | view 1 | view 2.
    const int64_t x = pad + c * (shown + pad) + (c >= 1 ? gap : 0) + (c >= 1 + views ? gap : 0);
    for (int64_t r = 0; r < n_rows; ++r) {
      const int64_t y = pad + r * (shown + pad);
      grid.narrow(1, y, shown).narrow(2, x, shown).copy_(upscale(columns[static_cast<size_t>(c)][r].clamp(0, 1), factor));
    }
  }
  byol::data::write_png(out, grid);
  std::cout << "wrote " << out << ": " << n_rows << " images (rows); columns: original, " << views << " x view 1 (T), "
            << views << " x view 2 (T'); views of " << view_size << " px shown at " << shown << " px\n";
  return 0;
}

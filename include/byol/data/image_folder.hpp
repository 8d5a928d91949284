#pragma once

/// ImageFolder: a labelled image dataset laid out as root/<class>/<image files>, decoded with
/// libjpeg-turbo and libpng on a pool of threads. Unreadable files are skipped, counted and
/// named in a warning; only regular files (or links to them) of at most
/// DecodeOptions::max_file_bytes are read, so a FIFO or a link to /dev/zero named x.jpg is a
/// skipped file, never a hang or a runaway read. A class folder (or a folder under it) that
/// cannot be listed, e.g. for lack of permission, is an error naming it, not an empty class.
///
///   classes = the sub-folders of root, sorted by name; class k's label is k
///   samples = every .jpg/.jpeg/.png (any case) under each class folder, sorted by path
///
///     byol::data::ImageFolder folder(byol::data::ImageFolderOptions("/data/imagenet/train"));
///     auto batch = folder.get_batch({0, 1, 2});   // 3 uint8 [3, H, W] images of different sizes
///     folder.skipped_count();                      // files that could not be decoded so far

#include <byol/data/detail/file.hpp>
#include <byol/data/image.hpp>
#include <byol/data/thread_pool.hpp>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/arg.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace byol::data {

/// A file that ImageFolder could not decode.
struct SkippedFile {
  /// The file's path.
  std::string path;
  /// The decoder's error, which names the file (e.g. "ImageFolder: cannot decode PNG '...': ...").
  std::string reason;
};

/// Options of ImageFolder.
struct ImageFolderOptions {
  /// @param root  the folder whose sub-folders are the classes
  ImageFolderOptions(std::string root) : root_(std::move(root)) {}  // NOLINT(google-explicit-constructor)
  /// The dataset's folder: root/<class>/<files>; files directly in root are ignored.
  TORCH_ARG(std::string, root);
  /// Decoding threads, shared by every copy of the ImageFolder (so by all of a TwoViewLoader's
  /// workers); 0 decodes on the calling thread. Default: thread_budget().decode_threads, the
  /// cores that the training step's intra-op threads leave (at least 1; docs/data.md, "Threads").
  TORCH_ARG(int64_t, num_workers) = thread_budget().decode_threads;
  /// File extensions taken as images, compared case-insensitively. Default .jpg .jpeg .png.
  TORCH_ARG(std::vector<std::string>, extensions) = std::vector<std::string>{".jpg", ".jpeg", ".png"};
  /// How images are decoded. Default: 3-channel RGB, strict. mode must be rgb or gray (every
  /// image of a batch needs the same number of channels).
  TORCH_ARG(DecodeOptions, decode) = DecodeOptions();
  /// Decode every file once at construction and drop the unreadable ones from the dataset, so
  /// that size() counts only good images and batches are always full. Default false (files are
  /// checked when first loaded).
  TORCH_ARG(bool, verify) = false;
  /// Called once per skipped file, on the thread that asked for the batch. Default (empty): a
  /// TORCH_WARN naming the file and the reason.
  TORCH_ARG(std::function<void(const SkippedFile&)>, on_skip) = nullptr;
};

/// One decoded sample.
struct LabeledImage {
  /// uint8 [C, H, W].
  at::Tensor image;
  int64_t label = 0;
};

/// What ImageFolder::get_batch returns: the images that decoded, in request order.
struct ImageBatch {
  /// uint8 [C, H, W] each; sizes differ from image to image.
  std::vector<at::Tensor> images;
  /// int64 [B'] (B' = images.size(), the requested count minus the skipped files).
  at::Tensor labels;
  /// int64 [B']: the dataset positions of the images.
  at::Tensor indices;
};

namespace detail {

struct ImageFolderState {
  explicit ImageFolderState(ImageFolderOptions options_) : options(std::move(options_)) {}
  ImageFolderOptions options;
  std::vector<std::string> classes;
  std::vector<std::string> paths;
  std::vector<int64_t> labels;
  std::unique_ptr<ThreadPool> pool;
  std::mutex mutex;                // guards the two below
  std::vector<uint8_t> known_bad;  // per sample: already skipped once
  std::vector<SkippedFile> skipped;
};

inline std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace detail

/// A dataset of images in class sub-folders, decoded in parallel.
///
/// `ImageFolder` is a handle: copies share the file list, the decoding threads and the record
/// of skipped files (so a copy given to a TwoViewLoader reports to the original).
///
/// A file that cannot be read or decoded (corrupt, truncated, not an image, CMYK JPEG) is
/// skipped by get_batch: it is left out of the batch, recorded in skipped_files(), and reported
/// once (a warning naming it, or options.on_skip). Later requests skip it without reading it.
/// A missing root, a root without class folders, or no image files at all are errors naming
/// the root.
///
///     byol::data::ImageFolder folder(byol::data::ImageFolderOptions("train").num_workers(2));
///     auto sample = folder.get(0);          // {uint8 [3, H, W], label}
///     folder.classes();                     // sorted sub-folder names
class ImageFolder {
 public:
  /// What get_batch hands a TwoViewLoader's view transforms: a list of differently sized images.
  using Images = std::vector<at::Tensor>;
  using Batch = ImageBatch;

  explicit ImageFolder(ImageFolderOptions options)
      : state_(std::make_shared<detail::ImageFolderState>(std::move(options))) {
    const ImageFolderOptions& o = state_->options;
    TORCH_CHECK(o.num_workers() >= 0, "ImageFolder: num_workers must be >= 0, got ", o.num_workers());
    TORCH_CHECK(o.decode().mode() != ImageMode::keep,
                "ImageFolder: decode().mode() must be ImageMode::rgb or ImageMode::gray (every image of a batch "
                "needs the same channel count), got ImageMode::keep");
    TORCH_CHECK(!o.extensions().empty(), "ImageFolder: extensions is empty");
    TORCH_CHECK(o.decode().max_file_bytes() > 0, "ImageFolder: decode().max_file_bytes() must be > 0, got ",
                o.decode().max_file_bytes());
    list_files_();
    state_->known_bad.assign(state_->paths.size(), 0);
    state_->pool = std::make_unique<ThreadPool>(o.num_workers());
    if (o.verify()) {
      verify_();
    }
  }

  /// Number of samples (files with an image extension; after verify, the readable ones).
  int64_t size() const { return static_cast<int64_t>(state_->paths.size()); }
  /// Class names (the sub-folder names, sorted); a label indexes this list.
  const std::vector<std::string>& classes() const { return state_->classes; }
  /// Path of sample i.
  const std::string& path(int64_t i) const { return state_->paths.at(check_index_(i, "path")); }
  /// Label of sample i.
  int64_t label(int64_t i) const { return state_->labels.at(check_index_(i, "label")); }
  /// Every sample's path, in dataset order.
  const std::vector<std::string>& paths() const { return state_->paths; }
  /// int64 [N]: every sample's label.
  at::Tensor labels() const {
    return at::tensor(at::ArrayRef<int64_t>(state_->labels), at::TensorOptions().dtype(at::kLong));
  }
  const ImageFolderOptions& options() const { return state_->options; }

  /// Decodes sample i on the calling thread: {uint8 [C, H, W], label}. An unreadable file is a
  /// c10::Error naming it (get() does not skip).
  LabeledImage get(int64_t i) const {
    check_index_(i, "get");
    return {decode_(i), state_->labels[static_cast<size_t>(i)]};
  }

  /// Decodes the samples at `indices` on the decoding threads. Unreadable files are skipped
  /// (see the class comment); the others come back in request order.
  ImageBatch get_batch(const std::vector<int64_t>& indices) const {
    for (const int64_t i : indices) {
      check_index_(i, "get_batch");
    }
    const size_t n = indices.size();
    std::vector<at::Tensor> images(n);
    std::vector<std::string> errors(n);
    std::vector<uint8_t> known_bad(n);
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      for (size_t k = 0; k < n; ++k) {
        known_bad[k] = state_->known_bad[static_cast<size_t>(indices[k])];
      }
    }
    decode_many_(indices, known_bad, images, errors);
    ImageBatch out;
    std::vector<int64_t> labels, kept;
    for (size_t k = 0; k < n; ++k) {
      if (images[k].defined()) {
        out.images.push_back(std::move(images[k]));
        labels.push_back(state_->labels[static_cast<size_t>(indices[k])]);
        kept.push_back(indices[k]);
      } else if (!errors[k].empty()) {
        skip_(indices[k], errors[k]);
      }
    }
    out.labels = at::tensor(at::ArrayRef<int64_t>(labels), at::TensorOptions().dtype(at::kLong));
    out.indices = at::tensor(at::ArrayRef<int64_t>(kept), at::TensorOptions().dtype(at::kLong));
    return out;
  }

  /// Number of distinct files skipped so far (by verify or get_batch).
  int64_t skipped_count() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return static_cast<int64_t>(state_->skipped.size());
  }

  /// The files skipped so far, in the order they were found.
  std::vector<SkippedFile> skipped_files() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->skipped;
  }

 private:
  size_t check_index_(int64_t i, const char* where) const {
    TORCH_CHECK(i >= 0 && i < size(), "ImageFolder::", where, ": index ", i, " is out of range for ", size(),
                " samples in '", state_->options.root(), "'");
    return static_cast<size_t>(i);
  }

  bool is_image_name_(const std::filesystem::path& file) const {
    const std::string ext = detail::lower(file.extension().string());
    for (const std::string& wanted : state_->options.extensions()) {
      if (ext == detail::lower(wanted)) {
        return true;
      }
    }
    return false;
  }

  void list_files_() {
    namespace fs = std::filesystem;
    const std::string& root = state_->options.root();
    TORCH_CHECK(!root.empty(), "ImageFolder: root is an empty path");
    std::error_code ec;
    const auto status = fs::status(root, ec);
    TORCH_CHECK(fs::exists(status), "ImageFolder: root folder '", root, "' does not exist");
    TORCH_CHECK(fs::is_directory(status), "ImageFolder: root '", root, "' is not a folder");
    fs::directory_iterator it(root, ec);
    TORCH_CHECK(!ec, "ImageFolder: cannot list '", root, "': ", ec.message());
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      std::error_code ignored;
      if (it->is_directory(ignored)) {
        state_->classes.push_back(it->path().filename().string());
      }
    }
    TORCH_CHECK(!ec, "ImageFolder: cannot list '", root, "': ", ec.message());
    std::sort(state_->classes.begin(), state_->classes.end());
    TORCH_CHECK(!state_->classes.empty(), "ImageFolder: '", root,
                "' has no class sub-folders (expected root/<class>/<image files>)");
    for (size_t label = 0; label < state_->classes.size(); ++label) {
      const fs::path folder = fs::path(root) / state_->classes[label];
      std::vector<std::string> files;
      fs::recursive_directory_iterator walk(
          folder, fs::directory_options::follow_directory_symlink, ec);
      TORCH_CHECK(!ec, "ImageFolder: cannot list '", folder.string(), "': ", ec.message());
      for (; walk != fs::recursive_directory_iterator(); walk.increment(ec)) {
        std::error_code ignored;
        if (!walk->is_directory(ignored) && is_image_name_(walk->path())) {
          files.push_back(walk->path().string());
        }
      }
      TORCH_CHECK(!ec, "ImageFolder: cannot list '", folder.string(), "': ", ec.message());
      std::sort(files.begin(), files.end());
      for (auto& file : files) {
        state_->paths.push_back(std::move(file));
        state_->labels.push_back(static_cast<int64_t>(label));
      }
    }
    std::string wanted;
    for (const std::string& ext : state_->options.extensions()) {
      wanted += (wanted.empty() ? "" : ", ") + ext;
    }
    TORCH_CHECK(!state_->paths.empty(), "ImageFolder: no image files (", wanted, ") in the ", state_->classes.size(),
                " class folder", state_->classes.size() == 1 ? "" : "s", " of '", root, "'");
  }

  at::Tensor decode_(int64_t i) const {
    const std::string& file = state_->paths[static_cast<size_t>(i)];
    const std::vector<uint8_t> bytes =
        detail::read_bytes(file, "ImageFolder", static_cast<uint64_t>(state_->options.decode().max_file_bytes()));
    return detail::decode_any(bytes.data(), bytes.size(), state_->options.decode(), file, "ImageFolder");
  }

  void decode_many_(const std::vector<int64_t>& indices, const std::vector<uint8_t>& known_bad,
                    std::vector<at::Tensor>& images, std::vector<std::string>& errors) const {
    state_->pool->parallel_for(static_cast<int64_t>(indices.size()), [&](int64_t k) {
      if (known_bad[static_cast<size_t>(k)]) {
        return;
      }
      try {
        images[static_cast<size_t>(k)] = decode_(indices[static_cast<size_t>(k)]);
      } catch (const c10::Error& e) {
        errors[static_cast<size_t>(k)] = e.what_without_backtrace();
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(k)] = std::string("ImageFolder: cannot read '") +
                                         state_->paths[static_cast<size_t>(indices[static_cast<size_t>(k)])] +
                                         "': " + e.what();
      }
    });
  }

  /// Records sample i as skipped (once) and reports it on this thread.
  void skip_(int64_t i, const std::string& reason) const {
    SkippedFile record{state_->paths[static_cast<size_t>(i)], reason};
    size_t count = 0;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      if (state_->known_bad[static_cast<size_t>(i)]) {
        return;
      }
      state_->known_bad[static_cast<size_t>(i)] = 1;
      state_->skipped.push_back(record);
      count = state_->skipped.size();
    }
    if (state_->options.on_skip()) {
      state_->options.on_skip()(record);
    } else {
      TORCH_WARN(reason, " -- skipped (", count, " file", count == 1 ? "" : "s", " skipped so far)");
    }
  }

  /// Decodes everything once and keeps the readable files only.
  void verify_() {
    constexpr int64_t kChunk = 256;  // bounds the decoded images held at once
    std::vector<uint8_t> good(state_->paths.size(), 1);
    for (int64_t begin = 0; begin < size(); begin += kChunk) {
      const int64_t end = std::min(size(), begin + kChunk);
      std::vector<int64_t> indices;
      for (int64_t i = begin; i < end; ++i) {
        indices.push_back(i);
      }
      std::vector<at::Tensor> images(indices.size());
      std::vector<std::string> errors(indices.size());
      decode_many_(indices, std::vector<uint8_t>(indices.size(), 0), images, errors);
      for (size_t k = 0; k < indices.size(); ++k) {
        if (!images[k].defined()) {
          good[static_cast<size_t>(indices[k])] = 0;
          skip_(indices[k], errors[k]);
        }
      }
    }
    std::vector<std::string> paths;
    std::vector<int64_t> labels;
    for (size_t i = 0; i < good.size(); ++i) {
      if (good[i]) {
        paths.push_back(std::move(state_->paths[i]));
        labels.push_back(state_->labels[i]);
      }
    }
    TORCH_CHECK(!paths.empty(), "ImageFolder: none of the ", good.size(), " image files under '",
                state_->options.root(), "' could be decoded");
    state_->paths = std::move(paths);
    state_->labels = std::move(labels);
    state_->known_bad.assign(state_->paths.size(), 0);
  }

  std::shared_ptr<detail::ImageFolderState> state_;
};

}  // namespace byol::data

#pragma once

/// In-memory labelled images and the loader source that serves them.
///
///   LabeledImages: images uint8 [N, C, H, W] + labels int64 [N] (what the IDX and CIFAR readers return)
///   TensorSource:  a TwoViewLoader source over such tensors; get_batch(indices) is an index_select
///
///     auto train = byol::data::load_fashion_mnist();                 // [60000, 1, 28, 28]
///     byol::data::TensorSource source(train);
///     auto batch = source.get_batch({0, 5, 7});                      // images [3, 1, 28, 28]

#include <ATen/ATen.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace byol::data {

/// Which half of a dataset a loader function reads.
enum class Split {
  /// The training images (MNIST: train-*, CIFAR-10: data_batch_1..5, CIFAR-100: train).
  train,
  /// The held-out images (MNIST: t10k-*, CIFAR-10: test_batch, CIFAR-100: test).
  test,
};

/// Images and their labels, in the same order.
///
///     byol::data::LabeledImages data = byol::data::read_cifar10({"data_batch_1.bin"});
///     data.images;   // uint8 [10000, 3, 32, 32]
///     data.labels;   // int64 [10000], in 0..9
struct LabeledImages {
  /// uint8 [N, C, H, W].
  at::Tensor images;
  /// int64 [N]. For CIFAR-100 the fine (100-class) labels.
  at::Tensor labels;
  /// int64 [N]: CIFAR-100's coarse (20-superclass) labels; undefined for the other readers.
  at::Tensor coarse_labels;
  /// N.
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

/// What TensorSource::get_batch returns: the selected images stacked, with their labels.
struct TensorBatch {
  /// [B, C, H, W], the source's dtype (uint8 for the readers' output).
  at::Tensor images;
  /// int64 [B].
  at::Tensor labels;
  /// int64 [B]: the positions in the source, in batch order.
  at::Tensor indices;
};

/// A TwoViewLoader source over in-memory tensors: every sample is one row of `images`.
///
/// The loader hands the transforms the stacked batch `[B, C, H, W]` (uint8 as read, so an
/// augmentation policy that starts from uint8 can take it as is).
///
///     byol::data::TensorSource source(images, labels);      // [N, C, H, W] and [N]
///     auto batch = source.get_batch({3, 1});                 // batch.images: [2, C, H, W]
///     source.size();                                         // N
class TensorSource {
 public:
  /// The type of `TensorBatch::images`: what the loader's view transforms receive.
  using Images = at::Tensor;
  using Batch = TensorBatch;

  /// @param images  [N, ...], any dtype; the first dimension indexes samples
  /// @param labels  [N], integer; stored as int64
  TensorSource(at::Tensor images, at::Tensor labels) : images_(std::move(images)), labels_(std::move(labels)) {
    TORCH_CHECK(images_.defined(), "TensorSource: images is an undefined tensor");
    TORCH_CHECK(labels_.defined(), "TensorSource: labels is an undefined tensor");
    TORCH_CHECK(images_.dim() >= 1, "TensorSource: images must have a sample dimension, got shape ",
                images_.sizes());
    TORCH_CHECK(labels_.dim() == 1, "TensorSource: labels must have shape [N], got ", labels_.sizes());
    TORCH_CHECK(!at::isFloatingType(labels_.scalar_type()) && !at::isComplexType(labels_.scalar_type()) &&
                    labels_.scalar_type() != at::kBool,
                "TensorSource: labels must be integers, got ", labels_.scalar_type());
    TORCH_CHECK(images_.size(0) == labels_.size(0), "TensorSource: images has ", images_.size(0),
                " samples (shape ", images_.sizes(), ") but labels has ", labels_.size(0));
    labels_ = labels_.to(at::kLong);
  }

  /// From a reader's output (the coarse CIFAR-100 labels are not used).
  explicit TensorSource(const LabeledImages& data) : TensorSource(data.images, data.labels) {}

  /// N.
  int64_t size() const { return images_.size(0); }

  /// The samples at `indices` (each in [0, N)), stacked in that order.
  TensorBatch get_batch(const std::vector<int64_t>& indices) const {
    const int64_t n = size();
    for (const int64_t i : indices) {
      TORCH_CHECK(i >= 0 && i < n, "TensorSource::get_batch: index ", i, " is out of range for a source of ", n,
                  " samples");
    }
    at::Tensor index = at::empty({static_cast<int64_t>(indices.size())}, at::kLong);
    std::copy(indices.begin(), indices.end(), index.data_ptr<int64_t>());
    return {images_.index_select(0, index.to(images_.device())), labels_.index_select(0, index.to(labels_.device())),
            index};
  }

  const at::Tensor& images() const { return images_; }
  const at::Tensor& labels() const { return labels_; }

 private:
  at::Tensor images_;
  at::Tensor labels_;
};

}  // namespace byol::data

#pragma once

// How a module that holds its BatchNorm as a typed member (torch::nn::BatchNorm1d bn) still calls
// the module that byol::distributed::convert_sync_batchnorm registered in its place.
//
// replace_module() changes the child registered under a name, not the parent's typed member, and
// LibTorch's BatchNorm forward is not virtual; so a parent whose forward should follow a
// conversion calls its norm through forward_norm_child(*this, "bn", bn, x). A replacement that
// implements ReplacedNorm is called; otherwise the typed member is, as before.

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <memory>
#include <string>

namespace byol::detail {

/// What a module registered in place of a BatchNorm implements, so that parents that hold the
/// original by type can forward to it without knowing its type.
struct ReplacedNorm {
  virtual ~ReplacedNorm() = default;
  virtual at::Tensor forward_replaced(const at::Tensor& input) = 0;
};

/// `typed(input)`, unless the child registered under `name` in `parent` is now another module
/// that implements ReplacedNorm: then that module's forward.
template <typename Holder>
inline at::Tensor forward_norm_child(torch::nn::Module& parent, const std::string& name, Holder& typed,
                                     const at::Tensor& input) {
  // named_children() copies the (few) children's handles: microseconds per call.
  const auto children = parent.named_children();
  const auto* child = children.find(name);
  if (child != nullptr && child->get() != typed.ptr().get()) {
    if (auto* replaced = dynamic_cast<ReplacedNorm*>(child->get())) {
      return replaced->forward_replaced(input);
    }
  }
  return typed(input);
}

}  // namespace byol::detail

#pragma once

// Which kernel updates each entry of a tensor list: the fused CPU kernel, or ATen's multi-tensor
// (foreach) kernels, one call per device. EMA and LARS sort their tensors through this one helper.

#include <byol/detail/kernel_path.hpp>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstddef>
#include <vector>

namespace byol::detail {

/// Entries (by index into the caller's lists) sorted by the path that updates them.
///
///     byol::detail::PathPartition part;
///     for (size_t i = 0; i < n; ++i) part.add(i, w[i].device(), fusable(i));
///     cpu_kernel(pick(w, part.fused()));
///     for (const auto& group : part.aten()) foreach_kernel(pick(w, group.indices));
class PathPartition {
 public:
  /// The entries that go to ATen's foreach kernels on one device, in the order they were added.
  struct DeviceGroup {
    c10::Device device;
    std::vector<size_t> indices;
  };

  /// Entry `index` lives on `device`; `fusable` says whether the fused CPU kernel can take it
  /// (one dtype, one dense layout across the entry's tensors). It goes to the fused kernel when it
  /// is fusable, on the CPU and no KernelPathGuard asks for ATen's path; otherwise to the group of
  /// its device (foreach kernels take tensors of one device per call).
  void add(size_t index, const c10::Device& device, bool fusable) {
    if (fusable && device.is_cpu() && use_fused_cpu_kernels()) {
      fused_.push_back(index);
      return;
    }
    for (auto& group : aten_) {
      if (group.device == device) {
        group.indices.push_back(index);
        return;
      }
    }
    aten_.push_back({device, {index}});
  }

  /// The entries for the fused CPU kernel, in the order they were added.
  const std::vector<size_t>& fused() const { return fused_; }
  /// One group per device for ATen's path, devices in the order first seen.
  const std::vector<DeviceGroup>& aten() const { return aten_; }

 private:
  std::vector<size_t> fused_;
  std::vector<DeviceGroup> aten_;
};

/// The elements of `all` at `indices`, in that order.
template <typename T>
std::vector<T> pick(const std::vector<T>& all, const std::vector<size_t>& indices) {
  std::vector<T> out;
  out.reserve(indices.size());
  for (size_t i : indices) {
    out.push_back(all[i]);
  }
  return out;
}

}  // namespace byol::detail

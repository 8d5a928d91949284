#pragma once

// Which CPU path byol's kernels take: the fused kernels written in byol's headers, or LibTorch's
// ATen operations (the path every other device takes).
//
// Every CPU kernel has both, and a test checks one against the other through KernelPathGuard.
// Which of them runs does not depend on how the including unit is compiled: see
// byol/detail/parallel.hpp for how the fused kernels use every thread with or without OpenMP.

namespace byol::detail {

/// The path a CPU tensor takes: the fused kernels unless a test asks for ATen's.
enum class KernelPath { fused, aten };

/// The calling thread's override, for tests that check one path against the other. Set it
/// through KernelPathGuard.
inline KernelPath& kernel_path_override() {
  static thread_local KernelPath path = KernelPath::fused;
  return path;
}

/// RAII: while alive, CPU tensors on this thread take `path` (the one way to force a path).
///
///     byol::detail::KernelPathGuard aten(byol::detail::KernelPath::aten);
class KernelPathGuard {
 public:
  explicit KernelPathGuard(KernelPath path) : saved_(kernel_path_override()) {
    kernel_path_override() = path;
  }
  ~KernelPathGuard() {
    kernel_path_override() = saved_;
  }
  KernelPathGuard(const KernelPathGuard&) = delete;
  KernelPathGuard& operator=(const KernelPathGuard&) = delete;

 private:
  KernelPath saved_;
};

/// Whether CPU tensors take the fused kernels here and now.
inline bool use_fused_cpu_kernels() {
  return kernel_path_override() == KernelPath::fused;
}

}  // namespace byol::detail

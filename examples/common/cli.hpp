// What the examples' main() functions share besides flag parsing: turning a library error into a
// one-line message and an exit code, and picking the device a --device flag names.
#pragma once

#include <c10/core/Device.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>

namespace byol_examples {

/// Returns f(); when it throws a c10::Error, prints "error: <what><message>" (no backtrace) and
/// exits with `code`.
///
///     auto options = or_exit(2, "--arch: ", [&] { return ResNetOptions::named(arch); });
template <class F>
auto or_exit(int code, const std::string& what, F&& f) -> decltype(std::forward<F>(f)()) {
  try {
    return std::forward<F>(f)();
  } catch (const c10::Error& e) {
    std::cerr << "error: " << what << e.what_without_backtrace() << "\n";
    std::exit(code);
  }
}

/// The device a --device flag names: "auto" is CUDA when present, else the CPU; "cpu", "cuda" and
/// "cuda:N" are taken as they are. Exits 2 with a message on any other name, or on a CUDA device
/// that is not there.
inline c10::Device choose_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA) : c10::Device(c10::kCPU);
  const auto device = or_exit(2, "--device: ", [&] { return c10::Device(name); });
  if (!device.is_cpu() && !device.is_cuda()) {
    std::cerr << "error: --device must be cpu, cuda, cuda:N or auto, got '" << name << "'\n";
    std::exit(2);
  }
  const auto cuda_devices = static_cast<int64_t>(torch::cuda::device_count());
  if (device.is_cuda() && (cuda_devices == 0 || (device.has_index() && device.index() >= cuda_devices))) {
    std::cerr << "error: --device " << name << " but " << (cuda_devices == 0 ? "no" : std::to_string(cuda_devices))
              << " CUDA device" << (cuda_devices == 1 ? " is" : "s are") << " available\n";
    std::exit(2);
  }
  return device;
}

}  // namespace byol_examples

// What the examples' main() functions share: parsing their flags with CLI11 (Debian's
// libcli11-dev), the thread count, turning a library error into a one-line message and an exit
// code, and picking the device a --device flag names.
#pragma once

#include <CLI/CLI.hpp>
#include <c10/core/Device.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <utility>

namespace byol_examples {

/// Parses argv into the variables `app`'s options are bound to. --help (or -h) prints every flag
/// with its default (the variable's value before parsing) and exits 0; an unknown flag, a stray
/// argument or a value that does not convert ("--epochs: Value x could not be converted") prints
/// "error: ..." naming it and exits 2.
///
///     CLI::App app{"tool: what it does"};
///     int64_t epochs = 12;
///     app.add_option("--epochs", epochs, "pre-training epochs");
///     parse_or_exit(app, argc, argv);
inline void parse_or_exit(CLI::App& app, int argc, char** argv) {
  for (CLI::Option* option : app.get_options()) {
    if (option->get_expected_min() > 0) option->capture_default_str();  // flags (switches) have none
  }
  app.get_formatter()->column_width(32);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) std::exit(app.exit(e));  // --help
    std::cerr << "error: " << e.what() << " (see --help)\n";
    std::exit(2);
  }
}

/// LibTorch's thread count for the examples: `flag` when > 0, else OMP_NUM_THREADS when it is a
/// positive number, else every core.
inline int choose_threads(int64_t flag) {
  if (flag > 0) return static_cast<int>(flag);
  const char* omp = std::getenv("OMP_NUM_THREADS");
  if (omp != nullptr && std::atoi(omp) > 0) return std::atoi(omp);
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

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

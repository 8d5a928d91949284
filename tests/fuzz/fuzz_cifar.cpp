// libFuzzer target: read_cifar10 and read_cifar100 on arbitrary bytes (raw or gzipped).
#include <byol/data/cifar.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static byol_fuzz::InputFile file;
  const std::string& path = file.hold(data, size);
  byol_fuzz::expect_result_or_c10_error([&] {
    auto out = byol::data::read_cifar10({path});
    (void)out.images.sum().item<int64_t>();
    (void)out.labels.max().item<int64_t>();
  });
  byol_fuzz::expect_result_or_c10_error([&] {
    auto out = byol::data::read_cifar100({path, path});
    (void)out.coarse_labels.max().item<int64_t>();
  });
  return 0;
}

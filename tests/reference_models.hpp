// torchvision's ResNets as committed in tests/data/resnet_keys.txt (written by
// tests/data/gen_resnet_keys.py from torchvision 0.14): state-dict names and shapes, parameter
// counts and eval-mode outputs, shared by the model and export tests.
#pragma once

#include "pch.hpp"

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace byol_test {

/// The directory of the test sources (this header sits beside them).
inline std::string tests_dir() {
  const std::string file = __FILE__;
  return file.substr(0, file.find_last_of('/'));
}

/// The contents of tests/data/resnet_keys.txt, per model.
struct TorchvisionReference {
  std::map<std::string, std::map<std::string, std::string>> shapes;  // model -> key -> "64x3x7x7"
  std::map<std::string, int64_t> params, params_nofc;
  std::map<std::string, std::map<int64_t, double>> logits, features;  // model -> index -> value
};

/// The reference file, read once.
inline const TorchvisionReference& reference() {
  static const TorchvisionReference ref = [] {
    std::ifstream in(tests_dir() + "/data/resnet_keys.txt");
    REQUIRE(in.good());
    TorchvisionReference r;
    std::string line, model;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') {
        continue;
      }
      std::istringstream words(line);
      std::string first;
      words >> first;
      if (first == "model") {
        words >> model;
      } else if (first == "params" || first == "params_nofc") {
        std::string name;
        int64_t count = 0;
        words >> name >> count;
        (first == "params" ? r.params : r.params_nofc)[name] = count;
      } else if (first == "forward" || first == "features") {
        std::string name;
        int64_t index = 0;
        double value = 0;
        words >> name >> index >> value;
        (first == "forward" ? r.logits : r.features)[name][index] = value;
      } else {
        std::string shape;
        words >> shape;
        r.shapes[model][first] = shape;
      }
    }
    return r;
  }();
  return ref;
}

/// A tensor's shape as the reference file writes it: "64x3x7x7", or "scalar" for 0-dim.
inline std::string shape_string(const torch::Tensor& t) {
  if (t.dim() == 0) {
    return "scalar";
  }
  std::string s;
  for (int64_t d = 0; d < t.dim(); ++d) {
    s += (d == 0 ? "" : "x") + std::to_string(t.size(d));
  }
  return s;
}

}  // namespace byol_test

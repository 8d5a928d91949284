// Exported encoders: the file Python's torch.load reads into torchvision's resnet50. Names and
// shapes are checked against torchvision's own list (tests/data/resnet_keys.txt, written by
// tests/data/gen_resnet_keys.py), and, where Debian's python3-torchvision is installed, by
// Python itself.
#include <byol/models.hpp>
#include <byol/models/export.hpp>

#include "support.hpp"

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unistd.h>

namespace {

std::string here() {
  const std::string file = __FILE__;
  return file.substr(0, file.find_last_of('/'));
}

// torchvision's resnet50 state dict, name -> "AxBxC", from the committed reference list.
std::map<std::string, std::string> torchvision_resnet50() {
  std::ifstream in(here() + "/data/resnet_keys.txt");
  REQUIRE(in.good());
  std::map<std::string, std::string> shapes;
  std::string line, model;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string first, second;
    words >> first >> second;
    if (first.empty() || first[0] == '#') continue;
    if (first == "model") {
      model = second;
    } else if (model == "resnet50" && first != "params" && first != "params_nofc" && first != "forward" &&
               first != "features") {
      shapes[first] = second;
    }
  }
  return shapes;
}

std::string shape_text(const torch::Tensor& t) {
  std::string s;
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? "x" : "") + std::to_string(t.size(d));
  return s.empty() ? "scalar" : s;
}

std::string temp_file(const std::string& name) {
  char pattern[] = "/tmp/byol_export_XXXXXX";
  const char* dir = ::mkdtemp(pattern);
  REQUIRE(dir != nullptr);
  return std::string(dir) + "/" + name;
}

}  // namespace

TEST_CASE("an exported ResNet-50 encoder has torchvision's names and shapes, fc aside", "[export]") {
  byol::models::ResNet encoder(byol::models::ResNetOptions::resnet50().num_classes(0));
  const std::string path = temp_file("resnet50.pt");
  byol::models::save_state_dict(*encoder, path);
  const auto file = byol::models::read_state_dict(path);
  auto expected = torchvision_resnet50();
  REQUIRE(expected.size() > 300);
  REQUIRE(expected.erase("fc.weight") == 1);
  REQUIRE(expected.erase("fc.bias") == 1);
  std::map<std::string, std::string> actual;
  for (const auto& entry : file) actual[entry.first] = shape_text(entry.second);
  REQUIRE(actual == expected);
  // The values survive the round trip.
  byol::models::ResNet copy(byol::models::ResNetOptions::resnet50().num_classes(0));
  const auto unused = byol::models::load_state_dict(*copy, path);
  REQUIRE(unused.empty());
  const auto a = encoder->named_parameters(), b = copy->named_parameters();
  for (size_t i = 0; i < a.size(); ++i) REQUIRE(torch::equal(a[i].value(), b[i].value()));
}

TEST_CASE("Python's torch.load reads the export into torchvision.models.resnet50", "[export]") {
  if (std::system("/usr/bin/python3 -c 'import torchvision' > /dev/null 2>&1") != 0) {
    WARN("python3-torchvision is not installed: the Python side was not checked");
    return;
  }
  byol::models::ResNet encoder(byol::models::ResNetOptions::resnet50().num_classes(0));
  const std::string path = temp_file("resnet50.pt");
  byol::models::save_state_dict(*encoder, path);
  const std::string command = "/usr/bin/python3 " + here() + "/python/check_torchvision_load.py " + path;
  REQUIRE(std::system(command.c_str()) == 0);
}

TEST_CASE("loading a state dict names what does not fit", "[export]") {
  torch::nn::Linear small(3, 2);
  const std::string path = temp_file("linear.pt");
  byol::models::save_state_dict(*small, path);
  torch::nn::Linear other(4, 2);
  byol_test::require_error([&] { byol::models::load_state_dict(*other, path); }, {"weight", "[2, 3]", "[2, 4]"});
  torch::nn::Sequential extra(torch::nn::Linear(3, 2), torch::nn::Linear(2, 2));
  byol_test::require_error([&] { byol::models::load_state_dict(*extra, path); }, {"0.weight"});
  { std::ofstream junk(path + ".junk"); junk << "not a pickle"; }
  byol_test::require_error([&] { byol::models::read_state_dict(path + ".junk"); }, {".junk"});
}

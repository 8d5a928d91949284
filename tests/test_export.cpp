// Exported encoders: the file Python's torch.load reads into torchvision's resnet50. Names and
// shapes are checked against torchvision's own list (tests/data/resnet_keys.txt, written by
// tests/data/gen_resnet_keys.py), and, where Debian's python3-torchvision is installed, by
// Python itself.
#include <byol/models.hpp>
#include <byol/models/export.hpp>

#include "reference_models.hpp"
#include "support.hpp"

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <unistd.h>

namespace {

// torchvision's resnet50 state dict, name -> "AxBxC".
std::map<std::string, std::string> torchvision_resnet50() { return byol_test::reference().shapes.at("resnet50"); }

// Every BatchNorm's running statistics and batch count set to random values, so that a round
// trip which dropped or mixed up buffers shows (two fresh ResNets have equal buffers).
void randomise_buffers(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules()) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      bn->running_mean.uniform_(-0.5, 0.5);
      bn->running_var.uniform_(0.5, 2.0);
      bn->num_batches_tracked.fill_(torch::randint(1, 100000, {}, torch::kLong).item<int64_t>());
    }
  }
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
  randomise_buffers(*encoder);
  const std::string path = temp_file("resnet50.pt");
  byol::models::save_state_dict(*encoder, path);
  const auto file = byol::models::read_state_dict(path);
  auto expected = torchvision_resnet50();
  REQUIRE(expected.size() > 300);
  REQUIRE(expected.erase("fc.weight") == 1);
  REQUIRE(expected.erase("fc.bias") == 1);
  std::map<std::string, std::string> actual;
  for (const auto& entry : file) actual[entry.first] = byol_test::shape_string(entry.second);
  REQUIRE(actual == expected);
  // The values survive the round trip.
  byol::models::ResNet copy(byol::models::ResNetOptions::resnet50().num_classes(0));
  // Every buffer of the fresh copy differs from the randomised one before loading.
  for (const auto& buffer : copy->named_buffers()) {
    INFO(buffer.key());
    REQUIRE_FALSE(torch::equal(buffer.value(), encoder->named_buffers()[buffer.key()]));
  }
  const auto unused = byol::models::load_state_dict(*copy, path);
  REQUIRE(unused.empty());
  const auto a = encoder->named_parameters(), b = copy->named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].key());
    REQUIRE(b[i].key() == a[i].key());
    REQUIRE(torch::equal(a[i].value(), b[i].value()));
  }
  const auto abuf = encoder->named_buffers(), bbuf = copy->named_buffers();
  REQUIRE(abuf.size() == 159);  // 53 BatchNorms x (running_mean, running_var, num_batches_tracked)
  REQUIRE(bbuf.size() == abuf.size());
  for (size_t i = 0; i < abuf.size(); ++i) {
    INFO(abuf[i].key());
    REQUIRE(bbuf[i].key() == abuf[i].key());
    REQUIRE(bbuf[i].value().scalar_type() == abuf[i].value().scalar_type());
    REQUIRE(torch::equal(abuf[i].value(), bbuf[i].value()));
  }
}

TEST_CASE("Python's torch.load reads the export into torchvision.models.resnet50", "[export]") {
  if (std::system("/usr/bin/python3 -c 'import torchvision' > /dev/null 2>&1") != 0) {
    WARN("python3-torchvision is not installed: the Python side was not checked");
    return;
  }
  byol::models::ResNet encoder(byol::models::ResNetOptions::resnet50().num_classes(0));
  const std::string path = temp_file("resnet50.pt");
  byol::models::save_state_dict(*encoder, path);
  const std::string command = "/usr/bin/python3 " + byol_test::tests_dir() + "/python/check_torchvision_load.py " + path;
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

#pragma once

/// A module's state dict in the file format of Python's torch.save, so that Python reads it with
/// torch.load and loads it into the same architecture with load_state_dict. byol's ResNets use
/// torchvision's names, so an exported BYOL encoder goes straight into torchvision's resnet50:
///
///     byol::models::save_state_dict(model.encoder(), "byol_resnet50.pt");
///     # Python:
///     #   sd = torch.load("byol_resnet50.pt", weights_only=True)
///     #   torchvision.models.resnet50().load_state_dict(sd, strict=False)   # only fc.* missing
///
/// and back again (the linear-evaluation example reads what pre-training wrote):
///
///     byol::models::load_state_dict(encoder, "byol_resnet50.pt");

#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/nn/module.h>

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace byol::models {

/// Parameters and buffers of `module` by their dotted names, on the CPU (what Python's
/// `module.state_dict()` holds).
inline std::map<std::string, at::Tensor> state_dict(const torch::nn::Module& module) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : module.named_parameters()) out[p.key()] = p.value().detach().to(at::kCPU).contiguous();
  for (const auto& b : module.named_buffers()) out[b.key()] = b.value().detach().to(at::kCPU).contiguous();
  return out;
}

namespace detail {

/// torch.save's zip format (data.pkl and one data/<i> record per tensor) around a pickle that
/// names no TorchScript global. torch::jit::pickle_save tags the dict's types with
/// torch.jit._pickle.restore_type_tag, which Python's torch.load refuses under weights_only=True
/// (its default from PyTorch 2.6); a plain dict of tensors needs only what that loader allows.
inline std::vector<char> pickle_tensor_dict(const c10::Dict<std::string, at::Tensor>& dict) {
  std::vector<char> pickled;
  torch::jit::Pickler pickler([&](const char* data, size_t size) { pickled.insert(pickled.end(), data, data + size); },
                              /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
                              /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(c10::IValue(dict));
  pickler.stop();
  std::vector<char> container;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) -> size_t {
    const char* bytes = static_cast<const char*>(data);
    container.insert(container.end(), bytes, bytes + size);
    return size;
  });
  writer.writeRecord("data.pkl", pickled.data(), pickled.size());
  const std::vector<at::Tensor>& tensors = pickler.tensorData();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const torch::jit::WriteableTensorData item = torch::jit::getWriteableTensorData(tensors[i]);
    writer.writeRecord("data/" + std::to_string(i), item.data(), item.sizeInBytes());
  }
  writer.writeEndOfFile();
  return container;
}

}  // namespace detail

/// Writes state_dict(module) to `path` as a pickled dict of tensors that Python's torch.load reads
/// (with weights_only=True as well).
inline void save_state_dict(const torch::nn::Module& module, const std::string& path) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& entry : state_dict(module)) dict.insert(entry.first, entry.second);
  const std::vector<char> bytes = detail::pickle_tensor_dict(dict);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  TORCH_CHECK(out.good(), "save_state_dict: cannot write ", path);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  TORCH_CHECK(out.good(), "save_state_dict: writing ", path, " failed");
}

/// Reads a file of save_state_dict (or Python's torch.save(model.state_dict())) into a map.
inline std::map<std::string, at::Tensor> read_state_dict(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in.good(), "read_state_dict: cannot open ", path);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c10::IValue value;
  try {
    value = torch::jit::pickle_load(bytes);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "read_state_dict: ", path, " is not a pickled state dict: ", e.what_without_backtrace());
  }
  TORCH_CHECK(value.isGenericDict(), "read_state_dict: ", path, " holds a ", value.tagKind(), ", not a dict");
  std::map<std::string, at::Tensor> out;
  for (const auto& entry : value.toGenericDict()) {
    TORCH_CHECK(entry.key().isString() && entry.value().isTensor(), "read_state_dict: ", path,
                " has an entry that is not name -> tensor");
    out[entry.key().toStringRef()] = entry.value().toTensor();
  }
  return out;
}

/// Copies a state dict file into `module`: every parameter and buffer of the module must be in
/// the file with its shape (entries the module lacks, such as a classifier `fc.*`, are ignored
/// and returned).
inline std::vector<std::string> load_state_dict(torch::nn::Module& module, const std::string& path) {
  std::map<std::string, at::Tensor> file = read_state_dict(path);
  at::NoGradGuard no_grad;
  auto copy_into = [&](const std::string& name, at::Tensor& target) {
    const auto it = file.find(name);
    TORCH_CHECK(it != file.end(), "load_state_dict: ", path, " has no '", name, "'");
    TORCH_CHECK(it->second.sizes() == target.sizes(), "load_state_dict: '", name, "' has shape ", it->second.sizes(),
                " in ", path, " but ", target.sizes(), " in the module");
    target.copy_(it->second);
    file.erase(it);
  };
  for (auto& p : module.named_parameters()) copy_into(p.key(), p.value());
  for (auto& b : module.named_buffers()) copy_into(b.key(), b.value());
  std::vector<std::string> unused;
  for (const auto& entry : file) unused.push_back(entry.first);
  return unused;
}

}  // namespace byol::models

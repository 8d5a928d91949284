#pragma once

// Uniform access to the two ways LibTorch code holds a module: a ModuleHolder (what
// TORCH_MODULE(Foo) declares, torch::nn::Sequential, ...) or a std::shared_ptr<FooImpl>.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace byol::detail {

template <typename M>
struct ModuleAccess;

template <typename Impl>
struct ModuleAccess<std::shared_ptr<Impl>> {
  static_assert(std::is_base_of<torch::nn::Module, Impl>::value,
                "byol: a std::shared_ptr module must point to a torch::nn::Module");
  using ImplType = Impl;
  static std::shared_ptr<torch::nn::Module> base(const std::shared_ptr<Impl>& m) { return m; }
  static std::shared_ptr<Impl> wrap(std::shared_ptr<Impl> m) { return m; }
};

template <typename M>
struct ModuleAccess {
  static_assert(std::is_base_of<torch::detail::ModuleHolderIndicator, M>::value,
                "byol: a module must be a torch::nn::ModuleHolder (TORCH_MODULE) or a "
                "std::shared_ptr to a torch::nn::Module");
  using ImplType = typename M::ContainedType;
  static std::shared_ptr<torch::nn::Module> base(const M& m) {
    TORCH_CHECK(!m.is_empty(), "byol: the module holder is empty (constructed with nullptr)");
    return m.ptr();
  }
  static M wrap(std::shared_ptr<ImplType> m) { return M(std::move(m)); }
};

/// A deep copy of a Cloneable module (parameters and buffers copied, same device). For modules
/// that are not Cloneable, LibTorch's error is kept and the fix is named.
template <typename M>
inline M clone_module(const M& module, const char* who) {
  using Access = ModuleAccess<M>;
  std::shared_ptr<torch::nn::Module> copy;
  try {
    copy = Access::base(module)->clone();
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, who, ": cannot clone the module (", Access::base(module)->name(),
                "); derive its Impl from torch::nn::Cloneable<Impl>, or pass a freshly built twin of "
                "the same structure. LibTorch said: ",
                e.what_without_backtrace());
  }
  auto typed = std::dynamic_pointer_cast<typename Access::ImplType>(copy);
  TORCH_CHECK(typed != nullptr, who, ": clone() of ", Access::base(module)->name(),
              " returned a module of another type");
  return Access::wrap(std::move(typed));
}

}  // namespace byol::detail

#pragma once

// Tensors listed more than once (tied weights: Sequential(shared, shared)->parameters() lists
// the shared tensors twice). An in-place update must act once per distinct tensor, and two
// different views whose memory overlaps cannot be updated in place consistently at all.

#include <ATen/core/Tensor.h>
#include <c10/core/Storage.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <cstdlib>
#include <unordered_map>
#include <utility>
#include <vector>

namespace byol::detail {

/// True when `a` and `b` are the same elements of the same memory: one TensorImpl, or views
/// with the same storage, offset, shape, strides and dtype.
inline bool same_tensor(const at::Tensor& a, const at::Tensor& b) {
  if (a.unsafeGetTensorImpl() == b.unsafeGetTensorImpl()) {
    return true;
  }
  return a.has_storage() && b.has_storage() && a.storage().unsafeGetStorageImpl() == b.storage().unsafeGetStorageImpl() &&
         a.storage_offset() == b.storage_offset() && a.sizes() == b.sizes() && a.strides() == b.strides() &&
         a.scalar_type() == b.scalar_type();
}

/// The byte range [begin, end) that `t`'s elements span in its storage (empty for no elements).
inline std::pair<int64_t, int64_t> byte_span(const at::Tensor& t) {
  if (t.numel() == 0) {
    return {0, 0};
  }
  int64_t last = 0;
  for (int64_t d = 0; d < t.dim(); ++d) {
    last += (t.size(d) - 1) * std::abs(t.stride(d));
  }
  const int64_t item = static_cast<int64_t>(t.element_size());
  return {t.storage_offset() * item, (t.storage_offset() + last + 1) * item};
}

/// For each entry of `tensors`, the index of its first occurrence (itself when it is the first).
/// Two entries that are different views of one storage whose byte spans overlap are an error
/// naming `who` and both indices: an in-place update of one would change the other.
inline std::vector<size_t> first_occurrences(c10::ArrayRef<at::Tensor> tensors, const char* who, const char* what) {
  std::vector<size_t> first(tensors.size());
  std::unordered_map<const void*, std::vector<size_t>> by_storage;
  for (size_t i = 0; i < tensors.size(); ++i) {
    first[i] = i;
    const at::Tensor& t = tensors[i];
    if (!t.defined() || !t.has_storage()) {
      continue;
    }
    std::vector<size_t>& seen = by_storage[t.storage().unsafeGetStorageImpl()];
    const auto span = byte_span(t);
    for (const size_t j : seen) {
      if (same_tensor(tensors[j], t)) {
        first[i] = j;
        break;
      }
      const auto other = byte_span(tensors[j]);
      TORCH_CHECK(span.first >= other.second || other.first >= span.second || span.first == span.second ||
                      other.first == other.second,
                  who, ": ", what, " ", j, " and ", i, " are different views of the same memory that overlap ",
                  "(shapes ", tensors[j].sizes(), " and ", t.sizes(), "); an in-place update of one would change ",
                  "the other. Tied weights must be the same tensor.");
    }
    if (first[i] == i) {
      seen.push_back(i);
    }
  }
  return first;
}

}  // namespace byol::detail

#pragma once

// Work lists for the fused CPU kernels: many tensors cut into fixed-size blocks so that one
// parallel_for covers them all, however unevenly their sizes are spread.

#include <byol/detail/parallel.hpp>

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace byol::detail {

/// Elements [begin, end) of tensor number `tensor`. A block never straddles two tensors, so
/// per-block partial sums combine per tensor in a fixed order: results do not depend on the
/// number of threads.
struct Block {
  int64_t tensor;
  int64_t begin;
  int64_t end;
};

/// 32 Ki elements: big enough to amortise the loop set-up, small enough to balance two to a few
/// dozen threads over a ResNet-50 parameter list.
constexpr int64_t kBlockElements = int64_t{1} << 15;

inline std::vector<Block> make_blocks(c10::ArrayRef<at::Tensor> tensors,
                                      int64_t block_elements = kBlockElements) {
  std::vector<Block> blocks;
  for (int64_t t = 0; t < static_cast<int64_t>(tensors.size()); ++t) {
    const int64_t n = tensors[t].numel();
    for (int64_t begin = 0; begin < n; begin += block_elements) {
      blocks.push_back({t, begin, std::min(n, begin + block_elements)});
    }
  }
  return blocks;
}

/// Calls f(block) for every block, spread over LibTorch's intra-op threads.
template <typename F>
inline void parallel_over_blocks(const std::vector<Block>& blocks, const F& f) {
  parallel_for(0, static_cast<int64_t>(blocks.size()), 1, [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      f(blocks[b]);
    }
  });
}

/// True when `a` and `b` can be walked element by element over their storage in one loop:
/// same shape, same strides, no gaps or overlaps (contiguous or channels-last alike).
inline bool same_dense_layout(const at::Tensor& a, const at::Tensor& b) {
  return a.sizes() == b.sizes() && a.strides() == b.strides() && a.is_non_overlapping_and_dense() &&
         b.is_non_overlapping_and_dense();
}

}  // namespace byol::detail

// What the examples need to run as N data-parallel processes (scripts/launch.sh, torchrun) as well
// as one: rank 0's output stream, and frozen features extracted in shards and gathered.
#pragma once

#include <byol/distributed.hpp>
#include <byol/eval.hpp>

#include <ATen/ATen.h>

#include <functional>
#include <iostream>
#include <ostream>

namespace byol_examples {

/// std::cout on rank 0 (and in a single process); a stream that drops everything elsewhere, so
/// that N processes print one log. Errors still go to std::cerr on every rank.
inline std::ostream& main_out(const byol::distributed::ProcessGroup& group) {
  static std::ostream dropped(nullptr);
  return byol::distributed::is_main_process(group) ? std::cout : dropped;
}

/// The encoder's features of every image: each rank extracts a contiguous share of the rows, and
/// the shares are gathered in rank order, so every rank ends with all of them (one process
/// extracts them all).
template <typename Encoder>
at::Tensor gathered_features(Encoder& encoder, const at::Tensor& images, int64_t batch_size,
                             const std::function<at::Tensor(const at::Tensor&)>& prep,
                             const byol::distributed::ProcessGroup& group) {
  const int64_t n = images.size(0), world = group.world_size(), rank = group.rank();
  const int64_t begin = n * rank / world, end = n * (rank + 1) / world;
  const at::Tensor mine = byol::eval::extract_features(encoder, images.narrow(0, begin, end - begin), batch_size, prep);
  return byol::distributed::all_gather_rows(mine, group);
}

}  // namespace byol_examples

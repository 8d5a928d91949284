#pragma once

// Seeds derived from seeds: what makes a loader's batches depend on (seed, epoch, batch) alone.
// Kept apart from the file readers (byol/data/detail/file.hpp) so that code needing only seeds
// does not pull in zlib and the file system.

#include <cstdint>

namespace byol::data::detail {

/// The 64-bit finaliser of SplitMix64 (Steele, Lea and Flood 2014): a bijective mix in which
/// every input bit affects every output bit.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// A seed derived from a parent seed and one more coordinate; distinct coordinates give
/// unrelated seeds.
inline uint64_t mix_seed(uint64_t seed, uint64_t coordinate) {
  return splitmix64(seed ^ splitmix64(coordinate ^ 0x5851F42D4C957F2Dull));
}

}  // namespace byol::data::detail

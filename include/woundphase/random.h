// Portable draws from 64 random bits (the same numbers with every standard library, unlike
// std::uniform_int_distribution). Header-only: the vision library uses it too.
#pragma once

#include <cstddef>  // for size_t
#include <cstdint>  // for uint64_t

namespace woundphase {

// A uniform index in [0, n) from 64 random bits: multiply-shift (Lemire), the bias below n / 2^64.
inline size_t uniform_index(uint64_t bits, size_t n) {
  return static_cast<size_t>((static_cast<unsigned __int128>(bits) * n) >> 64);
}

}  // namespace woundphase

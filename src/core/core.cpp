#include "woundphase/core.h"

namespace woundphase {

Matrix Matrix::select_rows(const std::vector<int>& rows) const {
  Matrix out(rows.size(), cols_);
  for (size_t c = 0; c < cols_; ++c) {
    const float* src = column(c);
    float* dst = out.column(c);
    for (size_t i = 0; i < rows.size(); ++i) dst[i] = src[rows[i]];
  }
  return out;
}

std::vector<float> Matrix::row_major() const {
  std::vector<float> out(rows_ * cols_);
  for (size_t c = 0; c < cols_; ++c) {
    const float* src = column(c);
    for (size_t r = 0; r < rows_; ++r) out[r * cols_ + c] = src[r];
  }
  return out;
}

std::string trim(const std::string& text) {
  constexpr char kBlanks[] = " \t\r\n";
  const auto b = text.find_first_not_of(kBlanks);
  if (b == std::string::npos) return "";
  return text.substr(b, text.find_last_not_of(kBlanks) - b + 1);
}

uint64_t mix_seed(uint64_t seed, uint64_t salt) {
  // splitmix64 finaliser over the combined value: nearby (seed, salt) pairs give unrelated seeds.
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (salt + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace woundphase

#include <csignal>  // for raise, SIGKILL
#include <cstdlib>  // for getenv
#include <cstring>  // for strcmp

namespace woundphase {

void test_kill_point(const char* point, int index) {
  static const char* const kRequest = std::getenv("WOUNDPHASE_TEST_KILL");
  if (kRequest == nullptr) return;
  const std::string wanted = std::string(point) + ":" + std::to_string(index);
  if (wanted == kRequest) std::raise(SIGKILL);
}

}  // namespace woundphase

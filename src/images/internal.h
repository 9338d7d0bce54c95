// Helpers shared by the images stage's files (not part of the public API).
#pragma once

#include <cstdint>           // for uint64_t
#include <opencv2/core.hpp>  // for Mat
#include <string>
#include <string_view>

#include "woundphase/images.h"

namespace woundphase::images_internal {

// FNV-1a, 64 bits: a stable hash of text (file names, settings) for seeds and cache keys.
inline uint64_t fnv1a64(std::string_view text, uint64_t hash = 0xCBF29CE484222325ULL) {
  for (const char ch : text) {
    hash ^= static_cast<unsigned char>(ch);
    hash *= 0x100000001B3ULL;
  }
  return hash;
}

// ImageU8 (RGB) <-> cv::Mat (BGR, CV_8UC1/3). Both copy.
cv::Mat to_mat(const ImageU8& image);
ImageU8 from_mat(const cv::Mat& mat);

// Writes `bytes` to `path` via `path`.tmp and a rename; InputError naming the file on failure.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace woundphase::images_internal

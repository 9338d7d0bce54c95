// Helpers shared by the images stage's files (not part of the public API).
#pragma once

#include <cstdint>           // for uint64_t
#include <filesystem>        // for file_type
#include <opencv2/core.hpp>  // for Mat
#include <string>
#include <string_view>
#include <vector>

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

// "a folder", "a named pipe", "a device", ...: what a path is instead of a regular file.
const char* file_kind(std::filesystem::file_type type);

// A frame's bytes, after checking that it is a regular file within limits.max_bytes; InputError
// naming it otherwise (missing, a folder, a pipe, a device, a symlink loop, empty, too big).
std::vector<uint8_t> read_frame_bytes(const std::string& path, const ImageLimits& limits);

struct DecodedFrame {
  cv::Mat bgr;  // CV_8UC3, BGR
  ImageHeader header;
  int reduction = 1;  // the frame was decoded at 1/reduction of its size (big JPEGs only)
};
// read_frame_bytes, the header's size checked against limits.max_pixels, then the decode; with
// `reduce`, JPEG frames over kReducedDecodePixels decode at a reduced size. The file's bytes are
// released before it returns. InputError naming the file.
DecodedFrame decode_frame(const std::string& path, const ImageLimits& limits, bool reduce);

// viridis_decode of a BGR image (any stride, e.g. a crop of a decoded frame) without copying it.
ImageU8 viridis_decode_bgr(const cv::Mat& bgr);
// resize_pad of a cv::Mat (any stride); the channel order is kept.
ImageU8 resize_pad_mat(const cv::Mat& image, int size);

// Writes `bytes` to `path` via `path`.tmp and a rename; InputError naming the file on failure.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace woundphase::images_internal

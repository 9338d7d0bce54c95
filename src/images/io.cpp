// Reading and writing frames, modality names, conversions to and from OpenCV.
#include <fmt/format.h>

#include <filesystem>             // for rename, remove
#include <fstream>                // for ifstream, ofstream
#include <opencv2/imgcodecs.hpp>  // for imdecode, imencode
#include <opencv2/imgproc.hpp>    // for cvtColor
#include <system_error>           // for error_code
#include <utility>                // for pair
#include <vector>

#include "images/internal.h"
#include "woundphase/core.h"  // for InputError

namespace woundphase {
namespace {

namespace fs = std::filesystem;

constexpr int kPngCompression = 1;  // zlib level: fast, files a little larger
constexpr char kTempSuffix[] = ".tmp";

struct ModalityInfo {
  const char* name;
  const char* folder;
  Camera camera;
  bool map;
};
constexpr std::array<ModalityInfo, kNumImageModalities> kModalityInfo = {{
    {"thermal_map", "Thermal_Map_IMG", Camera::kThermal, true},
    {"depth_map", "Depth_Map_IMG", Camera::kDepth, true},
    {"depth_rgb", "Depth_RGB", Camera::kDepth, false},
    {"thermal_rgb", "Thermal_RGB", Camera::kThermal, false},
}};

const ModalityInfo& info(ImageModality m) { return kModalityInfo[static_cast<int>(m)]; }

// JPEG's DCT scaling: each factor with the flag that decodes at it, smallest first.
constexpr std::array<std::pair<int, int>, 3> kJpegReductions = {{
    {2, cv::IMREAD_REDUCED_COLOR_2},
    {4, cv::IMREAD_REDUCED_COLOR_4},
    {8, cv::IMREAD_REDUCED_COLOR_8},
}};

}  // namespace

const char* to_string(ImageModality m) { return info(m).name; }
const char* folder_of(ImageModality m) { return info(m).folder; }
Camera camera_of(ImageModality m) { return info(m).camera; }
bool is_colour_coded_map(ImageModality m) { return info(m).map; }

namespace images_internal {

const char* file_kind(fs::file_type type) {
  switch (type) {
    case fs::file_type::regular:
      return "a file";
    case fs::file_type::directory:
      return "a folder";
    case fs::file_type::fifo:
      return "a named pipe";
    case fs::file_type::character:
    case fs::file_type::block:
      return "a device";
    case fs::file_type::socket:
      return "a socket";
    case fs::file_type::not_found:
      return "a broken symlink";
    case fs::file_type::none:
      return "unreadable (a symlink loop?)";
    default:
      return "a special file";
  }
}

cv::Mat to_mat(const ImageU8& image) {
  if (image.channels != 1 && image.channels != 3)
    throw InputError(fmt::format("image with {} channels: expected 1 or 3", image.channels));
  const int type = image.channels == 1 ? CV_8UC1 : CV_8UC3;
  cv::Mat wrapped(image.height, image.width, type, const_cast<uint8_t*>(image.pixels.data()));
  cv::Mat out;
  if (image.channels == 3)
    cv::cvtColor(wrapped, out, cv::COLOR_RGB2BGR);
  else
    out = wrapped.clone();
  return out;
}

ImageU8 from_mat(const cv::Mat& mat) {
  if (mat.channels() != 1 && mat.channels() != 3)
    throw InputError(fmt::format("image with {} channels: expected 1 or 3", mat.channels()));
  ImageU8 out(mat.cols, mat.rows, mat.channels());
  // Converted straight into the output's pixels: no full-size copy in between.
  cv::Mat target(mat.rows, mat.cols, mat.type(), out.pixels.data());
  if (mat.channels() == 3)
    cv::cvtColor(mat, target, cv::COLOR_BGR2RGB);
  else
    mat.copyTo(target);
  return out;
}

std::vector<uint8_t> read_frame_bytes(const std::string& path, const ImageLimits& limits) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found)
    throw InputError(fmt::format("{}: image file not found", path));
  if (status.type() == fs::file_type::none)  // a symlink loop, a folder we may not enter, ...
    throw InputError(fmt::format("{}: cannot read the image file ({})", path, ec.message()));
  if (!fs::is_regular_file(status))
    throw InputError(fmt::format("{}: {}, not an image file", path, file_kind(status.type())));
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw InputError(fmt::format("{}: cannot read the image file ({})", path, ec.message()));
  if (size == 0) throw InputError(fmt::format("{}: image file is empty", path));
  if (size > static_cast<uintmax_t>(limits.max_bytes))
    throw InputError(fmt::format("{}: {} bytes, over the limit of {} (--max-image-bytes)", path,
                                 size, limits.max_bytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the image file", path));
  std::vector<uint8_t> bytes(size);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(in.gcount()) != size)
    throw InputError(fmt::format("{}: cannot read the image file (it shrank while read)", path));
  return bytes;
}

DecodedFrame decode_frame(const std::string& path, const ImageLimits& limits, bool reduce) {
  DecodedFrame out;
  std::vector<uint8_t> bytes = read_frame_bytes(path, limits);
  try {
    out.header = parse_image_header(bytes.data(), bytes.size());
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: cannot decode the image ({})", path, e.what()));
  }
  const ImageHeader& h = out.header;
  if (h.width > limits.max_pixels / h.height)  // width x height > max_pixels, without overflow
    throw InputError(fmt::format(
        "{}: a {}x{} {} frame ({} pixels), over the limit of {} (--max-image-pixels)", path,
        h.width, h.height, to_string(h.format), h.width * h.height, limits.max_pixels));
  int flags = cv::IMREAD_COLOR;
  if (reduce && h.format == ImageFormat::kJpeg) {
    for (const auto& [factor, reduced] : kJpegReductions) {
      if (h.width * h.height / (out.reduction * out.reduction) <= kReducedDecodePixels) break;
      out.reduction = factor;
      flags = reduced;
    }
  }
  try {
    out.bgr = cv::imdecode(bytes, flags);
  } catch (const cv::Exception& e) {
    throw InputError(fmt::format("{}: cannot decode the image ({})", path, e.what()));
  } catch (const std::bad_alloc&) {
    throw InputError(
        fmt::format("{}: out of memory decoding a {}x{} frame", path, h.width, h.height));
  }
  if (out.bgr.empty())
    throw InputError(fmt::format("{}: cannot decode the image (corrupt or not an image)", path));
  return out;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string temp = path + kTempSuffix;
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError(fmt::format("{}: cannot write", temp));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      out.close();
      std::error_code ec;
      fs::remove(temp, ec);
      throw InputError(fmt::format("{}: cannot write (disk full?)", temp));
    }
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) {
    const std::string reason = ec.message();
    fs::remove(temp, ec);
    throw InputError(fmt::format("cannot rename {} to {}: {}", temp, path, reason));
  }
}

}  // namespace images_internal

ImageU8 read_image(const std::string& path, const ImageLimits& limits) {
  return images_internal::from_mat(images_internal::decode_frame(path, limits, false).bgr);
}

void write_png(const std::string& path, const ImageU8& image) {
  std::vector<uint8_t> buffer;
  const std::vector<int> params = {cv::IMWRITE_PNG_COMPRESSION, kPngCompression};
  if (!cv::imencode(".png", images_internal::to_mat(image), buffer, params))
    throw InputError(fmt::format("{}: cannot encode the image", path));
  images_internal::write_file_atomic(path, std::string(buffer.begin(), buffer.end()));
}

}  // namespace woundphase

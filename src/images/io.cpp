// Reading and writing frames, modality names, conversions to and from OpenCV.
#include <fmt/format.h>

#include <filesystem>             // for rename, remove
#include <fstream>                // for ifstream, ofstream
#include <iterator>               // for istreambuf_iterator
#include <opencv2/imgcodecs.hpp>  // for imdecode, imencode
#include <opencv2/imgproc.hpp>    // for cvtColor
#include <system_error>           // for error_code
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

}  // namespace

const char* to_string(ImageModality m) { return info(m).name; }
const char* folder_of(ImageModality m) { return info(m).folder; }
Camera camera_of(ImageModality m) { return info(m).camera; }
bool is_colour_coded_map(ImageModality m) { return info(m).map; }

namespace images_internal {

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
  cv::Mat rgb;
  if (mat.channels() == 3)
    cv::cvtColor(mat, rgb, cv::COLOR_BGR2RGB);
  else if (mat.channels() == 1)
    rgb = mat.isContinuous() ? mat : mat.clone();
  else
    throw InputError(fmt::format("image with {} channels: expected 1 or 3", mat.channels()));
  ImageU8 out(rgb.cols, rgb.rows, rgb.channels());
  const size_t row_bytes = static_cast<size_t>(rgb.cols) * rgb.channels();
  for (int y = 0; y < rgb.rows; ++y)
    std::copy(rgb.ptr<uint8_t>(y), rgb.ptr<uint8_t>(y) + row_bytes,
              out.pixels.begin() + static_cast<ptrdiff_t>(y * row_bytes));
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

ImageU8 read_image(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw InputError(fmt::format("{}: image file not found", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the image file", path));
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  if (bytes.empty()) throw InputError(fmt::format("{}: image file is empty", path));
  cv::Mat mat;
  try {
    mat = cv::imdecode(bytes, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw InputError(fmt::format("{}: cannot decode the image ({})", path, e.what()));
  }
  if (mat.empty())
    throw InputError(fmt::format("{}: cannot decode the image (corrupt or not an image)", path));
  return images_internal::from_mat(mat);
}

void write_png(const std::string& path, const ImageU8& image) {
  std::vector<uint8_t> buffer;
  const std::vector<int> params = {cv::IMWRITE_PNG_COMPRESSION, kPngCompression};
  if (!cv::imencode(".png", images_internal::to_mat(image), buffer, params))
    throw InputError(fmt::format("{}: cannot encode the image", path));
  images_internal::write_file_atomic(path, std::string(buffer.begin(), buffer.end()));
}

}  // namespace woundphase

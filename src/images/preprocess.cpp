// Wound crops: per-modality box rules, clamping, resize keeping aspect, zero padding, viridis
// decoding; the decoded-crop cache (memory, optionally disk).
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>  // for clamp, min, max, find
#include <chrono>     // for nanoseconds
#include <cmath>      // for lround
#include <cstring>    // for memcpy
#include <filesystem>
#include <fstream>
#include <iterator>  // for istreambuf_iterator
#include <map>
#include <mutex>
#include <opencv2/imgproc.hpp>  // for resize
#include <set>
#include <system_error>  // for error_code
#include <unordered_map>
#include <utility>  // for move, swap

#include "images/internal.h"
#include "woundphase/core.h"  // for InputError
#include "woundphase/images.h"
#include "woundphase/options.h"

namespace woundphase {
namespace {

namespace fs = std::filesystem;

constexpr double kMaxThermalGrowPx = 500;
constexpr double kMaxGrowShare = 2.0;
constexpr char kCacheMagic[] = "WPCROP1\n";  // disk-cache entry: magic, width, height, channels
constexpr size_t kCacheMagicSize = sizeof(kCacheMagic) - 1;
constexpr char kCacheSuffix[] = ".u8";

int cv_type(int channels) { return CV_MAKETYPE(CV_8U, channels); }

// The pixels of an ImageU8 as a cv::Mat header (no copy, channel order untouched).
cv::Mat view(const ImageU8& image) {
  return cv::Mat(image.height, image.width, cv_type(image.channels),
                 const_cast<uint8_t*>(image.pixels.data()));
}

std::string encode_entry(const ImageU8& image) {
  std::string out(kCacheMagic, kCacheMagicSize);
  const int32_t dims[3] = {image.width, image.height, image.channels};
  out.append(reinterpret_cast<const char*>(dims), sizeof(dims));
  out.append(reinterpret_cast<const char*>(image.pixels.data()), image.pixels.size());
  return out;
}

bool decode_entry(const std::string& bytes, ImageU8* out) {
  const size_t header = kCacheMagicSize + 3 * sizeof(int32_t);
  if (bytes.size() < header || bytes.compare(0, kCacheMagicSize, kCacheMagic) != 0) return false;
  int32_t dims[3];
  std::memcpy(dims, bytes.data() + kCacheMagicSize, sizeof(dims));
  if (dims[0] <= 0 || dims[1] <= 0 || (dims[2] != 1 && dims[2] != 3)) return false;
  const size_t n = static_cast<size_t>(dims[0]) * dims[1] * dims[2];
  if (bytes.size() != header + n) return false;
  *out = ImageU8(dims[0], dims[1], dims[2]);
  std::memcpy(out->pixels.data(), bytes.data() + header, n);
  return true;
}

bool read_bytes(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return static_cast<bool>(in) || in.eof();
}

}  // namespace

// ---- Settings ----------------------------------------------------------------------------------

const OptionTable<PreprocessSettings>& preprocess_options() {
  static const OptionTable<PreprocessSettings> table = [] {
    using S = PreprocessSettings;
    OptionTable<S> t;
    // Recorded by ImageBranchSettings' --image-size, which sets this and the network's size.
    t.add("--image-size", &S::image_size, "side of the square crops")
        .one_of(kImageSizes)
        .internal()
        .recorded_elsewhere();
    t.add_choice("--map-decode", &S::map_decode, {MapDecode::kViridis, MapDecode::kNone},
                 "viridis: colour-coded maps -> one scalar channel; none: keep RGB");
    t.add_choice("--on-missing-image", &S::on_missing_image,
                 {MissingImage::kSkip, MissingImage::kError},
                 "a named image file that is missing: skip (counted) or error");
    // Box rules, recorded through fingerprint() ("crop" in settings.json).
    t.add("thermal_grow_px", &S::thermal_grow_px,
          "thermal crops grow by this margin in full-frame pixels")
        .range(0, kMaxThermalGrowPx)
        .internal()
        .recorded_elsewhere();
    t.add("depth_map_grow", &S::depth_map_grow, "depth-map crops grow by this share of the box")
        .range(0, kMaxGrowShare)
        .internal()
        .recorded_elsewhere();
    t.add("depth_rgb_grow", &S::depth_rgb_grow, "depth-RGB crops grow by this share of the box")
        .range(0, kMaxGrowShare)
        .internal()
        .recorded_elsewhere();
    t.include(image_limits_options(), &S::limits);
    return t;
  }();
  return table;
}

void PreprocessSettings::validate() const { preprocess_options().validate(*this); }

std::string PreprocessSettings::fingerprint() const {
  return fmt::format(
      "crop-v1 image_size={} map_decode={} thermal_grow_px={:.9g} depth_map_grow={:.9g} "
      "depth_rgb_grow={:.9g}",
      image_size, to_string(map_decode), thermal_grow_px, depth_map_grow, depth_rgb_grow);
}

// ---- Geometry ----------------------------------------------------------------------------------

Box crop_box(ImageModality m, const Box& box, int frame_width, int frame_height,
             const PreprocessSettings& settings) {
  double grow_x = 0;
  double grow_y = 0;
  switch (m) {
    case ImageModality::kThermalMap:
    case ImageModality::kThermalRgb:
      // 30 px of the real 1080-px-wide frame; a frame drawn at another scale scales it.
      grow_x = grow_y = settings.thermal_grow_px * frame_width / kThermalFrameWidth;
      break;
    case ImageModality::kDepthMap:
      grow_x = settings.depth_map_grow * box.width();
      grow_y = settings.depth_map_grow * box.height();
      break;
    case ImageModality::kDepthRgb:
      grow_x = settings.depth_rgb_grow * box.width();
      grow_y = settings.depth_rgb_grow * box.height();
      break;
  }
  const int gx = static_cast<int>(std::lround(grow_x));
  const int gy = static_cast<int>(std::lround(grow_y));
  Box out{std::clamp(box.xmin - gx, 0, frame_width), std::clamp(box.ymin - gy, 0, frame_height),
          std::clamp(box.xmax + gx, 0, frame_width), std::clamp(box.ymax + gy, 0, frame_height)};
  if (out.empty())
    throw InputError(fmt::format("box ({}, {}, {}, {}) lies outside the {}x{} frame", box.xmin,
                                 box.ymin, box.xmax, box.ymax, frame_width, frame_height));
  return out;
}

ImageU8 crop(const ImageU8& image, const Box& rect) {
  if (rect.empty() || rect.xmin < 0 || rect.ymin < 0 || rect.xmax > image.width ||
      rect.ymax > image.height)
    throw InputError(fmt::format("crop ({}, {}, {}, {}) is not inside the {}x{} image", rect.xmin,
                                 rect.ymin, rect.xmax, rect.ymax, image.width, image.height));
  ImageU8 out(rect.width(), rect.height(), image.channels);
  const size_t row_bytes = static_cast<size_t>(rect.width()) * image.channels;
  for (int y = 0; y < rect.height(); ++y) {
    const uint8_t* src =
        image.pixels.data() +
        (static_cast<size_t>(rect.ymin + y) * image.width + rect.xmin) * image.channels;
    std::memcpy(out.pixels.data() + y * row_bytes, src, row_bytes);
  }
  return out;
}

ImageU8 resize_pad(const ImageU8& image, int size) {
  if (image.empty() || size <= 0) throw InputError("resize_pad: empty image or size");
  return images_internal::resize_pad_mat(view(image), size);
}

namespace images_internal {

ImageU8 resize_pad_mat(const cv::Mat& image, int size) {
  if (image.empty() || size <= 0) throw InputError("resize_pad: empty image or size");
  const double scale = static_cast<double>(size) / std::max(image.cols, image.rows);
  const int w = std::clamp(static_cast<int>(std::lround(image.cols * scale)), 1, size);
  const int h = std::clamp(static_cast<int>(std::lround(image.rows * scale)), 1, size);
  cv::Mat resized;
  if (w == image.cols && h == image.rows) {
    resized = image;
  } else {
    const int interpolation = scale < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR;
    cv::resize(image, resized, cv::Size(w, h), 0, 0, interpolation);
  }
  const int channels = image.channels();
  ImageU8 out(size, size, channels, 0);
  const int x0 = (size - w) / 2;
  const int y0 = (size - h) / 2;
  const size_t row_bytes = static_cast<size_t>(w) * channels;
  for (int y = 0; y < h; ++y)
    std::memcpy(out.pixels.data() + (static_cast<size_t>(y0 + y) * size + x0) * channels,
                resized.ptr<uint8_t>(y), row_bytes);
  return out;
}

}  // namespace images_internal

ImageU8 preprocess_frame(const ImageU8& frame, ImageModality m, const Box& box,
                         const PreprocessSettings& settings) {
  ImageU8 out = crop(frame, crop_box(m, box, frame.width, frame.height, settings));
  // Decode before resizing: resampling blends colours, and blends of viridis colours are off the
  // table.
  if (is_colour_coded_map(m) && settings.map_decode == MapDecode::kViridis && out.channels == 3)
    out = viridis_decode(out);
  return resize_pad(out, settings.image_size);
}

ImageU8 load_crop(const std::string& path, ImageModality m, const Box& box,
                  const PreprocessSettings& settings) {
  images_internal::DecodedFrame frame = images_internal::decode_frame(path, settings.limits, true);
  const int k = frame.reduction;
  // The study's boxes are in full-frame pixels; a reduced frame's box shrinks with it.
  const Box scaled =
      k == 1 ? box
             : Box{box.xmin / k, box.ymin / k, (box.xmax + k - 1) / k, (box.ymax + k - 1) / k};
  try {
    const Box rect = crop_box(m, scaled, frame.bgr.cols, frame.bgr.rows, settings);
    // A view into the decoded frame: the crop is never copied at full size.
    const cv::Mat roi = frame.bgr(cv::Rect(rect.xmin, rect.ymin, rect.width(), rect.height()));
    if (is_colour_coded_map(m) && settings.map_decode == MapDecode::kViridis)
      return resize_pad(images_internal::viridis_decode_bgr(roi), settings.image_size);
    // Resampling treats channels alike, so the channels are swapped to RGB on the small result.
    ImageU8 out = images_internal::resize_pad_mat(roi, settings.image_size);
    for (size_t i = 0; i + 2 < out.pixels.size(); i += 3)
      std::swap(out.pixels[i], out.pixels[i + 2]);
    return out;
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", path, e.what()));
  }
}

std::string image_cache_key(const PreprocessSettings& settings, ImageModality m,
                            const ImageRef& ref, uint64_t file_size, int64_t mtime_ns) {
  const std::string text =
      fmt::format("{}|{}|{}|{},{},{},{}|{}|{}", settings.fingerprint(), to_string(m), ref.file,
                  ref.box.xmin, ref.box.ymin, ref.box.xmax, ref.box.ymax, file_size, mtime_ns);
  return fmt::format("{:016x}", images_internal::fnv1a64(text));
}

// ---- Cache -------------------------------------------------------------------------------------

struct ImageCache::State {
  std::string dir;
  PreprocessSettings settings;
  std::string disk_dir;
  mutable std::mutex mutex;
  // Key: modality|file|box. A null entry is a skipped file. Node-based: pointers stay valid.
  std::unordered_map<std::string, std::unique_ptr<ImageU8>> crops;
  std::map<std::string, SkippedImage> skipped;  // by file (relative to the study folder)
  long disk_hits = 0;

  // The crop, or null after recording a skip; InputError under kError.
  std::unique_ptr<ImageU8> compute(const ImageRef& ref, ImageModality m) {
    const std::string path = (fs::path(dir) / ref.file).string();
    try {
      return compute_or_throw(path, ref, m);
    } catch (const InputError& e) {
      return skip_or_throw(path, ref, m, e.what());
    } catch (const cv::Exception& e) {
      return skip_or_throw(path, ref, m,
                           fmt::format("{}: cannot decode the image ({})", path, e.what()));
    } catch (const std::bad_alloc&) {
      return skip_or_throw(path, ref, m, fmt::format("{}: out of memory decoding it", path));
    }
  }

  std::unique_ptr<ImageU8> skip_or_throw(const std::string& path, const ImageRef& ref,
                                         ImageModality m, const std::string& message) {
    if (settings.on_missing_image == MissingImage::kError) throw InputError(message);
    // The reason without the path its message starts with (the file has its own column).
    const std::string prefix = path + ": ";
    std::string reason = message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
    std::lock_guard<std::mutex> lock(mutex);
    skipped.emplace(ref.file, SkippedImage{ref.file, m, std::move(reason)});
    return nullptr;
  }

  std::unique_ptr<ImageU8> compute_or_throw(const std::string& path, const ImageRef& ref,
                                            ImageModality m) {
    std::string disk_path;
    if (!disk_dir.empty()) {
      // A file whose size or time cannot be read has no entry: load_crop says what is wrong.
      std::error_code size_ec;
      std::error_code time_ec;
      const uint64_t size = fs::file_size(path, size_ec);
      const auto mtime = fs::last_write_time(path, time_ec);
      const int64_t ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count();
      const bool keyed = !size_ec && !time_ec;
      if (keyed)
        disk_path =
            (fs::path(disk_dir) / (image_cache_key(settings, m, ref, size, ns) + kCacheSuffix))
                .string();
      std::string bytes;
      auto hit = std::make_unique<ImageU8>();
      if (keyed && read_bytes(disk_path, &bytes) && decode_entry(bytes, hit.get())) {
        std::lock_guard<std::mutex> lock(mutex);
        ++disk_hits;
        return hit;
      }
    }
    auto out = std::make_unique<ImageU8>(load_crop(path, m, ref.box, settings));
    if (!disk_path.empty()) {
      try {
        images_internal::write_file_atomic(disk_path, encode_entry(*out));
      } catch (const InputError&) {
        // An unwritable disk cache only costs the next run the decoding.
      }
    }
    return out;
  }
};

ImageCache::ImageCache(std::string study_dir, PreprocessSettings settings, std::string disk_dir)
    : state_(std::make_unique<State>()) {
  settings.validate();
  state_->dir = std::move(study_dir);
  state_->settings = settings;
  state_->disk_dir = std::move(disk_dir);
  if (!state_->disk_dir.empty()) {
    std::error_code ec;
    fs::create_directories(state_->disk_dir, ec);
    if (ec)
      throw InputError(fmt::format("{}: cannot create the image cache folder ({})",
                                   state_->disk_dir, ec.message()));
  }
}

ImageCache::~ImageCache() = default;

const ImageU8* ImageCache::get(const ImageRef& ref, ImageModality m) {
  const std::string key = fmt::format("{}|{}|{},{},{},{}", to_string(m), ref.file, ref.box.xmin,
                                      ref.box.ymin, ref.box.xmax, ref.box.ymax);
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    const auto it = state_->crops.find(key);
    if (it != state_->crops.end()) return it->second.get();
  }
  std::unique_ptr<ImageU8> crop = state_->compute(ref, m);
  std::lock_guard<std::mutex> lock(state_->mutex);
  // Another thread may have stored it meanwhile: the first one stays (both are equal).
  return state_->crops.emplace(key, std::move(crop)).first->second.get();
}

void ImageCache::preload(const ImageIndex& index, const std::vector<ImageModality>& modalities,
                         int threads) {
  std::vector<std::pair<const ImageRef*, ImageModality>> work;
  std::set<std::tuple<int, std::string, int, int, int, int>> seen;
  for (const RowImages& row : index.rows)
    for (ImageModality m : modalities)
      for (const ImageRef& ref : row.refs[static_cast<int>(m)])
        if (seen.emplace(static_cast<int>(m), ref.file, ref.box.xmin, ref.box.ymin, ref.box.xmax,
                         ref.box.ymax)
                .second)
          work.emplace_back(&ref, m);
  const int n = static_cast<int>(work.size());
  std::vector<std::string> errors(work.size());
  const int team = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 8) num_threads(team)
  for (int i = 0; i < n; ++i) {
    try {
      get(*work[i].first, work[i].second);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  // The first failure in index order, whatever the thread timing.
  for (const auto& e : errors)
    if (!e.empty()) throw InputError(e);
}

size_t ImageCache::size() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  size_t n = 0;
  for (const auto& [key, crop] : state_->crops) n += crop ? 1 : 0;
  return n;
}

long ImageCache::skipped() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return static_cast<long>(state_->skipped.size());
}

long ImageCache::disk_hits() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->disk_hits;
}

std::vector<std::string> ImageCache::skipped_messages() const {
  std::vector<std::string> out;
  for (const SkippedImage& s : skipped_images())
    out.push_back(
        fmt::format("{}: {} (skipped)", (fs::path(state_->dir) / s.file).string(), s.reason));
  return out;
}

std::vector<SkippedImage> ImageCache::skipped_images() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  std::vector<SkippedImage> out;
  for (const auto& [file, s] : state_->skipped) out.push_back(s);
  return out;
}

const PreprocessSettings& ImageCache::settings() const { return state_->settings; }

}  // namespace woundphase

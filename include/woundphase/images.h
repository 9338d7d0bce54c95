// The image data layer: the study's image folders and bounding boxes matched to visit-wounds, the
// viridis colour code of the depth and thermal maps, wound crops (per-modality box rules, resize
// keeping aspect, zero padding), a decoded uint8 cache and training augmentation (synthetic image
// studies: synth.h). OpenCV stays inside src/images/: this header exposes plain buffers (ImageU8)
// so the network code can consume them without it.
#pragma once

#include <array>
#include <cstddef>  // for size_t
#include <cstdint>  // for uint8_t, uint64_t
#include <memory>   // for unique_ptr
#include <random>   // for mt19937_64
#include <string>
#include <vector>

#include "woundphase/dataset.h"     // for Dataset
#include "woundphase/image_name.h"  // for ImageName, Camera
#include "woundphase/vision.h"      // for kImageSizes

namespace woundphase {

// ---- Modalities, folders, frames ---------------------------------------------------------------

// The image modalities (the experiment's Modality minus metadata, in the same order).
enum class ImageModality { kThermalMap, kDepthMap, kDepthRgb, kThermalRgb };
inline constexpr int kNumImageModalities = 4;
inline constexpr std::array<ImageModality, kNumImageModalities> kImageModalities = {
    ImageModality::kThermalMap, ImageModality::kDepthMap, ImageModality::kDepthRgb,
    ImageModality::kThermalRgb};

const char* to_string(ImageModality m);  // "thermal_map", "depth_map", "depth_rgb", "thermal_rgb"
const char* folder_of(ImageModality m);  // "Thermal_Map_IMG", "Depth_Map_IMG", "Depth_RGB", ...
Camera camera_of(ImageModality m);       // the camera whose box file names the folder's frames
bool is_colour_coded_map(ImageModality m);  // thermal_map, depth_map: viridis-coded scalars

// The real cameras' full frames in pixels; the study's boxes are in these coordinates.
inline constexpr int kDepthFrameWidth = 1280;
inline constexpr int kDepthFrameHeight = 720;
inline constexpr int kThermalFrameWidth = 1080;  // portrait
inline constexpr int kThermalFrameHeight = 1440;
inline constexpr char kDepthBoxFile[] = "bounding_box_depth.csv";
inline constexpr char kThermalBoxFile[] = "bounding_box_thermal.csv";
// The box files' header, exactly as the study writes it.
inline constexpr char kBoxHeader[] =
    "Filename,Patient#,Appt#,DFU#,DebriStat,Camera,Angle,Bounding Box Number,Xmin,Ymin,Xmax,Ymax";

// ---- Pixels ------------------------------------------------------------------------------------

// An 8-bit image: rows top to bottom, channels interleaved (RGB order for colour images).
struct ImageU8 {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;  // width * height * channels

  ImageU8() = default;
  ImageU8(int w, int h, int c, uint8_t fill = 0)
      : width(w), height(h), channels(c), pixels(static_cast<size_t>(w) * h * c, fill) {}
  bool empty() const { return pixels.empty(); }
  uint8_t& at(int x, int y, int c) {
    return pixels[(static_cast<size_t>(y) * width + x) * channels + c];
  }
  uint8_t at(int x, int y, int c) const {
    return pixels[(static_cast<size_t>(y) * width + x) * channels + c];
  }
  bool operator==(const ImageU8& o) const {
    return width == o.width && height == o.height && channels == o.channels && pixels == o.pixels;
  }
  bool operator!=(const ImageU8& o) const { return !(*this == o); }
};

// Frames are checked against these before they are decoded: the file's size, then the size its
// header declares. The defaults lie far above the real cameras (1280x720 and 1080x1440 frames, a
// few MB as PNG) and far below OpenCV's own 2^30-pixel limit, whose frames decode to 3 GB each.
inline constexpr int64_t kDefaultMaxImagePixels = int64_t{1} << 26;  // 8192 x 8192
inline constexpr int64_t kDefaultMaxImageBytes = int64_t{1} << 26;   // 64 MiB
inline constexpr int64_t kMaxImagePixelsBound = int64_t{1} << 30;    // OpenCV refuses more
struct ImageLimits {
  int64_t max_pixels = kDefaultMaxImagePixels;  // width x height as the header declares it
  int64_t max_bytes = kDefaultMaxImageBytes;    // the file's size
  void validate() const;                        // InputError naming the option
};
template <typename S>
class OptionTable;                                       // options.h
const OptionTable<ImageLimits>& image_limits_options();  // --max-image-pixels, --max-image-bytes

// The formats whose header gives the frame's size before decoding; others are not read.
enum class ImageFormat { kPng, kJpeg, kBmp, kTiff, kWebp, kPnm };
const char* to_string(ImageFormat f);
struct ImageHeader {
  ImageFormat format = ImageFormat::kPng;
  int64_t width = 0;
  int64_t height = 0;
};
// Parses the header at the start of a file's bytes (the whole file, or its first 64 KiB). An
// InputError (without the file's name) when the format is not one of ImageFormat's, the header is
// cut short or declares no pixels.
ImageHeader parse_image_header(const uint8_t* bytes, size_t size);

// Reads a frame (PNG, JPEG, BMP, TIFF, WebP or PNM) as 3-channel RGB, after checking its size and
// its header against `limits`. A missing, unreadable, oversized or corrupt file, or anything but a
// regular file, is an InputError naming it.
ImageU8 read_image(const std::string& path, const ImageLimits& limits = {});
// Writes a PNG (zlib level 1) via a temporary file and a rename. 1 or 3 channels.
void write_png(const std::string& path, const ImageU8& image);

// ---- Viridis -----------------------------------------------------------------------------------

// The study stores depth and temperature as viridis-coded PNGs. The table is matplotlib's viridis
// as it writes bytes (cmap(i, bytes=True), i = 0..255). Two pairs of neighbours share a colour
// (104/105, 137/138), so decoding gives the lower one: encode then decode is exact within +-1.
using Rgb = std::array<uint8_t, 3>;
const std::array<Rgb, 256>& viridis_table();
Rgb viridis_encode(uint8_t value);
// The value whose table colour is nearest (squared RGB distance; ties to the lower value). Pure
// black (the thermal camera's sensor border) decodes to 0.
uint8_t viridis_decode(const Rgb& colour);
ImageU8 viridis_encode(const ImageU8& gray);  // 1 channel -> 3 (RGB)
ImageU8 viridis_decode(const ImageU8& rgb);   // 3 channels -> 1

// How colour-coded maps reach the networks (the predecessor's `map_decode`).
enum class MapDecode { kNone, kViridis };  // none: keep RGB; viridis: one scalar channel 0..255
MapDecode parse_map_decode(const std::string& text);  // "none" | "viridis"; InputError otherwise
const char* to_string(MapDecode d);

// ---- Matching images to visit-wounds -----------------------------------------------------------

// A wound box in frame pixels: x in [xmin, xmax), y in [ymin, ymax).
struct Box {
  int xmin = 0;
  int ymin = 0;
  int xmax = 0;
  int ymax = 0;
  int width() const { return xmax - xmin; }
  int height() const { return ymax - ymin; }
  bool empty() const { return xmax <= xmin || ymax <= ymin; }
  bool operator==(const Box& o) const {
    return xmin == o.xmin && ymin == o.ymin && xmax == o.xmax && ymax == o.ymax;
  }
};

// What to do with an image file that a box file names but that is missing or cannot be decoded.
enum class MissingImage { kError, kSkip };  // error: InputError naming it; skip: count, go on
MissingImage parse_missing_image(const std::string& text);  // "error" | "skip"
const char* to_string(MissingImage m);

// How a view found its frame of a modality. A view is one shot of a visit-wound (image number,
// debridement state, angle, zoom), seen by both cameras; the frames of a view pair up by swapping
// D <-> T in the code. When a modality has no frame of the view, it borrows the visit-wound's
// nearest other frame of that modality, in this order (the predecessor's fallbacks):
enum class Fallback {
  kExact,             // the view's own frame
  kOtherAngle,        // same debridement state and zoom (another angle, or another image number)
  kOtherZoom,         // same debridement state, other zoom
  kOtherDebridement,  // the other debridement state
};
inline constexpr int kNumFallbacks = 4;
const char* to_string(Fallback f);

struct ImageRef {
  std::string file;  // relative to the study folder, e.g. "Thermal_Map_IMG/280_P003011BTLW.png"
  ImageName name;    // parsed from the file name (its wound digit may name another wound)
  Box box;           // the wound's box in the frame (the union if the file has several for it)
  long line = 0;     // line of the (first) box row in the box file
  int view = 0;      // index into RowImages::views
  Fallback fallback = Fallback::kExact;
};

struct RowImages {
  // The row's views in a fixed order (image number, then the code), each named by its depth code.
  std::vector<ImageName> views;
  // Per modality (indexed by ImageModality): one ref per view that has a frame of it, exact or
  // borrowed, in view order. A frame borrowed by several views appears once per view. The
  // distinct frames of a modality are the refs with fallback == kExact.
  std::array<std::vector<ImageRef>, kNumImageModalities> refs;
};

// A frame a search could not use, and why (the message names the file).
struct SkippedImage {
  std::string file;  // relative to the study folder
  ImageModality modality = ImageModality::kThermalMap;
  std::string reason;
};

// What could not be matched, for the log and `inspect`. Every count is also reflected in the
// first few `examples`, which name the file and line.
struct UnmatchedReport {
  long box_rows = 0;             // rows read from the box files
  long unknown_visit_boxes = 0;  // box rows whose visit-wound is not in the metadata
  long bad_rows = 0;             // unparsable name, columns disagreeing with it, bad box
  long missing_files = 0;        // frames named by a box file but absent from their folder
  std::array<bool, kNumImageModalities> folder_present{};
  std::array<long, kNumImageModalities> rows_without{};  // visit-wounds with no frame of it
  // Why, per visit-wound (with the folder present they add up to rows_without): named by no box
  // row; named only by unusable box rows; every frame its box rows name is missing from the folder.
  std::array<long, kNumImageModalities> rows_no_box{};
  std::array<long, kNumImageModalities> rows_bad_boxes_only{};
  std::array<long, kNumImageModalities> rows_frames_missing{};
  // [modality][fallback]: refs by how they were found (kExact = the view's own frame).
  std::array<std::array<long, kNumFallbacks>, kNumImageModalities> refs_by_fallback{};
  std::vector<std::string> examples;  // at most kMaxExamples per kind
  std::vector<SkippedImage> skipped;  // every frame counted in missing_files, by file name
  std::string summary() const;        // a few lines for the log
  // " (n named by no box row, ...)" for modality k, "" when it lacks no visit-wound.
  std::string without_reasons(int k) const;
};

struct ImageIndexSettings {
  std::string depth_box_file = kDepthBoxFile;      // names the Depth_RGB and Depth_Map_IMG frames
  std::string thermal_box_file = kThermalBoxFile;  // names Thermal_Map_IMG and Thermal_RGB
  MissingImage on_missing_image = MissingImage::kSkip;
  bool check_files = true;  // look each named frame up in its folder (false: trust the boxes)
};

struct ImageIndex {
  std::string dir;              // the study folder
  std::vector<RowImages> rows;  // parallel to Dataset::rows; rows without images are kept
  UnmatchedReport report;

  const std::vector<ImageRef>& refs(size_t row, ImageModality m) const {
    return rows[row].refs[static_cast<int>(m)];
  }
  // Modalities with at least one frame for some row.
  std::vector<ImageModality> available() const;
  // Rows (visit-wounds) with at least one frame of `m`.
  std::vector<int> rows_with(ImageModality m) const;
};

// Matches the study's box files and image folders to the dataset's visit-wounds: a box row
// belongs to (Patient#, Appt#, DFU#) of its columns (one frame can show several wounds); the
// visit-wound must be in the metadata. A missing box file or folder just leaves its modalities
// empty. Bad box rows are skipped and reported; a missing box-file column is an InputError.
// Deterministic: the same files give the same index.
ImageIndex build_image_index(const Dataset& data, const std::string& dir,
                             const ImageIndexSettings& settings = {});

// ---- Preprocessing -----------------------------------------------------------------------------

struct PreprocessSettings {
  // Flags, bounds and meanings in preprocess_options() (src/images/preprocess.cpp).
  int image_size = 64;
  MapDecode map_decode = MapDecode::kViridis;
  MissingImage on_missing_image = MissingImage::kSkip;
  ImageLimits limits;  // frames over them are skipped like corrupt ones (do not change pixels)
  // Box rules, per side. The thermal camera's boxes are tight, so its crops grow by a fixed
  // margin in full-frame pixels (scaled with the frame: frame width / 1080); the depth map's by a
  // share of the box (its wounds' depth profile reaches past the drawn edge); the depth RGB crop is
  // the box itself.
  double thermal_grow_px = 30;   // thermal map and thermal RGB
  double depth_map_grow = 0.10;  // share of the box's width / height
  double depth_rgb_grow = 0.0;
  void validate() const;            // InputError naming the setting
  std::string fingerprint() const;  // every setting that changes the pixels, as text
};

template <typename S>
class OptionTable;  // options.h
const OptionTable<PreprocessSettings>& preprocess_options();

// The crop rectangle for a box: grown per the modality's rule, clamped to the frame. InputError if
// nothing of it lies inside the frame.
Box crop_box(ImageModality m, const Box& box, int frame_width, int frame_height,
             const PreprocessSettings& settings);
ImageU8 crop(const ImageU8& image, const Box& rect);  // rect must lie inside the image
// Scales to fit a size x size square keeping the aspect ratio (area averaging when shrinking,
// bilinear when enlarging), centred, the rest zero.
ImageU8 resize_pad(const ImageU8& image, int size);
// Frame -> crop -> (maps) viridis decode -> resize_pad: the network's input.
ImageU8 preprocess_frame(const ImageU8& frame, ImageModality m, const Box& box,
                         const PreprocessSettings& settings);
// read_image + preprocess_frame, holding at most one full-size copy of the frame: the crop is
// taken from the decoded frame in place. JPEG frames over kReducedDecodePixels decode at 1/2, 1/4
// or 1/8 scale (the decoder's DCT scaling), the least that brings them under it. InputError naming
// the file, as read_image.
inline constexpr int64_t kReducedDecodePixels = int64_t{1} << 24;
ImageU8 load_crop(const std::string& path, ImageModality m, const Box& box,
                  const PreprocessSettings& settings);

// The disk-cache key of one crop: a hash of the settings' fingerprint, the modality, the box, the
// file's path, size and modification time. 16 hex digits.
std::string image_cache_key(const PreprocessSettings& settings, ImageModality m,
                            const ImageRef& ref, uint64_t file_size, int64_t mtime_ns);

// Decoded crops, computed once. Thread-safe. With a disk folder, crops are also stored there under
// their key (written atomically; an unreadable entry is recomputed), so a rerun skips decoding.
class ImageCache {
 public:
  ImageCache(std::string study_dir, PreprocessSettings settings, std::string disk_dir = "");
  ~ImageCache();
  ImageCache(const ImageCache&) = delete;
  ImageCache& operator=(const ImageCache&) = delete;

  // The crop of `ref` for modality `m`; nullptr when its file is missing or corrupt and the policy
  // is skip (counted once per file). With kError that is an InputError naming the file.
  const ImageU8* get(const ImageRef& ref, ImageModality m);
  // Decodes every ref of `modalities` in the index on `threads` threads (0: all cores).
  void preload(const ImageIndex& index, const std::vector<ImageModality>& modalities,
               int threads = 0);
  size_t size() const;                                // crops held
  long skipped() const;                               // files skipped (missing or corrupt)
  long disk_hits() const;                             // crops read back from the disk cache
  std::vector<std::string> skipped_messages() const;  // one per skipped file, naming it
  std::vector<SkippedImage> skipped_images() const;   // the same, by file name
  const PreprocessSettings& settings() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// ---- Augmentation (training only) --------------------------------------------------------------

// Applied in this order, each drawing only when it is on: flips, rotation, rot90, zoom-crop,
// brightness/contrast/noise, cutout.
struct AugmentSettings {
  bool flips = false;       // horizontal and vertical flips, each with probability 1/2
  double rotation_deg = 0;  // [0, 45] uniform rotation in +-rotation_deg, zero fill
  double brightness = 0;    // [0, 1] additive shift uniform in +-brightness * 255
  double contrast = 0;      // [0, 1] factor uniform in 1 +- contrast, around the mean
  double noise = 0;         // [0, 1] Gaussian noise, sd = noise * 255
  // The predecessor's recipe (VisionSettings' --aug-rot90, --aug-zoom, --aug-cutout):
  double rot90 = 0;   // [0, 1] probability of turning by 90, 180 or 270 degrees (equally likely)
  double zoom = 0;    // [0, 0.5] crop a side share 1 - u * zoom (u uniform in [0, 1]) at a uniform
                      // position, resized back to the image's size (bilinear)
  double cutout = 0;  // [0, 0.5] one square of this share of the area, at a uniform position
                      // inside the image, set to 0
  bool any() const;
  void validate() const;
  static AugmentSettings training();  // flips, +-10 deg, 0.1, 0.1, 0.02
};

// `image` turned counter-clockwise by quarter_turns x 90 degrees (numpy's rot90): a W x H image
// becomes H x W after an odd number of turns. Any integer (negative: clockwise).
ImageU8 rotate90(const ImageU8& image, int quarter_turns);

// A randomly transformed copy; the input itself when nothing is asked. The draws come from `rng`
// through the library's own transforms of its output, so a seed gives the same pixels everywhere.
ImageU8 augment(const ImageU8& image, const AugmentSettings& settings, std::mt19937_64& rng);

}  // namespace woundphase

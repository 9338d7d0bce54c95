// Hostile frames at the decoding layer: headers read before decoding (every format read, cut-short
// and lying headers), the pixel and byte limits, things that are not files, odd bit depths, JPEG's
// reduced decoding, and the cache's list of skipped frames.
#include <gtest/gtest.h>
#include <sys/stat.h>  // for mkfifo
#include <unistd.h>    // for truncate

#include <cstdlib>  // for abs
#include <filesystem>
#include <fstream>
#include <functional>
#include <opencv2/imgcodecs.hpp>  // for imencode (the test's frames in every format)
#include <opencv2/imgproc.hpp>    // for cvtColor
#include <string>
#include <vector>

#include "fixtures/errors.h"
#include "images/internal.h"  // for decode_frame
#include "test_paths.h"
#include "woundphase/core.h"  // for InputError
#include "woundphase/images.h"

namespace woundphase {
namespace {

namespace fs = std::filesystem;

constexpr int kWidth = 37;
constexpr int kHeight = 23;

using testing::input_error_of;

// A BGR gradient, so crops and channels are told apart.
cv::Mat gradient(int width, int height) {
  cv::Mat m(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(x % 256, y % 256, 90);
  return m;
}

std::vector<uint8_t> encode(const std::string& ext, const cv::Mat& m) {
  std::vector<uint8_t> out;
  EXPECT_TRUE(cv::imencode(ext, m, out)) << ext;
  return out;
}

void write(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// A PNG whose IHDR declares width x height (8-bit grey) followed by a few bytes of IDAT: what a
// decompression bomb shows before it is decompressed.
std::vector<uint8_t> png_declaring(uint32_t width, uint32_t height) {
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n',
                              0,    0,   0,   13,  'I',  'H',  'D',  'R'};
  for (const uint32_t v : {width, height})  // big-endian, as PNG stores them
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
  const uint8_t rest[] = {8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x78, 0x9C};
  out.insert(out.end(), std::begin(rest), std::end(rest));
  return out;
}

ImageHeader header_of(const std::vector<uint8_t>& bytes) {
  return parse_image_header(bytes.data(), bytes.size());
}

TEST(ImageHeader, EveryFormatReadGivesItsSizeBeforeDecoding) {
  const cv::Mat frame = gradient(kWidth, kHeight);
  const std::vector<std::pair<std::string, ImageFormat>> formats = {
      {".png", ImageFormat::kPng},   {".jpg", ImageFormat::kJpeg},  {".bmp", ImageFormat::kBmp},
      {".tiff", ImageFormat::kTiff}, {".webp", ImageFormat::kWebp}, {".ppm", ImageFormat::kPnm},
      {".pgm", ImageFormat::kPnm},   {".pbm", ImageFormat::kPnm}};
  cv::Mat grey;
  cv::cvtColor(frame, grey, cv::COLOR_BGR2GRAY);
  for (const auto& [ext, format] : formats) {
    SCOPED_TRACE(ext);
    const bool grey_only = ext == ".pgm" || ext == ".pbm";
    const ImageHeader h = header_of(encode(ext, grey_only ? grey : frame));
    EXPECT_EQ(h.format, format);
    EXPECT_EQ(h.width, kWidth);
    EXPECT_EQ(h.height, kHeight);
  }
  // OpenCV writes lossless WebP (chunk VP8L, sizes in 14 bits) by default; lossy is chunk "VP8 ".
  const std::vector<uint8_t> lossless = encode(".webp", frame);
  EXPECT_EQ(std::string(lossless.begin() + 12, lossless.begin() + 16), "VP8L");
  std::vector<uint8_t> lossy;
  ASSERT_TRUE(cv::imencode(".webp", frame, lossy, {cv::IMWRITE_WEBP_QUALITY, 90}));
  EXPECT_EQ(std::string(lossy.begin() + 12, lossy.begin() + 16), "VP8 ");
  EXPECT_EQ(header_of(lossy).width, kWidth);
  EXPECT_EQ(header_of(lossy).height, kHeight);
  // A bomb's header: 2^30 pixels declared in 40 bytes.
  const ImageHeader bomb = header_of(png_declaring(32768, 32768));
  EXPECT_EQ(bomb.width * bomb.height, int64_t{1} << 30);
}

TEST(ImageHeader, UnknownFormatsCutShortOrEmptyHeadersAreErrors) {
  auto message = [](const std::vector<uint8_t>& bytes) {
    return input_error_of([&] { parse_image_header(bytes.data(), bytes.size()); });
  };
  const std::string gif = "GIF89a\x25\x00\x17\x00";
  EXPECT_NE(message({gif.begin(), gif.end()}).find("not a PNG, JPEG, BMP, TIFF, WebP or PNM"),
            std::string::npos);
  const std::string text = "just some text, named like a frame";
  EXPECT_NE(message({text.begin(), text.end()}).find("not a PNG"), std::string::npos);
  EXPECT_NE(message({}).find("not a PNG"), std::string::npos);
  std::vector<uint8_t> png = encode(".png", gradient(kWidth, kHeight));
  png.resize(20);
  EXPECT_NE(message(png).find("IHDR"), std::string::npos) << message(png);
  EXPECT_NE(message(png_declaring(0, 10)).find("declaring a 0x10 image"), std::string::npos);
  EXPECT_NE(message({0xFF, 0xD8, 0xFF, 0xD9}).find("without a frame header"), std::string::npos);
  // A JPEG cut inside its segments, a TIFF whose directory lies past the end, a BigTIFF.
  std::vector<uint8_t> jpeg = encode(".jpg", gradient(kWidth, kHeight));
  jpeg.resize(30);
  EXPECT_NE(message(jpeg).find("cut short"), std::string::npos) << message(jpeg);
  EXPECT_NE(message({'I', 'I', '*', 0, 0xFF, 0xFF, 0, 0}).find("cut short"), std::string::npos);
  EXPECT_NE(message({'I', 'I', '+', 0, 8, 0, 0, 0}).find("not a PNG"), std::string::npos);
  const std::string pnm = "P6\n# a comment\n99999999999 3\n255\n";
  EXPECT_NE(message({pnm.begin(), pnm.end()}).find("absurd"), std::string::npos);
}

class FrameFiles : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::scratch_dir(); }
  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  std::string read_error(const std::string& name, const ImageLimits& limits = {}) const {
    return input_error_of([&] { read_image(path(name), limits); });
  }
  std::string dir_;
};

TEST_F(FrameFiles, ABombIsRefusedByItsHeaderNamingFileSizeAndOption) {
  write(path("bomb.png"), png_declaring(32768, 32768));
  const std::string m = read_error("bomb.png");
  EXPECT_NE(m.find(path("bomb.png")), std::string::npos) << m;
  EXPECT_NE(m.find("32768x32768 PNG frame (1073741824 pixels)"), std::string::npos) << m;
  EXPECT_NE(m.find("--max-image-pixels"), std::string::npos) << m;
  // The limit is the option's: a real frame over a lowered limit is refused the same way.
  write(path("frame.png"), encode(".png", gradient(kWidth, kHeight)));
  ImageLimits low;
  low.max_pixels = kWidth * kHeight - 1;
  EXPECT_NE(read_error("frame.png", low).find("over the limit of 850"), std::string::npos);
  low.max_pixels = kWidth * kHeight;
  EXPECT_EQ(read_error("frame.png", low), "");
}

TEST_F(FrameFiles, AHugeSparseFileIsRefusedByItsSizeWithoutReadingIt) {
  const std::string huge = path("huge.png");
  std::ofstream(huge).put('x');
  ASSERT_EQ(truncate(huge.c_str(), int64_t{64} << 30), 0);  // 64 GiB, sparse
  const std::string m = read_error("huge.png");
  EXPECT_NE(m.find("68719476736 bytes, over the limit of 67108864 (--max-image-bytes)"),
            std::string::npos)
      << m;
  write(path("frame.png"), encode(".png", gradient(kWidth, kHeight)));
  ImageLimits low;
  low.max_bytes = 10;
  EXPECT_NE(read_error("frame.png", low).find("--max-image-bytes"), std::string::npos);
}

TEST_F(FrameFiles, PipesDevicesFoldersAndLinkLoopsAreNeverOpened) {
  ASSERT_EQ(mkfifo(path("fifo.png").c_str(), 0600), 0);
  fs::create_symlink("/dev/zero", path("zero.png"));
  fs::create_directory(path("folder.png"));
  fs::create_symlink("loop.png", path("loop.png"));
  fs::create_symlink("nowhere.png", path("dangling.png"));
  EXPECT_NE(read_error("fifo.png").find("a named pipe, not an image file"), std::string::npos);
  EXPECT_NE(read_error("zero.png").find("a device, not an image file"), std::string::npos);
  EXPECT_NE(read_error("folder.png").find("a folder, not an image file"), std::string::npos);
  EXPECT_NE(read_error("loop.png").find("Too many levels of symbolic links"), std::string::npos)
      << read_error("loop.png");
  EXPECT_NE(read_error("dangling.png").find("image file not found"), std::string::npos);
  write(path("empty.png"), {});
  EXPECT_NE(read_error("empty.png").find("image file is empty"), std::string::npos);
}

TEST_F(FrameFiles, OddBitDepthsAndForeignFormatsDecodeToEightBitRgb) {
  cv::Mat sixteen(kHeight, kWidth, CV_16UC3, cv::Scalar(65535, 0, 32768));  // BGR
  write(path("deep.png"), encode(".png", sixteen));
  ImageU8 img = read_image(path("deep.png"));
  EXPECT_EQ(img.channels, 3);
  EXPECT_EQ(img.at(5, 5, 2), 255);  // blue, as RGB
  EXPECT_EQ(img.at(5, 5, 0), 128);
  cv::Mat grey_alpha(kHeight, kWidth, CV_8UC4, cv::Scalar(200, 200, 200, 10));
  write(path("alpha.png"), encode(".png", grey_alpha));
  EXPECT_EQ(read_image(path("alpha.png")).at(1, 1, 1), 200);
  cv::Mat grey(kHeight, kWidth, CV_8UC1, cv::Scalar(77));
  write(path("grey.png"), encode(".png", grey));
  img = read_image(path("grey.png"));
  EXPECT_EQ(img.channels, 3);
  EXPECT_EQ(img.at(3, 3, 0), 77);
  // A BMP or a JPEG under a .png name is read by its content.
  write(path("bmp.png"), encode(".bmp", gradient(kWidth, kHeight)));
  EXPECT_EQ(read_image(path("bmp.png")).at(10, 3, 2), 10);  // x in the blue channel
  write(path("jpeg.png"), encode(".jpg", gradient(kWidth, kHeight)));
  EXPECT_EQ(read_image(path("jpeg.png")).width, kWidth);
  // A PNG with a valid header and garbage after it.
  std::vector<uint8_t> garbage = png_declaring(kWidth, kHeight);
  garbage.insert(garbage.end(), 200, 0xAB);
  write(path("garbage.png"), garbage);
  EXPECT_NE(read_error("garbage.png").find("cannot decode"), std::string::npos);
}

TEST_F(FrameFiles, LoadCropMatchesReadingThenPreprocessingByteForByte) {
  const cv::Mat frame = gradient(108, 144);
  write(path("frame.png"), encode(".png", frame));
  ImageU8 values(108, 144, 1);
  for (int y = 0; y < values.height; ++y)
    for (int x = 0; x < values.width; ++x) values.at(x, y, 0) = static_cast<uint8_t>(x + y);
  write_png(path("map.png"), viridis_encode(values));
  const Box box{30, 40, 70, 100};
  for (const MapDecode decode : {MapDecode::kViridis, MapDecode::kNone}) {
    PreprocessSettings s;
    s.image_size = 32;
    s.map_decode = decode;
    for (const ImageModality m : kImageModalities) {
      SCOPED_TRACE(std::string(to_string(m)) + " " + to_string(decode));
      const std::string file = path(is_colour_coded_map(m) ? "map.png" : "frame.png");
      EXPECT_EQ(load_crop(file, m, box, s), preprocess_frame(read_image(file), m, box, s));
    }
  }
}

TEST_F(FrameFiles, BigJpegsDecodeReducedAndStillGiveTheCrop) {
  // Just over kReducedDecodePixels: decoded at half size.
  const int w = 4200;
  const int h = 4000;
  ASSERT_GT(int64_t{w} * h, kReducedDecodePixels);
  write(path("big.jpg"), encode(".jpg", gradient(w, h)));
  const images_internal::DecodedFrame f = images_internal::decode_frame(path("big.jpg"), {}, true);
  EXPECT_EQ(f.reduction, 2);
  EXPECT_EQ(f.bgr.cols, w / 2);
  EXPECT_EQ(f.header.width, w);
  EXPECT_EQ(images_internal::decode_frame(path("big.jpg"), {}, false).reduction, 1);
  PreprocessSettings s;
  s.image_size = 32;
  const Box box{1000, 200, 1256, 456};  // the gradient's x runs 1000..1255 here (mod 256)
  const ImageU8 reduced = load_crop(path("big.jpg"), ImageModality::kDepthRgb, box, s);
  const ImageU8 full =
      preprocess_frame(read_image(path("big.jpg")), ImageModality::kDepthRgb, box, s);
  ASSERT_EQ(reduced.pixels.size(), full.pixels.size());
  double diff = 0;
  for (size_t i = 0; i < full.pixels.size(); ++i)
    diff += std::abs(reduced.pixels[i] - full.pixels[i]);
  EXPECT_LT(diff / full.pixels.size(), 4.0);  // the same crop, up to JPEG's resampling
}

TEST_F(FrameFiles, TheCacheListsSkippedFramesWithModalityAndReason) {
  fs::create_directories(path("Thermal_Map_IMG"));
  write(path("Thermal_Map_IMG/1_P001001BTLW.png"), png_declaring(32768, 32768));
  write(path("Thermal_Map_IMG/2_P001001BTLW.png"), encode(".png", gradient(108, 144)));
  write(path("Thermal_Map_IMG/3_P001001BTLW.png"), {'G', 'I', 'F', '8', '9', 'a'});
  PreprocessSettings s;
  s.image_size = 32;
  ImageCache cache(dir_, s);
  ImageRef ref;
  ref.box = {10, 10, 50, 50};
  for (const char* file : {"Thermal_Map_IMG/1_P001001BTLW.png", "Thermal_Map_IMG/2_P001001BTLW.png",
                           "Thermal_Map_IMG/3_P001001BTLW.png"}) {
    ref.file = file;
    cache.get(ref, ImageModality::kThermalMap);
  }
  const std::vector<SkippedImage> skipped = cache.skipped_images();
  ASSERT_EQ(skipped.size(), 2U);
  EXPECT_EQ(skipped[0].file, "Thermal_Map_IMG/1_P001001BTLW.png");
  EXPECT_EQ(skipped[0].modality, ImageModality::kThermalMap);
  EXPECT_EQ(skipped[0].reason.rfind("a 32768x32768 PNG frame", 0), 0U) << skipped[0].reason;
  EXPECT_EQ(skipped[1].file, "Thermal_Map_IMG/3_P001001BTLW.png");
  EXPECT_NE(skipped[1].reason.find("cannot decode"), std::string::npos) << skipped[1].reason;
  EXPECT_EQ(cache.size(), 1U);
  // The log's messages name the full path.
  EXPECT_NE(cache.skipped_messages()[0].find(path("Thermal_Map_IMG/1_P001001BTLW.png")),
            std::string::npos);
}

TEST(ImageLimits, OutOfRangeLimitsNameTheOption) {
  ImageLimits l;
  l.max_pixels = 0;
  EXPECT_NE(input_error_of([&] { l.validate(); }).find("--max-image-pixels"), std::string::npos);
  l.max_pixels = (int64_t{1} << 30) + 1;
  EXPECT_NE(input_error_of([&] { l.validate(); }).find("--max-image-pixels"), std::string::npos);
  l = ImageLimits{};
  l.max_bytes = 0;
  EXPECT_NE(input_error_of([&] { l.validate(); }).find("--max-image-bytes"), std::string::npos);
}

}  // namespace
}  // namespace woundphase

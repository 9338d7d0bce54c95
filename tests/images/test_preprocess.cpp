#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "fixtures/errors.h"
#include "test_paths.h"
#include "woundphase/core.h"  // for InputError
#include "woundphase/images.h"

namespace woundphase {
namespace {

namespace fs = std::filesystem;

ImageU8 filled(int w, int h, int channels, uint8_t value) { return ImageU8(w, h, channels, value); }

using testing::input_error_of;

TEST(CropBox, ThermalGrowsThirtyFullFramePixelsScaledWithTheFrame) {
  const PreprocessSettings s;
  const Box box{400, 600, 460, 680};
  EXPECT_EQ(crop_box(ImageModality::kThermalMap, box, 1080, 1440, s), (Box{370, 570, 490, 710}));
  EXPECT_EQ(crop_box(ImageModality::kThermalRgb, box, 1080, 1440, s), (Box{370, 570, 490, 710}));
  // The same study drawn at a tenth: the margin is 3 px.
  const Box small{40, 60, 46, 68};
  EXPECT_EQ(crop_box(ImageModality::kThermalMap, small, 108, 144, s), (Box{37, 57, 49, 71}));
}

TEST(CropBox, DepthMapGrowsTenPercentDepthRgbIsTheBox) {
  const PreprocessSettings s;
  const Box box{100, 200, 150, 300};  // 50 x 100
  EXPECT_EQ(crop_box(ImageModality::kDepthMap, box, 1280, 720, s), (Box{95, 190, 155, 310}));
  EXPECT_EQ(crop_box(ImageModality::kDepthRgb, box, 1280, 720, s), box);
}

TEST(CropBox, ClampsToTheFrameAndRejectsBoxesOutsideIt) {
  const PreprocessSettings s;
  EXPECT_EQ(crop_box(ImageModality::kThermalMap, Box{5, 10, 50, 60}, 1080, 1440, s),
            (Box{0, 0, 80, 90}));
  EXPECT_EQ(crop_box(ImageModality::kThermalMap, Box{1050, 1400, 1080, 1440}, 1080, 1440, s),
            (Box{1020, 1370, 1080, 1440}));
  EXPECT_EQ(crop_box(ImageModality::kDepthRgb, Box{1200, 700, 1300, 760}, 1280, 720, s),
            (Box{1200, 700, 1280, 720}));
  const std::string m = input_error_of([&] {
    crop_box(ImageModality::kDepthRgb, Box{1300, 10, 1400, 50}, 1280, 720, s);
  });
  EXPECT_NE(m.find("outside the 1280x720 frame"), std::string::npos) << m;
}

TEST(ResizePad, KeepsAspectCentresAndPadsWithZeros) {
  // 20 x 10 -> 32 x 16 content, rows 8..23.
  const ImageU8 wide = resize_pad(filled(20, 10, 3, 200), 32);
  ASSERT_EQ(wide.width, 32);
  ASSERT_EQ(wide.height, 32);
  ASSERT_EQ(wide.channels, 3);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x)
      for (int c = 0; c < 3; ++c)
        EXPECT_EQ(wide.at(x, y, c), (y >= 8 && y < 24) ? 200 : 0) << x << "," << y;
  // 6 x 30 (tall) -> 6 x 32 at 32 ... width round(6 * 32 / 30) = 6, columns 13..18.
  const ImageU8 tall = resize_pad(filled(6, 30, 1, 90), 32);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) EXPECT_EQ(tall.at(x, y, 0), (x >= 13 && x < 19) ? 90 : 0);
  // A large crop shrinks; a square one fills the square.
  const ImageU8 big = resize_pad(filled(300, 300, 1, 7), 64);
  for (uint8_t p : big.pixels) EXPECT_EQ(p, 7);
}

TEST(Preprocess, DecodesViridisMapsToOneChannelAndKeepsRgb) {
  ImageU8 frame(108, 144, 3);
  const Rgb c = viridis_encode(77);
  for (size_t i = 0; i < frame.pixels.size(); i += 3)
    for (int k = 0; k < 3; ++k) frame.pixels[i + k] = c[k];
  PreprocessSettings s;
  s.image_size = 32;
  const ImageU8 map = preprocess_frame(frame, ImageModality::kThermalMap, Box{40, 60, 52, 76}, s);
  ASSERT_EQ(map.channels, 1);
  ASSERT_EQ(map.width, 32);
  // Crop 18 x 22 -> 26 x 32, columns 3..28.
  EXPECT_EQ(map.at(16, 16, 0), 77);
  EXPECT_EQ(map.at(0, 16, 0), 0);
  const ImageU8 rgb = preprocess_frame(frame, ImageModality::kDepthRgb, Box{40, 60, 52, 76}, s);
  EXPECT_EQ(rgb.channels, 3);
  s.map_decode = MapDecode::kNone;
  EXPECT_EQ(preprocess_frame(frame, ImageModality::kThermalMap, Box{40, 60, 52, 76}, s).channels,
            3);
}

TEST(Preprocess, SettingsAreValidated) {
  PreprocessSettings s;
  EXPECT_NO_THROW(s.validate());
  s.image_size = 100;
  EXPECT_THROW(s.validate(), InputError);
  s = {};
  s.depth_map_grow = -0.1;
  EXPECT_THROW(s.validate(), InputError);
  s = {};
  s.thermal_grow_px = 1e9;
  EXPECT_THROW(s.validate(), InputError);
}

TEST(CacheKey, ChangesWithEverySettingAndWithTheFile) {
  ImageRef ref;
  ref.file = "Thermal_Map_IMG/1_P001001BTLW.png";
  ref.box = {1, 2, 30, 40};
  const PreprocessSettings base;
  const std::string key = image_cache_key(base, ImageModality::kThermalMap, ref, 1000, 55);
  EXPECT_EQ(key.size(), 16U);
  EXPECT_EQ(key, image_cache_key(base, ImageModality::kThermalMap, ref, 1000, 55));
  auto differs = [&](const PreprocessSettings& s) {
    return image_cache_key(s, ImageModality::kThermalMap, ref, 1000, 55) != key;
  };
  PreprocessSettings s = base;
  s.image_size = 128;
  EXPECT_TRUE(differs(s));
  s = base;
  s.map_decode = MapDecode::kNone;
  EXPECT_TRUE(differs(s));
  s = base;
  s.thermal_grow_px = 20;
  EXPECT_TRUE(differs(s));
  s = base;
  s.depth_map_grow = 0.2;
  EXPECT_TRUE(differs(s));
  s = base;
  s.depth_rgb_grow = 0.05;
  EXPECT_TRUE(differs(s));
  s = base;
  s.on_missing_image = MissingImage::kError;  // does not change pixels
  EXPECT_FALSE(differs(s));
  EXPECT_NE(image_cache_key(base, ImageModality::kThermalMap, ref, 1001, 55), key);  // size
  EXPECT_NE(image_cache_key(base, ImageModality::kThermalMap, ref, 1000, 56), key);  // mtime
  EXPECT_NE(image_cache_key(base, ImageModality::kThermalRgb, ref, 1000, 55), key);
  ImageRef other = ref;
  other.box.xmax = 31;
  EXPECT_NE(image_cache_key(base, ImageModality::kThermalMap, other, 1000, 55), key);
}

// A one-frame study folder: Thermal_Map_IMG/1_P001001BTLW.png, plus a corrupt and a missing frame.
struct TinyStudy {
  std::string dir;
  ImageRef good;
  ImageRef corrupt;
  ImageRef missing;
};

TinyStudy tiny_study() {
  TinyStudy t;
  t.dir = testing::scratch_dir();
  fs::create_directories(fs::path(t.dir) / "Thermal_Map_IMG");
  ImageU8 gray(108, 144, 1);
  for (int y = 0; y < 144; ++y)
    for (int x = 0; x < 108; ++x) gray.at(x, y, 0) = static_cast<uint8_t>(x + y);
  write_png(t.dir + "/Thermal_Map_IMG/1_P001001BTLW.png", viridis_encode(gray));
  std::ofstream(t.dir + "/Thermal_Map_IMG/2_P001001BTMW.png") << "\x89PNG\r\n not really a png";
  t.good.file = "Thermal_Map_IMG/1_P001001BTLW.png";
  t.good.box = {40, 60, 52, 76};
  t.corrupt = t.good;
  t.corrupt.file = "Thermal_Map_IMG/2_P001001BTMW.png";
  t.missing = t.good;
  t.missing.file = "Thermal_Map_IMG/3_P001001BTRW.png";
  return t;
}

TEST(ReadImage, CorruptOrMissingFilesAreErrorsNamingThem) {
  const TinyStudy t = tiny_study();
  const std::string corrupt = t.dir + "/" + t.corrupt.file;
  std::string m = input_error_of([&] { read_image(corrupt); });
  EXPECT_NE(m.find(corrupt), std::string::npos) << m;
  EXPECT_NE(m.find("cannot decode"), std::string::npos) << m;
  const std::string missing = t.dir + "/" + t.missing.file;
  m = input_error_of([&] { read_image(missing); });
  EXPECT_NE(m.find(missing), std::string::npos) << m;
  EXPECT_NE(m.find("not found"), std::string::npos) << m;
  const ImageU8 ok = read_image(t.dir + "/" + t.good.file);
  EXPECT_EQ(ok.width, 108);
  EXPECT_EQ(ok.height, 144);
  EXPECT_EQ(ok.channels, 3);
}

TEST(ImageCache, DecodesOnceAndMatchesPreprocessFrame) {
  const TinyStudy t = tiny_study();
  PreprocessSettings s;
  s.image_size = 32;
  ImageCache cache(t.dir, s);
  const ImageU8* a = cache.get(t.good, ImageModality::kThermalMap);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, cache.get(t.good, ImageModality::kThermalMap));  // the same entry
  EXPECT_EQ(cache.size(), 1U);
  const ImageU8 direct = preprocess_frame(read_image(t.dir + "/" + t.good.file),
                                          ImageModality::kThermalMap, t.good.box, s);
  EXPECT_EQ(*a, direct);
  EXPECT_EQ(a->channels, 1);
  // Decoded values, not colours: the gradient x + y survives (crop origin 37, 57 at this scale).
  EXPECT_GT(a->at(16, 16, 0), 37 + 57);
}

TEST(ImageCache, SkipModeCountsMissingAndCorruptFilesErrorModeNamesThem) {
  const TinyStudy t = tiny_study();
  PreprocessSettings s;
  s.image_size = 32;
  ImageCache skip(t.dir, s);
  EXPECT_EQ(skip.get(t.corrupt, ImageModality::kThermalMap), nullptr);
  EXPECT_EQ(skip.get(t.missing, ImageModality::kThermalMap), nullptr);
  EXPECT_EQ(skip.get(t.missing, ImageModality::kThermalMap), nullptr);  // counted once
  EXPECT_NE(skip.get(t.good, ImageModality::kThermalMap), nullptr);
  EXPECT_EQ(skip.skipped(), 2);
  const auto messages = skip.skipped_messages();
  ASSERT_EQ(messages.size(), 2U);
  EXPECT_NE(messages[0].find("2_P001001BTMW.png"), std::string::npos) << messages[0];
  EXPECT_NE(messages[1].find("3_P001001BTRW.png"), std::string::npos) << messages[1];

  s.on_missing_image = MissingImage::kError;
  ImageCache strict(t.dir, s);
  std::string m = input_error_of([&] { strict.get(t.corrupt, ImageModality::kThermalMap); });
  EXPECT_NE(m.find(t.dir + "/" + t.corrupt.file), std::string::npos) << m;
  m = input_error_of([&] { strict.get(t.missing, ImageModality::kThermalMap); });
  EXPECT_NE(m.find(t.dir + "/" + t.missing.file), std::string::npos) << m;
}

TEST(ImageCache, DiskCacheIsReadBackAndKeyedBySettings) {
  const TinyStudy t = tiny_study();
  const std::string disk = t.dir + "/cache";
  PreprocessSettings s;
  s.image_size = 32;
  ImageU8 first;
  {
    ImageCache cache(t.dir, s, disk);
    first = *cache.get(t.good, ImageModality::kThermalMap);
    EXPECT_EQ(cache.disk_hits(), 0);
  }
  {
    ImageCache cache(t.dir, s, disk);
    EXPECT_EQ(*cache.get(t.good, ImageModality::kThermalMap), first);
    EXPECT_EQ(cache.disk_hits(), 1);
  }
  s.image_size = 64;  // other settings: another key, decoded afresh
  ImageCache other(t.dir, s, disk);
  EXPECT_EQ(other.get(t.good, ImageModality::kThermalMap)->width, 64);
  EXPECT_EQ(other.disk_hits(), 0);
}

TEST(Augment, ChangesPixelsOnlyWhenAskedAndIsDeterministicPerSeed) {
  ImageU8 image(32, 32, 3);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i * 7);
  std::mt19937_64 rng(1);
  EXPECT_EQ(augment(image, AugmentSettings{}, rng), image);
  EXPECT_EQ(rng(), std::mt19937_64(1)());  // nothing drawn

  const AugmentSettings s = AugmentSettings::training();
  std::mt19937_64 a(5);
  std::mt19937_64 b(5);
  const ImageU8 x = augment(image, s, a);
  EXPECT_EQ(x, augment(image, s, b));
  EXPECT_NE(x, image);
  EXPECT_EQ(x.width, 32);
  EXPECT_EQ(x.channels, 3);
  std::mt19937_64 c(6);
  EXPECT_NE(augment(image, s, c), x);

  AugmentSettings noise_only;
  noise_only.noise = 0.05;
  std::mt19937_64 d(5);
  EXPECT_NE(augment(image, noise_only, d), image);

  AugmentSettings bad;
  bad.rotation_deg = 90;
  EXPECT_THROW(augment(image, bad, d), InputError);
  bad = {};
  bad.noise = 2;
  EXPECT_THROW(augment(image, bad, d), InputError);
}

TEST(Augment, FlipsMirrorTheImage) {
  ImageU8 image(4, 2, 1);
  for (int x = 0; x < 4; ++x) image.at(x, 0, 0) = static_cast<uint8_t>(10 * x);
  AugmentSettings flips;
  flips.flips = true;
  bool saw_horizontal = false;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    std::mt19937_64 rng(seed);
    const ImageU8 out = augment(image, flips, rng);
    const bool vertical = out.at(0, 1, 0) != 0 || out.at(3, 1, 0) != 0;
    const int row = vertical ? 1 : 0;
    if (out.at(0, row, 0) == 30) saw_horizontal = true;
    EXPECT_TRUE(out.at(0, row, 0) == 0 || out.at(0, row, 0) == 30);
  }
  EXPECT_TRUE(saw_horizontal);
}

}  // namespace
}  // namespace woundphase

// The predecessor's augmentations (rot90, zoom-crop, cutout) on hand-checkable images.
#include <gtest/gtest.h>

#include <algorithm>  // for min_element, max_element, count
#include <array>
#include <random>

#include "woundphase/core.h"  // for InputError
#include "woundphase/images.h"

namespace woundphase {
namespace {

// 3 x 2, one channel:  a b c / d e f  with a..f = 1..6.
ImageU8 two_by_three() {
  ImageU8 image(3, 2, 1);
  for (int i = 0; i < 6; ++i) image.pixels[i] = static_cast<uint8_t>(i + 1);
  return image;
}

std::vector<uint8_t> pixels_of(const ImageU8& image) { return image.pixels; }

TEST(Augment, Rot90TurnsAKnownImageCounterClockwise) {
  const ImageU8 image = two_by_three();
  // numpy.rot90([[1, 2, 3], [4, 5, 6]]) = [[3, 6], [2, 5], [1, 4]]
  const ImageU8 once = rotate90(image, 1);
  EXPECT_EQ(once.width, 2);
  EXPECT_EQ(once.height, 3);
  EXPECT_EQ(pixels_of(once), (std::vector<uint8_t>{3, 6, 2, 5, 1, 4}));
  // k=2: [[6, 5, 4], [3, 2, 1]];  k=3: [[4, 1], [5, 2], [6, 3]]
  EXPECT_EQ(pixels_of(rotate90(image, 2)), (std::vector<uint8_t>{6, 5, 4, 3, 2, 1}));
  const ImageU8 thrice = rotate90(image, 3);
  EXPECT_EQ(thrice.width, 2);
  EXPECT_EQ(pixels_of(thrice), (std::vector<uint8_t>{4, 1, 5, 2, 6, 3}));
  EXPECT_EQ(rotate90(image, 4), image);
  EXPECT_EQ(rotate90(image, -1), thrice);
  EXPECT_EQ(rotate90(rotate90(image, 1), 3), image);

  // Channels travel with their pixel.
  ImageU8 rgb(3, 2, 3);
  for (size_t i = 0; i < rgb.pixels.size(); ++i) rgb.pixels[i] = static_cast<uint8_t>(i);
  const ImageU8 turned = rotate90(rgb, 1);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(turned.at(0, 0, c), rgb.at(2, 0, c));
}

TEST(Augment, Rot90ProbabilityDrawsEveryTurnAndOnlyTurns) {
  ImageU8 image(4, 4, 1);
  for (int i = 0; i < 16; ++i) image.pixels[i] = static_cast<uint8_t>(i);
  AugmentSettings s;
  s.rot90 = 1;
  std::array<int, 4> seen{};
  constexpr int kDraws = 300;
  std::mt19937_64 rng(3);
  for (int i = 0; i < kDraws; ++i) {
    const ImageU8 out = augment(image, s, rng);
    int turns = -1;
    for (int k = 0; k < 4; ++k)
      if (out == rotate90(image, k)) turns = k;
    ASSERT_GE(turns, 1) << "probability 1: always a turn, and nothing but a turn";
    ++seen[turns];
  }
  // 1, 2 and 3 turns equally likely: each 100 expected, sd ~8.2.
  for (int k = 1; k < 4; ++k) {
    EXPECT_GT(seen[k], 70) << k;
    EXPECT_LT(seen[k], 130) << k;
  }
  // Probability 0.5: about half the images stay as they are.
  s.rot90 = 0.5;
  int unchanged = 0;
  for (int i = 0; i < kDraws; ++i) unchanged += augment(image, s, rng) == image;
  EXPECT_GT(unchanged, 120);
  EXPECT_LT(unchanged, 180);
}

TEST(Augment, ZoomCropKeepsTheSizeAndShowsAPartOfTheImage) {
  // A horizontal ramp: value 8x in column x (0..248 over 32 columns).
  ImageU8 ramp(32, 32, 1);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) ramp.at(x, y, 0) = static_cast<uint8_t>(8 * x);
  AugmentSettings s;
  s.zoom = 0.5;
  std::mt19937_64 rng(11);
  int zoomed = 0;
  for (int i = 0; i < 50; ++i) {
    const ImageU8 out = augment(ramp, s, rng);
    ASSERT_EQ(out.width, 32);
    ASSERT_EQ(out.height, 32);
    ASSERT_EQ(out.channels, 1);
    const auto [lo, hi] = std::minmax_element(out.pixels.begin(), out.pixels.end());
    // A crop of side >= 16 columns spans at least 15 x 8 = 120 levels of the ramp, at most all.
    EXPECT_GE(*hi - *lo, 8 * 15 - 8);
    EXPECT_LE(*hi - *lo, 248);
    zoomed += (*hi - *lo) < 240;
    // Still a ramp: each row non-decreasing left to right, every row the same (to OpenCV's
    // fixed-point rounding of the vertical pass: 1 level).
    for (int x = 1; x < 32; ++x) EXPECT_GE(out.at(x, 0, 0), out.at(x - 1, 0, 0));
    for (int y = 1; y < 32; ++y) EXPECT_NEAR(out.at(7, y, 0), out.at(7, 0, 0), 1);
  }
  EXPECT_GT(zoomed, 35);  // most crops are well inside (9 in 10 expected: scale 1 - u / 2)
  // A flat image stays flat.
  const ImageU8 flat(32, 32, 3);
  EXPECT_EQ(augment(flat, s, rng), flat);
}

TEST(Augment, CutoutBlanksOneSquareOfTheAskedShare) {
  ImageU8 white(32, 32, 3);
  std::fill(white.pixels.begin(), white.pixels.end(), uint8_t{255});
  for (const auto& [share, side] : {std::pair<double, int>{0.25, 16}, {0.1, 10}, {0.5, 23}}) {
    AugmentSettings s;
    s.cutout = share;
    std::mt19937_64 rng(static_cast<uint64_t>(side));
    for (int i = 0; i < 20; ++i) {
      const ImageU8 out = augment(white, s, rng);
      int x_min = 32, x_max = -1, y_min = 32, y_max = -1;
      long zeros = 0;
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) {
          if (out.at(x, y, 0) != 0) continue;
          ++zeros;
          x_min = std::min(x_min, x);
          x_max = std::max(x_max, x);
          y_min = std::min(y_min, y);
          y_max = std::max(y_max, y);
          EXPECT_EQ(out.at(x, y, 1), 0);
          EXPECT_EQ(out.at(x, y, 2), 0);
        }
      // round(sqrt(share) * 32) squared pixels, all in one square inside the image.
      EXPECT_EQ(zeros, static_cast<long>(side) * side) << share;
      EXPECT_EQ(x_max - x_min + 1, side);
      EXPECT_EQ(y_max - y_min + 1, side);
    }
  }
}

TEST(Augment, NewKnobsAreSeededValidatedAndOffByDefault) {
  ImageU8 image(32, 32, 1);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i * 13);
  EXPECT_FALSE(AugmentSettings{}.any());
  AugmentSettings s;
  s.rot90 = 0.5;
  s.zoom = 0.3;
  s.cutout = 0.2;
  EXPECT_TRUE(s.any());
  std::mt19937_64 a(9), b(9), c(10);
  const ImageU8 x = augment(image, s, a);
  EXPECT_EQ(x, augment(image, s, b));
  EXPECT_NE(x, augment(image, s, c));
  for (auto bad : {&AugmentSettings::rot90, &AugmentSettings::zoom, &AugmentSettings::cutout}) {
    AugmentSettings wrong;
    wrong.*bad = 0.9 + 0.2;  // over each one's bound (1, 0.5, 0.5)
    EXPECT_THROW(augment(image, wrong, a), InputError);
  }
}

}  // namespace
}  // namespace woundphase

#include <gtest/gtest.h>

#include <cstdlib>  // for abs

#include "woundphase/core.h"  // for InputError
#include "woundphase/images.h"

namespace woundphase {
namespace {

TEST(Viridis, TableIsMatplotlibsBytes) {
  const auto& t = viridis_table();
  EXPECT_EQ(t[0], (Rgb{68, 1, 84}));
  EXPECT_EQ(t[128], (Rgb{32, 144, 140}));
  EXPECT_EQ(t[255], (Rgb{253, 231, 36}));
}

TEST(Viridis, EncodeThenDecodeGivesTheValueBackWithinOne) {
  for (int v = 0; v < 256; ++v) {
    const int back = viridis_decode(viridis_encode(static_cast<uint8_t>(v)));
    EXPECT_LE(std::abs(back - v), 1) << v;
  }
  ImageU8 gray(16, 16, 1);
  for (size_t i = 0; i < gray.pixels.size(); ++i) gray.pixels[i] = static_cast<uint8_t>(i);
  const ImageU8 rgb = viridis_encode(gray);
  ASSERT_EQ(rgb.channels, 3);
  const ImageU8 back = viridis_decode(rgb);
  ASSERT_EQ(back.channels, 1);
  for (size_t i = 0; i < gray.pixels.size(); ++i)
    EXPECT_LE(std::abs(back.pixels[i] - gray.pixels[i]), 1) << i;
}

TEST(Viridis, OffTableColoursDecodeToTheNearestEntry) {
  EXPECT_EQ(viridis_decode(Rgb{0, 0, 0}), 0);  // the thermal sensor border
  const Rgb c = viridis_encode(200);
  const Rgb nudged = {static_cast<uint8_t>(c[0] + 1), c[1], static_cast<uint8_t>(c[2] - 1)};
  EXPECT_LE(std::abs(viridis_decode(nudged) - 200), 1);
  EXPECT_GE(viridis_decode(Rgb{255, 255, 0}), 245);  // yellow: the top of the scale
}

TEST(Viridis, ParsesMapDecodeNames) {
  EXPECT_EQ(parse_map_decode("viridis"), MapDecode::kViridis);
  EXPECT_EQ(parse_map_decode("none"), MapDecode::kNone);
  EXPECT_THROW(parse_map_decode("jet"), InputError);
  EXPECT_STREQ(to_string(MapDecode::kViridis), "viridis");
}

}  // namespace
}  // namespace woundphase

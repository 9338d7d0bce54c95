#include <gtest/gtest.h>

#include "woundphase/core.h"

namespace woundphase {

TEST(Matrix, SelectRowsKeepsColumnsAndRepeats) {
  Matrix m(3, 2);
  for (size_t r = 0; r < 3; ++r)
    for (size_t c = 0; c < 2; ++c) m.at(r, c) = static_cast<float>(10 * r + c);
  Matrix s = m.select_rows({2, 0, 2});
  ASSERT_EQ(s.rows(), 3U);
  EXPECT_EQ(s.at(0, 1), 21.0F);
  EXPECT_EQ(s.at(1, 0), 0.0F);
  EXPECT_EQ(s.at(2, 0), 20.0F);
  auto rm = m.row_major();
  EXPECT_EQ(rm[1 * 2 + 1], 11.0F);
}

TEST(MixSeed, DistinctSaltsGiveDistinctSeeds) {
  EXPECT_NE(mix_seed(1, 0), mix_seed(1, 1));
  EXPECT_NE(mix_seed(1, 0), mix_seed(2, 0));
  EXPECT_EQ(mix_seed(5, 9), mix_seed(5, 9));
}

}  // namespace woundphase

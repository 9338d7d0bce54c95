#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "woundphase/class_weights.h"
#include "woundphase/core.h"
#include "woundphase/random.h"

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

// scikit-learn 1.2.1: compute_class_weight('balanced', classes=np.unique(y), y=y).
TEST(BalancedClassWeights, MatchScikitLearn) {
  const std::vector<double> w = balanced_class_weights({0, 0, 0, 0, 1, 1, 2}, {}, 3);
  ASSERT_EQ(w.size(), 3U);
  EXPECT_NEAR(w[0], 0.58333333333, 1e-9);
  EXPECT_NEAR(w[1], 1.16666666667, 1e-9);
  EXPECT_NEAR(w[2], 2.33333333333, 1e-9);
}

// k counts the classes present (y = [0, 0, 0, 2] gives 0.667 and 2 in scikit-learn); an absent
// class weighs no sample and gets 0.
TEST(BalancedClassWeights, AbsentClassesDoNotCount) {
  const std::vector<double> w = balanced_class_weights({0, 0, 0, 2}, {}, 3);
  EXPECT_NEAR(w[0], 2.0 / 3.0, 1e-12);
  EXPECT_EQ(w[1], 0.0);
  EXPECT_NEAR(w[2], 2.0, 1e-12);
}

// Sample weights stand in for counts: a row of weight 2 counts as two rows of weight 1.
TEST(BalancedClassWeights, SampleWeightsActAsCounts) {
  const std::vector<double> weighted = balanced_class_weights({0, 1, 1}, {2.0F, 1.0F, 3.0F}, 2);
  const std::vector<double> repeated = balanced_class_weights({0, 0, 1, 1, 1, 1}, {}, 2);
  EXPECT_DOUBLE_EQ(weighted[0], repeated[0]);
  EXPECT_DOUBLE_EQ(weighted[1], repeated[1]);
  // Every present class carries the same total weight, W / k.
  EXPECT_DOUBLE_EQ(weighted[0] * 2.0, weighted[1] * 4.0);
}

TEST(BalancedClassWeights, SumOneScalesToUnitTotal) {
  const std::vector<int> y = {0, 0, 0, 2, 2, 1};
  const std::vector<double> mean_one = balanced_class_weights(y, {}, 3);
  const std::vector<double> sum_one = balanced_class_weights(y, {}, 3, WeightScale::kSumOne);
  double total = 0;
  for (int label : y) total += sum_one[label];
  EXPECT_NEAR(total, 1.0, 1e-12);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(sum_one[c] * y.size(), mean_one[c], 1e-12);
}

TEST(BalancedClassWeights, RejectsBadLabelsAndWeights) {
  EXPECT_THROW(balanced_class_weights({0, 3}, {}, 3), InputError);
  EXPECT_THROW(balanced_class_weights({0, -1}, {}, 3), InputError);
  EXPECT_THROW(balanced_class_weights({0, 1}, {1.0F}, 3), std::invalid_argument);
}

TEST(UniformIndex, CoversTheRangeAndStaysInIt) {
  EXPECT_EQ(uniform_index(0, 7), 0U);
  EXPECT_EQ(uniform_index(~0ULL, 7), 6U);
  EXPECT_EQ(uniform_index(1ULL << 63, 10), 5U);  // half way
  std::vector<int> seen(5, 0);
  for (uint64_t i = 0; i < 1000; ++i) ++seen[uniform_index(mix_seed(3, i), 5)];
  for (int count : seen) EXPECT_GT(count, 150);  // ~200 each; 150 is > 4 standard deviations off
}

}  // namespace woundphase

// Ordinal decisions: the expected grade, its cuts, and thresholds fitted for QWK against a
// brute-force search that scores every candidate pair with score().
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "woundphase/decision.h"
#include "woundphase/metrics.h"

namespace woundphase {
namespace {

// Probabilities whose expected grade follows the label with noise, and a shift that makes the
// argmax rarely predict the top class (the situation thresholds are for).
void planted(size_t n, unsigned seed, Probabilities* probs, std::vector<int>* truth) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> label(0, 2);
  std::normal_distribution<double> noise(0.0, 0.6);
  for (size_t i = 0; i < n; ++i) {
    const int y = label(rng);
    const double z = 0.6 * y + noise(rng);  // compressed towards the middle class
    double logits[3] = {-z, 0.3, z - 0.6};
    double sum = 0;
    for (double& l : logits) sum += (l = std::exp(l));
    for (double l : logits) probs->push_back(l / sum);
    truth->push_back(y);
  }
}

TEST(Decision, ArgmaxExpectedAndCuts) {
  const Probabilities p = {0.5, 0.1, 0.4,   // argmax I, E = 0.9 -> P
                           0.0, 0.2, 0.8,   // R either way, E = 1.8
                           0.3, 0.4, 0.3};  // P, E = 1.0
  Decision d;
  EXPECT_EQ(d.apply(p), (std::vector<int>{0, 2, 1}));
  d.rule = DecisionRule::kExpected;
  EXPECT_EQ(d.apply(p), (std::vector<int>{1, 2, 1}));
  const std::vector<double> e = expected_grades(p);
  EXPECT_DOUBLE_EQ(e[0], 0.9);
  EXPECT_DOUBLE_EQ(e[1], 1.8);
  // Cuts are half-open: E < low -> I, E >= high -> R.
  EXPECT_EQ(cut_grades({0.4, 0.9, 1.0, 1.8}, {0.9, 1.8}), (std::vector<int>{0, 1, 1, 2}));
  d.rule = DecisionRule::kThresholds;
  d.thresholds = {0.95, 1.9};
  EXPECT_EQ(d.apply(p), (std::vector<int>{0, 1, 1}));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(d.apply_row(&p[i * 3]), d.apply(p)[i]);
  EXPECT_EQ(parse_decision("thresholds"), DecisionRule::kThresholds);
  EXPECT_THROW(parse_decision("median"), InputError);
}

TEST(Decision, FittedThresholdsReachTheBruteForceOptimum) {
  for (unsigned seed : {1U, 2U, 3U}) {
    Probabilities p;
    std::vector<int> y;
    planted(120, seed, &p, &y);
    const Thresholds t = fit_thresholds(p, y);
    ASSERT_LE(t.low, t.high);
    const double fitted = score(y, cut_grades(expected_grades(p), t)).qwk;
    // Every pair of candidate cuts (each distinct grade and one past the highest), scored anew.
    std::vector<double> cand(expected_grades(p));
    cand.push_back(*std::max_element(cand.begin(), cand.end()) + 1);
    std::sort(cand.begin(), cand.end());
    double best = -1;
    for (size_t a = 0; a < cand.size(); ++a)
      for (size_t b = a; b < cand.size(); ++b)
        best = std::max(best, score(y, cut_grades(expected_grades(p), {cand[a], cand[b]})).qwk);
    EXPECT_NEAR(fitted, best, 1e-12) << "seed " << seed;
    // And at least as good as argmax and rounding on the rows it was fitted on.
    EXPECT_GE(fitted + 1e-12, score(y, argmax(p)).qwk);
    EXPECT_GE(fitted + 1e-12, score(y, cut_grades(expected_grades(p), {})).qwk);
  }
}

TEST(Decision, ThresholdsGeneraliseOnPlantedCompression) {
  // Fitted on one sample, applied to another from the same distribution: the compressed grades
  // are spread back and QWK beats argmax out of sample.
  Probabilities fit_p, test_p;
  std::vector<int> fit_y, test_y;
  planted(600, 7, &fit_p, &fit_y);
  planted(600, 8, &test_p, &test_y);
  const Decision d = fit_decision(DecisionRule::kThresholds, fit_p, fit_y);
  EXPECT_GT(score(test_y, d.apply(test_p)).qwk, score(test_y, argmax(test_p)).qwk + 0.05);
}

TEST(Decision, DegenerateInputsFallBackOnRounding) {
  const Probabilities p = {0.2, 0.5, 0.3, 0.1, 0.6, 0.3};
  const Thresholds one_class = fit_thresholds(p, {1, 1});
  EXPECT_DOUBLE_EQ(one_class.low, 0.5);
  EXPECT_DOUBLE_EQ(one_class.high, 1.5);
  const Thresholds none = fit_thresholds({}, {});
  EXPECT_DOUBLE_EQ(none.low, 0.5);
  EXPECT_THROW(fit_thresholds(p, {0}), std::invalid_argument);
  // argmax and expected need no fitting: fit_decision keeps the fixed cuts.
  EXPECT_DOUBLE_EQ(fit_decision(DecisionRule::kExpected, p, {0, 2}).thresholds.high, 1.5);
}

}  // namespace
}  // namespace woundphase

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "woundphase/metrics.h"

namespace woundphase {
namespace {

constexpr double kEps = 1e-9;

// Label vectors whose confusion matrix is `c` ([true][pred]).
void expand(const Confusion& c, std::vector<int>& truth, std::vector<int>& pred) {
  truth.clear();
  pred.clear();
  for (int i = 0; i < kNumClasses; ++i)
    for (int j = 0; j < kNumClasses; ++j)
      for (long n = 0; n < c[i][j]; ++n) {
        truth.push_back(i);
        pred.push_back(j);
      }
}

// Plain and quadratic-weighted kappa of the confusion matrix `c`.
void expect_kappas(const Confusion& c, double kappa, double qwk) {
  EXPECT_NEAR(cohen_kappa(c), kappa, kEps);
  EXPECT_NEAR(quadratic_weighted_kappa(c), qwk, kEps);
}

TEST(Confusion, CountsTrueByPredicted) {
  Confusion c = confusion_matrix({0, 0, 1, 2, 2, 2}, {0, 1, 1, 2, 2, 0});
  EXPECT_EQ(c[0][0], 1);
  EXPECT_EQ(c[0][1], 1);
  EXPECT_EQ(c[1][1], 1);
  EXPECT_EQ(c[2][2], 2);
  EXPECT_EQ(c[2][0], 1);
  EXPECT_EQ(c[1][0], 0);
}

TEST(Confusion, RejectsBadInput) {
  EXPECT_THROW(confusion_matrix({0, 1}, {0}), std::invalid_argument);
  EXPECT_THROW(confusion_matrix({0, 3}, {0, 1}), std::invalid_argument);
  EXPECT_THROW(confusion_matrix({0, 1}, {-1, 1}), std::invalid_argument);
}

TEST(Kappa, PerfectAgreementIsOne) {
  // Diagonal only: observed disagreement 0, expected > 0 -> kappa = 1 - 0 = 1.
  expect_kappas({{{10, 0, 0}, {0, 20, 0}, {0, 0, 5}}}, 1.0, 1.0);
}

TEST(Kappa, TextbookTwoRaterExample) {
  // The classic two-category example (Wikipedia, "Cohen's kappa"): 50 items,
  // yes/yes 20, yes/no 5, no/yes 10, no/no 15; the third class is empty.
  //   p_o = (20 + 15) / 50 = 0.7
  //   row marginals 25, 25; column marginals 30, 20
  //   p_e = (25*30 + 25*20) / 50^2 = 1250 / 2500 = 0.5
  //   kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
  // Quadratic weights: only classes 0 and 1 occur, distance 1 -> w = 1/4.
  //   observed weighted disagreement = 0.25 * (5 + 10) / 50 = 0.075
  //   expected weighted disagreement = 0.25 * (25*20 + 25*30) / 2500 = 0.125
  //   qwk = 1 - 0.075 / 0.125 = 0.4
  expect_kappas({{{20, 5, 0}, {10, 15, 0}, {0, 0, 0}}}, 0.4, 0.4);
}

TEST(Kappa, ThreeClassHandComputed) {
  //        pred 0  1  2      row sums 6, 6, 3; column sums 6, 6, 3; n = 15
  // true 0:     5  1  0
  // true 1:     1  4  1
  // true 2:     0  1  2
  // Plain: p_o = 11/15 = 165/225; p_e = (6*6 + 6*6 + 3*3) / 225 = 81/225
  //   kappa = (165 - 81) / (225 - 81) = 84 / 144 = 7/12
  // Quadratic: w = 1/4 at distance 1, 1 at distance 2.
  //   observed (counts): 0.25 * (1 + 1 + 1 + 1) = 1
  //   expected (counts) E_ij = r_i c_j / n: adjacent cells 36/15 + 36/15 + 18/15 + 18/15 = 108/15,
  //     times 1/4 = 27/15; far cells (0,2), (2,0): 18/15 + 18/15 = 36/15; total 63/15
  //   qwk = 1 - 1 / (63/15) = 1 - 15/63 = 16/21
  expect_kappas({{{5, 1, 0}, {1, 4, 1}, {0, 1, 2}}}, 7.0 / 12.0, 16.0 / 21.0);
}

TEST(Kappa, UndefinedIsNaNNotZero) {
  Confusion empty{};
  EXPECT_TRUE(std::isnan(cohen_kappa(empty)));
  EXPECT_TRUE(std::isnan(quadratic_weighted_kappa(empty)));
  Confusion one_class{};  // every item true 0 and predicted 0: expected disagreement 0
  one_class[0][0] = 7;
  EXPECT_TRUE(std::isnan(cohen_kappa(one_class)));
  EXPECT_TRUE(std::isnan(quadratic_weighted_kappa(one_class)));
  // One true class but varied predictions: defined, and 0 (no agreement beyond chance).
  Confusion one_true{};
  one_true[1][0] = 2;
  one_true[1][1] = 3;
  one_true[1][2] = 1;
  EXPECT_EQ(quadratic_weighted_kappa(one_true), 0.0);
}

TEST(Kappa, ChanceAgreementIsZeroAndWorseIsNegative) {
  // Independent raters: every cell equal -> observed = expected -> 0.
  Confusion uniform{};
  for (auto& row : uniform) row = {4, 4, 4};
  EXPECT_NEAR(cohen_kappa(uniform), 0.0, kEps);
  EXPECT_NEAR(quadratic_weighted_kappa(uniform), 0.0, kEps);
  // Systematic reversal 0<->2: worse than chance.
  Confusion reversed{};
  reversed[0][2] = 5;
  reversed[2][0] = 5;
  reversed[1][1] = 5;
  EXPECT_LT(quadratic_weighted_kappa(reversed), 0.0);
  EXPECT_LT(cohen_kappa(reversed), 1.0);
}

TEST(Kappa, QuadraticPenalisesDistantErrorsMore) {
  // Same number of errors and the same marginals for plain kappa; one matrix confuses adjacent
  // classes (0 -> 1), the other distant ones (0 -> 2).
  Confusion adjacent{};
  adjacent[0] = {9, 1, 0};
  adjacent[1] = {0, 10, 0};
  adjacent[2] = {0, 0, 10};
  Confusion distant{};
  distant[0] = {9, 0, 1};
  distant[1] = {0, 10, 0};
  distant[2] = {0, 0, 10};
  EXPECT_NEAR(cohen_kappa(adjacent), cohen_kappa(distant), kEps);
  EXPECT_GT(quadratic_weighted_kappa(adjacent), quadratic_weighted_kappa(distant) + 0.02);
}

// Any class count (the image networks' kappa): scikit-learn 1.2.1's
// cohen_kappa_score(truth, pred, weights='quadratic', labels=range(k)) gives the expected values.
TEST(Kappa, AnyClassCountMatchesScikitLearn) {
  EXPECT_NEAR(
      quadratic_weighted_kappa({0, 1, 1, 0, 1, 0, 0, 1, 1, 1}, {0, 1, 0, 0, 1, 1, 0, 1, 1, 0}, 2),
      0.4, kEps);
  EXPECT_NEAR(quadratic_weighted_kappa({0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 2, 2, 3, 1},
                                       {0, 2, 2, 3, 3, 4, 1, 2, 1, 1, 2, 4, 3, 0}, 5),
              0.7272727272727273, kEps);
  // Class 4 never true, once predicted.
  EXPECT_NEAR(quadratic_weighted_kappa({0, 1, 2, 3, 3, 2, 1, 0}, {0, 1, 2, 4, 3, 2, 0, 0}, 5),
              0.9230769230769231, kEps);
  EXPECT_EQ(quadratic_weighted_kappa({1, 1}, {1, 1}, 4), 0.0);  // undefined: one class
}

TEST(Kappa, AnyClassCountIsTheThreeClassKappaForThree) {
  const std::vector<int> truth = {0, 0, 1, 1, 1, 2, 2, 2, 2, 0, 1};
  const std::vector<int> pred = {0, 1, 1, 2, 1, 2, 2, 1, 0, 0, 1};
  EXPECT_EQ(quadratic_weighted_kappa(truth, pred, kNumClasses),
            quadratic_weighted_kappa(confusion_matrix(truth, pred)));
}

TEST(Kappa, AnyClassCountRejectsBadInput) {
  EXPECT_THROW(quadratic_weighted_kappa({0, 5}, {0, 1}, 5), std::invalid_argument);
  EXPECT_THROW(quadratic_weighted_kappa({0, 1}, {0}, 2), std::invalid_argument);
  EXPECT_THROW(quadratic_weighted_kappa({0}, {0}, 1), std::invalid_argument);
}

TEST(Score, AccuracyAndF1) {
  // The three-class matrix above. F1_k = 2TP / (2TP + FP + FN):
  //   class 0: TP 5, FP 1 (true 1), FN 1 (pred 1)          -> 10/12
  //   class 1: TP 4, FP 1 + 1 (true 0, 2), FN 1 + 1         -> 8/12
  //   class 2: TP 2, FP 1 (true 1), FN 1 (pred 1)          -> 4/6
  //   macro = (10/12 + 8/12 + 8/12) / 3 = 26/36
  Confusion c{};
  c[0] = {5, 1, 0};
  c[1] = {1, 4, 1};
  c[2] = {0, 1, 2};
  std::vector<int> truth;
  std::vector<int> pred;
  expand(c, truth, pred);
  Scores s = score(truth, pred);
  EXPECT_EQ(s.n, 15);
  EXPECT_EQ(s.confusion, c);
  EXPECT_NEAR(s.accuracy, 11.0 / 15.0, kEps);
  EXPECT_NEAR(s.f1[0], 10.0 / 12.0, kEps);
  EXPECT_NEAR(s.f1[1], 8.0 / 12.0, kEps);
  EXPECT_NEAR(s.f1[2], 4.0 / 6.0, kEps);
  EXPECT_NEAR(s.macro_f1, 26.0 / 36.0, kEps);
  EXPECT_NEAR(s.kappa, 7.0 / 12.0, kEps);
  EXPECT_NEAR(s.qwk, 16.0 / 21.0, kEps);
}

TEST(Score, AbsentClassHasZeroF1) {
  Scores s = score({0, 0, 1, 1}, {0, 0, 1, 0});
  // class 0: TP 2, FP 1, FN 0 -> 4/5; class 1: TP 1, FP 0, FN 1 -> 2/3; class 2 absent -> 0.
  EXPECT_NEAR(s.f1[0], 0.8, kEps);
  EXPECT_NEAR(s.f1[1], 2.0 / 3.0, kEps);
  EXPECT_EQ(s.f1[2], 0.0);
  EXPECT_NEAR(s.macro_f1, (0.8 + 2.0 / 3.0) / 3.0, kEps);
  EXPECT_NEAR(s.accuracy, 0.75, kEps);
}

TEST(Score, EmptyInput) {
  Scores s = score({}, {});
  EXPECT_EQ(s.n, 0);
  EXPECT_EQ(s.accuracy, 0.0);
  EXPECT_EQ(s.macro_f1, 0.0);
  EXPECT_TRUE(std::isnan(s.qwk));  // no rows: the kappa is undefined
}

TEST(Argmax, TiesGoToLowerClass) {
  Probabilities p = {0.4, 0.4, 0.2, 0.1, 0.3, 0.6, 0.2, 0.5, 0.3, 0.3, 0.3, 0.3};
  EXPECT_EQ(argmax(p), (std::vector<int>{0, 2, 1, 0}));
  EXPECT_THROW(argmax({0.5, 0.5}), std::invalid_argument);
  EXPECT_TRUE(argmax({}).empty());
}

TEST(MeanStd, SampleStandardDeviation) {
  // mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32; sample variance 32/7.
  MeanStd m = mean_std({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_NEAR(m.mean, 5.0, kEps);
  EXPECT_NEAR(m.std, std::sqrt(32.0 / 7.0), kEps);
  MeanStd one = mean_std({3.5});
  EXPECT_EQ(one.mean, 3.5);
  EXPECT_EQ(one.std, 0.0);
  MeanStd none = mean_std({});
  EXPECT_EQ(none.mean, 0.0);
  EXPECT_EQ(none.std, 0.0);
}

}  // namespace
}  // namespace woundphase

// The statistics against reference values computed once with Debian 12's SciPy 1.10.1,
// statsmodels 0.13.5 and scikit-learn 1.2.1 (/usr/bin/python3); each expectation names the call.
#include <gtest/gtest.h>

#include <cmath>

#include "woundphase/stats.h"

namespace woundphase::stats {
namespace {

constexpr double kP = 1e-9;  // our p-values agree with SciPy's far below the bench's 1e-6

// Fifteen fold differences (5 folds x 3 runs), no ties, no zeros.
const std::vector<double> kDiffs = {0.12, -0.03, 0.08, 0.15, 0.02,  0.07, -0.01, 0.11,
                                    0.09, 0.04,  0.06, 0.13, -0.02, 0.10, 0.05};

TEST(Distributions, IncompleteBetaMatchesScipy) {
  EXPECT_NEAR(incomplete_beta(2.5, 0.5, 0.3), 0.01892712407194565, 1e-13);  // special.betainc
  EXPECT_NEAR(incomplete_beta(7.0, 0.5, 0.95), 0.4051315047469735, 1e-13);
  EXPECT_EQ(incomplete_beta(2.0, 3.0, 0.0), 0.0);
  EXPECT_EQ(incomplete_beta(2.0, 3.0, 1.0), 1.0);
}

TEST(Distributions, StudentTTwoSidedMatchesScipy) {
  EXPECT_NEAR(student_t_two_sided(2.1, 14), 0.05433314597490483, 1e-12);  // 2*t.sf(2.1, 14)
  EXPECT_NEAR(student_t_two_sided(-0.35, 4), 0.7439906413212517, 1e-12);  // 2*t.sf(0.35, 4)
  EXPECT_NEAR(student_t_two_sided(6.5, 9), 0.00011145078736861524, 1e-15);
  EXPECT_EQ(student_t_two_sided(INFINITY, 9), 0.0);
}

TEST(CorrectedTTest, MatchesTheNadeauBengioFormula) {
  // t = mean / sqrt((1/J + 0.25) * var(ddof=1)); p = 2 * scipy.stats.t.sf(|t|, J - 1).
  const TestResult r = corrected_resampled_ttest(kDiffs, 0.25);
  EXPECT_NEAR(r.statistic, 2.0436107558299725, 1e-12);
  EXPECT_NEAR(r.p, 0.06028240309798695, kP);
}

TEST(CorrectedTTest, CorrectionWidensTheUncorrectedTest) {
  // Without the n_test/n_train term the statistic is the plain one-sample t (larger).
  const double plain = corrected_resampled_ttest(kDiffs, 0.0).statistic;
  const double corrected = corrected_resampled_ttest(kDiffs, 0.25).statistic;
  EXPECT_GT(plain, corrected);
  EXPECT_NEAR(plain / corrected, std::sqrt((1.0 / 15 + 0.25) / (1.0 / 15)), 1e-12);
}

TEST(CorrectedTTest, DegenerateInputs) {
  EXPECT_TRUE(std::isnan(corrected_resampled_ttest({0.1}, 0.25).p));  // one split: undefined
  const TestResult zero = corrected_resampled_ttest({0, 0, 0, 0}, 0.25);
  EXPECT_EQ(zero.statistic, 0.0);
  EXPECT_EQ(zero.p, 1.0);
  EXPECT_LT(corrected_resampled_ttest({0.1, 0.1, 0.1}, 0.25).p, 1e-12);  // constant, non-zero
}

TEST(Wilcoxon, ExactMatchesScipy) {
  const TestResult r = wilcoxon_signed_rank(kDiffs);  // scipy.stats.wilcoxon(d)
  EXPECT_EQ(r.statistic, 7.5);
  EXPECT_NEAR(r.p, 0.00152587890625, kP);
}

TEST(Wilcoxon, ExactWithTiesTruncatesLikeScipy) {
  const TestResult r = wilcoxon_signed_rank({0.1, -0.1, 0.2, 0.1, 0.3, -0.2, 0.1, 0.4});
  EXPECT_EQ(r.statistic, 8.0);
  EXPECT_NEAR(r.p, 0.1953125, kP);
}

TEST(Wilcoxon, ZerosSwitchToTheNormalApproximation) {
  const TestResult r =
      wilcoxon_signed_rank({0.1, 0.0, 0.2, 0.1, 0.3, -0.2, 0.1, 0.4, 0.05, 0.07, -0.01, 0.0});
  EXPECT_EQ(r.statistic, 8.5);
  EXPECT_NEAR(r.p, 0.052018819926837656, kP);
}

TEST(Wilcoxon, MoreThanFiftyUsesTheNormalApproximationWithTieCorrection) {
  // numpy.random.default_rng(3).normal(0.03, 0.1, 60), rounded to 3 decimals (has ties).
  const std::vector<double> d = {
      0.234,  -0.226, 0.072,  -0.027, -0.015, 0.008, -0.172, 0.007,  -0.057, 0.362,  0.053, -0.005,
      0.002,  -0.037, -0.076, -0.009, 0.078,  0.006, 0.126,  0.01,   0.032,  0.185,  0.085, -0.021,
      0.012,  0.084,  0.224,  0.003,  0.006,  0.13,  -0.059, 0.001,  0.118,  0.088,  0.039, 0.097,
      -0.253, 0.132,  -0.066, -0.137, 0.058,  0.1,   -0.014, -0.078, 0.033,  0.025,  0.171, 0.105,
      0.049,  0.141,  0.009,  -0.063, 0.088,  0.088, 0.009,  -0.048, 0.053,  -0.219, 0.099, 0.079};
  const TestResult r = wilcoxon_signed_rank(d);
  EXPECT_EQ(r.statistic, 579.5);
  EXPECT_NEAR(r.p, 0.01351471122623962, kP);
}

TEST(Wilcoxon, AllZeroIsNoEvidence) {
  const TestResult r = wilcoxon_signed_rank({0, 0, 0});
  EXPECT_EQ(r.p, 1.0);
}

TEST(McNemar, MatchesStatsmodels) {
  // statsmodels mcnemar([[5, b], [c, 5]], exact=(b + c < 25), correction=True)
  struct Case {
    long b, c;
    double statistic, p;
  };
  for (const Case& k :
       {Case{3, 9, 3.0, 0.14599609375}, Case{10, 14, 10.0, 0.5412561893463135},
        Case{20, 35, 3.5636363636363635, 0.059058229090536506}, Case{0, 0, 0.0, 1.0},
        Case{7, 7, 7.0, 1.0}, Case{40, 12, 14.01923076923077, 0.00018095049043756332}}) {
    const TestResult r = mcnemar(k.b, k.c);
    EXPECT_NEAR(r.statistic, k.statistic, 1e-12) << k.b << " " << k.c;
    EXPECT_NEAR(r.p, k.p, kP) << k.b << " " << k.c;
  }
}

TEST(Holm, MatchesStatsmodels) {
  // statsmodels multipletests([0.01, 0.04, 0.03, 0.005, 0.5, 0.2], method="holm")[1]
  const std::vector<double> adjusted = holm({0.01, 0.04, 0.03, 0.005, 0.5, 0.2});
  const std::vector<double> expected = {0.05, 0.12, 0.12, 0.03, 0.5, 0.4};
  ASSERT_EQ(adjusted.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(adjusted[i], expected[i], 1e-15);
}

TEST(Holm, NanStaysOutOfTheCount) {
  const std::vector<double> adjusted = holm({0.01, NAN, 0.02});
  EXPECT_NEAR(adjusted[0], 0.02, 1e-15);
  EXPECT_TRUE(std::isnan(adjusted[1]));
  EXPECT_NEAR(adjusted[2], 0.02, 1e-15);
}

// Two folds of one run: a is always right, b right on half the rows.
std::vector<PairedRow> two_fold_rows() {
  std::vector<PairedRow> rows;
  int patient = 0;
  for (int fold = 0; fold < 2; ++fold)
    for (int i = 0; i < 30; ++i) {
      const int truth = i % 3;
      rows.push_back({0, fold, patient++, truth, truth, i % 2 == 0 ? truth : (truth + 1) % 3});
    }
  return rows;
}

TEST(ComparePaired, PerFoldDifferencesAndMcNemarCounts) {
  const auto rows = two_fold_rows();
  const PairedComparison c = compare_paired(rows, 0.5, {200, 7, 0.95});
  EXPECT_EQ(c.n_folds, 2);
  EXPECT_DOUBLE_EQ(c.qwk_a, 1.0);
  EXPECT_LT(c.qwk_b, 1.0);
  EXPECT_NEAR(c.qwk_diff, c.qwk_a - c.qwk_b, 1e-12);
  EXPECT_EQ(c.mcnemar_b, 30);  // a right where b is wrong: half of 60 rows
  EXPECT_EQ(c.mcnemar_c, 0);
  EXPECT_LT(c.mcnemar.p, 1e-6);
  EXPECT_LE(c.diff_ci_low, c.qwk_diff);
  EXPECT_GE(c.diff_ci_high, c.qwk_diff);
  EXPECT_GT(c.diff_ci_low, 0.0);  // a beats b in every resample
}

TEST(ComparePaired, SameSeedSameInterval) {
  const auto rows = two_fold_rows();
  const PairedComparison x = compare_paired(rows, 0.5, {300, 11, 0.95});
  const PairedComparison y = compare_paired(rows, 0.5, {300, 11, 0.95});
  EXPECT_EQ(x.diff_ci_low, y.diff_ci_low);
  EXPECT_EQ(x.diff_ci_high, y.diff_ci_high);
}

TEST(ComparePaired, IdenticalPredictionsAreNotDifferent) {
  auto rows = two_fold_rows();
  for (PairedRow& r : rows) r.pred_b = r.pred_a;
  const PairedComparison c = compare_paired(rows, 0.5, {100, 7, 0.95});
  EXPECT_EQ(c.qwk_diff, 0.0);
  EXPECT_EQ(c.corrected_t.p, 1.0);
  EXPECT_EQ(c.wilcoxon.p, 1.0);
  EXPECT_EQ(c.mcnemar.p, 1.0);
  EXPECT_EQ(c.diff_ci_low, 0.0);
  EXPECT_EQ(c.diff_ci_high, 0.0);
}

TEST(ComparePaired, UndefinedFoldsAreLeftOut) {
  auto rows = two_fold_rows();
  // Fold 1: every truth and every prediction of a and b is class 0: kappa undefined there.
  for (PairedRow& r : rows)
    if (r.fold == 1) r.truth = r.pred_a = r.pred_b = 0;
  const PairedComparison c = compare_paired(rows, 0.5, {50, 7, 0.95});
  EXPECT_EQ(c.n_folds, 1);
}

TEST(Agreement, YulesQDisagreementOracle) {
  // truth 0..; a right on rows 0-5, b right on rows 3-8, both wrong on 9.
  const std::vector<int> truth(10, 1);
  std::vector<int> a(10, 0);
  std::vector<int> b(10, 0);
  for (int i = 0; i <= 5; ++i) a[i] = 1;
  for (int i = 3; i <= 8; ++i) b[i] = 1;
  const CorrectnessTable t = correctness_table(truth, a, b);
  EXPECT_EQ(t.both, 3);
  EXPECT_EQ(t.a_only, 3);
  EXPECT_EQ(t.b_only, 3);
  EXPECT_EQ(t.neither, 1);
  const Agreement g = agreement(t);
  EXPECT_DOUBLE_EQ(g.yules_q, (3.0 * 1 - 3.0 * 3) / (3.0 * 1 + 3.0 * 3));
  EXPECT_DOUBLE_EQ(g.disagreement, 0.6);
  EXPECT_DOUBLE_EQ(g.error_overlap, 1.0 / 7);
  EXPECT_DOUBLE_EQ(g.oracle_accuracy, 0.9);
}

// Ten rows of probabilities (one with a zero, one with a tie for the top label) and their truth.
const Probabilities kProbs = {0.7, 0.2,  0.1,  0.1,  0.8, 0.1,  0.3,  0.3,  0.4, 0.05,
                              0.9, 0.05, 0.2,  0.5,  0.3, 0.6,  0.3,  0.1,  0.0, 0.1,
                              0.9, 0.34, 0.33, 0.33, 0.1, 0.45, 0.45, 0.25, 0.6, 0.15};
const std::vector<int> kTruth = {0, 1, 2, 1, 0, 1, 2, 0, 2, 1};

TEST(Calibration, MatchesSklearnAndTheEceDefinition) {
  const Probabilities& p = kProbs;
  const std::vector<int>& y = kTruth;
  const Calibration c = calibration(p, y);
  // sklearn.metrics.log_loss(y, P, eps=1e-15, labels=[0, 1, 2])
  EXPECT_NEAR(c.log_loss, 0.6908383956558478, 1e-12);
  // ((P - onehot(y))**2).sum(1).mean()
  EXPECT_NEAR(c.brier, 0.40284, 1e-12);
  // numpy: 15 bins (b/15, (b+1)/15], sum |B|/n |acc(B) - conf(B)| over top-label confidence
  EXPECT_NEAR(c.ece, 0.31100000000000005, 1e-12);
  long counted = 0;
  for (const ReliabilityBin& b : c.bins) counted += b.count;
  EXPECT_EQ(counted, 10);
  EXPECT_EQ(c.bins.size(), static_cast<size_t>(kCalibrationBins));
}

TEST(Calibration, PerfectConfidentPredictionsHaveNoError) {
  const Calibration c = calibration({1, 0, 0, 0, 0, 1}, {0, 2});
  EXPECT_EQ(c.ece, 0.0);
  EXPECT_EQ(c.brier, 0.0);
  EXPECT_NEAR(c.log_loss, 0.0, 1e-14);
}

TEST(Temperature, FitMatchesScipyMinimizeScalar) {
  const Probabilities& p = kProbs;
  const std::vector<int>& y = kTruth;
  // scipy.optimize.minimize_scalar(nll of softmax(log(max(P, 1e-15)) / exp(x)), bounds=(log 0.05,
  // log 20), method="bounded", xatol=1e-12): T = exp(x) = 0.6564631448340194, loss 0.66191359385.
  const double t = fit_temperature(p, y);
  EXPECT_NEAR(t, 0.6564631448340194, 1e-5);
  const Probabilities scaled = apply_temperature(p, t);
  EXPECT_NEAR(calibration(scaled, y).log_loss, 0.6619135938501644, 1e-9);
  EXPECT_NEAR(scaled[0], 0.83338572, 2e-6);
  EXPECT_LT(calibration(scaled, y).log_loss, calibration(p, y).log_loss);
}

TEST(Temperature, OneLeavesProbabilitiesAlone) {
  const Probabilities p = {0.7, 0.2, 0.1, 0.1, 0.8, 0.1};
  const Probabilities same = apply_temperature(p, 1.0);
  for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(same[i], p[i], 1e-12);
}

TEST(Metrics, WeightedF1MatchesSklearn) {
  // sklearn.metrics.f1_score(t, p, average="weighted")
  const std::vector<int> t = {0, 0, 1, 1, 1, 2, 2, 1, 0, 1};
  const std::vector<int> p = {0, 1, 1, 1, 2, 2, 1, 1, 0, 0};
  EXPECT_NEAR(weighted_f1(confusion_matrix(t, p)), 0.6, 1e-12);
  // cohen_kappa_score(t, p, weights="quadratic")
  EXPECT_NEAR(quadratic_weighted_kappa(confusion_matrix(t, p)), 0.5918367346938775, 1e-12);
}

TEST(Metrics, NanMeanStdSkipsNaN) {
  const MeanStd m = nan_mean_std({1.0, NAN, 3.0});
  EXPECT_DOUBLE_EQ(m.mean, 2.0);
  EXPECT_TRUE(std::isnan(nan_mean_std({NAN}).mean));
}

}  // namespace
}  // namespace woundphase::stats

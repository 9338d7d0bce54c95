// Statistics for comparing modality combinations on the same visit-wounds: paired tests over
// cross-validation folds (Nadeau-Bengio corrected t-test, Wilcoxon signed-rank), McNemar's test on
// pooled predictions, Holm's adjustment, the patient bootstrap of a QWK difference, error
// complementarity (Yule's Q, disagreement, oracle accuracy) and probability calibration (ECE,
// Brier score, log loss, temperature scaling). Each test follows the SciPy / statsmodels function
// named in its comment; the unit tests hold reference values computed with them.
#pragma once

#include <array>
#include <vector>

#include "woundphase/core.h"
#include "woundphase/metrics.h"

namespace woundphase::stats {

// --- Distributions ---------------------------------------------------------------------------

// Regularised incomplete beta function I_x(a, b) (scipy.special.betainc).
double incomplete_beta(double a, double b, double x);
// Two-sided p-value of Student's t with `df` degrees of freedom: 2 * scipy.stats.t.sf(|t|, df).
double student_t_two_sided(double t, double df);
// Upper tail of the standard normal: scipy.stats.norm.sf(z).
double normal_sf(double z);

// --- Paired tests ------------------------------------------------------------------------------

struct TestResult {
  double statistic = NAN;
  double p = NAN;  // NaN: the test is undefined for this input (too few values)
};

// Nadeau-Bengio corrected resampled t-test (Nadeau & Bengio 2003; Bouckaert & Frank 2004) on the
// per-fold differences of J = folds x runs train/test splits: t = mean / sqrt((1/J +
// n_test/n_train)
// * var), var the sample variance (ddof 1), J - 1 degrees of freedom, two-sided. The correction
// accounts for the overlap of training sets between folds. All differences exactly 0 gives t = 0,
// p = 1 (no evidence of a difference; SciPy would return NaN). Fewer than 2 differences: NaN.
TestResult corrected_resampled_ttest(const std::vector<double>& differences,
                                     double test_train_ratio);

// Wilcoxon signed-rank test as scipy.stats.wilcoxon(d) computes it with its defaults (SciPy 1.10:
// zero_method "wilcox", correction False, two-sided, method "auto"). At most 50 differences and
// none zero: the exact null distribution of W+ (tied differences get average ranks and W+ is
// truncated to an integer, as SciPy does). Otherwise zeros are dropped and the normal
// approximation with the tie correction of the variance is used. The statistic is min(W+, W-).
// All differences zero: statistic 0, p = 1 (SciPy raises an error there).
TestResult wilcoxon_signed_rank(const std::vector<double>& differences);

// McNemar's test (statsmodels.stats.contingency_tables.mcnemar) on the discordant pairs: `b` rows
// where only the first classifier is right, `c` where only the second is. Exact two-sided binomial
// test when b + c < kMcNemarExactBelow (statsmodels exact=True: statistic min(b, c)), else the
// chi-square with continuity correction (exact=False, correction=True: (|b - c| - 1)^2 / (b + c)).
inline constexpr long kMcNemarExactBelow = 25;
TestResult mcnemar(long b, long c);

// Holm's step-down adjustment (statsmodels multipletests(method="holm")). NaN p-values stay NaN
// and do not count among the tests.
std::vector<double> holm(const std::vector<double>& p);

// --- Paired comparison of two combinations ---------------------------------------------------

// One visit-wound of one test fold with both combinations' predicted classes.
struct PairedRow {
  int run = 0;
  int fold = 0;
  int patient = 0;  // patient index (the bootstrap draws patients)
  int truth = 0;
  int pred_a = 0;
  int pred_b = 0;
};

struct BootstrapSettings {
  int replicates = 1000;
  unsigned long long seed = 0;
  double level = 0.95;
};

struct PairedComparison {
  long n_rows = 0;     // distinct (patient-row) entries over all folds and runs
  int n_folds = 0;     // folds x runs with a defined QWK difference
  double qwk_a = NAN;  // mean over folds x runs of the per-fold QWK
  double qwk_b = NAN;
  double qwk_diff = NAN;  // mean of the per-fold differences a - b
  double diff_ci_low = NAN;
  double diff_ci_high = NAN;
  TestResult corrected_t;
  TestResult wilcoxon;
  TestResult mcnemar;  // pooled predictions of the first run
  long mcnemar_b = 0;  // first run: a right, b wrong
  long mcnemar_c = 0;  // first run: a wrong, b right
};

// Per (run, fold) QWK of both predictions, the tests above and a percentile bootstrap interval of
// the mean difference: each replicate draws patients with replacement (a patient's visit-wounds
// go together, in every run and fold they appear in), recomputes every fold's QWK of a and b on
// the drawn rows (the same draw for both) and averages the differences. Folds whose QWK is
// undefined (one class in truth and predictions) are left out of means and tests. The per-fold
// differences are rounded to 12 decimals first, so differences equal in exact arithmetic tie (and
// zeros are zeros) whatever the floating-point order of the kappa computation.
PairedComparison compare_paired(const std::vector<PairedRow>& rows, double test_train_ratio,
                                const BootstrapSettings& bootstrap);

// --- Complementarity of two classifiers ------------------------------------------------------

// Counts of rows by which of two classifiers is correct.
struct CorrectnessTable {
  long both = 0;     // both right
  long a_only = 0;   // a right, b wrong
  long b_only = 0;   // a wrong, b right
  long neither = 0;  // both wrong
  long total() const { return both + a_only + b_only + neither; }
};
CorrectnessTable correctness_table(const std::vector<int>& truth, const std::vector<int>& pred_a,
                                   const std::vector<int>& pred_b);

struct Agreement {
  double yules_q = NAN;          // (N11 N00 - N10 N01) / (N11 N00 + N10 N01); NaN if 0/0
  double disagreement = NAN;     // share of rows where exactly one is right
  double error_overlap = NAN;    // share of rows with an error where both are wrong
  double oracle_accuracy = NAN;  // share of rows where at least one is right
};
Agreement agreement(const CorrectnessTable& t);

// --- Calibration ---------------------------------------------------------------------------------

inline constexpr int kCalibrationBins = 15;

// One equal-width bin of top-label confidence, (lower, upper] (the first bin includes 0).
struct ReliabilityBin {
  double lower = 0;
  double upper = 0;
  long count = 0;
  double confidence = NAN;  // mean top-label probability of the bin's rows
  double accuracy = NAN;    // share of the bin's rows whose top label is the truth
};

struct Calibration {
  long n = 0;
  double ece = NAN;       // sum over bins of count/n * |accuracy - confidence|
  double brier = NAN;     // mean over rows of sum_k (p_k - [y = k])^2 (multi-class, in [0, 2])
  double log_loss = NAN;  // mean of -log(max(p_y, kLogLossFloor)) (sklearn.metrics.log_loss)
  std::vector<ReliabilityBin> bins;
};
inline constexpr double kLogLossFloor = 1e-15;

// Top-label calibration of row-major probabilities (rows x kNumClasses) against `truth`. The top
// label is the argmax (ties to the lower class), as predictions are made.
Calibration calibration(const Probabilities& probs, const std::vector<int>& truth,
                        int bins = kCalibrationBins);

// Temperature scaling (Guo et al. 2017) of probabilities: p_k^(1/T), renormalised (softmax of
// log p / T). T > 1 softens over-confident probabilities, T < 1 sharpens them. T = 1 returns
// the probabilities unchanged, bit for bit; rows of NaN stay NaN.
inline constexpr double kMinTemperature = 0.05;
inline constexpr double kMaxTemperature = 20.0;
Probabilities apply_temperature(const Probabilities& probs, double temperature);
// The temperature in [kMinTemperature, kMaxTemperature] minimising the mean log loss of `probs`
// against `truth` (golden-section search on log T, to 1e-6 relative); 1 for no rows.
double fit_temperature(const Probabilities& probs, const std::vector<int>& truth);

// --- Classification metrics ----------------------------------------------------------------------

// F1 per class weighted by the class's support (sklearn f1_score(average="weighted")); NaN when
// the confusion matrix is empty.
double weighted_f1(const Confusion& c);

// Percentile (q in [0, 1]) with linear interpolation between order statistics (numpy.percentile's
// default); NaN for no values. The values must not be NaN.
double percentile(std::vector<double> values, double q);

// Mean and sample standard deviation of the values that are not NaN (NaN when none).
MeanStd nan_mean_std(const std::vector<double>& values);

}  // namespace woundphase::stats

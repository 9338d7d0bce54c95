// The paired comparison of two combinations on the same visit-wounds, and the complementarity of
// two classifiers' errors.
#include <algorithm>  // for sort
#include <cmath>      // for isnan, floor
#include <map>
#include <random>  // for mt19937_64
#include <stdexcept>
#include <utility>  // for pair

#include "woundphase/stats.h"

namespace woundphase::stats {
namespace {

// Per fold: a's and b's confusion matrices.
struct FoldConfusions {
  Confusion a{};
  Confusion b{};
};

// Differences are rounded to this many decimals before they are tested: two QWK values equal in
// exact arithmetic can differ in their last bit depending on how they were computed, and a
// difference of 1e-17 instead of 0 would change Wilcoxon's zero and tie handling.
constexpr double kDifferenceScale = 1e12;

// Mean over folds of QWK(a) - QWK(b), leaving out folds where either is undefined; also the
// per-fold values (differences rounded to 12 decimals).
struct FoldDifferences {
  std::vector<double> qwk_a, qwk_b, diff;
};
FoldDifferences fold_differences(const std::vector<FoldConfusions>& folds) {
  FoldDifferences out;
  for (const FoldConfusions& f : folds) {
    const double a = quadratic_weighted_kappa(f.a);
    const double b = quadratic_weighted_kappa(f.b);
    if (std::isnan(a) || std::isnan(b)) continue;
    out.qwk_a.push_back(a);
    out.qwk_b.push_back(b);
    out.diff.push_back(std::round((a - b) * kDifferenceScale) / kDifferenceScale);
  }
  return out;
}

double mean_of(const std::vector<double>& v) { return v.empty() ? NAN : mean_std(v).mean; }

}  // namespace

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

PairedComparison compare_paired(const std::vector<PairedRow>& rows, double test_train_ratio,
                                const BootstrapSettings& bootstrap) {
  PairedComparison out;
  out.n_rows = static_cast<long>(rows.size());
  if (rows.empty()) return out;

  // Folds and patients in a fixed (sorted) order, so the result never depends on the row order.
  std::map<std::pair<int, int>, int> fold_index;
  std::map<int, int> patient_index;
  for (const PairedRow& r : rows) {
    fold_index.emplace(std::make_pair(r.run, r.fold), 0);
    patient_index.emplace(r.patient, 0);
  }
  int next = 0;
  for (auto& [key, index] : fold_index) index = next++;
  next = 0;
  for (auto& [key, index] : patient_index) index = next++;

  std::vector<FoldConfusions> folds(fold_index.size());
  // Each patient's rows as (fold index, row), for the bootstrap's inner loop.
  std::vector<std::vector<std::pair<int, const PairedRow*>>> rows_of_patient(patient_index.size());
  const int first_run = fold_index.begin()->first.first;
  for (const PairedRow& r : rows) {
    if (r.truth < 0 || r.truth >= kNumClasses || r.pred_a < 0 || r.pred_a >= kNumClasses ||
        r.pred_b < 0 || r.pred_b >= kNumClasses)
      throw std::invalid_argument("compare_paired: class index out of range");
    const int fold = fold_index.at({r.run, r.fold});
    ++folds[fold].a[r.truth][r.pred_a];
    ++folds[fold].b[r.truth][r.pred_b];
    rows_of_patient[patient_index.at(r.patient)].emplace_back(fold, &r);
    if (r.run == first_run) {
      const bool a_right = r.pred_a == r.truth;
      const bool b_right = r.pred_b == r.truth;
      if (a_right && !b_right) ++out.mcnemar_b;
      if (!a_right && b_right) ++out.mcnemar_c;
    }
  }

  const FoldDifferences d = fold_differences(folds);
  out.n_folds = static_cast<int>(d.diff.size());
  out.qwk_a = mean_of(d.qwk_a);
  out.qwk_b = mean_of(d.qwk_b);
  out.qwk_diff = mean_of(d.diff);
  out.corrected_t = corrected_resampled_ttest(d.diff, test_train_ratio);
  out.wilcoxon = wilcoxon_signed_rank(d.diff);
  out.mcnemar = mcnemar(out.mcnemar_b, out.mcnemar_c);

  // Patient bootstrap of the mean difference: the same draw of patients for a and b.
  std::mt19937_64 rng(bootstrap.seed);
  const size_t n_patients = rows_of_patient.size();
  std::vector<double> replicates;
  replicates.reserve(bootstrap.replicates);
  std::vector<FoldConfusions> drawn(folds.size());
  for (int rep = 0; rep < bootstrap.replicates; ++rep) {
    for (FoldConfusions& f : drawn) f = FoldConfusions{};
    for (size_t i = 0; i < n_patients; ++i) {
      for (const auto& [fold, r] : rows_of_patient[rng() % n_patients]) {
        FoldConfusions& f = drawn[fold];
        ++f.a[r->truth][r->pred_a];
        ++f.b[r->truth][r->pred_b];
      }
    }
    const double v = mean_of(fold_differences(drawn).diff);
    if (!std::isnan(v)) replicates.push_back(v);
  }
  const double tail = (1.0 - bootstrap.level) / 2.0;
  out.diff_ci_low = percentile(replicates, tail);
  out.diff_ci_high = percentile(replicates, 1.0 - tail);
  return out;
}

CorrectnessTable correctness_table(const std::vector<int>& truth, const std::vector<int>& pred_a,
                                   const std::vector<int>& pred_b) {
  if (truth.size() != pred_a.size() || truth.size() != pred_b.size())
    throw std::invalid_argument("correctness_table: vectors differ in length");
  CorrectnessTable t;
  for (size_t i = 0; i < truth.size(); ++i) {
    const bool a = pred_a[i] == truth[i];
    const bool b = pred_b[i] == truth[i];
    if (a && b)
      ++t.both;
    else if (a)
      ++t.a_only;
    else if (b)
      ++t.b_only;
    else
      ++t.neither;
  }
  return t;
}

Agreement agreement(const CorrectnessTable& t) {
  Agreement out;
  const double n = static_cast<double>(t.total());
  if (n == 0) return out;
  const double concordant = static_cast<double>(t.both) * static_cast<double>(t.neither);
  const double discordant = static_cast<double>(t.a_only) * static_cast<double>(t.b_only);
  if (concordant + discordant > 0)
    out.yules_q = (concordant - discordant) / (concordant + discordant);
  out.disagreement = static_cast<double>(t.a_only + t.b_only) / n;
  const long with_error = t.a_only + t.b_only + t.neither;
  if (with_error > 0) out.error_overlap = static_cast<double>(t.neither) / with_error;
  out.oracle_accuracy = static_cast<double>(t.both + t.a_only + t.b_only) / n;
  return out;
}

}  // namespace woundphase::stats

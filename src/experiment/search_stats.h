// Internal to src/experiment: the statistics a search writes beside its results — every
// combination scored on the common rows, paired comparisons (comparisons.csv), complementarity of
// errors (complementarity.csv) and calibration (results.csv's ece, brier, log_loss).
#pragma once

#include <string>
#include <vector>

#include "woundphase/search.h"
#include "woundphase/search_settings.h"
#include "woundphase/stats.h"

namespace woundphase {

// Bootstrap of the paired QWK differences: replicates and a fixed seed (the same draws for every
// pair, so intervals of different pairs are comparable).
inline constexpr int kComparisonBootstrapReplicates = 1000;
inline constexpr unsigned long long kComparisonBootstrapSeed = 20240611;
inline constexpr double kComparisonIntervalLevel = 0.95;
inline constexpr double kDefaultAlpha = 0.05;

// Per row of results.csv (same order as SearchResult::summary).
struct CombinationStats {
  std::string modalities;
  int n_common = 0;    // distinct visit-wounds among the common rows
  MeanStd qwk_common;  // per-fold QWK on the common rows, over folds x runs (NaN folds left out)
  double f1_weighted = NAN;  // per-fold support-weighted F1 on own rows, mean over folds x runs
  stats::Calibration calibration;  // own rows, pooled over every test fold and run
  // --calibrate temperature: the mean of the per-fold temperatures and the calibration after
  // scaling each fold's test probabilities by its own temperature.
  double temperature_mean = NAN;
  stats::Calibration calibrated;
};

struct ComparisonRow {
  std::string a;
  std::string b;
  int n_common = 0;  // distinct visit-wounds compared
  stats::PairedComparison result;
  double p_holm = NAN;
  bool significant = false;
};

struct ComplementarityRow {
  std::string a;
  std::string b;
  std::string kind;  // "modalities": two single modalities; "fusion": a fusion and one member
  stats::CorrectnessTable table;  // common rows, every run
  stats::Agreement agreement;
  double accuracy_a = NAN;
  double accuracy_b = NAN;
  double fusion_gain = NAN;  // kind "fusion": QWK on common rows, fusion minus its best member
};

struct SearchStatistics {
  bool common_differs = false;    // some combination's own rows are not the common rows
  double test_train_ratio = NAN;  // mean over folds x runs of n_test / n_train (all rows)
  double alpha = kDefaultAlpha;
  CalibrationMethod calibrate = CalibrationMethod::kNone;
  std::string top;  // the top-ranked combination (QWK on common rows)
  std::vector<CombinationStats> combinations;
  std::vector<ComparisonRow> comparisons;
  std::vector<ComplementarityRow> complementarity;
};

SearchStatistics compute_search_statistics(const Dataset& data, const SearchResult& result,
                                           double alpha,
                                           CalibrationMethod calibrate = CalibrationMethod::kNone);

// Fits the temperature of one job on its predictions for training patients (`fit_rows`: the
// validation or out-of-fold rows); 1 when there are none.
double fit_job_temperature(const Dataset& data, const std::vector<PredictionRow>& fit_rows);

// comparisons.csv and complementarity.csv as text.
std::string comparisons_csv(const SearchStatistics& s);
std::string complementarity_csv(const SearchStatistics& s);

}  // namespace woundphase

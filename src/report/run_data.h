// Internal to src/report: a search output folder read into memory, and the statistics the report
// derives from it (pooled confusion matrices, the patient bootstrap).
#pragma once

#include <array>
#include <map>
#include <nlohmann/json.hpp>  // for json (settings.json)
#include <string>
#include <vector>

#include "woundphase/core.h"
#include "woundphase/metrics.h"

namespace woundphase::report {

// One row of results.csv.
struct ResultRow {
  std::string modalities;
  long n_samples = 0;
  MeanStd qwk, kappa;
  double accuracy = 0;
  double macro_f1 = 0;
  std::array<double, kNumClasses> f1{};
  // Columns a search adds for the paired statistics (NaN / 0 when the file predates them).
  bool has_common = false;
  long n_common = 0;
  MeanStd qwk_common{NAN, NAN};
  double f1_weighted = NAN;
  double ece = NAN;
  double brier = NAN;
  double log_loss = NAN;
  // --calibrate temperature: mean temperature and the calibration after scaling (NaN otherwise).
  bool has_calibrated = false;
  double temperature = NAN;
  double ece_calibrated = NAN;
  double brier_calibrated = NAN;
  double log_loss_calibrated = NAN;
};

// One row of comparisons.csv: combination a against combination b on the common rows.
struct ComparisonRow {
  std::string a;
  std::string b;
  long n_common = 0;
  double qwk_a = NAN;
  double qwk_b = NAN;
  double qwk_diff = NAN;
  double diff_ci_low = NAN;
  double diff_ci_high = NAN;
  double p_corrected_t = NAN;
  double p_wilcoxon = NAN;
  double p_mcnemar = NAN;
  double p_holm = NAN;
  bool significant = false;
  double alpha = NAN;
};

// One row of complementarity.csv.
struct ComplementarityRow {
  std::string a;
  std::string b;
  std::string kind;  // "modalities" or "fusion"
  long n = 0;
  double accuracy_a = NAN;
  double accuracy_b = NAN;
  double error_overlap = NAN;
  double yules_q = NAN;
  double disagreement = NAN;
  double oracle_accuracy = NAN;
  double fusion_gain = NAN;
};

// The per-stage QWK columns folds.csv may carry (image branches), in table order.
inline constexpr int kNumStages = 3;
inline constexpr std::array<const char*, kNumStages> kStageColumns = {"qwk_pretrain", "qwk_stage1",
                                                                      "qwk_stage2"};

// One row of folds.csv.
struct FoldRow {
  int run = 0;
  int fold = 0;
  std::string modalities;
  long n_train = 0;
  long n_test = 0;
  double qwk = 0;
  double kappa = 0;
  double accuracy = 0;
  double macro_f1 = 0;
  std::array<double, kNumStages> stage_qwk{NAN, NAN, NAN};  // NaN: blank or no such column
};

// One row of predictions.csv or oof_predictions.csv.
struct PredictionRow {
  int run = 0;
  int fold = 0;
  std::string modalities;
  std::string patient;
  std::string appt;
  std::string dfu;
  int label = 0;                                        // class index
  int pred = 0;                                         // class index
  std::array<double, kNumClasses> prob{NAN, NAN, NAN};  // NaN when the file has no prob columns
};

// One row of splits.csv.
struct SplitRow {
  int run = 0;
  std::string patient;
  int fold = 0;  // -1: left out by --data-percentage
};

// One row of training_curves.csv.
struct CurvePoint {
  int run = 0;
  int fold = 0;
  std::string modalities;
  std::string component;
  int epoch = 0;
  double loss = NAN;     // NaN when blank
  double val_qwk = NAN;  // NaN when blank
};

// One row of importance.csv: a clinical feature's importance on one test fold.
struct ImportanceRow {
  int run = 0;
  int fold = 0;
  std::string feature;
  double mean_abs_contribution = NAN;
  std::string scale;  // probability | margin
  double permutation_qwk_drop = NAN;
  int permutations = 0;  // the permutations averaged in the drop
};

// One row of degraded.csv: a fused combination on its test rows of one fold, predicted with every
// modality and from one sub-combination.
struct DegradedRow {
  int run = 0;
  int fold = 0;
  std::string modalities;
  std::string used;
  int n = 0;
  double qwk_used = NAN;
  double qwk_all = NAN;
};

struct RunData {
  std::vector<std::string> class_labels;  // from settings.json's schema, else I, P, R
  bool has_settings = false;
  nlohmann::json settings;  // settings.json as written by the search
  std::vector<ResultRow> results;
  std::vector<FoldRow> folds;
  bool has_stage_columns = false;
  std::vector<PredictionRow> predictions;
  std::vector<PredictionRow> oof_predictions;
  bool has_splits = false;
  std::vector<SplitRow> splits;
  bool has_curves = false;
  std::vector<CurvePoint> curves;
  bool has_skipped_images = false;  // skipped_images.csv (searches with image modalities)
  std::map<std::string, long> skipped_by_modality;
  bool has_comparisons = false;
  std::vector<ComparisonRow> comparisons;
  bool has_complementarity = false;
  std::vector<ComplementarityRow> complementarity;
  bool has_importance = false;  // importance.csv (searches with metadata)
  std::vector<ImportanceRow> importance;
  bool has_degraded = false;  // degraded.csv
  std::vector<DegradedRow> degraded;
  std::vector<std::string> files_read;  // names of the input files used, in reading order
};

// Reads the folder. Required: results.csv, folds.csv, predictions.csv; the rest is optional.
// Throws InputError naming the file, line and column of the first problem.
RunData load_run(const std::string& run_dir);

// QWK of the test predictions pooled over the folds of each run, averaged over runs, with a
// percentile bootstrap interval: each replicate draws the patients with replacement (a patient's
// visit-wounds go together), recomputes every run's pooled QWK on the drawn patients and averages
// over runs. Deterministic for a given seed.
struct Interval {
  double estimate = NAN;
  double lower = NAN;
  double upper = NAN;
  int replicates = 0;
  int patients = 0;
};
Interval bootstrap_pooled_qwk(const std::vector<const PredictionRow*>& predictions, int replicates,
                              unsigned long long seed, double level = 0.95);

// Confusion matrix ([true][pred]) of the given predictions.
Confusion pooled_confusion(const std::vector<const PredictionRow*>& predictions);

}  // namespace woundphase::report

// The patient cross-validated search over modality combinations: what one evaluated (run, fold,
// combination) job gives, the jobs a cache or another process may compute, the search itself and
// its outputs.
#pragma once

#include <array>
#include <functional>  // for function
#include <optional>
#include <string>
#include <utility>  // for pair
#include <vector>

#include "woundphase/dataset.h"   // for Dataset, Schema
#include "woundphase/decision.h"  // for Decision
#include "woundphase/images.h"    // for SkippedImage
#include "woundphase/metrics.h"   // for Scores, MeanStd
#include "woundphase/search_settings.h"
#include "woundphase/tabular.h"  // for LabelIssue

namespace woundphase {

// The name of the late-fusion ensemble's row (results.csv, folds.csv, predictions).
inline constexpr char kEnsembleName[] = "ensemble";

// The test-fold scores of one training stage of a fused combination:
//   pretrain  the combination's image branch with the best inner-validation QWK, alone
//   stage1    the fusion head on cached features (backbones frozen)
//   stage2    head and top of the backbones fine-tuned together (only when asked)
// All on the same test visit-wounds as the combination's final scores. `kept`: this stage's model
// gave the final predictions.
struct StageResult {
  std::string stage;
  Scores scores;
  double val_qwk = 0;  // on the inner validation patients: what decided between the stages
  bool kept = false;
};

// One evaluated (run, fold, combination).
struct FoldResult {
  int run = 0;
  unsigned long long seed = 0;
  int fold = 0;
  std::string modalities;
  int n_train = 0;
  int n_test = 0;
  Scores scores;
  // The rule that made the predictions scored here, with the thresholds fitted on this fold's
  // training patients (out-of-fold or validation predictions) for --decision thresholds. The
  // stages' scores stay argmax.
  Decision decision;
  // --tune, the metadata combination: the configuration chosen on this fold's training patients
  // (TunedConfig::to_json, as text); its decision rule replaces --decision for this row.
  std::string tuned;
  std::vector<StageResult> stages;  // fused combinations only
  // The stage's test QWK, NaN when the combination has no such stage.
  double stage_qwk(const std::string& stage) const;
};

// Label cleaning's verdict on one visit-wound: honest, in the fit of (run, fold)'s metadata branch
// (run and fold -1: the optimistic protocol's flags, from the outer CV of all runs).
struct CleaningRow {
  int run = 0;
  int fold = 0;
  int row = 0;  // dataset row
  LabelIssue issue;
};

// One predicted visit-wound (test rows, or out-of-fold rows of the training patients).
struct PredictionRow {
  int run = 0;
  int fold = 0;
  std::string modalities;
  int row = 0;  // dataset row
  std::array<double, kNumClasses> prob{};
  int pred = 0;
};

struct CombinationSummary {
  std::string modalities;
  int n_samples = 0;  // distinct visit-wounds evaluated
  MeanStd qwk, kappa, accuracy, macro_f1;
  std::array<double, kNumClasses> f1{};  // mean over folds x runs
};

// One epoch of a network's training, as reported and stored.
struct CurvePoint {
  std::string component;  // e.g. "thermal_map" (an image branch) or a fusion head
  int epoch = 0;
  double loss = 0;
  double val_loss = 0;
  double val_qwk = 0;
};

// Per class (class index order).
using ClassCounts = std::array<long, kNumClasses>;
inline long injected_total(const ClassCounts& counts) {
  long n = 0;
  for (long c : counts) n += c;
  return n;
}

// Generated images (--gen-aug-dir) that training batches of one fold received, per class
// (generated_images.csv). Validation and test images are never replaced.
struct GeneratedCount {
  int run = 0;
  int fold = 0;
  std::string combination;  // the fused combination; for a branch row, the branch's modality
  std::string modality;
  std::string stage;  // kGeneratedBranch (the fold's image branch) or kGeneratedStage2
  ClassCounts injected{};
};
inline constexpr char kGeneratedBranch[] = "branch";
inline constexpr char kGeneratedStage2[] = "stage2";

// The report's ranking of the combinations, as results.csv records it (rank, 1 = best).
struct SearchRanking {
  std::vector<int> rank;    // per SearchResult::summary row
  std::vector<double> qwk;  // the QWK that ranked each row
  bool on_common = false;   // ranked on the common rows (some combination's own rows differ)
  int n_common = 0;         // visit-wounds of the common rows (the first combination's count)
};
struct SearchResult {
  std::vector<std::vector<int>> fold_of_patient;  // [run][patient]; -1 = left out by percentage
  std::vector<unsigned long long> run_seeds;
  std::vector<FoldResult> folds;
  std::vector<PredictionRow> predictions;      // test-fold predictions
  std::vector<PredictionRow> oof_predictions;  // out-of-fold probabilities of training rows
  // --clean: every training row's verdict per (run, fold) (honest) or once (optimistic).
  std::vector<CleaningRow> cleaning;
  std::string cleaning_label;  // "" or e.g. "confident, drop, honest" (results.csv, the table)
  std::vector<std::pair<FoldResult, CurvePoint>> curves;  // training curves (run/fold/modalities)
  std::vector<GeneratedCount> generated;  // --gen-aug-dir: each branch once, each stage 2
  std::vector<CombinationSummary> summary;
  SearchRanking ranking;  // set when a stored search writes its outputs
  // The frames the search could not use (missing, oversized, corrupt), when it read images; under
  // mpirun only a rank that decodes images knows them, so the coordinator's list stays unset.
  std::optional<std::vector<SkippedImage>> skipped_images;
};

// What long work reports as it goes. Job events carry done/total (a progress bar can use them);
// notes (total = 0) are plain messages.
struct ProgressEvent {
  int done = 0;
  int total = 0;
  std::string message;
  // A step inside the current job (an epoch, a modality decoded): done/total count the step's
  // units; shown on the progress bar, not logged (the job's own lines are).
  bool step = false;
};
using ProgressFn = std::function<void(const ProgressEvent& event)>;

// A finished (run, fold, combination) job.
struct JobRecord {
  FoldResult result;
  std::vector<PredictionRow> test;
  std::vector<PredictionRow> oof;
  std::vector<CurvePoint> curve;
  std::vector<CleaningRow> cleaning;      // jobs that fitted the metadata branch with --clean
  std::vector<GeneratedCount> generated;  // --gen-aug-dir: its branches' and its stage 2's
  std::string weights;  // saved network of an image job ("" for tree models: they refit in ms)
  double seconds = 0;
  int attempt = 1;  // how many times this job was computed (resume must not redo finished jobs)
};

// Lets a caller reuse finished jobs and record new ones as they finish (the store does both).
class JobCache {
 public:
  virtual ~JobCache() = default;
  virtual std::optional<JobRecord> find(int run, int fold, const std::string& modalities) = 0;
  virtual void save(const JobRecord& job) = 0;
  // Called once per run with the run's patient -> fold assignment.
  virtual void splits(int run, const std::vector<int>& fold_of_patient) = 0;
  // Where the image branch of (run, fold) for `modality` saves its network ("" = not saved).
  virtual std::string weights_path(int /*run*/, int /*fold*/, const std::string& /*modality*/) {
    return "";
  }
  // Whether a branch network saved by an earlier attempt of this run may be loaded instead of
  // trained (training it again would give the same network: auto and from_models say yes,
  // from_data retrains).
  virtual bool reuse_networks() { return false; }
};

// Computes a search's jobs on other processes and returns the result run_search gives in one:
// Cluster (cluster.h, rank 0 of an mpirun) is one. An interface, so that the search does not
// depend on the cluster stage (src/cluster/), which depends on the search.
class RemoteSearch {
 public:
  virtual ~RemoteSearch() = default;
  virtual SearchResult run(const Dataset& data, const SearchSettings& settings,
                           const ProgressFn& progress, JobCache* cache) = 0;
};

// Runs every (run, fold, combination) job; with `cache`, finished jobs are taken from it and new
// ones handed to it. Results do not depend on which jobs came from the cache. With `remote`
// (rank 0 of an mpirun), the jobs run on the other ranks (cluster.h); the result is the same.
SearchResult run_search(const Dataset& data, const SearchSettings& settings,
                        const ProgressFn& progress = nullptr, JobCache* cache = nullptr,
                        RemoteSearch* remote = nullptr);

// Per-combination means and standard deviations over folds x runs.
std::vector<CombinationSummary> summarise(const std::vector<Combination>& combinations,
                                          const std::vector<FoldResult>& folds,
                                          const std::vector<PredictionRow>& predictions);

// The same for rows named directly (the ensemble's row is not a combination).
std::vector<CombinationSummary> summarise_named(const std::vector<std::string>& names,
                                                const std::vector<FoldResult>& folds,
                                                const std::vector<PredictionRow>& predictions);

// Writes results.csv, folds.csv, predictions.csv, oof_predictions.csv, splits.csv,
// comparisons.csv and complementarity.csv (and skipped_images.csv when the result lists skipped
// frames) into `out_dir` (`alpha`: the comparisons' significance level). Each file is written to a
// temporary name and renamed, so readers never see a partial file and a failed run leaves earlier
// outputs untouched.
// Returns the ranking results.csv records.
SearchRanking write_search_outputs(const Dataset& data, const SearchResult& result,
                                   const std::string& out_dir, double alpha = 0.05,
                                   CalibrationMethod calibrate = CalibrationMethod::kNone);
// degraded.csv (written by write_search_outputs): for each fused combination and each
// sub-combination of it the search also evaluated, per run and fold, `run, fold, modalities, used,
// n, qwk_used, qwk_all`: the QWK on the fused combination's test visit-wounds when predicted from
// the sub-combination only (what a bundle falls back to when the other images are missing) and
// with every modality.
void write_degraded_csv(const Dataset& data, const SearchResult& result, const std::string& path);
// The results table as printed at the end of a search: rows in `ranking`'s order (when given),
// the best marked.
std::string format_results_table(const SearchResult& result, const Schema& schema,
                                 const SearchRanking* ranking = nullptr);

}  // namespace woundphase

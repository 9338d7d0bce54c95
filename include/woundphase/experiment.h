// Experiments: the patient cross-validated search over modality combinations, fitting on all
// labelled patients (train) and applying a model bundle to new patients (predict).
#pragma once

#include <array>
#include <cmath>              // for NAN
#include <functional>         // for function
#include <map>                // for map (per-modality image knobs)
#include <memory>             // for unique_ptr
#include <nlohmann/json.hpp>  // for json (bundle manifest)
#include <optional>
#include <string>
#include <vector>

#include "woundphase/core.h"
#include "woundphase/dataset.h"
#include "woundphase/decision.h"
#include "woundphase/ensemble.h"
#include "woundphase/files.h"
#include "woundphase/fusion.h"
#include "woundphase/images.h"
#include "woundphase/metrics.h"
#include "woundphase/sampling.h"
#include "woundphase/tabular.h"
#include "woundphase/vision.h"

namespace woundphase {

// The study's modalities, in the fixed order in which combinations are written.
enum class Modality { kMetadata, kThermalMap, kDepthMap, kDepthRgb, kThermalRgb };
inline constexpr int kNumModalities = 5;
std::string to_string(Modality m);
bool is_image(Modality m);
Modality parse_modality(const std::string& text);  // throws InputError listing the names

// A combination is a non-empty set of modalities, written '+'-joined in the fixed order.
using Combination = std::vector<Modality>;
std::string to_string(const Combination& c);
// Parses "--modalities": comma-separated combinations or "all" (every non-empty combination of
// `available`). Duplicates are removed; order of first appearance is kept.
std::vector<Combination> parse_combinations(const std::string& text,
                                            const std::vector<Modality>& available);
// Every non-empty proper subset of `c` (in the fixed order within each), by subset bits: for a
// visit-wound that lacks some of the combination's modalities.
std::vector<Combination> sub_combinations(const Combination& c);

// How the metadata (tree) branch is fitted. Shared by search and train so both fit the same way.
struct TabularSettings {
  TreeModelKind model = TreeModelKind::kForest;  // rf | gbdt | stack
  bool ordinal = false;  // Frank & Hall cumulative binary models (every tree model of --model)
  // Honest label cleaning of every fit of the branch (tabular.h, make_cleaning): flags come from
  // that fit's own training rows' inner out-of-fold probabilities.
  CleanSettings clean;
  ForestSettings forest;
  GbdtSettings gbdt;
  SamplingSettings sampling;
  int inner_folds =
      5;         // flags, bounds and meanings: tabular_options() (src/experiment/options.cpp)
  int tune = 0;  // --tune N: nested random search of N configurations (tune_metadata)
  double tune_budget = 0;  // seconds per tuning (per fold); 0: no limit
  void validate() const;
};

// How an image modality's branch is trained in a search (one network per modality and fold).
struct ImageBranchSettings {
  VisionSettings vision;          // backbone, image size, epochs, loss, ... (vision.h)
  PreprocessSettings preprocess;  // crop rules, map decoding, missing-image policy (images.h)
  AugmentSettings augment = AugmentSettings::training();  // training batches only
  // Flags, bounds and meanings: image_branch_options() (src/experiment/options.cpp).
  double validation_fraction = 0.2;
  std::string cache_dir;             // "" = memory only
  std::string gen_aug_dir;           // "" = none
  double gen_aug_probability = 0.5;  // per training batch
  double gen_aug_mix = 0.25;         // share of such a batch's images replaced
  // Per-modality values of the networks' knobs, over `vision`: modality ("depth_rgb") -> flag
  // ("--backbone") -> value text, from `--backbone depth_rgb=torchscript:rgb.pt,thermal_map=
  // densenet121` (set_image_option_text). Recorded in settings.json, and in bundles through each
  // branch's own settings.
  std::map<std::string, std::map<std::string, std::string>> per_modality;
  VisionSettings vision_for(ImageModality m) const;  // `vision` with m's own values
  void validate() const;
};

// Post-hoc calibration of the predicted probabilities (--calibrate). `temperature`: one temperature
// per fold (and per combination), fitted on predictions for training patients only — the
// validation patients' (image and fused combinations) or the out-of-fold ones (metadata) — never on
// the fold it is applied to.
enum class CalibrationMethod { kNone, kTemperature };
std::string to_string(CalibrationMethod m);
CalibrationMethod parse_calibration(const std::string& text);  // InputError naming --calibrate

// Where label-cleaning flags come from. kHonest: inside each training fold
// (TabularSettings::clean), test folds untouched. kOptimistic: the predecessor's protocol, kept
// only to measure its optimism — a first search (no cleaning) counts each visit-wound's errors over
// the outer CV's own test folds, the flagged visit-wounds are removed from the study (training and
// test rows alike), and the search is run again on the same folds. Its outputs say "optimistic"
// wherever they appear.
enum class CleanProtocol { kHonest, kOptimistic };
std::string to_string(CleanProtocol p);

struct SearchSettings {
  std::vector<Combination> combinations = {{Modality::kMetadata}};
  // Flags, bounds and meanings: search_options() (src/experiment/options.cpp).
  int cv_folds = 5;
  int runs = 1;
  unsigned long long seed = 42;  // run r uses seed + r
  double train_fraction = 0.8;
  double data_percentage = 100;
  bool shuffle_labels = false;
  double alpha = 0.05;
  // Reported before and after in results.csv; predictions.csv keeps the uncalibrated ones.
  CalibrationMethod calibrate = CalibrationMethod::kNone;
  // How every combination's and the ensemble's probabilities become phases (decision.h);
  // thresholds are fitted per (run, fold, combination) on its training patients' predictions.
  DecisionRule decision = DecisionRule::kArgmax;
  CleanProtocol clean_protocol = CleanProtocol::kHonest;
  // Visit-wounds left out of every fold (the optimistic protocol's second search); not an option.
  std::vector<int> excluded_rows;
  int threads = 2;
  TabularSettings tabular;
  ImageBranchSettings images;
  FusionSettings fusion;      // heads of fused combinations (fusion.h)
  EnsembleSettings ensemble;  // late fusion over the combinations (ensemble.h)
  bool uses_images() const;   // some combination has an image modality
  bool uses_fusion() const;   // some combination has several modalities
  void validate() const;
  nlohmann::json to_json() const;
};

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

// The metadata branch fitted on some rows: encoder (categories from those rows only) and model.
struct MetadataModel {
  FeatureEncoder encoder;
  std::unique_ptr<TreeModel> model;
};

// --tune: the configuration chosen for the metadata branch on some training rows.
struct TunedConfig {
  TabularSettings settings;  // what the branch is then fitted with (tune 0)
  DecisionRule decision = DecisionRule::kArgmax;
  double inner_qwk = NAN;  // its QWK on the inner out-of-fold predictions
  int trials = 0;          // configurations scored (fewer than --tune when the budget ran out)
  double seconds = 0;
  nlohmann::json to_json() const;  // the settings that were drawn, the rule, the score
};
// A seeded random search over the forest's and boosting's parameters, the model (rf, gbdt, with
// or without --ordinal), resampling, class weights and the decision rule. Trial 0 is `base` with
// `base_decision` itself; each trial is scored by the QWK of its out-of-fold probabilities on
// `rows` (fit_metadata's: out-of-bag or inner patient folds, so scored on patients each model did
// not see), decided by its rule (thresholds cross-fitted over two halves of the patients, each
// half's cuts fitted on the other). Highest QWK wins, ties the earlier trial. Stops drawing when
// `base.tune_budget` seconds are spent (at least one trial).
TunedConfig tune_metadata(const Dataset& data, const std::vector<int>& rows,
                          const std::vector<int>& labels, const TabularSettings& base,
                          DecisionRule base_decision, unsigned long long seed);

// Fits the metadata branch on `rows` of `data` with `labels` (one per entry of `rows`; the
// shuffled-label control passes permuted labels). Resampling happens here, on these rows only.
// With `oof` non-null, also returns out-of-fold probabilities for every row in `rows`.
MetadataModel fit_metadata(const Dataset& data, const std::vector<int>& rows,
                           const std::vector<int>& labels, const TabularSettings& settings,
                           unsigned long long seed, Probabilities* oof = nullptr);
Probabilities predict_metadata(const MetadataModel& model, const Dataset& data,
                               const std::vector<int>& rows);

// Model bundles: a folder with bundle.json (schema, encodings, tree model, settings, versions),
// the image branches' networks (branch_<modality>.pt) and the fusion head (fusion.pt), and
// train_predictions.csv: the training cohort's probabilities computed in the training process,
// which predict on the same cohort reproduces from the saved files.
//
// Training fits every step on all labelled patients the way one search fold fits it on its
// training patients: an inner patient split (validation_fraction) early-stops the networks and
// decides stage 2; the metadata branch gives the head out-of-fold probabilities.
struct TrainSettings {
  Combination combination = {Modality::kMetadata};
  unsigned long long seed = 42;
  int threads = 2;  // [1, 256]
  TabularSettings tabular;
  ImageBranchSettings images;  // image combinations
  FusionSettings fusion;       // fused combinations
  // temperature: fitted on the training process's validation (or out-of-fold) predictions, stored
  // in the bundle and applied by predict.
  CalibrationMethod calibrate = CalibrationMethod::kNone;
  // thresholds: fitted on the same training-process predictions (after the temperature), stored
  // in the bundle and applied by predict.
  DecisionRule decision = DecisionRule::kArgmax;
  void validate() const;
};
// The knobs' declarations (options.h): flags, bounds, meanings; each includes its parts' tables
// (tabular: sampling, forest, gbdt; image branch: vision, preprocessing) for the command line.
template <typename S>
class OptionTable;
template <typename S>
struct Option;
const OptionTable<TabularSettings>& tabular_options();
const OptionTable<ImageBranchSettings>& image_branch_options();
const OptionTable<SearchSettings>& search_options();  // the search's own knobs (cv-folds, ...)
const OptionTable<TrainSettings>& train_options();
// Sets image knob `o` from its command-line or config text. A network knob (the recorded ones of
// vision_options() but --image-size) may give per-modality values, "MODALITY=VALUE" items joined by
// commas, after an optional default for the others: "simple,depth_rgb=resnet18" (a value may hold
// commas itself: "--projection depth_rgb=128,32,thermal_map=64"). InputError naming the option.
void set_image_option_text(const Option<ImageBranchSettings>& o, ImageBranchSettings& s,
                           const std::string& text);
// The flags of those network knobs ("--backbone", ...), in the registry's order: what a config
// file's [SUBCOMMAND.MODALITY] tables may set.
std::vector<std::string> per_modality_flags();

void train_bundle(const Dataset& data, const TrainSettings& settings, const std::string& bundle_dir,
                  const ProgressFn& progress = nullptr);

struct Bundle {
  Schema schema;
  Combination combination;
  std::optional<MetadataModel> metadata;              // when the combination has metadata
  std::vector<std::unique_ptr<ImageModel>> branches;  // its image modalities, in its order
  std::unique_ptr<FusionModel> head;                  // fused combinations
  // Heads of the fused sub-combinations (bundles of 3 or more modalities): a visit-wound that
  // lacks some images is predicted from the modalities it has.
  struct SubHead {
    Combination combination;
    std::unique_ptr<FusionModel> head;
  };
  std::vector<SubHead> sub_heads;
  PreprocessSettings preprocess;  // how its images are cropped and decoded
  double temperature = 1.0;       // probabilities are scaled by it (1: not calibrated)
  Decision decision;              // how the scaled probabilities become phases
  nlohmann::json manifest;        // everything else recorded at training time
  std::string dir;                // the folder it was loaded from
};
Bundle load_bundle(const std::string& bundle_dir);
// Writes patient, appt, dfu, [label,] prob_I, prob_P, prob_R, pred, modalities_used for every row
// of `data`. A row that lacks some of the combination's modalities is predicted from those it has
// (the tree model, an image branch or a sub-combination head), named in modalities_used; a row with
// none of them has blank probabilities and prediction (and is not scored). Returns the
// probabilities (NaN for such rows); `scores` is filled when the data has labels.
Probabilities predict_bundle(const Bundle& bundle, const Dataset& data, const std::string& out_csv,
                             Scores* scores, int threads = 2);

// What predict writes besides predictions.csv; every output goes into the folder of --out.
struct PredictSettings {
  // explanations.csv: the metadata branch's TreeSHAP contributions per visit-wound and class
  // (explain.h). Flags and meanings: predict_options() (src/experiment/options.cpp).
  bool explain = false;
  // predictions.html: a self-contained case page, a card per visit-wound (report.h).
  bool report = false;
  // Only visit-wounds with every modality of the combination get a prediction (as before
  // sub-combination fallbacks existed).
  bool require_all = false;
  int threads = 2;
  void validate() const;
};
const OptionTable<PredictSettings>& predict_options();

// predict_bundle, then the outputs `settings` asks for; `modalities_used` (optional) receives each
// row's modalities_used.
Probabilities predict_bundle(const Bundle& bundle, const Dataset& data, const std::string& out_csv,
                             Scores* scores, const PredictSettings& settings,
                             std::vector<std::string>* modalities_used = nullptr);

}  // namespace woundphase

// What a search (and train) fits with: the metadata branch's, the image branches' and the
// search's own settings. Flags, bounds and meanings: experiment_options.h.
#pragma once

#include <map>  // for map (per-modality image knobs)
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "woundphase/decision.h"  // for DecisionRule
#include "woundphase/ensemble.h"  // for EnsembleSettings
#include "woundphase/fusion.h"    // for FusionSettings
#include "woundphase/images.h"    // for PreprocessSettings, AugmentSettings
#include "woundphase/modality.h"
#include "woundphase/sampling.h"  // for SamplingSettings
#include "woundphase/tabular.h"   // for TreeModelKind, ForestSettings, GbdtSettings, CleanSettings
#include "woundphase/vision.h"    // for VisionSettings

namespace woundphase {

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

}  // namespace woundphase

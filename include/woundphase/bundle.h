// Model bundles: training every step of a combination on all labelled patients into a folder
// (train), loading it, and applying it to new patients (predict).
#pragma once

#include <memory>  // for unique_ptr
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "woundphase/dataset.h"
#include "woundphase/decision.h"  // for Decision, DecisionRule
#include "woundphase/fusion.h"    // for FusionModel
#include "woundphase/images.h"    // for PreprocessSettings
#include "woundphase/metadata_branch.h"
#include "woundphase/metrics.h"  // for Scores
#include "woundphase/search.h"   // for ProgressFn, CalibrationMethod
#include "woundphase/vision.h"   // for ImageModel

namespace woundphase {

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

// FusionSettings: names, parsing and validation. Torch-free: it is compiled into the experiment
// stage too, so options are checked without loading libtorch.
#include <fmt/format.h>

#include <cmath>  // for isfinite
#include <string>
#include <vector>

#include "woundphase/enum_names.h"
#include "woundphase/fusion.h"
#include "woundphase/options.h"

namespace woundphase {
namespace {

constexpr int kMaxEpochs = 10000;
constexpr int kMinBatch = 2;  // a stage-2 step runs the backbones' batch norms: two images at least
constexpr int kMaxBatch = 4096;
constexpr double kMinStage2LearningRate = 1e-5;
constexpr double kMaxFocalGamma = 10;
constexpr double kMaxDropout = 0.9;
constexpr int kMaxThreads = 256;

constexpr EnumNames<FusionKind, 5> kKinds("--fusion",
                                          {{{FusionKind::kFixed, "fixed"},
                                            {FusionKind::kLearnedWeights, "learned_weights"},
                                            {FusionKind::kProbConcat, "prob_concat"},
                                            {FusionKind::kFeatureConcat, "feature_concat"},
                                            {FusionKind::kGated, "gated"}}});

}  // namespace

FusionKind parse_fusion(const std::string& text) { return kKinds.parse(text); }

const char* to_string(FusionKind kind) { return kKinds.name(kind); }

const OptionTable<FusionSettings>& fusion_options() {
  static const OptionTable<FusionSettings> table = [] {
    using S = FusionSettings;
    OptionTable<S> t;
    t.add_choice("--fusion", &S::kind,
                 {FusionKind::kFixed, FusionKind::kLearnedWeights, FusionKind::kProbConcat,
                  FusionKind::kFeatureConcat, FusionKind::kGated},
                 "the head of a fused combination (README: Fused combinations)")
        .json_key("kind");
    t.add("--rf-weight", &S::rf_weight, "fixed: the metadata's weight (images share the rest)")
        .range(0, 1);
    t.add("--stage1-epochs", &S::stage1_epochs, "stage 1: head epochs on cached features")
        .range(1, kMaxEpochs);
    t.add("--stage1-learning-rate", &S::stage1_learning_rate, "stage 1: Adam, head only")
        .range(0, 1)
        .open_low();
    t.add("--stage2-epochs", &S::stage2_epochs,
          "stage 2: epochs fine-tuning head + top of the backbones (0 = no stage 2)")
        .range(0, kMaxEpochs);
    t.add("--stage2-learning-rate", &S::stage2_learning_rate, "stage 2: Adam, head + branches")
        .range(kMinStage2LearningRate, 1);
    t.add("--stage2-unfreeze", &S::stage2_unfreeze,
          "stage 2: top fraction of each backbone's layers trained (the branch classifier trains "
          "whenever this is > 0)")
        .range(0, 1);
    t.add("--fusion-patience", &S::patience,
          "head epochs without a better validation QWK before a stage stops; 0 = never")
        .range(0, kMaxEpochs)
        .json_key("patience");
    t.add_choice("--fusion-loss", &S::loss, {VisionLoss::kWeightedCrossEntropy, VisionLoss::kFocal},
                 "the heads' loss")
        .json_key("loss");
    t.add("--fusion-focal-gamma", &S::focal_gamma, "the heads' focal loss focusing power")
        .range(0, kMaxFocalGamma)
        .json_key("focal_gamma");
    t.add_choice("--fusion-class-weight", &S::class_weight,
                 {VisionClassWeight::kBalanced, VisionClassWeight::kNone},
                 "the heads' class weights")
        .json_key("class_weight");
    t.add("--fusion-dropout", &S::dropout, "feature_concat: dropout on the head's input")
        .range(0, kMaxDropout)
        .json_key("dropout");
    t.add("--fusion-weight-decay", &S::weight_decay, "the heads' Adam L2 penalty")
        .range(0, 1)
        .json_key("weight_decay");
    t.add("--fusion-batch-size", &S::batch_size, "samples per step of either stage")
        .range(kMinBatch, kMaxBatch)
        .json_key("batch_size");
    t.add("--seed", &S::seed, "head initialisation, shuffling, dropout, view draws").run_context();
    t.add("threads", &S::threads, "libtorch intra-op threads").range(1, kMaxThreads).run_context();
    return t;
  }();
  return table;
}

void FusionSettings::validate() const {
  fusion_options().validate(*this);
  // Caught here, before any branch trains: the combination cannot change this.
  if (kind == FusionKind::kFixed && stage2_epochs > 0 && stage2_unfreeze == 0)
    throw InputError(
        "--fusion fixed with --stage2-unfreeze 0: stage 2 would train 0 parameters (the fixed "
        "average has none and every backbone layer and branch classifier is frozen); raise "
        "--stage2-unfreeze or set --stage2-epochs 0");
}

}  // namespace woundphase

// The rules of no_ops.h: which option needs which setting, stated once for search and train.
#include "no_ops.h"

#include <fmt/format.h>

#include <algorithm>   // for remove
#include <functional>  // for function

#include "woundphase/ensemble.h"            // for ensemble_options
#include "woundphase/experiment_options.h"  // for image_branch_options
#include "woundphase/fusion.h"              // for fusion_options
#include "woundphase/options.h"
#include "woundphase/sampling.h"  // for sampling_options
#include "woundphase/tabular.h"   // for forest_options, gbdt_options

namespace woundphase::app {
namespace {

// What the model settings of a search and a train share, seen by the rules.
struct View {
  const TabularSettings* tabular = nullptr;
  const ImageBranchSettings* images = nullptr;
  const FusionSettings* fusion = nullptr;
  const EnsembleSettings* ensemble = nullptr;  // search only
  int cv_folds = 0;                            // search only (0: train)
  size_t combinations = 1;
  bool uses_images = false;
  bool uses_fusion = false;
};

// One rule: options `flags` only act when `active`; otherwise `why` says which setting makes them
// idle, naming its option.
struct Rule {
  std::vector<std::string> flags;
  std::function<bool(const View&)> active;
  std::function<std::string(const View&)> why;
};

template <typename S>
std::vector<std::string> flags_of(const OptionTable<S>& table) {
  std::vector<std::string> out;
  for (const auto& o : table.options())
    if (o.on_command_line) out.push_back(o.flag);
  return out;
}

std::vector<std::string> without(std::vector<std::string> flags, const std::string& drop) {
  flags.erase(std::remove(flags.begin(), flags.end(), drop), flags.end());
  return flags;
}

bool focal(VisionLoss loss) { return loss == VisionLoss::kFocal; }

const std::vector<Rule>& rules() {
  static const std::vector<Rule> all = [] {
    std::vector<Rule> r;
    // Tree models: each model's knobs (the table's own flags, so a new knob is covered).
    r.push_back({flags_of(forest_options()),
                 [](const View& v) { return v.tabular->model != TreeModelKind::kGbdt; },
                 [](const View&) {
                   return std::string("--model gbdt (it sets the random forest, --model rf)");
                 }});
    r.push_back({flags_of(gbdt_options()),
                 [](const View& v) { return v.tabular->model != TreeModelKind::kForest; },
                 [](const View&) {
                   return std::string("--model rf (it sets XGBoost boosting, --model gbdt)");
                 }});
    r.push_back({{"--smote-neighbours"},
                 [](const View& v) {
                   const auto s = v.tabular->sampling.strategy;
                   return s == SamplingStrategy::kSmote || s == SamplingStrategy::kCombinedSmote;
                 },
                 [](const View& v) {
                   return fmt::format("--sampling {} (it sets smote and combined_smote)",
                                      to_string(v.tabular->sampling.strategy));
                 }});
    r.push_back({{"--train-fraction"},
                 [](const View& v) { return v.cv_folds == 0 || v.cv_folds == 1; },
                 [](const View& v) {
                   return fmt::format("--cv-folds {} (it sets the one split of --cv-folds 1)",
                                      v.cv_folds);
                 }});
    // Image branches: none without an image modality.
    r.push_back({flags_of(image_branch_options()), [](const View& v) { return v.uses_images; },
                 [](const View&) {
                   return std::string(
                       "--modalities without an image modality (it sets the image branches)");
                 }});
    r.push_back(
        {{"--focal-gamma"},
         [](const View& v) { return !v.uses_images || focal(v.images->vision.loss); },
         [](const View&) { return std::string("--loss weighted_ce (it sets --loss focal)"); }});
    // Fusion heads: none without a combination of several modalities.
    r.push_back({flags_of(fusion_options()), [](const View& v) { return v.uses_fusion; },
                 [](const View&) {
                   return std::string(
                       "--modalities without a fused combination such as metadata+thermal_map "
                       "(it sets the fusion heads)");
                 }});
    r.push_back(
        {{"--rf-weight"},
         [](const View& v) { return !v.uses_fusion || v.fusion->kind == FusionKind::kFixed; },
         [](const View& v) {
           return fmt::format("--fusion {} (it sets --fusion fixed)", to_string(v.fusion->kind));
         }});
    r.push_back({{"--fusion-focal-gamma"},
                 [](const View& v) { return !v.uses_fusion || focal(v.fusion->loss); },
                 [](const View&) {
                   return std::string("--fusion-loss weighted_ce (it sets --fusion-loss focal)");
                 }});
    r.push_back({{"--stage2-learning-rate", "--stage2-unfreeze"},
                 [](const View& v) { return !v.uses_fusion || v.fusion->stage2_epochs > 0; },
                 [](const View&) { return std::string("--stage2-epochs 0 (stage 2 is off)"); }});
    // Late fusion: it combines several combinations' predictions.
    r.push_back({{"--ensemble"},
                 [](const View& v) {
                   return v.ensemble == nullptr || v.ensemble->kind == EnsembleKind::kNone ||
                          v.combinations >= 2;
                 },
                 [](const View&) {
                   return std::string(
                       "--modalities naming one combination (an ensemble of one would equal "
                       "it)");
                 }});
    r.push_back({without(flags_of(ensemble_options()), "--ensemble"),
                 [](const View& v) {
                   return v.ensemble == nullptr || v.ensemble->kind != EnsembleKind::kNone;
                 },
                 [](const View&) { return std::string("--ensemble none"); }});
    return r;
  }();
  return all;
}

// The view of the model settings a search and a training share.
template <typename Settings>
View view_of(const Settings& settings) {
  View v;
  v.tabular = &settings.tabular;
  v.images = &settings.images;
  v.fusion = &settings.fusion;
  return v;
}

std::vector<std::string> check(const GivenOptions& given, const View& view) {
  std::vector<std::string> warnings;
  for (const Rule& rule : rules()) {
    if (rule.active(view)) continue;
    for (const std::string& flag : rule.flags) {
      const Given how = given.of(flag);
      if (how == Given::kNo) continue;
      const std::string message = fmt::format("{} has no effect with {}", flag, rule.why(view));
      if (how == Given::kCommandLine) throw InputError(message + "; drop one of the two");
      warnings.push_back("config file: " + message + "; it is ignored");
    }
  }
  return warnings;
}

}  // namespace

std::vector<std::string> check_search_no_ops(const GivenOptions& given,
                                             const SearchSettings& settings) {
  View v = view_of(settings);
  v.ensemble = &settings.ensemble;
  v.cv_folds = settings.cv_folds;
  v.combinations = settings.combinations.size();
  v.uses_images = settings.uses_images();
  v.uses_fusion = settings.uses_fusion();
  return check(given, v);
}

std::vector<std::string> check_train_no_ops(const GivenOptions& given,
                                            const TrainSettings& settings) {
  View v = view_of(settings);
  v.uses_fusion = settings.combination.size() > 1;
  for (Modality m : settings.combination) v.uses_images = v.uses_images || m != Modality::kMetadata;
  return check(given, v);
}

}  // namespace woundphase::app

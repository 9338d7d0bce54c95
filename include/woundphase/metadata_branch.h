// The metadata (tree) branch on its own: fitted on some rows, applied to others, and tuned by a
// nested random search (--tune).
#pragma once

#include <cmath>   // for NAN
#include <memory>  // for unique_ptr
#include <nlohmann/json.hpp>
#include <vector>

#include "woundphase/dataset.h"
#include "woundphase/decision.h"  // for DecisionRule
#include "woundphase/search_settings.h"
#include "woundphase/tabular.h"  // for FeatureEncoder, TreeModel

namespace woundphase {

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

}  // namespace woundphase

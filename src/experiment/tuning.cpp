// --tune: nested random search of the metadata branch's configuration (metadata_branch.h).
#include <fmt/format.h>

#include <algorithm>  // for max
#include <cmath>      // for isnan
#include <random>     // for mt19937_64
#include <unordered_map>

#include "experiment/seed_streams.h"
#include "woundphase/metadata_branch.h"
#include "woundphase/metrics.h"  // for score
#include "woundphase/search_settings.h"
#include "woundphase/timing.h"

namespace woundphase {
namespace {

// The search space: values drawn uniformly from each list.
constexpr int kForestDepths[] = {4, 6, 8, 10, 14};
constexpr int kForestLeaves[] = {1, 2, 5, 10, 20};
constexpr double kForestFeatures[] = {-1, 0.2, 0.33, 0.5};  // -1: sqrt of the feature count
constexpr int kGbdtRounds[] = {50, 100, 200, 400};
constexpr int kGbdtDepths[] = {2, 3, 4, 6};
constexpr double kGbdtRates[] = {0.03, 0.05, 0.1, 0.2};
constexpr double kGbdtSubsamples[] = {0.6, 0.8, 1.0};
constexpr double kGbdtColsamples[] = {0.5, 0.8, 1.0};
constexpr SamplingStrategy kStrategies[] = {SamplingStrategy::kNone, SamplingStrategy::kRandom,
                                            SamplingStrategy::kUnder, SamplingStrategy::kSmote};
constexpr ClassWeight kWeights[] = {ClassWeight::kBalanced, ClassWeight::kNone,
                                    ClassWeight::kFrequency};
constexpr DecisionRule kRules[] = {DecisionRule::kArgmax, DecisionRule::kExpected,
                                   DecisionRule::kThresholds};
// Two halves of the patients cross-fit a trial's thresholds.
constexpr int kThresholdHalves = 2;

template <typename T, size_t N>
T draw(std::mt19937_64& rng, const T (&values)[N]) {
  return values[rng() % N];
}

// A trial's QWK: its rule applied to out-of-fold probabilities; thresholds fitted on one half of
// the patients and applied to the other.
double trial_qwk(const Probabilities& oof, const std::vector<int>& labels,
                 const std::vector<int>& patient, DecisionRule rule) {
  std::vector<int> pred(labels.size());
  if (rule != DecisionRule::kThresholds) {
    const Decision d{rule, {}};
    pred = d.apply(oof);
    return score(labels, pred).qwk;
  }
  for (int half = 0; half < kThresholdHalves; ++half) {
    Probabilities fit_p;
    std::vector<int> fit_y, apply_at;
    for (size_t i = 0; i < labels.size(); ++i) {
      if (mix_seed(static_cast<uint64_t>(patient[i]), 0) % kThresholdHalves ==
          static_cast<uint64_t>(half)) {
        apply_at.push_back(static_cast<int>(i));
      } else {
        fit_p.insert(fit_p.end(), oof.begin() + i * kNumClasses,
                     oof.begin() + (i + 1) * kNumClasses);
        fit_y.push_back(labels[i]);
      }
    }
    const Decision d = fit_decision(rule, fit_p, fit_y);
    for (int i : apply_at) pred[i] = d.apply_row(&oof[static_cast<size_t>(i) * kNumClasses]);
  }
  return score(labels, pred).qwk;
}

}  // namespace

nlohmann::json TunedConfig::to_json() const {
  const TabularSettings& s = settings;
  nlohmann::json j = {{"model", to_string(s.model)},
                      {"ordinal", s.ordinal},
                      {"sampling", to_string(s.sampling.strategy)},
                      {"class_weight", to_string(s.forest.class_weight)},
                      {"decision", to_string(decision)},
                      {"inner_qwk", inner_qwk},
                      {"trials", trials},
                      {"seconds", seconds}};
  if (s.model == TreeModelKind::kForest) {
    j["max_depth"] = s.forest.max_depth;
    j["min_samples_leaf"] = s.forest.min_samples_leaf;
    j["max_features"] = s.forest.max_features;
  } else {
    j["gbdt_rounds"] = s.gbdt.n_rounds;
    j["gbdt_max_depth"] = s.gbdt.max_depth;
    j["learning_rate"] = s.gbdt.learning_rate;
    j["subsample"] = s.gbdt.subsample;
    j["colsample"] = s.gbdt.colsample;
  }
  return j;
}

TunedConfig tune_metadata(const Dataset& data, const std::vector<int>& rows,
                          const std::vector<int>& labels, const TabularSettings& base,
                          DecisionRule base_decision, unsigned long long seed) {
  const auto start = Clock::now();
  std::vector<int> patient;
  for (int r : rows) patient.push_back(data.rows[r].patient);
  std::mt19937_64 rng(stream_seed(seed, SeedStream::kTuning));
  TabularSettings untuned = base;
  untuned.tune = 0;
  TunedConfig best;
  best.settings = untuned;
  best.decision = base_decision;
  for (int trial = 0; trial < base.tune; ++trial) {
    TabularSettings s = untuned;
    DecisionRule rule = base_decision;
    if (trial > 0) {  // trial 0: the settings given
      s.model = rng() % 2 == 0 ? TreeModelKind::kForest : TreeModelKind::kGbdt;
      s.ordinal = rng() % 2 == 0;
      s.sampling.strategy = draw(rng, kStrategies);
      s.forest.class_weight = s.gbdt.class_weight = draw(rng, kWeights);
      s.forest.max_depth = draw(rng, kForestDepths);
      s.forest.min_samples_leaf = draw(rng, kForestLeaves);
      s.forest.min_samples_split = std::max(2, 2 * s.forest.min_samples_leaf);
      s.forest.max_features = draw(rng, kForestFeatures);
      s.gbdt.n_rounds = draw(rng, kGbdtRounds);
      s.gbdt.max_depth = draw(rng, kGbdtDepths);
      s.gbdt.learning_rate = draw(rng, kGbdtRates);
      s.gbdt.subsample = draw(rng, kGbdtSubsamples);
      s.gbdt.colsample = draw(rng, kGbdtColsamples);
      rule = draw(rng, kRules);
    }
    Probabilities oof;
    fit_metadata(data, rows, labels, s, stream_seed(seed, SeedStream::kTuning, trial + 1), &oof);
    const double qwk = trial_qwk(oof, labels, patient, rule);
    ++best.trials;
    if (trial == 0 || (!std::isnan(qwk) && (std::isnan(best.inner_qwk) || qwk > best.inner_qwk))) {
      best.settings = s;
      best.decision = rule;
      best.inner_qwk = qwk;
    }
    const double spent = seconds_since(start);
    if (base.tune_budget > 0 && spent >= base.tune_budget) break;
  }
  best.seconds = seconds_since(start);
  return best;
}

}  // namespace woundphase

// Late fusion (the predecessor's "Block B"): one prediction from the predictions of several
// members (the search's combinations). Its weights, stacker or gate are fitted on inner held-out
// predictions of the training patients only, never on the fold being reported.
#pragma once

#include <nlohmann/json.hpp>  // for json (stored with bundles and runs)
#include <string>
#include <vector>

#include "woundphase/core.h"  // for Probabilities, kNumClasses

namespace woundphase {

// --ensemble:
//   none      no ensemble row
//   average   mean of the available members' probabilities (nothing fitted)
//   weighted  non-negative member weights summing to 1 (softmax-parameterised), fitted by
//             minimising the class-balanced log loss
//   stacking  multinomial logistic regression (L2) on the members' log-probabilities, with an
//             availability indicator per member (a missing member's log-probabilities are 0)
//   gating    per-sample softmax gate over the members, computed from each member's availability
//             and confidence (its max probability and entropy), mixing their probabilities; each
//             member has its own linear map of its features (a standing preference plus how far
//             its confidence is to be trusted), the gate is masked to the available members
enum class EnsembleKind { kNone, kAverage, kWeighted, kStacking, kGating };
EnsembleKind parse_ensemble(const std::string& text);  // "--ensemble: ..." InputError
const char* to_string(EnsembleKind kind);

// Defaults here; flags, bounds and meanings in ensemble_options() (src/ensemble/ensemble.cpp).
struct EnsembleSettings {
  EnsembleKind kind = EnsembleKind::kNone;  // see above
  double l2 = 1e-2;
  int iterations = 500;
  unsigned long long seed = 42;
  void validate() const;  // InputError naming the option
};

template <typename S>
class OptionTable;  // options.h
const OptionTable<EnsembleSettings>& ensemble_options();

// Member predictions for `count` samples: probs[m][i * kNumClasses + c]. A member that has no
// prediction for sample i (an image combination on a visit-wound without those images) holds NaN
// in all kNumClasses entries of that sample.
struct MemberPredictions {
  int count = 0;
  std::vector<Probabilities> probs;  // [member]
};

class Ensemble {
 public:
  // Fits on inner held-out predictions and their labels (class-balanced). InputError when the
  // members disagree in count, no member predicts some sample, or there are no samples (also: no
  // members, labels of another length or outside [0, kNumClasses), a row NaN in some classes
  // only, a probability outside [0, 1]). invalid_argument for kind none (nothing to fit).
  static Ensemble fit(const EnsembleSettings& settings, const MemberPredictions& inner,
                      const std::vector<int>& labels);
  // Probabilities for each sample; a sample no member predicts gets NaN in all entries.
  Probabilities predict(const MemberPredictions& members) const;
  // Members' weights as fitted, summing to 1, for reports (average: equal; weighted: fitted;
  // stacking: each member's share of the coefficients' magnitude on its log-probabilities;
  // gating: the mean gate over the fitting samples).
  std::vector<double> member_weights() const;
  int members() const;
  EnsembleKind kind() const;

  nlohmann::json to_json() const;
  static Ensemble from_json(const nlohmann::json& j);  // InputError on a malformed document

 private:
  EnsembleKind kind_ = EnsembleKind::kNone;
  int members_ = 0;
  std::vector<double> params_;   // kind-specific, laid out by the implementation
  std::vector<double> weights_;  // member_weights(), computed at fit (gating needs the data)
};

}  // namespace woundphase

// Ordinal decisions: how a row's class probabilities become a predicted phase. The phases are
// ordered (I < P < R) and the selection metric is quadratic-weighted, so besides the argmax a
// prediction may cut the expected grade E = 0 p_I + 1 p_P + 2 p_R at two thresholds: fixed ones
// (E rounded: 0.5 and 1.5) or ones fitted to maximise QWK on training patients' out-of-fold (or
// validation) probabilities, never on the rows they are applied to.
#pragma once

#include <string>
#include <vector>

#include "woundphase/core.h"

namespace woundphase {

enum class DecisionRule { kArgmax, kExpected, kThresholds };
std::string to_string(DecisionRule r);
DecisionRule parse_decision(const std::string& text);  // InputError naming --decision

// E < low: the lowest phase; low <= E < high: the middle one; E >= high: the highest.
struct Thresholds {
  double low = 0.5;
  double high = 1.5;
};

// The rule and, for kThresholds, the cut points it was fitted to (kExpected uses the defaults).
struct Decision {
  DecisionRule rule = DecisionRule::kArgmax;
  Thresholds thresholds;
  // Predicted classes of row-major probabilities (rows x kNumClasses).
  std::vector<int> apply(const Probabilities& probs) const;
  // One row.
  int apply_row(const double* p) const;
};

// E per row of row-major probabilities.
std::vector<double> expected_grades(const Probabilities& probs);
// The phases of expected grades cut at `t`.
std::vector<int> cut_grades(const std::vector<double>& grades, const Thresholds& t);

// The thresholds maximising the quadratic-weighted kappa of cut_grades(E(probs)) against `truth`:
// an exhaustive search over every pair of cut positions between distinct sorted grades (O(n^2)
// pairs, each scored in O(1) from class counts). Each threshold is the midpoint between the two
// grades it separates (below every grade: the lowest grade; above every grade: just above the
// highest). Ties keep the pair closest to the fixed cuts (0.5, 1.5), so a flat optimum falls back
// on rounding. Fewer than two classes in `truth`: the fixed cuts.
Thresholds fit_thresholds(const Probabilities& probs, const std::vector<int>& truth);

// A decision of `rule` fitted on (probs, truth) where the rule needs fitting.
Decision fit_decision(DecisionRule rule, const Probabilities& probs, const std::vector<int>& truth);

}  // namespace woundphase

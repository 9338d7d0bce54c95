// Ordinal decisions (decision.h): argmax, the rounded expected grade, or the expected grade cut at
// thresholds fitted for QWK.
#include "woundphase/decision.h"

#include <algorithm>  // for max_element, stable_sort
#include <array>
#include <cmath>    // for abs, isnan, nextafter
#include <limits>   // for numeric_limits
#include <numeric>  // for iota

#include "woundphase/enum_names.h"
#include "woundphase/metrics.h"

namespace woundphase {
namespace {

// QWK values closer than this are ties (the same confusion matrix reached by other cuts).
constexpr double kQwkTie = 1e-12;

}  // namespace

namespace {

constexpr EnumNames<DecisionRule, 3> kDecisionNames("--decision",
                                                    {{{DecisionRule::kArgmax, "argmax"},
                                                      {DecisionRule::kExpected, "expected"},
                                                      {DecisionRule::kThresholds, "thresholds"}}});

}  // namespace

std::string to_string(DecisionRule r) { return kDecisionNames.name(r); }
DecisionRule parse_decision(const std::string& text) { return kDecisionNames.parse(text); }

std::vector<double> expected_grades(const Probabilities& probs) {
  if (probs.size() % kNumClasses != 0)
    throw std::invalid_argument("expected_grades: probability vector length is not a multiple of " +
                                std::to_string(kNumClasses));
  std::vector<double> out(probs.size() / kNumClasses, 0.0);
  for (size_t i = 0; i < out.size(); ++i)
    for (int c = 0; c < kNumClasses; ++c) out[i] += c * probs[i * kNumClasses + c];
  return out;
}

std::vector<int> cut_grades(const std::vector<double>& grades, const Thresholds& t) {
  std::vector<int> out(grades.size());
  for (size_t i = 0; i < grades.size(); ++i)
    out[i] = grades[i] < t.low ? 0 : grades[i] < t.high ? 1 : kNumClasses - 1;
  return out;
}

int Decision::apply_row(const double* p) const {
  if (rule == DecisionRule::kArgmax)
    return static_cast<int>(std::max_element(p, p + kNumClasses) - p);
  double e = 0;
  for (int c = 0; c < kNumClasses; ++c) e += c * p[c];
  return cut_grades({e}, rule == DecisionRule::kExpected ? Thresholds{} : thresholds).front();
}

std::vector<int> Decision::apply(const Probabilities& probs) const {
  if (rule == DecisionRule::kArgmax) return argmax(probs);
  return cut_grades(expected_grades(probs),
                    rule == DecisionRule::kExpected ? Thresholds{} : thresholds);
}

Thresholds fit_thresholds(const Probabilities& probs, const std::vector<int>& truth) {
  static_assert(kNumClasses == 3, "two thresholds cut three ordered classes");
  const std::vector<double> grades = expected_grades(probs);
  const size_t n = grades.size();
  if (truth.size() != n)
    throw std::invalid_argument("fit_thresholds: " + std::to_string(truth.size()) + " labels for " +
                                std::to_string(n) + " rows");
  std::array<bool, kNumClasses> present{};
  for (int y : truth) {
    if (y < 0 || y >= kNumClasses)
      throw std::invalid_argument("fit_thresholds: label out of range");
    present[y] = true;
  }
  int classes = 0;
  for (bool p : present) classes += p ? 1 : 0;
  if (classes < 2) return {};

  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return grades[a] < grades[b]; });
  // prefix[i][c]: rows of class c among the i lowest grades.
  std::vector<std::array<long, kNumClasses>> prefix(n + 1, std::array<long, kNumClasses>{});
  for (size_t i = 0; i < n; ++i) {
    prefix[i + 1] = prefix[i];
    ++prefix[i + 1][truth[order[i]]];
  }
  // Cut positions: before every grade that differs from the one below it, and past the last.
  std::vector<size_t> cuts;
  std::vector<double> value;
  for (size_t i = 0; i <= n; ++i) {
    if (i > 0 && i < n && !(grades[order[i - 1]] < grades[order[i]])) continue;
    cuts.push_back(i);
    if (n == 0) {
      value.push_back(0.0);
    } else if (i == 0) {
      value.push_back(grades[order[0]]);
    } else if (i == n) {
      value.push_back(
          std::nextafter(grades[order[n - 1]], std::numeric_limits<double>::infinity()));
    } else {
      value.push_back(0.5 * (grades[order[i - 1]] + grades[order[i]]));
    }
  }
  const Thresholds fixed;
  Thresholds best;
  double best_qwk = -std::numeric_limits<double>::infinity();
  double best_distance = std::numeric_limits<double>::infinity();
  for (size_t a = 0; a < cuts.size(); ++a) {
    for (size_t b = a; b < cuts.size(); ++b) {
      Confusion c{};
      for (int y = 0; y < kNumClasses; ++y) {
        c[y][0] = prefix[cuts[a]][y];
        c[y][1] = prefix[cuts[b]][y] - prefix[cuts[a]][y];
        c[y][2] = prefix[n][y] - prefix[cuts[b]][y];
      }
      const double q = quadratic_weighted_kappa(c);
      if (std::isnan(q)) continue;
      const double distance = std::abs(value[a] - fixed.low) + std::abs(value[b] - fixed.high);
      const bool better = q > best_qwk + kQwkTie;
      const bool tie = !better && q > best_qwk - kQwkTie && distance < best_distance;
      if (!better && !tie) continue;
      best_qwk = q;
      best_distance = distance;
      best = {value[a], value[b]};
    }
  }
  return best;
}

Decision fit_decision(DecisionRule rule, const Probabilities& probs,
                      const std::vector<int>& truth) {
  Decision d;
  d.rule = rule;
  if (rule == DecisionRule::kThresholds) d.thresholds = fit_thresholds(probs, truth);
  return d;
}

}  // namespace woundphase

// Option parsing, validation and class weights shared by the tree models.
#include <cmath>    // for isfinite
#include <sstream>  // for ostringstream

#include "woundphase/class_weights.h"
#include "woundphase/tabular.h"

namespace woundphase {

namespace {

template <typename T>
void check_range(const char* option, T value, T low, T high) {
  if (value >= low && value <= high) return;
  std::ostringstream msg;
  msg << option << " must be in [" << low << ", " << high << "], got " << value;
  throw InputError(msg.str());
}

// For fractions: (0, 1].
void check_fraction(const char* option, double value) {
  if (std::isfinite(value) && value > 0.0 && value <= 1.0) return;
  std::ostringstream msg;
  msg << option << " must be in (0, 1], got " << value;
  throw InputError(msg.str());
}

}  // namespace

ClassWeight parse_class_weight(const std::string& text) {
  if (text == "balanced") return ClassWeight::kBalanced;
  if (text == "frequency") return ClassWeight::kFrequency;
  if (text == "none") return ClassWeight::kNone;
  throw InputError("--class-weight must be one of balanced, frequency, none; got '" + text + "'");
}

std::string to_string(ClassWeight w) {
  switch (w) {
    case ClassWeight::kBalanced:
      return "balanced";
    case ClassWeight::kFrequency:
      return "frequency";
    case ClassWeight::kNone:
      return "none";
  }
  return "none";
}

TreeModelKind parse_tree_model(const std::string& text) {
  if (text == "rf") return TreeModelKind::kForest;
  if (text == "gbdt") return TreeModelKind::kGbdt;
  throw InputError("--model must be one of rf, gbdt; got '" + text + "'");
}

std::string to_string(TreeModelKind k) { return k == TreeModelKind::kForest ? "rf" : "gbdt"; }

std::vector<double> class_weights(const std::vector<int>& y, ClassWeight mode) {
  // Balanced is the project's one definition (class_weights.h), which also checks the labels.
  std::vector<double> per_class = balanced_class_weights(y, {}, kNumClasses);
  if (mode == ClassWeight::kFrequency) {
    std::vector<double> counts(kNumClasses, 0.0);
    for (int label : y) counts[label] += 1.0;
    for (int c = 0; c < kNumClasses; ++c) per_class[c] = counts[c] / static_cast<double>(y.size());
  } else if (mode == ClassWeight::kNone) {
    per_class.assign(kNumClasses, 1.0);
  }
  std::vector<double> w(y.size());
  for (size_t i = 0; i < y.size(); ++i) w[i] = per_class[y[i]];
  return w;
}

void ForestSettings::validate() const {
  check_range("--trees", n_trees, 1, 10000);
  check_range("--max-depth", max_depth, 1, 64);
  check_range("--min-samples-leaf", min_samples_leaf, 1, 1000);
  check_range("--min-samples-split", min_samples_split, 2, 1000);
  if (std::isnan(max_features) || max_features > 1.0) {
    std::ostringstream msg;
    msg << "--max-features must be in (0, 1] (or <= 0 for sqrt of the feature count), got "
        << max_features;
    throw InputError(msg.str());
  }
  check_range("--max-bins", max_bins, 8, 1024);
  check_range("--threads", threads, 1, 256);
}

void GbdtSettings::validate() const {
  check_range("--gbdt-rounds", n_rounds, 1, 10000);
  check_range("--gbdt-max-depth", max_depth, 1, 32);
  check_fraction("--learning-rate", learning_rate);
  check_fraction("--subsample", subsample);
  check_fraction("--colsample", colsample);
  if (!(min_child_weight >= 0.0 && min_child_weight <= 1e6)) {
    std::ostringstream msg;
    msg << "--min-child-weight must be in [0, 1e+06], got " << min_child_weight;
    throw InputError(msg.str());
  }
  check_range("--threads", threads, 1, 256);
}

Probabilities TreeModel::oob(std::vector<bool>* covered) const {
  (void)covered;
  throw std::logic_error("this tree model has no out-of-bag estimate (check has_oob() first)");
}

}  // namespace woundphase

// Option parsing, validation and class weights shared by the tree models.
#include <fmt/format.h>

#include <cmath>    // for isfinite, NAN
#include <sstream>  // for ostringstream, stringstream

#include "woundphase/class_weights.h"
#include "woundphase/enum_names.h"
#include "woundphase/options.h"
#include "woundphase/tabular.h"

namespace woundphase {

namespace {

constexpr std::initializer_list<ClassWeight> kClassWeights = {
    ClassWeight::kBalanced, ClassWeight::kFrequency, ClassWeight::kNone};

// "1,0.8,1" -> per-class shares; InputError naming the option.
std::array<double, kNumClasses> parse_shares(const std::string& text) {
  std::array<double, kNumClasses> out{};
  std::stringstream in(text);
  std::string part;
  int k = 0;
  while (std::getline(in, part, ',')) {
    size_t used = 0;
    double v = NAN;
    try {
      v = std::stod(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (k >= kNumClasses || used != part.size() || !(v > 0 && v <= 1))
      throw InputError(fmt::format(
          "--clean-misclass-share must be {} numbers in (0, 1] separated by commas; got '{}'",
          kNumClasses, text));
    out[k++] = v;
  }
  if (k != kNumClasses)
    throw InputError(fmt::format(
        "--clean-misclass-share must be {} numbers in (0, 1] separated by commas; got '{}'",
        kNumClasses, text));
  return out;
}

}  // namespace

namespace {

constexpr EnumNames<ClassWeight, 3> kClassWeightNames("--class-weight",
                                                      {{{ClassWeight::kBalanced, "balanced"},
                                                        {ClassWeight::kFrequency, "frequency"},
                                                        {ClassWeight::kNone, "none"}}});
constexpr EnumNames<TreeModelKind, 3> kTreeModelNames("--model",
                                                      {{{TreeModelKind::kForest, "rf"},
                                                        {TreeModelKind::kGbdt, "gbdt"},
                                                        {TreeModelKind::kStack, "stack"}}});

}  // namespace

ClassWeight parse_class_weight(const std::string& text) { return kClassWeightNames.parse(text); }
std::string to_string(ClassWeight w) { return kClassWeightNames.name(w); }
TreeModelKind parse_tree_model(const std::string& text) { return kTreeModelNames.parse(text); }
std::string to_string(TreeModelKind k) { return kTreeModelNames.name(k); }

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

std::vector<double> row_weights(const TabularData& data, ClassWeight mode) {
  std::vector<double> w = class_weights(data.y, mode);
  if (data.weight.empty()) return w;
  if (data.weight.size() != w.size())
    throw InputError("tabular data is inconsistent: " + std::to_string(data.weight.size()) +
                     " row weights for " + std::to_string(w.size()) + " rows");
  for (size_t i = 0; i < w.size(); ++i) w[i] *= data.weight[i];
  return w;
}

const OptionTable<ForestSettings>& forest_options() {
  static const OptionTable<ForestSettings> table = [] {
    using S = ForestSettings;
    OptionTable<S> t;
    t.add("--trees", &S::n_trees, "rf: number of trees").range(1, 10000);
    t.add("--max-depth", &S::max_depth, "rf: maximum tree depth (the root has depth 0)")
        .range(1, 64);
    t.add("--min-samples-leaf", &S::min_samples_leaf,
          "rf: minimum (bootstrap-weighted) rows per leaf")
        .range(1, 1000);
    t.add("--min-samples-split", &S::min_samples_split, "rf: minimum rows to split a node")
        .range(2, 1000);
    t.add("--max-features", &S::max_features, "rf: fraction of features tried per split")
        .range(0, 1)
        .open_low()
        .unless([](double v) { return v <= 0; })
        .note("(0, 1]; <= 0: sqrt of the feature count");
    t.add("--max-bins", &S::max_bins, "rf: histogram bins per feature (exact when fewer values)")
        .range(8, 1024);
    // Searches always bootstrap (by patient): out-of-bag probabilities depend on it.
    t.add("bootstrap", &S::bootstrap, "rf: draw patients with replacement per tree").fixed();
    t.add_choice("--class-weight", &S::class_weight, kClassWeights, "rf: class weighting of rows")
        .internal();
    t.add("--threads", &S::threads, "trees grown in parallel; results do not depend on it")
        .range(1, 256)
        .run_context();
    t.add("--seed", &S::seed, "every tree's randomness derives from (seed, tree index)")
        .run_context();
    return t;
  }();
  return table;
}

const OptionTable<GbdtSettings>& gbdt_options() {
  static const OptionTable<GbdtSettings> table = [] {
    using S = GbdtSettings;
    OptionTable<S> t;
    t.add("--gbdt-rounds", &S::n_rounds, "gbdt: boosting rounds")
        .range(1, 10000)
        .json_key("rounds");
    t.add("--gbdt-max-depth", &S::max_depth, "gbdt: tree depth").range(1, 32).json_key("max_depth");
    // Named for what it sets: a TensorFlow user reads --learning-rate as the CNN's
    // (--image-learning-rate); the old name stays as a deprecated alias, the JSON key unchanged.
    t.add("--gbdt-learning-rate", &S::learning_rate, "gbdt: shrinkage")
        .range(0, 1)
        .open_low()
        .json_key("learning_rate")
        .alias("--learning-rate");
    t.add("--subsample", &S::subsample, "gbdt: row subsample per round").range(0, 1).open_low();
    t.add("--colsample", &S::colsample, "gbdt: feature subsample per tree").range(0, 1).open_low();
    t.add("--min-child-weight", &S::min_child_weight, "gbdt: minimum hessian per leaf")
        .range(0, 1e6);
    t.add_choice("--class-weight", &S::class_weight, kClassWeights,
                 "gbdt: class weighting of rows (as sample weights)")
        .internal();
    t.add("--threads", &S::threads, "XGBoost nthread").range(1, 256).run_context();
    t.add("--seed", &S::seed, "XGBoost seed").run_context();
    return t;
  }();
  return table;
}

const OptionTable<CleanSettings>& clean_options() {
  static const OptionTable<CleanSettings> table = [] {
    using S = CleanSettings;
    OptionTable<S> t;
    t.add_choice("--clean", &S::method,
                 {CleanMethod::kNone, CleanMethod::kConfident, CleanMethod::kMisclass},
                 "flag likely-mislabelled training visit-wounds from inner out-of-fold "
                 "probabilities of each fit's own rows (confident learning or repeated "
                 "misclassification); test folds are never touched");
    t.add_choice("--clean-action", &S::action, {CleanAction::kDrop, CleanAction::kDownweight},
                 "flagged rows: left out of that fit, or weighted by --clean-weight");
    t.add("--clean-weight", &S::weight, "a flagged row's weight under --clean-action downweight")
        .range(0, 1)
        .open_low();
    t.add("--clean-repeats", &S::repeats,
          "--clean misclass: out-of-fold passes with different seeds")
        .range(1, 50);
    t.add_computed(
         "--clean-misclass-share", OptionType::kText,
         [](const S& s) -> OptionValue {
           const auto& m = s.misclass_share;
           return fmt::format("{},{},{}", m[0], m[1], m[2]);
         },
         [](S& s, const OptionValue& v) {
           s.misclass_share = parse_shares(option_as<std::string>(v, "--clean-misclass-share"));
         },
         "--clean misclass: per class (I,P,R), the share of passes a row must be misclassified in")
        .note("three numbers in (0, 1], comma-separated");
    return t;
  }();
  return table;
}

void ForestSettings::validate() const { forest_options().validate(*this); }

void GbdtSettings::validate() const { gbdt_options().validate(*this); }

Probabilities TreeModel::oob(std::vector<bool>* covered) const {
  (void)covered;
  throw std::logic_error("this tree model has no out-of-bag estimate (check has_oob() first)");
}

}  // namespace woundphase

// The tree branch: our random forest (scikit-learn semantics, patient bootstrap, native missing
// values) and XGBoost boosting through its C API, behind one interface.
#pragma once

#include <array>
#include <functional>             // for function
#include <memory>                 // for unique_ptr
#include <nlohmann/json_fwd.hpp>  // for json (bundle serialisation)
#include <string>
#include <vector>

#include "woundphase/core.h"

namespace woundphase {

enum class ClassWeight { kBalanced, kFrequency, kNone };
ClassWeight parse_class_weight(const std::string& text);  // throws InputError
std::string to_string(ClassWeight w);

// Per-row weights for the class-weight mode, computed from the labels given (training rows).
// kBalanced: balanced_class_weights() (class_weights.h), n / (k * n_c) with k the classes present,
// as scikit-learn; kFrequency: n_c / n (favours common classes); kNone: 1.
std::vector<double> class_weights(const std::vector<int>& y, ClassWeight mode);
// The class weights of data.y times data.weight (when set): what the tree models fit with.
std::vector<double> row_weights(const TabularData& data, ClassWeight mode);

// Random forest knobs. Defaults are the predecessor's setting (300 trees, depth 10, min leaf 5,
// min split 10, inverse-frequency class weights).
// Defaults are the member initialisers; flags, bounds and meanings are declared once, in
// forest_options() / gbdt_options() (src/tabular/settings.cpp).
struct ForestSettings {
  int n_trees = 300;
  int max_depth = 10;
  int min_samples_leaf = 5;
  int min_samples_split = 10;
  double max_features = -1.0;  // <= 0: sqrt of the feature count
  int max_bins = 256;
  bool bootstrap = true;
  ClassWeight class_weight = ClassWeight::kBalanced;
  int threads = 2;
  unsigned long long seed = 42;
  void validate() const;  // InputError naming the option
};

struct GbdtSettings {
  int n_rounds = 100;
  int max_depth = 4;
  double learning_rate = 0.1;
  double subsample = 0.8;
  double colsample = 0.8;
  double min_child_weight = 1;
  ClassWeight class_weight = ClassWeight::kBalanced;
  int threads = 2;
  unsigned long long seed = 42;
  void validate() const;  // InputError naming the option
};

template <typename S>
class OptionTable;  // options.h
// The knobs' declarations (flags, bounds, docs); validate() and the command line use them.
const OptionTable<ForestSettings>& forest_options();
const OptionTable<GbdtSettings>& gbdt_options();
struct CleanSettings;
const OptionTable<CleanSettings>& clean_options();

enum class TreeModelKind { kForest, kGbdt, kStack };
TreeModelKind parse_tree_model(const std::string& text);  // "rf" | "gbdt" | "stack"; InputError
std::string to_string(TreeModelKind k);

// Additive per-feature explanations of a model's outputs (SHAP values): for row i and class c,
// base(i, c) + sum_f at(i, c, f) is the model's output for the row and class. The output is the
// class probability for the forest (TreeSHAP, exact) and the class margin (log-odds before the
// softmax) for gbdt (XGBoost's own TreeSHAP): `scale` says which.
enum class ContributionScale { kProbability, kMargin };
std::string to_string(ContributionScale s);

struct Contributions {
  size_t rows = 0;
  size_t features = 0;
  ContributionScale scale = ContributionScale::kProbability;
  // [row][class][feature], feature index `features` holding the base (expected value).
  std::vector<double> values;
  double at(size_t row, int c, size_t f) const {
    return values[(row * kNumClasses + c) * (features + 1) + f];
  }
  double base(size_t row, int c) const { return at(row, c, features); }
};

struct LabelIssue;  // label cleaning's verdict on a row (below)

// A fitted tree model. predict() returns row-major probabilities that sum to 1 per row.
class TreeModel {
 public:
  virtual ~TreeModel() = default;
  virtual void fit(const TabularData& data) = 0;
  virtual Probabilities predict(const Matrix& x) const = 0;
  // Out-of-fold probabilities for the rows given to fit(): for the forest, out-of-bag by patient;
  // rows never out of bag are flagged in `covered` (false) and must be filled by the caller.
  // A synthetic row counts as out of bag for a tree only when neither parent was drawn.
  // Only after fit() (not after tree_model_from_json). The default throws std::logic_error.
  virtual bool has_oob() const { return false; }
  virtual Probabilities oob(std::vector<bool>* covered) const;
  virtual nlohmann::json to_json() const = 0;
  // SHAP values of the rows of `x` (path-dependent TreeSHAP). The default throws InputError
  // (a model restored from a bundle written before explanations existed cannot explain).
  virtual Contributions contributions(const Matrix& x) const;
  // Label cleaning's verdicts on the rows of the last fit() (make_cleaning); nullptr otherwise.
  virtual const std::vector<LabelIssue>* label_issues() const { return nullptr; }
};

std::unique_ptr<TreeModel> make_forest(const ForestSettings& s);
std::unique_ptr<TreeModel> make_gbdt(const GbdtSettings& s);
std::unique_ptr<TreeModel> tree_model_from_json(const nlohmann::json& j);

// Frank & Hall (2001), "A simple approach to ordinal classification": one binary model per cut
// point of the ordered classes, for P(y > I) and P(y > P), each fitted on the same rows with
// labels y > k (0/1; the binary model's class-1 probability is the estimate). Then P(I) =
// 1 - P(y > I), P(P) = P(y > I) - P(y > P) (clipped at 0, the row renormalised), P(R) =
// P(y > P). `binary(k)` makes the untrained model of cut k. Out-of-bag estimates where both
// binary models have them.
using BinaryFactory = std::function<std::unique_ptr<TreeModel>(int cut)>;
std::unique_ptr<TreeModel> make_ordinal(BinaryFactory binary);

// Stacking (Wolpert 1992; scikit-learn's StackingClassifier with stack_method="predict_proba"):
// each member is fitted on all rows, its out-of-fold probabilities for those rows
// (out_of_fold_probabilities: out-of-bag or inner patient folds) become the inputs of a
// multinomial logistic regression (L2, C = 1, rows weighted by `meta_class_weight`) that predicts
// the class. `members[k](i)` makes member k's untrained model for fit i (0: the final fit, 1..:
// inner folds), so each fit draws its own seed.
using MemberFactory = std::function<std::unique_ptr<TreeModel>(int fit)>;
struct StackSettings {
  std::vector<MemberFactory> members;
  int inner_folds = 5;
  unsigned long long seed = 42;
  ClassWeight meta_class_weight = ClassWeight::kBalanced;
};
std::unique_ptr<TreeModel> make_stack(StackSettings s);

// --- Label cleaning ----------------------------------------------------------------------------

// How likely-mislabelled training rows are found (inner out-of-fold probabilities of the rows a
// model is about to be fitted on; never any other rows):
//   kConfident  confident learning (Northcutt et al. 2021, the confident joint): t_j = the mean
//               out-of-fold P(j) of the rows labelled j (class j's average self-confidence); a row
//               labelled y is flagged when some class j != y has P(j) >= t_j and is the most
//               probable of the classes at or above their thresholds (its own label's
//               self-confidence then lies below t_y or below that class's probability);
//   kMisclass   the predecessor's "data polishing" done honestly: `repeats` out-of-fold passes
//               with different seeds; a row labelled c is flagged when its argmax is wrong in at
//               least misclass_share[c] of them (per-class thresholds).
enum class CleanMethod { kNone, kConfident, kMisclass };
enum class CleanAction { kDrop, kDownweight };
CleanMethod parse_clean_method(const std::string& text);  // InputError naming --clean
std::string to_string(CleanMethod m);
CleanAction parse_clean_action(const std::string& text);  // InputError naming --clean-action
std::string to_string(CleanAction a);

struct CleanSettings {
  CleanMethod method = CleanMethod::kNone;
  CleanAction action = CleanAction::kDrop;
  double weight = 0.2;  // kDownweight: a flagged row's weight
  int repeats = 5;      // kMisclass: out-of-fold passes
  std::array<double, kNumClasses> misclass_share = {1.0, 1.0, 1.0};
};

// One row's verdict.
struct LabelIssue {
  bool flagged = false;
  double self_confidence = 0;  // out-of-fold P(label), mean over passes
  int suggested = 0;           // argmax of the mean out-of-fold probabilities
  int misclassified = 0;       // passes whose argmax was not the label
  int passes = 0;
  // kConfident, flagged: the class that fired, its probability and threshold, the label's
  // threshold.
  double suggested_prob = 0;
  double suggested_threshold = 0;
  double label_threshold = 0;
  int needed = 0;  // kMisclass, flagged: the wrong passes the label's class threshold asks for
};

// Flags the real rows of `data` (synthetic rows are never flagged). `factory(i)` makes the
// untrained model of fit i (each pass fits one and takes its out-of-fold probabilities with
// out_of_fold_probabilities(..., inner_folds, seed of the pass)).
std::vector<LabelIssue> find_label_issues(
    const TabularData& data, const std::function<std::unique_ptr<TreeModel>(int)>& factory,
    const CleanSettings& settings, int inner_folds, unsigned long long seed);
// The confident-learning rule on given out-of-fold probabilities (exposed for the optimistic
// protocol, which applies it to the outer CV's own test probabilities).
std::vector<LabelIssue> confident_issues(const Probabilities& probs, const std::vector<int>& y);

// A model that flags its training rows first (find_label_issues on exactly the rows fit() gets)
// and then fits the wrapped model without them (kDrop) or with them down-weighted. Every fit of it
// — the final one and each inner out-of-fold fit — cleans only its own training rows. Its last
// fit's verdicts are label_issues(), one per row of that fit's data.
std::unique_ptr<TreeModel> make_cleaning(std::function<std::unique_ptr<TreeModel>(int)> factory,
                                         CleanSettings settings, int inner_folds,
                                         unsigned long long seed);

// Out-of-fold probabilities for every row of `data`: the model's own out-of-bag estimate where it
// has one, and for the remaining rows (or models without OOB) inner patient-grouped folds, each
// fitted with `factory` on the other patients only. In-sample probabilities are never returned.
// Synthetic rows (group2 >= 0) are training-only: never scored, their probabilities are 0; an
// inner fold trains on one only when neither parent is held out. Folds: min(inner_folds,
// patients), at least 2; throws InputError with fewer than 2 patients.
Probabilities out_of_fold_probabilities(const TabularData& data, const TreeModel& fitted,
                                        const std::function<std::unique_ptr<TreeModel>()>& factory,
                                        int inner_folds, unsigned long long seed);

}  // namespace woundphase

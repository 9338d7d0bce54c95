// The tree branch: our random forest (scikit-learn semantics, patient bootstrap, native missing
// values) and XGBoost boosting through its C API, behind one interface.
#pragma once

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

// Random forest knobs. Defaults are the predecessor's setting (300 trees, depth 10, min leaf 5,
// min split 10, inverse-frequency class weights).
struct ForestSettings {
  int n_trees = 300;           // [1, 10000] number of trees
  int max_depth = 10;          // [1, 64] maximum depth of a tree (root has depth 0)
  int min_samples_leaf = 5;    // [1, 1000] minimum (bootstrap-weighted) rows in a leaf
  int min_samples_split = 10;  // [2, 1000] minimum rows in a node for it to be split
  double max_features = -1.0;  // (0, 1] fraction of features tried per node; <= 0 means sqrt(p)
  int max_bins = 256;          // [8, 1024] histogram bins per feature (exact when fewer uniques)
  bool bootstrap = true;       // draw patients with replacement per tree (false: all rows)
  ClassWeight class_weight = ClassWeight::kBalanced;  // class weighting of rows
  int threads = 2;  // [1, 256] trees are grown in parallel; results do not depend on it
  unsigned long long seed = 42;  // every tree's randomness derives from (seed, tree index)
  void validate() const;         // throws InputError naming the knob
};

struct GbdtSettings {
  int n_rounds = 100;                                 // [1, 10000] boosting rounds
  int max_depth = 4;                                  // [1, 32] tree depth
  double learning_rate = 0.1;                         // (0, 1] shrinkage
  double subsample = 0.8;                             // (0, 1] row subsample per round
  double colsample = 0.8;                             // (0, 1] feature subsample per tree
  double min_child_weight = 1;                        // [0, 1e6] minimum hessian in a leaf
  ClassWeight class_weight = ClassWeight::kBalanced;  // class weighting of rows (as sample weights)
  int threads = 2;                                    // [1, 256] XGBoost nthread
  unsigned long long seed = 42;                       // XGBoost seed
  void validate() const;
};

enum class TreeModelKind { kForest, kGbdt };
TreeModelKind parse_tree_model(const std::string& text);  // "rf" | "gbdt"; throws InputError
std::string to_string(TreeModelKind k);

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
};

std::unique_ptr<TreeModel> make_forest(const ForestSettings& s);
std::unique_ptr<TreeModel> make_gbdt(const GbdtSettings& s);
std::unique_ptr<TreeModel> tree_model_from_json(const nlohmann::json& j);

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

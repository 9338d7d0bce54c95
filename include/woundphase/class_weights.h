// Balanced class weights: the one definition every learner of the project uses (the forest, XGBoost
// boosting, the CNN branches, the fusion heads and the late-fusion ensembles). Torch-free; the
// vision library links it too.
#pragma once

#include <vector>

namespace woundphase {

// How the weights are scaled; either way every present class carries the same total weight.
enum class WeightScale {
  kMeanOne,  // W / (k * W_c): scikit-learn's; the samples' weights then sum to W (mean 1
             // unweighted)
  kSumOne,   // 1 / (k * W_c): the samples' weights sum to 1 (an objective that is a weighted mean)
};

// Per-class weights of scikit-learn's class_weight='balanced', generalised to weighted samples:
//
//   w_c = W / (k * W_c)        (kSumOne: 1 / (k * W_c))
//
// where W_c is the total sample weight of class c, W the total over all classes, and k the number
// of classes present (W_c > 0) — as compute_class_weight('balanced', classes=np.unique(y), y=y).
// A class without samples gets 0: it weighs no sample. `labels` are class indices
// 0..num_classes-1 (InputError naming the row otherwise); `weights` are the samples' own weights
// (empty: all 1). Returns num_classes entries.
std::vector<double> balanced_class_weights(const std::vector<int>& labels,
                                           const std::vector<float>& weights, int num_classes,
                                           WeightScale scale = WeightScale::kMeanOne);

}  // namespace woundphase

// Out-of-fold class probabilities for the training rows: out-of-bag where the model has it,
// otherwise inner patient-grouped stratified folds.
#include <algorithm>  // for max, min

#include "tabular/models.h"
#include "woundphase/split.h"

namespace woundphase {

namespace {

// The fewest inner folds that still hold a patient out.
constexpr int kMinInnerFolds = 2;

bool is_synthetic(const TabularData& data, size_t i) {
  return !data.group2.empty() && data.group2[i] >= 0;
}

TabularData subset(const TabularData& data, const std::vector<int>& rows) {
  TabularData out;
  out.x = data.x.select_rows(rows);
  out.y.reserve(rows.size());
  out.group.reserve(rows.size());
  for (int r : rows) {
    out.y.push_back(data.y[r]);
    out.group.push_back(data.group[r]);
  }
  if (!data.group2.empty()) {
    for (int r : rows) out.group2.push_back(data.group2[r]);
  }
  if (!data.weight.empty()) {
    for (int r : rows) out.weight.push_back(data.weight[r]);
  }
  return out;
}

}  // namespace

// Synthetic rows (group2 >= 0) are training-only: they are never scored here and their
// probabilities stay 0. Real rows get their out-of-bag estimate or an inner-fold prediction.
Probabilities out_of_fold_probabilities(const TabularData& data, const TreeModel& fitted,
                                        const std::function<std::unique_ptr<TreeModel>()>& factory,
                                        int inner_folds, unsigned long long seed) {
  const size_t n = data.rows();
  if (data.x.rows() != n || data.group.size() != n ||
      (!data.group2.empty() && data.group2.size() != n)) {
    throw InputError("tabular data is inconsistent: features, labels and groups differ in length");
  }
  Probabilities probs(n * kNumClasses, 0.0);
  std::vector<bool> done(n, false);
  if (fitted.has_oob()) {
    std::vector<bool> covered;
    Probabilities oob = fitted.oob(&covered);
    if (oob.size() != probs.size() || covered.size() != n) {
      throw std::logic_error("out_of_fold_probabilities: the fitted model's OOB rows (" +
                             std::to_string(covered.size()) + ") are not the data's rows (" +
                             std::to_string(n) + ")");
    }
    for (size_t i = 0; i < n; ++i) {
      if (!covered[i] || is_synthetic(data, i)) continue;
      std::copy(oob.begin() + i * kNumClasses, oob.begin() + (i + 1) * kNumClasses,
                probs.begin() + i * kNumClasses);
      done[i] = true;
    }
  }
  bool any_left = false;
  for (size_t i = 0; i < n; ++i) any_left = any_left || (!done[i] && !is_synthetic(data, i));
  if (!any_left) return probs;

  // Inner folds over the patients, stratified by the real rows' classes.
  int n_groups = 0;
  for (size_t i = 0; i < n; ++i) {
    if (data.group[i] < 0) throw InputError("row " + std::to_string(i) + " has no patient group");
    n_groups = std::max(n_groups, data.group[i] + 1);
    if (is_synthetic(data, i)) n_groups = std::max(n_groups, data.group2[i] + 1);
  }
  std::vector<int> real_y;
  std::vector<int> real_group;
  for (size_t i = 0; i < n; ++i) {
    if (is_synthetic(data, i)) continue;
    real_y.push_back(data.y[i]);
    real_group.push_back(data.group[i]);
  }
  const auto counts = group_class_counts(real_y, real_group, n_groups);
  int patients = 0;
  for (const auto& c : counts) {
    int rows = 0;
    for (int v : c) rows += v;
    patients += rows > 0 ? 1 : 0;
  }
  if (patients < kMinInnerFolds) {
    throw InputError("out-of-fold probabilities need at least " + std::to_string(kMinInnerFolds) +
                     " patients, got " + std::to_string(patients));
  }
  const int k = std::max(kMinInnerFolds, std::min(inner_folds, patients));
  const GroupAssignment folds = stratified_group_kfold(counts, k, seed);
  auto fold_of = [&](int g) { return g >= 0 && g < n_groups ? folds.fold_of_group[g] : -1; };

  for (int f = 0; f < folds.parts; ++f) {
    std::vector<int> held_out;
    std::vector<int> train;
    for (size_t i = 0; i < n; ++i) {
      const int row = static_cast<int>(i);
      if (is_synthetic(data, i)) {
        // A synthetic row is built from both parents: train on it only if neither is held out.
        if (fold_of(data.group[i]) != f && fold_of(data.group2[i]) != f) train.push_back(row);
      } else if (fold_of(data.group[i]) == f) {
        if (!done[i]) held_out.push_back(row);
      } else {
        train.push_back(row);
      }
    }
    if (held_out.empty()) continue;
    if (train.empty()) throw InputError("an inner fold left no training rows");
    std::unique_ptr<TreeModel> model = factory();
    model->fit(subset(data, train));
    const Probabilities p = model->predict(data.x.select_rows(held_out));
    for (size_t r = 0; r < held_out.size(); ++r) {
      std::copy(p.begin() + r * kNumClasses, p.begin() + (r + 1) * kNumClasses,
                probs.begin() + static_cast<size_t>(held_out[r]) * kNumClasses);
      done[held_out[r]] = true;
    }
  }
  return probs;
}

}  // namespace woundphase

// Internal to src/experiment: small helpers a fold's jobs share (fold.cpp: the branches and
// single-modality jobs; fused_job.cpp: fused combinations and the ensemble).
#pragma once

#include <cstdint>  // for uint64_t
#include <string>
#include <unordered_map>
#include <vector>

#include "experiment/fold.h"
#include "woundphase/timing.h"

namespace woundphase::fold_detail {

// The stages of a fused combination, as folds.csv and the store name them.
constexpr char kStagePretrain[] = "pretrain";
constexpr char kStage1[] = "stage1";
constexpr char kStage2[] = "stage2";

// A combination's identity as a number (its modalities as bits): seeds derived from it do not
// depend on the order of --modalities.
inline uint64_t combination_bits(const Combination& combo) {
  uint64_t bits = 0;
  for (Modality m : combo) bits |= uint64_t{1} << static_cast<int>(m);
  return bits;
}

inline std::vector<int> labels_of(const std::vector<int>& rows, const std::vector<int>& all_rows,
                                  const std::vector<int>& all_labels) {
  std::unordered_map<int, int> label;
  for (size_t i = 0; i < all_rows.size(); ++i) label[all_rows[i]] = all_labels[i];
  std::vector<int> out;
  for (int r : rows) out.push_back(label.at(r));
  return out;
}

inline std::vector<PredictionRow> prediction_rows(const FoldPlan& plan, const std::string& name,
                                                  const std::vector<int>& rows,
                                                  const Probabilities& p) {
  std::vector<PredictionRow> out;
  const std::vector<int> am = argmax(p);
  for (size_t i = 0; i < rows.size(); ++i) {
    PredictionRow row;
    row.run = plan.run;
    row.fold = plan.fold;
    row.modalities = name;
    row.row = rows[i];
    for (int c = 0; c < kNumClasses; ++c) row.prob[c] = p[i * kNumClasses + c];
    row.pred = am[i];
    out.push_back(row);
  }
  return out;
}

inline Scores score_rows(const Dataset& data, const std::vector<int>& rows,
                         const Probabilities& p) {
  std::vector<int> truth;
  for (int r : rows) truth.push_back(data.rows[r].label);
  return score(truth, argmax(p));
}

inline double qwk_of(const std::vector<int>& labels, const Probabilities& p) {
  return score(labels, argmax(p)).qwk;
}

// Probabilities of `rows` looked up in per-row probabilities of `source_rows`.
inline Probabilities probs_for(const std::vector<int>& rows, const std::vector<int>& source_rows,
                               const Probabilities& source) {
  std::unordered_map<int, size_t> at;
  for (size_t i = 0; i < source_rows.size(); ++i) at[source_rows[i]] = i;
  Probabilities out;
  for (int r : rows) {
    const size_t i = at.at(r);
    out.insert(out.end(), source.begin() + i * kNumClasses, source.begin() + (i + 1) * kNumClasses);
  }
  return out;
}

}  // namespace woundphase::fold_detail

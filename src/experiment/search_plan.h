// Internal to src/experiment: the plan of a search, shared by the single-process search and the
// distributed one (src/cluster/). The plan follows from the data, the settings and the seed
// alone, so every process of a distributed search derives the same folds and rows, and a job's
// result never depends on which process computed it or when.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "experiment/fold.h"
#include "woundphase/modality.h"
#include "woundphase/search.h"
#include "woundphase/search_settings.h"

namespace woundphase {

class SearchPlan {
 public:
  SearchPlan(const Dataset& data, const SearchSettings& settings);

  int runs() const { return settings_.runs; }
  int folds() const { return n_folds_; }
  bool with_ensemble() const { return settings_.ensemble.kind != EnsembleKind::kNone; }
  // Jobs counted by the progress lines: runs x folds x (combinations + ensemble).
  int total_jobs() const;
  unsigned long long run_seed(int run) const;
  // The run's patient -> fold assignment (-1: left out by --data-percentage); computed on first
  // use. InputError when there are fewer patients than folds.
  const std::vector<int>& fold_of_patient(int run);
  // The rows of (run, fold). InputError when the fold has no test or no training patients.
  FoldPlan fold_plan(int run, int fold);
  // The image modalities some combination uses, in the modalities' fixed order.
  std::vector<Modality> image_modalities() const;

 private:
  const Dataset& data_;
  const SearchSettings& settings_;
  int n_folds_ = 1;
  std::vector<int> labels_;
  std::vector<int> patient_of_row_;
  std::map<int, std::vector<int>> fold_of_patient_;  // by run, filled on first use
};

// Label-cleaning verdicts as JSON (the store and the MPI codec keep them so).
nlohmann::json cleaning_json(const std::vector<CleaningRow>& rows);
std::vector<CleaningRow> cleaning_from(const nlohmann::json& j);
// Generated-image counts as JSON (the same two keep them), without run and fold: the job's.
nlohmann::json generated_json(const std::vector<GeneratedCount>& rows);
std::vector<GeneratedCount> generated_from(const nlohmann::json& j, int run, int fold);

// Appends a finished job's fold result, predictions and curve to `result`.
void append_job(const JobRecord& job, SearchResult* result);
// The progress line of a finished job ("[3/12] run 0 fold 1 thermal_map: QWK ...").
std::string job_line(int done, int total, const JobRecord& job, bool stored,
                     const std::string& where = "");
// Applies the search's --decision to every (run, fold, combination) of `result`, the ensemble's
// included: the rule is fitted on that job's predictions for training patients (oof_predictions,
// against the fold's training labels, permuted ones under --shuffle-labels), then decides its
// test and out-of-fold predictions and rescores the fold. Argmax leaves `result` as it is.
void apply_decisions(const Dataset& data, const SearchSettings& settings, SearchResult* result);
// The per-combination summary rows (and the ensemble's), once every job is in `result`.
void summarise_result(const SearchSettings& settings, SearchResult* result);

}  // namespace woundphase

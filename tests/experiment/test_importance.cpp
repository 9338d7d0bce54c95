// The clinical features' global importance on a search's test folds (importance.csv).
#include <gtest/gtest.h>

#include <map>

#include "fixtures/cohorts.h"
#include "woundphase/explain.h"
#include "woundphase/modality.h"
#include "woundphase/search.h"
#include "woundphase/search_settings.h"
#include "woundphase/synth.h"

namespace woundphase {
namespace {

const Dataset& signal_cohort() {
  return testing::synthetic_cohort("importance_cohort", testing::cohort_settings(40, 4));
}

SearchSettings small_search() { return testing::quick_search(3, 5, 40); }

bool phase_dependent(const std::string& feature) {
  // What synth --signal moves with the phase (and the visit order, through the progression).
  for (const char* p : {"Wound Centre", "Peri-Ulcer", "Onset", "Tunneling", "Exudate", "Erythema",
                        "Edema", "Pain", "Odor", "Appt", "Wound Score"})
    if (feature.find(p) != std::string::npos) return true;
  return false;
}

TEST(Importance, SameModelsAsTheSearchAndThePlantedSignalLeads) {
  const Dataset& data = signal_cohort();
  const SearchSettings s = small_search();
  const SearchResult result = run_search(data, s);
  const std::vector<FeatureImportance> rows = metadata_importance(data, s);
  ASSERT_EQ(rows.size(), 3U * data.feature_names.size());
  // Each fold's baseline QWK is the search's own test QWK: the importance explains the very model
  // the search scored.
  for (const FeatureImportance& r : rows) {
    bool found = false;
    for (const FoldResult& f : result.folds) {
      if (f.run != r.run || f.fold != r.fold || f.modalities != "metadata") continue;
      EXPECT_DOUBLE_EQ(r.test_qwk, f.scores.qwk) << "run " << r.run << " fold " << r.fold;
      found = true;
    }
    EXPECT_TRUE(found);
  }
  std::map<std::string, double> contribution;
  std::map<std::string, double> drop;
  for (const FeatureImportance& r : rows) {
    EXPECT_EQ(r.scale, ContributionScale::kProbability);
    EXPECT_GE(r.mean_abs_contribution, 0);
    contribution[r.feature] += r.mean_abs_contribution;
    drop[r.feature] += r.permutation_qwk_drop;
  }
  const auto top = [](const std::map<std::string, double>& m) {
    auto best = m.begin();
    for (auto it = m.begin(); it != m.end(); ++it)
      if (it->second > best->second) best = it;
    return best->first;
  };
  EXPECT_TRUE(phase_dependent(top(contribution))) << top(contribution);
  EXPECT_TRUE(phase_dependent(top(drop))) << top(drop);
  EXPECT_GT(drop.at(top(drop)), 0);
  // Same seed, same numbers.
  const std::vector<FeatureImportance> again = metadata_importance(data, s);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].mean_abs_contribution, again[i].mean_abs_contribution);
    EXPECT_EQ(rows[i].permutation_qwk_drop, again[i].permutation_qwk_drop);
  }
}

TEST(Importance, NoMetadataCombinationGivesNoRows) {
  SearchSettings s = small_search();
  s.combinations = {{Modality::kThermalMap}};
  EXPECT_TRUE(metadata_importance(signal_cohort(), s).empty());
}

}  // namespace
}  // namespace woundphase

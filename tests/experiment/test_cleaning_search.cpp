// --clean in a search: honest flags come from training patients only and never remove a test
// row; the optimistic protocol removes its flagged visit-wounds from every fold and says so.
#include <gtest/gtest.h>

#include <set>

#include "fixtures/cohorts.h"
#include "test_paths.h"
#include "woundphase/search.h"
#include "woundphase/search_settings.h"
#include "woundphase/synth.h"

namespace woundphase {
namespace {

const Dataset& cohort() {
  return testing::synthetic_cohort("cleaning_cohort", testing::cohort_settings(60, 8, 0.7));
}

SearchSettings settings() {
  SearchSettings s = testing::quick_search(3, 6, 40);
  s.runs = 2;
  s.tabular.clean.method = CleanMethod::kConfident;
  return s;
}

TEST(CleaningSearch, HonestFlagsOnlyTrainingRowsAndEveryRowIsStillTested) {
  const Dataset& data = cohort();
  const SearchResult r = run_search(data, settings());
  ASSERT_FALSE(r.cleaning.empty());
  size_t flagged = 0;
  for (const CleaningRow& c : r.cleaning) {
    // A verdict of (run, fold) is on one of that fold's training rows.
    EXPECT_NE(r.fold_of_patient[c.run][data.rows[c.row].patient], c.fold);
    flagged += c.issue.flagged ? 1 : 0;
  }
  EXPECT_GT(flagged, 0U);
  // Every training row of every fold has a verdict.
  EXPECT_EQ(r.cleaning.size(), 2 * 2 * data.rows.size());  // each row trains in 2 of 3 folds
  std::set<std::pair<int, int>> tested;
  for (const PredictionRow& p : r.predictions) tested.insert({p.run, p.row});
  EXPECT_EQ(tested.size(), 2 * data.rows.size());
  EXPECT_EQ(r.cleaning_label, "confident, drop, honest");

  const std::string dir = testing::scratch_dir();
  write_search_outputs(data, r, dir);
  const std::string csv = testing::slurp(dir + "/cleaning.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "patient,appt,dfu,label,protocol,times_flagged,times_fitted,share_flagged,suggested,"
            "mean_self_confidence,misclassified_passes,passes,reason");
  EXPECT_NE(csv.find("honest (training folds)"), std::string::npos);
  EXPECT_NE(csv.find("mean self-confidence"), std::string::npos);
  const std::string results = testing::slurp(dir + "/results.csv");
  EXPECT_NE(results.find(",cleaning\n"), std::string::npos);
  EXPECT_NE(results.find("\"confident, drop, honest\""), std::string::npos) << results;
}

TEST(CleaningSearch, OptimisticProtocolRemovesFlagsFromTestFoldsAndIsLabelled) {
  const Dataset& data = cohort();
  SearchSettings s = settings();
  s.tabular.clean.method = CleanMethod::kMisclass;
  s.clean_protocol = CleanProtocol::kOptimistic;
  const SearchResult r = run_search(data, s);
  std::set<int> removed;
  for (const CleaningRow& c : r.cleaning) {
    EXPECT_EQ(c.run, -1);
    EXPECT_EQ(c.issue.passes, 2);  // one test prediction per run
    if (c.issue.flagged) removed.insert(c.row);
  }
  ASSERT_FALSE(removed.empty());
  for (const PredictionRow& p : r.predictions) EXPECT_EQ(removed.count(p.row), 0U);
  EXPECT_NE(r.cleaning_label.find("OPTIMISTIC"), std::string::npos);
  EXPECT_NE(format_results_table(r, data.schema).find("OPTIMISTIC"), std::string::npos);
  // The same folds as an uncleaned search (the flags only remove rows).
  SearchSettings plain = settings();
  plain.tabular.clean.method = CleanMethod::kNone;
  EXPECT_EQ(run_search(data, plain).fold_of_patient, r.fold_of_patient);
}

}  // namespace
}  // namespace woundphase

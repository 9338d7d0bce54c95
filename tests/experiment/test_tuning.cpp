// --tune: a seeded nested random search inside each training fold; its choice per fold is stored
// (tuning.csv, the bundle) and its decision rule used.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <numeric>

#include "fixtures/cohorts.h"
#include "test_paths.h"
#include "woundphase/bundle.h"
#include "woundphase/metadata_branch.h"
#include "woundphase/search.h"
#include "woundphase/search_settings.h"
#include "woundphase/synth.h"

namespace woundphase {
namespace {

const Dataset& cohort() {
  return testing::synthetic_cohort("tuning_cohort", testing::cohort_settings(45, 12));
}

TabularSettings small() {
  TabularSettings t;
  t.forest.n_trees = 30;
  t.gbdt.n_rounds = 20;
  t.gbdt.threads = 1;
  t.inner_folds = 3;
  return t;
}

TEST(Tuning, SeededSearchKeepsTheBestInnerScoreAndHonoursTheBudget) {
  const Dataset& data = cohort();
  std::vector<int> rows(data.rows.size());
  std::iota(rows.begin(), rows.end(), 0);
  TabularSettings t = small();
  t.tune = 4;
  const TunedConfig a = tune_metadata(data, rows, data.labels(), t, DecisionRule::kArgmax, 3);
  const TunedConfig b = tune_metadata(data, rows, data.labels(), t, DecisionRule::kArgmax, 3);
  EXPECT_EQ(a.trials, 4);
  EXPECT_EQ(a.settings.tune, 0);
  nlohmann::json ja = a.to_json(), jb = b.to_json();
  ja.erase("seconds");
  jb.erase("seconds");
  EXPECT_EQ(ja, jb);  // same seed, same choice
  // The chosen trial is at least as good as trial 0 (the settings given) on the inner folds.
  t.tune = 1;
  const TunedConfig base = tune_metadata(data, rows, data.labels(), t, DecisionRule::kArgmax, 3);
  EXPECT_EQ(base.trials, 1);
  EXPECT_EQ(to_string(base.settings.model), "rf");
  EXPECT_GE(a.inner_qwk, base.inner_qwk);
  // A budget already spent after the first trial stops there.
  t.tune = 50;
  t.tune_budget = 1e-9;
  EXPECT_EQ(tune_metadata(data, rows, data.labels(), t, DecisionRule::kArgmax, 3).trials, 1);
}

TEST(Tuning, SearchStoresEachFoldsChoiceAndUsesItsRule) {
  const Dataset& data = cohort();
  SearchSettings s;
  s.cv_folds = 3;
  s.seed = 2;
  s.tabular = small();
  s.tabular.tune = 3;
  const SearchResult r = run_search(data, s);
  ASSERT_EQ(r.folds.size(), 3U);
  for (const FoldResult& f : r.folds) {
    ASSERT_FALSE(f.tuned.empty());
    const nlohmann::json j = nlohmann::json::parse(f.tuned);
    EXPECT_EQ(j.at("trials").get<int>(), 3);
    EXPECT_EQ(to_string(f.decision.rule), j.at("decision").get<std::string>());
  }
  const std::string dir = testing::scratch_dir();
  write_search_outputs(data, r, dir);
  const std::string csv = testing::slurp(dir + "/tuning.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "run,fold,modalities,trials,seconds,inner_qwk,decision,config");
  EXPECT_NE(format_results_table(r, data.schema).find("--tune: 3.0 configurations"),
            std::string::npos);

  TrainSettings t;
  t.tabular = small();
  t.tabular.tune = 2;
  train_bundle(data, t, dir + "/bundle");
  const Bundle b = load_bundle(dir + "/bundle");
  ASSERT_TRUE(b.manifest.contains("tuning"));
  EXPECT_EQ(b.manifest.at("tuning").at("decision").get<std::string>(), to_string(b.decision.rule));
}

}  // namespace
}  // namespace woundphase

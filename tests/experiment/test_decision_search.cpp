// --decision in a search and in bundles: thresholds fitted per fold on training patients'
// out-of-fold predictions only, applied to the test fold, written to folds.csv and bundle.json.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "fixtures/cohorts.h"
#include "test_paths.h"
#include "woundphase/bundle.h"
#include "woundphase/modality.h"
#include "woundphase/search.h"
#include "woundphase/search_settings.h"
#include "woundphase/synth.h"

namespace woundphase {
namespace {

const Dataset& cohort() {
  return testing::synthetic_cohort("decision_cohort", testing::cohort_settings(60, 5));
}

SearchSettings settings(DecisionRule rule) {
  SearchSettings s = testing::quick_search(3, 4, 40);
  s.decision = rule;
  return s;
}

TEST(DecisionSearch, ThresholdsComeFromEachFoldsTrainingPatientsOnly) {
  const Dataset& data = cohort();
  const SearchResult argmax_run = run_search(data, settings(DecisionRule::kArgmax));
  const SearchResult r = run_search(data, settings(DecisionRule::kThresholds));
  ASSERT_EQ(r.folds.size(), 3U);
  // The probabilities are the argmax run's: a decision changes phases, never probabilities.
  ASSERT_EQ(r.predictions.size(), argmax_run.predictions.size());
  for (size_t i = 0; i < r.predictions.size(); ++i)
    EXPECT_EQ(r.predictions[i].prob, argmax_run.predictions[i].prob);
  std::set<std::pair<double, double>> distinct;
  for (const FoldResult& f : r.folds) {
    EXPECT_EQ(f.decision.rule, DecisionRule::kThresholds);
    // Refit from this fold's out-of-fold rows alone (all training patients, no test patient).
    Probabilities p;
    std::vector<int> y;
    for (const PredictionRow& o : r.oof_predictions) {
      if (o.fold != f.fold) continue;
      EXPECT_NE(r.fold_of_patient[0][data.rows[o.row].patient], f.fold);
      p.insert(p.end(), o.prob.begin(), o.prob.end());
      y.push_back(data.rows[o.row].label);
    }
    const Thresholds t = fit_thresholds(p, y);
    EXPECT_DOUBLE_EQ(f.decision.thresholds.low, t.low);
    EXPECT_DOUBLE_EQ(f.decision.thresholds.high, t.high);
    distinct.insert({t.low, t.high});
    // Test predictions are those thresholds' cuts, and the fold's scores are theirs.
    std::vector<int> truth, pred;
    for (const PredictionRow& row : r.predictions) {
      if (row.fold != f.fold) continue;
      Probabilities one(row.prob.begin(), row.prob.end());
      EXPECT_EQ(row.pred, cut_grades(expected_grades(one), t).front());
      truth.push_back(data.rows[row.row].label);
      pred.push_back(row.pred);
    }
    EXPECT_DOUBLE_EQ(f.scores.qwk, score(truth, pred).qwk);
  }
  EXPECT_GT(distinct.size(), 1U) << "every fold fitted the same thresholds";
}

TEST(DecisionSearch, FoldsCsvRecordsTheRuleAndThresholds) {
  const Dataset& data = cohort();
  SearchSettings s = settings(DecisionRule::kExpected);
  s.ensemble.kind = EnsembleKind::kAverage;
  s.combinations = {{Modality::kMetadata}};
  const std::string dir = testing::scratch_dir();
  const SearchResult r = run_search(data, s);
  write_search_outputs(data, r, dir);
  const std::string folds = testing::slurp(dir + "/folds.csv");
  EXPECT_NE(folds.find("decision,threshold_low,threshold_high\n"), std::string::npos);
  EXPECT_NE(folds.find(",metadata,"), std::string::npos);
  EXPECT_NE(folds.find(",expected,0.500000,1.500000\n"), std::string::npos) << folds;
  // The ensemble is decided too, on its validation predictions.
  for (const FoldResult& f : r.folds) EXPECT_EQ(f.decision.rule, DecisionRule::kExpected);
  bool ensemble_oof = false;
  for (const PredictionRow& o : r.oof_predictions) ensemble_oof |= o.modalities == kEnsembleName;
  EXPECT_TRUE(ensemble_oof);
}

TEST(DecisionSearch, BundleStoresThresholdsAndPredictAppliesThem) {
  const Dataset& data = cohort();
  TrainSettings t;
  t.seed = 2;
  t.tabular.forest.n_trees = 40;
  t.decision = DecisionRule::kThresholds;
  const std::string dir = testing::scratch_dir();
  train_bundle(data, t, dir + "/bundle");
  const Bundle b = load_bundle(dir + "/bundle");
  EXPECT_EQ(b.decision.rule, DecisionRule::kThresholds);
  EXPECT_EQ(b.manifest.at("decision").at("fitted_on_rows").get<size_t>(), data.rows.size());
  Scores scores;
  const Probabilities probs = predict_bundle(b, data, dir + "/preds.csv", &scores);
  EXPECT_EQ(testing::slurp(dir + "/preds.csv"),
            testing::slurp(dir + "/bundle/train_predictions.csv"));
  std::vector<int> truth;
  for (const VisitWound& vw : data.rows) truth.push_back(vw.label);
  EXPECT_DOUBLE_EQ(scores.qwk, score(truth, b.decision.apply(probs)).qwk);
}

}  // namespace
}  // namespace woundphase

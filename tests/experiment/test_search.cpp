// The cross-validated search end to end: grouping, determinism, leakage control, sampling,
// out-of-fold probabilities and the train -> predict round trip.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "fixtures/cohorts.h"
#include "test_paths.h"
#include "woundphase/bundle.h"
#include "woundphase/metadata_branch.h"
#include "woundphase/modality.h"
#include "woundphase/search.h"
#include "woundphase/search_settings.h"
#include "woundphase/synth.h"

namespace woundphase::testing {
namespace {

SearchSettings fast_settings() { return quick_search(5, 3, 60); }

// The control of a search: the same settings over three runs with the labels shuffled, whose
// kappa must be near zero.
SearchResult shuffled_control(const Dataset& data, SearchSettings s) {
  s.shuffle_labels = true;
  s.runs = 3;
  return run_search(data, s);
}

const Dataset& synthetic_cohort() {
  return testing::synthetic_cohort("search_cohort", testing::cohort_settings(90, 11));
}

TEST(Search, EveryVisitWoundTestedOnceAndPatientsNeverSplit) {
  const Dataset& data = synthetic_cohort();
  SearchSettings s = fast_settings();
  s.runs = 2;
  const SearchResult r = run_search(data, s);
  ASSERT_EQ(r.folds.size(), 10U);
  for (int run = 0; run < 2; ++run) {
    std::map<int, int> times_tested;
    std::map<int, std::set<int>> folds_of_patient;
    for (const auto& p : r.predictions) {
      if (p.run != run) continue;
      ++times_tested[p.row];
      folds_of_patient[data.rows[p.row].patient].insert(p.fold);
      EXPECT_EQ(r.fold_of_patient[run][data.rows[p.row].patient], p.fold);
    }
    EXPECT_EQ(times_tested.size(), data.rows.size());
    for (const auto& [row, n] : times_tested) EXPECT_EQ(n, 1);
    for (const auto& [patient, folds] : folds_of_patient) EXPECT_EQ(folds.size(), 1U);
    // Out-of-fold rows of a fold are exactly its training rows: never a test-fold patient.
    for (const auto& o : r.oof_predictions) {
      if (o.run != run) continue;
      EXPECT_NE(r.fold_of_patient[run][data.rows[o.row].patient], o.fold);
    }
  }
  // Different runs use different seeds and therefore different folds.
  EXPECT_NE(r.fold_of_patient[0], r.fold_of_patient[1]);
  ASSERT_EQ(r.summary.size(), 1U);
  EXPECT_EQ(r.summary[0].n_samples, static_cast<int>(data.rows.size()));
}

TEST(Search, LearnsSignalAndShuffledLabelsGiveKappaNearZero) {
  const Dataset& data = synthetic_cohort();
  SearchSettings s = fast_settings();
  s.runs = 2;
  const SearchResult real = run_search(data, s);
  EXPECT_GT(real.summary[0].qwk.mean, 0.2);
  const SearchResult control = shuffled_control(data, s);
  EXPECT_LT(std::abs(control.summary[0].kappa.mean), 0.1);
  EXPECT_LT(std::abs(control.summary[0].qwk.mean), 0.15);
}

TEST(Search, SameSeedSameBytesAnyThreadCount) {
  const Dataset& data = synthetic_cohort();
  SearchSettings s = fast_settings();
  const std::string base = testing::scratch_dir();
  const std::string a = base + "/a";
  const std::string b = base + "/b";
  write_search_outputs(data, run_search(data, s), a);
  s.threads = 1;
  write_search_outputs(data, run_search(data, s), b);
  for (const char* f :
       {"results.csv", "folds.csv", "predictions.csv", "oof_predictions.csv", "splits.csv"})
    EXPECT_EQ(slurp(a + "/" + f), slurp(b + "/" + f)) << f;
  s.seed = 4;
  const std::string c = base + "/c";
  write_search_outputs(data, run_search(data, s), c);
  EXPECT_NE(slurp(a + "/predictions.csv"), slurp(c + "/predictions.csv"));
}

TEST(Search, OutOfFoldProbabilitiesDifferFromInSample) {
  const Dataset& data = synthetic_cohort();
  std::vector<int> rows(data.rows.size());
  std::iota(rows.begin(), rows.end(), 0);
  TabularSettings t;
  t.forest.n_trees = 100;
  Probabilities oof;
  const MetadataModel m = fit_metadata(data, rows, data.labels(), t, 5, &oof);
  const Probabilities in_sample = predict_metadata(m, data, rows);
  ASSERT_EQ(oof.size(), in_sample.size());
  // In-sample probabilities are confident on the true class; out-of-bag ones are honest.
  double in_true = 0;
  double oof_true = 0;
  const auto y = data.labels();
  for (size_t i = 0; i < rows.size(); ++i) {
    in_true += in_sample[i * kNumClasses + y[i]];
    oof_true += oof[i * kNumClasses + y[i]];
    EXPECT_NEAR(oof[i * kNumClasses] + oof[i * kNumClasses + 1] + oof[i * kNumClasses + 2], 1.0,
                1e-9);
  }
  EXPECT_GT(in_true / rows.size(), oof_true / rows.size() + 0.05);
}

TEST(Search, EverySamplingStrategyAndModelRuns) {
  const Dataset& data = synthetic_cohort();
  for (const char* strategy : {"none", "random", "under", "combined", "smote", "combined_smote"}) {
    SearchSettings s = fast_settings();
    s.cv_folds = 3;
    s.tabular.sampling.strategy = parse_sampling(strategy);
    const SearchResult r = run_search(data, s);
    EXPECT_GT(r.summary[0].qwk.mean, 0.1) << strategy;
    // OOF probabilities exist for every training row, also when undersampling dropped rows.
    EXPECT_EQ(r.oof_predictions.size(), 2 * data.rows.size()) << strategy;
  }
  SearchSettings g = fast_settings();
  g.cv_folds = 3;
  g.tabular.model = TreeModelKind::kGbdt;
  g.tabular.gbdt.n_rounds = 30;
  EXPECT_GT(run_search(data, g).summary[0].qwk.mean, 0.1);
}

TEST(Search, SingleSplitAndDataPercentage) {
  const Dataset& data = synthetic_cohort();
  SearchSettings s = fast_settings();
  s.cv_folds = 1;
  s.train_fraction = 0.75;
  const SearchResult one = run_search(data, s);
  ASSERT_EQ(one.folds.size(), 1U);
  const double test_share = static_cast<double>(one.folds[0].n_test) / data.rows.size();
  EXPECT_NEAR(test_share, 0.25, 0.08);
  s.cv_folds = 3;
  s.data_percentage = 50;
  const SearchResult half = run_search(data, s);
  int kept = 0;
  for (int f : half.fold_of_patient[0]) kept += f >= 0 ? 1 : 0;
  EXPECT_NEAR(kept, 45, 2);
  EXPECT_LT(half.summary[0].n_samples, static_cast<int>(data.rows.size()) * 0.7);
}

TEST(Search, BadSettingsAreInputErrors) {
  const Dataset& data = synthetic_cohort();
  SearchSettings s = fast_settings();
  s.cv_folds = 0;
  EXPECT_THROW(run_search(data, s), InputError);
  s = fast_settings();
  s.cv_folds = 200;
  EXPECT_THROW(run_search(data, s), InputError);  // more folds than patients
  EXPECT_THROW(parse_combinations("metadata+metadata", {Modality::kMetadata}), InputError);
  EXPECT_THROW(parse_combinations("thermal_map", {Modality::kMetadata}), InputError);
  EXPECT_THROW(parse_combinations("bogus", {Modality::kMetadata}), InputError);
  const auto all =
      parse_combinations("all", {Modality::kMetadata, Modality::kThermalMap, Modality::kDepthMap});
  EXPECT_EQ(all.size(), 7U);
  EXPECT_EQ(to_string(all.back()), "metadata+thermal_map+depth_map");
}

TEST(Bundle, TrainPredictRoundTripMatchesInProcess) {
  const Dataset& data = synthetic_cohort();
  TrainSettings t;
  t.seed = 9;
  t.tabular.forest.n_trees = 50;
  const std::string dir = testing::scratch_dir();
  train_bundle(data, t, dir + "/bundle");
  const Bundle b = load_bundle(dir + "/bundle");
  Scores scores;
  const Probabilities from_bundle = predict_bundle(b, data, dir + "/preds.csv", &scores);
  ASSERT_EQ(from_bundle.size(), data.rows.size() * kNumClasses);
  EXPECT_EQ(scores.n, static_cast<long>(data.rows.size()));
  // The training process wrote its own predictions for the cohort: the loaded bundle gives the
  // same bytes.
  const std::string csv = slurp(dir + "/preds.csv");
  EXPECT_EQ(csv, slurp(dir + "/bundle/train_predictions.csv"));
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "patient,appt,dfu,label,prob_I,prob_P,prob_R,pred,modalities_used");
  // A bundle is the metadata branch fitted on every patient: it fits its cohort far better than
  // chance but is not a lookup table of labels (bootstrap, leaves of several rows).
  EXPECT_GT(scores.qwk, 0.5);
}

TEST(RealData, MetadataSearchBeatsChanceAndControlDoesNot) {
  const std::string dir = testing::real_data_dir();
  if (dir.empty()) GTEST_SKIP() << "../shared/data/dfu not present";
  const Dataset data = load_dataset(dir, Schema::dfu(), true);
  SearchSettings s = fast_settings();
  s.tabular.forest.n_trees = 100;
  const SearchResult r = run_search(data, s);
  EXPECT_GT(r.summary[0].qwk.mean, 0.2);
  const SearchResult control = shuffled_control(data, s);
  EXPECT_LT(std::abs(control.summary[0].kappa.mean), 0.1);
}

}  // namespace
}  // namespace woundphase::testing

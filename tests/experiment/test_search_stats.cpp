// The statistics written beside a search's results: common rows, comparisons, complementarity.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "experiment/search_stats.h"

namespace woundphase {
namespace {

// 30 patients with two visit-wounds each, 3 folds by patient, 2 runs. "metadata" predicts every
// row; "thermal_map" lacks the images of patients 0-5 (not evaluated there) and is right more
// often; "metadata+thermal_map" is evaluated where thermal_map is.
struct Synthetic {
  Dataset data;
  SearchResult result;
};

Synthetic make_synthetic() {
  Synthetic s;
  constexpr int kPatients = 30;
  for (int p = 0; p < kPatients; ++p) {
    s.data.patients.push_back("P" + std::to_string(p));
    for (int a = 0; a < 2; ++a) {
      VisitWound vw;
      vw.patient = p;
      vw.appt = a;
      vw.label = (p + a) % kNumClasses;
      s.data.rows.push_back(vw);
    }
  }
  const std::vector<std::string> names = {"metadata", "thermal_map", "metadata+thermal_map"};
  for (int run = 0; run < 2; ++run) {
    std::vector<int> fold_of(kPatients);
    for (int p = 0; p < kPatients; ++p) fold_of[p] = (p + run) % 3;
    s.result.fold_of_patient.push_back(fold_of);
    for (int fold = 0; fold < 3; ++fold)
      for (size_t c = 0; c < names.size(); ++c) {
        FoldResult f;
        f.run = run;
        f.fold = fold;
        f.modalities = names[c];
        s.result.folds.push_back(f);
        for (size_t r = 0; r < s.data.rows.size(); ++r) {
          const VisitWound& vw = s.data.rows[r];
          if (c == 0 && fold_of[vw.patient] != fold) {
            // Out-of-fold predictions of metadata for the training rows: over-confident (0.9)
            // and right on two rows of three.
            PredictionRow o;
            o.run = run;
            o.fold = fold;
            o.modalities = names[c];
            o.row = static_cast<int>(r);
            o.pred = r % 3 == 0 ? (vw.label + 1) % kNumClasses : vw.label;
            o.prob = {0.05, 0.05, 0.05};
            o.prob[o.pred] = 0.9;
            s.result.oof_predictions.push_back(o);
          }
          if (fold_of[vw.patient] != fold) continue;
          if (c > 0 && vw.patient < 6) continue;  // no thermal image
          PredictionRow p;
          p.run = run;
          p.fold = fold;
          p.modalities = names[c];
          p.row = static_cast<int>(r);
          // metadata wrong on every third row, the image combinations on every seventh.
          const bool wrong = c == 0 ? r % 3 == 0 : (r + run) % 7 == 0;
          p.pred = wrong ? (vw.label + 1) % kNumClasses : vw.label;
          p.prob = {0.2, 0.2, 0.2};
          p.prob[p.pred] = 0.6;
          s.result.predictions.push_back(p);
        }
      }
  }
  for (const std::string& n : names) {
    CombinationSummary summary;
    summary.modalities = n;
    s.result.summary.push_back(summary);
  }
  return s;
}

TEST(SearchStats, CommonRowsAreWhereEveryCombinationWasEvaluated) {
  const Synthetic s = make_synthetic();
  const SearchStatistics st = compute_search_statistics(s.data, s.result, 0.05);
  EXPECT_TRUE(st.common_differs);
  ASSERT_EQ(st.combinations.size(), 3u);
  for (const CombinationStats& c : st.combinations) EXPECT_EQ(c.n_common, 48);  // 24 patients x 2
  // metadata on common rows: its own predictions restricted to patients 6..29.
  EXPECT_FALSE(std::isnan(st.combinations[0].qwk_common.mean));
  EXPECT_NEAR(st.test_train_ratio, 0.5, 1e-12);  // 10 of 30 patients per fold
}

TEST(SearchStats, ComparesEveryCombinationWithMetadataAndTheTop) {
  const Synthetic s = make_synthetic();
  const SearchStatistics st = compute_search_statistics(s.data, s.result, 0.05);
  // The two image combinations tie on common rows (same predictions): the top is the first by
  // name. Pairs: thermal_map-metadata, fusion-metadata, thermal_map vs the top (fusion).
  EXPECT_EQ(st.top, "metadata+thermal_map");
  ASSERT_EQ(st.comparisons.size(), 3u);
  std::set<std::pair<std::string, std::string>> pairs;
  for (const ComparisonRow& c : st.comparisons) {
    pairs.insert({c.a, c.b});
    EXPECT_EQ(c.n_common, 48);
    EXPECT_EQ(c.result.n_folds, 6);
    EXPECT_NEAR(c.result.qwk_diff, c.result.qwk_a - c.result.qwk_b, 1e-12);
    EXPECT_GE(c.p_holm, c.result.corrected_t.p);
  }
  EXPECT_TRUE(pairs.count({"thermal_map", "metadata"}));
  EXPECT_TRUE(pairs.count({"metadata+thermal_map", "metadata"}));
  EXPECT_TRUE(pairs.count({"thermal_map", "metadata+thermal_map"}));
  for (const ComparisonRow& c : st.comparisons)
    if (c.a == "thermal_map" && c.b == "metadata+thermal_map") {
      EXPECT_EQ(c.result.qwk_diff, 0.0);  // identical predictions
      EXPECT_EQ(c.result.corrected_t.p, 1.0);
      EXPECT_FALSE(c.significant);
    }
  const std::string csv = comparisons_csv(st);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "a,b,n_common,qwk_a,qwk_b,qwk_diff,diff_ci_low,diff_ci_high,p_corrected_t,p_wilcoxon,"
            "p_mcnemar,p_holm,significant,n_folds,t_statistic,wilcoxon_statistic,mcnemar_b,"
            "mcnemar_c,test_train_ratio,alpha");
}

TEST(SearchStats, ComplementarityOfModalitiesAndFusionMembers) {
  const Synthetic s = make_synthetic();
  const SearchStatistics st = compute_search_statistics(s.data, s.result, 0.05);
  ASSERT_EQ(st.complementarity.size(), 3u);  // one modality pair, the fusion against 2 members
  EXPECT_EQ(st.complementarity[0].kind, "modalities");
  EXPECT_EQ(st.complementarity[0].table.total(), 96);  // 48 common rows x 2 runs
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(st.complementarity[i].kind, "fusion");
    EXPECT_EQ(st.complementarity[i].a, "metadata+thermal_map");
    EXPECT_NEAR(st.complementarity[i].fusion_gain, 0.0, 1e-12);  // equals thermal_map
  }
}

TEST(SearchStats, CalibrationAndWeightedF1PerCombination) {
  const Synthetic s = make_synthetic();
  const SearchStatistics st = compute_search_statistics(s.data, s.result, 0.05);
  // Every prediction has confidence 0.6: ECE = |accuracy - 0.6|.
  const CombinationStats& meta = st.combinations[0];
  EXPECT_EQ(meta.calibration.n, 120);  // 60 rows x 2 runs
  long wrong = 0;
  for (const PredictionRow& p : s.result.predictions)
    if (p.modalities == "metadata" && p.pred != s.data.rows[p.row].label) ++wrong;
  EXPECT_NEAR(meta.calibration.ece, std::fabs(1.0 - wrong / 120.0 - 0.6), 1e-12);
  EXPECT_GT(meta.f1_weighted, 0.5);
}

TEST(SearchStats, TemperatureFittedOnTrainingPatientsOnly) {
  const Synthetic s = make_synthetic();
  const SearchStatistics none = compute_search_statistics(s.data, s.result, 0.05);
  EXPECT_TRUE(std::isnan(none.combinations[0].temperature_mean));
  const SearchStatistics st =
      compute_search_statistics(s.data, s.result, 0.05, CalibrationMethod::kTemperature);
  // metadata's out-of-fold predictions are over-confident: a temperature above 1 softens them.
  const CombinationStats& meta = st.combinations[0];
  EXPECT_GT(meta.temperature_mean, 1.0);
  // The mean of one temperature per (run, fold), each fitted on that fold's out-of-fold rows.
  double sum = 0;
  for (int run = 0; run < 2; ++run)
    for (int fold = 0; fold < 3; ++fold) {
      std::vector<PredictionRow> rows;
      for (const PredictionRow& p : s.result.oof_predictions)
        if (p.run == run && p.fold == fold) rows.push_back(p);
      sum += fit_job_temperature(s.data, rows);
    }
  EXPECT_NEAR(meta.temperature_mean, sum / 6, 1e-12);
  EXPECT_EQ(meta.calibrated.n, meta.calibration.n);
  EXPECT_NE(meta.calibrated.brier, meta.calibration.brier);
  // No predictions for training patients (thermal_map here): temperature 1, nothing changes.
  const CombinationStats& thermal = st.combinations[1];
  EXPECT_EQ(thermal.temperature_mean, 1.0);
  EXPECT_EQ(thermal.calibrated.ece, thermal.calibration.ece);
}

}  // namespace
}  // namespace woundphase

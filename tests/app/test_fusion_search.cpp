// Fusion through the CLI on tiny cohorts (32x32 crops, few epochs): every combination on the same
// folds with one branch per modality and fold, the per-stage columns and tables, stage 2 and its
// keep rule, the ensemble row, resume, and bundles of fused combinations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "fixtures/cli.h"
#include "fixtures/vision_tool.h"
#include "test_paths.h"

namespace fs = std::filesystem;

namespace woundphase::testing {
namespace {

const std::string& cohort() {
  return testing::cli_cohort("fusion_cohort", "--patients 36 --seed 21 --image-scale 0.05");
}

const std::string kFast =
    " --cv-folds 2 --image-size 32 --epochs 2 --batch-size 16 --trees 30 --stage1-epochs 5";

TEST(FusionSearch, AllCombinationsShareOneBranchPerModalityAndFoldAndReportStages) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string base = testing::scratch_dir();
  const std::string args = "search --data " + cohort() + " --modalities all --ensemble weighted" +
                           kFast + " -v 2 --out ";
  auto r = run_cli(args + base + "/a");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Every non-empty combination of metadata and the three image modalities, plus the ensemble.
  const auto results = csv_rows(slurp(base + "/a/results.csv"));
  ASSERT_EQ(results.size(), 16U) << slurp(base + "/a/results.csv");
  EXPECT_EQ(results.back().at("modalities"), "ensemble");
  // Cost grows with modalities: each image branch trains once per fold (2 folds), although
  // eight combinations contain it.
  for (const char* m : {"thermal_map", "depth_map", "depth_rgb"})
    EXPECT_EQ(testing::occurrences(r.output, std::string(m) + " epoch 1:"), 2U) << m << "\n"
                                                                                << r.output;
  // Heads log their parameter breakdown before stage 1.
  EXPECT_NE(r.output.find("metadata+depth_rgb stage 1: "), std::string::npos) << r.output;

  const auto folds = csv_rows(slurp(base + "/a/folds.csv"));
  ASSERT_EQ(folds.size(), 32U);
  int fused = 0;
  for (const auto& f : folds) {
    const std::string& name = f.at("modalities");
    const bool is_fused = name.find('+') != std::string::npos;
    EXPECT_EQ(f.at("qwk_stage1").empty(), !is_fused) << name;
    EXPECT_EQ(f.at("qwk_pretrain").empty(), !is_fused) << name;
    EXPECT_TRUE(f.at("qwk_stage2").empty()) << name;  // no stage 2 unless asked
    if (!is_fused) continue;
    ++fused;
    EXPECT_EQ(f.at("final_stage"), "stage1");
    EXPECT_DOUBLE_EQ(std::stod(f.at("qwk")), std::stod(f.at("qwk_stage1")));
  }
  EXPECT_EQ(fused, 22);
  // The per-stage tables are printed at the end.
  EXPECT_NE(r.output.find("metadata+thermal_map: test QWK by stage"), std::string::npos);
  EXPECT_NE(r.output.find("pre-train"), std::string::npos);
  // Fused combinations evaluate only visit-wounds with all their modalities.
  std::map<std::string, std::set<std::string>> rows_of;
  for (const auto& p : csv_rows(slurp(base + "/a/predictions.csv")))
    rows_of[p.at("modalities")].insert(p.at("patient") + "/" + p.at("appt") + "/" + p.at("dfu"));
  for (const auto& row : rows_of["metadata+thermal_map"])
    EXPECT_TRUE(rows_of["thermal_map"].count(row)) << row;
  EXPECT_EQ(rows_of["ensemble"].size(), rows_of["metadata"].size());
  // degraded.csv: each fused combination's test rows predicted from each sub-combination (all are
  // searched): 2 folds x (6 pairs x 2 + 4 triples x 6 + 1 x 14) sub-combinations; with every
  // modality the QWK is the fold's own.
  const auto degraded = csv_rows(slurp(base + "/a/degraded.csv"));
  EXPECT_EQ(degraded.size(), 100U);
  std::map<std::string, std::string> fold_qwk;
  for (const auto& f : folds)
    fold_qwk[f.at("run") + "/" + f.at("fold") + "/" + f.at("modalities")] = f.at("qwk");
  for (const auto& d : degraded) {
    EXPECT_EQ(d.at("qwk_all"),
              fold_qwk.at(d.at("run") + "/" + d.at("fold") + "/" + d.at("modalities")));
    EXPECT_EQ(std::stoi(d.at("n")) > 0, true);
  }

  // Same seed, same bytes; and a resumed run keeps every job.
  r = run_cli(args + base + "/b");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"results.csv", "folds.csv", "predictions.csv", "training_curves.csv"})
    EXPECT_EQ(slurp(base + "/a/" + f), slurp(base + "/b/" + f)) << f;
  r = run_cli(args + base + "/b");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("32 finished jobs kept"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("epoch 1:"), std::string::npos) << r.output;
  for (const char* f : {"results.csv", "folds.csv", "predictions.csv"})
    EXPECT_EQ(slurp(base + "/a/" + f), slurp(base + "/b/" + f)) << f;
}

// Stage 2 starts where stage 1 ended, for every head that trains: on a planted-signal cohort
// (issue 11's reproduction: 60 patients, metadata+depth_rgb, 32 px, 3 folds) the first stage-2
// epoch's training loss is below the first stage-1 epoch's in every fold. Before the fix,
// feature_concat's stage 2 started at 2.25 where stage 1 had started at 1.16.
TEST(FusionSearch, StageTwoStartsBelowStageOneForEveryHead) {
  ASSERT_TRUE(vision_built()) << "libwoundphase_vision.so was not built";
  const std::string base = testing::scratch_dir();
  const auto synth = run_cli("synth --out " + base + "/data --patients 60 --seed 9");
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  for (const char* head : {"learned_weights", "prob_concat", "feature_concat", "gated"}) {
    SCOPED_TRACE(head);
    const std::string out = base + "/" + head;
    const auto r = run_cli("search --data " + base + "/data --modalities metadata+depth_rgb" +
                           " --fusion " + head +
                           " --image-size 32 --cv-folds 3 --epochs 6 --stage1-epochs 10"
                           " --stage2-epochs 2 --out " +
                           out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::map<std::string, double> first;  // "fold/stage" -> epoch 1's training loss
    for (const auto& row : csv_rows(slurp(out + "/training_curves.csv")))
      if (row.at("epoch") == "1" && row.at("component").rfind("head stage", 0) == 0)
        first[row.at("fold") + "/" + row.at("component")] = std::stod(row.at("loss"));
    for (const char* fold : {"0", "1", "2"}) {
      const std::string f = fold;
      ASSERT_TRUE(first.count(f + "/head stage1") && first.count(f + "/head stage2")) << f;
      EXPECT_LT(first[f + "/head stage2"], first[f + "/head stage1"]) << "fold " << f;
    }
  }
}

TEST(FusionSearch, KilledDuringAFusedSearchResumesToTheSameBytes) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string base = testing::scratch_dir();
  const std::string args = "search --data " + cohort() +
                           " --modalities metadata,thermal_map,metadata+thermal_map,"
                           "thermal_map+depth_rgb --ensemble stacking --stage2-epochs 1" +
                           kFast + " --out ";
  auto r = run_cli(args + base + "/a");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Killed (SIGKILL) right after the 7th job of 10 (fold 1's thermal_map) is computed, before it
  // is stored: its branch network is saved, so the resumed run loads it instead of training it.
  r = testing::run_cli_env("WOUNDPHASE_TEST_KILL=fit:6", args + base + "/b");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(fs::exists(base + "/b/results.csv"));
  r = run_cli(args + base + "/b");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("6 finished jobs kept"), std::string::npos) << r.output;
  for (const char* f : {"results.csv", "folds.csv", "predictions.csv", "oof_predictions.csv",
                        "training_curves.csv"})
    EXPECT_EQ(slurp(base + "/a/" + f), slurp(base + "/b/" + f)) << f;
  // Each saved branch keeps its features beside its network; a damaged features file is not
  // trusted (the features are recomputed from the network), and the bytes stay the same.
  const std::string features = base + "/b/models/run0_fold1_thermal_map.pt.features";
  ASSERT_TRUE(fs::exists(features));
  fs::resize_file(features, fs::file_size(features) / 2);
  r = run_cli(args + base + "/b --resume from_models");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"results.csv", "folds.csv", "predictions.csv", "oof_predictions.csv"})
    EXPECT_EQ(slurp(base + "/a/" + f), slurp(base + "/b/" + f)) << f;
  // ... and saved whole again (every fold's file covers all visit-wounds with a thermal map).
  EXPECT_EQ(fs::file_size(features),
            fs::file_size(base + "/b/models/run0_fold0_thermal_map.pt.features"));
}

TEST(FusionSearch, StageTwoRunsWhenAskedAndTheFinalIsTheStageChosenOnValidation) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string base = testing::scratch_dir();
  auto r = run_cli("search --data " + cohort() +
                   " --modalities metadata+depth_rgb,depth_rgb+thermal_map --stage2-epochs 2" +
                   " --stage2-unfreeze 0.5" + kFast + " -v 2 --out " + base + "/o");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("stage2 epoch 1"), std::string::npos) << r.output;
  for (const auto& f : csv_rows(slurp(base + "/o/folds.csv"))) {
    ASSERT_FALSE(f.at("qwk_stage2").empty());
    const std::string& final_stage = f.at("final_stage");
    ASSERT_TRUE(final_stage == "stage1" || final_stage == "stage2") << final_stage;
    EXPECT_DOUBLE_EQ(std::stod(f.at("qwk")), std::stod(f.at("qwk_" + final_stage)));
  }
  // The decision is logged with both validation QWKs.
  EXPECT_NE(r.output.find("stage 2 validation QWK"), std::string::npos);
}

TEST(FusionSearch, FixedHasNothingToTrainAndAZeroParameterStageIsAnError) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string base = testing::scratch_dir();
  auto r =
      run_cli("search --data " + cohort() + " --modalities metadata+thermal_map --fusion fixed" +
              kFast + " -v 2 --out " + base + "/o");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("nothing to train"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("stage 1: 0 trainable parameters"), std::string::npos) << r.output;
  r = run_cli("search --data " + cohort() +
              " --modalities metadata+thermal_map --fusion fixed --stage2-epochs 1 "
              "--stage2-unfreeze 0" +
              kFast + " --out " + base + "/o2");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("0 parameters"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(base + "/o2/results.csv"));
  r = run_cli("search --data " + cohort() + " --modalities metadata+thermal_map --fusion average" +
              kFast + " --out " + base + "/o3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--fusion"), std::string::npos) << r.output;
}

TEST(FusionSearch, SmoteWithImagesRunsEveryFittedStepOnCompleteSamples) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string base = testing::scratch_dir();
  auto r = run_cli("search --data " + cohort() +
                   " --modalities metadata+depth_map --sampling smote --stage2-epochs 1" + kFast +
                   " --out " + base + "/o");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Test predictions are real visit-wounds only, one per test visit-wound with a depth map.
  const auto preds = csv_rows(slurp(base + "/o/predictions.csv"));
  std::set<std::string> keys;
  for (const auto& p : preds) keys.insert(p.at("patient") + "/" + p.at("appt") + "/" + p.at("dfu"));
  EXPECT_EQ(keys.size(), preds.size());
}

TEST(FusionBundle, TrainThenPredictReproducesTheTrainingProcessAndAppliesToAnotherCohort) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string base = testing::scratch_dir();
  // With a projection head: the bundle must record every architecture field of its branches.
  auto r = run_cli("train --data " + cohort() +
                   " --modalities metadata+thermal_map --image-size 32 --epochs 2 --trees 30 "
                   "--stage1-epochs 5 --stage2-epochs 1 --projection 16 --out " +
                   base + "/bundle");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f :
       {"bundle.json", "branch_thermal_map.pt", "fusion.pt", "train_predictions.csv"})
    EXPECT_TRUE(fs::exists(base + "/bundle/" + f)) << f;
  // Loaded in another process, the bundle gives the training process's numbers.
  r = run_cli("predict --model " + base + "/bundle --data " + cohort() + " --out " + base +
              "/same.csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(slurp(base + "/same.csv"), slurp(base + "/bundle/train_predictions.csv"));
  // Another cohort (other patients, no labels needed): every visit-wound with a thermal map gets
  // a probability row that sums to 1; the others are blank and counted.
  ASSERT_EQ(
      run_cli("synth --out " + base + "/new --patients 8 --seed 99 --image-scale 0.05").exit_code,
      0);
  r = run_cli("predict --model " + base + "/bundle --data " + base + "/new --out " + base +
              "/new.csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto rows = csv_rows(slurp(base + "/new.csv"));
  ASSERT_FALSE(rows.empty());
  int predicted = 0;
  for (const auto& row : rows) {
    if (row.at("pred").empty()) continue;
    ++predicted;
    const double sum =
        std::stod(row.at("prob_I")) + std::stod(row.at("prob_P")) + std::stod(row.at("prob_R"));
    EXPECT_NEAR(sum, 1.0, 2e-6);
  }
  EXPECT_GT(predicted, 0);
  // A study folder without the images the bundle needs is a clear error, and nothing is written.
  ASSERT_EQ(run_cli("synth --out " + base + "/noimg --patients 4 --no-images").exit_code, 0);
  r = run_cli("predict --model " + base + "/bundle --data " + base + "/noimg --out " + base +
              "/noimg.csv");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("Thermal_Map_IMG: missing"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(base + "/noimg.csv"));
  // Predicting again gives the same bytes.
  expect_same_predictions_again(base + "/bundle", base + "/new", base + "/new.csv",
                                base + "/new2.csv");
}

}  // namespace
}  // namespace woundphase::testing

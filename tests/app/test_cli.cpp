// The woundphase binary as a user runs it: outputs, exit codes, messages, nothing clobbered.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fixtures/cli.h"
#include "fixtures/vision_tool.h"
#include "test_paths.h"

namespace fs = std::filesystem;

namespace woundphase::testing {
namespace {

// A synthetic cohort written once by the CLI and shared by the tests.
const std::string& cohort() { return testing::cli_cohort("cli_cohort", "--patients 60 --seed 5"); }

TEST(Cli, SearchWritesEveryOutputWithTheDocumentedColumns) {
  const std::string out = testing::scratch_dir();
  const auto r = run_cli("search --data " + cohort() + " --out " + out +
                         " --cv-folds 3 --runs 2 --trees 40 -v 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("metadata"), std::string::npos);
  EXPECT_NE(r.output.find("QWK"), std::string::npos);
  const auto results = lines(slurp(out + "/results.csv"));
  ASSERT_EQ(results.size(), 2U);
  EXPECT_EQ(results[0],
            "modalities,n_samples,qwk_mean,qwk_std,kappa_mean,kappa_std,accuracy_mean,macro_f1_"
            "mean,f1_I,f1_P,f1_R,n_common,qwk_common_mean,qwk_common_std,f1_weighted,ece,brier,"
            "log_loss,rank,n_folds,n_runs,qwk_ci_low,qwk_ci_high");
  EXPECT_EQ(results[1].rfind("metadata,", 0), 0U);
  // One combination: nothing to compare, no pair of single modalities; the headers are written.
  const auto comparisons = lines(slurp(out + "/comparisons.csv"));
  ASSERT_EQ(comparisons.size(), 1U);
  EXPECT_EQ(comparisons[0].rfind("a,b,n_common,qwk_a,qwk_b,qwk_diff,diff_ci_low,", 0), 0U);
  EXPECT_EQ(lines(slurp(out + "/complementarity.csv")).size(), 1U);
  const auto folds = lines(slurp(out + "/folds.csv"));
  EXPECT_EQ(folds[0], "run,seed,fold,modalities,n_train,n_test,qwk,kappa,accuracy,macro_f1");
  EXPECT_EQ(folds.size(), 1U + 2 * 3);
  const auto preds = lines(slurp(out + "/predictions.csv"));
  EXPECT_EQ(preds[0], "run,fold,modalities,patient,appt,dfu,label,prob_I,prob_P,prob_R,pred");
  const auto splits = lines(slurp(out + "/splits.csv"));
  EXPECT_EQ(splits[0], "run,patient,fold");
  EXPECT_EQ(splits.size(), 1U + 2 * 60);
  EXPECT_TRUE(fs::exists(out + "/settings.json"));
}

// --calibrate temperature: the bundle records a temperature fitted on out-of-fold predictions and
// predict applies it (reproducing the training process's own predictions); the search reports the
// calibration before and after.
TEST(Cli, TemperatureCalibrationInSearchTrainAndPredict) {
  const std::string dir = testing::scratch_dir();
  auto r = run_cli("train --data " + cohort() + " --out " + dir +
                   "/bundle --trees 30 --calibrate temperature");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string manifest = slurp(dir + "/bundle/bundle.json");
  EXPECT_NE(manifest.find("\"temperature\""), std::string::npos);
  r = run_cli("predict --model " + dir + "/bundle --data " + cohort() + " --out " + dir +
              "/preds.csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(slurp(dir + "/preds.csv"), slurp(dir + "/bundle/train_predictions.csv"));
  // Without calibration the probabilities differ (the temperature is not 1).
  r = run_cli("train --data " + cohort() + " --out " + dir + "/plain --trees 30");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(slurp(dir + "/plain/train_predictions.csv"),
            slurp(dir + "/bundle/train_predictions.csv"));

  r = run_cli("search --data " + cohort() + " --out " + dir +
              "/run --cv-folds 3 --trees 30 -v 0 --calibrate temperature");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto results = lines(slurp(dir + "/run/results.csv"));
  EXPECT_NE(
      results[0].find(",temperature_mean,ece_calibrated,brier_calibrated,log_loss_calibrated"),
      std::string::npos);
  r = run_cli("search --data " + cohort() + " --out " + dir + "/bad --calibrate platt");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--calibrate must be one of none, temperature; got 'platt'"),
            std::string::npos)
      << r.output;
}

TEST(Cli, TrainThenPredictWithAndWithoutLabels) {
  const std::string dir = testing::scratch_dir();
  auto r = train_then_predict(cohort(), dir, "--trees 30", "preds.csv", "");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("QWK"), std::string::npos) << r.output;
  const auto with_labels = lines(slurp(dir + "/preds.csv"));
  EXPECT_EQ(with_labels[0], "patient,appt,dfu,label,prob_I,prob_P,prob_R,pred,modalities_used");

  // The same cohort without its label column (and with an unseen category) still predicts.
  const std::string unlabelled = dir + "/unlabelled";
  fs::create_directories(unlabelled);
  {
    std::ifstream in(cohort() + "/DataMaster_Processed_V12_WithMissing.csv", std::ios::binary);
    std::ofstream out(unlabelled + "/DataMaster_Processed_V12_WithMissing.csv", std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
      const auto cut = line.rfind(',');  // the label is the last column
      out << line.substr(0, cut) << "\n";
    }
  }
  r = run_cli("predict --model " + dir + "/bundle --data " + unlabelled + " --out " + dir +
              "/preds2.csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto without = lines(slurp(dir + "/preds2.csv"));
  EXPECT_EQ(without[0], "patient,appt,dfu,prob_I,prob_P,prob_R,pred,modalities_used");
  ASSERT_EQ(without.size(), with_labels.size());
  // Same probabilities as with labels: drop the label field and compare.
  for (size_t i = 1; i < without.size(); ++i) {
    std::string w = with_labels[i];
    const auto a = w.find(',', w.find(',', w.find(',') + 1) + 1);
    w.erase(a, w.find(',', a + 1) - a);
    EXPECT_EQ(w, without[i]);
  }
}

TEST(Cli, BadInputExitsTwoWithFileAndLineAndKeepsEarlierOutputs) {
  const std::string dir = testing::scratch_dir();
  const std::string bad = dir + "/bad";
  fs::create_directories(bad);
  std::ofstream(bad + "/DataMaster_Processed_V12_WithMissing.csv")
      << "Patient#,Appt#,DFU#,Age,Healing Phase Abs\n1,0,1,60,I\n2,0,1,61,Z\n";
  const std::string out = dir + "/out";
  fs::create_directories(out);
  std::ofstream(out + "/results.csv") << "earlier results\n";
  const auto r = run_cli("search --data " + bad + " --out " + out);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(
      r.output.find(
          "DataMaster_Processed_V12_WithMissing.csv:3: column 'Healing Phase Abs' (5): unknown "
          "label 'Z'"),
      std::string::npos)
      << r.output;
  EXPECT_EQ(slurp(out + "/results.csv"), "earlier results\n");
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run_cli("search --out x").exit_code, 2);  // --data missing
  EXPECT_EQ(run_cli("frobnicate").exit_code, 2);
  auto r =
      run_cli("search --data " + cohort() + " --out " + testing::scratch_dir() + " --cv-folds 0");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--cv-folds must be in [1, 50], got 0"), std::string::npos) << r.output;
  r = run_cli("search --data " + cohort() + " --out " + testing::scratch_dir() +
              " --sampling smote2");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("smote2"), std::string::npos) << r.output;
  r = run_cli("predict --model /nonexistent --data " + cohort() + " --out x.csv");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("not a model bundle"), std::string::npos);
  EXPECT_EQ(run_cli("--help").exit_code, 0);
}

TEST(Cli, SynthIsDeterministic) {
  const std::string a = testing::scratch_dir() + "/a";
  const std::string b = testing::scratch_dir() + "/b";
  ASSERT_EQ(run_cli("synth --out " + a + " --patients 20 --seed 3").exit_code, 0);
  ASSERT_EQ(run_cli("synth --out " + b + " --patients 20 --seed 3").exit_code, 0);
  EXPECT_EQ(slurp(a + "/DataMaster_Processed_V12_WithMissing.csv"),
            slurp(b + "/DataMaster_Processed_V12_WithMissing.csv"));
}

}  // namespace
}  // namespace woundphase::testing

namespace woundphase::testing {
namespace {

TEST(Config, FileSetsOptionsFlagsOverrideAndPrintConfigRoundTrips) {
  const std::string dir = testing::scratch_dir();
  std::ofstream(dir + "/c.toml") << "[search]\ntrees = 25\nruns = 2\ncv-folds = 3\n";
  auto r = run_cli("--config " + dir + "/c.toml search --data " + cohort() + " --out " + dir +
                   "/o --runs 1 --print-config");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("search.trees=25"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("search.cv-folds=3"), std::string::npos);
  EXPECT_NE(r.output.find("search.runs=1"), std::string::npos);  // the flag wins
  EXPECT_EQ(r.output.find("train."), std::string::npos);         // only the chosen subcommand
  // The printed configuration is itself a valid --config file.
  std::ofstream(dir + "/printed.toml") << r.output;
  r = run_cli("--config " + dir + "/printed.toml search -v 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(lines(slurp(dir + "/o/folds.csv")).size(), 1U + 3);
  EXPECT_NE(slurp(dir + "/o/config.toml").find("search.trees=25"), std::string::npos);
}

TEST(Config, UnknownKeyOrMissingFileExitsTwo) {
  const std::string dir = testing::scratch_dir();
  std::ofstream(dir + "/bad.toml") << "[search]\ntrez = 25\n";
  auto r =
      run_cli("--config " + dir + "/bad.toml search --data " + cohort() + " --out " + dir + "/o");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("trez"), std::string::npos) << r.output;
  r = run_cli("--config " + dir + "/missing.toml search --data " + cohort() + " --out " + dir +
              "/o");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("missing.toml"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace woundphase::testing

namespace woundphase::testing {
namespace {

TEST(Inspect, ReportsCountsColumnsAndProblems) {
  auto r = run_cli("inspect --data " + cohort());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("60 patients"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("classes (visit-wounds):  I "), std::string::npos);
  EXPECT_NE(r.output.find("Healing Phase Abs"), std::string::npos);
  // The features the search uses: DFU# is excluded by the preset, so it is no feature here either.
  EXPECT_NE(r.output.find("features: 53 (45 numeric, 8 categorical)"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("  DFU#"), std::string::npos);
  EXPECT_EQ(r.output.find("wound (feature)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Thermal_RGB/: not present"), std::string::npos);  // off by default
  EXPECT_NE(r.output.find("Thermal_Map_IMG/: "), std::string::npos);
  const std::string real = testing::real_data_dir();
  if (real.empty()) return;
  r = run_cli("inspect --data " + real);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("695 data lines, 694 visit-wounds (samples), 214 patients"),
            std::string::npos);
  EXPECT_NE(r.output.find("bounding_box_depth.csv: 2531 boxes"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("duplicate of visit-wound (patient 75, visit 0, wound 1)"),
            std::string::npos);
  EXPECT_EQ(run_cli("inspect --data /nonexistent").exit_code, 2);
}

TEST(Report, SearchWritesItAndReportCommandRewritesIt) {
  const std::string out = testing::scratch_dir();
  ASSERT_EQ(run_cli("search --data " + cohort() + " --out " + out + " --cv-folds 3 --trees 20 -v 0")
                .exit_code,
            0);
  const std::string html = slurp(out + "/report.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  fs::remove(out + "/report.html");
  const auto r = run_cli("report --run " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(slurp(out + "/report.html"), html);
  EXPECT_EQ(run_cli("report --run " + out + "/nothing").exit_code, 2);
}

}  // namespace
}  // namespace woundphase::testing

namespace woundphase::testing {
namespace {

// The seven knobs the headers documented but the command line and config files rejected.
constexpr const char* kFormerlyUnreachable =
    " --normalization imagenet --dropout 0.1 --weight-decay 0.001 --image-class-weight none"
    " --fusion-weight-decay 0.01 --fusion-batch-size 16 --ensemble average"
    " --ensemble-iterations 50";

TEST(Registry, FormerlyUnreachableKnobsAreOptionsAndConfigKeys) {
  const std::string dir = testing::scratch_dir();
  auto r = run_cli("search --data " + cohort() + " --out " + dir + "/o" + kFormerlyUnreachable +
                   " --print-config");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* line :
       {"search.normalization=\"imagenet\"", "search.dropout=0.1", "search.weight-decay=0.001",
        "search.image-class-weight=\"none\"", "search.fusion-weight-decay=0.01",
        "search.fusion-batch-size=16", "search.ensemble-iterations=50"})
    EXPECT_NE(r.output.find(line), std::string::npos) << line << "\n" << r.output;
  // The same keys in a config file.
  std::ofstream(dir + "/c.toml") << "[train]\nnormalization = \"imagenet\"\ndropout = 0.2\n";
  r = run_cli("--config " + dir + "/c.toml train --data " + cohort() + " --out " + dir +
              "/b --print-config");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("train.dropout=0.2"), std::string::npos) << r.output;
}

TEST(Registry, EachFormerlyUnreachableKnobIsValidatedByName) {
  const std::string base = "search --data " + cohort() + " --out " + testing::scratch_dir() +
                           " --modalities metadata+depth_map ";
  const std::pair<const char*, const char*> cases[] = {
      {"--normalization imagenett", "--normalization must be one of dataset, imagenet"},
      {"--dropout 0.95", "--dropout must be in [0, 0.9], got 0.95"},
      {"--weight-decay 2", "--weight-decay must be in [0, 1], got 2"},
      {"--image-class-weight frequency", "--image-class-weight must be one of balanced, none"},
      {"--fusion-weight-decay -1", "--fusion-weight-decay must be in [0, 1], got -1"},
      {"--fusion-batch-size 1", "--fusion-batch-size must be in [2, 4096], got 1"},
      {"--ensemble-iterations 5", "--ensemble-iterations must be in [10, 100000], got 5"},
      {"--trees 12x", "--trees: '12x' is not an integer"},
  };
  for (const auto& [args, expected] : cases) {
    const auto r = run_cli(base + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << args << "\n" << r.output;
  }
}

TEST(Registry, FormerlyUnreachableKnobsReachTheSettings) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string out = testing::scratch_dir();
  const auto r = run_cli("search --data " + cohort() + " --out " + out +
                         " --modalities depth_map,metadata+depth_map --cv-folds 2 --epochs 1"
                         " --image-size 32 --stage1-epochs 2 --trees 20 -v 0" +
                         kFormerlyUnreachable);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto settings = nlohmann::json::parse(slurp(out + "/settings.json"));
  const auto& s = settings.contains("settings") ? settings.at("settings") : settings;
  EXPECT_EQ(s.at("images").at("normalization"), "imagenet") << s.dump(1);
  EXPECT_EQ(s.at("images").at("dropout"), 0.1);
  EXPECT_EQ(s.at("images").at("weight_decay"), 0.001);
  EXPECT_EQ(s.at("images").at("class_weight"), "none");
  EXPECT_EQ(s.at("fusion").at("weight_decay"), 0.01);
  EXPECT_EQ(s.at("fusion").at("batch_size"), 16);
  EXPECT_EQ(s.at("ensemble").at("iterations"), 50);
}

// The README's option reference is `woundphase help-options --markdown`, verbatim.
TEST(Registry, ReadmeOptionReferenceMatchesTheRegistry) {
  const auto r = run_cli("help-options --markdown");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string readme = slurp(testing::source_dir() + "/README.md");
  const std::string begin = "<!-- BEGIN woundphase help-options --markdown -->\n";
  const std::string end = "<!-- END woundphase help-options --markdown -->";
  const size_t a = readme.find(begin);
  const size_t b = readme.find(end);
  ASSERT_NE(a, std::string::npos) << "README.md lacks " << begin;
  ASSERT_NE(b, std::string::npos) << "README.md lacks " << end;
  EXPECT_EQ(readme.substr(a + begin.size(), b - a - begin.size()), r.output)
      << "regenerate it: build/woundphase help-options --markdown";
}

}  // namespace
}  // namespace woundphase::testing

// The first hour of a new user (issue 18): options that would do nothing are refused, Ctrl-C
// saves and says how to resume, config files read as written, the schema cannot leak the label.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>  // for find
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "fixtures/cli.h"
#include "fixtures/vision_tool.h"
#include "test_paths.h"

namespace fs = std::filesystem;

namespace woundphase::testing {
namespace {

// A metadata-only cohort (no image folders), written once.
const std::string& cohort() {
  return testing::cli_cohort("first_hour_cohort", "--patients 40 --seed 11 --no-images");
}

std::string search_args(const std::string& out) {
  return "search --data " + cohort() + " --out " + out + " --cv-folds 3 --trees 20 ";
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// `make demo` is the first command of the README: a small demo runs every combination at the
// demo's 32 px end to end.
TEST(Demo, RunsEveryCombinationAt32Pixels) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string out = testing::scratch_dir();
  const auto r = run_cli("demo --patients 20 --cv-folds 2 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto rows = csv_rows(slurp(out + "/search/results.csv"));
  std::set<std::string> combinations;
  for (const auto& row : rows) combinations.insert(row.at("modalities"));
  EXPECT_EQ(combinations.size(), 16u);  // 15 combinations and the ensemble
  const std::string settings = nlohmann::json::parse(slurp(out + "/search/settings.json")).dump();
  EXPECT_NE(settings.find("\"image_size\":32"), std::string::npos) << settings;
  EXPECT_EQ(settings.find("\"image_size\":64"), std::string::npos) << settings;
}

TEST(NoSilentNoOps, OptionWithoutEffectOnTheCommandLineIsExitTwoNamingBoth) {
  const std::string out = testing::scratch_dir();
  auto r = run_cli(search_args(out) + "--model gbdt");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "--trees has no effect with --model gbdt")) << r.output;
  r = run_cli("search --data " + cohort() + " --out " + out + " --cv-folds 5 --train-fraction 0.7");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "--train-fraction has no effect with --cv-folds 5")) << r.output;
  r = run_cli(search_args(out) + "--gbdt-rounds 50");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "--gbdt-rounds has no effect with --model rf")) << r.output;
  r = run_cli(search_args(out) + "--ensemble weighted");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "--ensemble has no effect with --modalities naming one combination"))
      << r.output;
  r = run_cli(search_args(out) + "--epochs 5");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "--epochs has no effect with --modalities without an image modality"))
      << r.output;
  r = run_cli(search_args(out) + "--sampling random --smote-neighbours 3");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "--smote-neighbours has no effect with --sampling random")) << r.output;
  // Nothing was written by the refused commands.
  EXPECT_FALSE(fs::exists(out + "/results.csv"));
  // The same option where it acts is fine.
  r = run_cli("search --data " + cohort() + " --out " + out +
              " --cv-folds 1 --train-fraction 0.7 --trees 20 -v 0");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(NoSilentNoOps, FromAConfigFileItIsAWarning) {
  const std::string dir = testing::scratch_dir();
  std::ofstream(dir + "/c.toml") << "[search]\nmodel = \"gbdt\"\ntrees = 1000\n";
  const auto r = run_cli("--config " + dir + "/c.toml search --data " + cohort() + " --out " + dir +
                         "/o --cv-folds 3 --gbdt-rounds 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "config file: --trees has no effect with --model gbdt")) << r.output;
}

TEST(NoSilentNoOps, NegativeAndOutOfRangeNumbersAreRefused) {
  const std::string out = testing::scratch_dir();
  auto r = run_cli(search_args(out) + "--seed -1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "--seed")) << r.output;
  r = run_cli("--threads 0 " + search_args(out));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(has(r.output, "--threads")) << r.output;
  r = run_cli(search_args(out) + "--gbdt-learning-rate 0 --model gbdt --trees 300");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST(NoSilentNoOps, AllWithoutImageFoldersSaysSo) {
  const std::string out = testing::scratch_dir();
  const auto r = run_cli(search_args(out) + "--modalities all");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "has no image folder")) << r.output;
  EXPECT_TRUE(has(r.output, "so 'all' is metadata alone")) << r.output;
}

// --learning-rate sets boosting only: it is --gbdt-learning-rate now, the old name a deprecated
// alias with the same effect.
TEST(NoSilentNoOps, LearningRateIsADeprecatedAliasOfGbdtLearningRate) {
  const std::string a = testing::scratch_dir() + "/a";
  const std::string b = testing::scratch_dir() + "/b";
  const std::string common = "search --data " + cohort() + " --cv-folds 3 --model gbdt ";
  auto r = run_cli(common + "--out " + a + " --learning-rate 0.05");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "--learning-rate is deprecated: it is now --gbdt-learning-rate"))
      << r.output;
  r = run_cli(common + "--out " + b + " --gbdt-learning-rate 0.05");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(has(r.output, "deprecated"));
  EXPECT_EQ(slurp(a + "/predictions.csv"), slurp(b + "/predictions.csv"));
  const auto settings = nlohmann::json::parse(slurp(b + "/settings.json"));
  EXPECT_DOUBLE_EQ(settings["settings"]["gbdt"]["learning_rate"].get<double>(), 0.05)
      << settings.dump();
}

// Ctrl-C (SIGINT) after the second job: exit 130, the saved jobs counted, the command that
// resumes printed; the log is complete at verbosity 0; report --run shows the unfinished search;
// rerunning the printed command finishes it. A script's background job starts with SIGINT
// ignored (and woundphase leaves an ignored signal ignored), so python restores its default
// action before it runs the search, as an interactive shell would.
TEST(Interrupts, SigintSavesSaysHowToResumeAndTheCommandResumes) {
  const std::string out = testing::scratch_dir();
  const std::string cmd =
      "/usr/bin/python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, "
      "signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' " +
      testing::binary() + " search --data " + cohort() + " --out " + out +
      " --cv-folds 5 --runs 4 --trees 1500 -v 0 --threads 1";
  const auto r = run_shell("(" + cmd + " > " + out + ".txt 2>&1 & pid=$!; " +
                           "for i in $(seq 1 1200); do grep -q '\\[2/' " + out +
                           "/search.log 2>/dev/null && break; sleep 0.05; done; " +
                           "kill -INT $pid; wait $pid; echo \"exit $?\")");
  const std::string said = slurp(out + ".txt");
  EXPECT_TRUE(has(r.output, "exit 130")) << r.output << said;
  EXPECT_TRUE(has(said, "interrupted: ")) << said;
  EXPECT_TRUE(has(said, " of 20 jobs are saved in ")) << said;
  EXPECT_TRUE(has(said, "rerun the same command to resume:")) << said;
  EXPECT_FALSE(fs::exists(out + "/results.csv"));
  // At verbosity 0 the log still has every line up to the interrupt.
  const auto log = lines(slurp(out + "/search.log"));
  ASSERT_GE(log.size(), 2U);
  EXPECT_TRUE(has(slurp(out + "/search.log"), "[2/20]"));
  // report --run draws what is finished and says what is missing.
  const auto report = run_cli("report --run " + out);
  ASSERT_EQ(report.exit_code, 0) << report.output;
  EXPECT_TRUE(has(report.output, "unfinished search: ")) << report.output;
  EXPECT_TRUE(has(report.output, " of 20 jobs finished; missing ")) << report.output;
  const std::string page = slurp(out + "/report.html");
  EXPECT_TRUE(has(page, "<h1>Unfinished search</h1>")) << page;
  EXPECT_TRUE(has(page, "<td>metadata</td><td>")) << page;
  EXPECT_TRUE(has(page, "class=\"missing\">missing</td>")) << page;
  // The printed command resumes: finished jobs are kept.
  const size_t at = said.find("resume:\n  ");
  ASSERT_NE(at, std::string::npos) << said;
  const std::string again = said.substr(at + 10, said.find('\n', at + 10) - at - 10);
  EXPECT_TRUE(has(again, "--runs 4")) << again;
  const auto resumed = run_shell(again);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_TRUE(fs::exists(out + "/results.csv"));
  EXPECT_TRUE(has(slurp(out + "/search.log"), "resuming (auto): ")) << slurp(out + "/search.log");
}

TEST(Config, UnderscoreKeysRelativePathsAndPrintConfigWithoutData) {
  const std::string dir = testing::scratch_dir();
  fs::create_directories(dir + "/conf");
  fs::create_symlink(cohort(), dir + "/study");
  // Paths relative to the file's folder; keys as a Python user types them.
  std::ofstream(dir + "/conf/c.toml") << "[search]\ndata = \"../study\"\nout = \"../runs/o\"\n"
                                         "cv_folds = 3\ntrees = 20\n";
  auto r =
      run_shell("cd / && " + testing::binary() + " --config " + dir + "/conf/c.toml search -v 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(lines(slurp(dir + "/runs/o/folds.csv")).size(), 1U + 3);
  // The recorded config holds absolute paths: it reads back from anywhere.
  const std::string recorded = slurp(dir + "/runs/o/config.toml");
  EXPECT_TRUE(has(recorded, "search.data=\"" + (fs::path(dir) / "study").string() + "\""))
      << recorded;
  // --print-config needs no --data.
  r = run_cli("search --print-config");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "search.cv-folds=5")) << r.output;
}

}  // namespace
}  // namespace woundphase::testing

namespace woundphase::testing {
namespace {

// A small cohort with images, searched once: metadata, thermal_map and their fusion.
struct ImageSearch {
  std::string cohort;
  std::string out;
  testing::CommandResult result;
};

const ImageSearch& image_search() {
  static const ImageSearch s = [] {
    ImageSearch r;
    const fs::path base = testing::shared_dir("first_hour_images");
    fs::remove_all(base);
    r.cohort = (base / "study").string();
    r.out = (base / "search").string();
    const auto synth = run_cli("synth --out " + r.cohort + " --patients 30 --seed 4");
    EXPECT_EQ(synth.exit_code, 0) << synth.output;
    r.result = run_cli("search --data " + r.cohort + " --out " + r.out +
                       " --modalities metadata,thermal_map,metadata+thermal_map --cv-folds 2"
                       " --runs 2 --image-size 32 --epochs 1 --stage1-epochs 2 --trees 20 -v 0");
    return r;
  }();
  return s;
}

// results.csv's column `name` per row, by modalities.
std::map<std::string, std::string> column(const std::string& csv, const std::string& name) {
  std::map<std::string, std::string> out;
  for (auto& row : csv_rows(csv))
    if (row.count(name) != 0) out[row["modalities"]] = row[name];
  return out;
}

TEST(ResultsAtAGlance, RankFoldsRunsAndIntervalInResultsAndATableSortedByRank) {
  WOUNDPHASE_REQUIRE_VISION();
  const ImageSearch& s = image_search();
  ASSERT_EQ(s.result.exit_code, 0) << s.result.output;
  const std::string results = slurp(s.out + "/results.csv");
  EXPECT_TRUE(has(lines(results)[0], ",rank,n_folds,n_runs,qwk_ci_low,qwk_ci_high")) << results;
  const auto rank = column(results, "rank");
  const auto common = column(results, "qwk_common_mean");
  ASSERT_EQ(rank.size(), 3U);
  // Rank 1 has the best QWK on the common rows (the ranking the report uses here: metadata has
  // more rows than the image combinations).
  std::string best;
  for (const auto& [name, r] : rank)
    if (r == "1") best = name;
  ASSERT_FALSE(best.empty()) << results;
  for (const auto& [name, q] : common) EXPECT_GE(std::stod(common.at(best)), std::stod(q)) << name;
  for (const auto& [name, n] : column(results, "n_folds")) EXPECT_EQ(n, "2") << name;
  for (const auto& [name, n] : column(results, "n_runs")) EXPECT_EQ(n, "2") << name;
  const auto low = column(results, "qwk_ci_low");
  const auto high = column(results, "qwk_ci_high");
  for (const auto& [name, l] : low) EXPECT_LE(std::stod(l), std::stod(high.at(name))) << name;
  // The report quotes the same interval (3 decimals).
  const std::string report = slurp(s.out + "/report.html");
  const std::string interval =
      fmt::format("[{:.3f}, {:.3f}]", std::stod(low.at(best)), std::stod(high.at(best)));
  EXPECT_TRUE(has(report, interval)) << interval;
  // The terminal table: rows in rank order, the best marked.
  const std::string& table = s.result.output;
  size_t previous = 0;
  for (int r = 1; r <= 3; ++r) {
    std::string name;
    for (const auto& [n, k] : rank)
      if (k == std::to_string(r)) name = n;
    const size_t at = table.find((r == 1 ? "*1  " : std::to_string(r) + "  ") + name + " ");
    ASSERT_NE(at, std::string::npos) << name << "\n" << table;
    EXPECT_GT(at, previous);
    previous = at;
  }
  EXPECT_TRUE(has(table, "ranked as the report ranks: by QWK on the ")) << table;
}

// inspect counts what the search evaluates, with the search's matching code.
TEST(OneImageCount, InspectReportsTheVisitWoundsTheSearchUses) {
  WOUNDPHASE_REQUIRE_VISION();
  const ImageSearch& s = image_search();
  ASSERT_EQ(s.result.exit_code, 0) << s.result.output;
  const auto n = column(slurp(s.out + "/results.csv"), "n_samples");
  const auto r = run_cli("inspect --data " + s.cohort);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "usable visit-wounds per image modality")) << r.output;
  EXPECT_TRUE(has(r.output, "thermal_map  " + fmt::format("{:>6}", n.at("thermal_map")) + " of " +
                                n.at("metadata")))
      << r.output << "\nsearch: " << n.at("thermal_map") << " of " << n.at("metadata");
}

// train --from-search trains the top-ranked combination with the search's own settings: the same
// bundle as typing them again.
TEST(FromSearch, TrainsTheTopRankedWithTheSearchSettings) {
  WOUNDPHASE_REQUIRE_VISION();
  const ImageSearch& s = image_search();
  ASSERT_EQ(s.result.exit_code, 0) << s.result.output;
  std::string best;
  for (const auto& [name, r] : column(slurp(s.out + "/results.csv"), "rank"))
    if (r == "1") best = name;
  const std::string dir = testing::scratch_dir();
  auto r = run_cli("train --from-search " + s.out + " --combination metadata+thermal_map --out " +
                   dir + "/from -v 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "training metadata+thermal_map (chosen) with the settings of the "))
      << r.output;
  // How many visit-wounds each modality covered, and how many the bundle was trained on.
  const auto n = column(slurp(s.out + "/results.csv"), "n_samples");
  EXPECT_TRUE(has(r.output, "visit-wounds covered of " + n.at("metadata") + ": metadata " +
                                n.at("metadata") + ", thermal_map " + n.at("thermal_map")))
      << r.output;
  EXPECT_TRUE(has(r.output, "trained metadata+thermal_map on " + n.at("metadata+thermal_map") +
                                " of " + n.at("metadata") + " visit-wounds"))
      << r.output;
  r = run_cli("train --data " + s.cohort +
              " --modalities metadata+thermal_map --image-size 32 --epochs 1 --stage1-epochs 2"
              " --trees 20 --out " +
              dir + "/typed -v 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(slurp(dir + "/from/train_predictions.csv"),
            slurp(dir + "/typed/train_predictions.csv"));
  // Without --combination: the top-ranked one.
  r = run_cli("train --from-search " + s.out + " --out " + dir + "/top -v 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has(r.output, "training " + best + " (its top-ranked combination)")) << r.output;
  // Errors name the option.
  r = run_cli("train --from-search " + s.out + " --combination depth_map --out " + dir + "/x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.output, "--combination depth_map: not one of the search's combinations"))
      << r.output;
  r = run_cli("train --from-search " + s.out + " --trees 5 --out " + dir + "/x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.output, "drop --trees")) << r.output;
  r = run_cli("train --from-search " + dir + " --out " + dir + "/x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.output, "settings.json")) << r.output;
}

}  // namespace
}  // namespace woundphase::testing

namespace woundphase::testing {
namespace {

TEST(Help, EachSubcommandFits80ColumnsStartsWithAnExampleAndListsGlobals) {
  for (const char* cmd : {"search", "train", "predict", "inspect", "report", "synth", "demo"}) {
    const auto r = run_cli(std::string(cmd) + " --help");
    ASSERT_EQ(r.exit_code, 0) << cmd << r.output;
    const auto text = lines(r.output);
    for (const std::string& line : text) EXPECT_LE(line.size(), 80U) << cmd << ": " << line;
    // Title, blank, then the example.
    ASSERT_GE(text.size(), 3U);
    EXPECT_EQ(text[2].rfind(std::string("example: woundphase ") + cmd, 0), 0U) << cmd << "\n"
                                                                               << r.output;
    for (const char* global : {"--threads", "--verbosity, -v", "--config", "--print-config"})
      EXPECT_TRUE(has(r.output, "\n  " + std::string(global))) << cmd << " lacks " << global;
  }
  const auto r = run_cli("search --help");
  size_t previous = 0;
  for (const char* group :
       {"\nData:\n", "\nModel (metadata branch):\n", "\nImages (image branches):\n", "\nFusion:\n",
        "\nOutput:\n", "\nGlobal options"}) {
    const size_t at = r.output.find(group);
    ASSERT_NE(at, std::string::npos) << group << r.output;
    EXPECT_GT(at, previous) << group;
    previous = at;
  }
}

TEST(Help, ParserErrorsInPlainWordsWithDidYouMean) {
  const std::string data = " --data " + cohort() + " --out " + testing::scratch_dir();
  auto r = run_cli("search" + data + " --thraeds 2");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.output, "unknown option --thraeds (did you mean --threads?)")) << r.output;
  r = run_cli("search" + data + " --modalities metadta");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.output, "unknown modality 'metadta' (did you mean metadata?)")) << r.output;
  r = run_cli("serach" + data);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.output, "unknown command 'serach' (did you mean search?)")) << r.output;
  r = run_cli("search --out x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.output, "--data is required: study folder holding the metadata CSV"))
      << r.output;
  r = run_cli("search" + data + " --trees 5 --trees 6");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.output, "--trees takes one value but was given 2")) << r.output;
  EXPECT_FALSE(has(r.output, "At Most")) << r.output;
  r = run_cli("--threads 0 search" + data);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.output, "--threads must be in [1, 4096], got 0")) << r.output;
}

// Each verbosity shows every line the one below it shows.
TEST(Help, AHigherVerbosityNeverShowsLess) {
  std::vector<std::set<std::string>> shown;
  const std::string out = testing::scratch_dir();  // one folder: the messages name it
  for (int v = 0; v <= 3; ++v) {
    const auto r = run_cli(search_args(out) + "--resume fresh -v " + std::to_string(v));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::set<std::string> messages;
    for (const std::string& line : lines(r.output)) {
      // Without the time stamp and the timings, which differ between runs.
      std::string m = line.rfind("[", 0) == 0 ? line.substr(line.find(']') + 2) : line;
      if (m.rfind("[", 0) == 0) m = m.substr(m.find(']') + 2);  // job order varies: "[2/3] "
      m = m.substr(0, m.find(" ("));
      m = m.substr(0, m.find(" in "));
      messages.insert(m);
    }
    shown.push_back(messages);
  }
  for (int v = 1; v <= 3; ++v) {
    for (const std::string& m : shown[v - 1])
      EXPECT_EQ(shown[v].count(m), 1U)
          << "-v " << v - 1 << " shows '" << m << "', -v " << v << " does not";
  }
}

}  // namespace
}  // namespace woundphase::testing

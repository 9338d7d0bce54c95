// Runs that survive: kills at several points, resume modes, refused resumes, unwritable folders.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "test_paths.h"
#include "woundphase/store.h"

namespace fs = std::filesystem;

namespace woundphase::testing {
namespace {

constexpr int kJobs = 3 * 5;  // runs x folds of the search below
const char* kOutputs[] = {"results.csv", "folds.csv", "predictions.csv", "oof_predictions.csv",
                          "splits.csv"};

const std::string& cohort() {
  return testing::cli_cohort("resume_cohort", "--patients 60 --seed 8");
}

std::string search_args(const std::string& out, const std::string& extra = "") {
  return "search --data " + cohort() + " --out " + out + " --runs 3 --cv-folds 5 --trees 40 " +
         extra;
}

// The outputs of an uninterrupted run, computed once.
const std::string& reference() {
  return cli_outputs("resume_reference", [](const std::string& o) { return search_args(o); });
}

void expect_same_outputs(const std::string& out) {
  for (const char* f : kOutputs) EXPECT_EQ(slurp(out + "/" + f), slurp(reference() + "/" + f)) << f;
}

int attempts(const std::string& out) {
  return Store::open(out + "/woundphase.db")->total_attempts();
}

class KillAndResume : public ::testing::TestWithParam<const char*> {};

TEST_P(KillAndResume, ResumedOutputsEqualUninterruptedAndNoFinishedJobIsRedone) {
  const std::string out = testing::scratch_dir();
  const auto killed =
      run_cli_env(std::string("WOUNDPHASE_TEST_KILL=") + GetParam(), search_args(out));
  // The shell that runs the binary reports a child killed by SIGKILL as 128 + 9.
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL) << killed.output;
  EXPECT_FALSE(fs::exists(out + "/results.csv"));
  const int finished_before = Store::open(out + "/woundphase.db")->count_jobs();
  const auto resumed = run_cli(search_args(out));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  if (finished_before > 0) {
    EXPECT_NE(resumed.output.find(std::to_string(finished_before) + " finished jobs kept"),
              std::string::npos)
        << resumed.output;
  }
  expect_same_outputs(out);
  // Every job was computed and committed exactly once across both processes.
  EXPECT_EQ(attempts(out), kJobs);
}

INSTANTIATE_TEST_SUITE_P(Points, KillAndResume,
                         ::testing::Values("fit:0", "fit:6", "commit:0", "commit:9", "export:2"));

TEST(Resume, ExternalKillAtAnyMomentThenResume) {
  const std::string out = testing::scratch_dir();
  // Start in the background and kill it from outside after a short while.
  const std::string cmd = testing::binary() + " -v 0 " + search_args(out) +
                          " > /dev/null 2>&1 & pid=$!; sleep 0.15; kill -9 $pid; wait $pid";
  std::system(cmd.c_str());
  const auto resumed = run_cli(search_args(out));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  expect_same_outputs(out);
  EXPECT_EQ(attempts(out), kJobs);
}

TEST(Resume, CompleteRunIsNotRecomputedAndFromPredictionsRecomputesOnlyMetrics) {
  const std::string out = testing::scratch_dir();
  ASSERT_EQ(run_cli(search_args(out)).exit_code, 0);
  auto again = run_cli(search_args(out));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("15 finished jobs kept"), std::string::npos) << again.output;
  EXPECT_EQ(attempts(out), kJobs);
  again = run_cli(search_args(out, "--resume from_predictions"));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(attempts(out), kJobs);
  expect_same_outputs(out);
  // from_data retrains: each job computed a second time, same numbers.
  again = run_cli(search_args(out, "--resume from_data"));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  expect_same_outputs(out);
}

TEST(Resume, OtherSettingsAreRefusedWithTheDifferencesUnlessFresh) {
  const std::string out = testing::scratch_dir();
  ASSERT_EQ(run_cli(search_args(out)).exit_code, 0);
  const std::string before = slurp(out + "/results.csv");
  auto r =
      run_cli("search --data " + cohort() + " --out " + out + " --runs 3 --cv-folds 4 --trees 40");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("settings.cv_folds: stored 5, now 4"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--resume fresh"), std::string::npos);
  EXPECT_EQ(slurp(out + "/results.csv"), before);
  r = run_cli("search --data " + cohort() + " --out " + out +
              " --runs 3 --cv-folds 4 --trees 40 --resume fresh");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(slurp(out + "/results.csv"), before);
  EXPECT_EQ(run_cli(search_args(out, "--resume sometimes")).exit_code, 2);
}

TEST(Resume, OtherDataIsRefused) {
  const std::string base = testing::scratch_dir();
  const std::string out = base + "/out";
  ASSERT_EQ(run_cli(search_args(out)).exit_code, 0);
  const std::string other = base + "/other";
  ASSERT_EQ(run_cli("synth --out " + other + " --patients 60 --seed 9").exit_code, 0);
  const auto r =
      run_cli("search --data " + other + " --out " + out + " --runs 3 --cv-folds 5 --trees 40");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("data_fingerprint"), std::string::npos) << r.output;
}

TEST(Faults, UnwritableOutputFolderIsAClearError) {
  const std::string dir = testing::scratch_dir();
  std::ofstream(dir + "/file") << "x";
  const auto r = run_cli(search_args(dir + "/file/out"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("cannot create output folder"), std::string::npos) << r.output;
}

TEST(Faults, FileSizeLimitLikeADiskFullKeepsTheStoreConsistent) {
  const std::string out = testing::scratch_dir();
  // RLIMIT_FSIZE makes writes fail with EFBIG part-way, as a full disk would (SIGXFSZ ignored).
  const std::string cmd = "bash -c 'ulimit -f 200; trap \"\" XFSZ; " + testing::binary() +
                          " -v 0 " + search_args(out) + "' > " + out + "/../full.log 2>&1";
  const int status = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(status), 2) << slurp(out + "/../full.log");
  EXPECT_NE(slurp(out + "/../full.log").find("error:"), std::string::npos);
  // The store is readable and every recorded job is complete; a resume finishes the run.
  const auto resumed = run_cli(search_args(out));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  expect_same_outputs(out);
}

}  // namespace
}  // namespace woundphase::testing

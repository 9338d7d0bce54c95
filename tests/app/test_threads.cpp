// --threads decides how many (run, fold) jobs run at once, never the result: a fused search with
// image branches, stage 2 and an ensemble gives the same bytes at --threads 1, 2 and 4, and a
// search interrupted at --threads 2 resumes at --threads 1 to those bytes too.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_paths.h"

namespace fs = std::filesystem;

namespace woundphase::testing {
namespace {

const char* kOutputs[] = {"results.csv",         "folds.csv",           "predictions.csv",
                          "oof_predictions.csv", "training_curves.csv", "splits.csv"};

const std::string& cohort() {
  return testing::cli_cohort("threads_cohort", "--patients 36 --seed 5 --image-scale 0.05");
}

std::string search_args(const std::string& out, int threads) {
  return "search --data " + cohort() +
         " --modalities metadata,thermal_map,metadata+thermal_map+depth_rgb --ensemble weighted"
         " --cv-folds 3 --image-size 32 --epochs 2 --batch-size 16 --trees 30 --stage1-epochs 4"
         " --stage2-epochs 1 --threads " +
         std::to_string(threads) + " --out " + out;
}

void expect_same_outputs(const std::string& a, const std::string& b) {
  for (const char* f : kOutputs) {
    ASSERT_TRUE(fs::exists(a + "/" + f)) << a << "/" << f;
    ASSERT_TRUE(fs::exists(b + "/" + f)) << b << "/" << f;
    EXPECT_EQ(slurp(a + "/" + f), slurp(b + "/" + f)) << f << " differs: " << a << " vs " << b;
  }
}

TEST(Threads, AFusedSearchGivesTheSameBytesAtOneTwoAndFourThreads) {
  ASSERT_TRUE(testing::vision_built()) << "libwoundphase_vision.so was not built";
  const std::string dir = testing::scratch_dir();
  for (int threads : {1, 2, 4}) {
    const auto r = run_cli(search_args(dir + "/t" + std::to_string(threads), threads));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // Several folds at once: the job lines say how many others were still running.
    if (threads > 1) {
      EXPECT_NE(r.output.find("in flight"), std::string::npos) << r.output;
    }
  }
  expect_same_outputs(dir + "/t1", dir + "/t2");
  expect_same_outputs(dir + "/t1", dir + "/t4");
}

TEST(Threads, AnInterruptedSearchResumesAtAnotherThreadCountToTheSameBytes) {
  ASSERT_TRUE(testing::vision_built()) << "libwoundphase_vision.so was not built";
  const std::string dir = testing::scratch_dir();
  const auto reference = run_cli(search_args(dir + "/reference", 1));
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  // Killed (SIGKILL) right after its fifth job; the store keeps the finished ones.
  const auto killed = run_cli_env("WOUNDPHASE_TEST_KILL=fit:4", search_args(dir + "/resumed", 2));
  EXPECT_NE(killed.exit_code, 0) << killed.output;
  EXPECT_FALSE(fs::exists(dir + "/resumed/results.csv"));
  const auto resumed = run_cli(search_args(dir + "/resumed", 1));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("(stored)"), std::string::npos) << resumed.output;
  expect_same_outputs(dir + "/reference", dir + "/resumed");
}

}  // namespace
}  // namespace woundphase::testing

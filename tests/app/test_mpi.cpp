// One search over three ranks of mpirun (rank 0 coordinates, two workers) on a tiny cohort with
// an image modality: the same bytes as one process, a killed worker's job redone elsewhere, a
// killed coordinator resumed without recomputing finished jobs, and ranks that disagree refused.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <map>

#include "test_paths.h"
#include "woundphase/store.h"

namespace fs = std::filesystem;

namespace woundphase::testing {
namespace {

// Root may run mpirun only when it says so twice.
constexpr char kMpiEnv[] = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1";
// The killed-rank tests wait this long (seconds) before counting a silent rank as lost.
constexpr char kTimeoutEnv[] = "WOUNDPHASE_MPI_TIMEOUT=5";
// What the README says to run with: keep going when a worker dies; 3 ranks on 2 cores.
constexpr char kMpirun[] = "mpirun -np 3 --oversubscribe --bind-to none --enable-recovery";
constexpr int kJobs = 2 * (3 + 1);  // folds x (combinations + ensemble)
const char* kOutputs[] = {"results.csv",         "folds.csv",           "predictions.csv",
                          "oof_predictions.csv", "training_curves.csv", "splits.csv"};

std::string skip_reason() {
#ifndef WOUNDPHASE_HAVE_MPI
  return "built without MPI";
#else
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) return "mpirun not installed";
  if (!testing::vision_built()) return "libwoundphase_vision.so not built (no libtorch)";
  return "";
#endif
}

// `woundphase <args>` under `launcher` with the extra environment `env`.
testing::CommandResult run_mpi(const std::string& env, const std::string& launcher,
                               const std::string& args) {
  return run_shell("env " + std::string(kMpiEnv) + " " + env + " " + launcher + " " +
                   testing::binary() + " " + args);
}

const std::string& cohort() {
  return testing::cli_cohort("mpi_cohort", "--patients 36 --seed 21 --image-scale 0.05");
}

std::string search_args(const std::string& out, const std::string& extra = "") {
  return "search --data " + cohort() +
         " --modalities metadata,thermal_map,metadata+thermal_map --ensemble weighted --cv-folds 2"
         " --image-size 32 --epochs 2 --batch-size 16 --trees 30 --stage1-epochs 5 --threads 1 " +
         extra + " --out " + out;
}

// One process, no mpirun: the bytes every distributed run must give.
const std::string& reference() {
  return cli_outputs("mpi_reference", [](const std::string& o) { return search_args(o); });
}

void expect_same_outputs(const std::string& out) {
  for (const char* f : kOutputs) {
    ASSERT_TRUE(fs::exists(out + "/" + f)) << f;
    EXPECT_EQ(slurp(out + "/" + f), slurp(reference() + "/" + f)) << f;
  }
}

std::map<std::string, fs::file_time_type> networks(const std::string& out) {
  std::map<std::string, fs::file_time_type> out_files;
  for (const auto& e : fs::directory_iterator(out + "/models"))
    if (e.path().extension() == ".pt") out_files[e.path().filename()] = e.last_write_time();
  return out_files;
}

TEST(Mpi, ThreeRanksGiveTheSingleProcessBytes) {
  if (const std::string why = skip_reason(); !why.empty()) WOUNDPHASE_MISSING_TOOL() << why;
  const std::string out = testing::scratch_dir() + "/out";
  reference();
  const auto r = run_mpi("", kMpirun, search_args(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_outputs(out);
  EXPECT_NE(r.output.find("on 2 worker ranks"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("coordinator: "), std::string::npos) << r.output;
  // Every combination ran on a worker (rank 0 only coordinates and fits the ensembles).
  EXPECT_EQ(
      testing::occurrences(r.output, ", rank 1)") + testing::occurrences(r.output, ", rank 2)"), 6U)
      << r.output;
  EXPECT_EQ(Store::open(out + "/woundphase.db")->total_attempts(), kJobs);
}

TEST(Mpi, AKilledWorkersJobGoesBackToTheQueue) {
  if (const std::string why = skip_reason(); !why.empty()) WOUNDPHASE_MISSING_TOOL() << why;
  const std::string out = testing::scratch_dir() + "/out";
  reference();
  // Rank 1 dies (SIGKILL) on receiving its first job; rank 2 finishes the search alone.
  const auto r = run_mpi(std::string(kTimeoutEnv) + " WOUNDPHASE_TEST_KILL=worker1_job:0", kMpirun,
                         search_args(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("worker rank 1 lost"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("goes back to the queue"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(", rank 1)"), std::string::npos) << r.output;
  expect_same_outputs(out);
  EXPECT_EQ(Store::open(out + "/woundphase.db")->total_attempts(), kJobs);
}

TEST(Mpi, AKilledCoordinatorResumesWithoutRedoingFinishedJobs) {
  if (const std::string why = skip_reason(); !why.empty()) WOUNDPHASE_MISSING_TOOL() << why;
  const std::string out = testing::scratch_dir() + "/out";
  reference();
  // Rank 0 dies while committing its fourth job; the workers notice and stop.
  const auto killed = run_mpi(std::string(kTimeoutEnv) + " WOUNDPHASE_TEST_KILL=commit:3", kMpirun,
                              search_args(out));
  EXPECT_NE(killed.output.find("no word from the coordinator"), std::string::npos) << killed.output;
  EXPECT_FALSE(fs::exists(out + "/results.csv"));
  const int finished = Store::open(out + "/woundphase.db")->count_jobs();
  EXPECT_EQ(finished, 3);
  const auto saved = networks(out);
  EXPECT_FALSE(saved.empty());

  const auto resumed = run_mpi(kTimeoutEnv, kMpirun, search_args(out, "--resume auto"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find(std::to_string(finished) + " finished jobs kept"),
            std::string::npos)
      << resumed.output;
  expect_same_outputs(out);
  // Every job was computed and committed once across both runs; saved networks were loaded.
  EXPECT_EQ(Store::open(out + "/woundphase.db")->total_attempts(), kJobs);
  for (const auto& [name, time] : saved) EXPECT_EQ(networks(out).at(name), time) << name;
}

TEST(Mpi, RanksThatDisagreeAreRefused) {
  if (const std::string why = skip_reason(); !why.empty()) WOUNDPHASE_MISSING_TOOL() << why;
  const std::string out = testing::scratch_dir() + "/out";
  // Rank 0 with 30 trees, the workers with 31 (MPMD): the workers refuse before any job, and
  // without --enable-recovery mpirun returns rank 0's exit code.
  std::string workers = search_args(out);
  workers.replace(workers.find("--trees 30"), 10, "--trees 31");
  const std::string cmd = "env " + std::string(kMpiEnv) +
                          " mpirun --oversubscribe --bind-to none -np 1 " + testing::binary() +
                          " " + search_args(out) + " : -np 2 " + testing::binary() + " " + workers;
  const auto r = run_shell(cmd);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("other data or settings than rank 0"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out + "/results.csv"));
}

}  // namespace
}  // namespace woundphase::testing

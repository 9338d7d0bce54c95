// The experiment store on its own: creating and reopening a database, a job written and read back
// exactly, resume's attempt counting, the patient folds, and files that are not (or no longer)
// a woundphase store refused with an InputError naming the file.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "fixtures/job_records.h"
#include "test_paths.h"
#include "woundphase/store.h"

namespace fs = std::filesystem;

namespace woundphase::testing {
namespace {

std::string store_path() { return (fs::path(scratch_dir()) / "woundphase.db").string(); }

// The InputError `open` (and a first read) throws for `path`; "" when none is thrown.
std::string open_error(const std::string& path) {
  try {
    auto store = Store::open(path);
    store->count_jobs();
    store->load_job(0, 0, "metadata");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Store, CreatesAndReopens) {
  const std::string path = store_path();
  {
    auto store = Store::open(path);
    EXPECT_EQ(store->count_jobs(), 0);
    EXPECT_EQ(store->meta("store_format"), std::optional<std::string>("2"));
    EXPECT_FALSE(store->meta("run").has_value());
    store->set_meta("run", "{}");
  }
  ASSERT_TRUE(fs::exists(path));
  auto again = Store::open(path);
  EXPECT_EQ(again->meta("run"), std::optional<std::string>("{}"));
}

TEST(Store, UnwritableFolderIsAnInputError) {
  const std::string error = open_error("/proc/woundphase-no-such-folder/woundphase.db");
  EXPECT_NE(error.find("cannot open the experiment store"), std::string::npos) << error;
}

TEST(Store, JobRoundTripsExactly) {
  const std::string path = store_path();
  const JobRecord job = sample_job(1, 2, "metadata+thermal_map");
  {
    auto store = Store::open(path);
    store->save_job(job);
    EXPECT_FALSE(store->load_job(1, 2, "metadata").has_value());
    EXPECT_FALSE(store->load_job(0, 2, "metadata+thermal_map").has_value());
  }
  auto store = Store::open(path);  // committed: a new process reads it
  const std::optional<JobRecord> back = store->load_job(1, 2, "metadata+thermal_map");
  ASSERT_TRUE(back.has_value());
  expect_same_job(job, *back);
  EXPECT_EQ(back->attempt, 1);
  EXPECT_EQ(store->count_jobs(), 1);
}

TEST(Store, SavingAgainReplacesTheJobAndCountsTheAttempt) {
  auto store = Store::open(store_path());
  JobRecord first = sample_job(0, 0, "metadata");
  store->save_job(first);
  store->save_job(sample_job(0, 1, "metadata"));
  EXPECT_EQ(store->total_attempts(), 2);
  JobRecord second = sample_job(0, 0, "metadata");
  second.result.scores.qwk = 0.875;
  second.test.pop_back();
  second.result.stages.pop_back();
  store->save_job(second);
  EXPECT_EQ(store->count_jobs(), 2);
  EXPECT_EQ(store->total_attempts(), 3);
  const auto back = store->load_job(0, 0, "metadata");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->attempt, 2);
  // The second save replaced the first's predictions and stages instead of adding to them.
  expect_same_job(second, *back);
}

TEST(Store, ClearJobsKeepsSplitsAndClearAllKeepsOnlyTheFormat) {
  auto store = Store::open(store_path());
  const std::vector<std::string> patients = {"p1", "p2", "p3", "p4"};
  store->save_splits(0, {0, 1, 0, -1}, patients);
  store->save_job(sample_job(0, 0, "metadata"));
  store->set_meta("run", "{}");
  store->clear_jobs();
  EXPECT_EQ(store->count_jobs(), 0);
  EXPECT_EQ(store->load_splits(0, patients.size()), std::optional<std::vector<int>>({0, 1, 0, -1}));
  store->clear_all();
  EXPECT_FALSE(store->load_splits(0, patients.size()).has_value());
  EXPECT_FALSE(store->meta("run").has_value());
  EXPECT_EQ(store->meta("store_format"), std::optional<std::string>("2"));
}

TEST(Store, SplitsOfAnotherCohortSizeAreNotReturned) {
  auto store = Store::open(store_path());
  store->save_splits(2, {1, 0, 1}, {"a", "b", "c"});
  EXPECT_EQ(store->load_splits(2, 3), std::optional<std::vector<int>>({1, 0, 1}));
  EXPECT_FALSE(store->load_splits(2, 4).has_value());  // the study gained a patient
  EXPECT_FALSE(store->load_splits(1, 3).has_value());  // another run
}

TEST(Store, AnotherStoreFormatIsRefused) {
  const std::string path = store_path();
  Store::open(path)->set_meta("store_format", "1");
  const std::string error = open_error(path);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("store format 1 is not supported (expected 2)"), std::string::npos) << error;
  EXPECT_NE(error.find("--resume fresh"), std::string::npos) << error;
}

TEST(Store, AFileThatIsNotADatabaseIsRefusedAndLeftAlone) {
  const std::string path = store_path();
  const std::string text = "patient,visit\n1,2\n";
  std::ofstream(path, std::ios::binary) << text;
  const std::string error = open_error(path);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("not a database"), std::string::npos) << error;
  EXPECT_EQ(testing::slurp(path), text);
}

TEST(Store, AnotherProgramsDatabaseIsRefusedAndLeftAlone) {
  const std::string path = store_path();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "CREATE TABLE visits(patient TEXT, phase TEXT)", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  const std::string error = open_error(path);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("not a woundphase experiment store"), std::string::npos) << error;
  // Nothing was added to it.
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT group_concat(name) FROM sqlite_master", -1, &st, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "visits");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

// Overwrites every byte of `path` from `offset` on with 0xA5 (keeping its size).
void damage(const std::string& path, std::streamoff offset) {
  const auto size = static_cast<std::streamoff>(fs::file_size(path));
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(offset);
  for (std::streamoff i = offset; i < size; ++i) f.put(static_cast<char>(0xA5));
}

TEST(Store, ADamagedStoreIsAnInputErrorNotACrash) {
  const std::string path = store_path();
  {
    auto store = Store::open(path);
    for (int fold = 0; fold < 5; ++fold) store->save_job(sample_job(0, fold, "metadata"));
  }  // closing the last connection checkpoints the write-ahead log into the file
  ASSERT_FALSE(fs::exists(path + "-wal"));
  constexpr std::streamoff kPageSize = 4096;  // SQLite's default page: page 1 holds the schema
  ASSERT_GT(fs::file_size(path), static_cast<uintmax_t>(2 * kPageSize));
  damage(path, kPageSize);
  std::string error = open_error(path);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("malformed"), std::string::npos) << error;

  fs::resize_file(path, 100);  // cut inside the 100-byte header's page
  damage(path, 16);
  error = open_error(path);
  EXPECT_NE(error.find(path), std::string::npos) << error;
}

TEST(Store, ResumeModesParseAndPrint) {
  for (ResumeMode m : {ResumeMode::kFresh, ResumeMode::kAuto, ResumeMode::kFromData,
                       ResumeMode::kFromModels, ResumeMode::kFromPredictions})
    EXPECT_EQ(parse_resume(to_string(m)), m);
  try {
    parse_resume("later");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--resume must be one of fresh, auto, from_data, "
                                         "from_models, from_predictions; got 'later'"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace woundphase::testing

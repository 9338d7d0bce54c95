// Hostile image input (truncated and empty PNGs, bad boxes, unknown patients, empty folders) and a
// kill during image training: each gives a clear error or a documented, counted skip.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_paths.h"
#include "woundphase/dataset.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

using testing::lines;
using testing::slurp;

using testing::run_cli;
using testing::run_cli_env;

using testing::vision_built;

std::string make_study(const std::string& dir) {
  const auto r = run_cli("synth --out " + dir + " --patients 12 --seed 2 --image-scale 0.05");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return dir;
}

std::vector<std::string> thermal_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(dir) / "Thermal_Map_IMG"))
    out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string thermal_search(const std::string& data, const std::string& out,
                           const std::string& extra = "") {
  return "search --data " + data +
         " --modalities thermal_map --cv-folds 2 --image-size 32 --epochs 2 --out " + out + " " +
         extra;
}

TEST(HostileImages, TruncatedAndEmptyPngsAreSkippedAndCountedOrNamedAsErrors) {
  if (!vision_built()) GTEST_SKIP() << "libwoundphase_vision.so not built";
  const std::string base = testing::scratch_dir();
  const std::string study = make_study(base + "/study");
  const auto files = thermal_files(study);
  const std::string truncated = slurp(files[0]).substr(0, 100);
  std::ofstream(files[0], std::ios::binary | std::ios::trunc) << truncated;
  std::ofstream(files[1], std::ios::binary | std::ios::trunc);  // zero bytes
  auto r = run_cli(thermal_search(study, base + "/skip"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(2 files skipped)"), std::string::npos) << r.output;
  r = run_cli(thermal_search(study, base + "/error", "--on-missing-image error"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find(fs::path(files[0]).filename().string()), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(base + "/error/results.csv"));
}

TEST(HostileImages, BadBoxesAndUnknownPatientsAreSkippedRowsNamedInTheLog) {
  if (!vision_built()) GTEST_SKIP() << "libwoundphase_vision.so not built";
  const std::string base = testing::scratch_dir();
  const std::string study = make_study(base + "/study");
  const std::string boxes = study + "/bounding_box_thermal.csv";
  CsvTable t = read_csv(boxes);
  ASSERT_GE(t.rows.size(), 4U);
  const int xmin = t.column_index("Xmin");
  t.rows[0][xmin] = "5000", t.rows[0][xmin + 1] = "5000", t.rows[0][xmin + 2] = "5010",
  t.rows[0][xmin + 3] = "5010";
  t.rows[1][xmin] = "30", t.rows[1][xmin + 1] = "30", t.rows[1][xmin + 2] = "20",
  t.rows[1][xmin + 3] = "20";
  t.rows[2][0] = "3_P099011BTLW.png";  // a patient the metadata does not have
  t.rows[2][1] = "99";
  std::ofstream out(boxes, std::ios::trunc);
  for (size_t c = 0; c < t.header.size(); ++c) out << (c ? "," : "") << t.header[c];
  out << "\n";
  for (const auto& row : t.rows) {
    for (size_t c = 0; c < row.size(); ++c) out << (c ? "," : "") << row[c];
    out << "\n";
  }
  out.close();
  const auto r = run_cli(thermal_search(study, base + "/o"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("bounding_box_thermal.csv:"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(base + "/o/results.csv"));
}

TEST(HostileImages, EmptyImageFolderIsAClearError) {
  if (!vision_built()) GTEST_SKIP() << "libwoundphase_vision.so not built";
  const std::string base = testing::scratch_dir();
  const std::string study = make_study(base + "/study");
  for (const auto& f : thermal_files(study)) fs::remove(f);
  const auto r = run_cli(thermal_search(study, base + "/o"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("no readable thermal_map images among the training patients"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(base + "/o/results.csv"));
}

TEST(HostileImages, KillDuringImageTrainingThenResumeGivesTheUninterruptedOutputs) {
  if (!vision_built()) GTEST_SKIP() << "libwoundphase_vision.so not built";
  const std::string base = testing::scratch_dir();
  const std::string study = make_study(base + "/study");
  ASSERT_EQ(run_cli(thermal_search(study, base + "/straight")).exit_code, 0);
  const auto killed =
      run_cli_env("WOUNDPHASE_TEST_KILL=fit:1", thermal_search(study, base + "/resumed"));
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL) << killed.output;
  const auto resumed = run_cli(thermal_search(study, base + "/resumed"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("1 finished jobs kept"), std::string::npos) << resumed.output;
  for (const char* f : {"results.csv", "folds.csv", "predictions.csv", "training_curves.csv"})
    EXPECT_EQ(slurp(base + "/straight/" + f), slurp(base + "/resumed/" + f)) << f;
}

}  // namespace
}  // namespace woundphase

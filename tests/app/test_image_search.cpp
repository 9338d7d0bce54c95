// A tiny end-to-end image-only cross-validation through the CLI (32x32 crops, few epochs).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "test_paths.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

using testing::lines;
using testing::slurp;

using testing::run_cli;

using testing::vision_built;

TEST(ImageSearch, ThermalMapCrossValidationEndToEndAndResumesIdentically) {
  if (!vision_built())
    WOUNDPHASE_MISSING_TOOL() << "libwoundphase_vision.so not built (no libtorch)";
  const std::string base = testing::scratch_dir();
  auto r = run_cli("synth --out " + base + "/study --patients 30 --seed 4 --image-signal 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string args = "search --data " + base +
                           "/study --modalities thermal_map,metadata --cv-folds 2 "
                           "--image-size 32 --epochs 3 --batch-size 16 --trees 30 -v 2 --out ";
  r = run_cli(args + base + "/a");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The parameter breakdown and epoch lines are logged at verbosity 2.
  EXPECT_NE(r.output.find("trainable of"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("thermal_map epoch 1"), std::string::npos);
  const auto results = lines(slurp(base + "/a/results.csv"));
  ASSERT_EQ(results.size(), 3U);
  EXPECT_EQ(results[1].rfind("thermal_map,", 0), 0U);
  // Only visit-wounds with a thermal image are evaluated for thermal_map; metadata sees them all.
  std::set<std::string> thermal_rows, metadata_rows;
  for (const auto& line : lines(slurp(base + "/a/predictions.csv"))) {
    if (line.find(",thermal_map,") != std::string::npos)
      thermal_rows.insert(line.substr(line.find(",thermal_map,")));
    if (line.find(",metadata,") != std::string::npos) metadata_rows.insert(line);
  }
  EXPECT_GT(thermal_rows.size(), 0U);
  EXPECT_LE(thermal_rows.size(), metadata_rows.size());
  const auto curves = lines(slurp(base + "/a/training_curves.csv"));
  ASSERT_GT(curves.size(), 1U);
  EXPECT_EQ(curves[0], "run,fold,modalities,component,epoch,loss,val_qwk");
  EXPECT_NE(slurp(base + "/a/report.html").find("Training curves"), std::string::npos);

  // Same seed, same bytes (the CNN is seeded per job), also when resumed from the store.
  r = run_cli(args + base + "/b");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"results.csv", "predictions.csv", "training_curves.csv"})
    EXPECT_EQ(slurp(base + "/a/" + f), slurp(base + "/b/" + f)) << f;
  r = run_cli(args + base + "/b");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("finished jobs kept"), std::string::npos);
  // from_models: the saved networks predict again, nothing is retrained, the outputs are the same.
  EXPECT_TRUE(fs::exists(base + "/b/models/run0_fold0_thermal_map.pt"));
  r = run_cli(args + base + "/b --resume from_models");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("thermal_map epoch"), std::string::npos) << r.output;
  for (const char* f : {"results.csv", "predictions.csv", "training_curves.csv"})
    EXPECT_EQ(slurp(base + "/a/" + f), slurp(base + "/b/" + f)) << f;
}

TEST(ImageSearch, FusedCombinationsAndMissingFoldersAreClearErrors) {
  const std::string base = testing::scratch_dir();
  ASSERT_EQ(run_cli("synth --out " + base + "/meta --patients 20 --no-images").exit_code, 0);
  auto r = run_cli("search --data " + base + "/meta --modalities thermal_map --out " + base + "/o");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("'thermal_map' is not available for this data"), std::string::npos)
      << r.output;
  r = run_cli("search --data " + base + "/meta --modalities metadata+thermal_map --out " + base +
              "/o");
  EXPECT_EQ(r.exit_code, 2);
  // An image option in a metadata-only search would do nothing: refused, naming both options.
  r = run_cli("search --data " + base + "/meta --image-size 48 --out " + base + "/o");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--image-size has no effect with --modalities without an image"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace woundphase

namespace woundphase {
namespace {

TEST(ImageSearch, GeneratedImagesJoinTrainingOnlyAndNeedAFolderPerClass) {
  if (!vision_built())
    WOUNDPHASE_MISSING_TOOL() << "libwoundphase_vision.so not built (no libtorch)";
  const std::string base = testing::scratch_dir();
  ASSERT_EQ(
      run_cli("synth --out " + base + "/study --patients 16 --seed 5 --image-scale 0.05").exit_code,
      0);
  std::vector<fs::path> frames;
  for (const auto& e : fs::directory_iterator(base + "/study/Thermal_Map_IMG"))
    frames.push_back(e.path());
  std::sort(frames.begin(), frames.end());
  ASSERT_GE(frames.size(), 6U);
  for (int c = 0; c < 3; ++c) {
    const std::string dir = base + "/gen/" + std::string(1, "IPR"[c]);
    fs::create_directories(dir);
    for (int k = 0; k < 2; ++k)
      fs::copy_file(frames[2 * c + k], dir + "/" + std::to_string(k) + ".png");
  }
  const std::string args = "search --data " + base +
                           "/study --modalities thermal_map --cv-folds 2 --image-size 32 "
                           "--epochs 2 -v 2 --gen-aug-probability 1 --gen-aug-dir " +
                           base + "/gen --out ";
  auto r = run_cli(args + base + "/o");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("thermal_map: 6 generated images (2 I, 2 P, 2 R)"), std::string::npos)
      << r.output;
  // --gen-aug-probability 1: every training batch gets some (a quarter of it, rounded).
  EXPECT_EQ(r.output.find("thermal_map: 0 generated images injected"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("generated images injected into training batches"), std::string::npos)
      << r.output;
  // Test predictions are still one per visit-wound with an image: nothing generated is evaluated.
  const auto preds = lines(slurp(base + "/o/predictions.csv"));
  std::set<std::string> keys(preds.begin() + 1, preds.end());
  EXPECT_EQ(keys.size(), preds.size() - 1);
  // One folder per modality: a modality without its folder gets none.
  fs::create_directories(base + "/per/thermal_map");
  for (const char* c : {"I", "P", "R"})
    fs::copy(base + "/gen/" + c, base + "/per/thermal_map/" + c);
  r = run_cli("search --data " + base +
              "/study --modalities thermal_map,depth_map --cv-folds 2 --image-size 32 --epochs 1 "
              "-v 2 --gen-aug-probability 1 --gen-aug-dir " +
              base + "/per --out " + base + "/o3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("thermal_map: 6 generated images"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("depth_map: 0 generated images"), std::string::npos) << r.output;
  fs::remove_all(base + "/gen/R");
  r = run_cli(args + base + "/o2");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--gen-aug-dir"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace woundphase

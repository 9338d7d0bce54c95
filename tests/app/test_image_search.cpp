// A tiny end-to-end image-only cross-validation through the CLI (32x32 crops, few epochs).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "fixtures/cli.h"
#include "fixtures/vision_tool.h"
#include "test_paths.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

using testing::lines;
using testing::slurp;

using testing::run_cli;

TEST(ImageSearch, ThermalMapCrossValidationEndToEndAndResumesIdentically) {
  WOUNDPHASE_REQUIRE_VISION();
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
  // Without --gen-aug-dir nothing is generated and no count file is written.
  EXPECT_FALSE(fs::exists(base + "/a/generated_images.csv"));
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
  WOUNDPHASE_REQUIRE_VISION();
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
  // The branch's counts are stored: per fold and class, > 0 in every fold.
  const auto stored = lines(slurp(base + "/o/generated_images.csv"));
  ASSERT_EQ(stored.size(), 1U + 2U * 3U);
  for (int fold = 0; fold < 2; ++fold) {
    long sum = 0;
    for (size_t i = 1; i < stored.size(); ++i)
      if (stored[i].rfind("0," + std::to_string(fold) + ",thermal_map,thermal_map,branch,", 0) == 0)
        sum += std::stol(stored[i].substr(stored[i].rfind(',') + 1));
    EXPECT_GT(sum, 0) << "fold " << fold;
  }
  // Test predictions are still one per visit-wound with an image: nothing generated is evaluated.
  const auto preds = lines(slurp(base + "/o/predictions.csv"));
  std::set<std::string> keys(preds.begin() + 1, preds.end());
  EXPECT_EQ(keys.size(), preds.size() - 1);
  // One folder per modality: a modality without its folder gets none.
  fs::create_directories(base + "/per/thermal_map");
  for (const char* c : {"I", "P", "R"})
    fs::copy(base + "/gen/" + c, base + "/per/thermal_map/" + c);
  // A fused combination with stage 2: its batches get them too; counts stored per fold, stage,
  // modality and class; the same bytes on 1 and 2 threads.
  const std::string fused = "search --data " + base +
                            "/study --modalities thermal_map+depth_map --cv-folds 2 "
                            "--image-size 32 --epochs 1 --stage2-epochs 1 -v 2 "
                            "--gen-aug-probability 1 --gen-aug-dir " +
                            base + "/per --out ";
  r = run_cli(fused + base + "/o3 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("thermal_map: 6 generated images"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("depth_map: 0 generated images"), std::string::npos) << r.output;
  // (combination, modality, stage) -> injected, summed over folds and classes.
  std::map<std::string, long> injected;
  const auto counts = lines(slurp(base + "/o3/generated_images.csv"));
  ASSERT_FALSE(counts.empty());
  EXPECT_EQ(counts[0], "run,fold,combination,modality,stage,class,injected");
  for (size_t i = 1; i < counts.size(); ++i) {
    const std::vector<std::string> f = testing::csv_fields(counts[i]);
    ASSERT_EQ(f.size(), 7U) << counts[i];
    injected[f[2] + " " + f[3] + " " + f[4]] += std::stol(f[6]);
  }
  // 2 folds x 2 branches x 3 classes, 2 folds x 2 stage-2 modalities x 3 classes.
  EXPECT_EQ(counts.size(), 1U + 12U + 12U);
  EXPECT_GT(injected["thermal_map thermal_map branch"], 0);
  EXPECT_GT(injected["thermal_map+depth_map thermal_map stage2"], 0);
  EXPECT_EQ(injected["depth_map depth_map branch"], 0);
  EXPECT_EQ(injected["thermal_map+depth_map depth_map stage2"], 0);
  EXPECT_EQ(injected.size(), 4U);
  // Resumed from the store (every job finished), the counts come back as they were.
  r = run_cli(fused + base + "/o3 --threads 1 --resume auto");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(stored)"), std::string::npos) << r.output;
  EXPECT_EQ(lines(slurp(base + "/o3/generated_images.csv")), counts);
  r = run_cli(fused + base + "/o4 --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"generated_images.csv", "predictions.csv", "training_curves.csv"})
    EXPECT_EQ(slurp(base + "/o3/" + f), slurp(base + "/o4/" + f)) << f;
  fs::remove_all(base + "/gen/R");
  r = run_cli(args + base + "/o2");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--gen-aug-dir"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace woundphase

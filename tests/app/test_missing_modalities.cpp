// A bundle of a fused combination applied to visit-wounds that lack some of its images: each is
// predicted from the modalities it has (modalities_used), --require-all restores the strict rule.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "fixtures/cli.h"
#include "fixtures/vision_tool.h"
#include "test_paths.h"

namespace fs = std::filesystem;

namespace woundphase::testing {
namespace {

// predictions.csv as "patient/appt/dfu" -> column -> value.
std::map<std::string, std::map<std::string, std::string>> read_predictions(
    const std::string& path) {
  std::map<std::string, std::map<std::string, std::string>> out;
  for (auto& row : csv_rows(slurp(path)))
    out[row["patient"] + "/" + row["appt"] + "/" + row["dfu"]] = row;
  return out;
}

// Removes the `folder` images of the odd-numbered patients (file names N_P<patient:3>...).
void remove_images_of_odd_patients(const std::string& dir, const std::string& folder) {
  for (const auto& entry : fs::directory_iterator(dir + "/" + folder)) {
    const std::string name = entry.path().filename().string();
    const auto at = name.find("_P");
    ASSERT_NE(at, std::string::npos) << name;
    if (std::stoi(name.substr(at + 2, 3)) % 2 == 1) fs::remove(entry.path());
  }
}

const std::string kTiny =
    " --image-size 32 --epochs 2 --batch-size 16 --trees 30 --stage1-epochs 3 --seed 4 -v 0";

TEST(MissingModalities, FusedBundleFallsBackToTheModalitiesEachVisitWoundHas) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string base = testing::scratch_dir();
  ASSERT_EQ(
      run_cli("synth --out " + base + "/c --patients 24 --seed 8 --image-scale 0.05").exit_code, 0);
  auto r = run_cli("train --data " + base + "/c --modalities metadata+thermal_map" + kTiny +
                   " --out " + base + "/fused");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The metadata-only bundle of the same cohort and seed: the fused bundle's tree model (only the
  // tree options: image and fusion options would do nothing and are refused).
  r = run_cli("train --data " + base + "/c --modalities metadata --trees 30 --seed 4 -v 0 --out " +
              base + "/meta");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The same cohort with the thermal maps of half the patients removed.
  fs::copy(base + "/c", base + "/half", fs::copy_options::recursive);
  remove_images_of_odd_patients(base + "/half", "Thermal_Map_IMG");

  ASSERT_EQ(
      run_cli("predict --model " + base + "/fused --data " + base + "/c --out " + base + "/all.csv")
          .exit_code,
      0);
  r = run_cli("predict --model " + base + "/fused --data " + base + "/half --out " + base +
              "/half.csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("predicted from the modalities they have"), std::string::npos)
      << r.output;
  ASSERT_EQ(run_cli("predict --model " + base + "/meta --data " + base + "/half --out " + base +
                    "/meta.csv")
                .exit_code,
            0);
  r = run_cli("predict --model " + base + "/fused --data " + base + "/half --out " + base +
              "/strict.csv --require-all");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const auto all = read_predictions(base + "/all.csv");
  const auto half = read_predictions(base + "/half.csv");
  const auto meta = read_predictions(base + "/meta.csv");
  const auto strict = read_predictions(base + "/strict.csv");
  ASSERT_EQ(half.size(), all.size());
  int fallback = 0;
  int fused = 0;
  for (const auto& [key, row] : half) {
    ASSERT_FALSE(row.at("pred").empty()) << key << ": every visit-wound has metadata";
    const int patient = std::stoi(key.substr(0, key.find('/')));
    // Odd patients lost their thermal maps (others may lack one from the start).
    if (patient % 2 == 1) {
      EXPECT_EQ(row.at("modalities_used"), "metadata") << key;
    }
    if (row.at("modalities_used") == "metadata") {
      ++fallback;
      // Predicted by the combination's tree model alone: the metadata bundle's numbers.
      for (const char* c : {"prob_I", "prob_P", "prob_R"}) EXPECT_EQ(row.at(c), meta.at(key).at(c));
      EXPECT_TRUE(strict.at(key).at("pred").empty()) << key;
      EXPECT_TRUE(strict.at(key).at("modalities_used").empty()) << key;
      continue;
    }
    ++fused;
    EXPECT_EQ(row.at("modalities_used"), "metadata+thermal_map") << key;
    // Rows with every modality: the same numbers as on the complete cohort, --require-all too.
    for (const char* c : {"prob_I", "prob_P", "prob_R"}) {
      EXPECT_EQ(row.at(c), all.at(key).at(c)) << key;
      EXPECT_EQ(row.at(c), strict.at(key).at(c)) << key;
    }
  }
  EXPECT_GT(fallback, 0);
  EXPECT_GT(fused, 0);
  // --explain on the fused bundle: a Grad-CAM overlay per thermal image a prediction used, each
  // modality's share for the visit-wounds predicted with both, and the case page shows them.
  r = run_cli("predict --model " + base + "/fused --data " + base + "/half --out " + base +
              "/x/preds.csv --explain --report");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto index = lines(slurp(base + "/x/explain/grad_cam.csv"));
  ASSERT_GT(index.size(), 1U);
  EXPECT_EQ(index[0], "patient,appt,dfu,modality,view,class,file,centre_share");
  for (size_t i = 1; i < index.size(); ++i) {
    const std::vector<std::string> f = csv_fields(index[i]);
    ASSERT_EQ(f.size(), 8U) << index[i];
    EXPECT_EQ(f[3], "thermal_map");
    EXPECT_EQ(std::stoi(f[0]) % 2, 0) << "odd patients have no thermal map left: " << index[i];
    EXPECT_TRUE(fs::exists(base + "/x/" + f[6])) << f[6];
    EXPECT_EQ(f[6], "explain/" + f[0] + "_" + f[1] + "_" + f[2] + "_thermal_map_" + f[4] + ".png");
    EXPECT_EQ(f[5], half.at(f[0] + "/" + f[1] + "/" + f[2]).at("pred"));
  }
  const auto shares = lines(slurp(base + "/x/modality_shares.csv"));
  EXPECT_EQ(shares[0], "patient,appt,dfu,modality,class,prob,prob_without,share");
  EXPECT_EQ(shares.size(), 1U + 2U * fused);  // metadata and thermal_map per fused visit-wound
  for (size_t i = 1; i < shares.size(); ++i) {
    const std::vector<std::string> f = csv_fields(shares[i]);
    const auto& row = half.at(f[0] + "/" + f[1] + "/" + f[2]);
    EXPECT_EQ(f[4], row.at("pred"));
    EXPECT_EQ(f[5], row.at("prob_" + f[4]));
    // Without thermal_map the metadata model alone decides: the metadata bundle's probability.
    if (f[3] == "thermal_map") {
      EXPECT_EQ(f[6], meta.at(f[0] + "/" + f[1] + "/" + f[2]).at("prob_" + f[4]));
    }
    EXPECT_NEAR(std::stod(f[7]), std::stod(f[5]) - std::stod(f[6]), 2e-6);
  }
  const std::string page = slurp(base + "/x/predictions.html");
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(occurrences(page, "src=\"data:image/png;base64,"), index.size() - 1);
  EXPECT_NE(page.find("Share of each modality"), std::string::npos);
}

TEST(MissingModalities, ThreeModalityBundleCarriesSubCombinationHeads) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string base = testing::scratch_dir();
  ASSERT_EQ(
      run_cli("synth --out " + base + "/c --patients 20 --seed 9 --image-scale 0.05").exit_code, 0);
  auto r = run_cli("train --data " + base + "/c --modalities metadata+thermal_map+depth_map" +
                   kTiny + " --out " + base + "/b");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"fusion.pt", "fusion_metadata+thermal_map.pt",
                        "fusion_metadata+depth_map.pt", "fusion_thermal_map+depth_map.pt"})
    EXPECT_TRUE(fs::exists(base + "/b/" + f)) << f;
  fs::copy(base + "/c", base + "/half", fs::copy_options::recursive);
  remove_images_of_odd_patients(base + "/half", "Depth_Map_IMG");
  r = run_cli("predict --model " + base + "/b --data " + base + "/half --out " + base +
              "/half.csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::map<std::string, int> used;
  for (const auto& [key, row] : read_predictions(base + "/half.csv")) {
    ASSERT_FALSE(row.at("pred").empty()) << key;
    ++used[row.at("modalities_used")];
    const double sum =
        std::stod(row.at("prob_I")) + std::stod(row.at("prob_P")) + std::stod(row.at("prob_R"));
    EXPECT_NEAR(sum, 1.0, 2e-6) << key;
  }
  EXPECT_GT(used["metadata+thermal_map"], 0);  // the sub-combination head
  EXPECT_GT(used["metadata+thermal_map+depth_map"], 0);
  // Predicting again gives the same bytes.
  expect_same_predictions_again(base + "/b", base + "/half", base + "/half.csv",
                                base + "/again.csv");
}

}  // namespace
}  // namespace woundphase::testing

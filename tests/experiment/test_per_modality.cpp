// Per-modality values of the image networks' knobs: parsing, what each branch gets, validation,
// and what the command line records.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "fixtures/vision_tool.h"
#include "test_paths.h"
#include "woundphase/experiment_options.h"
#include "woundphase/modality.h"
#include "woundphase/options.h"
#include "woundphase/search_settings.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

// Sets image option `flag` from `text` as the command line does.
void set(ImageBranchSettings& s, const std::string& flag, const std::string& text) {
  for (const auto& o : image_branch_options().options())
    if (o.flag == flag) return set_image_option_text(o, s, text);
  FAIL() << "no image option " << flag;
}

// The branch table includes the crops' table, whose internal --image-size shares the flag: the
// knob found by flag is the command line's, which sizes the crops and the network together
// (`woundphase demo` sets its 32 px this way; it used to set the crops only and stop with an
// internal error).
TEST(PerModality, ImageSizeFoundByFlagSetsTheCropsAndTheNetwork) {
  ImageBranchSettings s;
  const auto* option = image_branch_options().find("--image-size");
  ASSERT_NE(option, nullptr);
  EXPECT_TRUE(option->on_command_line);
  option->set(s, 32LL);
  EXPECT_EQ(s.vision.image_size, 32);
  EXPECT_EQ(s.preprocess.image_size, 32);
  EXPECT_NO_THROW(s.validate());
}

TEST(PerModality, EachBranchGetsItsValueAndTheOthersTheDefault) {
  ImageBranchSettings s;
  set(s, "--backbone", "simple,depth_rgb=resnet18");
  set(s, "--image-learning-rate", "thermal_map=1e-4");
  // A value holding commas itself: the next item starts only at "MODALITY=".
  set(s, "--projection", "depth_rgb=128,32,thermal_map=64");
  set(s, "--image-unfreeze", "0.5");  // a plain value: every modality
  EXPECT_EQ(s.vision.backbone, "simple");
  const VisionSettings rgb = s.vision_for(ImageModality::kDepthRgb);
  const VisionSettings thermal = s.vision_for(ImageModality::kThermalMap);
  const VisionSettings depth = s.vision_for(ImageModality::kDepthMap);
  EXPECT_EQ(rgb.backbone, "resnet18");
  EXPECT_EQ(rgb.projection, "128,32");
  EXPECT_DOUBLE_EQ(rgb.learning_rate, VisionSettings{}.learning_rate);
  EXPECT_EQ(thermal.backbone, "simple");
  EXPECT_EQ(thermal.projection, "64");
  EXPECT_DOUBLE_EQ(thermal.learning_rate, 1e-4);
  EXPECT_EQ(depth.backbone, "simple");
  EXPECT_EQ(depth.projection, "none");
  for (const auto* v : {&rgb, &thermal, &depth}) EXPECT_DOUBLE_EQ(v->unfreeze, 0.5);
  s.validate();
}

TEST(PerModality, BadValuesNameTheOptionAndTheModality) {
  auto error = [](const std::string& flag, const std::string& text) {
    ImageBranchSettings s;
    try {
      set(s, flag, text);
      s.validate();
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(error("--image-learning-rate", "thermal_map=fast").find("--image-learning-rate"),
            std::string::npos);
  EXPECT_NE(error("--image-learning-rate", "thermal_map=2").find("thermal_map"),
            std::string::npos);  // out of (0, 1], found by validate()
  EXPECT_NE(error("--backbone", "depth_rgb=simple,depth_rgb=resnet18").find("twice"),
            std::string::npos);
  EXPECT_NE(error("--projection", "depth_map=0").find("--projection"), std::string::npos);
  // The crop size is shared by every modality (and the image cache): no per-modality value.
  EXPECT_NE(error("--image-size", "depth_rgb=64").find("--image-size"), std::string::npos);
  EXPECT_EQ(error("--backbone", "thermal_rgb=resnet18,depth_map=densenet121"), "accepted");
}

TEST(PerModality, RecordedOnlyWhenGiven) {
  SearchSettings s;
  s.combinations = {{Modality::kThermalMap}};
  EXPECT_FALSE(s.to_json().at("images").contains("per_modality"));
  set(s.images, "--dropout", "thermal_map=0.5");
  const nlohmann::json j = s.to_json().at("images").at("per_modality");
  EXPECT_DOUBLE_EQ(j.at("thermal_map").at("dropout").get<double>(), 0.5);
}

TEST(PerModality, TheCommandLineChecksEachModalitysValueBeforeTraining) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string dir = testing::scratch_dir();
  ASSERT_EQ(
      testing::run_cli("synth --out " + dir + "/data --patients 16 --seed 5 --image-scale 0.05")
          .exit_code,
      0);
  const std::string search = "search --data " + dir +
                             "/data --modalities thermal_map,depth_rgb --cv-folds 2 "
                             "--image-size 32 --epochs 1 -v 1 ";
  const auto bad = testing::run_cli(search + "--backbone simple,depth_rgb=torchscript:" + dir +
                                    "/missing.pt --out " + dir + "/bad");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("missing.pt' does not exist (the value for depth_rgb)"),
            std::string::npos)
      << bad.output;
  const auto good = testing::run_cli(search + "--projection depth_rgb=16 --out " + dir + "/good");
  ASSERT_EQ(good.exit_code, 0) << good.output;
  const auto settings = nlohmann::json::parse(testing::slurp(dir + "/good/settings.json"));
  const auto& images = settings.at("settings").at("images");
  EXPECT_EQ(images.at("per_modality").at("depth_rgb").at("projection"), "16");
  EXPECT_EQ(images.at("projection"), "none");
  EXPECT_EQ(images.at("aug_cutout"), 0.0);

  // An augmentation for one modality: its branch trains on other pixels, the other's does not.
  const auto aug = testing::run_cli(search +
                                    "--projection depth_rgb=16 --aug-cutout thermal_map=0.5 "
                                    "--aug-rot90 thermal_map=1 --out " +
                                    dir + "/aug");
  ASSERT_EQ(aug.exit_code, 0) << aug.output;
  const auto aug_images =
      nlohmann::json::parse(testing::slurp(dir + "/aug/settings.json")).at("settings").at("images");
  EXPECT_EQ(aug_images.at("per_modality").at("thermal_map").at("aug_cutout"), 0.5);
  EXPECT_EQ(aug_images.at("per_modality").at("thermal_map").at("aug_rot90"), 1.0);
  EXPECT_EQ(aug_images.at("aug_cutout"), 0.0);
  auto curve_rows = [&](const std::string& run, const std::string& modality) {
    std::vector<std::string> out;
    for (const std::string& line :
         testing::lines(testing::slurp(dir + "/" + run + "/training_curves.csv")))
      if (line.find("," + modality + ",") != std::string::npos) out.push_back(line);
    return out;
  };
  ASSERT_FALSE(curve_rows("good", "thermal_map").empty());
  EXPECT_NE(curve_rows("aug", "thermal_map"), curve_rows("good", "thermal_map"));
  EXPECT_EQ(curve_rows("aug", "depth_rgb"), curve_rows("good", "depth_rgb"));
}

}  // namespace
}  // namespace woundphase

// [SUBCOMMAND.MODALITY] tables in --config files: the same as MODALITY=VALUE items of the knobs,
// errors that name the file, line and table, and a search's own config.toml that reruns it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "fixtures/vision_tool.h"
#include "test_paths.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

using testing::run_cli;
using testing::slurp;

// The effective configuration's lines, without the version comment.
std::string printed(const testing::CommandResult& r) {
  const size_t at = r.output.find('\n');
  return at == std::string::npos ? r.output : r.output.substr(at + 1);
}

TEST(ConfigTables, ModalityTablesMeanModalityItems) {
  const std::string dir = testing::scratch_dir();
  std::ofstream(dir + "/t.toml") << "[search]\n"
                                    "backbone = \"simple\"\n"
                                    "epochs = 2\n"
                                    "[search.thermal_map]\n"
                                    "backbone = \"resnet18\"\n"
                                    "image_learning_rate = 1e-4\n"
                                    "[search.depth_rgb]\n"
                                    "projection = [128, 32]\n"
                                    "dropout = 0.5\n";
  const std::string args = "search --data " + dir + "/d --out " + dir +
                           "/o --modalities thermal_map,depth_rgb --print-config";
  const auto tables = run_cli("--config " + dir + "/t.toml " + args);
  ASSERT_EQ(tables.exit_code, 0) << tables.output;
  const auto items = run_cli(args +
                             " --backbone simple,thermal_map=resnet18 --epochs 2"
                             " --image-learning-rate thermal_map=1e-4"
                             " --projection depth_rgb=128,32 --dropout depth_rgb=0.5");
  ASSERT_EQ(items.exit_code, 0) << items.output;
  EXPECT_EQ(printed(tables), printed(items));
  EXPECT_NE(tables.output.find("search.backbone=\"simple,thermal_map=resnet18\""),
            std::string::npos)
      << tables.output;

  // Dotted keys inside [search] are the same tables; a table alone needs no plain value.
  std::ofstream(dir + "/dotted.toml") << "[search]\n"
                                         "thermal_map.backbone = \"resnet18\"\n"
                                         "[search.depth_rgb]\n"
                                         "dropout = 0.5\n";
  const auto dotted = run_cli("--config " + dir + "/dotted.toml " + args);
  ASSERT_EQ(dotted.exit_code, 0) << dotted.output;
  EXPECT_NE(dotted.output.find("search.backbone=\"thermal_map=resnet18\""), std::string::npos)
      << dotted.output;
  EXPECT_NE(dotted.output.find("search.dropout=\"depth_rgb=0.5\""), std::string::npos)
      << dotted.output;
}

TEST(ConfigTables, UnknownModalityOrKnobNamesFileLineAndTable) {
  const std::string dir = testing::scratch_dir();
  const std::string args = " search --data " + dir + "/d --out " + dir + "/o";
  auto error_of = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    const auto r = run_cli("--config " + dir + "/" + name + args);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    return r.output;
  };
  std::string e =
      error_of("m.toml", "[search]\nepochs = 2\n\n[search.thermal]\nbackbone = \"x\"\n");
  EXPECT_NE(e.find(dir + "/m.toml:4: [search.thermal]: 'thermal' is not an image modality"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("thermal_map, depth_map, depth_rgb, thermal_rgb"), std::string::npos) << e;
  e = error_of("k.toml", "[search.thermal_map]\nbackbone = \"simple\"\ntrez = 3\n");
  EXPECT_NE(e.find(dir + "/k.toml:3: [search.thermal_map]: 'trez' takes no per-modality value"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("backbone"), std::string::npos) << e;
  // A knob shared by every modality (the crop size, the image cache's key) is no table key either.
  e = error_of("s.toml", "[search.depth_map]\nimage_size = 64\n");
  EXPECT_NE(e.find("s.toml:2: [search.depth_map]: 'image-size' takes no per-modality value"),
            std::string::npos)
      << e;
}

TEST(ConfigTables, ASearchsOwnConfigRerunsIt) {
  WOUNDPHASE_REQUIRE_VISION();
  const std::string dir = testing::scratch_dir();
  ASSERT_EQ(
      run_cli("synth --out " + dir + "/d --patients 16 --seed 5 --image-scale 0.05").exit_code, 0);
  std::ofstream(dir + "/t.toml") << "[search]\n"
                                    "data = \"d\"\n"
                                    "modalities = \"thermal_map,depth_rgb\"\n"
                                    "cv_folds = 2\nimage_size = 32\nepochs = 1\n"
                                    "[search.depth_rgb]\nprojection = [16]\n"
                                    "[search.thermal_map]\ndropout = 0.5\naug_rot90 = 0.5\n";
  auto r = run_cli("--config " + dir + "/t.toml search -v 0 --out " + dir + "/a");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto settings = [&](const std::string& run) {
    return nlohmann::json::parse(slurp(dir + "/" + run + "/settings.json")).at("settings");
  };
  const auto per = settings("a").at("images").at("per_modality");
  EXPECT_EQ(per.at("depth_rgb").at("projection"), "16");
  EXPECT_DOUBLE_EQ(per.at("thermal_map").at("dropout").get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(per.at("thermal_map").at("aug_rot90").get<double>(), 0.5);
  // The search's own config.toml, read back from another folder, reruns it identically.
  fs::copy_file(dir + "/a/config.toml", dir + "/again.toml");
  r = run_cli("--config " + dir + "/again.toml search -v 0 --out " + dir + "/b");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(settings("b"), settings("a"));
  for (const char* f : {"results.csv", "predictions.csv", "training_curves.csv"})
    EXPECT_EQ(slurp(dir + "/b/" + f), slurp(dir + "/a/" + f)) << f;
}

}  // namespace
}  // namespace woundphase

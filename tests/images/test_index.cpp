// Matching frames to visit-wounds: hand-written box files that exercise every fallback level.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_paths.h"
#include "woundphase/core.h"  // for InputError
#include "woundphase/images.h"

namespace woundphase {
namespace {

namespace fs = std::filesystem;

constexpr char kMetadata[] =
    "ID,Patient#,Appt#,DFU#,Age,Healing Phase Abs\r\n"
    "1,1,1,1,60,I\r\n"
    "2,1,1,2,60,P\r\n"
    "3,2,0,1,70,R\r\n"
    "4,3,0,1,55,P\r\n";

constexpr char kDepthBoxes[] =
    "Filename,Patient#,Appt#,DFU#,DebriStat,Camera,Angle,Bounding Box "
    "Number,Xmin,Ymin,Xmax,Ymax\r\n"
    "1_P001011BDLW.png,001,01,1,B,D,LW,1,10,10,20,20\r\n"
    "2_P001011BDMW.png,001,01,1,B,D,MW,1,11,11,21,21\r\n"
    "3_P001011ADMZ.png,001,01,1,A,D,MZ,1,12,12,22,22\r\n"
    "8_P001011ADRW.png,001,01,1,A,D,RW,1,30,30,40,40\r\n"
    "8_P001011ADRW.png,001,01,2,A,D,RW,2,50,50,60,60\r\n"
    "8_P001011ADRW.png,001,01,2,A,D,RW,2,55,45,65,58\r\n"
    "6_P001012BDLW.png,001,01,2,B,D,LW,2,5,5,15,15\r\n"
    "9_P009001BDLW.png,009,00,1,B,D,LW,1,1,1,5,5\r\n"
    "garbage.png,001,01,1,B,D,LW,1,1,1,5,5\r\n"
    "10_P002001BDLW.png,002,00,1,B,D,LW,1,1,1,9,9\r\n";

constexpr char kThermalBoxes[] =
    "Filename,Patient#,Appt#,DFU#,DebriStat,Camera,Angle,Bounding Box "
    "Number,Xmin,Ymin,Xmax,Ymax\r\n"
    "1_P001011BTLW.png,1,1,1,B,T,LW,1,100,100,140,150\r\n"
    "5_P001011ATRW.png,1,1,1,A,T,RW,1,101,101,141,151\r\n"
    "7_P001012ATLW.png,1,1,2,A,T,LW,2,10,10,20,20\r\n"
    "10_P002001BTLW.png,2,0,1,B,T,LW,1,1,1,9,9\r\n";

void touch(const fs::path& path) { std::ofstream(path, std::ios::binary) << ""; }

// The study: every named frame exists except Depth_RGB/10_P002001BDLW.png; no Thermal_RGB/.
std::string write_study(const char* thermal_boxes = kThermalBoxes) {
  const fs::path dir = testing::scratch_dir();
  std::ofstream(dir / Schema::dfu().metadata_file, std::ios::binary) << kMetadata;
  std::ofstream(dir / kDepthBoxFile, std::ios::binary) << kDepthBoxes;
  if (thermal_boxes != nullptr)
    std::ofstream(dir / kThermalBoxFile, std::ios::binary) << thermal_boxes;
  for (const char* folder : {"Depth_RGB", "Depth_Map_IMG", "Thermal_Map_IMG"})
    fs::create_directories(dir / folder);
  for (const char* f : {"1_P001011BDLW.png", "2_P001011BDMW.png", "3_P001011ADMZ.png",
                        "8_P001011ADRW.png", "6_P001012BDLW.png", "9_P009001BDLW.png"}) {
    touch(dir / "Depth_RGB" / f);
    touch(dir / "Depth_Map_IMG" / f);
  }
  touch(dir / "Depth_Map_IMG" / "10_P002001BDLW.png");
  for (const char* f :
       {"1_P001011BTLW.png", "5_P001011ATRW.png", "7_P001012ATLW.png", "10_P002001BTLW.png"})
    touch(dir / "Thermal_Map_IMG" / f);
  return dir.string();
}

// "file:fallback" per ref, for compact expectations.
std::vector<std::string> describe(const std::vector<ImageRef>& refs) {
  std::vector<std::string> out;
  for (const auto& r : refs) out.push_back(r.file + ":" + to_string(r.fallback));
  return out;
}

struct Built {
  Dataset data;
  ImageIndex index;
};

Built build(const std::string& dir, ImageIndexSettings settings = {}) {
  Built b;
  b.data = load_dataset(dir, Schema::dfu(), true);
  b.index = build_image_index(b.data, dir, settings);
  return b;
}

TEST(ImageIndex, PairsDepthAndThermalByTheCodeWithEveryFallbackLevel) {
  const Built b = build(write_study());
  ASSERT_EQ(b.index.rows.size(), 4U);
  const auto& row = b.index.rows[0];  // patient 1, visit 1, wound 1
  ASSERT_EQ(row.views.size(), 5U);    // image numbers 1, 2, 3, 5, 8
  EXPECT_EQ(to_name(row.views[0]), "1_P001011BDLW.png");
  EXPECT_EQ(to_name(row.views[3]), "5_P001011ADRW.png");  // named by its depth code
  EXPECT_EQ(describe(row.refs[static_cast<int>(ImageModality::kThermalMap)]),
            (std::vector<std::string>{"Thermal_Map_IMG/1_P001011BTLW.png:exact",
                                      "Thermal_Map_IMG/1_P001011BTLW.png:other_angle",
                                      "Thermal_Map_IMG/5_P001011ATRW.png:other_zoom",
                                      "Thermal_Map_IMG/5_P001011ATRW.png:exact",
                                      "Thermal_Map_IMG/5_P001011ATRW.png:other_angle"}));
  EXPECT_EQ(describe(row.refs[static_cast<int>(ImageModality::kDepthRgb)]),
            (std::vector<std::string>{
                "Depth_RGB/1_P001011BDLW.png:exact", "Depth_RGB/2_P001011BDMW.png:exact",
                "Depth_RGB/3_P001011ADMZ.png:exact", "Depth_RGB/8_P001011ADRW.png:other_angle",
                "Depth_RGB/8_P001011ADRW.png:exact"}));
  const auto& thermal = row.refs[static_cast<int>(ImageModality::kThermalMap)];
  for (size_t v = 0; v < thermal.size(); ++v) EXPECT_EQ(thermal[v].view, static_cast<int>(v));
  EXPECT_EQ(thermal[0].box, (Box{100, 100, 140, 150}));
  EXPECT_EQ(thermal[0].line, 2);

  const auto& second = b.index.rows[1];  // wound 2: its depth frame 8 is named for wound 1
  EXPECT_EQ(describe(second.refs[static_cast<int>(ImageModality::kThermalMap)]),
            (std::vector<std::string>{"Thermal_Map_IMG/7_P001012ATLW.png:other_debridement",
                                      "Thermal_Map_IMG/7_P001012ATLW.png:exact",
                                      "Thermal_Map_IMG/7_P001012ATLW.png:other_angle"}));
  EXPECT_EQ(describe(second.refs[static_cast<int>(ImageModality::kDepthMap)]),
            (std::vector<std::string>{"Depth_Map_IMG/6_P001012BDLW.png:exact",
                                      "Depth_Map_IMG/8_P001011ADRW.png:other_angle",
                                      "Depth_Map_IMG/8_P001011ADRW.png:exact"}));
  // Two boxes of one wound in one frame: their union.
  EXPECT_EQ(second.refs[static_cast<int>(ImageModality::kDepthMap)][2].box, (Box{50, 45, 65, 60}));
}

TEST(ImageIndex, KeepsRowsWithoutAModalityAndReportsWhatDidNotMatch) {
  const Built b = build(write_study());
  const auto& p2 = b.index.rows[2];  // its Depth_RGB frame is missing
  EXPECT_TRUE(p2.refs[static_cast<int>(ImageModality::kDepthRgb)].empty());
  EXPECT_EQ(p2.refs[static_cast<int>(ImageModality::kDepthMap)].size(), 1U);
  EXPECT_EQ(p2.refs[static_cast<int>(ImageModality::kThermalMap)].size(), 1U);
  const auto& p3 = b.index.rows[3];  // no frames at all, still a row
  EXPECT_TRUE(p3.views.empty());
  for (const auto& refs : p3.refs) EXPECT_TRUE(refs.empty());

  const UnmatchedReport& r = b.index.report;
  EXPECT_EQ(r.box_rows, 14);
  EXPECT_EQ(r.unknown_visit_boxes, 1);
  EXPECT_EQ(r.bad_rows, 1);
  EXPECT_EQ(r.missing_files, 1);
  EXPECT_FALSE(r.folder_present[static_cast<int>(ImageModality::kThermalRgb)]);
  EXPECT_EQ(r.rows_without[static_cast<int>(ImageModality::kDepthRgb)], 2);
  EXPECT_EQ(r.rows_without[static_cast<int>(ImageModality::kDepthMap)], 1);
  EXPECT_EQ(r.rows_without[static_cast<int>(ImageModality::kThermalMap)], 1);
  EXPECT_EQ(r.rows_without[static_cast<int>(ImageModality::kThermalRgb)], 4);
  const auto& thermal = r.refs_by_fallback[static_cast<int>(ImageModality::kThermalMap)];
  EXPECT_EQ(thermal[0], 4);  // exact: views 1, 5 / 7 / 10
  EXPECT_EQ(thermal[1], 3);
  EXPECT_EQ(thermal[2], 1);
  EXPECT_EQ(thermal[3], 1);
  const std::string text = r.summary();
  EXPECT_NE(text.find("9_P009001BDLW.png names patient 9, visit 0, wound 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("bounding_box_depth.csv:10: garbage.png"), std::string::npos) << text;
  EXPECT_NE(text.find("Depth_RGB/10_P002001BDLW.png: image file named by"), std::string::npos)
      << text;
  EXPECT_NE(text.find("thermal_rgb: Thermal_RGB/ not present"), std::string::npos) << text;
  EXPECT_EQ(b.index.available(),
            (std::vector<ImageModality>{ImageModality::kThermalMap, ImageModality::kDepthMap,
                                        ImageModality::kDepthRgb}));
  EXPECT_EQ(b.index.rows_with(ImageModality::kDepthRgb), (std::vector<int>{0, 1}));
}

// Why each visit-wound lacks a modality, counted per visit-wound (not per box row).
TEST(ImageIndex, CountsPerVisitWoundWhyAModalityIsMissing) {
  const Built plain = build(write_study());
  const UnmatchedReport& r = plain.index.report;
  const int rgb = static_cast<int>(ImageModality::kDepthRgb);
  const int map = static_cast<int>(ImageModality::kDepthMap);
  const int thermal = static_cast<int>(ImageModality::kThermalMap);
  // Row 3 (patient 3) is named by no box row; row 2's one Depth_RGB frame is missing.
  EXPECT_EQ(r.rows_no_box[rgb], 1);
  EXPECT_EQ(r.rows_frames_missing[rgb], 1);
  EXPECT_EQ(r.rows_bad_boxes_only[rgb], 0);
  EXPECT_EQ(r.rows_no_box[map], 1);
  EXPECT_EQ(r.rows_frames_missing[map], 0);
  EXPECT_EQ(r.rows_no_box[thermal], 1);
  for (int k : {rgb, map, thermal})
    EXPECT_EQ(r.rows_no_box[k] + r.rows_bad_boxes_only[k] + r.rows_frames_missing[k],
              r.rows_without[k]);
  EXPECT_NE(r.summary().find("depth_rgb: 2 visit-wounds without frames (1 named by no box row, 1 "
                             "whose named frames are all missing from the folder)"),
            std::string::npos)
      << r.summary();

  // A thermal box row for patient 3 with an empty box: that visit-wound is named, but only by an
  // unusable row.
  const std::string bad =
      std::string(kThermalBoxes) + "11_P003001BTLW.png,3,0,1,B,T,LW,1,5,5,1,1\r\n";
  const Built b = build(write_study(bad.c_str()));
  EXPECT_EQ(b.index.report.rows_bad_boxes_only[thermal], 1);
  EXPECT_EQ(b.index.report.rows_no_box[thermal], 0);
  EXPECT_EQ(b.index.report.rows_no_box[rgb], 1);  // the depth camera's rows are unchanged
  EXPECT_NE(b.index.report.summary().find("1 named only by unusable box rows"), std::string::npos)
      << b.index.report.summary();
}

TEST(ImageIndex, ErrorModeNamesTheMissingFileAndTheBoxLine) {
  const std::string dir = write_study();
  ImageIndexSettings s;
  s.on_missing_image = MissingImage::kError;
  try {
    build(dir, s);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("Depth_RGB/10_P002001BDLW.png"), std::string::npos) << m;
    EXPECT_NE(m.find("bounding_box_depth.csv:11"), std::string::npos) << m;
  }
  s = {};
  s.check_files = false;  // trust the box files
  const Built b = build(dir, s);
  EXPECT_EQ(b.index.report.missing_files, 0);
  EXPECT_EQ(b.index.rows[2].refs[static_cast<int>(ImageModality::kDepthRgb)].size(), 1U);
}

TEST(ImageIndex, IsDeterministic) {
  const std::string dir = write_study();
  const Built a = build(dir);
  const Built b = build(dir);
  for (size_t r = 0; r < a.index.rows.size(); ++r)
    for (int m = 0; m < kNumImageModalities; ++m)
      EXPECT_EQ(describe(a.index.rows[r].refs[m]), describe(b.index.rows[r].refs[m]));
}

TEST(ImageIndex, AbsentBoxFileLeavesItsModalitiesEmptyBadHeaderIsAnError) {
  const Built b = build(write_study(nullptr));
  EXPECT_TRUE(b.index.rows[0].refs[static_cast<int>(ImageModality::kThermalMap)].empty());
  EXPECT_EQ(b.index.rows[0].refs[static_cast<int>(ImageModality::kDepthRgb)].size(), 4U);
  EXPECT_NE(b.index.report.summary().find("bounding_box_thermal.csv: not present"),
            std::string::npos);

  const std::string dir = write_study("Filename,Patient#,Appt#,DFU#,Xmin,Ymin,Xmax\r\n");
  try {
    build(dir);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bounding_box_thermal.csv:1: missing column 'Ymax'"),
              std::string::npos)
        << e.what();
  }
}

TEST(ImageIndex, ParsesTheSettingNames) {
  EXPECT_EQ(parse_missing_image("skip"), MissingImage::kSkip);
  EXPECT_EQ(parse_missing_image("error"), MissingImage::kError);
  EXPECT_THROW(parse_missing_image("ignore"), InputError);
  EXPECT_STREQ(to_string(ImageModality::kThermalMap), "thermal_map");
  EXPECT_STREQ(folder_of(ImageModality::kDepthMap), "Depth_Map_IMG");
  EXPECT_EQ(camera_of(ImageModality::kThermalRgb), Camera::kThermal);
}

}  // namespace
}  // namespace woundphase

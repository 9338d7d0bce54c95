// Image file names: parsing every part, round trips, pairing, malformed names, the real study.
#include <gtest/gtest.h>

#include <filesystem>
#include <ostream>

#include "test_paths.h"
#include "woundphase/core.h"
#include "woundphase/dataset.h"
#include "woundphase/image_name.h"

namespace fs = std::filesystem;

namespace woundphase {

// A failed comparison of two names prints them as file names.
void PrintTo(const ImageName& n, std::ostream* os) { *os << to_name(n); }

namespace {

// The InputError message parse_image_name gives ("" if the name parsed).
std::string parse_error(const std::string& name) {
  try {
    parse_image_name(name);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(ImageName, ParsesTheStudyExample) {
  EXPECT_EQ(
      parse_image_name("280_P003011BDLW.png"),
      (ImageName{280, "3", 1, 1, Debridement::kBefore, Camera::kDepth, Angle::kLeft, Zoom::kWide}));
}

TEST(ImageName, ParsesEveryLetter) {
  EXPECT_EQ(parse_image_name("7_P120093ATRZ.png"),
            (ImageName{7, "120", 9, 3, Debridement::kAfter, Camera::kThermal, Angle::kRight,
                       Zoom::kZoom}));
  EXPECT_EQ(parse_image_name("0_P000000BDMW.png").angle, Angle::kMiddle);
  EXPECT_EQ(parse_image_name("0_P000000BDMW.png").patient, "0");
  EXPECT_EQ(parse_image_name("12_P999991ADMZ.png").appt, 99);
}

TEST(ImageName, RoundTripsEveryCombination) {
  for (const char* deb : {"B", "A"})
    for (const char* cam : {"D", "T"})
      for (const char* ang : {"L", "M", "R"})
        for (const char* zoom : {"W", "Z"}) {
          const std::string name = std::string("1043_P045102") + deb + cam + ang + zoom + ".png";
          const ImageName parsed = parse_image_name(name);
          EXPECT_EQ(to_name(parsed), name);
          EXPECT_EQ(parse_image_name(to_name(parsed)), parsed);
          EXPECT_EQ(to_char(parsed.debridement), deb[0]);
          EXPECT_EQ(to_char(parsed.camera), cam[0]);
          EXPECT_EQ(to_char(parsed.angle), ang[0]);
          EXPECT_EQ(to_char(parsed.zoom), zoom[0]);
        }
}

TEST(ImageName, ToNameWritesTheCanonicalSpelling) {
  ImageName n;
  n.index = 5;
  n.patient = "7";
  n.appt = 3;
  n.dfu = 2;
  EXPECT_EQ(to_name(n), "5_P007032BDLW.png");
  // Leading zeros of the image number are not kept: "0005_..." parses but writes as "5_...".
  EXPECT_EQ(to_name(parse_image_name("0005_P007032BDLW.png")), "5_P007032BDLW.png");
  n.patient = "1000";
  EXPECT_THROW(to_name(n), InputError);
  n.patient = "";
  EXPECT_THROW(to_name(n), InputError);
  n.patient = "x";
  EXPECT_THROW(to_name(n), InputError);
  n.patient = "7";
  n.appt = 100;
  EXPECT_THROW(to_name(n), InputError);
  n.appt = 3;
  n.dfu = -1;
  EXPECT_THROW(to_name(n), InputError);
}

TEST(ImageName, PairSwapsTheCamera) {
  EXPECT_EQ(paired_name("280_P003011BDLW.png"), "280_P003011BTLW.png");
  EXPECT_EQ(paired_name("280_P003011BTLW.png"), "280_P003011BDLW.png");
  // Only the camera letter changes, even in a non-canonical spelling.
  EXPECT_EQ(paired_name("0280_P003011ADMZ.png"), "0280_P003011ATMZ.png");
  const ImageName n = parse_image_name("280_P003011BDLW.png");
  EXPECT_EQ(paired(n).camera, Camera::kThermal);
  EXPECT_EQ(paired(paired(n)), n);
  EXPECT_THROW(paired_name("280_P003011BXLW.png"), InputError);
}

TEST(ImageName, ErrorsNameTheFileThePartAndThePosition) {
  EXPECT_EQ(parse_error("280_P003011BXLW.png"),
            "280_P003011BXLW.png: camera must be D or T at character 13");
  EXPECT_EQ(parse_error("280_P003011XDLW.png"),
            "280_P003011XDLW.png: debridement must be B or A at character 12");
  EXPECT_EQ(parse_error("280_P003011BDXW.png"),
            "280_P003011BDXW.png: angle must be L, M or R at character 14");
  EXPECT_EQ(parse_error("280_P003011BDLX.png"),
            "280_P003011BDLX.png: zoom must be W or Z at character 15");
  EXPECT_EQ(parse_error("280_Q003011BDLW.png"),
            "280_Q003011BDLW.png: expected 'P' (patient) after '_' at character 5");
  EXPECT_EQ(parse_error("280P003011BDLW.png"),
            "280P003011BDLW.png: expected '_' after the image number at character 4");
  EXPECT_EQ(parse_error("P003011BDLW.png"),
            "P003011BDLW.png: the name must start with the image number (digits) at character 1");
  EXPECT_EQ(parse_error("280_P0a3011BDLW.png"),
            "280_P0a3011BDLW.png: the patient must be 3 digits at character 7");
  EXPECT_EQ(parse_error("280_P003x11BDLW.png"),
            "280_P003x11BDLW.png: the appointment must be 2 digits at character 9");
  EXPECT_EQ(parse_error("280_P00301xBDLW.png"),
            "280_P00301xBDLW.png: the wound (DFU) number must be 1 digit at character 11");
}

TEST(ImageName, RejectsMalformedNames) {
  EXPECT_NE(parse_error("").find("empty image file name"), std::string::npos);
  // Short: the message says the name ends early and where.
  EXPECT_EQ(parse_error("280_P003011BD")
                .rfind("280_P003011BD: the name ends early: angle must be L, "
                       "M or R at character 14",
                       0),
            0U)
      << parse_error("280_P003011BD");
  EXPECT_NE(parse_error("280_P03011BDLW.png").find("at character"), std::string::npos);
  EXPECT_NE(parse_error("280_").find("ends early"), std::string::npos);
  EXPECT_NE(parse_error("280").find("ends early"), std::string::npos);
  // Extension: required, lower case, nothing after it, nothing between the code and it.
  EXPECT_EQ(parse_error("280_P003011BDLW"),
            "280_P003011BDLW: the name ends early: missing the '.png' extension at character 16 "
            "(expected {n}_P{ppp}{aa}{d}{B|A}{D|T}{L|M|R}{W|Z}.png)");
  EXPECT_EQ(parse_error("280_P003011BDLW.PNG"),
            "280_P003011BDLW.PNG: the extension must be '.png' in lower case at character 16");
  EXPECT_NE(parse_error("280_P003011BDLW.Png").find("lower case"), std::string::npos);
  EXPECT_EQ(parse_error("280_P003011BDLW.png.bak"),
            "280_P003011BDLW.png.bak: expected '.png' right after the code at character 16");
  EXPECT_NE(parse_error("280_P003011BDLWX.png").find("at character 16"), std::string::npos);
  EXPECT_NE(parse_error("280_P003011BDLW.jpg").find("at character 16"), std::string::npos);
  EXPECT_NE(parse_error("280_P003011BDLW.png ").find("at character 16"), std::string::npos);
  // Case-sensitive letters, no paths, no signs, no spaces.
  EXPECT_NE(parse_error("280_p003011BDLW.png").find("at character 5"), std::string::npos);
  EXPECT_NE(parse_error("280_P003011bdlw.png").find("at character 12"), std::string::npos);
  EXPECT_NE(parse_error("Depth_RGB/280_P003011BDLW.png").find("at character 1"), std::string::npos);
  EXPECT_NE(parse_error("-280_P003011BDLW.png").find("at character 1"), std::string::npos);
  EXPECT_NE(parse_error(" 280_P003011BDLW.png").find("at character 1"), std::string::npos);
  EXPECT_NE(parse_error("1234567890123456789_P003011BDLW.png").find("more than 18 digits"),
            std::string::npos);
  EXPECT_EQ(parse_error("123456789012345678_P003011BDLW.png"), "");
  // Bytes outside printable ASCII are shown escaped, so a NUL cannot cut the message.
  EXPECT_EQ(parse_error(std::string("280_P003011BD\0W.png", 19)),
            "280_P003011BD\\x00W.png: angle must be L, M or R at character 14");
  EXPECT_EQ(parse_error("280_P003011BD\xC3\xA9W.png"),
            "280_P003011BD\\xC3\\xA9W.png: angle must be L, M or R at character 14");
}

// Every Filename in the study's bounding-box tables parses and agrees with the row's columns.
void check_bounding_boxes(const std::string& file, char camera) {
  const CsvTable table = read_csv(file);
  const int name_col = table.column_index("Filename");
  const int patient_col = table.column_index("Patient#");
  const int appt_col = table.column_index("Appt#");
  const int dfu_col = table.column_index("DFU#");
  const int debri_col = table.column_index("DebriStat");
  const int camera_col = table.column_index("Camera");
  const int angle_col = table.column_index("Angle");
  for (int col : {name_col, patient_col, appt_col, dfu_col, debri_col, camera_col, angle_col})
    ASSERT_GE(col, 0) << file;
  ASSERT_GT(table.rows.size(), 1000U) << file;
  size_t dfu_differs = 0;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    SCOPED_TRACE(file + ":" + std::to_string(table.line_of_row[r]) + ": " + row[name_col]);
    ImageName n;
    ASSERT_NO_THROW(n = parse_image_name(row[name_col]));
    EXPECT_EQ(to_name(n), row[name_col]);
    EXPECT_EQ(n.patient, std::to_string(std::stol(row[patient_col])));
    EXPECT_EQ(n.appt, std::stol(row[appt_col]));
    // One image can show several wounds: the name carries one wound number and each box row
    // names the wound it outlines, so the two differ on ~10% of the rows (counted below).
    if (n.dfu != std::stol(row[dfu_col])) ++dfu_differs;
    EXPECT_EQ(std::string(1, to_char(n.debridement)), row[debri_col]);
    EXPECT_EQ(std::string(1, to_char(n.camera)), row[camera_col]);
    EXPECT_EQ(to_char(n.camera), camera);
    EXPECT_EQ(std::string({to_char(n.angle), to_char(n.zoom)}), row[angle_col]);
    EXPECT_EQ(parse_image_name(paired_name(row[name_col])).camera,
              camera == 'D' ? Camera::kThermal : Camera::kDepth);
  }
  // Depth: 297 of 2531 rows, thermal: 224 of 2456. The bounding-box tables, not the names, say
  // which wound an image shows.
  EXPECT_LT(dfu_differs, table.rows.size() * 15 / 100) << file;
  EXPECT_GT(dfu_differs, 0U) << file;
}

TEST(ImageName, EveryRealBoundingBoxNameParsesAndAgreesWithItsRow) {
  const std::string dir = testing::real_data_dir();
  if (dir.empty()) GTEST_SKIP() << "../shared/data/dfu not present";
  for (const auto& [file, camera] : {std::pair<const char*, char>{"bounding_box_depth.csv", 'D'},
                                     {"bounding_box_thermal.csv", 'T'}}) {
    const fs::path path = fs::path(dir) / file;
    if (!fs::exists(path)) GTEST_SKIP() << path << " not present";
    check_bounding_boxes(path.string(), camera);
  }
}

}  // namespace
}  // namespace woundphase

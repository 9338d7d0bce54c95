// CSV edge cases, schema roles, bad-input messages and the feature encoder.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "schema_files.h"
#include "test_paths.h"
#include "woundphase/dataset.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

const char* kHeader =
    "ID,Patient#,Appt#,DFU#,Age,\"Sex (F:0, M:1)\",Healing Phase,Healing Phase Abs";

// Writes a metadata CSV with the DFU file name into a fresh folder and returns the folder.
std::string write_study(const std::string& content) {
  std::string dir = testing::scratch_dir();
  std::ofstream(fs::path(dir) / Schema::dfu().metadata_file, std::ios::binary) << content;
  return dir;
}

// Loads the study and returns the InputError message ("" if it loaded).
std::string load_error(const std::string& content, bool require_labels = true) {
  const std::string dir = write_study(content);
  try {
    load_dataset(dir, Schema::dfu(), require_labels);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Csv, BomCrlfQuotedHeaderAndBlankMissing) {
  const std::string dir =
      write_study(std::string("\xEF\xBB\xBF") + kHeader +
                  "\r\n1,7,0,1,60,F,I+,I\r\n2,7,1,1,,M,P,P\r\n3,8,0,1,55.5,M,R,R\r\n");
  const Dataset d = load_dataset(dir, Schema::dfu(), true);
  ASSERT_EQ(d.rows.size(), 3U);
  EXPECT_EQ(d.patients.size(), 2U);
  // Patient#, ID, DFU#, Healing Phase and the label are not features; Appt#, Age, Sex are.
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"Appt#", "Age", "Sex (F:0, M:1)"}));
  EXPECT_EQ(d.feature_kinds[2], FeatureKind::kCategorical);
  EXPECT_FLOAT_EQ(d.numeric.at(0, 1), 60.0F);
  EXPECT_TRUE(is_missing(d.numeric.at(1, 1)));
  EXPECT_FLOAT_EQ(d.numeric.at(2, 1), 55.5F);
  EXPECT_EQ(d.text[2][1], "M");
  EXPECT_EQ(d.labels(), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(d.rows[2].line, 4);
}

TEST(Csv, QuotedFieldWithCommaAndNewlineKeepsLineNumbers) {
  const std::string text =
      std::string(kHeader) + "\n1,7,0,1,60,\"F, really\nyes\",I,I\n2,7,1,1,61,M,P,X\n";
  const std::string msg = load_error(text);
  // The multi-line field spans lines 2-3, so the bad label is on line 4.
  EXPECT_NE(msg.find(":4: column 'Healing Phase Abs' (8): unknown label 'X'"), std::string::npos)
      << msg;
}

TEST(Csv, LfWithoutFinalNewline) {
  const std::string dir =
      write_study(std::string(kHeader) + "\n1,7,0,1,60,F,I,I\n2,9,0,1,70,M,R,R");
  EXPECT_EQ(load_dataset(dir, Schema::dfu(), true).rows.size(), 2U);
}

TEST(BadInput, UnknownLabelNamesLineAndColumn) {
  const std::string msg =
      load_error(std::string(kHeader) + "\n1,7,0,1,60,F,I,I\n2,7,1,1,60,F,I,Q\n");
  EXPECT_NE(msg.find("DataMaster_Processed_V12_WithMissing.csv:3: column 'Healing Phase Abs' (8): "
                     "unknown label 'Q' (expected one of I, P, R)"),
            std::string::npos)
      << msg;
}

TEST(BadInput, WrongFieldCount) {
  const std::string msg = load_error(std::string(kHeader) + "\n1,7,0,1,60,F,I,I\n2,7,1,1,60,I,I\n");
  EXPECT_NE(msg.find(":3: expected 8 fields as in the header, found 7"), std::string::npos) << msg;
}

TEST(BadInput, MissingRequiredColumn) {
  const std::string msg = load_error("ID,Patient#,DFU#,Healing Phase Abs\n1,7,1,I\n");
  EXPECT_NE(msg.find(":1: missing required column 'Appt#' (visit number)"), std::string::npos)
      << msg;
  const std::string no_label = load_error("ID,Patient#,Appt#,DFU#\n1,7,0,1\n");
  EXPECT_NE(no_label.find("missing required column 'Healing Phase Abs' (label)"),
            std::string::npos);
  EXPECT_EQ(load_error("ID,Patient#,Appt#,DFU#\n1,7,0,1\n", /*require_labels=*/false), "");
}

TEST(BadInput, NonNumericTextInNumericColumn) {
  const std::string msg = load_error(std::string(kHeader) + "\n1,7,0,1,sixty,F,I,I\n");
  EXPECT_NE(msg.find(":2: column 'Age' (5): expected a number, got 'sixty'"), std::string::npos)
      << msg;
}

TEST(BadInput, NonFiniteAndHugeNumbers) {
  EXPECT_NE(load_error(std::string(kHeader) + "\n1,7,0,1,inf,F,I,I\n").find("not a finite number"),
            std::string::npos);
  EXPECT_NE(load_error(std::string(kHeader) + "\n1,7,0,1,nan,F,I,I\n").find("not a finite number"),
            std::string::npos);
  EXPECT_NE(
      load_error(std::string(kHeader) + "\n1,7,0,1,1e300,F,I,I\n").find("not a finite number"),
      std::string::npos);
}

TEST(BadInput, NonIntegerVisit) {
  const std::string msg = load_error(std::string(kHeader) + "\n1,7,0.5,1,60,F,I,I\n");
  EXPECT_NE(msg.find(":2: column 'Appt#' (3): expected an integer, got '0.5'"), std::string::npos)
      << msg;
}

TEST(BadInput, MissingLabel) {
  const std::string msg = load_error(std::string(kHeader) + "\n1,7,0,1,60,F,I,\n");
  EXPECT_NE(msg.find(":2: column 'Healing Phase Abs' (8): label is missing"), std::string::npos)
      << msg;
}

TEST(BadInput, DuplicateHeader) {
  const std::string msg =
      load_error("Patient#,Appt#,DFU#,Age,Age,Healing Phase Abs\n7,0,1,1,2,I\n");
  EXPECT_NE(msg.find(":1: duplicate column name 'Age' (columns 4 and 5)"), std::string::npos)
      << msg;
}

TEST(BadInput, UnbalancedQuote) {
  const std::string msg = load_error(std::string(kHeader) + "\n1,7,0,1,60,\"F,I,I\n");
  EXPECT_NE(msg.find("malformed CSV"), std::string::npos) << msg;
}

TEST(BadInput, NotUtf8) {
  const std::string msg =
      load_error(std::string(kHeader) + "\n1,7,0,1,60,F,I,I\n2,7,1,1,60,\xFF\xFE,I,I\n");
  EXPECT_NE(msg.find(":3: not valid UTF-8"), std::string::npos) << msg;
}

TEST(BadInput, EmptyFileAndSemicolons) {
  EXPECT_NE(load_error("").find("the file is empty"), std::string::npos);
  const std::string msg = load_error("Patient#;Appt#;DFU#;Healing Phase Abs\n7;0;1;I\n");
  EXPECT_NE(msg.find("single column and contains ';'"), std::string::npos) << msg;
}

TEST(BadInput, ConflictingDuplicateVisitWound) {
  const std::string msg =
      load_error(std::string(kHeader) + "\n1,7,0,1,60,F,I,I\n2,7,0,1,60,F,P,P\n");
  EXPECT_NE(
      msg.find(":3: visit-wound (patient 7, visit 0, wound 1) appears again with label 'P' but "
               "line 2 gives 'I'"),
      std::string::npos)
      << msg;
}

TEST(BadInput, MissingFolderAndFile) {
  try {
    load_dataset("/nonexistent/woundphase", Schema::dfu(), true);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("data folder not found"), std::string::npos);
  }
  const std::string dir = testing::scratch_dir();
  try {
    load_dataset(dir, Schema::dfu(), true);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "metadata file 'DataMaster_Processed_V12_WithMissing.csv' not found"),
              std::string::npos);
  }
}

TEST(Dataset, SameLabelDuplicateMergedWithWarning) {
  const std::string dir =
      write_study(std::string(kHeader) + "\n1,7,0,1,60,F,I,I\n1,7,0,1,60,F,I,I\n");
  const Dataset d = load_dataset(dir, Schema::dfu(), true);
  EXPECT_EQ(d.rows.size(), 1U);
  // One duplicate warning (the others say that classes P and R have no rows).
  EXPECT_EQ(
      std::count_if(d.warnings.begin(), d.warnings.end(),
                    [](const std::string& w) { return w.find("duplicate") != std::string::npos; }),
      1);
}

TEST(Dataset, PatientIdsIgnoreLeadingZeros) {
  const std::string dir =
      write_study(std::string(kHeader) + "\n1,007,0,1,60,F,I,I\n2,7,1,1,60,F,P,P\n");
  const Dataset d = load_dataset(dir, Schema::dfu(), true);
  EXPECT_EQ(d.patients, std::vector<std::string>{"7"});
}

TEST(Encoder, CategoriesFromTrainingRowsOnlyUnseenBecomeMissing) {
  const std::string dir =
      write_study(std::string(kHeader) +
                  "\n1,7,0,1,60,F,I,I\n2,8,0,1,61,M,P,P\n3,9,0,1,62,X,R,R\n4,9,1,1,63,,R,R\n");
  const Dataset d = load_dataset(dir, Schema::dfu(), true);
  FeatureEncoder enc;
  enc.fit(d, {0, 1});
  ASSERT_EQ(enc.features()[2].categories, (std::vector<std::string>{"F", "M"}));
  const Matrix x = enc.transform(d, {0, 1, 2, 3});
  EXPECT_FLOAT_EQ(x.at(0, 2), 0.0F);
  EXPECT_FLOAT_EQ(x.at(1, 2), 1.0F);
  EXPECT_TRUE(is_missing(x.at(2, 2)));  // unseen 'X'
  EXPECT_TRUE(is_missing(x.at(3, 2)));  // blank
  EXPECT_FLOAT_EQ(x.at(2, 1), 62.0F);
  const FeatureEncoder back = FeatureEncoder::from_json(enc.to_json());
  const Matrix y = back.transform(d, {0, 1, 2, 3});
  EXPECT_EQ(x.row_major().size(), y.row_major().size());
  EXPECT_FLOAT_EQ(y.at(1, 2), 1.0F);
}

TEST(Schema, TomlOverrideAndUnknownKey) {
  const std::string dir = testing::scratch_dir();
  const std::string good = (fs::path(dir) / "s.toml").string();
  std::ofstream(good) << "label_column = \"Phase\"\nclass_labels = [\"A\", \"B\", \"C\"]\n";
  const Schema s = Schema::from_toml_file(good);
  EXPECT_EQ(s.label_column, "Phase");
  EXPECT_EQ(s.class_labels[2], "C");
  EXPECT_EQ(s.patient_column, "Patient#");
  const std::string bad = (fs::path(dir) / "b.toml").string();
  std::ofstream(bad) << "label_column = \"Phase\"\nlabel_colum = \"x\"\n";
  try {
    Schema::from_toml_file(bad);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("b.toml:2: unknown schema key 'label_colum'"),
              std::string::npos)
        << e.what();
  }
}

TEST(RealData, DfuMetadataLoads) {
  const std::string dir = testing::real_data_dir();
  if (dir.empty()) GTEST_SKIP() << "../shared/data/dfu not present";
  const Dataset d = load_dataset(dir, Schema::dfu(), true);
  // 695 lines, one exact duplicate visit-wound (patient 75, visit 0, wound 1) merged.
  EXPECT_EQ(d.rows.size(), 694U);
  EXPECT_EQ(d.patients.size(), 214U);
  EXPECT_EQ(d.warnings.size(), 1U);
  int counts[3] = {0, 0, 0};
  for (int y : d.labels()) ++counts[y];
  EXPECT_EQ(counts[0], 209);
  EXPECT_EQ(counts[1], 389);
  EXPECT_EQ(counts[2], 96);
  // 72 columns less Patient#, the label, the five other never-features, DFU# and the eleven
  // treatment and raw pain columns.
  EXPECT_EQ(d.feature_names.size(), 72U - 7U - 1U - 11U);
  for (const char* gone : {"Location", "DFU#", "Dressing", "No Offloading", "Offloading Score",
                           "Offloading: Crutches, Walkers or Wheelchairs", "Type of Pain",
                           "Type of Pain2", "Type of Pain_Grouped2"})
    EXPECT_EQ(std::count(d.feature_names.begin(), d.feature_names.end(), gone), 0) << gone;
  // Their grouped neighbours stay features.
  for (const char* kept : {"Dressing Grouped", "Type of Pain Grouped", "Appt#"})
    EXPECT_EQ(std::count(d.feature_names.begin(), d.feature_names.end(), kept), 1) << kept;
  // "NA" in Location Grouped is a missing token, not a category.
  const auto it = std::find(d.feature_names.begin(), d.feature_names.end(),
                            "Location Grouped (Hallux:1,Toes,Middle,Heel,Ankle:5)");
  ASSERT_NE(it, d.feature_names.end());
  for (const auto& v : d.text[it - d.feature_names.begin()]) EXPECT_NE(v, "NA");
}

// The README's recipe: a --schema file that replaces excluded_columns with only the never-features
// puts the treatment columns back, as categorical columns where they are text; the label's
// restatements stay out without being listed.
TEST(RealData, SchemaFileRestoresTreatmentColumns) {
  const std::string dir = testing::real_data_dir();
  if (dir.empty()) GTEST_SKIP() << "../shared/data/dfu not present";
  const Dataset d = testing::load_with_schema_file(
      dir, "restore.toml",
      "replace_excluded = true\n"
      "excluded_columns = [\"ID\", \"Patient#\", \"Appt Days\", \"Location\"]\n");
  EXPECT_EQ(d.feature_names.size(), 72U - 7U);
  const auto it = std::find(d.feature_names.begin(), d.feature_names.end(), "Dressing");
  ASSERT_NE(it, d.feature_names.end());
  EXPECT_EQ(d.feature_kinds[it - d.feature_names.begin()], FeatureKind::kCategorical);
}

}  // namespace
}  // namespace woundphase

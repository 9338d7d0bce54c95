// Schema safety: a schema file's exclusions add to the preset's, restatements of the label stay
// out unless acknowledged, the visit and wound columns can be excluded, and a feature that looks
// like the label is warned about.
#include <gtest/gtest.h>

#include <algorithm>  // for count, find
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
    "ID,Patient#,Appt#,DFU#,Age,Phase Confidence (%),Healing Phase,Healing Phase Abs,Location";
const char* kRows =
    "1,7,0,1,60,80,I+,I,heel\n2,7,1,1,61,90,P,P,heel\n3,8,0,1,55,70,R,R,toe\n"
    "4,9,0,2,50,60,P,P,toe\n";

struct Study {
  std::string dir;
  std::string schema_path;
};

// A study with the DFU file name and a schema file holding `schema_toml`.
Study write_study(const std::string& schema_toml, const std::string& header = kHeader) {
  Study s;
  s.dir = testing::scratch_dir();
  std::ofstream(fs::path(s.dir) / Schema::dfu().metadata_file) << header << "\n" << kRows;
  s.schema_path = (fs::path(s.dir) / "schema.toml").string();
  std::ofstream(s.schema_path) << schema_toml;
  return s;
}

bool has(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

bool warns_about(const Dataset& d, const std::string& column) {
  return std::any_of(d.warnings.begin(), d.warnings.end(), [&](const std::string& w) {
    return w.find("'" + column + "' is a feature but looks like a restatement") !=
           std::string::npos;
  });
}

// The issue's schema file: its list (no Phase Confidence) used to replace the preset's, turning
// the label's restatement into a feature, and Appt# stayed a feature.
TEST(SchemaSafety, ExcludedColumnsAddToThePresetAndExcludeTheVisit) {
  const Study s = write_study(
      "excluded_columns = [\"Appt#\", \"ID\", \"Healing Phase\", \"Patient#\", \"Location\", "
      "\"Appt Days\"]\n");
  const Dataset d = load_dataset(s.dir, Schema::from_toml_file(s.schema_path), true);
  // DFU# is in the preset's list, which the file's list adds to.
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"Age"}));
  EXPECT_FALSE(warns_about(d, "Phase Confidence (%)"));
}

TEST(SchemaSafety, ReplaceExcludedStillKeepsKnownRestatementsOut) {
  const Study s =
      write_study("replace_excluded = true\nexcluded_columns = [\"ID\", \"Location\"]\n");
  const Schema schema = Schema::from_toml_file(s.schema_path);
  EXPECT_EQ(schema.excluded_columns, (std::vector<std::string>{"ID", "Location"}));
  const Dataset d = load_dataset(s.dir, schema, true);
  // The preset's other exclusions are gone; both restatements of the label stay out.
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"Appt#", "DFU#", "Age"}));
  EXPECT_FALSE(has(d.feature_names, "Phase Confidence (%)"));
  EXPECT_FALSE(has(d.feature_names, "Healing Phase"));
}

TEST(SchemaSafety, AllowLabelRestatingMakesItAFeatureWithoutWarning) {
  const Study s = write_study(
      "replace_excluded = true\nexcluded_columns = [\"ID\", \"Location\"]\n"
      "allow_label_restating = [\"Phase Confidence (%)\"]\n");
  const Dataset d = load_dataset(s.dir, Schema::from_toml_file(s.schema_path), true);
  EXPECT_TRUE(has(d.feature_names, "Phase Confidence (%)"));
  EXPECT_FALSE(has(d.feature_names, "Healing Phase"));
  EXPECT_FALSE(warns_about(d, "Phase Confidence (%)"));
}

// A study's own column that shares a word with the label's name is a feature, with a warning.
TEST(SchemaSafety, FeatureNamedLikeTheLabelIsWarnedAbout) {
  const std::string header =
      "ID,Patient#,Appt#,DFU#,Age,Phase Score,Healing Phase,Healing Phase Abs,Location";
  const Study s = write_study("", header);
  const Dataset d = load_dataset(s.dir, Schema::from_toml_file(s.schema_path), true);
  EXPECT_TRUE(has(d.feature_names, "Phase Score"));
  EXPECT_TRUE(warns_about(d, "Phase Score"));
  EXPECT_FALSE(warns_about(d, "Age"));
  EXPECT_FALSE(warns_about(d, "Appt#"));
}

TEST(SchemaSafety, ReplaceExcludedMustBeABoolean) {
  const Study s = write_study("excluded_columns = []\nreplace_excluded = \"yes\"\n");
  try {
    Schema::from_toml_file(s.schema_path);
    FAIL() << "a string replace_excluded was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("schema.toml:2: key 'replace_excluded' must be true or "
                                         "false"),
              std::string::npos)
        << e.what();
  }
}

// Files written before these keys existed (settings.json, bundle.json) still read.
TEST(SchemaSafety, JsonWithoutTheNewKeysReads) {
  nlohmann::json j = Schema::dfu().to_json();
  j.erase("label_restating_columns");
  j.erase("allow_label_restating");
  const Schema s = Schema::from_json(j);
  EXPECT_TRUE(s.label_restating_columns.empty());
  EXPECT_EQ(Schema::from_json(Schema::dfu().to_json()).label_restating_columns,
            Schema::dfu().label_restating_columns);
}

TEST(SchemaSafety, RealStudyWithTheIssuesSchemaFile) {
  const std::string dir = testing::real_data_dir();
  if (dir.empty()) GTEST_SKIP() << "../shared/data/dfu not present";
  const Dataset d = testing::load_with_schema_file(
      dir, "schema.toml",
      "excluded_columns = [\"Appt#\", \"ID\", \"Healing Phase\", \"Patient#\", \"Location\", "
      "\"Appt Days\"]\n");
  // The preset's features less Appt#.
  const Dataset preset = load_dataset(dir, Schema::dfu(), true);
  EXPECT_EQ(d.feature_names.size() + 1, preset.feature_names.size());
  EXPECT_FALSE(has(d.feature_names, "Phase Confidence (%)"));
  EXPECT_FALSE(has(d.feature_names, "Appt#"));
  EXPECT_EQ(std::count_if(d.warnings.begin(), d.warnings.end(),
                          [](const std::string& w) { return w.find("restatement") != w.npos; }),
            0);
}

}  // namespace
}  // namespace woundphase

// Every input a fuzzer (bench/fuzz.sh) once crashed on, kept under tests/data/fuzz_regressions/
// <target>/ and replayed through the same code as the fuzz target: it must load or fail with an
// InputError, nothing else (no crash, no other exception; the sanitizer build checks for UB).
#include <gtest/gtest.h>

#include <algorithm>  // for sort
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_paths.h"
#include "woundphase/dataset.h"
#include "woundphase/image_name.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

using testing::slurp;

std::vector<fs::path> inputs(const std::string& target) {
  const fs::path dir =
      fs::path(testing::source_dir()) / "tests" / "data" / "fuzz_regressions" / target;
  std::vector<fs::path> out;
  if (fs::is_directory(dir))
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file()) out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

// As fuzz/fuzz_csv.cpp.
void replay_csv(const std::string& text) {
  try {
    const CsvTable table = parse_csv_text(text, "regression.csv");
    ASSERT_EQ(table.rows.size(), table.line_of_row.size());
    long previous = 0;
    for (size_t r = 0; r < table.rows.size(); ++r) {
      EXPECT_EQ(table.rows[r].size(), table.header.size());
      EXPECT_GT(table.line_of_row[r], previous);
      previous = table.line_of_row[r];
    }
  } catch (const InputError&) {
  }
}

// As fuzz/fuzz_dataset.cpp.
void replay_dataset(const std::string& text) {
  try {
    const CsvTable table = parse_csv_text(text, "regression/" + Schema::dfu().metadata_file);
    const Dataset data = load_dataset_from_table(table, Schema::dfu(), false, "regression");
    std::vector<int> rows(data.rows.size());
    for (size_t r = 0; r < rows.size(); ++r) rows[r] = static_cast<int>(r);
    FeatureEncoder encoder;
    encoder.fit(data, rows);
    const Matrix x = encoder.transform(data, rows);
    EXPECT_EQ(x.rows(), data.rows.size());
    FeatureEncoder::from_json(encoder.to_json()).transform(data, rows);
  } catch (const InputError&) {
  }
}

// As fuzz/fuzz_image_name.cpp.
void replay_image_name(const std::string& text) {
  try {
    const ImageName name = parse_image_name(text);
    EXPECT_EQ(parse_image_name(to_name(name)), name);
    EXPECT_EQ(parse_image_name(paired_name(text)), paired(name));
  } catch (const InputError&) {
  }
}

TEST(FuzzRegressions, CsvInputsLoadOrFailCleanly) {
  for (const auto& path : inputs("csv")) {
    SCOPED_TRACE(path.string());
    EXPECT_NO_FATAL_FAILURE(replay_csv(slurp(path)));
    EXPECT_NO_FATAL_FAILURE(replay_dataset(slurp(path)));
  }
}

TEST(FuzzRegressions, DatasetInputsLoadOrFailCleanly) {
  for (const auto& path : inputs("dataset")) {
    SCOPED_TRACE(path.string());
    EXPECT_NO_FATAL_FAILURE(replay_csv(slurp(path)));
    EXPECT_NO_FATAL_FAILURE(replay_dataset(slurp(path)));
  }
}

TEST(FuzzRegressions, ImageNameInputsParseOrFailCleanly) {
  for (const auto& path : inputs("image_name")) {
    SCOPED_TRACE(path.string());
    EXPECT_NO_FATAL_FAILURE(replay_image_name(slurp(path)));
  }
}

// Found by fuzz_csv: records ended by a lone CR (old Mac line ends) all got line 1; a lone CR
// now ends a line for the line numbers in messages, as it does for the parser.
TEST(FuzzRegressions, LoneCarriageReturnsCountAsLineBreaks) {
  const CsvTable t = parse_csv_text("a,b\r1,2\r3,4\r\n5,6\n7,8\r", "cr.csv");
  EXPECT_EQ(t.line_of_row, (std::vector<long>{2, 3, 4, 5}));
  try {
    parse_csv_text("a,b\r1,2\r3\r", "cr.csv");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cr.csv:3: expected 2 fields"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace woundphase

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_paths.h"
#include "woundphase/core.h"  // for InputError
#include "woundphase/synth.h"

namespace woundphase {
namespace {

namespace fs = std::filesystem;

constexpr char kFileName[] = "DataMaster_Processed_V12_WithMissing.csv";
constexpr char kBom[] = "\xEF\xBB\xBF";
constexpr size_t kColumns = 72;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

struct Cohort {
  SynthSummary summary;
  std::string bytes;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::map<std::string, size_t> column;

  const std::string& at(size_t row, const std::string& name) const {
    return rows[row][column.at(name)];
  }
};

Cohort generate(const std::string& dir, int patients, unsigned long long seed, double signal) {
  SynthSettings settings;
  settings.patients = patients;
  settings.seed = seed;
  settings.signal = signal;
  Cohort c;
  c.summary = write_synthetic_cohort(dir, settings);
  c.bytes = read_bytes(dir + "/" + kFileName);
  auto records = testing::parse_csv(c.bytes.substr(c.bytes.rfind(kBom, 0) == 0 ? 3 : 0));
  if (records.empty()) return c;
  c.header = records.front();
  c.rows.assign(records.begin() + 1, records.end());
  for (size_t i = 0; i < c.header.size(); ++i) c.column[c.header[i]] = i;
  return c;
}

const std::string kWoundTemp = "Wound Centre Temperature (°C)";
const std::string kIntactTemp = "Intact Skin Temperature (°C)";
const std::string kPhaseAbs = "Healing Phase Abs";

TEST(Synth, HeaderIsTheStudyHeader) {
  Cohort c = generate(testing::scratch_dir(), 5, 1, 1.0);
  ASSERT_EQ(c.header.size(), kColumns);
  EXPECT_EQ(c.header.front(), "ID");
  EXPECT_EQ(c.header.back(), "Healing Phase Abs");
  const std::string real_dir = testing::real_data_dir();
  if (real_dir.empty()) GTEST_SKIP() << "real DFU metadata not available";
  const std::string real = read_bytes(real_dir + "/" + kFileName);
  const std::string real_header = real.substr(0, real.find('\n'));
  std::string ours = c.bytes.substr(0, c.bytes.find('\n'));
  auto strip_cr = [](std::string s) {
    if (!s.empty() && s.back() == '\r') s.pop_back();
    return s;
  };
  EXPECT_EQ(strip_cr(ours), strip_cr(real_header));  // both start with the BOM
}

TEST(Synth, FileFormat) {
  const std::string dir = testing::scratch_dir();
  Cohort c = generate(dir, 60, 3, 1.0);
  ASSERT_GE(c.bytes.size(), 3U);
  EXPECT_EQ(c.bytes.substr(0, 3), kBom);
  // Every line ends with CRLF: no bare LF, no bare CR.
  size_t lines = 0;
  for (size_t i = 0; i < c.bytes.size(); ++i) {
    if (c.bytes[i] == '\n') {
      ++lines;
      ASSERT_GT(i, 0U);
      EXPECT_EQ(c.bytes[i - 1], '\r') << "bare LF at byte " << i;
    }
    if (c.bytes[i] == '\r') {
      ASSERT_LT(i + 1, c.bytes.size());
      EXPECT_EQ(c.bytes[i + 1], '\n') << "bare CR at byte " << i;
    }
  }
  EXPECT_EQ(c.bytes.back(), '\n');
  EXPECT_EQ(lines, c.rows.size() + 1);
  for (size_t r = 0; r < c.rows.size(); ++r) ASSERT_EQ(c.rows[r].size(), kColumns) << "row " << r;
  // Only the final file remains (the temporary one was renamed).
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(entry.path().filename().string(), kFileName);
  }
  EXPECT_EQ(files, 1U);
}

TEST(Synth, CommaFieldsAreQuoted) {
  Cohort c = generate(testing::scratch_dir(), 400, 5, 1.0);
  size_t with_comma = 0;
  for (size_t r = 0; r < c.rows.size(); ++r) {
    ASSERT_EQ(c.rows[r].size(), kColumns);
    if (c.at(r, "Location").find(',') != std::string::npos) ++with_comma;
  }
  EXPECT_GT(with_comma, 0U) << "expected some free-text locations with commas";
  EXPECT_NE(c.bytes.find("\"Middle of Dorsal, lateral, blow ankle.\""), std::string::npos);
}

TEST(Synth, RowsPatientsAndIdentifiers) {
  Cohort c = generate(testing::scratch_dir(), 80, 11, 1.0);
  EXPECT_EQ(c.summary.patients, 80);
  EXPECT_EQ(c.summary.rows, static_cast<int>(c.rows.size()));
  EXPECT_GT(c.rows.size(), 80U * 2);  // several visits per patient on average
  EXPECT_LT(c.rows.size(), 80U * 6);
  std::set<std::string> ids;
  std::set<int> patients;
  std::map<std::string, int> class_rows;
  // (patient, wound) -> visits seen so far, for increasing Appt# and Appt Days.
  std::map<std::pair<int, int>, std::pair<int, long>> last_visit;
  for (size_t r = 0; r < c.rows.size(); ++r) {
    EXPECT_TRUE(ids.insert(c.at(r, "ID")).second) << "duplicate ID " << c.at(r, "ID");
    const int patient = std::stoi(c.at(r, "Patient#"));
    patients.insert(patient);
    ++class_rows[c.at(r, kPhaseAbs)];
    const int wound = std::stoi(c.at(r, "DFU#"));
    EXPECT_GE(wound, 1);
    EXPECT_LE(wound, std::stoi(c.at(r, "Number of DFUs")));
    const int appt = std::stoi(c.at(r, "Appt#"));
    const long days = std::stol(c.at(r, "Appt Days"));
    auto key = std::make_pair(patient, wound);
    auto it = last_visit.find(key);
    if (it != last_visit.end()) {
      EXPECT_GT(appt, it->second.first);
      EXPECT_GT(days, it->second.second);
    } else if (wound == 1) {
      EXPECT_EQ(appt, 0);
      EXPECT_EQ(days, 0);
    }
    last_visit[key] = {appt, days};
  }
  EXPECT_EQ(patients.size(), 80U);
  EXPECT_EQ(*patients.begin(), 1);
  EXPECT_EQ(*patients.rbegin(), 80);
  EXPECT_EQ(class_rows["I"], c.summary.class_counts[0]);
  EXPECT_EQ(class_rows["P"], c.summary.class_counts[1]);
  EXPECT_EQ(class_rows["R"], c.summary.class_counts[2]);
}

TEST(Synth, ClassMixNearTheStudy) {
  const std::string dir = testing::scratch_dir();
  for (double signal : {1.0, 0.0}) {
    Cohort c = generate(dir, 150, 7, signal);
    const double n = c.summary.rows;
    ASSERT_GT(n, 0);
    EXPECT_NEAR(c.summary.class_counts[0] / n, 0.31, 0.08) << "signal " << signal;
    EXPECT_NEAR(c.summary.class_counts[1] / n, 0.56, 0.08) << "signal " << signal;
    EXPECT_NEAR(c.summary.class_counts[2] / n, 0.13, 0.08) << "signal " << signal;
  }
}

TEST(Synth, ValueSetsAndRanges) {
  Cohort c = generate(testing::scratch_dir(), 200, 13, 1.0);
  const std::map<std::string, std::set<std::string>> allowed = {
      {"Sex (F:0, M:1)", {"F", "M"}},
      {"Side (Left:0, Right:1)", {"Left", "Right"}},
      {"Foot Aspect", {"Plantar", "Dorsal", "Medial", "Lateral"}},
      {"Location Grouped (Hallux:1,Toes,Middle,Heel,Ankle:5)",
       {"Hallux", "toes", "middle", "Heel", "ankle"}},
      {"Healing Phase", {"I", "I+", "I-", "P", "P+", "P-", "R", "R+", "R-"}},
      {kPhaseAbs, {"I", "P", "R"}},
      {"Odor", {"NoOdor", "Unpleasant", ""}},
      {"Exudate Appearance (Serous:1,Haemoserous,Bloody,Thick:4)",
       {"Serous", "Haemoserous", "Bloody", "Thick", ""}},
      {"Bunion", {"0", "1", ""}},
      {"Erythema at Peri-ulcer", {"0", "1", ""}},
      {"Offloading: Crutches, Walkers or Wheelchairs", {"0", "1", ""}},
  };
  for (size_t r = 0; r < c.rows.size(); ++r) {
    for (const auto& [name, values] : allowed)
      EXPECT_TRUE(values.count(c.at(r, name))) << name << " = '" << c.at(r, name) << "'";
    EXPECT_EQ(c.at(r, "Healing Phase").substr(0, 1), c.at(r, kPhaseAbs));
    for (const std::string& name : {kWoundTemp, kIntactTemp}) {
      if (c.at(r, name).empty()) continue;
      const double t = std::stod(c.at(r, name));
      EXPECT_GE(t, 12.0);
      EXPECT_LE(t, 40.0);
    }
  }
}

TEST(Synth, MissingRatesLikeTheStudy) {
  Cohort c = generate(testing::scratch_dir(), 400, 17, 1.0);
  auto missing = [&](const std::string& name) {
    size_t blank = 0;
    for (size_t r = 0; r < c.rows.size(); ++r) blank += c.at(r, name).empty() ? 1 : 0;
    return static_cast<double>(blank) / c.rows.size();
  };
  EXPECT_NEAR(missing("Exudate Appearance (Serous:1,Haemoserous,Bloody,Thick:4)"), 0.20, 0.07);
  EXPECT_NEAR(missing("Type of Pain2"), 0.80, 0.07);
  EXPECT_NEAR(missing(kWoundTemp), 0.05, 0.03);
  EXPECT_LT(missing("Age"), 0.02);
  EXPECT_EQ(missing("Patient#"), 0.0);
  EXPECT_EQ(missing(kPhaseAbs), 0.0);
}

TEST(Synth, DeterministicPerSeed) {
  const std::string dir = testing::scratch_dir();
  Cohort a = generate(dir + "/a", 40, 21, 0.7);
  Cohort b = generate(dir + "/b", 40, 21, 0.7);
  Cohort other = generate(dir + "/c", 40, 22, 0.7);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_NE(a.bytes, other.bytes);
}

TEST(Synth, PatientsDoNotDependOnCohortSize) {
  const std::string dir = testing::scratch_dir();
  Cohort small = generate(dir + "/small", 10, 4, 1.0);
  Cohort large = generate(dir + "/large", 20, 4, 1.0);
  ASSERT_LT(small.bytes.size(), large.bytes.size());
  EXPECT_EQ(large.bytes.substr(0, small.bytes.size()), small.bytes);
}

// Mean (wound centre - intact skin) temperature of the rows of one phase.
double mean_temperature_gap(const Cohort& c, const std::string& phase) {
  double sum = 0.0;
  int n = 0;
  for (size_t r = 0; r < c.rows.size(); ++r) {
    if (c.at(r, kPhaseAbs) != phase) continue;
    if (c.at(r, kWoundTemp).empty() || c.at(r, kIntactTemp).empty()) continue;
    sum += std::stod(c.at(r, kWoundTemp)) - std::stod(c.at(r, kIntactTemp));
    ++n;
  }
  return n > 0 ? sum / n : 0.0;
}

TEST(Synth, SignalScalesThePhaseEffect) {
  // With signal 1 inflamed wounds are warmer than remodeling ones (relative to intact skin);
  // with signal 0 the label carries no information about the temperatures.
  const std::string dir = testing::scratch_dir();
  Cohort strong = generate(dir + "/strong", 400, 31, 1.0);
  Cohort none = generate(dir + "/none", 400, 31, 0.0);
  const double strong_gap = mean_temperature_gap(strong, "I") - mean_temperature_gap(strong, "R");
  const double no_gap = mean_temperature_gap(none, "I") - mean_temperature_gap(none, "R");
  EXPECT_GT(strong_gap, 1.2);
  EXPECT_LT(std::abs(no_gap), 0.8);
}

TEST(Synth, RejectsBadSettings) {
  SynthSettings s;
  EXPECT_NO_THROW(s.validate());
  s.patients = 2;
  EXPECT_THROW(s.validate(), InputError);
  s = SynthSettings{};
  s.patients = 100001;
  EXPECT_THROW(s.validate(), InputError);
  s = SynthSettings{};
  s.signal = 1.5;
  EXPECT_THROW(s.validate(), InputError);
  s.signal = -0.1;
  EXPECT_THROW(s.validate(), InputError);
  s = SynthSettings{};
  s.metadata_file = "sub/meta.csv";
  EXPECT_THROW(s.validate(), InputError);
  s.metadata_file = "";
  EXPECT_THROW(s.validate(), InputError);
  s = SynthSettings{};
  s.patients = 1;
  EXPECT_THROW(write_synthetic_cohort(testing::scratch_dir(), s), InputError);
}

}  // namespace
}  // namespace woundphase

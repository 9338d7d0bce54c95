#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "test_paths.h"
#include "woundphase/split.h"

namespace woundphase {
namespace {

// Labels and patient groups of a data set, groups renumbered 0..n_groups-1.
struct Labelled {
  std::vector<int> y;
  std::vector<int> group;
  int n_groups = 0;
};

// The real DFU metadata: `Patient#` (column 1) and `Healing Phase Abs` (last column).
bool read_real(Labelled& out) {
  const std::string dir = testing::real_data_dir();
  if (dir.empty()) return false;
  const auto records =
      testing::parse_csv(testing::slurp(dir + "/DataMaster_Processed_V12_WithMissing.csv"));
  if (records.empty()) return false;
  std::map<std::string, int> patient_index;
  for (size_t r = 1; r < records.size(); ++r) {  // records[0]: the header
    const auto& fields = records[r];
    const std::string& phase = fields.back();
    const int label = phase == "I" ? 0 : phase == "P" ? 1 : phase == "R" ? 2 : -1;
    if (label < 0) continue;
    auto it = patient_index.emplace(fields.at(1), static_cast<int>(patient_index.size())).first;
    out.y.push_back(label);
    out.group.push_back(it->second);
  }
  out.n_groups = static_cast<int>(patient_index.size());
  return true;
}

// A toy cohort: patients with 1..8 rows, mostly one class each, overall mix about 30/55/15.
Labelled toy(int patients, unsigned seed) {
  std::mt19937 rng(seed);
  Labelled out;
  out.n_groups = patients;
  for (int g = 0; g < patients; ++g) {
    const int rows = 1 + static_cast<int>(rng() % 8);
    const unsigned draw = rng() % 100;
    const int main_class = draw < 30 ? 0 : draw < 85 ? 1 : 2;
    for (int r = 0; r < rows; ++r) {
      const int label = rng() % 5 == 0 ? static_cast<int>(rng() % 3) : main_class;
      out.y.push_back(label);
      out.group.push_back(g);
    }
  }
  return out;
}

std::vector<double> class_shares(const std::vector<std::vector<int>>& counts,
                                 const std::vector<int>& fold_of_group, int fold) {
  std::vector<double> shares(kNumClasses, 0.0);
  double n = 0;
  for (size_t g = 0; g < counts.size(); ++g) {
    if (fold >= 0 && fold_of_group[g] != fold) continue;
    for (int c = 0; c < kNumClasses; ++c) {
      shares[c] += counts[g][c];
      n += counts[g][c];
    }
  }
  for (auto& s : shares) s = n > 0 ? s / n : 0.0;
  return shares;
}

int rows_in(const std::vector<std::vector<int>>& counts, const std::vector<int>& fold_of_group,
            int fold) {
  int n = 0;
  for (size_t g = 0; g < counts.size(); ++g)
    if (fold_of_group[g] == fold)
      for (int c : counts[g]) n += c;
  return n;
}

int rows_of(const std::vector<int>& counts) {
  int n = 0;
  for (int c : counts) n += c;
  return n;
}

// Every non-empty group has one part in range, empty groups have -1, and mapping rows through
// their group never puts one patient in two parts.
void expect_valid(const Labelled& data, const std::vector<std::vector<int>>& counts,
                  const GroupAssignment& a) {
  ASSERT_EQ(a.fold_of_group.size(), counts.size());
  for (size_t g = 0; g < counts.size(); ++g) {
    if (rows_of(counts[g]) == 0) {
      EXPECT_EQ(a.fold_of_group[g], -1) << "empty group " << g;
    } else {
      EXPECT_GE(a.fold_of_group[g], 0) << "group " << g;
      EXPECT_LT(a.fold_of_group[g], a.parts) << "group " << g;
    }
  }
  std::map<int, int> part_of_patient;
  for (size_t i = 0; i < data.y.size(); ++i) {
    const int part = a.fold_of_group[data.group[i]];
    auto [it, inserted] = part_of_patient.emplace(data.group[i], part);
    EXPECT_EQ(it->second, part) << "patient " << data.group[i] << " in two parts";
  }
}

TEST(GroupClassCounts, CountsPerGroup) {
  auto counts = group_class_counts({0, 1, 1, 2, 0}, {0, 0, 2, 2, 2}, 4);
  ASSERT_EQ(counts.size(), 4U);
  EXPECT_EQ(counts[0], (std::vector<int>{1, 1, 0}));
  EXPECT_EQ(counts[1], (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(counts[2], (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(counts[3], (std::vector<int>{0, 0, 0}));
  EXPECT_THROW(group_class_counts({0, 1}, {0}, 1), std::invalid_argument);
  EXPECT_THROW(group_class_counts({0}, {5}, 2), std::invalid_argument);
  EXPECT_THROW(group_class_counts({3}, {0}, 1), std::invalid_argument);
}

TEST(KFold, AssignsEveryNonEmptyGroupOnce) {
  Labelled data = toy(60, 1);
  data.n_groups += 2;  // two patients without rows
  auto counts = group_class_counts(data.y, data.group, data.n_groups);
  auto a = stratified_group_kfold(counts, 5, 42);
  EXPECT_EQ(a.parts, 5);
  expect_valid(data, counts, a);
  for (int f = 0; f < 5; ++f) EXPECT_GT(rows_in(counts, a.fold_of_group, f), 0);
}

TEST(KFold, RealDataFoldsAreStratifiedAndBalanced) {
  Labelled data;
  if (!read_real(data)) GTEST_SKIP() << "real DFU metadata not available";
  ASSERT_EQ(data.y.size(), 695U);
  ASSERT_EQ(data.n_groups, 214);
  auto counts = group_class_counts(data.y, data.group, data.n_groups);
  const auto overall = class_shares(counts, {}, -1);
  EXPECT_NEAR(overall[0], 209.0 / 695, 1e-9);
  for (int k : {3, 5}) {
    for (unsigned long long seed : {1ULL, 7ULL, 2024ULL}) {
      auto a = stratified_group_kfold(counts, k, seed);
      expect_valid(data, counts, a);
      const double expected_rows = 695.0 / k;
      for (int f = 0; f < k; ++f) {
        const auto shares = class_shares(counts, a.fold_of_group, f);
        for (int c = 0; c < kNumClasses; ++c)
          EXPECT_NEAR(shares[c], overall[c], 0.06)
              << "k=" << k << " seed=" << seed << " fold " << f << " class " << c;
        const int rows = rows_in(counts, a.fold_of_group, f);
        EXPECT_GT(rows, 0.8 * expected_rows) << "k=" << k << " seed=" << seed << " fold " << f;
        EXPECT_LT(rows, 1.2 * expected_rows) << "k=" << k << " seed=" << seed << " fold " << f;
      }
    }
  }
}

TEST(KFold, ToyFoldsAreStratified) {
  Labelled data = toy(200, 3);
  auto counts = group_class_counts(data.y, data.group, data.n_groups);
  const auto overall = class_shares(counts, {}, -1);
  auto a = stratified_group_kfold(counts, 5, 9);
  for (int f = 0; f < 5; ++f) {
    const auto shares = class_shares(counts, a.fold_of_group, f);
    for (int c = 0; c < kNumClasses; ++c) EXPECT_NEAR(shares[c], overall[c], 0.06);
  }
}

TEST(KFold, DeterministicPerSeed) {
  Labelled data = toy(120, 5);
  auto counts = group_class_counts(data.y, data.group, data.n_groups);
  auto a = stratified_group_kfold(counts, 5, 11);
  auto b = stratified_group_kfold(counts, 5, 11);
  auto c = stratified_group_kfold(counts, 5, 12);
  EXPECT_EQ(a.fold_of_group, b.fold_of_group);
  EXPECT_NE(a.fold_of_group, c.fold_of_group);
}

TEST(KFold, RejectsTooFewPatientsOrFolds) {
  std::vector<std::vector<int>> counts = {{1, 0, 0}, {0, 2, 0}, {0, 0, 0}, {0, 1, 1}};
  try {
    stratified_group_kfold(counts, 4, 1);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot make 4 folds from 3 patients"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(stratified_group_kfold(counts, 1, 1), InputError);
  EXPECT_NO_THROW(stratified_group_kfold(counts, 3, 1));
}

TEST(Split, TrainTestFractions) {
  for (unsigned long long seed : {1ULL, 2ULL, 3ULL}) {
    Labelled data = toy(150, 17);
    auto counts = group_class_counts(data.y, data.group, data.n_groups);
    auto a = stratified_group_split(counts, {0.8, 0.2}, seed);
    EXPECT_EQ(a.parts, 2);
    expect_valid(data, counts, a);
    const double test_share = static_cast<double>(rows_in(counts, a.fold_of_group, 1)) /
                              static_cast<double>(data.y.size());
    EXPECT_NEAR(test_share, 0.2, 0.03) << "seed " << seed;
    const auto overall = class_shares(counts, {}, -1);
    const auto test = class_shares(counts, a.fold_of_group, 1);
    for (int c = 0; c < kNumClasses; ++c) EXPECT_NEAR(test[c], overall[c], 0.06);
  }
}

TEST(Split, RealDataTwentyPercentTest) {
  Labelled data;
  if (!read_real(data)) GTEST_SKIP() << "real DFU metadata not available";
  auto counts = group_class_counts(data.y, data.group, data.n_groups);
  auto a = stratified_group_split(counts, {0.8, 0.2}, 42);
  expect_valid(data, counts, a);
  EXPECT_NEAR(rows_in(counts, a.fold_of_group, 1) / 695.0, 0.2, 0.03);
  const auto overall = class_shares(counts, {}, -1);
  const auto test = class_shares(counts, a.fold_of_group, 1);
  for (int c = 0; c < kNumClasses; ++c) EXPECT_NEAR(test[c], overall[c], 0.06);
}

TEST(Split, RejectsBadFractions) {
  std::vector<std::vector<int>> counts = {{1, 0, 0}, {0, 2, 0}};
  EXPECT_THROW(stratified_group_split(counts, {}, 1), InputError);
  EXPECT_THROW(stratified_group_split(counts, {0.5, 0.6}, 1), InputError);
  EXPECT_THROW(stratified_group_split(counts, {1.2, -0.2}, 1), InputError);
  EXPECT_THROW(stratified_group_split(counts, {1.0, 0.0}, 1), InputError);
  EXPECT_NO_THROW(stratified_group_split(counts, {1.0}, 1));
}

TEST(Percentage, KeepsStratifiedShareOfGroups) {
  Labelled data = toy(200, 23);
  auto counts = group_class_counts(data.y, data.group, data.n_groups);
  auto majority = [&](int g) {
    return static_cast<int>(std::max_element(counts[g].begin(), counts[g].end()) -
                            counts[g].begin());
  };
  std::vector<int> all_by_class(kNumClasses, 0);
  for (int g = 0; g < data.n_groups; ++g) ++all_by_class[majority(g)];
  for (double p : {10.0, 25.0, 50.0, 80.0}) {
    auto kept = keep_group_percentage(counts, p, 4);
    ASSERT_EQ(kept.size(), counts.size());
    std::vector<int> kept_by_class(kNumClasses, 0);
    int n_kept = 0;
    for (int g = 0; g < data.n_groups; ++g) {
      if (!kept[g]) continue;
      ++n_kept;
      ++kept_by_class[majority(g)];
    }
    EXPECT_EQ(n_kept, static_cast<int>(std::lround(p / 100.0 * data.n_groups))) << "p=" << p;
    for (int c = 0; c < kNumClasses; ++c)
      EXPECT_NEAR(kept_by_class[c], p / 100.0 * all_by_class[c], 1.0) << "p=" << p << " c=" << c;
  }
}

TEST(Percentage, EdgesAndDeterminism) {
  Labelled data = toy(50, 29);
  data.n_groups += 1;  // one empty group, never kept
  auto counts = group_class_counts(data.y, data.group, data.n_groups);
  auto all = keep_group_percentage(counts, 100.0, 1);
  EXPECT_EQ(std::count(all.begin(), all.end(), true), 50);
  EXPECT_FALSE(all.back());
  auto tiny = keep_group_percentage(counts, 0.1, 1);
  EXPECT_EQ(std::count(tiny.begin(), tiny.end(), true), 1);
  EXPECT_EQ(keep_group_percentage(counts, 40.0, 8), keep_group_percentage(counts, 40.0, 8));
  EXPECT_NE(keep_group_percentage(counts, 40.0, 8), keep_group_percentage(counts, 40.0, 9));
  EXPECT_THROW(keep_group_percentage(counts, 0.0, 1), InputError);
  EXPECT_THROW(keep_group_percentage(counts, -5.0, 1), InputError);
  EXPECT_THROW(keep_group_percentage(counts, 100.5, 1), InputError);
  EXPECT_THROW(keep_group_percentage(counts, std::nan(""), 1), InputError);
}

}  // namespace
}  // namespace woundphase

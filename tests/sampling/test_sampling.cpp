#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "fixtures/errors.h"
#include "woundphase/sampling.h"

namespace woundphase {
namespace {

// Column layout of the toy data: two numeric features (one with missing values), one categorical.
constexpr int kNumericA = 0;
constexpr int kNumericB = 1;
constexpr int kCategory = 2;

std::vector<FeatureInfo> toy_features() {
  return {{"a", FeatureKind::kNumeric, {}},
          {"b", FeatureKind::kNumeric, {}},
          {"site", FeatureKind::kCategorical, {"heel", "toe", "mid"}}};
}

// Imbalanced toy set with class counts `counts`; each row's patient is row / 3 so patients hold
// several rows. Class c's numeric values sit around 10 * c; feature b is missing on every 4th row.
TabularData toy_data(const std::array<int, kNumClasses>& counts, unsigned seed,
                     int first_patient = 0) {
  std::mt19937 rng(seed);
  std::vector<int> labels;
  for (int c = 0; c < kNumClasses; ++c) labels.insert(labels.end(), counts[c], c);
  std::shuffle(labels.begin(), labels.end(), rng);
  TabularData d;
  d.x = Matrix(labels.size(), 3);
  d.y = labels;
  d.group.resize(labels.size());
  d.group2.assign(labels.size(), -1);
  for (size_t i = 0; i < labels.size(); ++i) {
    d.group[i] = first_patient + static_cast<int>(i / 3);
    d.x.at(i, kNumericA) = 10.0F * labels[i] + static_cast<float>(rng() % 1000) / 100.0F;
    d.x.at(i, kNumericB) = i % 4 == 0 ? kMissing : static_cast<float>(rng() % 50);
    d.x.at(i, kCategory) = static_cast<float>(rng() % 3);
  }
  return d;
}

std::array<int, kNumClasses> label_counts(const std::vector<int>& y) {
  std::array<int, kNumClasses> n{};
  for (int v : y) ++n[v];
  return n;
}

std::array<int, kNumClasses> ref_counts(const std::vector<SampleRef>& refs) {
  std::array<int, kNumClasses> n{};
  for (const auto& r : refs) ++n[r.label];
  return n;
}

SamplingSettings with(SamplingStrategy s, int k = 5) {
  SamplingSettings settings;
  settings.strategy = s;
  settings.smote_neighbours = k;
  return settings;
}

bool same(const std::vector<SampleRef>& a, const std::vector<SampleRef>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].parent_a != b[i].parent_a || a[i].parent_b != b[i].parent_b || a[i].mix != b[i].mix ||
        a[i].label != b[i].label)
      return false;
  return true;
}

TEST(ParseSampling, RoundTripsAndListsChoices) {
  for (const char* name : {"none", "random", "under", "combined", "smote", "combined_smote"})
    EXPECT_EQ(to_string(parse_sampling(name)), name);
  const std::string msg = testing::input_error_of([] { parse_sampling("oversample"); });
  EXPECT_NE(msg.find("oversample"), std::string::npos) << msg;
  for (const char* name : {"none", "random", "under", "combined", "smote", "combined_smote"})
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
}

TEST(SamplingSettings, ValidatesNeighbours) {
  EXPECT_NO_THROW(with(SamplingStrategy::kSmote, 1).validate());
  EXPECT_NO_THROW(with(SamplingStrategy::kSmote, 50).validate());
  EXPECT_THROW(with(SamplingStrategy::kSmote, 0).validate(), InputError);
  EXPECT_THROW(with(SamplingStrategy::kSmote, 51).validate(), InputError);
}

TEST(Resample, ExactClassCountsPerStrategy) {
  const auto data = toy_data({10, 30, 60}, 1);
  const auto features = toy_features();
  struct Case {
    SamplingStrategy strategy;
    std::array<int, kNumClasses> expected;
  };
  const Case cases[] = {
      {SamplingStrategy::kNone, {10, 30, 60}},  {SamplingStrategy::kRandom, {60, 60, 60}},
      {SamplingStrategy::kUnder, {10, 10, 10}}, {SamplingStrategy::kCombined, {30, 30, 30}},
      {SamplingStrategy::kSmote, {60, 60, 60}}, {SamplingStrategy::kCombinedSmote, {30, 30, 30}},
  };
  for (const auto& c : cases) {
    const auto refs = resample(data, features, with(c.strategy), 5);
    EXPECT_EQ(ref_counts(refs), c.expected) << to_string(c.strategy);
    const auto out = materialise(data, features, refs);
    EXPECT_EQ(label_counts(out.y), c.expected) << to_string(c.strategy);
    EXPECT_EQ(out.x.rows(), refs.size());
    EXPECT_EQ(out.group.size(), refs.size());
    EXPECT_EQ(out.group2.size(), refs.size());
  }
}

TEST(Resample, NoneKeepsRowsInOrder) {
  const auto data = toy_data({4, 5, 6}, 2);
  const auto refs = resample(data, toy_features(), with(SamplingStrategy::kNone), 1);
  ASSERT_EQ(refs.size(), data.rows());
  for (size_t i = 0; i < refs.size(); ++i) {
    EXPECT_EQ(refs[i].parent_a, static_cast<int>(i));
    EXPECT_EQ(refs[i].parent_b, -1);
    EXPECT_EQ(refs[i].label, data.y[i]);
  }
}

TEST(Resample, UnderDrawsWithoutReplacement) {
  const auto data = toy_data({10, 30, 60}, 3);
  const auto refs = resample(data, toy_features(), with(SamplingStrategy::kUnder), 9);
  std::set<int> parents;
  for (const auto& r : refs) {
    EXPECT_EQ(r.parent_b, -1);
    EXPECT_EQ(r.label, data.y[r.parent_a]);
    EXPECT_TRUE(parents.insert(r.parent_a).second) << "row " << r.parent_a << " drawn twice";
  }
}

TEST(Resample, RandomKeepsEveryRowAndDuplicatesWithinClass) {
  const auto data = toy_data({10, 30, 60}, 4);
  const auto refs = resample(data, toy_features(), with(SamplingStrategy::kRandom), 2);
  std::set<int> parents;
  for (const auto& r : refs) {
    EXPECT_EQ(r.parent_b, -1);
    EXPECT_EQ(r.label, data.y[r.parent_a]);
    parents.insert(r.parent_a);
  }
  EXPECT_EQ(parents.size(), data.rows());
}

TEST(Resample, ParentsStayInsideTheTrainingRows) {
  // A cohort of 40 patients; the first 30 patients' rows are the training fold. Resampling sees
  // only the training subset, so every parent indexes it and every group is a training patient.
  const auto all = toy_data({30, 40, 50}, 5);
  std::vector<int> train_rows;
  std::set<int> train_patients;
  for (size_t i = 0; i < all.rows(); ++i) {
    if (all.group[i] < 30) {
      train_rows.push_back(static_cast<int>(i));
      train_patients.insert(all.group[i]);
    }
  }
  TabularData train;
  train.x = all.x.select_rows(train_rows);
  for (int r : train_rows) {
    train.y.push_back(all.y[r]);
    train.group.push_back(all.group[r]);
    train.group2.push_back(-1);
  }
  const auto features = toy_features();
  for (auto s : {SamplingStrategy::kRandom, SamplingStrategy::kCombined, SamplingStrategy::kSmote,
                 SamplingStrategy::kCombinedSmote}) {
    const auto refs = resample(train, features, with(s), 13);
    for (const auto& r : refs) {
      EXPECT_GE(r.parent_a, 0);
      EXPECT_LT(r.parent_a, static_cast<int>(train.rows()));
      EXPECT_LT(r.parent_b, static_cast<int>(train.rows()));
    }
    const auto out = materialise(train, features, refs);
    for (size_t i = 0; i < out.rows(); ++i) {
      EXPECT_TRUE(train_patients.count(out.group[i])) << to_string(s);
      if (out.group2[i] >= 0) {
        EXPECT_TRUE(train_patients.count(out.group2[i])) << to_string(s);
      }
    }
  }
}

TEST(Smote, SyntheticRowsLieBetweenSameClassParents) {
  const auto data = toy_data({10, 30, 60}, 6);
  const auto features = toy_features();
  for (auto s : {SamplingStrategy::kSmote, SamplingStrategy::kCombinedSmote}) {
    const auto refs = resample(data, features, with(s, 3), 21);
    const auto out = materialise(data, features, refs);
    int synthetic = 0;
    for (size_t i = 0; i < refs.size(); ++i) {
      const auto& r = refs[i];
      if (r.parent_b < 0) continue;
      ++synthetic;
      EXPECT_NE(r.parent_a, r.parent_b);
      EXPECT_EQ(data.y[r.parent_a], r.label);
      EXPECT_EQ(data.y[r.parent_b], r.label) << "parents of different classes";
      EXPECT_GE(r.mix, 0.0F);
      EXPECT_LT(r.mix, 1.0F);
      EXPECT_EQ(out.group[i], data.group[r.parent_a]);
      EXPECT_EQ(out.group2[i], data.group[r.parent_b]);
      for (int f : {kNumericA, kNumericB}) {
        const float a = data.x.at(r.parent_a, f);
        const float b = data.x.at(r.parent_b, f);
        const float v = out.x.at(i, f);
        if (is_missing(a) || is_missing(b)) {
          EXPECT_TRUE(v == a || v == b || (is_missing(v) && (is_missing(a) || is_missing(b))));
          continue;
        }
        EXPECT_FALSE(is_missing(v)) << "NaN although both parents have a value";
        EXPECT_GE(v, std::min(a, b));
        EXPECT_LE(v, std::max(a, b));
      }
      const float cat = out.x.at(i, kCategory);
      EXPECT_EQ(cat,
                r.mix < 0.5F ? data.x.at(r.parent_a, kCategory) : data.x.at(r.parent_b, kCategory));
    }
    EXPECT_GT(synthetic, 0) << to_string(s);
  }
}

TEST(Smote, ExactInterpolationAndNearerParent) {
  // Two rows of class 0 and four of class 1: smote adds two class-0 rows between rows 0 and 1.
  TabularData d;
  d.x = Matrix(6, 3);
  d.y = {0, 0, 1, 1, 1, 1};
  d.group = {0, 1, 2, 2, 3, 3};
  d.group2.assign(6, -1);
  const float a_values[] = {1.0F, 3.0F, 5.0F, 6.0F, 7.0F, 8.0F};
  for (int i = 0; i < 6; ++i) {
    d.x.at(i, kNumericA) = a_values[i];
    d.x.at(i, kNumericB) = i == 1 ? kMissing : 2.0F;
    d.x.at(i, kCategory) = static_cast<float>(i % 3);
  }
  const auto features = toy_features();
  const auto refs = resample(d, features, with(SamplingStrategy::kSmote), 3);
  const auto out = materialise(d, features, refs);
  ASSERT_EQ(ref_counts(refs), (std::array<int, kNumClasses>{4, 4, 0}));
  for (size_t i = 0; i < refs.size(); ++i) {
    const auto& r = refs[i];
    if (r.parent_b < 0) continue;
    const float a = d.x.at(r.parent_a, kNumericA);
    const float b = d.x.at(r.parent_b, kNumericA);
    EXPECT_FLOAT_EQ(out.x.at(i, kNumericA), a + r.mix * (b - a));
    const int nearer = r.mix < 0.5F ? r.parent_a : r.parent_b;
    // Feature b is missing on row 1: the nearer parent's value (maybe NaN) is copied.
    const float expected_b = d.x.at(nearer, kNumericB);
    if (is_missing(expected_b)) {
      EXPECT_TRUE(is_missing(out.x.at(i, kNumericB)));
    } else {
      EXPECT_EQ(out.x.at(i, kNumericB), expected_b);
    }
    EXPECT_EQ(out.x.at(i, kCategory), d.x.at(nearer, kCategory));
  }
}

TEST(Smote, SingleRowClassIsDuplicated) {
  TabularData d = toy_data({1, 5, 8}, 7);
  const auto features = toy_features();
  const auto refs = resample(d, features, with(SamplingStrategy::kSmote), 4);
  EXPECT_EQ(ref_counts(refs), (std::array<int, kNumClasses>{8, 8, 8}));
  const auto out = materialise(d, features, refs);
  for (size_t i = 0; i < refs.size(); ++i) {
    if (refs[i].label != 0) continue;
    EXPECT_EQ(refs[i].parent_b, -1);
    EXPECT_EQ(out.group2[i], -1);
    EXPECT_EQ(out.x.at(i, kNumericA), d.x.at(refs[i].parent_a, kNumericA));
  }
}

TEST(Smote, NeighboursAreNearest) {
  // Class 0 has two tight clusters far apart; with k = 1 every synthetic row interpolates inside
  // its base row's cluster, never across.
  TabularData d;
  const int n0 = 8;
  const int n1 = 20;
  d.x = Matrix(n0 + n1, 3, 0.0F);
  for (int i = 0; i < n0 + n1; ++i) {
    d.y.push_back(i < n0 ? 0 : 1);
    d.group.push_back(i);
    const float centre = i < n0 ? (i % 2 == 0 ? 0.0F : 100.0F) : 50.0F;
    d.x.at(i, kNumericA) = centre + static_cast<float>(i) * 0.01F;
    d.x.at(i, kNumericB) = 1.0F;
  }
  const auto refs = resample(d, toy_features(), with(SamplingStrategy::kSmote, 1), 8);
  for (const auto& r : refs) {
    if (r.parent_b < 0) continue;
    EXPECT_EQ(r.parent_a % 2, r.parent_b % 2) << r.parent_a << " -> " << r.parent_b;
  }
}

TEST(Resample, DeterministicPerSeed) {
  const auto data = toy_data({10, 30, 60}, 8);
  const auto features = toy_features();
  for (auto s : {SamplingStrategy::kRandom, SamplingStrategy::kUnder, SamplingStrategy::kCombined,
                 SamplingStrategy::kSmote, SamplingStrategy::kCombinedSmote}) {
    const auto a = resample(data, features, with(s), 77);
    const auto b = resample(data, features, with(s), 77);
    const auto c = resample(data, features, with(s), 78);
    EXPECT_TRUE(same(a, b)) << to_string(s);
    EXPECT_FALSE(same(a, c)) << to_string(s);
  }
}

TEST(Resample, RejectsMismatchedShapes) {
  auto data = toy_data({3, 3, 3}, 9);
  auto features = toy_features();
  features.pop_back();
  EXPECT_THROW(resample(data, features, with(SamplingStrategy::kSmote), 1), std::invalid_argument);
  EXPECT_NO_THROW(resample(data, features, with(SamplingStrategy::kRandom), 1));
  data.y.push_back(0);
  EXPECT_THROW(resample(data, toy_features(), with(SamplingStrategy::kNone), 1),
               std::invalid_argument);
}

}  // namespace
}  // namespace woundphase

#include <gtest/gtest.h>

#include <algorithm>  // for count
#include <cmath>
#include <nlohmann/json.hpp>

#include "tabular_fixtures.h"
#include "woundphase/tabular.h"

namespace woundphase {

using testing::accuracy;
using testing::argmax;
using testing::expect_rows_sum_to_one;
using testing::FixtureRng;
using testing::leak_detector;
using testing::mean_max_prob;
using testing::planted;
using testing::planted_train_test;
using testing::PlantedOptions;
using testing::random_rows;
using testing::RowOrder;

namespace {

ForestSettings small_forest(int trees = 100) {
  ForestSettings s;
  s.n_trees = trees;
  return s;
}

// The share of the rows of class `cls` whose most probable class is `cls`.
double recall(const Probabilities& p, const std::vector<int>& y, int cls) {
  size_t hits = 0;
  size_t total = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (y[i] != cls) continue;
    ++total;
    hits += argmax(p, i) == cls ? 1 : 0;
  }
  return static_cast<double>(hits) / static_cast<double>(total);
}

}  // namespace

TEST(Forest, LearnsPlantedSignalWithMissingValues) {
  const auto [train, test] = planted_train_test(PlantedOptions{}, 2);
  auto forest = make_forest(small_forest());
  forest->fit(train);
  const Probabilities p = forest->predict(test.x);
  expect_rows_sum_to_one(p, test.rows());
  // Chance is ~0.4 (largest class); 10% label noise and 5% NaN cap it near 0.85.
  EXPECT_GT(accuracy(p, test.y), 0.7);
}

TEST(Forest, DeterministicPerSeedAndIndependentOfThreads) {
  const TabularData train = planted(PlantedOptions{});
  ForestSettings s = small_forest(50);
  s.threads = 1;
  auto one = make_forest(s);
  one->fit(train);
  s.threads = 2;
  auto two = make_forest(s);
  two->fit(train);
  auto again = make_forest(s);
  again->fit(train);
  s.seed = 7;
  auto other = make_forest(s);
  other->fit(train);

  const Probabilities p1 = one->predict(train.x);
  EXPECT_EQ(p1, two->predict(train.x));
  EXPECT_EQ(p1, again->predict(train.x));
  EXPECT_NE(p1, other->predict(train.x));
  std::vector<bool> c1, c2;
  EXPECT_EQ(one->oob(&c1), two->oob(&c2));
  EXPECT_EQ(c1, c2);
}

TEST(Forest, LearnsThatMissingnessItselfIsPredictive) {
  // Class 2 exactly when feature 0 is missing; otherwise the class follows feature 1.
  FixtureRng rng(11);
  auto make = [&](size_t rows) {
    return random_rows(rng, rows, 6, 3, [&](TabularData& d, size_t i) {
      if (rng.uniform() < 0.3) {
        d.x.at(i, 0) = kMissing;
        return 2;
      }
      return d.x.at(i, 1) > 0.5F ? 1 : 0;
    });
  };
  const TabularData train = make(500);
  const TabularData test = make(500);
  auto forest = make_forest(small_forest());
  forest->fit(train);
  const Probabilities p = forest->predict(test.x);
  ASSERT_GT(std::count(test.y.begin(), test.y.end(), 2), 100);
  EXPECT_GT(recall(p, test.y, 2), 0.95);
  EXPECT_GT(accuracy(p, test.y), 0.85);
}

TEST(Forest, MissingAtPredictTimeFollowsTheHeavierSide) {
  // No NaN in training: a NaN at predict time must still give a valid probability row.
  PlantedOptions o;
  o.missing = 0.0;
  const TabularData train = planted(o);
  auto forest = make_forest(small_forest(20));
  forest->fit(train);
  Matrix x(4, o.features, kMissing);
  expect_rows_sum_to_one(forest->predict(x), 4);
}

TEST(Forest, FullyGrownTreeReproducesTrainingLabelsOnRawValues) {
  // Distinct values (exact bins): thresholds midway between values must route every raw training
  // row exactly as the binned training partition did, NaN rows included.
  FixtureRng rng(5);
  TabularData d;
  const size_t rows = 200;
  d.x = Matrix(rows, 5);
  d.y.resize(rows);
  d.group.resize(rows);
  for (size_t i = 0; i < rows; ++i) {
    for (size_t f = 0; f < 5; ++f) {
      d.x.at(i, f) = rng.uniform() < 0.1 ? kMissing : static_cast<float>(rng.uniform());
    }
    d.y[i] = rng.below(kNumClasses);
    d.group[i] = static_cast<int>(i);
  }
  ForestSettings s = testing::fully_grown_forest(64);
  s.n_trees = 1;
  s.bootstrap = false;
  auto forest = make_forest(s);
  forest->fit(d);
  EXPECT_FALSE(forest->has_oob());
  EXPECT_DOUBLE_EQ(accuracy(forest->predict(d.x), d.y), 1.0);
}

TEST(Forest, QuantileBinsStillFindTheSignal) {
  PlantedOptions o;
  o.rows = 1500;
  o.label_noise = 0.0;
  const auto [train, test] = planted_train_test(o, 3);
  ForestSettings s = small_forest(50);
  s.max_bins = 16;  // far fewer bins than the ~1400 unique values per feature
  auto forest = make_forest(s);
  forest->fit(train);
  EXPECT_GT(accuracy(forest->predict(test.x), test.y), 0.85);
}

TEST(Forest, PatientBootstrapGivesHonestOutOfBagProbabilities) {
  PlantedOptions o;
  o.label_noise = 0.4;
  o.rows = 560;
  const TabularData train = planted(o);
  auto forest = make_forest(ForestSettings{});  // 300 trees
  forest->fit(train);
  ASSERT_TRUE(forest->has_oob());
  std::vector<bool> covered;
  const Probabilities oob = forest->oob(&covered);
  ASSERT_EQ(covered.size(), train.rows());
  size_t n_covered = 0;
  for (bool c : covered) n_covered += c ? 1 : 0;
  EXPECT_EQ(n_covered, train.rows());
  expect_rows_sum_to_one(oob, train.rows());
  const Probabilities in_sample = forest->predict(train.x);
  EXPECT_NE(oob, in_sample);
  // In-sample the forest is confident on its own noisy labels; out of bag it is not.
  EXPECT_GT(mean_max_prob(in_sample, train.rows()), mean_max_prob(oob, train.rows()) + 0.03);
  EXPECT_GT(accuracy(in_sample, train.y), accuracy(oob, train.y) + 0.1);

  ForestSettings two;
  two.n_trees = 2;
  auto tiny = make_forest(two);
  tiny->fit(train);
  tiny->oob(&covered);
  n_covered = 0;
  for (bool c : covered) n_covered += c ? 1 : 0;
  EXPECT_GT(n_covered, 0U);
  EXPECT_LT(n_covered, train.rows());
}

TEST(Forest, OutOfBagNeverSeesTheRowsPatient) {
  // Trained on a patient, a tree recognises its code; out of bag it cannot, so OOB accuracy must
  // stay near chance (1/3) while in-sample accuracy is near perfect. The patients' rows are
  // interleaved: the bootstrap must group by patient, not by position.
  const TabularData d = leak_detector(120, 4, 21, RowOrder::kInterleaved);
  auto forest = make_forest(testing::fully_grown_forest(20));
  forest->fit(d);
  std::vector<bool> covered;
  const Probabilities oob = forest->oob(&covered);
  EXPECT_GT(accuracy(forest->predict(d.x), d.y), 0.95);
  EXPECT_LT(accuracy(oob, d.y), 0.5);
}

TEST(Forest, SyntheticRowsAreInBagOnlyWithBothParents) {
  // Two patients per synthetic row: rows whose second parent is a patient with no real rows.
  // The forest must fit and report OOB for real rows; synthetic rows' OOB needs both parents out.
  PlantedOptions o;
  o.rows = 300;
  TabularData d = planted(o);
  const int n_real_patients = static_cast<int>(o.rows) / o.rows_per_patient;
  d.group2.assign(d.rows(), -1);
  for (size_t i = 0; i < 60; ++i) d.group2[i] = (d.group[i] + 7) % n_real_patients;
  auto forest = make_forest(small_forest(200));
  forest->fit(d);
  std::vector<bool> covered;
  const Probabilities oob = forest->oob(&covered);
  size_t n_covered = 0;
  for (bool c : covered) n_covered += c ? 1 : 0;
  EXPECT_GT(n_covered, d.rows() - 5);
  expect_rows_sum_to_one(forest->predict(d.x), d.rows());
}

TEST(Forest, BalancedWeightsRaiseMinorityRecall) {
  // Class 2 is rare (~6%) and only weakly separable: unweighted trees mostly vote it away.
  FixtureRng rng(31);
  auto make = [&](size_t rows) {
    return random_rows(rng, rows, 5, 4, [&](TabularData& d, size_t i) {
      const double u = rng.uniform();
      int label = u < 0.5 ? 0 : 1;
      if (d.x.at(i, 0) > 0.8F && rng.uniform() < 0.3) label = 2;
      return label;
    });
  };
  const TabularData train = make(800);
  const TabularData test = make(2000);
  auto recall2 = [&](ClassWeight w) {
    ForestSettings s = small_forest();
    s.class_weight = w;
    auto forest = make_forest(s);
    forest->fit(train);
    return recall(forest->predict(test.x), test.y, 2);
  };
  const double balanced = recall2(ClassWeight::kBalanced);
  const double none = recall2(ClassWeight::kNone);
  EXPECT_GT(balanced, none + 0.2) << "balanced " << balanced << " none " << none;
}

TEST(Forest, BootstrapOffUsesAllRowsAndHasNoOob) {
  const TabularData train = planted(PlantedOptions{});
  ForestSettings s = small_forest(10);
  s.bootstrap = false;
  auto forest = make_forest(s);
  forest->fit(train);
  EXPECT_FALSE(forest->has_oob());
  EXPECT_THROW(forest->oob(nullptr), std::logic_error);
}

TEST(Forest, JsonRoundTripPredictsBitIdentically) {
  const auto [train, test] = planted_train_test(PlantedOptions{}, 9);
  auto forest = make_forest(small_forest(30));
  forest->fit(train);
  const nlohmann::json j = forest->to_json();
  EXPECT_EQ(j["kind"], "rf");
  // Through text, as a bundle file would store it.
  auto restored = tree_model_from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(forest->predict(test.x), restored->predict(test.x));
  EXPECT_FALSE(restored->has_oob());
  EXPECT_EQ(restored->to_json(), j);
}

TEST(Forest, WithoutUsableFeaturesPredictsTheWeightedClassShares) {
  // Constant features: every tree is a single leaf holding the class frequencies.
  TabularData d;
  d.x = Matrix(10, 3, 1.0F);
  d.y = {0, 0, 0, 0, 0, 1, 1, 1, 2, 2};
  d.group = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  ForestSettings s = small_forest(3);
  s.bootstrap = false;
  s.class_weight = ClassWeight::kNone;
  auto forest = make_forest(s);
  forest->fit(d);
  const Probabilities p = forest->predict(Matrix(1, 3, 5.0F));
  EXPECT_DOUBLE_EQ(p[0], 0.5);
  EXPECT_DOUBLE_EQ(p[1], 0.3);
  EXPECT_DOUBLE_EQ(p[2], 0.2);
  s.class_weight = ClassWeight::kBalanced;  // every class then weighs the same
  auto balanced = make_forest(s);
  balanced->fit(d);
  const Probabilities q = balanced->predict(Matrix(1, 3, 5.0F));
  for (int c = 0; c < kNumClasses; ++c) EXPECT_NEAR(q[c], 1.0 / 3, 1e-12);
}

TEST(Forest, SingleClassTrainingPredictsThatClass) {
  PlantedOptions o;
  o.rows = 50;
  TabularData d = planted(o);
  for (int& y : d.y) y = 1;
  auto forest = make_forest(small_forest(10));
  forest->fit(d);
  const Probabilities p = forest->predict(d.x);
  for (size_t i = 0; i < d.rows(); ++i) EXPECT_EQ(p[i * kNumClasses + 1], 1.0);
}

TEST(Forest, RejectsBadInput) {
  const TabularData train = planted(PlantedOptions{});
  auto forest = make_forest(small_forest(5));
  EXPECT_THROW(forest->predict(train.x), std::logic_error);
  forest->fit(train);
  EXPECT_THROW(forest->predict(Matrix(3, 2)), InputError);
  TabularData bad = train;
  bad.y[0] = 3;
  EXPECT_THROW(forest->fit(bad), InputError);
  EXPECT_THROW(forest->fit(TabularData{}), InputError);
  EXPECT_THROW(tree_model_from_json(nlohmann::json{{"kind", "svm"}}), InputError);
  EXPECT_THROW(tree_model_from_json(nlohmann::json{{"kind", "rf"}}), InputError);
}

}  // namespace woundphase

#include <gtest/gtest.h>

#include "tabular_fixtures.h"
#include "woundphase/tabular.h"

namespace woundphase {

using testing::accuracy;
using testing::expect_rows_sum_to_one;
using testing::leak_detector;
using testing::planted;
using testing::PlantedOptions;
using testing::single_thread_gbdt;

TEST(OutOfFold, GbdtUsesInnerFoldsThatNeverSeeTheRowsPatient) {
  const TabularData d = leak_detector(90, 4, 3);
  GbdtSettings s = single_thread_gbdt();
  s.n_rounds = 60;
  s.max_depth = 6;
  s.subsample = 1.0;
  s.colsample = 1.0;
  auto factory = [&] { return make_gbdt(s); };
  auto fitted = factory();
  fitted->fit(d);
  EXPECT_GT(accuracy(fitted->predict(d.x), d.y), 0.95);
  const Probabilities oof = out_of_fold_probabilities(d, *fitted, factory, 5, 17);
  expect_rows_sum_to_one(oof, d.rows());
  EXPECT_LT(accuracy(oof, d.y), 0.5);
}

TEST(OutOfFold, ForestUsesItsOutOfBagEstimateWhereItHasOne) {
  const TabularData d = planted(PlantedOptions{});
  ForestSettings s;
  s.n_trees = 200;
  auto factory = [&] { return make_forest(s); };
  auto fitted = factory();
  fitted->fit(d);
  std::vector<bool> covered;
  const Probabilities oob = fitted->oob(&covered);
  const Probabilities oof = out_of_fold_probabilities(d, *fitted, factory, 5, 17);
  for (size_t i = 0; i < d.rows(); ++i) {
    if (!covered[i]) continue;
    for (int c = 0; c < kNumClasses; ++c) EXPECT_EQ(oof[i * 3 + c], oob[i * 3 + c]);
  }
  expect_rows_sum_to_one(oof, d.rows());
}

TEST(OutOfFold, ForestRowsNeverOutOfBagGetInnerFoldPredictions) {
  const TabularData d = leak_detector(60, 4, 5);
  ForestSettings s = testing::fully_grown_forest();
  s.n_trees = 2;  // many rows are never out of bag
  auto factory = [&] { return make_forest(s); };
  auto fitted = factory();
  fitted->fit(d);
  std::vector<bool> covered;
  fitted->oob(&covered);
  size_t uncovered = 0;
  for (bool c : covered) uncovered += c ? 0 : 1;
  ASSERT_GT(uncovered, 0U);
  const Probabilities oof = out_of_fold_probabilities(d, *fitted, factory, 4, 17);
  expect_rows_sum_to_one(oof, d.rows());
  EXPECT_LT(accuracy(oof, d.y), 0.55);
}

TEST(OutOfFold, SyntheticRowsAreTrainingOnly) {
  PlantedOptions o;
  o.rows = 200;
  TabularData d = planted(o);
  d.group2.assign(d.rows(), -1);
  for (size_t i = 0; i < 30; ++i) d.group2[i] = (d.group[i] + 3) % 40;
  GbdtSettings s = single_thread_gbdt();
  s.n_rounds = 10;
  auto factory = [&] { return make_gbdt(s); };
  auto fitted = factory();
  fitted->fit(d);
  const Probabilities oof = out_of_fold_probabilities(d, *fitted, factory, 5, 1);
  for (size_t i = 0; i < d.rows(); ++i) {
    const double sum = oof[i * 3] + oof[i * 3 + 1] + oof[i * 3 + 2];
    EXPECT_NEAR(sum, i < 30 ? 0.0 : 1.0, 1e-9) << "row " << i;
  }
}

TEST(OutOfFold, FewPatientsUseFewerFolds) {
  PlantedOptions o;
  o.rows = 30;
  o.rows_per_patient = 10;  // 3 patients, 5 folds asked
  const TabularData d = planted(o);
  GbdtSettings s = single_thread_gbdt();
  s.n_rounds = 5;
  auto factory = [&] { return make_gbdt(s); };
  auto fitted = factory();
  fitted->fit(d);
  expect_rows_sum_to_one(out_of_fold_probabilities(d, *fitted, factory, 5, 1), d.rows());

  o.rows = 10;  // one patient: nothing can be held out honestly
  const TabularData one = planted(o);
  fitted->fit(one);
  EXPECT_THROW(out_of_fold_probabilities(one, *fitted, factory, 5, 1), InputError);
}

}  // namespace woundphase

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tabular_fixtures.h"
#include "woundphase/tabular.h"

namespace woundphase {

using testing::accuracy;
using testing::expect_rows_sum_to_one;
using testing::fitted_gbdt;
using testing::planted;
using testing::planted_train_test;
using testing::PlantedOptions;
using testing::single_thread_gbdt;

TEST(Gbdt, LearnsPlantedSignalAndSumsToOne) {
  const auto [train, test] = planted_train_test(PlantedOptions{}, 2);
  auto gbdt = make_gbdt(single_thread_gbdt());
  gbdt->fit(train);
  EXPECT_FALSE(gbdt->has_oob());
  const Probabilities p = gbdt->predict(test.x);
  expect_rows_sum_to_one(p, test.rows(), 1e-12);
  EXPECT_GT(accuracy(p, test.y), 0.7);
}

TEST(Gbdt, JsonRoundTripPredictsBitIdentically) {
  const auto [train, test] = planted_train_test(PlantedOptions{}, 4);
  auto gbdt = fitted_gbdt(train, 30);
  const nlohmann::json j = gbdt->to_json();
  EXPECT_EQ(j["kind"], "gbdt");
  auto restored = tree_model_from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(gbdt->predict(test.x), restored->predict(test.x));
}

TEST(Gbdt, SameSeedSameModel) {
  const TabularData train = planted(PlantedOptions{});
  auto a = fitted_gbdt(train, 20);
  auto b = fitted_gbdt(train, 20);
  EXPECT_EQ(a->predict(train.x), b->predict(train.x));
}

TEST(Gbdt, RejectsBadInput) {
  auto gbdt = make_gbdt(single_thread_gbdt());
  EXPECT_THROW(gbdt->predict(Matrix(2, 2)), std::logic_error);
  EXPECT_THROW(gbdt->fit(TabularData{}), InputError);
  EXPECT_THROW(gbdt->oob(nullptr), std::logic_error);
}

}  // namespace woundphase

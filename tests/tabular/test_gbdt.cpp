#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tabular_fixtures.h"
#include "woundphase/tabular.h"

namespace woundphase {

using testing::accuracy;
using testing::planted;
using testing::PlantedOptions;
using testing::single_thread_gbdt;

TEST(Gbdt, LearnsPlantedSignalAndSumsToOne) {
  PlantedOptions o;
  const TabularData train = planted(o);
  o.seed = 2;
  const TabularData test = planted(o);
  auto gbdt = make_gbdt(single_thread_gbdt());
  gbdt->fit(train);
  EXPECT_FALSE(gbdt->has_oob());
  const Probabilities p = gbdt->predict(test.x);
  ASSERT_EQ(p.size(), test.rows() * kNumClasses);
  for (size_t i = 0; i < test.rows(); ++i) {
    EXPECT_NEAR(p[i * 3] + p[i * 3 + 1] + p[i * 3 + 2], 1.0, 1e-12);
  }
  EXPECT_GT(accuracy(p, test.y), 0.7);
}

TEST(Gbdt, JsonRoundTripPredictsBitIdentically) {
  const TabularData train = planted(PlantedOptions{});
  PlantedOptions o;
  o.seed = 4;
  const TabularData test = planted(o);
  GbdtSettings s = single_thread_gbdt();
  s.n_rounds = 30;
  auto gbdt = make_gbdt(s);
  gbdt->fit(train);
  const nlohmann::json j = gbdt->to_json();
  EXPECT_EQ(j["kind"], "gbdt");
  auto restored = tree_model_from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(gbdt->predict(test.x), restored->predict(test.x));
}

TEST(Gbdt, SameSeedSameModel) {
  const TabularData train = planted(PlantedOptions{});
  GbdtSettings s = single_thread_gbdt();
  s.n_rounds = 20;
  auto a = make_gbdt(s);
  auto b = make_gbdt(s);
  a->fit(train);
  b->fit(train);
  EXPECT_EQ(a->predict(train.x), b->predict(train.x));
}

TEST(Gbdt, RejectsBadInput) {
  auto gbdt = make_gbdt(single_thread_gbdt());
  EXPECT_THROW(gbdt->predict(Matrix(2, 2)), std::logic_error);
  EXPECT_THROW(gbdt->fit(TabularData{}), InputError);
  EXPECT_THROW(gbdt->oob(nullptr), std::logic_error);
}

}  // namespace woundphase

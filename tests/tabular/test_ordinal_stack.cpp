// The ordinal (Frank & Hall) and stacking models, and the stack's logistic meta-learner against
// scikit-learn.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tabular/logistic.h"
#include "tabular_fixtures.h"

namespace woundphase::testing {
namespace {

ForestSettings small_forest(unsigned long long seed) {
  ForestSettings f;
  f.n_trees = 60;
  f.seed = seed;
  return f;
}

TEST(Logistic, MatchesScikitLearnMultinomial) {
  // Reference: /usr/bin/python3 (scikit-learn 1.2.1)
  //   LogisticRegression(C=C, tol=1e-14, max_iter=100000, multi_class="multinomial",
  //                      solver="newton-cg").fit(X, y, sample_weight=w).predict_proba(Q)
  // (the default lbfgs solver stops ~4e-6 short of the optimum; newton-cg and SciPy's BFGS on
  // the same objective agree with each other and with this Newton solver to ~1e-8).
  const std::vector<double> x = {0.1, 0.9, 0.2, 0.7, 0.3, 0.8, 0.4,  0.2,  0.5,  0.4,  0.6,  0.1,
                                 0.7, 0.3, 0.8, 0.6, 0.9, 0.5, 0.15, 0.35, 0.55, 0.85, 0.95, 0.05};
  const std::vector<int> y = {0, 0, 1, 1, 0, 1, 2, 2, 2, 0, 1, 2};
  const std::vector<double> w = {1, 1, 2, 1, 1, 2, 1, 1, 1, 1, 2, 1};
  const std::vector<double> q = {0.0, 0.0, 0.5, 0.5, 1.0, 0.2};
  tabular_detail::MultinomialLogistic m;
  m.fit(x, y, w, 3, 2, 1.0);
  const std::vector<double> weighted = {0.357037315278, 0.470019198023, 0.172943486699,
                                        0.26657243705,  0.476353953642, 0.257073609308,
                                        0.156132594829, 0.401425943279, 0.442441461891};
  std::vector<double> p = m.predict(q);
  for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(p[i], weighted[i], 1e-7) << i;
  m.fit(x, y, {}, 3, 2, 30.0);  // unweighted, weak penalty
  const std::vector<double> unweighted = {0.841956585908, 0.156883688183, 0.001159725909,
                                          0.296222645781, 0.53029330889,  0.173484045328,
                                          0.003193411921, 0.055348669685, 0.941457918394};
  p = m.predict(q);
  for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(p[i], unweighted[i], 1e-7) << i;
}

TEST(Ordinal, CumulativeModelsLearnTheOrderedSignal) {
  const auto [train, test] = testing::planted_train_test(PlantedOptions{}, 2);
  auto model = make_ordinal([](int cut) { return make_forest(small_forest(10 + cut)); });
  model->fit(train);
  const Probabilities p = model->predict(test.x);
  testing::expect_rows_sum_to_one(p, test.rows(), 1e-12);
  EXPECT_GT(testing::accuracy(p, test.y), 0.75);
  // P(R) is the second binary model's P(y > P); P(I) the complement of the first's P(y > I)
  // (rows where the two disagree in order are renormalised, so compare only ordered rows).
  auto above0 = make_forest(small_forest(10));
  auto above1 = make_forest(small_forest(11));
  TabularData t0 = train, t1 = train;
  for (int& y : t0.y) y = y > 0;
  for (int& y : t1.y) y = y > 1;
  above0->fit(t0);
  above1->fit(t1);
  const Probabilities q0 = above0->predict(test.x), q1 = above1->predict(test.x);
  int ordered = 0;
  for (size_t i = 0; i < test.rows(); ++i) {
    if (q1[i * kNumClasses + 1] > q0[i * kNumClasses + 1]) continue;
    ++ordered;
    EXPECT_NEAR(p[i * kNumClasses + 0], 1 - q0[i * kNumClasses + 1], 1e-12);
    EXPECT_NEAR(p[i * kNumClasses + 2], q1[i * kNumClasses + 1], 1e-12);
  }
  EXPECT_GT(ordered, static_cast<int>(test.rows()) / 2);
}

TEST(Ordinal, OutOfBagAndJsonRoundTrip) {
  const TabularData train = planted(PlantedOptions{});
  auto model = make_ordinal([](int cut) { return make_forest(small_forest(20 + cut)); });
  model->fit(train);
  ASSERT_TRUE(model->has_oob());
  std::vector<bool> covered;
  const Probabilities oob = model->oob(&covered);
  ASSERT_EQ(covered.size(), train.rows());
  std::vector<int> y;
  Probabilities kept;
  for (size_t i = 0; i < train.rows(); ++i) {
    if (!covered[i]) continue;
    y.push_back(train.y[i]);
    kept.insert(kept.end(), oob.begin() + i * kNumClasses, oob.begin() + (i + 1) * kNumClasses);
  }
  EXPECT_GT(y.size(), train.rows() / 2);
  const double oob_accuracy = testing::accuracy(kept, y);
  const double in_sample = testing::accuracy(model->predict(train.x), train.y);
  EXPECT_GT(oob_accuracy, 0.7);
  EXPECT_LT(oob_accuracy, in_sample);  // honest: below the in-sample fit
  const auto back = tree_model_from_json(nlohmann::json::parse(model->to_json().dump()));
  EXPECT_EQ(back->predict(train.x), model->predict(train.x));
}

StackSettings stack_of_forest_and_gbdt() {
  StackSettings s;
  s.members.push_back([](int fit) { return make_forest(small_forest(30 + fit)); });
  s.members.push_back([](int fit) {
    GbdtSettings g = testing::single_thread_gbdt();
    g.n_rounds = 30;
    g.seed = 40 + fit;
    return make_gbdt(g);
  });
  s.inner_folds = 3;
  return s;
}

TEST(Stack, MetaLearnerOnOutOfFoldProbabilitiesPredictsWell) {
  const auto [train, test] = testing::planted_train_test(PlantedOptions{}, 3);
  auto stack = make_stack(stack_of_forest_and_gbdt());
  stack->fit(train);
  EXPECT_FALSE(stack->has_oob());
  const Probabilities p = stack->predict(test.x);
  const double accuracy = testing::accuracy(p, test.y);
  EXPECT_GT(accuracy, 0.75);
  // Not worse than its weaker member by more than noise.
  auto forest = make_forest(small_forest(30));
  forest->fit(train);
  EXPECT_GT(accuracy, testing::accuracy(forest->predict(test.x), test.y) - 0.05);
  const auto back = tree_model_from_json(nlohmann::json::parse(stack->to_json().dump()));
  EXPECT_EQ(back->predict(test.x), p);
}

TEST(Stack, MalformedJsonIsAnInputError) {
  nlohmann::json j = {{"kind", "stack"}, {"members", nlohmann::json::array()}};
  EXPECT_THROW(tree_model_from_json(j), InputError);
  EXPECT_THROW(tree_model_from_json({{"kind", "ordinal"}, {"models", {1}}}), InputError);
  EXPECT_EQ(parse_tree_model("stack"), TreeModelKind::kStack);
  EXPECT_EQ(to_string(TreeModelKind::kStack), "stack");
}

}  // namespace
}  // namespace woundphase::testing

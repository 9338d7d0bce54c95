// TreeSHAP checked against references: brute-force Shapley values over every feature subset with
// the same path-dependent expectation (forest), and XGBoost's own pred_contribs against our
// TreeSHAP run on the boosted trees read from XGBoost's JSON model (gbdt).
#include <gtest/gtest.h>

#include <algorithm>  // for find
#include <cmath>      // for exp, nextafter, abs
#include <nlohmann/json.hpp>

#include "tabular/treeshap.h"
#include "tabular_fixtures.h"
#include "woundphase/tabular.h"

namespace woundphase {

using tabular_detail::ShapNode;
using tabular_detail::ShapTree;
using testing::planted;
using testing::PlantedOptions;

namespace {

// Exact Shapley values of one tree's outputs for one row by enumerating every subset of the
// features: phi_i = sum_S |S|! (M - |S| - 1)! / M! [v(S + i) - v(S)], v the path-dependent
// expectation. Layout as tree_shap's: [output][feature], M = n_features.
std::vector<double> brute_force_shapley(const ShapTree& tree, const float* row, int n_features) {
  std::vector<double> factorial(n_features + 1, 1.0);
  for (int k = 1; k <= n_features; ++k) factorial[k] = factorial[k - 1] * k;
  const int outputs = tree.n_outputs;
  std::vector<double> phi(static_cast<size_t>(outputs) * (n_features + 1), 0.0);
  std::vector<bool> known(n_features);
  for (unsigned mask = 0; mask < (1U << n_features); ++mask) {
    int size = 0;
    for (int f = 0; f < n_features; ++f) {
      known[f] = ((mask >> f) & 1U) != 0;
      size += known[f] ? 1 : 0;
    }
    const std::vector<double> without =
        tabular_detail::path_dependent_expectation(tree, row, known);
    for (int i = 0; i < n_features; ++i) {
      if (known[i]) continue;
      known[i] = true;
      const std::vector<double> with = tabular_detail::path_dependent_expectation(tree, row, known);
      known[i] = false;
      const double weight =
          factorial[size] * factorial[n_features - size - 1] / factorial[n_features];
      for (int o = 0; o < outputs; ++o)
        phi[o * (n_features + 1) + i] += weight * (with[o] - without[o]);
    }
  }
  return phi;
}

bool has_repeated_feature_on_a_path(const ShapTree& t, int32_t node, std::vector<int32_t> seen) {
  const ShapNode& nd = t.nodes[node];
  if (nd.feature < 0) return false;
  if (std::find(seen.begin(), seen.end(), nd.feature) != seen.end()) return true;
  seen.push_back(nd.feature);
  return has_repeated_feature_on_a_path(t, nd.left, seen) ||
         has_repeated_feature_on_a_path(t, nd.right, seen);
}

// The forest's trees as ShapTrees, from its JSON (the bundle's form).
std::vector<ShapTree> forest_trees(const nlohmann::json& j) {
  std::vector<ShapTree> out;
  for (const auto& jt : j.at("trees")) {
    ShapTree t;
    t.n_outputs = kNumClasses;
    t.value = jt.at("value").get<std::vector<double>>();
    const auto feature = jt.at("feature").get<std::vector<int32_t>>();
    const auto cover = jt.at("cover").get<std::vector<double>>();
    for (size_t k = 0; k < feature.size(); ++k) {
      t.nodes.push_back({feature[k], jt.at("left")[k].get<int32_t>(),
                         jt.at("right")[k].get<int32_t>(), jt.at("missing_left")[k].get<int>() != 0,
                         jt.at("threshold")[k].get<double>(), cover[k]});
    }
    t.finish();
    out.push_back(std::move(t));
  }
  return out;
}

// A small forest on a planted cohort with 6 features, missing values and deep enough trees that
// features repeat along paths.
struct SmallForest {
  TabularData train;
  TabularData test;
  std::unique_ptr<TreeModel> model;
  explicit SmallForest(int trees = 8) {
    PlantedOptions o;
    o.rows = 300;
    o.features = 6;
    o.missing = 0.1;
    train = planted(o);
    o.seed = 9;
    o.rows = 40;
    test = planted(o);
    ForestSettings s;
    s.n_trees = trees;
    s.max_depth = 6;
    s.min_samples_leaf = 2;
    s.min_samples_split = 4;
    s.threads = 1;
    model = make_forest(s);
    model->fit(train);
  }
};

}  // namespace

TEST(TreeShap, HandBuiltTreeMatchesHandComputedValues) {
  // x0 <= 0.5 ? (x1 <= 0.5 ? 1 : 0) : 0, covers 10 = 6 (4 + 2) + 4; output 1 when both are small.
  ShapTree t;
  t.n_outputs = 1;
  t.nodes = {{0, 1, 2, false, 0.5, 10},
             {1, 3, 4, true, 0.5, 6},
             {-1, -1, -1, false, 0, 4},
             {-1, -1, -1, false, 0, 4},
             {-1, -1, -1, false, 0, 2}};
  t.value = {0, 0, 0, 1, 0};
  t.finish();
  EXPECT_EQ(t.depth, 2);
  const std::vector<double> e = t.expected_value();
  EXPECT_NEAR(e[0], 0.4, 1e-15);  // 4 of 10
  const float row[2] = {0.2F, 0.1F};
  std::vector<double> phi(3, 0.0);
  tabular_detail::tree_shap(t, row, 2, phi.data());
  // v({}) = 0.4, v({0}) = 4/6, v({1}) = 0.6 * 1 + 0.4 * 0 = 0.6, v({0,1}) = 1;
  // phi_i = 1/2 (v({i}) - v({})) + 1/2 (v({0,1}) - v({j})).
  EXPECT_NEAR(phi[0], 0.5 * (4.0 / 6 - 0.4) + 0.5 * (1 - 0.6), 1e-12);
  EXPECT_NEAR(phi[1], 0.5 * (0.6 - 0.4) + 0.5 * (1 - 4.0 / 6), 1e-12);
  // A missing x1 takes the missing side (left here): the same leaf.
  const float missing[2] = {0.2F, kMissing};
  std::vector<double> phi_missing(3, 0.0);
  tabular_detail::tree_shap(t, missing, 2, phi_missing.data());
  EXPECT_NEAR(phi_missing[0], phi[0], 1e-12);
  EXPECT_NEAR(phi_missing[1], phi[1], 1e-12);
}

TEST(TreeShap, ForestMatchesBruteForceShapleyOverEverySubset) {
  const SmallForest f;
  const Contributions c = f.model->contributions(f.test.x);
  ASSERT_EQ(c.rows, f.test.rows());
  ASSERT_EQ(c.features, 6U);
  EXPECT_EQ(c.scale, ContributionScale::kProbability);
  const std::vector<ShapTree> trees = forest_trees(f.model->to_json());
  // The unwinding of a feature met twice on a path is exercised.
  int repeats = 0;
  for (const ShapTree& t : trees) repeats += has_repeated_feature_on_a_path(t, 0, {}) ? 1 : 0;
  ASSERT_GT(repeats, 0);
  const int m = static_cast<int>(c.features);
  for (size_t i = 0; i < c.rows; ++i) {
    std::vector<float> row(m);
    for (int k = 0; k < m; ++k) row[k] = f.test.x.at(i, k);
    std::vector<double> expected(kNumClasses * (m + 1), 0.0);
    for (const ShapTree& t : trees) {
      const std::vector<double> phi = brute_force_shapley(t, row.data(), m);
      for (size_t k = 0; k < phi.size(); ++k) expected[k] += phi[k] / trees.size();
    }
    for (int cl = 0; cl < kNumClasses; ++cl)
      for (int k = 0; k < m; ++k)
        EXPECT_NEAR(c.at(i, cl, k), expected[cl * (m + 1) + k], 1e-12)
            << "row " << i << " class " << cl << " feature " << k;
  }
}

TEST(TreeShap, ForestContributionsAddUpToThePredictedProbabilities) {
  const SmallForest f(30);
  const Probabilities p = f.model->predict(f.test.x);
  const Contributions c = f.model->contributions(f.test.x);
  for (size_t i = 0; i < c.rows; ++i) {
    for (int cl = 0; cl < kNumClasses; ++cl) {
      double sum = c.base(i, cl);
      for (size_t k = 0; k < c.features; ++k) sum += c.at(i, cl, k);
      EXPECT_NEAR(sum, p[i * kNumClasses + cl], 1e-12) << "row " << i << " class " << cl;
    }
  }
  // The base is the same for every row: the trees' expected output over the training weight.
  EXPECT_DOUBLE_EQ(c.base(0, 1), c.base(c.rows - 1, 1));
}

TEST(TreeShap, PlantedFeaturesGetTheLargestMeanAbsoluteContribution) {
  PlantedOptions o;  // features 0 and 1 carry the signal, 2..11 are noise
  const TabularData train = planted(o);
  ForestSettings s;
  s.n_trees = 60;
  s.threads = 1;
  auto forest = make_forest(s);
  forest->fit(train);
  const Contributions c = forest->contributions(train.x);
  std::vector<double> importance(c.features, 0.0);
  for (size_t i = 0; i < c.rows; ++i)
    for (int cl = 0; cl < kNumClasses; ++cl)
      for (size_t k = 0; k < c.features; ++k) importance[k] += std::abs(c.at(i, cl, k));
  for (size_t k = 2; k < c.features; ++k) {
    EXPECT_GT(importance[0], 3 * importance[k]) << "noise feature " << k;
    EXPECT_GT(importance[1], 3 * importance[k]) << "noise feature " << k;
  }
}

TEST(TreeShap, ForestRestoredFromJsonExplainsIdentically) {
  const SmallForest f;
  const auto restored = tree_model_from_json(f.model->to_json());
  EXPECT_EQ(restored->contributions(f.test.x).values, f.model->contributions(f.test.x).values);
  // A forest saved before explanations existed has no cover: a clear error, not a wrong answer.
  nlohmann::json old = f.model->to_json();
  for (auto& t : old["trees"]) t.erase("cover");
  const auto legacy = tree_model_from_json(old);
  EXPECT_THROW(legacy->contributions(f.test.x), InputError);
  EXPECT_EQ(legacy->predict(f.test.x), f.model->predict(f.test.x));
}

TEST(TreeShap, GbdtContributionsAddUpToTheMarginOfThePredictedProbabilities) {
  PlantedOptions o;
  o.rows = 300;
  const TabularData train = planted(o);
  auto gbdt = testing::fitted_gbdt(train, 20);
  const Probabilities p = gbdt->predict(train.x);
  const Contributions c = gbdt->contributions(train.x);
  EXPECT_EQ(c.scale, ContributionScale::kMargin);
  for (size_t i = 0; i < c.rows; ++i) {
    double margin[kNumClasses];
    double norm = 0;
    for (int cl = 0; cl < kNumClasses; ++cl) {
      margin[cl] = c.base(i, cl);
      for (size_t k = 0; k < c.features; ++k) margin[cl] += c.at(i, cl, k);
      norm += std::exp(margin[cl]);
    }
    // XGBoost works in float: agreement to float precision.
    for (int cl = 0; cl < kNumClasses; ++cl)
      EXPECT_NEAR(std::exp(margin[cl]) / norm, p[i * kNumClasses + cl], 1e-5);
  }
}

TEST(TreeShap, OurTreeShapAgreesWithXgboostOnItsOwnTrees) {
  PlantedOptions o;
  o.rows = 300;
  o.features = 6;
  const TabularData train = planted(o);
  auto gbdt = testing::fitted_gbdt(train, 10);
  const Contributions theirs = gbdt->contributions(train.x);
  // XGBoost's JSON model: per tree its class, children, split feature and condition (x < c goes
  // left), default direction for missing, leaf value in split_conditions, cover in sum_hessian.
  const nlohmann::json model =
      nlohmann::json::parse(gbdt->to_json().at("xgboost_model").get<std::string>());
  const nlohmann::json& learner = model.at("learner");
  const double base_score =
      std::stod(learner.at("learner_model_param").at("base_score").get<std::string>());
  const nlohmann::json& booster = learner.at("gradient_booster").at("model");
  const auto tree_class = booster.at("tree_info").get<std::vector<int>>();
  std::vector<std::vector<ShapTree>> trees(kNumClasses);
  size_t index = 0;
  for (const nlohmann::json& jt : booster.at("trees")) {
    ShapTree t;
    t.n_outputs = 1;
    const auto left = jt.at("left_children").get<std::vector<int32_t>>();
    const auto right = jt.at("right_children").get<std::vector<int32_t>>();
    const auto feature = jt.at("split_indices").get<std::vector<int32_t>>();
    const auto condition = jt.at("split_conditions").get<std::vector<float>>();
    const auto default_left = jt.at("default_left").get<std::vector<int>>();
    const auto cover = jt.at("sum_hessian").get<std::vector<double>>();
    for (size_t k = 0; k < left.size(); ++k) {
      const bool leaf = left[k] < 0;
      // x < c (floats) is x <= the float just below c.
      const double threshold = std::nextafter(condition[k], -INFINITY);
      t.nodes.push_back(
          {leaf ? -1 : feature[k], left[k], right[k], default_left[k] != 0, threshold, cover[k]});
      t.value.push_back(leaf ? condition[k] : 0.0);
    }
    t.finish();
    trees[tree_class[index++]].push_back(std::move(t));
  }
  const size_t m = theirs.features;
  for (size_t i = 0; i < theirs.rows; ++i) {
    std::vector<float> row(m);
    for (size_t k = 0; k < m; ++k) row[k] = train.x.at(i, k);
    for (int cl = 0; cl < kNumClasses; ++cl) {
      std::vector<double> phi(m + 1, 0.0);
      double base = base_score;
      for (const ShapTree& t : trees[cl]) {
        tabular_detail::tree_shap(t, row.data(), m, phi.data());
        base += t.expected_value()[0];
      }
      for (size_t k = 0; k < m; ++k)
        EXPECT_NEAR(phi[k], theirs.at(i, cl, k), 1e-4) << "row " << i << " feature " << k;
      EXPECT_NEAR(base, theirs.base(i, cl), 1e-4);
    }
  }
}

}  // namespace woundphase

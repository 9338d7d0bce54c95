// Label cleaning: the confident-learning rule and repeated misclassification find planted label
// flips far above their base rate, and the cleaning model fits without (or with lighter) flagged
// rows.
#include <gtest/gtest.h>

#include <set>

#include "tabular_fixtures.h"

namespace woundphase::testing {
namespace {

// Clean planted labels, then every tenth row's label moved to another class.
TabularData flipped(std::set<size_t>* flips) {
  PlantedOptions o;
  o.label_noise = 0;
  TabularData d = planted(o);
  for (size_t i = 3; i < d.rows(); i += 10) {
    d.y[i] = (d.y[i] + 1 + static_cast<int>(i % 2)) % kNumClasses;
    flips->insert(i);
  }
  return d;
}

std::function<std::unique_ptr<TreeModel>(int)> forests() {
  return [](int fit) {
    ForestSettings f;
    f.n_trees = 60;
    f.seed = 100 + fit;
    return make_forest(f);
  };
}

TEST(Cleaning, ConfidentRuleMatchesItsDefinition) {
  // Class thresholds (mean self-confidence of each class): (0.7 + 0.5 + 0.2) / 3, 0.6, 0.8.
  const Probabilities p = {0.7, 0.2, 0.1, 0.5,  0.4,  0.1,  // labelled 0 and 0
                           0.1, 0.6, 0.3, 0.05, 0.15, 0.8,  // labelled 1 and 2
                           0.2, 0.7, 0.1};                  // labelled 0: P(1) 0.7 >= 0.6
  const std::vector<int> y = {0, 0, 1, 2, 0};
  const std::vector<LabelIssue> issues = confident_issues(p, y);
  EXPECT_FALSE(issues[0].flagged);
  EXPECT_FALSE(issues[1].flagged);  // P(0) = 0.5 >= 0.467: its own class is the confident one
  EXPECT_FALSE(issues[2].flagged);
  EXPECT_FALSE(issues[3].flagged);
  ASSERT_TRUE(issues[4].flagged);
  EXPECT_EQ(issues[4].suggested, 1);
  EXPECT_DOUBLE_EQ(issues[4].suggested_threshold, 0.6);
  EXPECT_NEAR(issues[4].label_threshold, 1.4 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(issues[4].self_confidence, 0.2);
}

TEST(Cleaning, BothMethodsFindPlantedFlipsFarAboveTheirBaseRate) {
  std::set<size_t> flips;
  const TabularData d = flipped(&flips);
  for (CleanMethod method : {CleanMethod::kConfident, CleanMethod::kMisclass}) {
    CleanSettings s;
    s.method = method;
    s.repeats = 3;
    const std::vector<LabelIssue> issues = find_label_issues(d, forests(), s, 5, 9);
    ASSERT_EQ(issues.size(), d.rows());
    size_t flagged = 0, hits = 0;
    for (size_t i = 0; i < d.rows(); ++i) {
      if (!issues[i].flagged) continue;
      ++flagged;
      hits += flips.count(i);
    }
    const double precision = static_cast<double>(hits) / static_cast<double>(flagged);
    const double recall = static_cast<double>(hits) / static_cast<double>(flips.size());
    // 10% of the rows are flipped.
    EXPECT_GT(precision, 0.4) << to_string(method) << ": " << hits << " of " << flagged;
    EXPECT_GT(recall, 0.4) << to_string(method);
    if (method == CleanMethod::kMisclass) {
      for (const LabelIssue& i : issues) {
        EXPECT_EQ(i.passes, 3);
        EXPECT_EQ(i.flagged, i.misclassified == 3);  // default share 1: wrong in every pass
      }
    }
  }
}

TEST(Cleaning, ModelDropsOrDownweightsItsFlaggedRowsOnly) {
  std::set<size_t> flips;
  const TabularData d = flipped(&flips);
  CleanSettings s;
  s.method = CleanMethod::kConfident;
  auto dropped = make_cleaning(forests(), s, 5, 9);
  dropped->fit(d);
  const std::vector<LabelIssue>* issues = dropped->label_issues();
  ASSERT_NE(issues, nullptr);
  ASSERT_EQ(issues->size(), d.rows());
  // The same flags as find_label_issues with the same factory stream.
  int fit = 0;
  const auto again = find_label_issues(
      d, [&](int) { return forests()(++fit); }, s, 5, 9);
  for (size_t i = 0; i < d.rows(); ++i) EXPECT_EQ((*issues)[i].flagged, again[i].flagged);
  // The final model is the factory's fit 0 on the kept rows.
  TabularData kept;
  std::vector<int> rows;
  for (size_t i = 0; i < d.rows(); ++i)
    if (!(*issues)[i].flagged) rows.push_back(static_cast<int>(i));
  ASSERT_LT(rows.size(), d.rows());
  kept.x = d.x.select_rows(rows);
  for (int r : rows) {
    kept.y.push_back(d.y[r]);
    kept.group.push_back(d.group[r]);
  }
  auto reference = forests()(0);
  reference->fit(kept);
  EXPECT_EQ(dropped->predict(d.x), reference->predict(d.x));
  // Out-of-bag rows exist only for kept rows.
  std::vector<bool> covered;
  dropped->oob(&covered);
  for (size_t i = 0; i < d.rows(); ++i) {
    if ((*issues)[i].flagged) {
      EXPECT_FALSE(covered[i]);
    }
  }

  s.action = CleanAction::kDownweight;
  s.weight = 0.25;
  auto weighted = make_cleaning(forests(), s, 5, 9);
  weighted->fit(d);
  TabularData w = d;
  w.weight.assign(d.rows(), 1.0);
  for (size_t i = 0; i < d.rows(); ++i)
    if ((*issues)[i].flagged) w.weight[i] = 0.25;
  auto reference_w = forests()(0);
  reference_w->fit(w);
  EXPECT_EQ(weighted->predict(d.x), reference_w->predict(d.x));
  EXPECT_NE(weighted->predict(d.x), dropped->predict(d.x));
}

TEST(Cleaning, RowWeightsMultiplyClassWeights) {
  TabularData d;
  d.y = {0, 0, 1, 2};
  d.weight = {1, 0.5, 2, 1};
  const std::vector<double> w = row_weights(d, ClassWeight::kNone);
  EXPECT_EQ(w, (std::vector<double>{1, 0.5, 2, 1}));
  d.weight = {1};
  EXPECT_THROW(row_weights(d, ClassWeight::kNone), InputError);
  EXPECT_EQ(parse_clean_method("misclass"), CleanMethod::kMisclass);
  EXPECT_THROW(parse_clean_method("polish"), InputError);
  EXPECT_THROW(parse_clean_action("remove"), InputError);
}

}  // namespace
}  // namespace woundphase::testing

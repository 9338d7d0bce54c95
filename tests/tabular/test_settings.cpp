#include <gtest/gtest.h>

#include <functional>  // for function
#include <string>
#include <vector>

#include "fixtures/errors.h"
#include "woundphase/tabular.h"

namespace woundphase {

namespace {

// One knob set to a bad value, and the message validate() must give for it.
template <typename Settings>
struct BadValue {
  std::function<void(Settings&)> set;
  std::string message;
};

template <typename Settings>
void expect_messages(const std::vector<BadValue<Settings>>& cases) {
  for (const auto& c : cases) {
    Settings s;
    c.set(s);
    EXPECT_EQ(testing::input_error_of([&] { s.validate(); }), c.message);
  }
}

}  // namespace

TEST(TabularSettings, DefaultsAreValid) {
  EXPECT_NO_THROW(ForestSettings{}.validate());
  EXPECT_NO_THROW(GbdtSettings{}.validate());
}

TEST(TabularSettings, ForestMessagesNameTheOption) {
  expect_messages<ForestSettings>({
      {[](ForestSettings& s) { s.n_trees = 0; }, "--trees must be in [1, 10000], got 0"},
      {[](ForestSettings& s) { s.max_depth = 65; }, "--max-depth must be in [1, 64], got 65"},
      {[](ForestSettings& s) { s.min_samples_leaf = 0; },
       "--min-samples-leaf must be in [1, 1000], got 0"},
      {[](ForestSettings& s) { s.min_samples_split = 1; },
       "--min-samples-split must be in [2, 1000], got 1"},
      {[](ForestSettings& s) { s.max_features = 1.5; },
       "--max-features must be in (0, 1]; <= 0: sqrt of the feature count, got 1.5"},
      {[](ForestSettings& s) { s.max_bins = 4; }, "--max-bins must be in [8, 1024], got 4"},
      {[](ForestSettings& s) { s.threads = 0; }, "--threads must be in [1, 256], got 0"},
  });
  ForestSettings s;
  s.threads = 0;
  EXPECT_THROW(make_forest(s), InputError);
}

TEST(TabularSettings, GbdtMessagesNameTheOption) {
  expect_messages<GbdtSettings>({
      {[](GbdtSettings& s) { s.n_rounds = 0; }, "--gbdt-rounds must be in [1, 10000], got 0"},
      {[](GbdtSettings& s) { s.learning_rate = 0.0; },
       "--gbdt-learning-rate must be in (0, 1], got 0"},
      {[](GbdtSettings& s) { s.subsample = 1.5; }, "--subsample must be in (0, 1], got 1.5"},
      {[](GbdtSettings& s) { s.min_child_weight = -1; },
       "--min-child-weight must be in [0, 1000000], got -1"},
  });
  GbdtSettings s;
  s.min_child_weight = -1;
  EXPECT_THROW(make_gbdt(s), InputError);
}

TEST(TabularSettings, ParsesAndPrintsChoices) {
  for (ClassWeight w : {ClassWeight::kBalanced, ClassWeight::kFrequency, ClassWeight::kNone}) {
    EXPECT_EQ(parse_class_weight(to_string(w)), w);
  }
  for (TreeModelKind k : {TreeModelKind::kForest, TreeModelKind::kGbdt}) {
    EXPECT_EQ(parse_tree_model(to_string(k)), k);
  }
  EXPECT_EQ(to_string(TreeModelKind::kForest), "rf");
  EXPECT_THROW(parse_class_weight("inverse"), InputError);
  EXPECT_THROW(parse_tree_model("xgb"), InputError);
}

TEST(TabularSettings, ClassWeights) {
  const std::vector<int> y = {0, 0, 0, 1, 2, 2};
  const auto balanced = class_weights(y, ClassWeight::kBalanced);
  EXPECT_DOUBLE_EQ(balanced[0], 6.0 / (3 * 3));
  EXPECT_DOUBLE_EQ(balanced[3], 6.0 / (3 * 1));
  EXPECT_DOUBLE_EQ(balanced[4], 6.0 / (3 * 2));
  const auto frequency = class_weights(y, ClassWeight::kFrequency);
  EXPECT_DOUBLE_EQ(frequency[0], 0.5);
  EXPECT_DOUBLE_EQ(frequency[3], 1.0 / 6);
  const auto none = class_weights(y, ClassWeight::kNone);
  for (double w : none) EXPECT_EQ(w, 1.0);
  // Balanced weights give every class the same total weight.
  double total[3] = {};
  for (size_t i = 0; i < y.size(); ++i) total[y[i]] += balanced[i];
  EXPECT_DOUBLE_EQ(total[0], total[1]);
  EXPECT_DOUBLE_EQ(total[1], total[2]);
  EXPECT_THROW(class_weights({0, 5}, ClassWeight::kNone), InputError);
}

}  // namespace woundphase

// Random forest with scikit-learn RandomForestClassifier semantics (Gini, bootstrap, sqrt(p)
// features per node, weighted leaf class frequencies), bootstrapped by patient, with native
// missing values and histogram split finding over features binned once per fit.
#include <algorithm>  // for clamp, fill, min
#include <cmath>      // for sqrt
#include <cstdint>    // for int32_t, uint64_t
#include <map>        // for map (group id -> dense index)
#include <sstream>    // for ostringstream

#include "tabular/forest_tree.h"
#include "tabular/models.h"
#include "tabular/treeshap.h"

namespace woundphase {

namespace {

using namespace forest_internal;  // the trees and their growing (forest_tree.h)

// Rows predicted together, trees outer, so each tree's nodes are reused from cache.
constexpr size_t kPredictBlock = 64;

class Forest final : public TreeModel {
 public:
  explicit Forest(const ForestSettings& s) : settings_(s) { settings_.validate(); }

  void fit(const TabularData& data) override;
  Probabilities predict(const Matrix& x) const override;
  bool has_oob() const override { return has_oob_; }
  Probabilities oob(std::vector<bool>* covered) const override;
  nlohmann::json to_json() const override;
  Contributions contributions(const Matrix& x) const override;
  static std::unique_ptr<TreeModel> from_json(const nlohmann::json& j);

 private:
  // Mean of the trees' leaf probabilities per row, summed in tree order.
  Probabilities average(const Matrix& x) const {
    const size_t n = x.rows();
    Probabilities out(n * kNumClasses, 0.0);
    const double n_trees = static_cast<double>(trees_.size());
    // Blocks of rows, trees outer within a block: a tree's nodes stay in cache across the
    // block, and each row still sums its trees in tree order.
    const int64_t blocks = static_cast<int64_t>((n + kPredictBlock - 1) / kPredictBlock);
#pragma omp parallel for num_threads(settings_.threads) schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const size_t first = static_cast<size_t>(blk) * kPredictBlock;
      const size_t last = std::min(n, first + kPredictBlock);
      const size_t rows = last - first;
      const size_t p = x.cols();
      // The block's rows, row-major: every tree reads them from L1.
      std::vector<float> block(rows * p);
      for (size_t f = 0; f < p; ++f) {
        const float* col = x.column(f) + first;
        for (size_t r = 0; r < rows; ++r) block[r * p + f] = col[r];
      }
      double acc[kPredictBlock][kNumClasses] = {};
      int32_t at[kPredictBlock];
      for (const Tree& tree : trees_) {
        std::fill(at, at + rows, 0);
        const Node* walk = tree.walk.data();
        for (int d = 0; d < tree.depth; ++d) {
          for (size_t r = 0; r < rows; ++r) {
            const Node& nd = walk[at[r]];
            // Branch-free child choice: the direction is unpredictable.
            const int32_t go_left = goes_left(nd, block[r * p + nd.feature]) ? 1 : 0;
            at[r] = nd.right + ((nd.left - nd.right) & -go_left);
          }
        }
        for (size_t r = 0; r < rows; ++r) {
          const double* v = tree.value.data() + static_cast<size_t>(at[r]) * kNumClasses;
          for (int c = 0; c < kNumClasses; ++c) acc[r][c] += v[c];
        }
      }
      for (size_t i = first; i < last; ++i) {
        for (int c = 0; c < kNumClasses; ++c)
          out[i * kNumClasses + c] = acc[i - first][c] / n_trees;
      }
    }
    return out;
  }

  ForestSettings settings_;
  size_t n_features_ = 0;
  std::vector<Tree> trees_;
  bool has_oob_ = false;
  Probabilities oob_;
  std::vector<bool> oob_covered_;
};

void check_training_data(const TabularData& data) {
  const size_t n = data.rows();
  if (n == 0) throw InputError("cannot fit a tree model on 0 rows");
  if (data.x.rows() != n || data.group.size() != n) {
    std::ostringstream msg;
    msg << "tabular data is inconsistent: " << data.x.rows() << " feature rows, " << n
        << " labels, " << data.group.size() << " group entries";
    throw InputError(msg.str());
  }
  if (!data.group2.empty() && data.group2.size() != n) {
    throw InputError("tabular data is inconsistent: group2 has " +
                     std::to_string(data.group2.size()) + " entries for " + std::to_string(n) +
                     " rows");
  }
}

void Forest::fit(const TabularData& data) {
  check_training_data(data);
  const size_t n = data.rows();
  const size_t p = data.x.cols();
  if (p == 0) throw InputError("cannot fit a forest on 0 features");

  Problem pb;
  pb.settings = &settings_;
  pb.x = &data.x;
  pb.label.assign(data.y.begin(), data.y.end());
  pb.class_weight = row_weights(data, settings_.class_weight);
  // Dense patient indices over every patient named by group or group2.
  std::map<int, int32_t> dense;
  for (size_t i = 0; i < n; ++i) {
    if (data.group[i] < 0) throw InputError("row " + std::to_string(i) + " has no patient group");
    dense.emplace(data.group[i], 0);
    if (!data.group2.empty() && data.group2[i] >= 0) dense.emplace(data.group2[i], 0);
  }
  int32_t next = 0;
  for (auto& kv : dense) kv.second = next++;
  pb.n_groups = next;
  pb.group.resize(n);
  pb.group2.assign(n, -1);
  for (size_t i = 0; i < n; ++i) {
    pb.group[i] = dense[data.group[i]];
    if (!data.group2.empty() && data.group2[i] >= 0) pb.group2[i] = dense[data.group2[i]];
  }
  if (settings_.max_features <= 0.0) {
    pb.mtry = static_cast<int>(std::sqrt(static_cast<double>(p)));
  } else {
    pb.mtry = static_cast<int>(settings_.max_features * static_cast<double>(p));
  }
  pb.mtry = std::clamp(pb.mtry, 1, static_cast<int>(p));

  const BinnedData bins = bin_features(data.x, settings_.max_bins, settings_.threads);
  pb.bins = &bins;

  const int n_trees = settings_.n_trees;
  trees_.assign(n_trees, Tree());
  std::vector<std::vector<std::pair<int32_t, int32_t>>> oob_leaf(n_trees);
#pragma omp parallel num_threads(settings_.threads)
  {
    Workspace ws;
#pragma omp for schedule(dynamic, 1)
    for (int t = 0; t < n_trees; ++t) {
      trees_[t] =
          grow_tree(pb, ws, mix_seed(settings_.seed, static_cast<uint64_t>(t)), &oob_leaf[t]);
    }
  }
  n_features_ = p;

  has_oob_ = settings_.bootstrap;
  oob_.clear();
  oob_covered_.clear();
  if (!has_oob_) return;
  // Mean over the trees where the row was out of bag, summed in tree order.
  oob_.assign(n * kNumClasses, 0.0);
  std::vector<int> used(n, 0);
  for (int t = 0; t < n_trees; ++t) {
    for (const auto& [row, leaf] : oob_leaf[t]) {
      const double* v = trees_[t].value.data() + static_cast<size_t>(leaf) * kNumClasses;
      for (int c = 0; c < kNumClasses; ++c) oob_[row * kNumClasses + c] += v[c];
      ++used[row];
    }
  }
  oob_covered_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    oob_covered_[i] = used[i] > 0;
    for (int c = 0; c < kNumClasses; ++c) {
      oob_[i * kNumClasses + c] = used[i] > 0 ? oob_[i * kNumClasses + c] / used[i] : 0.0;
    }
  }
}

Probabilities Forest::predict(const Matrix& x) const {
  if (trees_.empty()) throw std::logic_error("forest predict() called before fit()");
  if (x.cols() != n_features_) {
    throw InputError("forest was fitted on " + std::to_string(n_features_) +
                     " features but is asked to predict " + std::to_string(x.cols()));
  }
  return average(x);
}

Probabilities Forest::oob(std::vector<bool>* covered) const {
  if (!has_oob_)
    throw std::logic_error("forest has no out-of-bag estimate (bootstrap off or not fitted)");
  if (covered != nullptr) *covered = oob_covered_;
  return oob_;
}

Contributions Forest::contributions(const Matrix& x) const {
  if (trees_.empty()) throw std::logic_error("forest contributions() called before fit()");
  if (x.cols() != n_features_) {
    throw InputError("forest was fitted on " + std::to_string(n_features_) +
                     " features but is asked to explain " + std::to_string(x.cols()));
  }
  std::vector<tabular_detail::ShapTree> trees(trees_.size());
  for (size_t t = 0; t < trees_.size(); ++t) {
    const Tree& tree = trees_[t];
    if (tree.cover.size() != tree.nodes.size())
      throw InputError(
          "this forest was saved before explanations existed (no node cover): train the bundle "
          "again to explain it");
    tabular_detail::ShapTree& out = trees[t];
    out.n_outputs = kNumClasses;
    out.value = tree.value;
    out.nodes.resize(tree.nodes.size());
    for (size_t k = 0; k < tree.nodes.size(); ++k) {
      const Node& nd = tree.nodes[k];
      out.nodes[k] = {nd.feature, nd.left, nd.right, nd.missing_left, nd.threshold, tree.cover[k]};
    }
    out.finish();
  }
  return tabular_detail::explain_mean_of_trees(trees, x, settings_.threads);
}

nlohmann::json settings_json(const ForestSettings& s) {
  return {{"n_trees", s.n_trees},
          {"max_depth", s.max_depth},
          {"min_samples_leaf", s.min_samples_leaf},
          {"min_samples_split", s.min_samples_split},
          {"max_features", s.max_features},
          {"max_bins", s.max_bins},
          {"bootstrap", s.bootstrap},
          {"class_weight", to_string(s.class_weight)},
          {"threads", s.threads},
          {"seed", s.seed}};
}

nlohmann::json Forest::to_json() const {
  nlohmann::json trees = nlohmann::json::array();
  for (const Tree& t : trees_) {
    std::vector<int32_t> feature, left, right;
    std::vector<double> threshold;
    std::vector<int> missing_left;
    for (const Node& nd : t.nodes) {
      feature.push_back(nd.feature);
      left.push_back(nd.left);
      right.push_back(nd.right);
      threshold.push_back(nd.threshold);
      missing_left.push_back(nd.missing_left ? 1 : 0);
    }
    trees.push_back({{"feature", feature},
                     {"threshold", threshold},
                     {"missing_left", missing_left},
                     {"left", left},
                     {"right", right},
                     {"value", t.value},
                     {"cover", t.cover}});
  }
  return {{"kind", "rf"},
          {"format_version", tabular_detail::kJsonFormatVersion},
          {"settings", settings_json(settings_)},
          {"n_features", n_features_},
          {"trees", trees}};
}

std::unique_ptr<TreeModel> Forest::from_json(const nlohmann::json& j) {
  try {
    const nlohmann::json& js = j.at("settings");
    ForestSettings s;
    s.n_trees = js.at("n_trees").get<int>();
    s.max_depth = js.at("max_depth").get<int>();
    s.min_samples_leaf = js.at("min_samples_leaf").get<int>();
    s.min_samples_split = js.at("min_samples_split").get<int>();
    s.max_features = js.at("max_features").get<double>();
    s.max_bins = js.at("max_bins").get<int>();
    s.bootstrap = js.at("bootstrap").get<bool>();
    s.class_weight = parse_class_weight(js.at("class_weight").get<std::string>());
    s.threads = js.at("threads").get<int>();
    s.seed = js.at("seed").get<unsigned long long>();
    auto forest = std::make_unique<Forest>(s);
    forest->n_features_ = j.at("n_features").get<size_t>();
    for (const nlohmann::json& jt : j.at("trees")) {
      const auto feature = jt.at("feature").get<std::vector<int32_t>>();
      const auto threshold = jt.at("threshold").get<std::vector<double>>();
      const auto missing_left = jt.at("missing_left").get<std::vector<int>>();
      const auto left = jt.at("left").get<std::vector<int32_t>>();
      const auto right = jt.at("right").get<std::vector<int32_t>>();
      Tree t;
      t.value = jt.at("value").get<std::vector<double>>();
      if (jt.contains("cover")) t.cover = jt.at("cover").get<std::vector<double>>();
      const size_t m = feature.size();
      if (m == 0 || threshold.size() != m || missing_left.size() != m || left.size() != m ||
          right.size() != m || t.value.size() != m * kNumClasses ||
          (!t.cover.empty() && t.cover.size() != m)) {
        throw InputError("forest JSON has a tree with inconsistent array lengths");
      }
      t.nodes.resize(m);
      for (size_t k = 0; k < m; ++k) {
        Node& nd = t.nodes[k];
        nd.feature = feature[k];
        nd.threshold = threshold[k];
        nd.missing_left = missing_left[k] != 0;
        nd.left = left[k];
        nd.right = right[k];
        // Children come after their parent, so traversal always ends at a leaf.
        const auto self = static_cast<int32_t>(k);
        const auto count = static_cast<int32_t>(m);
        if (nd.feature >= static_cast<int32_t>(forest->n_features_) ||
            (nd.feature >= 0 &&
             (nd.left <= self || nd.right <= self || nd.left >= count || nd.right >= count))) {
          throw InputError("forest JSON has a malformed tree node");
        }
      }
      t.prepare();
      forest->trees_.push_back(std::move(t));
    }
    if (forest->trees_.empty()) throw InputError("forest JSON has no trees");
    return forest;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("forest JSON is malformed: ") + e.what());
  }
}

}  // namespace

std::unique_ptr<TreeModel> make_forest(const ForestSettings& s) {
  return std::make_unique<Forest>(s);
}

namespace tabular_detail {
std::unique_ptr<TreeModel> forest_from_json(const nlohmann::json& j) {
  return Forest::from_json(j);
}
}  // namespace tabular_detail

}  // namespace woundphase

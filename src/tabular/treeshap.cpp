// Exact path-dependent TreeSHAP, following the recursion of Lundberg et al. (2018), Algorithm 2:
// one walk down the tree keeps, for the unique features on the path so far, the fraction of
// training weight that agrees with the row (one_fraction, 0 or 1) and the fraction that reaches
// the node when the feature is unknown (zero_fraction), and the permutation weights of every
// subset size; at a leaf, each path feature's Shapley weight is the path with that feature
// unwound. Cost O(leaves * depth^2) per tree and row.
#include "tabular/treeshap.h"

#include <algorithm>  // for copy, max
#include <cmath>      // for isnan
#include <cstdint>    // for int64_t
#include <stdexcept>  // for logic_error

namespace woundphase::tabular_detail {

namespace {

struct PathElement {
  int32_t feature = -1;  // -1: the root's placeholder
  double zero_fraction = 0.0;
  double one_fraction = 0.0;
  double pweight = 0.0;
};

// Appends a feature to the path of `depth` elements and updates the subset-size weights.
void extend_path(PathElement* path, int depth, double zero_fraction, double one_fraction,
                 int32_t feature) {
  path[depth].feature = feature;
  path[depth].zero_fraction = zero_fraction;
  path[depth].one_fraction = one_fraction;
  path[depth].pweight = depth == 0 ? 1.0 : 0.0;
  const double d1 = depth + 1;
  for (int i = depth - 1; i >= 0; --i) {
    path[i + 1].pweight += one_fraction * path[i].pweight * (i + 1) / d1;
    path[i].pweight = zero_fraction * path[i].pweight * (depth - i) / d1;
  }
}

// Undoes extend_path for the element at `index` (the inverse of its weight update) and removes it.
void unwind_path(PathElement* path, int depth, int index) {
  const double one = path[index].one_fraction;
  const double zero = path[index].zero_fraction;
  double next_one_portion = path[depth].pweight;
  const double d1 = depth + 1;
  for (int i = depth - 1; i >= 0; --i) {
    if (one != 0.0) {
      const double tmp = path[i].pweight;
      path[i].pweight = next_one_portion * d1 / ((i + 1) * one);
      next_one_portion = tmp - path[i].pweight * zero * (depth - i) / d1;
    } else {
      path[i].pweight = path[i].pweight * d1 / (zero * (depth - i));
    }
  }
  for (int i = index; i < depth; ++i) {
    path[i].feature = path[i + 1].feature;
    path[i].zero_fraction = path[i + 1].zero_fraction;
    path[i].one_fraction = path[i + 1].one_fraction;
  }
}

// The total permutation weight of the path with the element at `index` unwound (without
// modifying the path).
double unwound_path_sum(const PathElement* path, int depth, int index) {
  const double one = path[index].one_fraction;
  const double zero = path[index].zero_fraction;
  double next_one_portion = path[depth].pweight;
  double total = 0.0;
  const double d1 = depth + 1;
  for (int i = depth - 1; i >= 0; --i) {
    if (one != 0.0) {
      const double tmp = next_one_portion * d1 / ((i + 1) * one);
      total += tmp;
      next_one_portion = path[i].pweight - tmp * zero * (depth - i) / d1;
    } else {
      total += path[i].pweight / zero / ((depth - i) / d1);
    }
  }
  return total;
}

struct Walk {
  const ShapTree& tree;
  const float* row;
  size_t n_features;
  double* phi;

  void recurse(int32_t node, int depth, PathElement* parent_path, double parent_zero,
               double parent_one, int32_t parent_feature) {
    // Each level works on its own copy of the path, right after its parent's.
    PathElement* path = parent_path + depth + 1;
    std::copy(parent_path, parent_path + depth + 1, path);
    extend_path(path, depth, parent_zero, parent_one, parent_feature);
    const ShapNode& nd = tree.nodes[node];
    if (nd.feature < 0) {
      const double* value = tree.value.data() + static_cast<size_t>(node) * tree.n_outputs;
      for (int i = 1; i <= depth; ++i) {
        const PathElement& el = path[i];
        const double scale =
            unwound_path_sum(path, depth, i) * (el.one_fraction - el.zero_fraction);
        for (int o = 0; o < tree.n_outputs; ++o)
          phi[o * (n_features + 1) + el.feature] += scale * value[o];
      }
      return;
    }
    const bool left = tree.goes_left(node, row[nd.feature]);
    const int32_t hot = left ? nd.left : nd.right;
    const int32_t cold = left ? nd.right : nd.left;
    const double hot_zero = tree.nodes[hot].cover / nd.cover;
    const double cold_zero = tree.nodes[cold].cover / nd.cover;
    double incoming_zero = 1.0;
    double incoming_one = 1.0;
    // A feature already on the path is unwound, so it appears once with its combined fractions.
    int index = 0;
    for (; index <= depth; ++index)
      if (path[index].feature == nd.feature) break;
    if (index <= depth) {
      incoming_zero = path[index].zero_fraction;
      incoming_one = path[index].one_fraction;
      unwind_path(path, depth, index);
      --depth;
    }
    recurse(hot, depth + 1, path, hot_zero * incoming_zero, incoming_one, nd.feature);
    recurse(cold, depth + 1, path, cold_zero * incoming_zero, 0.0, nd.feature);
  }
};

}  // namespace

bool ShapTree::goes_left(int32_t k, float x) const {
  const ShapNode& nd = nodes[k];
  if (std::isnan(x)) return nd.missing_left;
  return static_cast<double>(x) <= nd.threshold;
}

void ShapTree::finish() {
  if (nodes.empty() || value.size() != nodes.size() * static_cast<size_t>(n_outputs))
    throw std::logic_error("explained tree: no nodes or value array of the wrong length");
  std::vector<int> node_depth(nodes.size(), 0);
  depth = 0;
  const auto count = static_cast<int32_t>(nodes.size());
  for (int32_t k = 0; k < count; ++k) {
    const ShapNode& nd = nodes[k];
    if (!(nd.cover > 0.0)) throw std::logic_error("explained tree: a node without cover");
    if (nd.feature < 0) {
      depth = std::max(depth, node_depth[k]);
      continue;
    }
    // Children after their parent: every walk ends at a leaf.
    if (nd.left <= k || nd.right <= k || nd.left >= count || nd.right >= count)
      throw std::logic_error("explained tree: a child does not follow its parent");
    node_depth[nd.left] = node_depth[nd.right] = node_depth[k] + 1;
  }
}

std::vector<double> ShapTree::expected_value() const {
  // Children follow their parent: accumulate bottom-up.
  std::vector<double> e(value.size(), 0.0);
  for (size_t k = nodes.size(); k-- > 0;) {
    const ShapNode& nd = nodes[k];
    double* out = e.data() + k * n_outputs;
    if (nd.feature < 0) {
      std::copy(value.begin() + k * n_outputs, value.begin() + (k + 1) * n_outputs, out);
      continue;
    }
    const double wl = nodes[nd.left].cover / nd.cover;
    const double wr = nodes[nd.right].cover / nd.cover;
    for (int o = 0; o < n_outputs; ++o)
      out[o] = wl * e[nd.left * n_outputs + o] + wr * e[nd.right * n_outputs + o];
  }
  return {e.begin(), e.begin() + n_outputs};
}

void tree_shap(const ShapTree& tree, const float* row, size_t n_features, double* phi) {
  // Path copies of depth 0..D+1, each one element longer than the last.
  const size_t levels = static_cast<size_t>(tree.depth) + 2;
  std::vector<PathElement> paths(levels * (levels + 1) / 2 + levels);
  Walk walk{tree, row, n_features, phi};
  walk.recurse(0, 0, paths.data(), 1.0, 1.0, -1);
}

std::vector<double> path_dependent_expectation(const ShapTree& tree, const float* row,
                                               const std::vector<bool>& known) {
  std::vector<double> e(tree.value.size(), 0.0);
  for (size_t k = tree.nodes.size(); k-- > 0;) {
    const ShapNode& nd = tree.nodes[k];
    double* out = e.data() + k * tree.n_outputs;
    if (nd.feature < 0) {
      for (int o = 0; o < tree.n_outputs; ++o) out[o] = tree.value[k * tree.n_outputs + o];
      continue;
    }
    double wl = tree.nodes[nd.left].cover / nd.cover;
    double wr = tree.nodes[nd.right].cover / nd.cover;
    if (known[nd.feature]) {
      const bool left = tree.goes_left(static_cast<int32_t>(k), row[nd.feature]);
      wl = left ? 1.0 : 0.0;
      wr = left ? 0.0 : 1.0;
    }
    for (int o = 0; o < tree.n_outputs; ++o)
      out[o] = wl * e[nd.left * tree.n_outputs + o] + wr * e[nd.right * tree.n_outputs + o];
  }
  return {e.begin(), e.begin() + tree.n_outputs};
}

Contributions explain_mean_of_trees(const std::vector<ShapTree>& trees, const Matrix& x,
                                    int threads) {
  Contributions out;
  out.rows = x.rows();
  out.features = x.cols();
  out.scale = ContributionScale::kProbability;
  const size_t stride = out.features + 1;
  out.values.assign(out.rows * kNumClasses * stride, 0.0);
  std::vector<double> base(kNumClasses, 0.0);
  for (const ShapTree& t : trees) {
    const std::vector<double> e = t.expected_value();
    for (int c = 0; c < kNumClasses; ++c) base[c] += e[c];
  }
  const double n_trees = static_cast<double>(trees.size());
  const auto rows = static_cast<int64_t>(out.rows);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8)
  for (int64_t i = 0; i < rows; ++i) {
    std::vector<float> row(out.features);
    for (size_t f = 0; f < out.features; ++f) row[f] = x.at(static_cast<size_t>(i), f);
    double* phi = out.values.data() + static_cast<size_t>(i) * kNumClasses * stride;
    for (const ShapTree& t : trees) tree_shap(t, row.data(), out.features, phi);
    for (int c = 0; c < kNumClasses; ++c) {
      for (size_t f = 0; f < out.features; ++f) phi[c * stride + f] /= n_trees;
      phi[c * stride + out.features] = base[c] / n_trees;
    }
  }
  return out;
}

}  // namespace woundphase::tabular_detail

namespace woundphase {

std::string to_string(ContributionScale s) {
  return s == ContributionScale::kProbability ? "probability" : "margin";
}

Contributions TreeModel::contributions(const Matrix& x) const {
  (void)x;
  throw InputError(
      "this tree model has no additive explanation (--ordinal and --model stack combine several "
      "models nonlinearly): explanations need --model rf or gbdt");
}

}  // namespace woundphase

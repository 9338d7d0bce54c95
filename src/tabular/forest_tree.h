// Internal to src/tabular: the random forest's trees and how one is grown (tree_grower.cpp) —
// features binned once per fit, histogram split search, patient bootstrap and out-of-bag routing —
// shared with the forest itself (forest.cpp: fitting many trees, prediction, JSON, TreeSHAP).
#pragma once

#include <algorithm>  // for max
#include <cstdint>    // for int32_t, uint16_t, uint64_t
#include <utility>    // for pair
#include <vector>

#include "tabular/models.h"

namespace woundphase::forest_internal {

// Split scans keep prefix sums of the left side: one array per class plus the row count.
constexpr int kPrefixArrays = kNumClasses + 1;

struct Node {
  int32_t feature = -1;  // -1 marks a leaf
  int32_t left = -1;
  int32_t right = -1;
  bool missing_left = false;
  double threshold = 0.0;  // x <= threshold goes left
};

struct Tree {
  std::vector<Node> nodes;
  std::vector<double> value;  // kNumClasses per node: class probabilities at leaves, 0 elsewhere
  // Weighted training rows (class weight x bootstrap count) that reached each node: TreeSHAP's
  // node cover. Empty for a tree restored from a bundle written before explanations existed.
  std::vector<double> cover;
  // For prediction: the nodes with every leaf looping to itself (feature 0), so all rows can
  // take `depth` steps in lock-step without branching on leaves.
  std::vector<Node> walk;
  int depth = 0;

  void prepare() {
    walk = nodes;
    std::vector<int> node_depth(nodes.size(), 0);
    depth = 0;
    for (size_t k = 0; k < nodes.size(); ++k) {
      Node& w = walk[k];
      if (w.feature < 0) {
        w.feature = 0;
        w.left = w.right = static_cast<int32_t>(k);
        depth = std::max(depth, node_depth[k]);
      } else {
        node_depth[w.left] = node_depth[w.right] = node_depth[k] + 1;
      }
    }
  }
};

// Go left? NaN compares false, so missing values take the node's missing side.
inline bool goes_left(const Node& nd, float v) {
  return (v <= nd.threshold) | (is_missing(v) & nd.missing_left);
}

// A feature's bins over the training rows. Bin b holds values in (upper[b-1], upper[b]]; the
// missing rows get bin n_bins.
struct FeatureBins {
  std::vector<double> upper;  // n_bins - 1 increasing boundaries, midway between bin values
  std::vector<float> value;   // exact mode (one value per bin): the bin's value; else empty
  int n_bins = 1;
};

struct BinnedData {
  size_t rows = 0;
  std::vector<uint16_t> codes;  // column-major, like Matrix
  std::vector<FeatureBins> features;
  size_t max_slots = 0;  // largest n_bins + 1 (missing slot)
  const uint16_t* column(size_t f) const { return codes.data() + f * rows; }
};

// Bins every feature of `x` into at most `max_bins` bins (exact when it has fewer values).
BinnedData bin_features(const Matrix& x, int max_bins, int threads);

// Class weights and row count of a set of rows; also one row's contribution (its bootstrap
// count x class weight in its class, its bootstrap count in n). Four adjacent doubles, so adding
// two is a pair of SIMD adds.
struct Stats {
  double w[kNumClasses] = {};
  double n = 0.0;  // bootstrap-weighted row count (what min_samples_leaf/split count); exact
  void add(const Stats& s) {
    for (int c = 0; c < kNumClasses; ++c) w[c] += s.w[c];
    n += s.n;
  }
  Stats minus(const Stats& s) const {
    Stats d = *this;
    for (int c = 0; c < kNumClasses; ++c) d.w[c] -= s.w[c];
    d.n -= s.n;
    return d;
  }
  double total() const {
    double t = 0.0;
    for (double v : w) t += v;
    return t;
  }
};

// The data and settings every tree of one fit shares (read-only while trees grow).
struct Problem {
  const Matrix* x = nullptr;
  const BinnedData* bins = nullptr;
  std::vector<int32_t> label;
  std::vector<double> class_weight;  // per row
  std::vector<int32_t> group;        // dense patient index per row
  std::vector<int32_t> group2;       // dense second parent, -1 for real rows
  int n_groups = 0;
  int mtry = 1;
  const ForestSettings* settings = nullptr;
};

// Buffers one thread reuses for every tree it grows.
struct Workspace {
  std::vector<Stats> rows;       // per data row: its contribution to this tree
  std::vector<int32_t> index;    // in-bag row indices, partitioned in place per node
  std::vector<int32_t> oob;      // out-of-bag row indices, routed down the tree alongside
  std::vector<int32_t> scratch;  // right-hand rows while partitioning
  std::vector<int32_t> group_count;
  std::vector<Stats> hist;        // one slot per bin + missing
  std::vector<uint64_t> present;  // bitmap of the bins present in the current node
  std::vector<uint16_t> order;    // present non-missing bins, ascending
  std::vector<int32_t> features;  // feature permutation (partial Fisher-Yates per node)
  size_t prefix_stride = 0;       // length of each prefix / score array
  std::vector<double> prefix;     // kPrefixArrays arrays: left class weights and count
  std::vector<double> score;      // 2 arrays: missing right, missing left
};

// Grows one tree from `seed` with `ws`'s buffers. With bootstrap, the out-of-bag rows (patient not
// drawn; for a synthetic row, neither parent drawn) are routed down the finished splits by their
// raw values, exactly as prediction routes them, and `oob_leaf` receives their (row, leaf) pairs.
Tree grow_tree(const Problem& pb, Workspace& ws, uint64_t seed,
               std::vector<std::pair<int32_t, int32_t>>* oob_leaf);

}  // namespace woundphase::forest_internal

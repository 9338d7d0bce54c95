// Internal to src/tabular: exact path-dependent TreeSHAP (Lundberg, Erion & Lee 2018, "Consistent
// individualized feature attribution for tree ensembles", Algorithm 2) over a plain binary tree.
// The forest hands its trees over in this form; tests check it against brute-force Shapley values.
#pragma once

#include <cstddef>  // for size_t
#include <cstdint>  // for int32_t
#include <vector>

#include "woundphase/tabular.h"  // for Contributions, Matrix

namespace woundphase::tabular_detail {

// One node of an explained tree. A value x of the node's feature goes left when
// x <= threshold, and a missing (NaN) value goes to the missing side.
struct ShapNode {
  int32_t feature = -1;  // -1 marks a leaf
  int32_t left = -1;
  int32_t right = -1;
  bool missing_left = false;
  double threshold = 0.0;
  double cover = 0.0;  // training weight that reached the node (> 0)
};

struct ShapTree {
  std::vector<ShapNode> nodes;  // node 0 is the root
  std::vector<double> value;    // n_outputs per node; only the leaves' are read
  int n_outputs = 1;
  int depth = 0;  // longest root-to-leaf path (edges)

  // Whether a row's value `x` of node `k`'s feature goes left.
  bool goes_left(int32_t k, float x) const;
  // The cover-weighted mean of the leaf values (the explanation's base), n_outputs values.
  std::vector<double> expected_value() const;
  // Computes `depth` from the children; throws std::logic_error on a malformed tree.
  void finish();
};

// Adds the row's TreeSHAP values to `phi`: phi[o * (n_features + 1) + f] for output o and feature
// f < n_features. The base (expected value) is not added here. With the base, the contributions
// of each output sum to the tree's output for the row.
void tree_shap(const ShapTree& tree, const float* row, size_t n_features, double* phi);

// The conditional expectation TreeSHAP explains: the tree's output for `row` when only the
// features with `known[f]` are known and the others are integrated out by node cover (the
// path-dependent expectation). Exponential in nothing; used to check tree_shap by brute force.
std::vector<double> path_dependent_expectation(const ShapTree& tree, const float* row,
                                               const std::vector<bool>& known);

// Contributions of a model whose output is the mean of the trees' outputs (kNumClasses each):
// the mean of the trees' SHAP values, and as base the mean of their expected values. Rows are
// explained in parallel; each row's sums run in tree order, so the result is thread-independent.
Contributions explain_mean_of_trees(const std::vector<ShapTree>& trees, const Matrix& x,
                                    int threads);

}  // namespace woundphase::tabular_detail

// Patient-grouped, class-stratified splits: K folds, a single train/test split, data percentage.
#pragma once

#include <vector>

#include "woundphase/core.h"

namespace woundphase {

// Each group (patient) has class counts over its rows; a split never puts one group in two parts.
// `fold_of_group[g]` is the part of group g (0..parts-1).
struct GroupAssignment {
  std::vector<int> fold_of_group;
  int parts = 0;
};

// Groups' class counts from row labels and row groups (group ids 0..n_groups-1).
std::vector<std::vector<int>> group_class_counts(const std::vector<int>& y,
                                                 const std::vector<int>& group, int n_groups);

// Greedy stratified group split (as scikit-learn's StratifiedGroupKFold, generalised to target
// fractions): groups are shuffled with `seed`, ordered by how concentrated their classes are, then
// each goes to the part whose per-class counts stay closest to that part's share of the whole.
// "Concentrated" is scikit-learn's key, the standard deviation of the group's class counts (large
// one-class groups first; the order is stable, so the seeded shuffle breaks ties). Ties between
// parts go to the part with the fewest rows relative to its fraction.
// `fractions` must be positive and sum to 1. Groups with no rows are assigned part -1.
GroupAssignment stratified_group_split(const std::vector<std::vector<int>>& class_counts,
                                       const std::vector<double>& fractions,
                                       unsigned long long seed);

// K equal folds (k >= 2). Throws InputError if there are fewer non-empty groups than folds.
GroupAssignment stratified_group_kfold(const std::vector<std::vector<int>>& class_counts, int k,
                                       unsigned long long seed);

// Keeps `percentage` % (0 < p <= 100) of the groups, stratified by class mix; returns kept flags.
// Groups are stratified by their majority class (ties to the lower class); round(p% of the
// non-empty groups), at least 1, are kept. Groups with no rows are never kept.
std::vector<bool> keep_group_percentage(const std::vector<std::vector<int>>& class_counts,
                                        double percentage, unsigned long long seed);

}  // namespace woundphase

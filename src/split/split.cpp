#include "woundphase/split.h"

#include <algorithm>  // for stable_sort, max_element
#include <cmath>      // for sqrt, fabs, llround
#include <numeric>    // for accumulate, iota
#include <random>     // for mt19937_64
#include <stdexcept>  // for invalid_argument
#include <string>

namespace woundphase {

namespace {

// Fractions must sum to 1 within this tolerance.
constexpr double kFractionSumTolerance = 1e-6;
// Two candidate parts score the same when their spreads agree this closely (numpy.isclose).
constexpr double kTieRelative = 1e-5;
constexpr double kTieAbsolute = 1e-8;

// Uniform integer in [0, n) by rejection: unlike std::uniform_int_distribution its output is the
// same on every standard library, so a seed gives the same split everywhere.
uint64_t bounded(std::mt19937_64& rng, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;  // 2^64 mod n: the biased low range to reject
  for (;;) {
    const uint64_t r = rng();
    if (r >= threshold) return r % n;
  }
}

template <typename T>
void shuffle(std::vector<T>& items, std::mt19937_64& rng) {
  for (size_t i = items.size(); i > 1; --i) {
    const size_t j = bounded(rng, i);
    std::swap(items[i - 1], items[j]);
  }
}

int total(const std::vector<int>& counts) {
  return std::accumulate(counts.begin(), counts.end(), 0);
}

// Population standard deviation of a group's class counts (scikit-learn's ordering key): large
// one-class groups score highest, so they are placed first, while the parts are still empty.
// On the DFU metadata this keeps 5-fold class shares within ~1 point of the whole, against ~4
// points when ordering by the spread of class proportions (which ignores group size).
double count_std(const std::vector<int>& counts) {
  double mean = 0.0;
  for (int c : counts) mean += c;
  mean /= counts.size();
  double var = 0.0;
  for (int c : counts) var += (c - mean) * (c - mean);
  return std::sqrt(var / counts.size());
}

bool is_close(double a, double b) {
  return std::fabs(a - b) <= kTieAbsolute + kTieRelative * std::fabs(b);
}

int majority_class(const std::vector<int>& counts) {
  return static_cast<int>(std::max_element(counts.begin(), counts.end()) - counts.begin());
}

void check_counts(const std::vector<std::vector<int>>& class_counts) {
  for (const auto& counts : class_counts) {
    if (counts.size() != static_cast<size_t>(kNumClasses))
      throw std::invalid_argument("class counts must have one entry per class");
  }
}

}  // namespace

std::vector<std::vector<int>> group_class_counts(const std::vector<int>& y,
                                                 const std::vector<int>& group, int n_groups) {
  if (y.size() != group.size())
    throw std::invalid_argument("group_class_counts: labels and groups differ in length");
  if (n_groups < 0) throw std::invalid_argument("group_class_counts: negative group count");
  std::vector<std::vector<int>> counts(n_groups, std::vector<int>(kNumClasses, 0));
  for (size_t i = 0; i < y.size(); ++i) {
    if (group[i] < 0 || group[i] >= n_groups)
      throw std::invalid_argument("group_class_counts: group id out of range at row " +
                                  std::to_string(i));
    if (y[i] < 0 || y[i] >= kNumClasses)
      throw std::invalid_argument("group_class_counts: label out of range at row " +
                                  std::to_string(i));
    ++counts[group[i]][y[i]];
  }
  return counts;
}

GroupAssignment stratified_group_split(const std::vector<std::vector<int>>& class_counts,
                                       const std::vector<double>& fractions,
                                       unsigned long long seed) {
  check_counts(class_counts);
  if (fractions.empty()) throw InputError("split: no parts requested");
  double sum = 0.0;
  for (double f : fractions) {
    if (!(f > 0.0)) throw InputError("split: every part fraction must be positive");
    sum += f;
  }
  if (std::fabs(sum - 1.0) > kFractionSumTolerance)
    throw InputError("split: part fractions must sum to 1, got " + std::to_string(sum));

  const int parts = static_cast<int>(fractions.size());
  GroupAssignment out;
  out.parts = parts;
  out.fold_of_group.assign(class_counts.size(), -1);

  std::vector<int> order;
  std::vector<int> class_total(kNumClasses, 0);
  for (size_t g = 0; g < class_counts.size(); ++g) {
    if (total(class_counts[g]) == 0) continue;
    order.push_back(static_cast<int>(g));
    for (int c = 0; c < kNumClasses; ++c) class_total[c] += class_counts[g][c];
  }
  std::mt19937_64 rng(seed);
  shuffle(order, rng);
  std::vector<double> concentration(class_counts.size(), 0.0);
  for (int g : order) concentration[g] = count_std(class_counts[g]);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return concentration[a] > concentration[b]; });

  // part_counts[p][c]: rows of class c in part p so far. A part is on target when it holds its
  // fraction of every class, so the spread is measured on count / (fraction * class total).
  std::vector<std::vector<double>> part_counts(parts, std::vector<double>(kNumClasses, 0.0));
  std::vector<double> part_rows(parts, 0.0);
  auto spread = [&]() {
    double mean_std = 0.0;
    int classes = 0;
    for (int c = 0; c < kNumClasses; ++c) {
      if (class_total[c] == 0) continue;
      double mean = 0.0;
      for (int p = 0; p < parts; ++p) mean += part_counts[p][c] / (fractions[p] * class_total[c]);
      mean /= parts;
      double var = 0.0;
      for (int p = 0; p < parts; ++p) {
        const double d = part_counts[p][c] / (fractions[p] * class_total[c]) - mean;
        var += d * d;
      }
      mean_std += std::sqrt(var / parts);
      ++classes;
    }
    return classes > 0 ? mean_std / classes : 0.0;
  };

  for (int g : order) {
    const auto& counts = class_counts[g];
    int best = -1;
    double best_spread = 0.0;
    double best_load = 0.0;
    for (int p = 0; p < parts; ++p) {
      for (int c = 0; c < kNumClasses; ++c) part_counts[p][c] += counts[c];
      const double s = spread();
      for (int c = 0; c < kNumClasses; ++c) part_counts[p][c] -= counts[c];
      const double load = part_rows[p] / fractions[p];  // rows relative to the part's target
      const bool better = best < 0 || (s < best_spread && !is_close(s, best_spread)) ||
                          (is_close(s, best_spread) && load < best_load);
      if (better) {
        best = p;
        best_spread = s;
        best_load = load;
      }
    }
    out.fold_of_group[g] = best;
    for (int c = 0; c < kNumClasses; ++c) part_counts[best][c] += counts[c];
    part_rows[best] += total(counts);
  }
  return out;
}

GroupAssignment stratified_group_kfold(const std::vector<std::vector<int>>& class_counts, int k,
                                       unsigned long long seed) {
  check_counts(class_counts);
  if (k < 2) throw InputError("cross-validation needs at least 2 folds, got " + std::to_string(k));
  int non_empty = 0;
  for (const auto& counts : class_counts) non_empty += total(counts) > 0 ? 1 : 0;
  if (non_empty < k)
    throw InputError("cannot make " + std::to_string(k) + " folds from " +
                     std::to_string(non_empty) + " patients");
  return stratified_group_split(class_counts, std::vector<double>(k, 1.0 / k), seed);
}

std::vector<bool> keep_group_percentage(const std::vector<std::vector<int>>& class_counts,
                                        double percentage, unsigned long long seed) {
  check_counts(class_counts);
  if (!(percentage > 0.0 && percentage <= 100.0))
    throw InputError("data percentage must be in (0, 100], got " + std::to_string(percentage));

  std::vector<std::vector<int>> strata(kNumClasses);
  int non_empty = 0;
  for (size_t g = 0; g < class_counts.size(); ++g) {
    if (total(class_counts[g]) == 0) continue;
    strata[majority_class(class_counts[g])].push_back(static_cast<int>(g));
    ++non_empty;
  }
  std::vector<bool> kept(class_counts.size(), false);
  if (non_empty == 0) return kept;
  const long keep_total =
      std::max(1L, std::min<long>(non_empty, std::llround(percentage / 100.0 * non_empty)));

  // Largest-remainder allocation of keep_total over the strata, proportional to their sizes.
  std::vector<long> take(kNumClasses, 0);
  std::vector<double> remainder(kNumClasses, 0.0);
  long allocated = 0;
  for (int c = 0; c < kNumClasses; ++c) {
    const double exact = static_cast<double>(keep_total) * strata[c].size() / non_empty;
    take[c] = static_cast<long>(exact);
    remainder[c] = exact - take[c];
    allocated += take[c];
  }
  while (allocated < keep_total) {
    int best = -1;
    for (int c = 0; c < kNumClasses; ++c) {
      if (take[c] >= static_cast<long>(strata[c].size())) continue;
      if (best < 0 || remainder[c] > remainder[best]) best = c;
    }
    ++take[best];
    remainder[best] = -1.0;
    ++allocated;
  }

  std::mt19937_64 rng(seed);
  for (int c = 0; c < kNumClasses; ++c) {
    shuffle(strata[c], rng);
    for (long i = 0; i < take[c]; ++i) kept[strata[c][i]] = true;
  }
  return kept;
}

}  // namespace woundphase

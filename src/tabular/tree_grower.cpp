// The random forest's trees (forest_tree.h), grown with scikit-learn RandomForestClassifier
// semantics (Gini, bootstrap, sqrt(p) features per node, weighted leaf class frequencies),
// bootstrapped by patient, with native missing values and histogram split finding over features
// binned once per fit.
#include <algorithm>  // for sort, lower_bound, swap, clamp, fill
#include <cmath>      // for isnan, sqrt
#include <cstdint>    // for uint16_t, uint64_t
#include <cstring>    // for memcpy
#include <limits>     // for numeric_limits

#include "tabular/forest_tree.h"

namespace woundphase::forest_internal {
namespace {

// Threshold of the split that sends every non-missing value left and the missing ones right.
constexpr double kAllValuesLeft = std::numeric_limits<double>::max();
// Score of an invalid split position; every valid Gini proxy is >= 0. Finite (not -inf) so the
// vectorised scoring can blend it in arithmetically.
constexpr double kNoSplit = -1e300;
// Nodes reserved per tree up front (trees of the default settings have ~100-250).
constexpr size_t kReservedNodes = 256;

// splitmix64 stream: small, fast, and the same on every platform (no std distributions).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by multiply-shift; the bias (< n / 2^64) is negligible.
  uint32_t below(uint32_t n) {
    return static_cast<uint32_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

 private:
  uint64_t state_;
};

FeatureBins make_bins(const float* col, size_t n, int max_bins) {
  std::vector<float> sorted;
  sorted.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!is_missing(col[i])) sorted.push_back(col[i]);
  }
  std::sort(sorted.begin(), sorted.end());
  std::vector<float> uniq;
  std::vector<size_t> count;
  for (float v : sorted) {
    if (uniq.empty() || v != uniq.back()) {
      uniq.push_back(v);
      count.push_back(0);
    }
    ++count.back();
  }
  FeatureBins fb;
  auto midway = [](float a, float b) { return (static_cast<double>(a) + b) / 2.0; };
  if (uniq.size() <= static_cast<size_t>(max_bins)) {
    for (size_t j = 0; j + 1 < uniq.size(); ++j) fb.upper.push_back(midway(uniq[j], uniq[j + 1]));
    fb.value = uniq;
  } else {
    // Quantile bins: cut after the unique value where the cumulative count passes k/max_bins.
    const size_t total = sorted.size();
    size_t cumulative = 0;
    size_t k = 1;
    for (size_t j = 0; j + 1 < uniq.size(); ++j) {
      cumulative += count[j];
      if (cumulative * max_bins < k * total) continue;
      fb.upper.push_back(midway(uniq[j], uniq[j + 1]));
      while (k * total <= cumulative * max_bins) ++k;
    }
  }
  fb.n_bins = static_cast<int>(fb.upper.size()) + 1;
  return fb;
}

}  // namespace

BinnedData bin_features(const Matrix& x, int max_bins, int threads) {
  BinnedData b;
  b.rows = x.rows();
  b.codes.resize(x.rows() * x.cols());
  b.features.resize(x.cols());
  const int64_t cols = static_cast<int64_t>(x.cols());
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
  for (int64_t f = 0; f < cols; ++f) {
    const float* col = x.column(f);
    FeatureBins fb = make_bins(col, x.rows(), max_bins);
    uint16_t* out = b.codes.data() + f * x.rows();
    for (size_t i = 0; i < x.rows(); ++i) {
      if (is_missing(col[i])) {
        out[i] = static_cast<uint16_t>(fb.n_bins);
      } else {
        // Number of boundaries below the value: v <= upper[b] exactly when code <= b.
        out[i] = static_cast<uint16_t>(
            std::lower_bound(fb.upper.begin(), fb.upper.end(), static_cast<double>(col[i])) -
            fb.upper.begin());
      }
    }
    b.features[f] = std::move(fb);
  }
  for (const FeatureBins& fb : b.features) {
    b.max_slots = std::max(b.max_slots, static_cast<size_t>(fb.n_bins) + 1);
  }
  return b;
}

namespace {

struct Split {
  bool found = false;
  double score = kNoSplit;
  int feature = -1;
  int bin = -1;       // last bin going left; -1 with all_values_left
  int next_bin = -1;  // first present bin going right
  bool missing_left = false;
  bool all_values_left = false;  // non-missing left, missing right
};

// Gini proxy of a split: sum_c L_c^2 / W_L + sum_c R_c^2 / W_R (larger is better; scikit-learn's
// proxy_impurity_improvement), computed with one division. kNoSplit when a side has no weight.
double gini_proxy(const Stats& left, const Stats& right) {
  const double wl = left.total();
  const double wr = right.total();
  if (wl <= 0.0 || wr <= 0.0) return kNoSplit;
  double sl = 0.0;
  double sr = 0.0;
  for (int c = 0; c < kNumClasses; ++c) {
    sl += left.w[c] * left.w[c];
    sr += right.w[c] * right.w[c];
  }
  return (sl * wr + sr * wl) / (wl * wr);
}

// Four doubles for the split scoring below (GCC vector extension: SSE2 pairs in the baseline
// build, one AVX2 register in the AVX2 clone; element-wise IEEE either way, so the same bits).
typedef double Double4 __attribute__((vector_size(32)));
typedef long long Mask4 __attribute__((vector_size(32)));
constexpr size_t kLanes = 4;

// gini_proxy of the splits in one block of kLanes scan positions; `extra` (the missing rows,
// when sent left) is added to the left side. Invalid positions (a side with fewer than min_leaf
// rows or no weight, or past the end) score kNoSplit.
inline void score_block(const Double4& l0_in, const Double4& l1_in, const Double4& l2_in,
                        const Double4& ln_in, const Mask4& in_range, const Stats& extra,
                        const Stats& total, double min_leaf, Double4* out) {
  const Double4 one = {1.0, 1.0, 1.0, 1.0};
  const Double4 zero = {};
  const Double4 l0 = l0_in + extra.w[0], l1 = l1_in + extra.w[1], l2 = l2_in + extra.w[2];
  const Double4 ln = ln_in + extra.n;
  const Double4 r0 = total.w[0] - l0, r1 = total.w[1] - l1, r2 = total.w[2] - l2;
  const Double4 rn = total.n - ln;
  const Double4 wl = l0 + l1 + l2;
  const Double4 wr = r0 + r1 + r2;
  const Mask4 valid = in_range & (ln >= min_leaf) & (rn >= min_leaf) & (wl > zero) & (wr > zero);
  // Denominators of invalid lanes replaced so no lane divides by zero.
  const Double4 dl = valid ? wl : one;
  const Double4 dr = valid ? wr : one;
  // sl / wl + sr / wr with one division (division latency bounds this loop).
  const Double4 score =
      ((l0 * l0 + l1 * l1 + l2 * l2) * dr + (r0 * r0 + r1 * r1 + r2 * r2) * dl) / (dl * dr);
  *out = valid ? score : one * kNoSplit;
}

// Scores every scan position of a feature: prefix[0..2][q] are the left side's class weights
// after position q and prefix[3][q] its row count. Writes the scores with the missing rows sent
// right to out_right and, when there are missing rows, sent left to out_left; returns the best
// score. Works in blocks of kLanes: the arrays must be readable and writable up to `positions`
// rounded up. Element-wise IEEE arithmetic without FMA, so the AVX2 clone gives the same bits.
__attribute__((target_clones("avx2", "default"))) double score_positions(
    double* const* prefix, size_t positions, const Stats& missing, const Stats& total,
    double min_leaf, double* out_right, double* out_left) {
  const bool has_missing = missing.n > 0;
  const Stats none;
  const Double4 lane = {0.0, 1.0, 2.0, 3.0};
  const double end = static_cast<double>(positions);
  Double4 best = Double4{1.0, 1.0, 1.0, 1.0} * kNoSplit;
  for (size_t q = 0; q < positions; q += kLanes) {
    Double4 l0, l1, l2, ln;
    std::memcpy(&l0, prefix[0] + q, sizeof l0);
    std::memcpy(&l1, prefix[1] + q, sizeof l1);
    std::memcpy(&l2, prefix[2] + q, sizeof l2);
    std::memcpy(&ln, prefix[3] + q, sizeof ln);
    const Mask4 in_range = (lane + static_cast<double>(q)) < end;
    Double4 right;
    score_block(l0, l1, l2, ln, in_range, none, total, min_leaf, &right);
    std::memcpy(out_right + q, &right, sizeof right);
    best = right > best ? right : best;
    if (has_missing) {
      Double4 left;
      score_block(l0, l1, l2, ln, in_range, missing, total, min_leaf, &left);
      std::memcpy(out_left + q, &left, sizeof left);
      best = left > best ? left : best;
    }
  }
  return std::max(std::max(best[0], best[1]), std::max(best[2], best[3]));
}

// Moves the rows index[begin, end) that `goes_left(row)` sends left before the others, each side
// in its order (stably and branch-free: every row is written to both sides, the side it does not
// join moves on over it), through `scratch`. Returns the first right position.
template <typename GoesLeft>
int32_t partition_rows(int32_t* index, int32_t* scratch, int32_t begin, int32_t end,
                       GoesLeft goes_left) {
  int32_t n_left = begin;
  int32_t n_right = 0;
  for (int32_t k = begin; k < end; ++k) {
    const int32_t i = index[k];
    const bool go_left = goes_left(i);
    index[n_left] = i;  // n_left <= k: never overwrites an unread row
    scratch[n_right] = i;
    n_left += go_left ? 1 : 0;
    n_right += go_left ? 0 : 1;
  }
  std::copy(scratch, scratch + n_right, index + n_left);
  return n_left;
}

class TreeGrower {
 public:
  TreeGrower(const Problem& pb, Workspace& ws) : pb_(pb), ws_(ws) {}

  // Grows one tree. With bootstrap, the out-of-bag rows (patient not drawn; for a synthetic row,
  // neither parent drawn) are routed down the finished splits by their raw values, exactly as
  // predict() routes them, and `oob_leaf` receives their (row, leaf) pairs.
  Tree grow(uint64_t seed, std::vector<std::pair<int32_t, int32_t>>* oob_leaf) {
    Rng rng(seed);
    draw_rows(rng);
    const size_t p = pb_.x->cols();
    ws_.hist.resize(pb_.bins->max_slots);
    ws_.present.assign(pb_.bins->max_slots / 64 + 1, 0);
    ws_.order.resize(pb_.bins->max_slots);
    // Rounded up to whole blocks of the vectorised scoring.
    ws_.prefix_stride = (pb_.bins->max_slots + kLanes - 1) / kLanes * kLanes;
    ws_.prefix.resize(kPrefixArrays * ws_.prefix_stride);
    ws_.score.resize(2 * ws_.prefix_stride);
    ws_.scratch.resize(std::max(ws_.index.size(), ws_.oob.size()));
    ws_.features.resize(p);
    for (size_t f = 0; f < p; ++f) ws_.features[f] = static_cast<int32_t>(f);
    oob_leaf->clear();

    Tree tree;
    tree.nodes.reserve(kReservedNodes);
    tree.value.reserve(kReservedNodes * kNumClasses);
    tree.nodes.emplace_back();
    tree.value.assign(kNumClasses, 0.0);
    struct Pending {
      int32_t node, begin, end, oob_begin, oob_end, depth;
      Stats stats;
    };
    std::vector<Pending> stack;
    Stats root;
    for (int32_t i : ws_.index) root.add(ws_.rows[i]);
    tree.cover.push_back(root.total());
    stack.push_back({0, 0, static_cast<int32_t>(ws_.index.size()), 0,
                     static_cast<int32_t>(ws_.oob.size()), 0, root});
    const ForestSettings& s = *pb_.settings;
    while (!stack.empty()) {
      const Pending job = stack.back();
      stack.pop_back();
      const Stats& st = job.stats;
      int classes_present = 0;
      for (double v : st.w) classes_present += v > 0.0 ? 1 : 0;
      const bool leaf = job.depth >= s.max_depth || st.n < s.min_samples_split ||
                        st.n < 2.0 * s.min_samples_leaf || classes_present <= 1;
      Split split;
      if (!leaf) split = best_split(rng, job.begin, job.end, st);
      if (!split.found) {
        set_leaf_value(&tree, job.node, st);
        for (int32_t k = job.oob_begin; k < job.oob_end; ++k) {
          oob_leaf->emplace_back(ws_.oob[k], job.node);
        }
        continue;
      }
      Node& nd = tree.nodes[job.node];
      nd.feature = split.feature;
      nd.threshold = threshold_of(split);
      nd.missing_left = split.missing_left;
      nd.left = static_cast<int32_t>(tree.nodes.size());
      nd.right = nd.left + 1;
      Stats left_stats;
      const int32_t mid = partition(split, job.begin, job.end, &left_stats);
      const int32_t oob_mid = partition_oob(nd, job.oob_begin, job.oob_end);
      const Pending left{nd.left, job.begin,     mid,       job.oob_begin,
                         oob_mid, job.depth + 1, left_stats};
      Stats right_stats;
      for (int32_t k = mid; k < job.end; ++k) right_stats.add(ws_.rows[ws_.index[k]]);
      const Pending right{nd.right, mid, job.end, oob_mid, job.oob_end, job.depth + 1, right_stats};
      tree.nodes.emplace_back();
      tree.nodes.emplace_back();
      tree.value.resize(tree.nodes.size() * kNumClasses, 0.0);
      tree.cover.push_back(left_stats.total());
      tree.cover.push_back(right_stats.total());
      stack.push_back(right);
      stack.push_back(left);
    }
    tree.prepare();
    return tree;
  }

 private:
  void draw_rows(Rng& rng) {
    const size_t n = pb_.label.size();
    ws_.rows.resize(n);
    ws_.index.clear();
    ws_.oob.clear();
    const bool bootstrap = pb_.settings->bootstrap;
    if (bootstrap) {
      ws_.group_count.assign(pb_.n_groups, 0);
      for (int k = 0; k < pb_.n_groups; ++k) {
        ++ws_.group_count[rng.below(static_cast<uint32_t>(pb_.n_groups))];
      }
    }
    for (size_t i = 0; i < n; ++i) {
      int32_t count = 1;
      if (bootstrap) {
        const int32_t g2 = pb_.group2[i];
        count = ws_.group_count[pb_.group[i]];
        const bool second_drawn = g2 < 0 || ws_.group_count[g2] > 0;
        if (!second_drawn) count = 0;
        const bool out_of_bag =
            ws_.group_count[pb_.group[i]] == 0 && (g2 < 0 || ws_.group_count[g2] == 0);
        if (out_of_bag) ws_.oob.push_back(static_cast<int32_t>(i));
      }
      Stats& row = ws_.rows[i];
      row = Stats();
      row.w[pb_.label[i]] = count * pb_.class_weight[i];
      row.n = count;
      if (count > 0) ws_.index.push_back(static_cast<int32_t>(i));
    }
  }

  static void set_leaf_value(Tree* tree, int32_t node, const Stats& st) {
    const double total = st.total();
    double* probs = tree->value.data() + static_cast<size_t>(node) * kNumClasses;
    for (int c = 0; c < kNumClasses; ++c) {
      probs[c] = total > 0.0 ? st.w[c] / total : 1.0 / kNumClasses;
    }
  }

  Split best_split(Rng& rng, int32_t begin, int32_t end, const Stats& total) {
    Split best;
    const int p = static_cast<int>(ws_.features.size());
    int informative = 0;
    // As scikit-learn: draw features without replacement until mtry non-constant ones were
    // evaluated (constant features do not count), or all were drawn.
    for (int j = 0; j < p && informative < pb_.mtry; ++j) {
      const int r = j + static_cast<int>(rng.below(static_cast<uint32_t>(p - j)));
      std::swap(ws_.features[j], ws_.features[r]);
      if (evaluate_feature(ws_.features[j], begin, end, total, &best)) ++informative;
    }
    return best;
  }

  // Histogram of the node's rows over feature f, then a scan over its split points. Returns
  // false when the feature is constant in the node.
  bool evaluate_feature(int f, int32_t begin, int32_t end, const Stats& total, Split* best) {
    const FeatureBins& fb = pb_.bins->features[f];
    const uint16_t* code = pb_.bins->column(f);
    const int missing_bin = fb.n_bins;
    Stats* hist = ws_.hist.data();
    uint64_t* bits = ws_.present.data();
    const Stats* rows = ws_.rows.data();
    const int32_t* index = ws_.index.data();
    for (int32_t k = begin; k < end; ++k) {
      const int32_t i = index[k];
      const uint16_t b = code[i];
      bits[b >> 6] |= uint64_t{1} << (b & 63);
      hist[b].add(rows[i]);
    }
    const Stats missing = hist[missing_bin];
    const bool has_missing = missing.n > 0;
    bits[missing_bin >> 6] &= ~(uint64_t{1} << (missing_bin & 63));
    // Present bins in ascending order from the bitmap (which is left cleared).
    uint16_t* order = ws_.order.data();
    size_t n_order = 0;
    const int words = (missing_bin >> 6) + 1;
    for (int w = 0; w < words; ++w) {
      uint64_t word = bits[w];
      bits[w] = 0;
      while (word != 0) {
        order[n_order++] = static_cast<uint16_t>((w << 6) + __builtin_ctzll(word));
        word &= word - 1;
      }
    }
    const bool informative = n_order + (has_missing ? 1 : 0) >= 2;
    if (informative) scan(f, order, n_order, total, missing, best);
    for (size_t q = 0; q < n_order; ++q) hist[order[q]] = Stats();
    hist[missing_bin] = Stats();
    return informative;
  }

  // Evaluates the split points of one feature in ascending bin order. Missing rows, when the
  // node has some, are tried on both sides, and alone against all the values.
  void scan(int f, const uint16_t* order, size_t n_order, const Stats& total, const Stats& missing,
            Split* best) {
    const bool has_missing = missing.n > 0;
    const Stats* hist = ws_.hist.data();
    // Prefix sums of the left side after each position (structure of arrays, for SIMD).
    const size_t positions = n_order > 0 ? n_order - 1 : 0;
    double* prefix[kPrefixArrays];
    for (int a = 0; a < kPrefixArrays; ++a) prefix[a] = ws_.prefix.data() + a * ws_.prefix_stride;
    double acc[kPrefixArrays] = {};
    for (size_t q = 0; q < positions; ++q) {
      const Stats& h = hist[order[q]];
      for (int c = 0; c < kNumClasses; ++c) {
        acc[c] += h.w[c];
        prefix[c][q] = acc[c];
      }
      acc[kNumClasses] += h.n;
      prefix[kNumClasses][q] = acc[kNumClasses];
    }
    double* score_missing_right = ws_.score.data();
    double* score_missing_left = ws_.score.data() + ws_.prefix_stride;
    const auto min_leaf_rows = static_cast<double>(pb_.settings->min_samples_leaf);
    const double top = score_positions(prefix, positions, missing, total, min_leaf_rows,
                                       score_missing_right, score_missing_left);

    double best_score = best->score;
    int best_q = -1;
    bool best_missing_left = false;
    // The sequential "first strictly better" rule picks the first occurrence of the maximum (in
    // the order right, left at each position): find the maximum branch-free, then locate it.
    if (top > best_score) {
      for (size_t q = 0; q < positions; ++q) {
        if (score_missing_right[q] == top) {
          best_q = static_cast<int>(q);
          break;
        }
        if (has_missing && score_missing_left[q] == top) {
          best_q = static_cast<int>(q);
          best_missing_left = true;
          break;
        }
      }
      best_score = top;
    }
    const Stats values = total.minus(missing);
    if (has_missing && n_order > 0 && values.n >= min_leaf_rows && missing.n >= min_leaf_rows) {
      // All values left, missing right: marked by q = n_order.
      const double all_left = gini_proxy(values, missing);
      if (all_left > best_score) {
        best_score = all_left;
        best_q = static_cast<int>(n_order);
        best_missing_left = false;
      }
    }
    if (best_q < 0) return;
    best->found = true;
    best->score = best_score;
    best->feature = f;
    best->missing_left = best_missing_left;
    best->all_values_left = best_q == static_cast<int>(n_order);
    if (!best->all_values_left) {
      best->bin = order[best_q];
      best->next_bin = order[best_q + 1];
      if (!has_missing) {
        // No missing rows here at training time: later ones follow the heavier side.
        const double wl = prefix[0][best_q] + prefix[1][best_q] + prefix[2][best_q];
        best->missing_left = wl > total.total() - wl;
      }
    }
  }

  // Real-valued threshold equivalent to the binned split on the training rows.
  double threshold_of(const Split& s) const {
    if (s.all_values_left) return kAllValuesLeft;
    const FeatureBins& fb = pb_.bins->features[s.feature];
    if (!fb.value.empty()) {
      // Midway between the node's adjacent values (as scikit-learn).
      return (static_cast<double>(fb.value[s.bin]) + fb.value[s.next_bin]) / 2.0;
    }
    return fb.upper[s.bin + (s.next_bin - 1 - s.bin) / 2];
  }

  // Partitions the node's in-bag rows by their bins, left first (stably, branch-free), and sums
  // the left side's stats. Returns the first right position.
  int32_t partition(const Split& s, int32_t begin, int32_t end, Stats* left_stats) {
    const uint16_t* code = pb_.bins->column(s.feature);
    const int missing_bin = pb_.bins->features[s.feature].n_bins;
    const int limit = s.all_values_left ? missing_bin - 1 : s.bin;
    int32_t* index = ws_.index.data();
    const int32_t n_left = partition_rows(index, ws_.scratch.data(), begin, end, [&](int32_t i) {
      const int c = code[i];
      return c == missing_bin ? s.missing_left : c <= limit;
    });
    for (int32_t k = begin; k < n_left; ++k) left_stats->add(ws_.rows[index[k]]);
    return n_left;
  }

  // Routes the node's out-of-bag rows by raw value and threshold, as predict() does.
  int32_t partition_oob(const Node& nd, int32_t begin, int32_t end) {
    const float* col = pb_.x->column(nd.feature);
    return partition_rows(ws_.oob.data(), ws_.scratch.data(), begin, end,
                          [&](int32_t i) { return goes_left(nd, col[i]); });
  }

  const Problem& pb_;
  Workspace& ws_;
};

}  // namespace

Tree grow_tree(const Problem& pb, Workspace& ws, uint64_t seed,
               std::vector<std::pair<int32_t, int32_t>>* oob_leaf) {
  TreeGrower grower(pb, ws);
  return grower.grow(seed, oob_leaf);
}

}  // namespace woundphase::forest_internal

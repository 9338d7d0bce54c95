// Random forest with scikit-learn RandomForestClassifier semantics (Gini, bootstrap, sqrt(p)
// features per node, weighted leaf class frequencies), bootstrapped by patient, with native
// missing values and histogram split finding over features binned once per fit.
#include <omp.h>

#include <algorithm>  // for sort, lower_bound, swap, clamp
#include <cmath>      // for isnan, sqrt
#include <cstdint>    // for uint16_t, uint64_t
#include <limits>     // for numeric_limits
#include <map>        // for map (group id -> dense index)
#include <sstream>    // for ostringstream

#include "tabular/models.h"

namespace woundphase {

namespace {

// Threshold of the split that sends every non-missing value left and the missing ones right.
constexpr double kAllValuesLeft = std::numeric_limits<double>::max();
// Score of an invalid split position; every valid Gini proxy is >= 0. Finite (not -inf) so the
// vectorised scoring can blend it in arithmetically.
constexpr double kNoSplit = -1e300;
// Split scans keep prefix sums of the left side: one array per class plus the row count.
constexpr int kPrefixArrays = kNumClasses + 1;

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

  const double* leaf_value(const Matrix& x, size_t row) const {
    int32_t k = 0;
    while (nodes[k].feature >= 0) {
      const Node& nd = nodes[k];
      const float v = x.column(nd.feature)[row];
      const bool go_left = is_missing(v) ? nd.missing_left : v <= nd.threshold;
      k = go_left ? nd.left : nd.right;
    }
    return value.data() + static_cast<size_t>(k) * kNumClasses;
  }
};

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

BinnedData bin_features(const Matrix& x, int max_bins) {
  BinnedData b;
  b.rows = x.rows();
  b.codes.resize(x.rows() * x.cols());
  b.features.resize(x.cols());
  for (size_t f = 0; f < x.cols(); ++f) {
    const float* col = x.column(f);
    FeatureBins fb = make_bins(col, x.rows(), max_bins);
    uint16_t* out = b.codes.data() + f * x.rows();
    for (size_t i = 0; i < x.rows(); ++i) {
      if (is_missing(col[i])) {
        out[i] = static_cast<uint16_t>(fb.n_bins);
      } else {
        // Number of boundaries below the value: v <= upper[b] exactly when code <= b.
        out[i] = static_cast<uint16_t>(std::lower_bound(fb.upper.begin(), fb.upper.end(),
                                                        static_cast<double>(col[i])) -
                                       fb.upper.begin());
      }
    }
    b.max_slots = std::max(b.max_slots, static_cast<size_t>(fb.n_bins) + 1);
    b.features[f] = std::move(fb);
  }
  return b;
}

// Per-row training facts for one tree.
struct RowWeight {
  double weight = 0.0;  // bootstrap count x class weight
  int32_t count = 0;    // bootstrap count (what min_samples_leaf/split count)
  int32_t label = 0;
};

struct Stats {
  double w[kNumClasses] = {};
  int64_t n = 0;
  void add(const RowWeight& r) {
    w[r.label] += r.weight;
    n += r.count;
  }
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
  std::vector<RowWeight> rows;     // per data row
  std::vector<int32_t> index;      // in-bag row indices, partitioned in place per node
  std::vector<int32_t> group_count;
  std::vector<Stats> hist;         // one slot per bin + missing
  std::vector<uint64_t> present;   // bitmap of the bins present in the current node
  std::vector<uint16_t> order;     // present non-missing bins, ascending
  std::vector<int32_t> features;   // feature permutation (partial Fisher-Yates per node)
  size_t prefix_stride = 0;        // length of each prefix / score array
  std::vector<double> prefix;      // kPrefixArrays arrays: left class weights and count
  std::vector<double> score;       // 2 arrays: missing right, missing left
};

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
// proxy_impurity_improvement). kNoSplit when a side has no weight.
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
  return sl / wl + sr / wr;
}

// Largest of n values (kNoSplit when n == 0), with independent lanes for instruction parallelism.
double max_of(const double* v, size_t n) {
  double m[4] = {kNoSplit, kNoSplit, kNoSplit, kNoSplit};
  size_t q = 0;
  for (; q + 4 <= n; q += 4) {
    for (int l = 0; l < 4; ++l) m[l] = v[q + l] > m[l] ? v[q + l] : m[l];
  }
  for (; q < n; ++q) m[0] = v[q] > m[0] ? v[q] : m[0];
  return std::max(std::max(m[0], m[1]), std::max(m[2], m[3]));
}

class TreeGrower {
 public:
  TreeGrower(const Problem& pb, Workspace& ws) : pb_(pb), ws_(ws) {}

  // Grows tree `t`; `drawn` receives per patient whether the bootstrap drew it.
  Tree grow(uint64_t seed, std::vector<uint8_t>* drawn) {
    Rng rng(seed);
    draw_rows(rng, drawn);
    const size_t p = pb_.x->cols();
    ws_.hist.resize(pb_.bins->max_slots);
    ws_.present.assign(pb_.bins->max_slots / 64 + 1, 0);
    ws_.order.resize(pb_.bins->max_slots);
    ws_.prefix_stride = pb_.bins->max_slots;
    ws_.prefix.resize(kPrefixArrays * ws_.prefix_stride);
    ws_.score.resize(2 * ws_.prefix_stride);
    ws_.features.resize(p);
    for (size_t f = 0; f < p; ++f) ws_.features[f] = static_cast<int32_t>(f);

    Tree tree;
    tree.nodes.emplace_back();
    tree.value.assign(kNumClasses, 0.0);
    struct Pending {
      int32_t node, begin, end, depth;
    };
    std::vector<Pending> stack;
    stack.push_back({0, 0, static_cast<int32_t>(ws_.index.size()), 0});
    const ForestSettings& s = *pb_.settings;
    while (!stack.empty()) {
      const Pending job = stack.back();
      stack.pop_back();
      Stats st;
      for (int32_t k = job.begin; k < job.end; ++k) st.add(ws_.rows[ws_.index[k]]);
      int classes_present = 0;
      for (double v : st.w) classes_present += v > 0.0 ? 1 : 0;
      const bool leaf = job.depth >= s.max_depth || st.n < s.min_samples_split ||
                        st.n < 2 * static_cast<int64_t>(s.min_samples_leaf) ||
                        classes_present <= 1;
      Split split;
      if (!leaf) split = best_split(rng, job.begin, job.end, st);
      if (!split.found) {
        set_leaf_value(&tree, job.node, st);
        continue;
      }
      const int32_t mid = partition(split, job.begin, job.end);
      Node& nd = tree.nodes[job.node];
      nd.feature = split.feature;
      nd.threshold = threshold_of(split);
      nd.missing_left = split.missing_left;
      nd.left = static_cast<int32_t>(tree.nodes.size());
      nd.right = nd.left + 1;
      const Pending left{nd.left, job.begin, mid, job.depth + 1};
      const Pending right{nd.right, mid, job.end, job.depth + 1};
      tree.nodes.emplace_back();
      tree.nodes.emplace_back();
      tree.value.resize(tree.nodes.size() * kNumClasses, 0.0);
      stack.push_back(right);
      stack.push_back(left);
    }
    return tree;
  }

 private:
  void draw_rows(Rng& rng, std::vector<uint8_t>* drawn) {
    const size_t n = pb_.label.size();
    ws_.rows.resize(n);
    ws_.index.clear();
    const bool bootstrap = pb_.settings->bootstrap;
    if (bootstrap) {
      ws_.group_count.assign(pb_.n_groups, 0);
      for (int k = 0; k < pb_.n_groups; ++k) {
        ++ws_.group_count[rng.below(static_cast<uint32_t>(pb_.n_groups))];
      }
      drawn->resize(pb_.n_groups);
      for (int g = 0; g < pb_.n_groups; ++g) (*drawn)[g] = ws_.group_count[g] > 0 ? 1 : 0;
    }
    for (size_t i = 0; i < n; ++i) {
      int32_t count = 1;
      if (bootstrap) {
        count = ws_.group_count[pb_.group[i]];
        if (pb_.group2[i] >= 0 && ws_.group_count[pb_.group2[i]] == 0) count = 0;
      }
      ws_.rows[i] = {count * pb_.class_weight[i], count, pb_.label[i]};
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
    const RowWeight* rows = ws_.rows.data();
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
  void scan(int f, const uint16_t* order, size_t n_order, const Stats& total,
            const Stats& missing, Split* best) {
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
      acc[kNumClasses] += static_cast<double>(h.n);
      prefix[kNumClasses][q] = acc[kNumClasses];
    }
    const Stats none;
    double* score_missing_right = ws_.score.data();
    double* score_missing_left = ws_.score.data() + ws_.prefix_stride;
    score_positions(prefix, positions, none, total, score_missing_right);
    if (has_missing) score_positions(prefix, positions, missing, total, score_missing_left);

    double best_score = best->score;
    int best_q = -1;
    bool best_missing_left = false;
    // The sequential "first strictly better" rule picks the first occurrence of the maximum (in
    // the order right, left at each position): find the maximum branch-free, then locate it.
    const double top = std::max(max_of(score_missing_right, positions),
                                has_missing ? max_of(score_missing_left, positions) : kNoSplit);
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
    const int64_t min_leaf = pb_.settings->min_samples_leaf;
    if (has_missing && n_order > 0 && values.n >= min_leaf && missing.n >= min_leaf) {
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

  // Gini proxy (sum_c L_c^2 / W_L + sum_c R_c^2 / W_R, larger is better, as scikit-learn) of the
  // split after each position, with `extra` added to the left side; -inf where a side is too
  // small.
  void score_positions(double* const* prefix, size_t positions, const Stats& extra,
                       const Stats& total, double* out) const {
    const double min_leaf = pb_.settings->min_samples_leaf;
    const double* p0 = prefix[0];
    const double* p1 = prefix[1];
    const double* p2 = prefix[2];
    const double* pn = prefix[3];
    const double e0 = extra.w[0], e1 = extra.w[1], e2 = extra.w[2];
    const double en = static_cast<double>(extra.n);
    const double t0 = total.w[0], t1 = total.w[1], t2 = total.w[2];
    const double tn = static_cast<double>(total.n);
    // Branch-free (selects of plain values, no division under a condition) so that GCC
    // vectorises it even with -ftrapping-math.
    for (size_t q = 0; q < positions; ++q) {
      const double l0 = p0[q] + e0, l1 = p1[q] + e1, l2 = p2[q] + e2, ln = pn[q] + en;
      const double r0 = t0 - l0, r1 = t1 - l1, r2 = t2 - l2, rn = tn - ln;
      const double wl = l0 + l1 + l2;
      const double wr = r0 + r1 + r2;
      const bool valid = (ln >= min_leaf) & (rn >= min_leaf) & (wl > 0.0) & (wr > 0.0);
      const double v = valid ? 1.0 : 0.0;
      const double dl = valid ? wl : 1.0;
      const double dr = valid ? wr : 1.0;
      const double score = (l0 * l0 + l1 * l1 + l2 * l2) / dl + (r0 * r0 + r1 * r1 + r2 * r2) / dr;
      out[q] = score * v + (1.0 - v) * kNoSplit;  // exactly score, or exactly kNoSplit
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

  // Partitions the node's rows in place, left first. Returns the first right position.
  int32_t partition(const Split& s, int32_t begin, int32_t end) {
    const FeatureBins& fb = pb_.bins->features[s.feature];
    const uint16_t* code = pb_.bins->column(s.feature);
    const int missing_bin = fb.n_bins;
    const int limit = s.all_values_left ? missing_bin - 1 : s.bin;
    auto goes_left = [&](int32_t i) {
      const int c = code[i];
      return c == missing_bin ? s.missing_left : c <= limit;
    };
    int32_t lo = begin;
    int32_t hi = end - 1;
    while (true) {
      while (lo <= hi && goes_left(ws_.index[lo])) ++lo;
      while (lo <= hi && !goes_left(ws_.index[hi])) --hi;
      if (lo >= hi) break;
      std::swap(ws_.index[lo], ws_.index[hi]);
    }
    return lo;
  }

  const Problem& pb_;
  Workspace& ws_;
};

class Forest final : public TreeModel {
 public:
  explicit Forest(const ForestSettings& s) : settings_(s) { settings_.validate(); }

  void fit(const TabularData& data) override;
  Probabilities predict(const Matrix& x) const override;
  bool has_oob() const override { return has_oob_; }
  Probabilities oob(std::vector<bool>* covered) const override;
  nlohmann::json to_json() const override;
  static std::unique_ptr<TreeModel> from_json(const nlohmann::json& j);

 private:
  // Mean of the trees' leaf probabilities for each row selected by `use(row, tree)`, summed in
  // tree order; rows no tree selects get 0 and count 0.
  template <typename Use>
  void average(const Matrix& x, const Use& use, Probabilities* out,
               std::vector<int>* n_used) const {
    const size_t n = x.rows();
    out->assign(n * kNumClasses, 0.0);
    n_used->assign(n, 0);
    const int64_t rows = static_cast<int64_t>(n);
#pragma omp parallel for num_threads(settings_.threads) schedule(static)
    for (int64_t i = 0; i < rows; ++i) {
      double acc[kNumClasses] = {};
      int used = 0;
      for (size_t t = 0; t < trees_.size(); ++t) {
        if (!use(static_cast<size_t>(i), t)) continue;
        const double* v = trees_[t].leaf_value(x, static_cast<size_t>(i));
        for (int c = 0; c < kNumClasses; ++c) acc[c] += v[c];
        ++used;
      }
      (*n_used)[i] = used;
      for (int c = 0; c < kNumClasses; ++c) {
        (*out)[i * kNumClasses + c] = used > 0 ? acc[c] / used : 0.0;
      }
    }
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
  pb.class_weight = class_weights(data.y, settings_.class_weight);
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

  const BinnedData bins = bin_features(data.x, settings_.max_bins);
  pb.bins = &bins;

  const int n_trees = settings_.n_trees;
  trees_.assign(n_trees, Tree());
  std::vector<std::vector<uint8_t>> drawn(n_trees);
#pragma omp parallel num_threads(settings_.threads)
  {
    Workspace ws;
#pragma omp for schedule(dynamic, 1)
    for (int t = 0; t < n_trees; ++t) {
      TreeGrower grower(pb, ws);
      trees_[t] = grower.grow(mix_seed(settings_.seed, static_cast<uint64_t>(t)), &drawn[t]);
    }
  }
  n_features_ = p;

  has_oob_ = settings_.bootstrap;
  oob_.clear();
  oob_covered_.clear();
  if (!has_oob_) return;
  // Out of bag: the row's patient was not drawn (for a synthetic row: neither parent was).
  auto out_of_bag = [&](size_t i, size_t t) {
    const std::vector<uint8_t>& d = drawn[t];
    return d[pb.group[i]] == 0 && (pb.group2[i] < 0 || d[pb.group2[i]] == 0);
  };
  std::vector<int> used;
  average(data.x, out_of_bag, &oob_, &used);
  oob_covered_.resize(n);
  for (size_t i = 0; i < n; ++i) oob_covered_[i] = used[i] > 0;
}

Probabilities Forest::predict(const Matrix& x) const {
  if (trees_.empty()) throw std::logic_error("forest predict() called before fit()");
  if (x.cols() != n_features_) {
    throw InputError("forest was fitted on " + std::to_string(n_features_) +
                     " features but is asked to predict " + std::to_string(x.cols()));
  }
  Probabilities out;
  std::vector<int> used;
  average(x, [](size_t, size_t) { return true; }, &out, &used);
  return out;
}

Probabilities Forest::oob(std::vector<bool>* covered) const {
  if (!has_oob_) throw std::logic_error("forest has no out-of-bag estimate (bootstrap off or not fitted)");
  if (covered != nullptr) *covered = oob_covered_;
  return oob_;
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
                     {"value", t.value}});
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
      const size_t m = feature.size();
      if (m == 0 || threshold.size() != m || missing_left.size() != m || left.size() != m ||
          right.size() != m || t.value.size() != m * kNumClasses) {
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
std::unique_ptr<TreeModel> forest_from_json(const nlohmann::json& j) { return Forest::from_json(j); }
}  // namespace tabular_detail

}  // namespace woundphase

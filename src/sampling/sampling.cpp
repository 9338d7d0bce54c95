#include "woundphase/sampling.h"

#include <algorithm>  // for sort, min
#include <array>
#include <cmath>      // for sqrt, fabs
#include <cstdint>    // for uint64_t
#include <limits>     // for numeric_limits
#include <memory>     // for unique_ptr
#include <random>     // for mt19937_64
#include <stdexcept>  // for invalid_argument
#include <string>
#include <utility>  // for pair

#include "woundphase/options.h"

namespace woundphase {

namespace {

// Bounds of SamplingSettings::smote_neighbours.
constexpr int kMinNeighbours = 1;
constexpr int kMaxNeighbours = 50;
// A synthetic row's categorical and missing values come from parent a below this mix.
constexpr float kNearerParentMix = 0.5F;

struct StrategyName {
  SamplingStrategy strategy;
  const char* name;
};
constexpr std::array<StrategyName, 6> kStrategyNames{{
    {SamplingStrategy::kNone, "none"},
    {SamplingStrategy::kRandom, "random"},
    {SamplingStrategy::kUnder, "under"},
    {SamplingStrategy::kCombined, "combined"},
    {SamplingStrategy::kSmote, "smote"},
    {SamplingStrategy::kCombinedSmote, "combined_smote"},
}};

// Uniform integer in [0, n) by rejection: unlike std::uniform_int_distribution its output is the
// same on every standard library, so a seed resamples identically everywhere.
uint64_t bounded(std::mt19937_64& rng, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;  // 2^64 mod n: the biased low range to reject
  for (;;) {
    const uint64_t r = rng();
    if (r >= threshold) return r % n;
  }
}

// Uniform float in [0, 1) from the top 24 bits (exactly representable, never 1).
float unit_float(std::mt19937_64& rng) {
  constexpr float kScale = 1.0F / 16777216.0F;  // 2^-24
  return static_cast<float>(rng() >> 40) * kScale;
}

enum class Fill { kDuplicate, kSynthetic };

// Per-class target counts for a strategy, given the class counts of the training rows. Absent
// classes stay absent (nothing to copy from).
std::array<long, kNumClasses> class_targets(SamplingStrategy s,
                                            const std::array<long, kNumClasses>& counts) {
  std::vector<long> present;
  for (long n : counts)
    if (n > 0) present.push_back(n);
  std::sort(present.begin(), present.end());
  std::array<long, kNumClasses> targets = counts;
  if (present.empty()) return targets;
  long target = 0;
  switch (s) {
    case SamplingStrategy::kNone:
      return targets;
    case SamplingStrategy::kRandom:
    case SamplingStrategy::kSmote:
      target = present.back();
      break;
    case SamplingStrategy::kUnder:
      target = present.front();
      break;
    case SamplingStrategy::kCombined:
    case SamplingStrategy::kCombinedSmote:
      // The middle class's count; with two classes present, the mean of the two.
      target = present.size() % 2 == 1
                   ? present[present.size() / 2]
                   : (present[present.size() / 2 - 1] + present[present.size() / 2]) / 2;
      break;
  }
  for (int c = 0; c < kNumClasses; ++c)
    if (counts[c] > 0) targets[c] = target;
  return targets;
}

// SMOTE-NC style distance: mean over the features both rows have of |a-b|/std (numeric) or
// mismatch (categorical); +inf when the rows share no comparable feature.
class MixedDistance {
 public:
  MixedDistance(const TabularData& data, const std::vector<FeatureInfo>& features)
      : data_(data), features_(features), scale_(features.size(), 0.0) {
    for (size_t f = 0; f < features.size(); ++f) {
      if (features[f].kind != FeatureKind::kNumeric) continue;
      const float* col = data.x.column(f);
      double sum = 0.0;
      long n = 0;
      for (size_t r = 0; r < data.rows(); ++r) {
        if (is_missing(col[r])) continue;
        sum += col[r];
        ++n;
      }
      if (n < 2) continue;
      const double mean = sum / n;
      double ss = 0.0;
      for (size_t r = 0; r < data.rows(); ++r)
        if (!is_missing(col[r])) ss += (col[r] - mean) * (col[r] - mean);
      const double sd = std::sqrt(ss / n);
      if (sd > 0.0) scale_[f] = 1.0 / sd;
    }
  }

  double operator()(int a, int b) const {
    double sum = 0.0;
    int comparable = 0;
    for (size_t f = 0; f < features_.size(); ++f) {
      const float va = data_.x.at(a, f);
      const float vb = data_.x.at(b, f);
      if (is_missing(va) || is_missing(vb)) continue;
      if (features_[f].kind == FeatureKind::kCategorical) {
        sum += va == vb ? 0.0 : 1.0;
      } else {
        if (scale_[f] == 0.0) continue;  // constant feature: carries no distance
        sum += std::fabs(static_cast<double>(va) - vb) * scale_[f];
      }
      ++comparable;
    }
    if (comparable == 0) return std::numeric_limits<double>::infinity();
    return sum / comparable;
  }

 private:
  const TabularData& data_;
  const std::vector<FeatureInfo>& features_;
  std::vector<double> scale_;  // 1/std per numeric feature, 0 = skip
};

// The k nearest same-class rows of `row` (ties by row index), k <= rows - 1.
std::vector<int> nearest(const MixedDistance& distance, const std::vector<int>& class_rows, int row,
                         int k) {
  std::vector<std::pair<double, int>> candidates;
  candidates.reserve(class_rows.size());
  for (int other : class_rows)
    if (other != row) candidates.emplace_back(distance(row, other), other);
  const size_t keep = std::min<size_t>(k, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + keep, candidates.end());
  std::vector<int> out(keep);
  for (size_t i = 0; i < keep; ++i) out[i] = candidates[i].second;
  return out;
}

void check_shapes(const TabularData& data, const std::vector<FeatureInfo>& features,
                  bool need_features) {
  if (data.x.rows() != data.rows())
    throw std::invalid_argument("sampling: feature rows and labels differ in length");
  if (!data.group.empty() && data.group.size() != data.rows())
    throw std::invalid_argument("sampling: groups and labels differ in length");
  if (need_features && features.size() != data.x.cols())
    throw std::invalid_argument("sampling: feature descriptions and columns differ in number");
  for (size_t i = 0; i < data.rows(); ++i)
    if (data.y[i] < 0 || data.y[i] >= kNumClasses)
      throw std::invalid_argument("sampling: label out of range at row " + std::to_string(i));
}

}  // namespace

SamplingStrategy parse_sampling(const std::string& text) {
  std::string choices;
  for (const auto& entry : kStrategyNames) {
    if (text == entry.name) return entry.strategy;
    if (!choices.empty()) choices += ", ";
    choices += entry.name;
  }
  throw InputError("unknown sampling strategy '" + text + "' (choose one of: " + choices + ")");
}

std::string to_string(SamplingStrategy s) {
  for (const auto& entry : kStrategyNames)
    if (entry.strategy == s) return entry.name;
  throw std::invalid_argument("to_string: unknown sampling strategy");
}

const OptionTable<SamplingSettings>& sampling_options() {
  static const OptionTable<SamplingSettings> table = [] {
    using S = SamplingSettings;
    OptionTable<S> t;
    t.add_choice(
        "--sampling", &S::strategy,
        {SamplingStrategy::kNone, SamplingStrategy::kRandom, SamplingStrategy::kUnder,
         SamplingStrategy::kCombined, SamplingStrategy::kSmote, SamplingStrategy::kCombinedSmote},
        "training-fold resampling (training rows only)");
    t.add("--smote-neighbours", &S::smote_neighbours, "smote: same-class neighbours")
        .range(kMinNeighbours, kMaxNeighbours);
    return t;
  }();
  return table;
}

void SamplingSettings::validate() const { sampling_options().validate(*this); }

std::vector<SampleRef> resample(const TabularData& data, const std::vector<FeatureInfo>& features,
                                const SamplingSettings& settings, unsigned long long seed) {
  settings.validate();
  const bool synthetic = settings.strategy == SamplingStrategy::kSmote ||
                         settings.strategy == SamplingStrategy::kCombinedSmote;
  check_shapes(data, features, synthetic);

  std::array<std::vector<int>, kNumClasses> class_rows;
  for (size_t i = 0; i < data.rows(); ++i) class_rows[data.y[i]].push_back(static_cast<int>(i));
  std::array<long, kNumClasses> counts{};
  for (int c = 0; c < kNumClasses; ++c) counts[c] = static_cast<long>(class_rows[c].size());
  const auto targets = class_targets(settings.strategy, counts);
  const Fill fill = synthetic ? Fill::kSynthetic : Fill::kDuplicate;

  std::mt19937_64 rng(seed);
  // Kept real rows, flagged per input row; classes above target keep a random subset.
  std::vector<bool> kept(data.rows(), true);
  for (int c = 0; c < kNumClasses; ++c) {
    if (targets[c] >= counts[c]) continue;
    std::vector<int> rows = class_rows[c];
    for (long i = 0; i < targets[c]; ++i) {  // partial Fisher-Yates: the first target[c] survive
      const size_t j = i + bounded(rng, rows.size() - i);
      std::swap(rows[i], rows[j]);
    }
    for (size_t i = targets[c]; i < rows.size(); ++i) kept[rows[i]] = false;
  }

  std::vector<SampleRef> refs;
  for (size_t i = 0; i < data.rows(); ++i)
    if (kept[i]) refs.push_back({static_cast<int>(i), -1, 0.0F, data.y[i]});

  std::unique_ptr<MixedDistance> distance;
  if (fill == Fill::kSynthetic) distance = std::make_unique<MixedDistance>(data, features);
  for (int c = 0; c < kNumClasses; ++c) {
    const long extra = targets[c] - counts[c];
    if (extra <= 0) continue;
    const auto& rows = class_rows[c];
    const bool interpolate = fill == Fill::kSynthetic && rows.size() > 1;
    // Neighbour lists, computed for a base row the first time it is drawn.
    std::vector<std::vector<int>> neighbours(interpolate ? rows.size() : 0);
    std::vector<bool> known(neighbours.size(), false);
    for (long e = 0; e < extra; ++e) {
      const size_t base = bounded(rng, rows.size());
      if (!interpolate) {
        refs.push_back({rows[base], -1, 0.0F, c});
        continue;
      }
      if (!known[base]) {
        neighbours[base] = nearest(*distance, rows, rows[base], settings.smote_neighbours);
        known[base] = true;
      }
      const auto& near = neighbours[base];
      const int partner = near[bounded(rng, near.size())];
      refs.push_back({rows[base], partner, unit_float(rng), c});
    }
  }
  return refs;
}

TabularData materialise(const TabularData& data, const std::vector<FeatureInfo>& features,
                        const std::vector<SampleRef>& refs) {
  bool synthetic = false;
  for (const auto& ref : refs) {
    if (ref.parent_a < 0 || static_cast<size_t>(ref.parent_a) >= data.rows() ||
        ref.parent_b >= static_cast<int>(data.rows()))
      throw std::invalid_argument("materialise: sample parent outside the training rows");
    synthetic = synthetic || ref.parent_b >= 0;
  }
  check_shapes(data, features, synthetic);

  TabularData out;
  const size_t n = refs.size();
  out.x = Matrix(n, data.x.cols());
  out.y.resize(n);
  out.group.resize(n);
  out.group2.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& ref = refs[i];
    out.y[i] = ref.label;
    out.group[i] = data.group.empty() ? -1 : data.group[ref.parent_a];
    out.group2[i] = ref.parent_b >= 0 && !data.group.empty() ? data.group[ref.parent_b] : -1;
  }
  // Row weights follow the row (a synthetic row takes the lighter parent's: a down-weighted,
  // possibly mislabelled row must not regain weight through its blends).
  if (!data.weight.empty()) {
    out.weight.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const auto& ref = refs[i];
      out.weight[i] = ref.parent_b < 0
                          ? data.weight[ref.parent_a]
                          : std::min(data.weight[ref.parent_a], data.weight[ref.parent_b]);
    }
  }
  for (size_t f = 0; f < data.x.cols(); ++f) {
    const float* src = data.x.column(f);
    float* dst = out.x.column(f);
    const bool categorical = synthetic && features[f].kind == FeatureKind::kCategorical;
    for (size_t i = 0; i < n; ++i) {
      const auto& ref = refs[i];
      const float a = src[ref.parent_a];
      if (ref.parent_b < 0) {
        dst[i] = a;
        continue;
      }
      const float b = src[ref.parent_b];
      if (categorical || is_missing(a) || is_missing(b)) {
        dst[i] = ref.mix < kNearerParentMix ? a : b;
        continue;
      }
      // In double, then rounded once: the result stays within [min(a,b), max(a,b)].
      dst[i] = static_cast<float>(a + static_cast<double>(ref.mix) * (static_cast<double>(b) - a));
    }
  }
  return out;
}

}  // namespace woundphase

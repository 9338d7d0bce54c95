// Resampling strategies, applied to the training rows of one fold only (never before the split).
#pragma once

#include <string>
#include <vector>

#include "woundphase/core.h"

namespace woundphase {

enum class SamplingStrategy { kNone, kRandom, kUnder, kCombined, kSmote, kCombinedSmote };
SamplingStrategy parse_sampling(const std::string& text);  // throws InputError listing choices
std::string to_string(SamplingStrategy s);

// Defaults here; flags, bounds and meanings in sampling_options() (src/sampling/sampling.cpp).
struct SamplingSettings {
  SamplingStrategy strategy = SamplingStrategy::kNone;
  int smote_neighbours = 5;
  void validate() const;  // InputError naming the option
};

template <typename S>
class OptionTable;  // options.h
const OptionTable<SamplingSettings>& sampling_options();

// One row of a resampled training set. A real (possibly duplicated) row has parent_b == -1.
// A synthetic SMOTE row lies between parents a and b: numeric value = a + mix * (b - a);
// categorical and missing values come from the nearer parent (a if mix < 0.5). Parents are
// indices into the training rows given to resample(), so a synthetic row never touches a test row.
struct SampleRef {
  int parent_a = -1;
  int parent_b = -1;
  float mix = 0.0F;
  int label = 0;
};

// Resamples training rows `data` (features, labels, groups). Deterministic for a seed.
// Targets: random = every class up to the majority count; under = every class down to the
// minority count; combined = majority down and minority up to the middle class's count;
// smote = every class up to the majority with synthetic rows; combined_smote = majority down to
// the middle count, the others up to it with synthetic rows.
// Classes absent from `data` stay absent; with two classes present the middle count is the mean
// of the two (rounded down). Downsampling draws without replacement, random oversampling draws
// duplicates uniformly from the class. SMOTE (SMOTE-NC flavour) picks a random base row and one of
// its `smote_neighbours` nearest same-class rows; the distance is the mean, over the features both
// rows have, of |a-b|/std (numeric; std over `data`, constant features skipped) or mismatch
// (categorical), +inf when nothing is comparable. A class with one row gets duplicates instead.
// Output: kept real rows in input order, then the added rows class by class.
std::vector<SampleRef> resample(const TabularData& data, const std::vector<FeatureInfo>& features,
                                const SamplingSettings& settings, unsigned long long seed);

// Builds the resampled data set from the references (groups follow the parents: group is the
// group of parent_a, group2 that of parent_b or -1; both vectors have one entry per reference).
TabularData materialise(const TabularData& data, const std::vector<FeatureInfo>& features,
                        const std::vector<SampleRef>& refs);

}  // namespace woundphase

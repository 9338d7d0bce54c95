// The search's named seed streams: every random draw of a run derives from its seed through one
// of these, so two steps never share a stream by accident of arithmetic at the call site.
//
// The values are the salts the steps used before they had names, kept so that outputs stay
// byte-identical. A stream with members (one per fold, modality, combination or inner fit) adds
// member x stride to its value, as before; those sums overlap across streams (38 is the network
// of thermal_map, the head of combination bits 7 and the head sampling of bits 6, all from the
// fold's seed): the draws they drive are unrelated, and separating them would change every image
// and fused result, so it waits for a release that may change results.
#pragma once

#include <cstdint>  // for uint64_t

#include "woundphase/core.h"  // for mix_seed

namespace woundphase {

enum class SeedStream : uint64_t {
  // From a run's seed (seed + run).
  kDataPercentage = 1,  // patients kept by --data-percentage
  kFolds = 2,           // patient folds (or the single split of --cv-folds 1)
  kShuffledLabels = 3,  // --shuffle-labels, then per fold
  kFoldJob = 4,         // a fold's seed, then per fold: every stream below derives from it
  // From a fold's seed (or a bundle's).
  kValidationSplit = 21,  // fit / validation patients of the fold
  kNetwork = 22,          // an image branch's network, per modality (stride 16)
  kGenAug = 23,           // reserved: generated images are now drawn by the fit's generator
  kBranchSampling = 24,   // an image branch's resampled training samples, per modality
  kHead = 31,             // a fused combination's head, per combination (member 0: the ensemble)
  kHeadSampling = 32,     // a fused combination's resampled samples, per combination
  kPermutation = 33,      // permutation importance of the metadata features, per feature
  kTuning = 41,           // --tune: the drawn configurations, then per trial its fits
  // From a metadata fit's seed.
  kResampling = 1,  // the tree model's training-row resampling
  kTreeModel = 11,  // the tree model
  kInnerFits = 12,  // out-of-fold estimates (member 0) and their inner fits (members 1, 2, ...)
};

// Members of kNetwork are 16 apart; every other stream's are 1 apart.
constexpr uint64_t stream_stride(SeedStream stream) {
  return stream == SeedStream::kNetwork ? 16 : 1;
}

inline uint64_t stream_seed(uint64_t parent, SeedStream stream, uint64_t member = 0) {
  return mix_seed(parent, static_cast<uint64_t>(stream) + member * stream_stride(stream));
}

}  // namespace woundphase

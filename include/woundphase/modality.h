// The study's modalities and their combinations ("metadata+thermal_map"), as the command line and
// every output write them.
#pragma once

#include <string>
#include <vector>

namespace woundphase {

// The study's modalities, in the fixed order in which combinations are written.
enum class Modality { kMetadata, kThermalMap, kDepthMap, kDepthRgb, kThermalRgb };
inline constexpr int kNumModalities = 5;
std::string to_string(Modality m);
bool is_image(Modality m);
Modality parse_modality(const std::string& text);  // throws InputError listing the names

// A combination is a non-empty set of modalities, written '+'-joined in the fixed order.
using Combination = std::vector<Modality>;
std::string to_string(const Combination& c);
// Parses "--modalities": comma-separated combinations or "all" (every non-empty combination of
// `available`). Duplicates are removed; order of first appearance is kept.
std::vector<Combination> parse_combinations(const std::string& text,
                                            const std::vector<Modality>& available);
// Every non-empty proper subset of `c` (in the fixed order within each), by subset bits: for a
// visit-wound that lacks some of the combination's modalities.
std::vector<Combination> sub_combinations(const Combination& c);

}  // namespace woundphase

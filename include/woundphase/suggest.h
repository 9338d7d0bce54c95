// "Did you mean ...?": the known name closest to a misspelt one.
#pragma once

#include <string>
#include <vector>

namespace woundphase {

// The candidate with the smallest edit distance (insertions, deletions, substitutions and
// transpositions of neighbours) to `typed`, when it is close enough to be a typo: at most 2 edits
// and fewer than half the letters; "" otherwise. Ties go to the first candidate.
std::string closest_name(const std::string& typed, const std::vector<std::string>& candidates);

// " (did you mean X?)" for closest_name's answer, "" when there is none.
std::string did_you_mean(const std::string& typed, const std::vector<std::string>& candidates);

}  // namespace woundphase

// How many visit-wounds each image modality can serve, counted by the one matching code search,
// train and predict use (build_image_index: box rows matched by their Patient#, Appt# and DFU#
// columns, frames present in their folder), with the reasons the others cannot: what `inspect`
// prints and what train and predict report.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "woundphase/dataset.h"
#include "woundphase/images.h"
#include "woundphase/modality.h"

namespace woundphase {

struct ImageCoverage {
  long rows = 0;                                   // visit-wounds of the dataset
  std::array<long, kNumImageModalities> usable{};  // visit-wounds with a frame of it
  std::array<bool, kNumImageModalities> folder{};  // the modality's folder is there
  UnmatchedReport report;                          // why box rows and frames were dropped
  // Visit-wounds that have a frame of every image modality of `c` (all rows for metadata).
  long rows_for(const Combination& c) const { return common(c).size(); }
  std::vector<int> common(const Combination& c) const;
  std::vector<std::vector<int>> rows_with;  // per modality, the usable rows
};

ImageCoverage image_coverage(const Dataset& data, const std::string& dir);

// Lines for inspect: per modality usable / total and why the rest are not, then the box rows
// dropped and why.
std::string image_coverage_text(const ImageCoverage& coverage);

// What `woundphase inspect` prints: inspect_dataset's report, then the image coverage.
std::string inspect_study(const std::string& dir, const Schema& schema);

// One line for train and predict: the visit-wounds each modality of `c` covers and how many
// have them all.
std::string combination_coverage_text(const ImageCoverage& coverage, const Combination& c);

}  // namespace woundphase

// Internal to src/experiment: the image-only job of a search.
#pragma once

#include <vector>

#include "woundphase/experiment.h"
#include "woundphase/images.h"
#include "woundphase/vision.h"

namespace woundphase {

struct ImageJobOutput {
  std::vector<int> rows;    // test rows evaluated (those with a readable image)
  Probabilities probs;      // per evaluated row, averaged over its images
  TrainingHistory history;  // the branch's training
  std::vector<EpochReport> curve;
};

// Test rows among `rows` that have at least one image of modality `m`.
std::vector<int> rows_with_images(const ImageIndex& index, Modality m,
                                  const std::vector<int>& rows);

ImageJobOutput run_image_job(const Dataset& data, const ImageIndex& index, ImageCache& cache,
                             Modality modality, const ImageBranchSettings& settings,
                             const std::vector<int>& train_rows,
                             const std::vector<int>& train_labels,
                             const std::vector<int>& test_rows, unsigned long long seed,
                             const ProgressFn& progress, const std::string& save_weights = "",
                             const std::string& load_weights = "");

}  // namespace woundphase

// Internal to src/experiment: a bundle's models applied to a dataset's rows, each row from the
// modalities it has — shared by train (train_predictions.csv, in the training process) and predict
// (the loaded bundle), so both give the same numbers.
#pragma once

#include <memory>  // for unique_ptr
#include <string>
#include <utility>  // for pair
#include <vector>

#include "experiment/fold.h"  // for ImageInputs, prepare_images
#include "woundphase/bundle.h"

namespace woundphase {

// What predict_rows gives: probabilities (NaN for rows without a prediction) and the
// sub-combination each row was predicted from ("" without a prediction).
struct RowPredictions {
  Probabilities probs;
  std::vector<std::string> used;
};

// The fitted models of a bundle (the training process's own or a loaded bundle's: the same code,
// so both give the same numbers).
struct BundleModels {
  const Combination* combo = nullptr;
  const MetadataModel* metadata = nullptr;
  std::vector<ImageModel*> branches;  // the combination's image modalities, in its order
  FusionModel* head = nullptr;
  std::vector<std::pair<Combination, FusionModel*>> sub_heads;
};

// Probabilities of `rows` (every one has each modality of `sub`) from the models for `sub`: the
// tree model or the image branch alone for one modality, else the combination's head or the
// sub-combination's. Empty when the bundle has no head for `sub` (written before sub-heads).
Probabilities predict_group(const BundleModels& m, const Combination& sub,
                            const std::vector<int>& rows, const Probabilities& meta,
                            const ImageIndex* index, ImageCache* cache);

// Probabilities for every row of `data`. A row is predicted from the modalities of the
// combination it has: all of them through the combination's model, fewer through the models of
// that sub-combination (the metadata's tree model, an image branch, a sub-combination head).
// With `require_all`, only rows with every modality get a prediction.
RowPredictions predict_rows(const BundleModels& m, bool require_all, const Dataset& data,
                            const ImageIndex* index, ImageCache* cache);

// The predictions file of predict (and train_predictions.csv); returns the scores of the rows
// that have predictions.
Scores write_predictions(const Schema& schema, const Dataset& data, const Probabilities& probs,
                         const Decision& decision, const std::vector<std::string>& used,
                         const std::string& out_csv);

// The image inputs of a dataset for a bundle's modalities (memory cache only).
std::unique_ptr<ImageInputs> bundle_images(const Dataset& data, const Combination& combo,
                                           const PreprocessSettings& preprocess, int threads);

}  // namespace woundphase

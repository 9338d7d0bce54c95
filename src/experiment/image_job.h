// Internal to src/experiment: the image branches of a search (and of a bundle). A branch is one
// network per modality and fold, trained on the fold's training patients with early stopping on
// an inner validation split of them; its per-visit-wound features (mean embedding and mean
// probabilities over the visit-wound's images) then serve its own evaluation and every fusion head
// of the fold.
#pragma once

#include <array>
#include <memory>  // for unique_ptr, shared_ptr
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "woundphase/images.h"
#include "woundphase/modality.h"
#include "woundphase/sampling.h"
#include "woundphase/search.h"
#include "woundphase/search_settings.h"
#include "woundphase/vision.h"

namespace woundphase {

// Modality lists metadata first, then the image modalities in ImageModality's order.
ImageModality image_modality(Modality m);
// Channels the branch of `m` takes: decoded maps have one, RGB frames three.
int branch_channels(ImageModality m, const PreprocessSettings& p);

// Builds each modality's network once, before any image is decoded or any branch trains, so that a
// backbone that cannot take the modality's images (a TorchScript file that does not load, or runs
// neither on the modality's channels nor on 3-channel copies, or returns no embedding) is an
// InputError naming the modality and the file at once rather than after the first branch trained.
void probe_image_models(const ImageBranchSettings& settings,
                        const std::vector<ImageModality>& modalities);

// Rows among `rows` with at least one readable crop of `m` (what "has the modality" means).
std::vector<int> rows_with_images(const ImageIndex& index, ImageCache& cache, Modality m,
                                  const std::vector<int>& rows);

// The samples a fitted step trains on, as references into `rows` (sampling.h's SampleRef): the
// rows themselves when sampling is none, else the strategy's resampled set, planned on the rows'
// metadata features (encoder fitted on those rows only), so duplicates and synthetic samples
// never involve a row outside `rows`.
std::vector<SampleRef> plan_samples(const Dataset& data, const std::vector<int>& rows,
                                    const std::vector<int>& labels,
                                    const SamplingSettings& sampling, unsigned long long seed);

// The images of the planned samples for modality `m`, each sample its own group (groups =
// sample index). A real sample brings all its readable views; a synthetic one (parent_b >= 0)
// brings each view of parent a blended pixel by pixel with a view of parent b (view j with view
// j mod n_b) as (1 - mix) a + mix b, the weight its metadata was interpolated with. Every row
// referenced must have a readable crop (rows_with_images).
LabelledImages gather_samples(const std::vector<SampleRef>& refs, const std::vector<int>& rows,
                              const ImageIndex& index, ImageCache& cache, ImageModality m,
                              int channels);

// Generative augmentation's images of one modality (--gen-aug-dir), planar, per class.
struct GeneratedImages {
  std::array<std::vector<std::vector<uint8_t>>, kNumClasses> by_class;
  size_t count() const {
    size_t n = 0;
    for (const auto& c : by_class) n += c.size();
    return n;
  }
};

// The generated images of `m`, decoded and cropped as its frames are (channels: the branch's):
// every PNG of DIR/<modality>/<class label>/, or of DIR/<class label>/ when DIR has no folder per
// modality (one set for every modality). nullptr without --gen-aug-dir, for a modality without
// its folder, or when the folders hold no image. InputError naming the folder when a class folder
// is missing or a file cannot be used.
std::shared_ptr<const GeneratedImages> load_generated(const ImageBranchSettings& settings,
                                                      const Schema& schema, ImageModality m,
                                                      const PreprocessSettings& prep, int channels);

// Per training batch, with probability `probability`, a share `mix` of its images (rounded, at
// least one) are replaced by generated images of their own class, drawn at random: labels and
// weights stay. Adds what it injected, per class, to *injected.
InjectFn make_injection(std::shared_ptr<const GeneratedImages> generated, double probability,
                        double mix, ClassCounts* injected);

struct TrainedBranch {
  Modality modality = Modality::kThermalMap;
  std::unique_ptr<ImageModel> model;
  std::vector<CurvePoint> curve;  // its training (empty when loaded without a stored curve)
  double best_val_qwk = 0;        // of the restored epoch (model selection of the fold)
  // Generated images put into its training batches per class (--gen-aug-dir).
  ClassCounts generated_injected{};
};

// Trains the branch of `modality` on `fit_rows` (resampled per `sampling`) with early stopping on
// `val_rows`, `generated` (may be null) injected into its training batches; with `load_weights`
// the saved network (and its curve and counts, from the sidecar file) is loaded instead. With
// `save_weights` the network and its curve are saved (atomically).
TrainedBranch train_branch(const Dataset& data, const ImageIndex& index, ImageCache& cache,
                           Modality modality, const ImageBranchSettings& settings,
                           const std::shared_ptr<const GeneratedImages>& generated,
                           const SamplingSettings& sampling, const std::vector<int>& fit_rows,
                           const std::vector<int>& fit_labels, const std::vector<int>& val_rows,
                           const std::vector<int>& val_labels, unsigned long long seed,
                           const ProgressFn& progress, const std::string& save_weights = "",
                           const std::string& load_weights = "");
// True when a branch saved at `path` (network and curve) can be loaded.
bool branch_saved(const std::string& path);

// Per visit-wound features of a branch: for each row with a readable image, the mean embedding
// and the mean class probabilities over its images.
struct BranchFeatures {
  int dim = 0;
  std::unordered_map<int, int> slot;  // row -> index into the vectors below
  std::vector<float> embeddings;      // [slot * dim + j]
  Probabilities probs;                // [slot * kNumClasses + c]
  bool has(int row) const { return slot.count(row) != 0; }
};
BranchFeatures branch_features(const ImageIndex& index, ImageCache& cache, Modality modality,
                               ImageModel& model, const std::vector<int>& rows);

// A branch's features kept beside its saved network (`weights_path` + ".features"), so processes
// that load the network (resume, the workers of a distributed search) need not embed every image
// of the fold again: they are the bytes the training process computed. Written atomically.
void save_branch_features(const std::string& weights_path, const BranchFeatures& features);
// The saved features, if the file exists, is intact and covers exactly `rows` (else nullopt: the
// caller computes them from the network).
std::optional<BranchFeatures> load_branch_features(const std::string& weights_path,
                                                   const std::vector<int>& rows);

// The search log's line (-v 2) for an epoch of `who` (a branch, or a head and its stage): losses,
// validation QWK, "*" when it improved, and its training and validation seconds.
std::string epoch_line(const std::string& who, const EpochReport& e);

}  // namespace woundphase

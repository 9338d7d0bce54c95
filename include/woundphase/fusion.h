// Fusion: a trainable head that combines the modalities of one combination, behind a torch-free
// interface. Like the image networks, the heads and their two-stage trainer live in
// libwoundphase_vision.so (src/fusion/, torch), reached through FusionModel, created by
// create_fusion_model(), which loads that library on first use.
//
// A combination's sources are the metadata branch (it enters as class probabilities only: out-of-
// fold probabilities for training samples, the fold's full tree model for the others) and its
// image branches (each enters as its classifier's probabilities and its backbone's embedding, both
// the mean over the sample's images). A sample is a visit-wound.
//
// Stage 1 trains the head alone on those cached features (the backbones are frozen: they are not
// even run). Stage 2 (optional) trains the head together with the top part of each branch's
// backbone and the branch's classifier, on the images, at its own learning rate; the caller keeps
// it only when it beats stage 1 on the inner validation samples (revert_stage2() otherwise).
#pragma once

#include <memory>  // for unique_ptr
#include <string>
#include <vector>

#include "woundphase/core.h"    // for Probabilities, kNumClasses
#include "woundphase/vision.h"  // for ImageModel, LabelledImages, EpochFn, VisionLoss

namespace woundphase {

// --fusion:
//   fixed            the predecessor's weighted average: metadata weighs rf_weight, the image
//                    branches share the rest equally (without metadata: plain mean). Nothing to
//                    train: a baseline.
//   learned_weights  p = sum_s softmax(a)_s p_s: one trainable weight per source.
//   prob_concat      logits = W [log p_1, ..., log p_S] + b: a linear head on the sources'
//                    log-probabilities.
//   feature_concat   logits = W dropout([standardised embeddings of the image sources,
//                    log-probabilities of every source]) + b.
//   gated            per-sample attention: g = softmax(V [log p_1..log p_S] + c) over the sources,
//                    p = sum_s g_s p_s.
enum class FusionKind { kFixed, kLearnedWeights, kProbConcat, kFeatureConcat, kGated };
FusionKind parse_fusion(const std::string& text);  // "--fusion: ..." InputError listing the names
const char* to_string(FusionKind kind);

// Defaults here; flags, bounds and meanings in fusion_options() (src/fusion/fusion_settings.cpp).
struct FusionSettings {
  // The default won bench/fusion_evidence.sh (README: "Fused combinations").
  FusionKind kind = FusionKind::kFeatureConcat;
  double rf_weight = 0.7;
  int stage1_epochs = 30;
  // 1e-2: on toy problems of 150-600 samples 3e-3 was still far from converged after 30 epochs
  // (loss 0.52 vs 0.06 at convergence), 1e-2 close, and on a noisy one 1e-2 scored as well or
  // better.
  double stage1_learning_rate = 1e-2;
  int stage2_epochs = 0;
  double stage2_learning_rate = 1e-4;
  double stage2_unfreeze = 0.25;
  int patience = 10;
  VisionLoss loss = VisionLoss::kWeightedCrossEntropy;
  double focal_gamma = 2.0;
  VisionClassWeight class_weight = VisionClassWeight::kBalanced;
  double dropout = 0.2;
  double weight_decay = 1e-4;
  int batch_size = 32;
  uint64_t seed = 42;
  int threads = 2;
  void validate() const;  // InputError naming the option
};

template <typename S>
class OptionTable;  // options.h
const OptionTable<FusionSettings>& fusion_options();

// One source of a combination, in the combination's order (metadata first when present).
struct FusionSource {
  std::string name;       // "metadata", "thermal_map", ...
  int embedding_dim = 0;  // 0 for metadata (probabilities only), else the branch's embedding size
};

// Per-sample features, one entry per source (same order as the model's sources).
//   probs[s][i * kNumClasses + c]        probability of class c for sample i from source s
//   embeddings[s][i * dim_s + j]         image sources only (empty vector for metadata)
// labels (and optional weights >= 0) are needed for training and validation only. Embeddings are
// read by feature_concat only (the other heads accept them empty). An empty `{}` is a set of no
// samples (no validation).
struct FusionFeatures {
  int count = 0;
  std::vector<Probabilities> probs;
  std::vector<std::vector<float>> embeddings;
  std::vector<int> labels;
  std::vector<float> weights;  // empty: all 1
};

// Stage 2's samples: the fixed (non-image) sources' features plus, per image source, the
// samples' images. images[s] is empty for metadata; for an image source its `groups` give the
// sample (0..count-1) each image shows, and every sample has at least one image (their labels and
// weights are not read: fixed's are). Training and evaluation alike use the mean over all of them,
// through branches in evaluation mode (stage 2 starts where stage 1 ended). An empty `{}` is a set
// of no samples (no validation).
struct FusionImages {
  FusionFeatures fixed;                // count, labels, weights, and metadata's probs
  std::vector<LabelledImages> images;  // [source]
};

class FusionModel {
 public:
  virtual ~FusionModel() = default;

  virtual const std::vector<FusionSource>& sources() const = 0;
  virtual const FusionSettings& settings() const = 0;

  // Per layer, as `stage` (1 or 2) trains it: the head's layers first ("head.linear", ...), then
  // each branch's layers prefixed by the source's name ("thermal_map.backbone.layer4.1.conv2").
  // In stage 1 every branch layer shows 0 trainable parameters.
  virtual std::vector<LayerParameters> parameter_breakdown(int stage) const = 0;
  long trainable_parameters(int stage) const {
    long n = 0;
    for (const auto& layer : parameter_breakdown(stage)) n += layer.trainable;
    return n;
  }

  // Stage 1: Adam on the head's parameters over `train` features; each epoch is scored on `val`
  // (QWK selects the epoch, ties go to the lower loss), stops after `patience` epochs without
  // improvement and restores the best epoch. Without validation samples every epoch runs and the
  // last is kept. fixed: returns an empty history at once (nothing to train). A trainable kind
  // whose head has 0 trainable parameters is an InputError saying why.
  virtual TrainingHistory fit_stage1(const FusionFeatures& train, const FusionFeatures& val,
                                     const EpochFn& on_epoch = nullptr) = 0;
  // Class probabilities (row-major, kNumClasses per sample) from features.
  virtual Probabilities predict(const FusionFeatures& features) = 0;

  // Stage 2: the head, the branches' classifiers and the top `stage2_unfreeze` of each backbone,
  // trained end to end on the images at stage2_learning_rate, with the same early stopping. It
  // works on the model's own copies of the branches (create_fusion_model clones them), so the
  // caller's branches are untouched. 0 trainable parameters (fixed with stage2_unfreeze 0) is an
  // InputError saying why. Afterwards the model is in its best stage-2 state.
  // `inject` (optional, one per source; an empty function: none) puts other images into each
  // training batch of that source, before its branch runs, given the batch's images' labels (the
  // labels of the samples they show), as FitHooks::inject does for a branch; its generator is
  // the stage's own (seeded from settings.seed). Validation and the features used for selection
  // never pass through it.
  virtual TrainingHistory fit_stage2(const FusionImages& train, const FusionImages& val,
                                     const EpochFn& on_epoch = nullptr,
                                     const std::vector<InjectFn>& inject = {}) = 0;
  // Back to the state before fit_stage2 (head and branches): stage 2 did not beat stage 1.
  virtual void revert_stage2() = 0;

  // The features the model's own branches give these images (image sources: mean embedding and
  // mean probabilities per sample; fixed sources copied from `samples.fixed`).
  virtual FusionFeatures features(const FusionImages& samples) = 0;
  // predict(features(samples)): what a bundle uses, valid after either stage.
  virtual Probabilities predict_images(const FusionImages& samples) = 0;

  // Head, input standardisation and branch copies in one file, written atomically. load() expects
  // a model created with the same settings' kind, sources and branch architectures (InputError
  // naming the file otherwise).
  virtual void save(const std::string& path) const = 0;
  virtual void load(const std::string& path) = 0;
};

// A new head for `sources`. `branches` has one entry per source: nullptr for metadata, else the
// trained image branch of that source, which the model clones (the caller keeps its own).
// InputError for bad settings, sources or branches.
std::unique_ptr<FusionModel> create_fusion_model(const FusionSettings& settings,
                                                 const std::vector<FusionSource>& sources,
                                                 const std::vector<const ImageModel*>& branches);

}  // namespace woundphase

// The library's fusion factory (looked up with dlsym). Returns 0 and sets *out on success;
// otherwise 2 (bad input) or 1 (internal error) with a message in `error`.
extern "C" {
int woundphase_fusion_create(const woundphase::FusionSettings* settings,
                             const woundphase::FusionSource* sources, int n_sources,
                             const woundphase::ImageModel* const* branches,
                             woundphase::FusionModel** out, char* error, size_t error_size);
}

// The image branches' networks, behind a torch-free interface. The networks and their trainer live
// in the shared library libwoundphase_vision.so (src/vision/, the only code that includes
// libtorch); the rest of the program reaches them through ImageModel, created by
// create_image_model(), which loads that library on first use. A process that never asks for an
// image model (a metadata search) never loads libtorch, so it starts in milliseconds instead of
// ~0.8 s.
//
// Images cross this interface as 8-bit planar pixels (NCHW, as the networks take them); the
// networks scale them to floats themselves. ImageU8 (images.h) is interleaved: copy it plane by
// plane (for one channel the two layouts are the same bytes).
#pragma once

#include <array>       // for array
#include <cstddef>     // for size_t
#include <cstdint>     // for uint8_t, uint64_t
#include <functional>  // for function
#include <memory>      // for unique_ptr
#include <random>      // for mt19937_64
#include <string>
#include <vector>

#include "woundphase/core.h"  // for Probabilities, InputError, kNumClasses

namespace woundphase {

// ---- Images ------------------------------------------------------------------------------------

// `count` square images of side `size`, one after another, each planar: its channels one after
// another, each channel's rows top to bottom. Pixel (x, y) of channel c of image i is
// pixels[((i * channels + c) * size + y) * size + x] (NCHW).
struct ImageBatch {
  int count = 0;
  int size = 0;
  int channels = 0;  // 1 (decoded maps) or 3 (RGB)
  std::vector<uint8_t> pixels;

  ImageBatch() = default;
  ImageBatch(int count_, int size_, int channels_)
      : count(count_),
        size(size_),
        channels(channels_),
        pixels(static_cast<size_t>(count_) * size_ * size_ * channels_) {}
  size_t image_bytes() const { return static_cast<size_t>(size) * size * channels; }
  uint8_t* image(int i) { return pixels.data() + image_bytes() * i; }
  const uint8_t* image(int i) const { return pixels.data() + image_bytes() * i; }
};

// Images with their classes. `weights` (optional, one per image, >= 0) multiply each image's loss;
// `groups` (optional, one per image) names the visit-wound an image shows: a training epoch then
// visits each group once through one of its images drawn at random (the others act as
// augmentation), and validation averages a group's probabilities before scoring it, as the
// experiment scores visit-wounds. Images of one group must share their label.
struct LabelledImages {
  ImageBatch images;
  std::vector<int> labels;     // class index 0..num_classes-1
  std::vector<float> weights;  // empty: all 1
  std::vector<int> groups;     // empty: every image is its own group
};

// ---- Settings ----------------------------------------------------------------------------------

// The sides of the square crops the networks take (and the preprocessing makes).
inline constexpr std::array<int, 4> kImageSizes = {32, 64, 128, 256};

// The backbone is named as on the command line: "simple", "resnet18", "densenet121",
// "efficientnet_b0" .. "efficientnet_b3" or "torchscript:PATH".
enum class BackboneKind {
  kSimple,
  kResnet18,
  kDenseNet121,
  kEfficientNetB0,
  kEfficientNetB1,
  kEfficientNetB2,
  kEfficientNetB3,
  kTorchScript
};
enum class VisionLoss { kWeightedCrossEntropy, kFocal };  // "weighted_ce" | "focal"
enum class VisionDevice { kCpu, kCuda, kMulti };          // "cpu" | "cuda[:N]" | "multi"
// Arithmetic of training and inference steps: fp32 everywhere (TF32 off, so CPU and GPU agree), or
// libtorch's autocast to bfloat16 / float16 on CUDA (fp16 with a dynamic loss scale).
enum class Precision { kFp32, kBf16, kFp16 };           // "fp32" | "bf16" | "fp16"
enum class VisionClassWeight { kBalanced, kNone };      // "balanced" | "none"
enum class InputNormalization { kDataset, kImageNet };  // "dataset" | "imagenet"

// The knobs of an image branch (their flags, bounds and meanings: vision_options()). validate()
// names the option (`--backbone`, `--image-size`, ...) in its InputError. The architecture fields
// (backbone, num_classes, dropout, normalization, device) are fixed when the model is created; the
// rest configure each fit().
//
// Backbones (no pretrained weights exist here; all start from He initialisation):
//   simple           3 x (conv3x3 -> batch norm -> ReLU -> max-pool 2) with 32/64/128 channels,
//                    global average pool: embedding 128
//   resnet18         torchvision's layout (BasicBlock [2, 2, 2, 2], 7x7 stem): embedding 512
//   densenet121      torchvision's layout (growth 32, blocks [6, 12, 24, 16], bottleneck 4x,
//                    7x7 stem, final batch norm + ReLU): embedding 1024
//   efficientnet_bN  torchvision's B0 layout (MBConv with squeeze-excitation, SiLU, stochastic
//                    depth 0.2), B1/B2/B3 with width x1.0/x1.1/x1.2 and depth x1.1/x1.2/x1.4:
//                    embedding 1280 (B0, B1), 1408 (B2), 1536 (B3)
//   torchscript:PATH a TorchScript module saved by torch 1.13 (Debian's python3-torch; files from
//                    PyTorch 2.x may not load). Its `features(x)` method if it has one, else
//                    `forward(x)`, takes float images [N, C, S, S] normalised as `normalization`
//                    says and returns the embedding [N, D] (a map [N, D, h, w] is average-pooled).
//                    The trainer adds the dropout and the linear classifier and fine-tunes the
//                    top `unfreeze` share of the module's layers; batch norms inside it are
//                    recognised by type name. A model that runs on 3 channels only takes 1-channel
//                    maps as 3 copies (normalised per copy, with ImageNet's per-channel statistics
//                    under --normalization imagenet, as torchvision's Grayscale(3) pipelines do).
// The classifier is dropout -> linear on the embedding (the backbone's output, or the projection
// head's with --projection) for every backbone.
//
// Devices: cpu; cuda or cuda:N (one GPU, the first or the N-th; needs a CUDA build of libtorch —
// README "GPU build" — else asking is an InputError); multi (on one GPU the same as cuda;
// data-parallel training over several GPUs is not available: an InputError; several GPUs are
// used through MPI ranks, one GPU per rank).
// Defaults here; flags, bounds and meanings in vision_options() (src/vision/vision_settings.cpp).
struct VisionSettings {
  std::string backbone = "simple";  // see above
  int image_size = 64;              // one of kImageSizes
  int num_classes = kNumClasses;
  int epochs = 30;
  int batch_size = 32;
  double learning_rate = 1e-3;
  double weight_decay = 1e-4;
  int patience = 5;
  VisionLoss loss = VisionLoss::kWeightedCrossEntropy;
  double focal_gamma = 2.0;
  VisionClassWeight class_weight = VisionClassWeight::kBalanced;
  double dropout = 0.3;
  InputNormalization normalization = InputNormalization::kDataset;
  // Fine-tuning a pretrained backbone: the top share of its layers that trains (applied when the
  // model is created; set_trainable() changes it later), and batch norms kept on their running
  // statistics while training (small batches of a new domain would otherwise overwrite them).
  double unfreeze = 1;
  bool freeze_bn = false;
  // Projection head between the backbone and the classifier (its output is the embedding the
  // fusion heads take): "none", "auto" (the predecessor's: 128,32 for RGB frames, 128 for maps)
  // or hidden widths "W[,W...]"; each layer linear -> batch norm -> ReLU, dropout between layers.
  std::string projection = "none";
  // The predecessor's training recipe, each off by default (bench/recipe.sh measures them):
  double label_smoothing = 0;    // e: targets 1 - e on the label, e / k on every class
  double mixup = 0;              // Beta(a, a) mixing weight of image pairs in a batch; 0 = off
  double grad_clip = 0;          // clip the gradients' global L2 norm to this; 0 = off
  double lr_plateau_factor = 0;  // multiply the rate by this after a plateau; 0 = constant rate
  int lr_plateau_patience = 2;   // epochs without a lower validation loss that make a plateau
  // ... and its augmentations of training images (images.h, AugmentSettings: rot90, zoom,
  // cutout): declared here so that they take per-modality values like every network knob; the
  // trainer does not read them, the caller's augment hook applies them.
  double aug_rot90 = 0;
  double aug_zoom = 0;
  double aug_cutout = 0;
  uint64_t seed = 42;
  int threads = 2;
  VisionDevice device = VisionDevice::kCpu;  // see above
  int device_index = 0;                      // the N of --device cuda:N
  Precision precision = Precision::kFp32;

  BackboneKind backbone_kind() const;    // InputError for an unknown name
  std::string torchscript_path() const;  // the PATH of "torchscript:PATH", else ""
  // The projection's hidden widths for images of `channels` (empty: none); InputError naming
  // --projection for a malformed list.
  std::vector<int> projection_widths(int channels) const;
  void validate() const;  // InputError naming the option
};

template <typename S>
class OptionTable;  // options.h
const OptionTable<VisionSettings>& vision_options();

BackboneKind parse_backbone(const std::string& text);  // "--backbone: ..." InputError
VisionLoss parse_vision_loss(const std::string& text);
VisionDevice parse_vision_device(const std::string& text);  // "cuda:N" is kCuda
int parse_device_index(const std::string& text);            // N of "cuda:N", else 0
Precision parse_precision(const std::string& text);
VisionClassWeight parse_vision_class_weight(const std::string& text);
InputNormalization parse_input_normalization(const std::string& text);
const char* to_string(VisionLoss v);
const char* to_string(VisionDevice v);
const char* to_string(VisionClassWeight v);
const char* to_string(InputNormalization v);
const char* to_string(Precision v);

// ---- Training ----------------------------------------------------------------------------------

// One finished epoch, as the verbosity hooks see it.
struct EpochReport {
  int epoch = 0;             // 1-based
  double train_loss = 0;     // mean weighted training loss over the epoch's images
  double val_loss = 0;       // the same loss (same class weights) on the validation images
  double val_qwk = 0;        // quadratic-weighted kappa on the validation groups (0: no validation)
  double val_accuracy = 0;   // on the validation groups
  double train_seconds = 0;  // the training steps alone (batches, forward, backward, update)
  double val_seconds = 0;
  long train_images = 0;  // images the epoch trained on
  bool improved = false;  // the best epoch so far (it becomes the restored one)
};

struct TrainingHistory {
  std::vector<EpochReport> epochs;
  int best_epoch = 0;  // 1-based; its weights are the model's after fit()
  bool stopped_early = false;
  double seconds = 0;
};

using EpochFn = std::function<void(const EpochReport& report)>;
// Transforms a training batch in place (uint8 pixels, before scaling). `rng` is the fit's own
// generator (seeded from settings.seed), so augmented runs are reproducible too.
using AugmentFn = std::function<void(ImageBatch& batch, std::mt19937_64& rng)>;

// Puts other images into a training batch in place (uint8 pixels, before augment), given the
// batch's labels, which it must respect (the trainer keeps labels and weights).
using InjectFn =
    std::function<void(ImageBatch& batch, const std::vector<int>& labels, std::mt19937_64& rng)>;

struct FitHooks {
  EpochFn on_epoch;             // called after every epoch
  InjectFn inject;              // applied to every training batch, before augment
  AugmentFn augment;            // applied to every training batch
  std::string checkpoint_path;  // non-empty: save() here after every improving epoch
};

// Parameters of one layer (a module owning tensors directly: a convolution, a batch norm, ...),
// named by its path in the network ("backbone.layer1.0.conv1", "head").
struct LayerParameters {
  std::string name;
  long trainable = 0;  // scalars with gradients on
  long total = 0;
};

// A backbone (the embedding) with a linear classifier on top.
class ImageModel {
 public:
  virtual ~ImageModel() = default;

  // Trains with Adam on `train`, scores each epoch on `val` (its QWK selects the epoch: ties go to
  // the lower validation loss), stops after `patience` epochs without improvement and restores
  // the best epoch's weights. Each call starts a fresh optimiser over the parameters trainable
  // then (see set_trainable). Without validation images every epoch runs and the last is kept.
  // `settings` must name the model's architecture (backbone, classes, dropout, normalization,
  // device); InputError otherwise or for bad images/labels.
  // Deterministic on the CPU for a seed and a thread count (libtorch's CPU kernels are; another
  // thread count may change the last bits). On CUDA cuDNN is put in deterministic mode and an op
  // without a deterministic kernel warns. Seeds go through libtorch's global generator: run one
  // model at a time per process.
  virtual TrainingHistory fit(const LabelledImages& train, const LabelledImages& val,
                              const VisionSettings& settings, const FitHooks& hooks = {}) = 0;
  // Class probabilities, row-major: probs[i * num_classes + c].
  virtual Probabilities predict_proba(const ImageBatch& images) = 0;
  // The penultimate layer (the backbone's pooled output), row-major: [i * embedding_dim() + j].
  virtual std::vector<float> embed(const ImageBatch& images) = 0;
  // embed() and predict_proba() of the same images, through the backbone once (the same numbers
  // as the two calls).
  virtual void embed_and_predict(const ImageBatch& images, std::vector<float>* embeddings,
                                 Probabilities* probs) = 0;
  // Grad-CAM (Selvaraju et al. 2017) of class classes[i] for image i on the backbone's last
  // convolutional stage: the ReLU of the activations weighted by their gradient's spatial mean,
  // upsampled (bilinear) to the image size and divided by its maximum, so each map is in [0, 1]
  // (all 0 when no location raises the class). Row-major: [(i * size + y) * size + x].
  virtual std::vector<float> grad_cam(const ImageBatch& images,
                                      const std::vector<int>& classes) = 0;
  virtual int embedding_dim() const = 0;
  virtual int channels() const = 0;
  virtual int num_classes() const = 0;
  virtual const VisionSettings& settings() const = 0;

  // Per layer, in network order (backbone first, head last).
  virtual std::vector<LayerParameters> parameter_breakdown() const = 0;
  // Freezes the backbone but for its top `top_fraction` in [0, 1] of layers (rounded up); the
  // head always trains. 1 = everything trains (the default), 0 = only the head ("stage 1" with
  // a frozen backbone). A frozen batch norm keeps its running statistics.
  virtual void set_trainable(double top_fraction) = 0;

  // A checkpoint: weights, batch-norm statistics, input normalisation, the trainable fraction and
  // the last fit's optimiser state, written atomically. load() checks that the file was written
  // by a model of the same backbone, channels and classes (InputError naming the file).
  virtual void save(const std::string& path) const = 0;
  virtual void load(const std::string& path) = 0;

  // An independent deep copy: weights, batch-norm statistics, input normalisation and which
  // parameters train (a fresh optimiser). Training either leaves the other untouched.
  virtual std::unique_ptr<ImageModel> clone() const = 0;
};

// ---- Loading the library -----------------------------------------------------------------------

// Bumped whenever ImageModel, VisionSettings, FusionModel, FusionSettings (fusion.h) or the
// factories change; the loader refuses a library built with another version.
inline constexpr int kVisionAbiVersion = 8;
inline constexpr char kVisionLibraryName[] = "libwoundphase_vision.so";
inline constexpr char kVisionLibraryEnv[] = "WOUNDPHASE_VISION_LIB";

// $WOUNDPHASE_VISION_LIB if set, else next to the executable (build tree) or installed in ../lib.
std::string vision_library_path();
// Loads the library (once per process) and reports whether it is usable; `why` gets the reason
// when it is not.
bool vision_available(std::string* why = nullptr);
// A new untrained model for images of `channels` (1 or 3). Loads the library on first use.
// InputError for bad settings, an unavailable CUDA device, or a library that cannot be loaded.
std::unique_ptr<ImageModel> create_image_model(const VisionSettings& settings, int channels);

}  // namespace woundphase

// The library's factory (what the loader looks up with dlsym). Returns 0 and sets *out on success;
// otherwise 2 (bad input) or 1 (internal error) with a message in `error` (NUL-terminated).
extern "C" {
int woundphase_vision_abi_version();
int woundphase_vision_create(const woundphase::VisionSettings* settings, int channels,
                             woundphase::ImageModel** out, char* error, size_t error_size);
}

// TorchImageModel: the library's ImageModel (a Backbone, an optional projection head, dropout and a
// linear classifier) and its TorchBranch side (torch_branch.h: what the fusion trainer drives).
// Internal to libwoundphase_vision.so. Its members are defined by concern: model.cpp (building,
// parameters, trainability, input normalisation), fit.cpp (the training loop), inference.cpp
// (prediction, embeddings, Grad-CAM), checkpoint.cpp (save and load); trainer.cpp holds the
// library's extern "C" factory.
#pragma once

#include <torch/torch.h>

#include <algorithm>  // for min
#include <cstdint>    // for uint8_t, uint64_t
#include <memory>     // for unique_ptr
#include <random>     // for mt19937_64
#include <string>
#include <vector>

#include "vision/backbones.h"
#include "vision/precision.h"
#include "vision/torch_branch.h"
#include "woundphase/vision.h"

namespace woundphase::vision {

// Inference runs on batches this many times the training batch (no activations are kept).
constexpr int kEvalBatchFactor = 2;

// The full names and tensors of a checkpoint list.
struct NamedList {
  c10::List<std::string> names;
  c10::List<at::Tensor> tensors;
};

// Checks a batch against the model's channels and size; `what` names the images in the error.
void check_images(const ImageBatch& b, int channels, int size, const char* what);

class TorchImageModel final : public ImageModel, public TorchBranch {
 public:
  TorchImageModel(const VisionSettings& settings, int channels);

  std::unique_ptr<ImageModel> clone() const override {
    return without_backtrace(
        [&] { return std::unique_ptr<ImageModel>(new TorchImageModel(*this)); });
  }

  TrainingHistory fit(const LabelledImages& train, const LabelledImages& val,
                      const VisionSettings& s, const FitHooks& hooks) override {
    return without_backtrace([&] { return fit_impl(train, val, s, hooks); });
  }
  Probabilities predict_proba(const ImageBatch& images) override {
    return without_backtrace([&] { return predict_impl(images); });
  }
  std::vector<float> embed(const ImageBatch& images) override {
    return without_backtrace([&] { return embed_impl(images); });
  }
  std::vector<float> grad_cam(const ImageBatch& images, const std::vector<int>& classes) override {
    return without_backtrace([&] { return grad_cam_impl(images, classes); });
  }
  void embed_and_predict(const ImageBatch& images, std::vector<float>* embeddings,
                         Probabilities* probs) override {
    without_backtrace([&] { embed_and_predict_impl(images, embeddings, probs); });
  }
  void save(const std::string& path) const override {
    without_backtrace([&] { save_impl(path); });
  }
  void load(const std::string& path) override {
    without_backtrace([&] { load_impl(path); });
  }
  void set_trainable(double top_fraction) override {
    without_backtrace([&] { set_trainable_impl(top_fraction, /*classifier=*/true); });
  }

  int embedding_dim() const override;
  int channels() const override { return channels_; }
  int num_classes() const override { return settings_.num_classes; }
  const VisionSettings& settings() const override { return settings_; }

  std::vector<LayerParameters> parameter_breakdown() const override;

  // ---- TorchBranch

  torch::Device device() const override { return device_; }

  // uint8 planar images -> normalised float [n, C, S, S] on the model's device (one copy).
  torch::Tensor input(const uint8_t* pixels, int n) const override;

  // uint8 images [n, C, S, S] on the device -> normalised float [n, C', S, S] (C' = the
  // backbone's input channels: a map given to an RGB model is replicated into 3 channels).
  torch::Tensor normalize(const torch::Tensor& raw) const;

  // The backbone's pooled output, through the projection head if there is one.
  torch::Tensor embed_tensor(const torch::Tensor& x) override {
    return project(backbone_->forward(x));
  }
  // The projection head (--projection): each layer linear -> batch norm -> ReLU, with dropout
  // between layers; the identity without one.
  torch::Tensor project(torch::Tensor e);
  torch::Tensor classify(const torch::Tensor& embedding) override {
    return head_->forward(seeded_dropout(embedding, settings_.dropout, training_, generator_));
  }

  void set_mode(bool train) override;

  void seed_training(uint64_t seed) override { generator_.set_current_seed(seed); }

  std::vector<NamedTensor> parameters() const override;

  void set_branch_trainable(double top_fraction, bool classifier) override {
    without_backtrace([&] { set_trainable_impl(top_fraction, classifier); });
  }

  std::vector<torch::Tensor> snapshot() const override;

  void restore(const std::vector<torch::Tensor>& saved) override;

  void write(torch::serialize::OutputArchive& archive) const override;

  void read(torch::serialize::InputArchive& archive, const std::string& path) override;

 private:
  // clone(): the same network with copies of every tensor. The new backbone's random
  // initialisation is overwritten at once, so the global generator is put back as it was: cloning
  // does not change what a later seeded step draws.
  TorchImageModel(const TorchImageModel& other);

  void build();

  TrainingHistory fit_impl(const LabelledImages& train, const LabelledImages& val,
                           const VisionSettings& s, const FitHooks& hooks);

  Probabilities predict_impl(const ImageBatch& images);

  std::vector<float> embed_impl(const ImageBatch& images);

  std::vector<float> grad_cam_impl(const ImageBatch& images, const std::vector<int>& classes);

  void embed_and_predict_impl(const ImageBatch& images, std::vector<float>* embeddings,
                              Probabilities* probs);

  void set_trainable_impl(double top_fraction, bool classifier);

  void save_impl(const std::string& path) const;

  void load_impl(const std::string& path);

  // The projection layers (--projection) and the classifier on top of the backbone.
  void build_heads();

  void heads_to_device();

  // Batch-norm statistics of the backbone and the projection, by checkpoint name.
  std::vector<NamedTensor> network_buffers() const;

  void check_architecture(const VisionSettings& s) const;

  torch::Tensor forward(const torch::Tensor& x) { return classify(embed_tensor(x)); }

  template <typename Fn>
  void for_chunks(int count, Fn&& fn) const {
    const int chunk = settings_.batch_size * kEvalBatchFactor;
    for (int begin = 0; begin < count; begin += chunk) fn(begin, std::min(chunk, count - begin));
  }

  // Logits [n, k] on the CPU, in evaluation mode.
  torch::Tensor logits_of(const ImageBatch& images);

  // One epoch: each group once through one of its images drawn at random, in random order.
  // `device_pixels` (defined on a GPU without augmentation): every training crop, on the device.
  void train_epoch(const LabelledImages& train, const std::vector<float>& weights,
                   const std::vector<std::vector<int>>& groups, const FitHooks& hooks,
                   std::mt19937_64& rng, const torch::Tensor& device_pixels, LossScaler* scaler,
                   ImageBatch* batch, EpochReport* report);

  // Validation loss per image; QWK and accuracy per group (mean probabilities).
  void score(const LabelledImages& val, const std::vector<float>& weights,
             const std::vector<std::vector<int>>& groups, EpochReport* report);

  void fit_normalizer(const ImageBatch& images);

  // Until the first fit (dataset mode) inputs are scaled to [0, 1]; imagenet mode is fixed.
  void set_normalization_defaults();

  void set_normalization(const std::vector<float>& mean, const std::vector<float>& sd);

  // Batch-norm statistics and the input normalisation (what a checkpoint needs besides weights).
  std::vector<NamedTensor> buffers_with_input() const;

  static NamedList to_list(const std::vector<NamedTensor>& tensors);

  // Copies the checkpoint's "<kind>s" into `into`, checking names and shapes.
  void read_list(torch::serialize::InputArchive& archive, const std::string& path,
                 const std::string& kind, const std::vector<NamedTensor>& into);

  void new_optimizer();

  VisionSettings settings_;
  int channels_;      // the images' (1 or 3)
  int net_channels_;  // the backbone's input: channels_, or 3 for a map given to an RGB model
  torch::Device device_{torch::kCPU};
  std::unique_ptr<Backbone> backbone_;
  bool training_ = false;
  at::Generator generator_ = make_cpu_generator(0);  // training draws; seeded by every fit
  struct ProjectionLayer {
    torch::nn::Linear linear{nullptr};
    torch::nn::BatchNorm1d norm{nullptr};
  };
  std::vector<ProjectionLayer> projection_;
  torch::nn::Linear head_{nullptr};
  torch::Tensor input_mean_;  // [1, net_channels_, 1, 1], pixel units
  torch::Tensor input_std_;
  bool normalizer_fitted_ = false;
  double trainable_fraction_ = 1;
  bool classifier_trainable_ = true;
  std::unique_ptr<torch::optim::Adam> optimizer_;
};

}  // namespace woundphase::vision

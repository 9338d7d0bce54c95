// The backbones behind ImageModel (internal to libwoundphase_vision.so; includes libtorch).
// A backbone maps normalised images [N, C, H, W] to embeddings [N, D]; the trainer adds the
// dropout and the linear classifier on top.
#pragma once

#include <torch/torch.h>

#include <memory>  // for unique_ptr
#include <string>
#include <utility>  // for pair
#include <vector>

#include "woundphase/vision.h"

namespace woundphase::vision {

using NamedTensor = std::pair<std::string, torch::Tensor>;

class Backbone {
 public:
  virtual ~Backbone() = default;
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;  // [N, C, H, W] -> [N, D]
  // Grad-CAM's layer: the last convolutional stage's activations [N, K, h, w], and the rest of
  // the backbone from them, so that forward(x) == pool(feature_map(x)). InputError for a backbone
  // without one (a TorchScript model whose output is already pooled).
  virtual torch::Tensor feature_map(const torch::Tensor& x) = 0;
  virtual torch::Tensor pool(const torch::Tensor& a) = 0;
  virtual int64_t dim() const = 0;
  // In network order (input first), names relative to the backbone ("layer1.0.conv1.weight").
  virtual std::vector<NamedTensor> named_parameters() const = 0;
  virtual std::vector<NamedTensor> named_buffers() const = 0;
  // Training mode for the whole backbone, except that batch norms stay in evaluation mode (their
  // running statistics do not move) when their parameters are all frozen or `freeze_bn` is set.
  virtual void train(bool on, bool freeze_bn) = 0;
  // The channels the backbone takes for images of `image_channels`: the same, except a
  // TorchScript model that runs only on 3 channels, given 1-channel maps (the trainer then
  // replicates the map into 3 channels, as torchvision's Grayscale(3) does).
  virtual int input_channels(int image_channels) const { return image_channels; }
  virtual void to(const torch::Device& device) = 0;
  // The generator of the backbone's training draws (EfficientNet's stochastic depth); it must
  // outlive the backbone. Backbones without draws ignore it.
  virtual void set_generator(at::Generator* /*generator*/) {}
};

// Builds the backbone named by settings.backbone for images of `channels`. TorchScript modules are
// loaded from their file and probed once with a batch of zeros of settings.image_size to learn D
// (and, for 1-channel images, whether the model wants 3 channels); a module that cannot be loaded
// or run, or returns no embedding, is an InputError naming the file and what was expected.
std::unique_ptr<Backbone> make_backbone(const VisionSettings& settings, int channels);

// ---- The C++ networks (exposed for the throughput bench and the tests) --------------------------

// Three blocks conv3x3 -> batch norm -> ReLU -> max-pool 2 (32, 64, 128 channels), then global
// average pooling: D = 128.
struct SimpleCnnImpl : torch::nn::Module {
  explicit SimpleCnnImpl(int channels);
  torch::Tensor forward(const torch::Tensor& x);
  // The last block's ReLU output (before its max-pool), and the pooling after it.
  torch::Tensor feature_map(const torch::Tensor& x);
  torch::Tensor pool(const torch::Tensor& a);
  torch::nn::Sequential features;
};
TORCH_MODULE(SimpleCnn);

}  // namespace woundphase::vision

// TorchImageModel (image_model.h): building the network, its parameters and buffers, which layers
// train, and the input normalisation.
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>  // for min, max
#include <array>
#include <cmath>  // for ceil, isfinite, sqrt
#include <mutex>  // for lock_guard
#include <string>
#include <vector>

#include "vision/image_model.h"
#include "woundphase/random.h"  // for mix_seed

namespace woundphase::vision {
namespace {

constexpr char kBackbonePrefix[] = "backbone.";
constexpr char kProjectionPrefix[] = "projection.";
// A channel's standard deviation (pixel units) is at least this, so constant channels stay finite.
constexpr double kMinPixelStd = 1.0;
constexpr double kPixelMax = 255.0;
// Weight initialisation's seed, derived from settings.seed (fit.cpp derives the training streams').
constexpr uint64_t kInitSalt = 1;
// ImageNet's per-channel statistics (RGB, of pixels scaled to [0, 1]); one channel uses the mean.
constexpr std::array<double, 3> kImageNetMean = {0.485, 0.456, 0.406};
constexpr std::array<double, 3> kImageNetStd = {0.229, 0.224, 0.225};

// The layer a parameter belongs to: its name without the last component.
std::string layer_of(const std::string& name) {
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

}  // namespace

TorchImageModel::TorchImageModel(const VisionSettings& settings, int channels)
    : settings_(settings), channels_(channels), net_channels_(channels) {
  without_backtrace([&] { build(); });
}

int TorchImageModel::embedding_dim() const {
  return projection_.empty() ? static_cast<int>(backbone_->dim())
                             : static_cast<int>(projection_.back().linear->options.out_features());
}

std::vector<LayerParameters> TorchImageModel::parameter_breakdown() const {
  std::vector<LayerParameters> layers;
  for (const auto& [name, p] : parameters()) {
    const std::string layer = layer_of(name);
    if (layers.empty() || layers.back().name != layer) layers.push_back({layer, 0, 0});
    layers.back().total += p.numel();
    if (p.requires_grad()) layers.back().trainable += p.numel();
  }
  return layers;
}

torch::Tensor TorchImageModel::input(const uint8_t* pixels, int n) const {
  const int size = settings_.image_size;
  const torch::Tensor raw =
      torch::from_blob(const_cast<uint8_t*>(pixels), {n, channels_, size, size}, torch::kUInt8);
  return normalize(raw.to(device_));
}

torch::Tensor TorchImageModel::normalize(const torch::Tensor& raw) const {
  torch::Tensor x = raw.to(torch::kFloat);
  if (net_channels_ != channels_) x = x.expand({-1, net_channels_, -1, -1}).contiguous();
  return x.sub_(input_mean_).div_(input_std_);
}

torch::Tensor TorchImageModel::project(torch::Tensor e) {
  for (size_t i = 0; i < projection_.size(); ++i) {
    if (i > 0) e = seeded_dropout(e, settings_.dropout, training_, generator_);
    e = torch::relu(projection_[i].norm->forward(projection_[i].linear->forward(e)));
  }
  return e;
}

void TorchImageModel::set_mode(bool train) {
  backbone_->train(train, settings_.freeze_bn);
  // A frozen projection (stage 2 with a fixed branch) keeps its batch norms' statistics too.
  for (auto& layer : projection_) layer.norm->train(train && classifier_trainable_);
  head_->train(train);
  training_ = train;
}

std::vector<NamedTensor> TorchImageModel::parameters() const {
  std::vector<NamedTensor> out;
  for (auto& [name, t] : backbone_->named_parameters()) out.emplace_back(kBackbonePrefix + name, t);
  for (size_t i = 0; i < projection_.size(); ++i) {
    const std::string prefix = fmt::format("{}{}.", kProjectionPrefix, i);
    for (const auto& item : projection_[i].linear->named_parameters())
      out.emplace_back(prefix + "linear." + item.key(), item.value());
    for (const auto& item : projection_[i].norm->named_parameters())
      out.emplace_back(prefix + "norm." + item.key(), item.value());
  }
  for (const auto& item : head_->named_parameters())
    out.emplace_back("head." + item.key(), item.value());
  return out;
}

std::vector<torch::Tensor> TorchImageModel::snapshot() const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (const auto& [name, t] : parameters()) out.push_back(t.detach().clone());
  for (const auto& [name, t] : network_buffers()) out.push_back(t.detach().clone());
  return out;
}

void TorchImageModel::restore(const std::vector<torch::Tensor>& saved) {
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& [name, t] : parameters()) t.copy_(saved[i++]);
  for (auto& [name, t] : network_buffers()) t.copy_(saved[i++]);
}

TorchImageModel::TorchImageModel(const TorchImageModel& other)
    : settings_(other.settings_),
      channels_(other.channels_),
      net_channels_(other.net_channels_),
      device_(other.device_),
      generator_(other.generator_.clone()) {
  {
    std::lock_guard<std::mutex> lock(global_generator_mutex());
    auto generator = at::detail::getDefaultCPUGenerator();
    const torch::Tensor generator_state = generator.get_state();
    backbone_ = make_backbone(settings_, channels_);
    build_heads();
    generator.set_state(generator_state);
  }
  backbone_->set_generator(&generator_);
  heads_to_device();
  {
    torch::NoGradGuard no_grad;
    const auto from = other.parameters();
    const auto to = parameters();
    for (size_t i = 0; i < to.size(); ++i) {
      to[i].second.copy_(from[i].second);
      to[i].second.requires_grad_(from[i].second.requires_grad());
    }
    const auto from_buffers = other.network_buffers();
    const auto to_buffers = network_buffers();
    for (size_t i = 0; i < to_buffers.size(); ++i)
      to_buffers[i].second.copy_(from_buffers[i].second);
  }
  input_mean_ = other.input_mean_.clone();
  input_std_ = other.input_std_.clone();
  normalizer_fitted_ = other.normalizer_fitted_;
  trainable_fraction_ = other.trainable_fraction_;
  classifier_trainable_ = other.classifier_trainable_;
  new_optimizer();
}

void TorchImageModel::build() {
  settings_.validate();
  if (channels_ != 1 && channels_ != 3)
    throw InputError(fmt::format("image channels must be 1 or 3, got {}", channels_));
  device_ = resolve_device(settings_.device, settings_.device_index, settings_.precision);
  torch::set_num_threads(settings_.threads);
  {
    std::lock_guard<std::mutex> lock(global_generator_mutex());
    torch::manual_seed(mix_seed(settings_.seed, kInitSalt));
    backbone_ = make_backbone(settings_, channels_);
    build_heads();
  }
  net_channels_ = backbone_->input_channels(channels_);
  backbone_->set_generator(&generator_);
  heads_to_device();
  set_normalization_defaults();
  // --image-unfreeze: fine-tuning a pretrained backbone trains its top layers only.
  set_trainable_impl(settings_.unfreeze, /*classifier=*/true);
}

void TorchImageModel::set_trainable_impl(double top_fraction, bool classifier) {
  if (!std::isfinite(top_fraction) || top_fraction < 0 || top_fraction > 1)
    throw InputError(fmt::format("set_trainable: top fraction {} must be in [0, 1]", top_fraction));
  const auto params = backbone_->named_parameters();
  std::vector<std::string> layers;
  for (const auto& [name, p] : params)
    if (layers.empty() || layers.back() != layer_of(name)) layers.push_back(layer_of(name));
  const auto keep = static_cast<size_t>(std::ceil(top_fraction * layers.size() - 1e-9));
  const size_t first_trainable = layers.size() - std::min(keep, layers.size());
  size_t layer = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    if (i > 0 && layer_of(params[i].first) != layer_of(params[i - 1].first)) ++layer;
    params[i].second.requires_grad_(layer >= first_trainable);
  }
  for (auto& layer : projection_) {
    for (auto& p : layer.linear->parameters()) p.requires_grad_(classifier);
    for (auto& p : layer.norm->parameters()) p.requires_grad_(classifier);
  }
  for (auto& p : head_->parameters()) p.requires_grad_(classifier);
  trainable_fraction_ = top_fraction;
  classifier_trainable_ = classifier;
  new_optimizer();
}

void TorchImageModel::build_heads() {
  int64_t in = backbone_->dim();
  for (int width : settings_.projection_widths(channels_)) {
    projection_.push_back({torch::nn::Linear(in, width), torch::nn::BatchNorm1d(width)});
    in = width;
  }
  head_ = torch::nn::Linear(in, settings_.num_classes);
}

void TorchImageModel::heads_to_device() {
  backbone_->to(device_);
  for (auto& layer : projection_) {
    layer.linear->to(device_);
    layer.norm->to(device_);
  }
  head_->to(device_);
}

std::vector<NamedTensor> TorchImageModel::network_buffers() const {
  std::vector<NamedTensor> out;
  for (auto& [name, t] : backbone_->named_buffers()) out.emplace_back(kBackbonePrefix + name, t);
  for (size_t i = 0; i < projection_.size(); ++i)
    for (const auto& item : projection_[i].norm->named_buffers())
      out.emplace_back(fmt::format("{}{}.norm.{}", kProjectionPrefix, i, item.key()), item.value());
  return out;
}

void TorchImageModel::check_architecture(const VisionSettings& s) const {
  auto check = [](bool same, const char* option, const std::string& built,
                  const std::string& given) {
    if (!same)
      throw InputError(fmt::format("{}: the model was built with {} but fit() was given {}", option,
                                   built, given));
  };
  check(s.backbone == settings_.backbone, "--backbone", settings_.backbone, s.backbone);
  check(s.projection == settings_.projection, "--projection", settings_.projection, s.projection);
  check(s.num_classes == settings_.num_classes, "num_classes",
        std::to_string(settings_.num_classes), std::to_string(s.num_classes));
  check(s.dropout == settings_.dropout, "--dropout", fmt::format("{}", settings_.dropout),
        fmt::format("{}", s.dropout));
  check(s.normalization == settings_.normalization, "--normalization",
        to_string(settings_.normalization), to_string(s.normalization));
  check(s.device == settings_.device && s.device_index == settings_.device_index, "--device",
        fmt::format("{}:{}", to_string(settings_.device), settings_.device_index),
        fmt::format("{}:{}", to_string(s.device), s.device_index));
}

void TorchImageModel::fit_normalizer(const ImageBatch& images) {
  std::vector<double> sum(channels_, 0.0), sum_sq(channels_, 0.0);
  const size_t plane = static_cast<size_t>(images.size) * images.size;
  const size_t pixels = plane * images.count;  // per channel
  for (int i = 0; i < images.count; ++i)
    for (int c = 0; c < channels_; ++c) {
      const uint8_t* p = images.image(i) + c * plane;
      for (size_t j = 0; j < plane; ++j) {
        const double v = p[j];
        sum[c] += v;
        sum_sq[c] += v * v;
      }
    }
  // A replicated map's copies share its statistics.
  std::vector<float> mean(net_channels_), sd(net_channels_);
  for (int c = 0; c < net_channels_; ++c) {
    const int from = std::min(c, channels_ - 1);
    mean[c] = static_cast<float>(sum[from] / pixels);
    const double var =
        std::max(0.0, sum_sq[from] / pixels - mean[c] * static_cast<double>(mean[c]));
    sd[c] = static_cast<float>(std::max(kMinPixelStd, std::sqrt(var)));
  }
  set_normalization(mean, sd);
  normalizer_fitted_ = true;
}

void TorchImageModel::set_normalization_defaults() {
  std::vector<float> mean(net_channels_, 0.0f), sd(net_channels_, static_cast<float>(kPixelMax));
  if (settings_.normalization == InputNormalization::kImageNet) {
    for (int c = 0; c < net_channels_; ++c) {
      double m = kImageNetMean[c], s = kImageNetStd[c];
      if (net_channels_ == 1) {
        m = (kImageNetMean[0] + kImageNetMean[1] + kImageNetMean[2]) / 3;
        s = (kImageNetStd[0] + kImageNetStd[1] + kImageNetStd[2]) / 3;
      }
      mean[c] = static_cast<float>(m * kPixelMax);
      sd[c] = static_cast<float>(s * kPixelMax);
    }
  }
  set_normalization(mean, sd);
}

void TorchImageModel::set_normalization(const std::vector<float>& mean,
                                        const std::vector<float>& sd) {
  input_mean_ = torch::tensor(mean).view({1, net_channels_, 1, 1}).to(device_);
  input_std_ = torch::tensor(sd).view({1, net_channels_, 1, 1}).to(device_);
}

void TorchImageModel::new_optimizer() {
  std::vector<torch::Tensor> trainable;
  for (const auto& [name, p] : parameters())
    if (p.requires_grad()) trainable.push_back(p);
  optimizer_ = std::make_unique<torch::optim::Adam>(
      trainable,
      torch::optim::AdamOptions(settings_.learning_rate).weight_decay(settings_.weight_decay));
}

}  // namespace woundphase::vision

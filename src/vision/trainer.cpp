// The image trainer: TorchImageModel (a Backbone, dropout and a linear classifier) with its fit
// loop (Adam, weighted cross-entropy or focal loss, early stopping on validation QWK), inference,
// checkpoints, its TorchBranch side (torch_branch.h: what the fusion trainer drives), and the
// library's extern "C" factory.
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>  // for min, max
#include <array>
#include <chrono>      // for steady_clock
#include <cmath>       // for ceil, isfinite
#include <cstring>     // for memcpy
#include <filesystem>  // for exists
#include <limits>      // for numeric_limits
#include <random>      // for mt19937_64
#include <stdexcept>   // for logic_error
#include <unordered_map>

#include "vision/backbones.h"
#include "vision/c_abi.h"
#include "vision/precision.h"
#include "vision/torch_branch.h"
#include "vision/trainer_detail.h"
#include "woundphase/class_weights.h"
#include "woundphase/metrics.h"  // for quadratic_weighted_kappa
#include "woundphase/random.h"   // for uniform_index
#include "woundphase/vision.h"

namespace woundphase::vision {
namespace {

constexpr char kCheckpointFormat[] = "woundphase-vision-checkpoint-1";
constexpr char kBackbonePrefix[] = "backbone.";
constexpr char kProjectionPrefix[] = "projection.";
constexpr char kInputMeanName[] = "input.mean";
constexpr char kInputStdName[] = "input.std";
// A channel's standard deviation (pixel units) is at least this, so constant channels stay finite.
constexpr double kMinPixelStd = 1.0;
constexpr double kPixelMax = 255.0;
// Inference runs on batches this many times the training batch (no activations are kept).
constexpr int kEvalBatchFactor = 2;
// Grad-CAM maps are divided by their peak; peaks below this are treated as 0 (no division by ~0).
constexpr double kCamFloor = 1e-12;
// Seeds of the model's random streams, derived from settings.seed.
constexpr uint64_t kInitSalt = 1;     // weight initialisation
constexpr uint64_t kFitSalt = 2;      // dropout, stochastic depth (the model's own generator)
constexpr uint64_t kShuffleSalt = 3;  // epoch order, view draws, augmentation
// ImageNet's per-channel statistics (RGB, of pixels scaled to [0, 1]); one channel uses the mean.
constexpr std::array<double, 3> kImageNetMean = {0.485, 0.456, 0.406};
constexpr std::array<double, 3> kImageNetStd = {0.229, 0.224, 0.225};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Per-image loss [N] of logits [N, k]: cross-entropy, or focal loss (1 - p)^gamma * CE.
// Per image: cross-entropy against the label smoothed by `smoothing` (1 - e on the label, e / k on
// every class), times focal loss's (1 - p_label)^gamma.
torch::Tensor per_image_loss(const torch::Tensor& logits, const torch::Tensor& targets,
                             VisionLoss loss, double gamma, double smoothing = 0) {
  const torch::Tensor log_all = torch::log_softmax(logits, 1);
  const torch::Tensor log_p = log_all.gather(1, targets.unsqueeze(1)).squeeze(1);
  torch::Tensor ce = -log_p;
  if (smoothing > 0) ce = (1 - smoothing) * ce - smoothing * log_all.mean(1);
  if (loss == VisionLoss::kFocal && gamma > 0) return torch::pow(1 - log_p.exp(), gamma) * ce;
  return ce;
}

// A draw of Beta(alpha, alpha) from two gamma draws of `rng` (mixup's mixing weight).
double beta_draw(double alpha, std::mt19937_64& rng) {
  std::gamma_distribution<double> gamma(alpha, 1.0);
  const double a = gamma(rng);
  const double b = gamma(rng);
  return a + b > 0 ? a / (a + b) : 0.5;
}

// ReduceLROnPlateau on the validation loss: after `patience` epochs without a lower loss, every
// learning rate of the optimiser is multiplied by `factor` (0: constant rates).
class PlateauSchedule {
 public:
  PlateauSchedule(double factor, int patience) : factor_(factor), patience_(patience) {}
  // The epoch's multiplier of the learning rates: `factor` when it ends a plateau, else 1.
  double update(double val_loss) {
    if (factor_ <= 0) return 1;
    if (val_loss < best_) {
      best_ = val_loss;
      waited_ = 0;
      return 1;
    }
    if (++waited_ < patience_) return 1;
    waited_ = 0;
    return factor_;
  }
  void update(double val_loss, torch::optim::Adam& optimizer) {
    const double multiplier = update(val_loss);
    if (multiplier == 1) return;
    for (auto& group : optimizer.param_groups()) {
      auto& options = static_cast<torch::optim::AdamOptions&>(group.options());
      options.lr(options.lr() * multiplier);
    }
  }

 private:
  double factor_;
  int patience_;
  double best_ = std::numeric_limits<double>::infinity();
  int waited_ = 0;
};

void check_images(const ImageBatch& b, int channels, int size, const char* what) {
  if (b.count < 0) throw InputError(fmt::format("{} images: negative count {}", what, b.count));
  if (b.count == 0) return;
  if (b.channels != channels)
    throw InputError(
        fmt::format("{} images have {} channels; the model takes {}", what, b.channels, channels));
  if (b.size != size)
    throw InputError(
        fmt::format("{} images are {}x{}; --image-size is {}", what, b.size, b.size, size));
  if (b.pixels.size() != b.image_bytes() * b.count)
    throw InputError(fmt::format("{} images: {} pixel bytes for {} images of {}x{}x{}", what,
                                 b.pixels.size(), b.count, b.size, b.size, b.channels));
}

void check_labelled(const LabelledImages& d, int channels, int size, int k, const char* what) {
  check_images(d.images, channels, size, what);
  const size_t n = d.images.count;
  if (d.labels.size() != n)
    throw InputError(fmt::format("{} images: {} labels for {} images", what, d.labels.size(), n));
  for (int y : d.labels)
    if (y < 0 || y >= k)
      throw InputError(fmt::format("{} images: label {} outside [0, {})", what, y, k));
  if (!d.weights.empty() && d.weights.size() != n)
    throw InputError(fmt::format("{} images: {} weights for {} images", what, d.weights.size(), n));
  for (float w : d.weights)
    if (!std::isfinite(w) || w < 0)
      throw InputError(fmt::format("{} images: weight {} is not a finite number >= 0", what, w));
  if (!d.groups.empty() && d.groups.size() != n)
    throw InputError(fmt::format("{} images: {} groups for {} images", what, d.groups.size(), n));
  std::unordered_map<int, int> label_of_group;
  for (size_t i = 0; i < d.groups.size(); ++i) {
    const auto [it, fresh] = label_of_group.emplace(d.groups[i], d.labels[i]);
    if (!fresh && it->second != d.labels[i])
      throw InputError(fmt::format("{} images: group {} holds labels {} and {}", what, d.groups[i],
                                   it->second, d.labels[i]));
  }
}

// Image indices per group, groups in order of first appearance.
std::vector<std::vector<int>> group_members(const LabelledImages& d) {
  std::vector<std::vector<int>> members;
  if (d.groups.empty()) {
    for (int i = 0; i < d.images.count; ++i) members.push_back({i});
    return members;
  }
  std::unordered_map<int, size_t> slot;
  for (int i = 0; i < d.images.count; ++i) {
    const auto [it, fresh] = slot.emplace(d.groups[i], members.size());
    if (fresh) members.emplace_back();
    members[it->second].push_back(i);
  }
  return members;
}

// Per-image weights: the image's own weight times its class's weight.
std::vector<float> image_weights(const LabelledImages& d, const std::vector<double>& class_w) {
  std::vector<float> w(d.labels.size());
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>((d.weights.empty() ? 1.0 : d.weights[i]) * class_w[d.labels[i]]);
  return w;
}

// balanced: balanced_class_weights() (class_weights.h) over the images' weights; none: 1.
std::vector<double> class_weights(const LabelledImages& train, const VisionSettings& s) {
  if (s.class_weight == VisionClassWeight::kNone) return std::vector<double>(s.num_classes, 1.0);
  return balanced_class_weights(train.labels, train.weights, s.num_classes);
}

torch::Tensor long_tensor(const std::vector<int>& values) {
  return torch::tensor(std::vector<int64_t>(values.begin(), values.end()), torch::kLong);
}
torch::Tensor float_tensor(const std::vector<float>& values) {
  return torch::tensor(values, torch::kFloat);
}

// The layer a parameter belongs to: its name without the last component.
std::string layer_of(const std::string& name) {
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

// The full names and tensors of a checkpoint list.
struct NamedList {
  c10::List<std::string> names;
  c10::List<at::Tensor> tensors;
};

class TorchImageModel final : public ImageModel, public TorchBranch {
 public:
  TorchImageModel(const VisionSettings& settings, int channels)
      : settings_(settings), channels_(channels), net_channels_(channels) {
    without_backtrace([&] { build(); });
  }

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

  int embedding_dim() const override {
    return projection_.empty()
               ? static_cast<int>(backbone_->dim())
               : static_cast<int>(projection_.back().linear->options.out_features());
  }
  int channels() const override { return channels_; }
  int num_classes() const override { return settings_.num_classes; }
  const VisionSettings& settings() const override { return settings_; }

  std::vector<LayerParameters> parameter_breakdown() const override {
    std::vector<LayerParameters> layers;
    for (const auto& [name, p] : parameters()) {
      const std::string layer = layer_of(name);
      if (layers.empty() || layers.back().name != layer) layers.push_back({layer, 0, 0});
      layers.back().total += p.numel();
      if (p.requires_grad()) layers.back().trainable += p.numel();
    }
    return layers;
  }

  // ---- TorchBranch

  torch::Device device() const override { return device_; }

  // uint8 planar images -> normalised float [n, C, S, S] on the model's device (one copy).
  torch::Tensor input(const uint8_t* pixels, int n) const override {
    const int size = settings_.image_size;
    const torch::Tensor raw =
        torch::from_blob(const_cast<uint8_t*>(pixels), {n, channels_, size, size}, torch::kUInt8);
    return normalize(raw.to(device_));
  }

  // uint8 images [n, C, S, S] on the device -> normalised float [n, C', S, S] (C' = the
  // backbone's input channels: a map given to an RGB model is replicated into 3 channels).
  torch::Tensor normalize(const torch::Tensor& raw) const {
    torch::Tensor x = raw.to(torch::kFloat);
    if (net_channels_ != channels_) x = x.expand({-1, net_channels_, -1, -1}).contiguous();
    return x.sub_(input_mean_).div_(input_std_);
  }

  // The backbone's pooled output, through the projection head if there is one.
  torch::Tensor embed_tensor(const torch::Tensor& x) override {
    return project(backbone_->forward(x));
  }
  // The projection head (--projection): each layer linear -> batch norm -> ReLU, with dropout
  // between layers; the identity without one.
  torch::Tensor project(torch::Tensor e) {
    for (size_t i = 0; i < projection_.size(); ++i) {
      if (i > 0) e = seeded_dropout(e, settings_.dropout, training_, generator_);
      e = torch::relu(projection_[i].norm->forward(projection_[i].linear->forward(e)));
    }
    return e;
  }
  torch::Tensor classify(const torch::Tensor& embedding) override {
    return head_->forward(seeded_dropout(embedding, settings_.dropout, training_, generator_));
  }

  void set_mode(bool train) override {
    backbone_->train(train, settings_.freeze_bn);
    // A frozen projection (stage 2 with a fixed branch) keeps its batch norms' statistics too.
    for (auto& layer : projection_) layer.norm->train(train && classifier_trainable_);
    head_->train(train);
    training_ = train;
  }

  void seed_training(uint64_t seed) override { generator_.set_current_seed(seed); }

  std::vector<NamedTensor> parameters() const override {
    std::vector<NamedTensor> out;
    for (auto& [name, t] : backbone_->named_parameters())
      out.emplace_back(kBackbonePrefix + name, t);
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

  void set_branch_trainable(double top_fraction, bool classifier) override {
    without_backtrace([&] { set_trainable_impl(top_fraction, classifier); });
  }

  std::vector<torch::Tensor> snapshot() const override {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> out;
    for (const auto& [name, t] : parameters()) out.push_back(t.detach().clone());
    for (const auto& [name, t] : network_buffers()) out.push_back(t.detach().clone());
    return out;
  }

  void restore(const std::vector<torch::Tensor>& saved) override {
    torch::NoGradGuard no_grad;
    size_t i = 0;
    for (auto& [name, t] : parameters()) t.copy_(saved[i++]);
    for (auto& [name, t] : network_buffers()) t.copy_(saved[i++]);
  }

  void write(torch::serialize::OutputArchive& archive) const override {
    archive.write("format", c10::IValue(std::string(kCheckpointFormat)));
    archive.write("backbone", c10::IValue(settings_.backbone));
    archive.write("channels", c10::IValue(static_cast<int64_t>(channels_)));
    archive.write("num_classes", c10::IValue(static_cast<int64_t>(settings_.num_classes)));
    archive.write("trainable_fraction", c10::IValue(trainable_fraction_));
    archive.write("classifier_trainable", c10::IValue(classifier_trainable_));
    archive.write("normalizer_fitted", c10::IValue(normalizer_fitted_));
    const NamedList params = to_list(parameters());
    const NamedList buffers = to_list(buffers_with_input());
    archive.write("parameter_names", c10::IValue(params.names));
    archive.write("parameters", c10::IValue(params.tensors));
    archive.write("buffer_names", c10::IValue(buffers.names));
    archive.write("buffers", c10::IValue(buffers.tensors));
    torch::serialize::OutputArchive optimizer;
    optimizer_->save(optimizer);
    archive.write("optimizer", optimizer);
  }

  void read(torch::serialize::InputArchive& archive, const std::string& path) override {
    c10::IValue v;
    if (!archive.try_read("format", v) || !v.isString() || v.toStringRef() != kCheckpointFormat)
      throw InputError(fmt::format("'{}' is not a woundphase image checkpoint", path));
    auto expect = [&](const char* key, const c10::IValue& want, const std::string& shown) {
      c10::IValue got;
      if (!archive.try_read(key, got) || got != want)
        throw InputError(fmt::format(
            "checkpoint '{}' was written by another network ({} is not {})", path, key, shown));
    };
    expect("backbone", c10::IValue(settings_.backbone), settings_.backbone);
    expect("channels", c10::IValue(static_cast<int64_t>(channels_)), std::to_string(channels_));
    expect("num_classes", c10::IValue(static_cast<int64_t>(settings_.num_classes)),
           std::to_string(settings_.num_classes));
    read_list(archive, path, "parameter", parameters());
    read_list(archive, path, "buffer", buffers_with_input());
    archive.read("normalizer_fitted", v);
    normalizer_fitted_ = v.toBool();
    archive.read("trainable_fraction", v);
    const double fraction = v.toDouble();
    // Checkpoints from before the classifier could be frozen train it.
    const bool classifier = !archive.try_read("classifier_trainable", v) || v.toBool();
    set_trainable_impl(fraction, classifier);
    torch::serialize::InputArchive optimizer;
    if (archive.try_read("optimizer", optimizer)) {
      try {
        optimizer_->load(optimizer);
      } catch (const std::exception& e) {
        throw InputError(fmt::format("checkpoint '{}': its optimiser state does not fit", path));
      }
    }
  }

 private:
  // clone(): the same network with copies of every tensor. The new backbone's random
  // initialisation is overwritten at once, so the global generator is put back as it was: cloning
  // does not change what a later seeded step draws.
  TorchImageModel(const TorchImageModel& other)
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

  void build() {
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

  TrainingHistory fit_impl(const LabelledImages& train, const LabelledImages& val,
                           const VisionSettings& s, const FitHooks& hooks) {
    const auto start = Clock::now();
    s.validate();
    check_architecture(s);
    const int k = s.num_classes;
    check_labelled(train, channels_, s.image_size, k, "training");
    check_labelled(val, channels_, s.image_size, k, "validation");
    if (train.images.count < 2) throw InputError("training images: at least 2 are needed");
    settings_ = s;
    torch::set_num_threads(s.threads);
    // CPU kernels are deterministic; on CUDA an op without a deterministic kernel warns.
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
    if (!normalizer_fitted_ && s.normalization == InputNormalization::kDataset)
      fit_normalizer(train.images);

    const std::vector<double> class_w = class_weights(train, s);
    const std::vector<float> train_w = image_weights(train, class_w);
    const std::vector<float> val_w = image_weights(val, class_w);
    const auto train_groups = group_members(train);
    const auto val_groups = group_members(val);
    generator_.set_current_seed(mix_seed(s.seed, kFitSalt));
    std::mt19937_64 rng(mix_seed(s.seed, kShuffleSalt));
    new_optimizer();

    std::vector<torch::Tensor> best = snapshot();
    ImageBatch batch(0, s.image_size, channels_);
    LossScaler scaler(s.precision);
    PlateauSchedule plateau(s.lr_plateau_factor, s.lr_plateau_patience);
    // On a GPU the training crops go over once per fit, and batches are gathered there; an augment
    // hook works on host pixels, so with one every batch is copied as on the CPU.
    torch::Tensor device_pixels;
    if (device_.is_cuda() && !hooks.augment && !hooks.inject)
      device_pixels = torch::from_blob(const_cast<uint8_t*>(train.images.pixels.data()),
                                       {train.images.count, channels_, s.image_size, s.image_size},
                                       torch::kUInt8)
                          .to(device_);
    TrainingHistory history = run_epochs(
        s.epochs, s.patience, val.images.count > 0,
        [&](EpochReport* r) {
          train_epoch(train, train_w, train_groups, hooks, rng, device_pixels, &scaler, &batch, r);
        },
        [&](EpochReport* r) {
          score(val, val_w, val_groups, r);
          plateau.update(r->val_loss, *optimizer_);
        },
        [&] {
          best = snapshot();
          if (!hooks.checkpoint_path.empty()) save_impl(hooks.checkpoint_path);
        },
        hooks.on_epoch);
    restore(best);
    set_mode(false);
    history.seconds = seconds_since(start);
    return history;
  }

  Probabilities predict_impl(const ImageBatch& images) {
    check_images(images, channels_, settings_.image_size, "prediction");
    torch::set_num_threads(settings_.threads);
    const torch::Tensor probs =
        torch::softmax(logits_of(images), 1).to(torch::kDouble).contiguous();
    return Probabilities(probs.data_ptr<double>(), probs.data_ptr<double>() + probs.numel());
  }

  std::vector<float> embed_impl(const ImageBatch& images) {
    check_images(images, channels_, settings_.image_size, "embedded");
    torch::set_num_threads(settings_.threads);
    torch::NoGradGuard no_grad;
    set_mode(false);
    AutocastScope autocast(device_, settings_.precision);
    std::vector<float> out;
    out.reserve(static_cast<size_t>(images.count) * embedding_dim());
    for_chunks(images.count, [&](int begin, int n) {
      const torch::Tensor e =
          embed_tensor(input(images.image(begin), n)).to(torch::kCPU, torch::kFloat).contiguous();
      out.insert(out.end(), e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
    });
    return out;
  }

  std::vector<float> grad_cam_impl(const ImageBatch& images, const std::vector<int>& classes) {
    check_images(images, channels_, settings_.image_size, "explained");
    if (classes.size() != static_cast<size_t>(images.count))
      throw InputError(
          fmt::format("Grad-CAM: {} classes for {} images", classes.size(), images.count));
    for (int c : classes)
      if (c < 0 || c >= settings_.num_classes)
        throw InputError(fmt::format("Grad-CAM: class {} out of range", c));
    torch::set_num_threads(settings_.threads);
    set_mode(false);
    const int64_t size = settings_.image_size;
    std::vector<float> out;
    out.reserve(static_cast<size_t>(images.count) * size * size);
    for_chunks(images.count, [&](int begin, int n) {
      torch::Tensor a;
      {
        torch::NoGradGuard no_grad;
        a = backbone_->feature_map(input(images.image(begin), n)).to(torch::kFloat);
      }
      // Gradients with respect to the activations alone (the weights may be frozen).
      a = a.detach().requires_grad_(true);
      torch::AutoGradMode grad(true);
      const torch::Tensor logits = head_->forward(project(backbone_->pool(a)));
      const torch::Tensor chosen =
          torch::tensor(std::vector<int64_t>(classes.begin() + begin, classes.begin() + begin + n),
                        torch::kLong)
              .to(logits.device())
              .view({n, 1});
      const torch::Tensor score = logits.gather(1, chosen).sum();
      const torch::Tensor g = torch::autograd::grad({score}, {a})[0];
      torch::Tensor cam = torch::relu((g.mean({2, 3}, /*keepdim=*/true) * a).sum(1, true));
      cam = torch::nn::functional::interpolate(cam.detach(),
                                               torch::nn::functional::InterpolateFuncOptions()
                                                   .size(std::vector<int64_t>{size, size})
                                                   .mode(torch::kBilinear)
                                                   .align_corners(false));
      const torch::Tensor peak = std::get<0>(cam.flatten(1).max(1)).view({n, 1, 1, 1});
      cam = torch::where(peak > 0, cam / peak.clamp_min(kCamFloor), torch::zeros_like(cam));
      const torch::Tensor cpu = cam.to(torch::kCPU, torch::kFloat).contiguous();
      out.insert(out.end(), cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
    });
    return out;
  }

  void embed_and_predict_impl(const ImageBatch& images, std::vector<float>* embeddings,
                              Probabilities* probs) {
    check_images(images, channels_, settings_.image_size, "embedded");
    torch::set_num_threads(settings_.threads);
    torch::NoGradGuard no_grad;
    set_mode(false);
    embeddings->clear();
    embeddings->reserve(static_cast<size_t>(images.count) * embedding_dim());
    AutocastScope autocast(device_, settings_.precision);
    std::vector<torch::Tensor> logits;
    for_chunks(images.count, [&](int begin, int n) {
      const torch::Tensor e = embed_tensor(input(images.image(begin), n));
      logits.push_back(head_->forward(e).to(torch::kCPU, torch::kFloat));  // no dropout
      const torch::Tensor cpu = e.to(torch::kCPU, torch::kFloat).contiguous();
      embeddings->insert(embeddings->end(), cpu.data_ptr<float>(),
                         cpu.data_ptr<float>() + cpu.numel());
    });
    probs->clear();
    if (logits.empty()) return;
    const torch::Tensor p = torch::softmax(torch::cat(logits), 1).to(torch::kDouble).contiguous();
    probs->assign(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
  }

  void set_trainable_impl(double top_fraction, bool classifier) {
    if (!std::isfinite(top_fraction) || top_fraction < 0 || top_fraction > 1)
      throw InputError(
          fmt::format("set_trainable: top fraction {} must be in [0, 1]", top_fraction));
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

  void save_impl(const std::string& path) const {
    torch::serialize::OutputArchive archive;
    write(archive);
    save_archive(archive, path, "image checkpoint");
  }

  void load_impl(const std::string& path) {
    torch::serialize::InputArchive archive;
    load_archive(archive, path, device_, "image checkpoint");
    read(archive, path);
  }

  // The projection layers (--projection) and the classifier on top of the backbone.
  void build_heads() {
    int64_t in = backbone_->dim();
    for (int width : settings_.projection_widths(channels_)) {
      projection_.push_back({torch::nn::Linear(in, width), torch::nn::BatchNorm1d(width)});
      in = width;
    }
    head_ = torch::nn::Linear(in, settings_.num_classes);
  }

  void heads_to_device() {
    backbone_->to(device_);
    for (auto& layer : projection_) {
      layer.linear->to(device_);
      layer.norm->to(device_);
    }
    head_->to(device_);
  }

  // Batch-norm statistics of the backbone and the projection, by checkpoint name.
  std::vector<NamedTensor> network_buffers() const {
    std::vector<NamedTensor> out;
    for (auto& [name, t] : backbone_->named_buffers()) out.emplace_back(kBackbonePrefix + name, t);
    for (size_t i = 0; i < projection_.size(); ++i)
      for (const auto& item : projection_[i].norm->named_buffers())
        out.emplace_back(fmt::format("{}{}.norm.{}", kProjectionPrefix, i, item.key()),
                         item.value());
    return out;
  }

  void check_architecture(const VisionSettings& s) const {
    auto check = [](bool same, const char* option, const std::string& built,
                    const std::string& given) {
      if (!same)
        throw InputError(fmt::format("{}: the model was built with {} but fit() was given {}",
                                     option, built, given));
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

  torch::Tensor forward(const torch::Tensor& x) { return classify(embed_tensor(x)); }

  template <typename Fn>
  void for_chunks(int count, Fn&& fn) const {
    const int chunk = settings_.batch_size * kEvalBatchFactor;
    for (int begin = 0; begin < count; begin += chunk) fn(begin, std::min(chunk, count - begin));
  }

  // Logits [n, k] on the CPU, in evaluation mode.
  torch::Tensor logits_of(const ImageBatch& images) {
    torch::NoGradGuard no_grad;
    set_mode(false);
    AutocastScope autocast(device_, settings_.precision);
    std::vector<torch::Tensor> parts;
    for_chunks(images.count, [&](int begin, int n) {
      parts.push_back(forward(input(images.image(begin), n)).to(torch::kCPU, torch::kFloat));
    });
    if (parts.empty()) return torch::empty({0, settings_.num_classes});
    return torch::cat(parts);
  }

  // One epoch: each group once through one of its images drawn at random, in random order.
  // `device_pixels` (defined on a GPU without augmentation): every training crop, on the device.
  void train_epoch(const LabelledImages& train, const std::vector<float>& weights,
                   const std::vector<std::vector<int>>& groups, const FitHooks& hooks,
                   std::mt19937_64& rng, const torch::Tensor& device_pixels, LossScaler* scaler,
                   ImageBatch* batch, EpochReport* report) {
    set_mode(true);
    std::vector<int> order(groups.size());
    for (size_t g = 0; g < groups.size(); ++g)
      order[g] =
          groups[g].size() == 1 ? groups[g][0] : groups[g][uniform_index(rng(), groups[g].size())];
    for (size_t i = order.size(); i > 1; --i)
      std::swap(order[i - 1], order[uniform_index(rng(), i)]);

    const size_t bytes = train.images.image_bytes();
    double loss_sum = 0;
    double weight_sum = 0;
    std::vector<int> labels;
    std::vector<float> w;
    const auto b = static_cast<size_t>(settings_.batch_size);
    for (size_t start = 0; start < order.size(); start += b) {
      const size_t n = std::min(b, order.size() - start);
      if (n < 2) break;  // batch norm needs two images: a last lone one is left out
      labels.resize(n);
      w.resize(n);
      double batch_weight = 0;
      for (size_t j = 0; j < n; ++j) {
        const int i = order[start + j];
        labels[j] = train.labels[i];
        w[j] = weights[i];
        batch_weight += w[j];
      }
      if (batch_weight <= 0) continue;
      torch::Tensor x;
      if (device_pixels.defined()) {
        const std::vector<int64_t> rows(order.begin() + start, order.begin() + start + n);
        x = normalize(device_pixels.index_select(0, torch::tensor(rows).to(device_)));
      } else {
        batch->count = static_cast<int>(n);
        batch->pixels.resize(n * bytes);
        for (size_t j = 0; j < n; ++j)
          std::memcpy(batch->image(static_cast<int>(j)), train.images.image(order[start + j]),
                      bytes);
        if (hooks.inject) {
          hooks.inject(*batch, labels, rng);
          if (batch->count != static_cast<int>(n) || batch->pixels.size() != n * bytes)
            throw std::logic_error("the inject hook changed the batch's shape");
        }
        if (hooks.augment) {
          hooks.augment(*batch, rng);
          if (batch->count != static_cast<int>(n) || batch->size != settings_.image_size ||
              batch->channels != channels_ || batch->pixels.size() != n * bytes)
            throw std::logic_error("the augment hook changed the batch's shape");
        }
        x = input(batch->pixels.data(), static_cast<int>(n));
      }
      const torch::Tensor y = long_tensor(labels).to(device_);
      const torch::Tensor wt = float_tensor(w).to(device_);
      // --mixup: each image blended with another of the batch; the loss blends their labels'.
      double mix = 1;
      torch::Tensor partner;
      if (settings_.mixup > 0) {
        mix = beta_draw(settings_.mixup, rng);
        std::vector<int64_t> perm(n);
        for (size_t j = 0; j < n; ++j) perm[j] = static_cast<int64_t>(j);
        for (size_t j = n; j > 1; --j) std::swap(perm[j - 1], perm[uniform_index(rng(), j)]);
        partner = torch::tensor(perm).to(device_);
        x = mix * x + (1 - mix) * x.index_select(0, partner);
      }
      torch::Tensor loss;
      {
        AutocastScope autocast(device_, settings_.precision);
        const torch::Tensor logits = forward(x);
        auto loss_of = [&](const torch::Tensor& targets) {
          return per_image_loss(logits, targets, settings_.loss, settings_.focal_gamma,
                                settings_.label_smoothing)
              .to(torch::kFloat);
        };
        torch::Tensor per = loss_of(y);
        if (partner.defined()) per = mix * per + (1 - mix) * loss_of(y.index_select(0, partner));
        loss = (per * wt).sum() / batch_weight;
      }
      optimizer_->zero_grad();
      scaler->backward_and_step(loss, *optimizer_, settings_.grad_clip);
      loss_sum += loss.item<double>() * batch_weight;
      weight_sum += batch_weight;
      report->train_images += static_cast<long>(n);
    }
    report->train_loss = weight_sum > 0 ? loss_sum / weight_sum : 0;
  }

  // Validation loss per image; QWK and accuracy per group (mean probabilities).
  void score(const LabelledImages& val, const std::vector<float>& weights,
             const std::vector<std::vector<int>>& groups, EpochReport* report) {
    const int k = settings_.num_classes;
    const torch::Tensor logits = logits_of(val.images);
    const torch::Tensor per =
        per_image_loss(logits, long_tensor(val.labels), settings_.loss, settings_.focal_gamma);
    const torch::Tensor w = float_tensor(weights);
    const double wsum = w.sum().item<double>();
    report->val_loss =
        wsum > 0 ? ((per * w).sum() / wsum).item<double>() : per.mean().item<double>();
    const torch::Tensor probs = torch::softmax(logits, 1).to(torch::kDouble).contiguous();
    const double* p = probs.data_ptr<double>();
    std::vector<int> truth, pred;
    std::vector<double> mean(k);
    for (const auto& members : groups) {
      std::fill(mean.begin(), mean.end(), 0.0);
      for (int i : members)
        for (int c = 0; c < k; ++c) mean[c] += p[static_cast<size_t>(i) * k + c];
      truth.push_back(val.labels[members[0]]);
      pred.push_back(static_cast<int>(std::max_element(mean.begin(), mean.end()) - mean.begin()));
    }
    report->val_qwk = quadratic_weighted_kappa(truth, pred, k);
    long correct = 0;
    for (size_t g = 0; g < truth.size(); ++g) correct += truth[g] == pred[g];
    report->val_accuracy = truth.empty() ? 0 : static_cast<double>(correct) / truth.size();
  }

  void fit_normalizer(const ImageBatch& images) {
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

  // Until the first fit (dataset mode) inputs are scaled to [0, 1]; imagenet mode is fixed.
  void set_normalization_defaults() {
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

  void set_normalization(const std::vector<float>& mean, const std::vector<float>& sd) {
    input_mean_ = torch::tensor(mean).view({1, net_channels_, 1, 1}).to(device_);
    input_std_ = torch::tensor(sd).view({1, net_channels_, 1, 1}).to(device_);
  }

  // Batch-norm statistics and the input normalisation (what a checkpoint needs besides weights).
  std::vector<NamedTensor> buffers_with_input() const {
    std::vector<NamedTensor> out = network_buffers();
    out.emplace_back(kInputMeanName, input_mean_);
    out.emplace_back(kInputStdName, input_std_);
    return out;
  }

  static NamedList to_list(const std::vector<NamedTensor>& tensors) {
    NamedList list;
    for (const auto& [name, t] : tensors) {
      list.names.push_back(name);
      list.tensors.push_back(t.detach().to(torch::kCPU));
    }
    return list;
  }

  // Copies the checkpoint's "<kind>s" into `into`, checking names and shapes.
  void read_list(torch::serialize::InputArchive& archive, const std::string& path,
                 const std::string& kind, const std::vector<NamedTensor>& into) {
    c10::IValue names_value, tensors_value;
    if (!archive.try_read(kind + "_names", names_value) ||
        !archive.try_read(kind + "s", tensors_value))
      throw InputError(fmt::format("checkpoint '{}' has no {}s", path, kind));
    const auto names = names_value.toList();
    const auto tensors = tensors_value.toTensorList();
    if (names.size() != into.size() || tensors.size() != into.size())
      throw InputError(fmt::format("checkpoint '{}' holds {} {}s; this network has {}", path,
                                   names.size(), kind, into.size()));
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < into.size(); ++i) {
      const std::string name = names.get(i).toStringRef();
      const torch::Tensor t = tensors.get(i);
      if (name != into[i].first || !t.sizes().equals(into[i].second.sizes()))
        throw InputError(fmt::format("checkpoint '{}' does not fit this network ({} {} vs {})",
                                     path, kind, name, into[i].first));
      into[i].second.copy_(t);
    }
  }

  void new_optimizer() {
    std::vector<torch::Tensor> trainable;
    for (const auto& [name, p] : parameters())
      if (p.requires_grad()) trainable.push_back(p);
    optimizer_ = std::make_unique<torch::optim::Adam>(
        trainable,
        torch::optim::AdamOptions(settings_.learning_rate).weight_decay(settings_.weight_decay));
  }

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

}  // namespace

std::mutex& global_generator_mutex() {
  static std::mutex mutex;
  return mutex;
}

TorchBranch& as_torch_branch(ImageModel& model) {
  auto* branch = dynamic_cast<TorchBranch*>(&model);
  if (branch == nullptr) throw std::logic_error("an image model from another library");
  return *branch;
}

std::vector<double> plateau_learning_rates(const std::vector<double>& val_losses, double rate,
                                           double factor, int patience) {
  PlateauSchedule schedule(factor, patience);
  std::vector<double> out;
  for (double loss : val_losses) {
    rate *= schedule.update(loss);
    out.push_back(rate);
  }
  return out;
}

double focal_loss_value(const std::vector<float>& logits, int k, const std::vector<int>& labels,
                        const std::vector<float>& weights, double gamma, double smoothing) {
  const auto n = static_cast<int64_t>(labels.size());
  const torch::Tensor l =
      torch::from_blob(const_cast<float*>(logits.data()), {n, k}, torch::kFloat).clone();
  const torch::Tensor w = weights.empty() ? torch::ones({n}) : float_tensor(weights);
  const torch::Tensor per =
      per_image_loss(l, long_tensor(labels), VisionLoss::kFocal, gamma, smoothing);
  return ((per * w).sum() / w.sum()).item<double>();
}

}  // namespace woundphase::vision

extern "C" int woundphase_vision_abi_version() { return woundphase::kVisionAbiVersion; }

extern "C" int woundphase_vision_create(const woundphase::VisionSettings* settings, int channels,
                                        woundphase::ImageModel** out, char* error,
                                        size_t error_size) {
  return woundphase::vision_abi::guarded(error, error_size, [&] {
    *out = woundphase::vision::without_backtrace(
        [&] { return new woundphase::vision::TorchImageModel(*settings, channels); });
  });
}

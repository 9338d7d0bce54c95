// The fusion heads (fixed, learned_weights, prob_concat, feature_concat, gated) and their
// two-stage trainer: stage 1 on cached per-sample features, stage 2 end to end through the model's
// own copies of the image branches. Part of libwoundphase_vision.so, with the library's extern "C"
// fusion factory.
#include "woundphase/fusion.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>   // for min, max_element
#include <chrono>      // for steady_clock
#include <cmath>       // for isfinite
#include <cstring>     // for memcpy
#include <filesystem>  // for is_regular_file
#include <memory>      // for unique_ptr, shared_ptr
#include <optional>
#include <random>  // for mt19937_64
#include <set>
#include <stdexcept>  // for logic_error
#include <string>
#include <vector>

#include "vision/c_abi.h"
#include "vision/torch_branch.h"
#include "woundphase/class_weights.h"
#include "woundphase/metrics.h"  // for quadratic_weighted_kappa
#include "woundphase/random.h"   // for uniform_index

namespace woundphase::fusion {
namespace {

using vision::global_generator_mutex;
using vision::make_cpu_generator;
using vision::NamedTensor;
using vision::seeded_dropout;
using vision::TorchBranch;
using vision::without_backtrace;

constexpr char kCheckpointFormat[] = "woundphase-fusion-checkpoint-1";
constexpr int64_t kK = kNumClasses;
// Probabilities are clamped to at least this before their log (a branch may say exactly 0).
constexpr double kMinProb = 1e-7;
// A standardised embedding dimension's standard deviation is at least this (constant dimensions).
constexpr double kMinFeatureStd = 1e-6;
// Inference runs the branches on batches this many times the training batch.
constexpr int kEvalBatchFactor = 2;
// Seeds of the model's random streams, derived from settings.seed (apart from the branches').
constexpr uint64_t kInitSalt = 11;           // head initialisation
constexpr uint64_t kStage1Salt = 12;         // stage-1 dropout
constexpr uint64_t kStage1ShuffleSalt = 13;  // stage-1 epoch order
constexpr uint64_t kStage2Salt = 14;         // stage-2 dropout (head and branches)
constexpr uint64_t kStage2ShuffleSalt = 15;  // stage-2 epoch order
constexpr uint64_t kStage2InjectSalt = 16;   // stage-2 generated-image injection

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// What a head reads for n samples.
struct Inputs {
  torch::Tensor probs;       // [n, S, k] every source's class probabilities
  torch::Tensor embeddings;  // [n, E] image sources' embeddings side by side (feature_concat)
};

// Features and targets of a sample set as tensors on the model's device.
struct SampleTensors {
  int count = 0;
  Inputs inputs;
  torch::Tensor labels;   // [n] long
  torch::Tensor weights;  // [n] sample weight x class weight
};

// Per-sample loss [n] from log-probabilities [n, k]: NLL, or focal (1 - p_y)^gamma (-log p_y).
torch::Tensor per_sample_loss(const torch::Tensor& log_p, const torch::Tensor& targets,
                              VisionLoss loss, double gamma) {
  const torch::Tensor log_py = log_p.gather(1, targets.unsqueeze(1)).squeeze(1);
  if (loss == VisionLoss::kFocal && gamma > 0) return -torch::pow(1 - log_py.exp(), gamma) * log_py;
  return -log_py;
}

bool is_mixture(FusionKind kind) {
  return kind == FusionKind::kFixed || kind == FusionKind::kLearnedWeights ||
         kind == FusionKind::kGated;
}

// The fixed average's weights: metadata (the sources without a branch) share rf_weight, the image
// sources the rest; with only one kind of source, a plain mean.
std::vector<double> fixed_weights(const FusionSettings& s,
                                  const std::vector<FusionSource>& sources) {
  const auto n = static_cast<int>(sources.size());
  int n_meta = 0;
  for (const auto& source : sources) n_meta += source.embedding_dim == 0;
  const int n_image = n - n_meta;
  std::vector<double> w(n, 1.0 / n);
  if (n_meta == 0 || n_image == 0) return w;
  for (int i = 0; i < n; ++i)
    w[i] = sources[i].embedding_dim == 0 ? s.rf_weight / n_meta : (1 - s.rf_weight) / n_image;
  return w;
}

// The head: a torch module in double precision (it is tiny; the fixed average and predictions
// then match a plain double computation).
class Head : public torch::nn::Module {
 public:
  Head(const FusionSettings& s, const std::vector<FusionSource>& sources) : kind_(s.kind) {
    const auto n_sources = static_cast<int64_t>(sources.size());
    const int64_t log_prob_inputs = n_sources * kK;
    for (const auto& source : sources) embedding_size_ += source.embedding_dim;
    switch (kind_) {
      case FusionKind::kFixed:
        fixed_weights_ = torch::tensor(fixed_weights(s, sources), torch::kDouble);
        break;
      case FusionKind::kLearnedWeights:
        // Logits 0: the sources start equally weighted.
        weights_ = register_parameter("weights", torch::zeros({n_sources}));
        break;
      case FusionKind::kProbConcat:
        linear_ = register_module("linear", torch::nn::Linear(log_prob_inputs, kK));
        init_as_geometric_mean(/*first_log_prob=*/0, n_sources);
        break;
      case FusionKind::kFeatureConcat:
        dropout_ = s.dropout;
        linear_ =
            register_module("linear", torch::nn::Linear(embedding_size_ + log_prob_inputs, kK));
        init_as_geometric_mean(/*first_log_prob=*/embedding_size_, n_sources);
        input_mean_ = register_buffer("input_mean", torch::zeros({embedding_size_}));
        input_std_ = register_buffer("input_std", torch::ones({embedding_size_}));
        break;
      case FusionKind::kGated:
        gate_ = register_module("gate", torch::nn::Linear(log_prob_inputs, n_sources));
        {
          // Zero: the gate starts uniform, an equal-weight mixture, and learns from there.
          torch::NoGradGuard no_grad;
          gate_->weight.zero_();
          gate_->bias.zero_();
        }
        break;
    }
    to(torch::kDouble);
  }

  bool mixture() const { return is_mixture(kind_); }
  bool uses_embeddings() const { return kind_ == FusionKind::kFeatureConcat; }

  // Log-probabilities [n, k]: what the loss reads.
  torch::Tensor log_probs(const Inputs& in) {
    if (mixture()) return torch::log(mix(in).clamp_min(kMinProb));
    return torch::log_softmax(logits(in), 1);
  }
  torch::Tensor probs(const Inputs& in) {
    if (mixture()) return mix(in);
    return torch::softmax(logits(in), 1);
  }

  // feature_concat: each embedding dimension's mean and standard deviation over [n, E].
  void fit_standardizer(const torch::Tensor& embeddings) {
    if (!uses_embeddings()) return;
    torch::NoGradGuard no_grad;
    input_mean_.copy_(embeddings.mean(0));
    input_std_.copy_(embeddings.std(0, /*unbiased=*/false).clamp_min(kMinFeatureStd));
    standardizer_fitted_ = true;
  }
  bool standardizer_fitted() const { return standardizer_fitted_; }
  void set_standardizer_fitted(bool fitted) { standardizer_fitted_ = fitted; }

 private:
  // Logits = mean over sources of log p_s: the normalised geometric mean of the sources, a sound
  // ensemble to start from; embedding weights start at 0.
  void init_as_geometric_mean(int64_t first_log_prob, int64_t n_sources) {
    torch::NoGradGuard no_grad;
    linear_->weight.zero_();
    linear_->bias.zero_();
    for (int64_t s = 0; s < n_sources; ++s)
      for (int64_t c = 0; c < kK; ++c)
        linear_->weight[c][first_log_prob + s * kK + c] = 1.0 / static_cast<double>(n_sources);
  }

  static torch::Tensor source_log_probs(const Inputs& in) {
    return torch::log(in.probs.clamp_min(kMinProb)).flatten(1);  // [n, S * k]
  }

  torch::Tensor mix(const Inputs& in) {
    torch::Tensor w;  // [n, S] or [S]
    switch (kind_) {
      case FusionKind::kFixed:
        w = fixed_weights_.to(in.probs.device());
        break;
      case FusionKind::kLearnedWeights:
        w = torch::softmax(weights_, 0);
        break;
      default:
        w = torch::softmax(gate_->forward(source_log_probs(in)), 1);
        break;
    }
    if (w.dim() == 1) w = w.unsqueeze(0);
    return (in.probs * w.unsqueeze(2)).sum(1);
  }

  torch::Tensor logits(const Inputs& in) {
    if (kind_ == FusionKind::kProbConcat) return linear_->forward(source_log_probs(in));
    const torch::Tensor standardised = (in.embeddings - input_mean_) / input_std_;
    return linear_->forward(seeded_dropout(torch::cat({standardised, source_log_probs(in)}, 1),
                                           dropout_, is_training(), generator_));
  }

  FusionKind kind_;
  int64_t embedding_size_ = 0;
  torch::Tensor fixed_weights_;  // [S] fixed
  torch::Tensor weights_;        // [S] learned_weights' logits
  torch::nn::Linear linear_{nullptr};
  torch::nn::Linear gate_{nullptr};
  double dropout_ = 0;        // feature_concat's, on the concatenated inputs
  torch::Tensor input_mean_;  // [E] feature_concat's standardisation
  torch::Tensor input_std_;
  bool standardizer_fitted_ = false;

 public:
  // The head's own training draws (see torch_branch.h); each stage seeds it.
  at::Generator generator_ = make_cpu_generator(0);
};

// The head's layer of a parameter: "head" plus the parameter's module path.
std::string head_layer(const std::string& name) {
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? "head" : "head." + name.substr(0, dot);
}

class TorchFusionModel final : public FusionModel {
 public:
  TorchFusionModel(const FusionSettings& settings, const std::vector<FusionSource>& sources,
                   const std::vector<const ImageModel*>& branches)
      : settings_(settings), sources_(sources) {
    settings_.validate();
    check_sources(branches);
    torch::set_num_threads(settings_.threads);
    for (size_t s = 0; s < sources_.size(); ++s) {
      if (branches[s] == nullptr) {
        branches_.emplace_back();
        torch_branches_.push_back(nullptr);
        continue;
      }
      branches_.push_back(branches[s]->clone());
      torch_branches_.push_back(&vision::as_torch_branch(*branches_.back()));
      device_ = torch_branches_.back()->device();
    }
    apply_stage2_trainability();
    {
      std::lock_guard<std::mutex> lock(global_generator_mutex());
      torch::manual_seed(mix_seed(settings_.seed, kInitSalt));
      head_ = std::make_shared<Head>(settings_, sources_);
    }
    head_->to(device_);
    head_->eval();
  }

  const std::vector<FusionSource>& sources() const override { return sources_; }
  const FusionSettings& settings() const override { return settings_; }

  std::vector<LayerParameters> parameter_breakdown(int stage) const override {
    if (stage != 1 && stage != 2)
      throw std::logic_error(fmt::format("parameter_breakdown: stage {} is not 1 or 2", stage));
    std::vector<LayerParameters> layers;
    for (const auto& item : head_->named_parameters()) {
      const std::string layer = head_layer(item.key());
      if (layers.empty() || layers.back().name != layer) layers.push_back({layer, 0, 0});
      layers.back().total += item.value().numel();
      layers.back().trainable += item.value().numel();
    }
    for (size_t s = 0; s < sources_.size(); ++s) {
      if (!branches_[s]) continue;
      for (const auto& layer : branches_[s]->parameter_breakdown())
        layers.push_back(
            {sources_[s].name + "." + layer.name, stage == 1 ? 0 : layer.trainable, layer.total});
    }
    return layers;
  }

  TrainingHistory fit_stage1(const FusionFeatures& train, const FusionFeatures& val,
                             const EpochFn& on_epoch) override {
    return without_backtrace([&] { return fit_stage1_impl(train, val, on_epoch); });
  }
  Probabilities predict(const FusionFeatures& features) override {
    return without_backtrace([&] { return predict_impl(features); });
  }
  TrainingHistory fit_stage2(const FusionImages& train, const FusionImages& val,
                             const EpochFn& on_epoch,
                             const std::vector<InjectFn>& inject) override {
    return without_backtrace([&] { return fit_stage2_impl(train, val, on_epoch, inject); });
  }
  void revert_stage2() override {
    without_backtrace([&] {
      if (stage2_start_) restore(*stage2_start_);
    });
  }
  FusionFeatures features(const FusionImages& samples) override {
    return without_backtrace([&] {
      check_images(samples, "feature");
      return features_impl(samples);
    });
  }
  Probabilities predict_images(const FusionImages& samples) override {
    return without_backtrace([&] {
      check_images(samples, "prediction");
      return predict_impl(features_impl(samples));
    });
  }
  void save(const std::string& path) const override {
    without_backtrace([&] { save_impl(path); });
  }
  void load(const std::string& path) override {
    without_backtrace([&] { load_impl(path); });
  }

 private:
  // Head and branches at one moment: the best epoch, or the state before stage 2.
  struct State {
    std::vector<torch::Tensor> head;  // parameters then buffers
    bool standardizer_fitted = false;
    std::vector<std::vector<torch::Tensor>> branches;  // empty: the branches are not part of it
  };

  int n_sources() const { return static_cast<int>(sources_.size()); }

  // ---- Checks

  void check_sources(const std::vector<const ImageModel*>& branches) const {
    if (sources_.empty()) throw InputError("fusion: a combination needs at least one source");
    if (branches.size() != sources_.size())
      throw InputError(
          fmt::format("fusion: {} branches for {} sources", branches.size(), sources_.size()));
    std::set<std::string> names;
    for (size_t s = 0; s < sources_.size(); ++s) {
      const FusionSource& source = sources_[s];
      if (source.name.empty() || !names.insert(source.name).second)
        throw InputError(fmt::format("fusion: source name '{}' is empty or repeated", source.name));
      const ImageModel* branch = branches[s];
      if (branch == nullptr) {
        if (source.embedding_dim != 0)
          throw InputError(
              fmt::format("fusion: source '{}' has an embedding of {} but no image branch",
                          source.name, source.embedding_dim));
        continue;
      }
      if (source.embedding_dim != branch->embedding_dim())
        throw InputError(fmt::format(
            "fusion: source '{}' says its embedding has {} dimensions; its branch gives {}",
            source.name, source.embedding_dim, branch->embedding_dim()));
      if (branch->num_classes() != kNumClasses)
        throw InputError(fmt::format("fusion: branch '{}' has {} classes; fusion needs {}",
                                     source.name, branch->num_classes(), kNumClasses));
    }
  }

  // `image_sources` false: the image sources' entries are not read (stage 2 computes them).
  void check_features(const FusionFeatures& f, const std::string& what, bool need_labels,
                      bool image_sources) const {
    if (f.count < 0) throw InputError(fmt::format("{} samples: negative count {}", what, f.count));
    if (f.count == 0 && f.probs.empty()) return;  // none (no validation): `{}` is enough
    const auto n = static_cast<size_t>(f.count);
    if (f.probs.size() != sources_.size())
      throw InputError(
          fmt::format("{} samples: probabilities of {} sources for a combination of {}", what,
                      f.probs.size(), sources_.size()));
    const bool embeddings = image_sources && head_->uses_embeddings();
    if (embeddings && f.embeddings.size() != sources_.size())
      throw InputError(fmt::format("{} samples: embeddings of {} sources for a combination of {}",
                                   what, f.embeddings.size(), sources_.size()));
    for (size_t s = 0; s < sources_.size(); ++s) {
      const FusionSource& source = sources_[s];
      if (!image_sources && branches_[s]) continue;
      if (f.probs[s].size() != n * kK)
        throw InputError(fmt::format("{} samples: source '{}' has {} probabilities for {} samples",
                                     what, source.name, f.probs[s].size(), n));
      for (double p : f.probs[s])
        if (!std::isfinite(p) || p < 0)
          throw InputError(
              fmt::format("{} samples: source '{}' has a probability {}", what, source.name, p));
      if (!embeddings || source.embedding_dim == 0) continue;
      if (f.embeddings[s].size() != n * source.embedding_dim)
        throw InputError(fmt::format(
            "{} samples: source '{}' has {} embedding values for {} samples of {} dimensions", what,
            source.name, f.embeddings[s].size(), n, source.embedding_dim));
      for (float e : f.embeddings[s])
        if (!std::isfinite(e))
          throw InputError(fmt::format("{} samples: source '{}' has an embedding value {}", what,
                                       source.name, e));
    }
    if ((need_labels && f.count > 0) || !f.labels.empty()) {
      if (f.labels.size() != n)
        throw InputError(
            fmt::format("{} samples: {} labels for {} samples", what, f.labels.size(), n));
      for (int y : f.labels)
        if (y < 0 || y >= kNumClasses)
          throw InputError(
              fmt::format("{} samples: label {} outside [0, {})", what, y, kNumClasses));
    }
    if (!f.weights.empty() && f.weights.size() != n)
      throw InputError(
          fmt::format("{} samples: {} weights for {} samples", what, f.weights.size(), n));
    for (float w : f.weights)
      if (!std::isfinite(w) || w < 0)
        throw InputError(fmt::format("{} samples: weight {} is not a finite number >= 0", what, w));
  }

  void check_images(const FusionImages& d, const std::string& what,
                    bool need_labels = false) const {
    check_features(d.fixed, what, need_labels, /*image_sources=*/false);
    if (d.fixed.count == 0 && d.images.empty()) return;
    if (d.images.size() != sources_.size())
      throw InputError(fmt::format("{} samples: images of {} sources for a combination of {}", what,
                                   d.images.size(), sources_.size()));
    for (size_t s = 0; s < sources_.size(); ++s) {
      if (!branches_[s]) continue;
      const std::string& name = sources_[s].name;
      const ImageBatch& b = d.images[s].images;
      const ImageModel& branch = *branches_[s];
      if (b.count > 0 &&
          (b.channels != branch.channels() || b.size != branch.settings().image_size ||
           b.pixels.size() != b.image_bytes() * b.count))
        throw InputError(fmt::format(
            "{} samples: source '{}' images are {} of {}x{}x{} in {} bytes; its branch takes "
            "{}x{}x{}",
            what, name, b.count, b.size, b.size, b.channels, b.pixels.size(),
            branch.settings().image_size, branch.settings().image_size, branch.channels()));
      const auto& groups = d.images[s].groups;
      if (groups.size() != static_cast<size_t>(b.count))
        throw InputError(fmt::format("{} samples: source '{}' has {} groups for {} images", what,
                                     name, groups.size(), b.count));
      std::vector<int> seen(d.fixed.count, 0);
      for (int g : groups) {
        if (g < 0 || g >= d.fixed.count)
          throw InputError(fmt::format("{} samples: source '{}' has an image of sample {} (of {})",
                                       what, name, g, d.fixed.count));
        seen[g] = 1;
      }
      const auto missing = std::find(seen.begin(), seen.end(), 0);
      if (missing != seen.end())
        throw InputError(fmt::format("{} samples: sample {} has no '{}' image", what,
                                     missing - seen.begin(), name));
    }
  }

  // ---- Tensors

  torch::Tensor probs_tensor(const FusionFeatures& f) const {
    // [n, S, k]; image sources' entries stay 0 where `f` does not carry them (stage 2).
    torch::Tensor out = torch::zeros({f.count, n_sources(), kK}, torch::kDouble);
    if (f.count == 0) return out.to(device_);
    for (int s = 0; s < n_sources(); ++s) {
      if (f.probs[s].size() != static_cast<size_t>(f.count) * kK) continue;
      out.select(1, s).copy_(
          torch::from_blob(const_cast<double*>(f.probs[s].data()), {f.count, kK}, torch::kDouble));
    }
    return out.to(device_);
  }

  torch::Tensor embeddings_tensor(const FusionFeatures& f) const {
    std::vector<torch::Tensor> parts;
    for (int s = 0; s < n_sources() && f.count > 0; ++s) {
      const int64_t dim = sources_[s].embedding_dim;
      if (dim == 0) continue;
      parts.push_back(torch::from_blob(const_cast<float*>(f.embeddings[s].data()), {f.count, dim},
                                       torch::kFloat)
                          .to(torch::kDouble));
    }
    if (parts.empty()) {
      int64_t total = 0;  // [0, E] without samples, [n, 0] without image sources
      for (const auto& source : sources_) total += source.embedding_dim;
      return torch::zeros({f.count, f.count > 0 ? 0 : total}, torch::kDouble).to(device_);
    }
    return torch::cat(parts, 1).to(device_);
  }

  // balanced: balanced_class_weights() (class_weights.h) over the samples' weights; none: 1.
  std::vector<double> class_weights(const FusionFeatures& train) const {
    if (settings_.class_weight == VisionClassWeight::kNone) return std::vector<double>(kK, 1.0);
    return balanced_class_weights(train.labels, train.weights, kK);
  }

  torch::Tensor sample_weights(const FusionFeatures& f, const std::vector<double>& class_w) const {
    std::vector<double> w(f.count);
    for (int i = 0; i < f.count; ++i)
      w[i] = (f.weights.empty() ? 1.0 : f.weights[i]) * class_w[f.labels[i]];
    return torch::tensor(w, torch::kDouble).to(device_);
  }

  SampleTensors sample_tensors(const FusionFeatures& f, const std::vector<double>& class_w,
                               bool labelled) const {
    SampleTensors t;
    t.count = f.count;
    t.inputs.probs = probs_tensor(f);
    if (head_->uses_embeddings()) t.inputs.embeddings = embeddings_tensor(f);
    if (labelled) {
      t.labels = torch::tensor(std::vector<int64_t>(f.labels.begin(), f.labels.end()), torch::kLong)
                     .to(device_);
      t.weights = sample_weights(f, class_w);
    }
    return t;
  }

  // ---- Training

  std::vector<torch::Tensor> head_parameters() const {
    std::vector<torch::Tensor> out;
    for (const auto& p : head_->parameters()) out.push_back(p);
    return out;
  }

  long stage2_trainable() const {
    long n = 0;
    for (const auto& layer : parameter_breakdown(2)) n += layer.trainable;
    return n;
  }

  // The branch copies only ever train in stage 2, so they hold its trainability throughout; with
  // stage2_unfreeze 0 the classifier is frozen too (the branch is then a fixed feature extractor).
  void apply_stage2_trainability() {
    for (TorchBranch* branch : torch_branches_)
      if (branch != nullptr)
        branch->set_branch_trainable(settings_.stage2_unfreeze, settings_.stage2_unfreeze > 0);
  }

  void set_branch_mode(bool train) {
    for (TorchBranch* branch : torch_branches_)
      if (branch != nullptr) branch->set_mode(train);
  }

  State snapshot(bool with_branches) const {
    torch::NoGradGuard no_grad;
    State state;
    for (const auto& p : head_->parameters()) state.head.push_back(p.detach().clone());
    for (const auto& b : head_->buffers()) state.head.push_back(b.detach().clone());
    state.standardizer_fitted = head_->standardizer_fitted();
    if (with_branches)
      for (const TorchBranch* branch : torch_branches_)
        state.branches.push_back(branch ? branch->snapshot() : std::vector<torch::Tensor>{});
    return state;
  }

  void restore(const State& state) {
    torch::NoGradGuard no_grad;
    size_t i = 0;
    for (auto& p : head_->parameters()) p.copy_(state.head[i++]);
    for (auto& b : head_->buffers()) b.copy_(state.head[i++]);
    head_->set_standardizer_fitted(state.standardizer_fitted);
    for (size_t s = 0; s < state.branches.size(); ++s)
      if (torch_branches_[s] != nullptr) torch_branches_[s]->restore(state.branches[s]);
  }

  struct Score {
    double loss = 0, qwk = 0, accuracy = 0;
  };

  Score score(const SampleTensors& t) {
    torch::NoGradGuard no_grad;
    head_->eval();
    const torch::Tensor log_p = head_->log_probs(t.inputs);
    const torch::Tensor per =
        per_sample_loss(log_p, t.labels, settings_.loss, settings_.focal_gamma);
    const double wsum = t.weights.sum().item<double>();
    Score out;
    out.loss =
        wsum > 0 ? ((per * t.weights).sum() / wsum).item<double>() : per.mean().item<double>();
    const torch::Tensor pred_t = log_p.argmax(1).to(torch::kCPU).contiguous();
    const torch::Tensor truth_t = t.labels.to(torch::kCPU).contiguous();
    const std::vector<int> pred(pred_t.data_ptr<int64_t>(), pred_t.data_ptr<int64_t>() + t.count);
    const std::vector<int> truth(truth_t.data_ptr<int64_t>(),
                                 truth_t.data_ptr<int64_t>() + t.count);
    out.qwk = quadratic_weighted_kappa(truth, pred, kK);
    long correct = 0;
    for (int i = 0; i < t.count; ++i) correct += truth[i] == pred[i];
    out.accuracy = t.count > 0 ? static_cast<double>(correct) / t.count : 0;
    return out;
  }

  // Adam steps over one batch's loss; returns the batch's weighted loss sum.
  static double step(torch::optim::Adam& optimizer, const torch::Tensor& log_p,
                     const torch::Tensor& labels, const torch::Tensor& weights,
                     const FusionSettings& s, double* weight_sum) {
    const double batch_weight = weights.sum().item<double>();
    if (batch_weight <= 0) return 0;
    const torch::Tensor loss =
        (per_sample_loss(log_p, labels, s.loss, s.focal_gamma) * weights).sum() / batch_weight;
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    *weight_sum += batch_weight;
    return loss.item<double>() * batch_weight;
  }

  static std::vector<int64_t> shuffled(int n, std::mt19937_64& rng) {
    std::vector<int64_t> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    for (size_t i = order.size(); i > 1; --i)
      std::swap(order[i - 1], order[uniform_index(rng(), i)]);
    return order;
  }

  // The epochs of a stage: `train_epoch(report)` then `validate()` (a Score) when there is
  // validation; the best epoch (QWK, ties to the lower loss) is restored at the end.
  template <typename TrainEpoch, typename Validate>
  TrainingHistory run_epochs(int epochs, bool has_val, bool with_branches, TrainEpoch&& train_epoch,
                             Validate&& validate, const EpochFn& on_epoch) {
    State best = snapshot(with_branches);
    TrainingHistory history = vision::run_epochs(
        epochs, settings_.patience, has_val, train_epoch,
        [&](EpochReport* r) {
          const Score s = validate();
          r->val_loss = s.loss;
          r->val_qwk = s.qwk;
          r->val_accuracy = s.accuracy;
        },
        [&] { best = snapshot(with_branches); }, on_epoch);
    restore(best);
    head_->eval();
    set_branch_mode(false);
    return history;
  }

  TrainingHistory fit_stage1_impl(const FusionFeatures& train, const FusionFeatures& val,
                                  const EpochFn& on_epoch) {
    const auto start = Clock::now();
    if (settings_.kind == FusionKind::kFixed) return {};  // nothing to train
    check_features(train, "stage-1 training", true, true);
    check_features(val, "stage-1 validation", true, true);
    if (train.count < 2) throw InputError("stage-1 training: at least 2 samples are needed");
    const std::vector<torch::Tensor> params = head_parameters();
    if (params.empty())
      throw InputError(
          fmt::format("--fusion {}: stage 1 would train 0 parameters (the head has none)",
                      to_string(settings_.kind)));
    torch::set_num_threads(settings_.threads);
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
    const std::vector<double> class_w = class_weights(train);
    const SampleTensors tr = sample_tensors(train, class_w, true);
    const SampleTensors va = sample_tensors(val, class_w, true);
    head_->fit_standardizer(tr.inputs.embeddings);
    head_->generator_.set_current_seed(mix_seed(settings_.seed, kStage1Salt));
    std::mt19937_64 rng(mix_seed(settings_.seed, kStage1ShuffleSalt));
    torch::optim::Adam optimizer(params, torch::optim::AdamOptions(settings_.stage1_learning_rate)
                                             .weight_decay(settings_.weight_decay));
    const auto b = static_cast<size_t>(settings_.batch_size);

    auto train_epoch = [&](EpochReport* r) {
      head_->train();
      const std::vector<int64_t> order = shuffled(tr.count, rng);
      double loss_sum = 0, weight_sum = 0;
      for (size_t begin = 0; begin < order.size(); begin += b) {
        const size_t n = std::min(b, order.size() - begin);
        const torch::Tensor idx =
            torch::tensor(std::vector<int64_t>(order.begin() + begin, order.begin() + begin + n),
                          torch::kLong)
                .to(device_);
        Inputs in;
        in.probs = tr.inputs.probs.index_select(0, idx);
        if (tr.inputs.embeddings.defined())
          in.embeddings = tr.inputs.embeddings.index_select(0, idx);
        loss_sum += step(optimizer, head_->log_probs(in), tr.labels.index_select(0, idx),
                         tr.weights.index_select(0, idx), settings_, &weight_sum);
        r->train_images += static_cast<long>(n);
      }
      r->train_loss = weight_sum > 0 ? loss_sum / weight_sum : 0;
    };
    TrainingHistory history = run_epochs(
        settings_.stage1_epochs, va.count > 0, /*with_branches=*/false, train_epoch,
        [&] { return score(va); }, on_epoch);
    history.seconds = seconds_since(start);
    return history;
  }

  Probabilities predict_impl(const FusionFeatures& features) {
    check_features(features, "prediction", false, true);
    torch::set_num_threads(settings_.threads);
    torch::NoGradGuard no_grad;
    head_->eval();
    const SampleTensors t = sample_tensors(features, {}, false);
    const torch::Tensor p = head_->probs(t.inputs).to(torch::kCPU).contiguous();
    return Probabilities(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
  }

  // Per sample, the mean embedding and mean probabilities of its images, for every image source.
  FusionFeatures features_impl(const FusionImages& samples) {
    torch::set_num_threads(settings_.threads);
    torch::NoGradGuard no_grad;
    set_branch_mode(false);
    FusionFeatures out;
    const int n = samples.fixed.count;
    out.count = n;
    out.labels = samples.fixed.labels;
    out.weights = samples.fixed.weights;
    out.probs.resize(n_sources());
    out.embeddings.resize(n_sources());
    if (n == 0) return out;
    for (int s = 0; s < n_sources(); ++s) {
      if (!branches_[s]) {
        out.probs[s] = samples.fixed.probs[s];
        continue;
      }
      TorchBranch& branch = *torch_branches_[s];
      const LabelledImages& d = samples.images[s];
      const int64_t dim = sources_[s].embedding_dim;
      torch::Tensor embedding_sum = torch::zeros({n, dim}, torch::kDouble);
      torch::Tensor prob_sum = torch::zeros({n, kK}, torch::kDouble);
      torch::Tensor images_per_sample = torch::zeros({n}, torch::kDouble);
      const int chunk = settings_.batch_size * kEvalBatchFactor;
      for (int begin = 0; begin < d.images.count; begin += chunk) {
        const int m = std::min(chunk, d.images.count - begin);
        const torch::Tensor e = branch.embed_tensor(branch.input(d.images.image(begin), m));
        const torch::Tensor p = torch::softmax(branch.classify(e), 1);
        const torch::Tensor groups = torch::tensor(
            std::vector<int64_t>(d.groups.begin() + begin, d.groups.begin() + begin + m),
            torch::kLong);
        embedding_sum.index_add_(0, groups, e.to(torch::kCPU, torch::kDouble));
        prob_sum.index_add_(0, groups, p.to(torch::kCPU, torch::kDouble));
        images_per_sample.index_add_(0, groups, torch::ones({m}, torch::kDouble));
      }
      const torch::Tensor counts = images_per_sample.clamp_min(1).unsqueeze(1);
      const torch::Tensor mean_p = (prob_sum / counts).contiguous();
      const torch::Tensor mean_e = (embedding_sum / counts).to(torch::kFloat).contiguous();
      out.probs[s].assign(mean_p.data_ptr<double>(), mean_p.data_ptr<double>() + mean_p.numel());
      out.embeddings[s].assign(mean_e.data_ptr<float>(), mean_e.data_ptr<float>() + mean_e.numel());
    }
    return out;
  }

  // Image indices per sample, for each image source.
  static std::vector<std::vector<int>> members_of(const LabelledImages& d, int count) {
    std::vector<std::vector<int>> members(count);
    for (int i = 0; i < static_cast<int>(d.groups.size()); ++i) members[d.groups[i]].push_back(i);
    return members;
  }

  TrainingHistory fit_stage2_impl(const FusionImages& train, const FusionImages& val,
                                  const EpochFn& on_epoch, const std::vector<InjectFn>& inject) {
    const auto start = Clock::now();
    stage2_start_ = snapshot(/*with_branches=*/true);
    if (settings_.stage2_epochs == 0) return {};  // no stage 2
    if (stage2_trainable() == 0)
      throw InputError(fmt::format(
          "--fusion {} on a combination without image branches: stage 2 would train 0 parameters "
          "(the head has none and there is no backbone to unfreeze); set --stage2-epochs 0",
          to_string(settings_.kind)));
    check_images(train, "stage-2 training", true);
    check_images(val, "stage-2 validation", true);
    if (!inject.empty() && inject.size() != sources_.size())
      throw std::logic_error(fmt::format("fit_stage2: {} inject hooks for {} sources",
                                         inject.size(), sources_.size()));
    if (train.fixed.count < 2) throw InputError("stage-2 training: at least 2 samples are needed");
    torch::set_num_threads(settings_.threads);
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
    if (head_->uses_embeddings() && !head_->standardizer_fitted())
      head_->fit_standardizer(embeddings_tensor(features_impl(train)));

    const std::vector<double> class_w = class_weights(train.fixed);
    const torch::Tensor fixed_probs = probs_tensor(train.fixed);
    const torch::Tensor labels =
        torch::tensor(std::vector<int64_t>(train.fixed.labels.begin(), train.fixed.labels.end()),
                      torch::kLong)
            .to(device_);
    const torch::Tensor weights = sample_weights(train.fixed, class_w);
    std::vector<std::vector<std::vector<int>>> members(n_sources());
    for (int s = 0; s < n_sources(); ++s)
      if (branches_[s]) members[s] = members_of(train.images[s], train.fixed.count);

    std::vector<torch::Tensor> params = head_parameters();
    for (const TorchBranch* branch : torch_branches_)
      if (branch != nullptr)
        for (const auto& [name, p] : branch->parameters())
          if (p.requires_grad()) params.push_back(p);
    // The head and each branch draw their own stage-2 streams.
    head_->generator_.set_current_seed(mix_seed(settings_.seed, kStage2Salt));
    for (size_t s = 0; s < torch_branches_.size(); ++s)
      if (torch_branches_[s] != nullptr)
        torch_branches_[s]->seed_training(
            mix_seed(mix_seed(settings_.seed, kStage2Salt), static_cast<uint64_t>(s)));
    std::mt19937_64 rng(mix_seed(settings_.seed, kStage2ShuffleSalt));
    // Injection draws from its own stream: the epochs' order is the same with or without it.
    std::mt19937_64 inject_rng(mix_seed(settings_.seed, kStage2InjectSalt));
    ImageBatch injected;
    std::vector<int> injected_labels;
    torch::optim::Adam optimizer(params, torch::optim::AdamOptions(settings_.stage2_learning_rate)
                                             .weight_decay(settings_.weight_decay));
    const auto b = static_cast<size_t>(settings_.batch_size);
    std::vector<uint8_t> pixels;

    // Stage 2 feeds the head what stage 1 fitted it on and what prediction gives it: per sample
    // and image source, the mean of the embeddings and of the probabilities over all the sample's
    // images, with the branches in evaluation mode (batch norms on their running statistics, no
    // branch dropout; the head's dropout stays). Its first step thus starts from where stage 1
    // ended, and gradients still reach every unfrozen branch weight. (Single views through
    // training-mode batch norms gave the head features it had never seen: losses of 2 to 66 at
    // the first stage-2 epoch, against under 1 at stage 1's.)
    auto train_epoch = [&](EpochReport* r) {
      head_->train();
      set_branch_mode(false);
      const std::vector<int64_t> order = shuffled(train.fixed.count, rng);
      double loss_sum = 0, weight_sum = 0;
      for (size_t begin = 0; begin < order.size(); begin += b) {
        const size_t n = std::min(b, order.size() - begin);
        if (n < 2) break;  // as stage 1: a last lone sample is left out
        const std::vector<int64_t> batch(order.begin() + begin, order.begin() + begin + n);
        const torch::Tensor idx = torch::tensor(batch, torch::kLong).to(device_);
        std::vector<torch::Tensor> probs(n_sources()), embeddings;
        for (int s = 0; s < n_sources(); ++s) {
          if (!branches_[s]) {
            probs[s] = fixed_probs.select(1, s).index_select(0, idx);
            continue;
          }
          // Every image of the batch's samples, and which sample it shows.
          const ImageBatch& images = train.images[s].images;
          const size_t bytes = images.image_bytes();
          std::vector<int64_t> owner;
          pixels.clear();
          for (size_t j = 0; j < n; ++j)
            for (int i : members[s][batch[j]]) {
              pixels.insert(pixels.end(), images.image(i), images.image(i) + bytes);
              owner.push_back(static_cast<int64_t>(j));
            }
          TorchBranch& branch = *torch_branches_[s];
          const auto m = static_cast<int>(owner.size());
          const uint8_t* batch_pixels = pixels.data();
          if (!inject.empty() && inject[s]) {
            // The batch's images as an ImageBatch (its pixels moved in and back, not copied),
            // each with its sample's label: generated images replace views of their own class.
            injected.count = m;
            injected.size = images.size;
            injected.channels = images.channels;
            injected.pixels.swap(pixels);
            injected_labels.clear();
            for (int64_t j : owner) injected_labels.push_back(train.fixed.labels[batch[j]]);
            inject[s](injected, injected_labels, inject_rng);
            if (injected.count != m || injected.pixels.size() != bytes * m)
              throw std::logic_error("the inject hook changed the batch's shape");
            pixels.swap(injected.pixels);
            batch_pixels = pixels.data();
          }
          const torch::Tensor e = branch.embed_tensor(branch.input(batch_pixels, m));
          const torch::Tensor p = torch::softmax(branch.classify(e), 1);
          const torch::Tensor owner_idx = torch::tensor(owner, torch::kLong).to(device_);
          const auto options = torch::TensorOptions(torch::kDouble).device(device_);
          const torch::Tensor per_sample = torch::zeros({static_cast<int64_t>(n)}, options)
                                               .index_add_(0, owner_idx, torch::ones({m}, options))
                                               .unsqueeze(1);
          probs[s] = torch::zeros({static_cast<int64_t>(n), kK}, options)
                         .index_add(0, owner_idx, p.to(torch::kDouble)) /
                     per_sample;
          embeddings.push_back(torch::zeros({static_cast<int64_t>(n), e.size(1)}, options)
                                   .index_add(0, owner_idx, e.to(torch::kDouble)) /
                               per_sample);
        }
        Inputs in;
        in.probs = torch::stack(probs, 1);
        if (head_->uses_embeddings())
          in.embeddings = embeddings.empty()
                              ? torch::zeros({static_cast<int64_t>(n), 0},
                                             torch::TensorOptions(torch::kDouble).device(device_))
                              : torch::cat(embeddings, 1);
        loss_sum += step(optimizer, head_->log_probs(in), labels.index_select(0, idx),
                         weights.index_select(0, idx), settings_, &weight_sum);
        r->train_images += static_cast<long>(n);
      }
      r->train_loss = weight_sum > 0 ? loss_sum / weight_sum : 0;
    };
    auto validate = [&] {
      const SampleTensors va = sample_tensors(features_impl(val), class_w, true);
      return score(va);
    };
    TrainingHistory history = run_epochs(settings_.stage2_epochs, val.fixed.count > 0,
                                         /*with_branches=*/true, train_epoch, validate, on_epoch);
    history.seconds = seconds_since(start);
    return history;
  }

  // ---- Checkpoints

  std::string sources_signature() const {
    std::string out;
    for (const auto& source : sources_)
      out += fmt::format("{}{}:{}", out.empty() ? "" : ",", source.name, source.embedding_dim);
    return out;
  }

  static std::string branch_key(int s) { return fmt::format("branch_{}", s); }

  std::vector<NamedTensor> head_tensors() const {
    std::vector<NamedTensor> out;
    for (const auto& item : head_->named_parameters()) out.emplace_back(item.key(), item.value());
    for (const auto& item : head_->named_buffers()) out.emplace_back(item.key(), item.value());
    return out;
  }

  void save_impl(const std::string& path) const {
    torch::serialize::OutputArchive archive;
    archive.write("format", c10::IValue(std::string(kCheckpointFormat)));
    archive.write("kind", c10::IValue(std::string(to_string(settings_.kind))));
    archive.write("sources", c10::IValue(sources_signature()));
    c10::List<std::string> names;
    c10::List<at::Tensor> tensors;
    for (const auto& [name, t] : head_tensors()) {
      names.push_back(name);
      tensors.push_back(t.detach().to(torch::kCPU));
    }
    archive.write("head_names", c10::IValue(names));
    archive.write("head_tensors", c10::IValue(tensors));
    archive.write("standardizer_fitted", c10::IValue(head_->standardizer_fitted()));
    for (int s = 0; s < n_sources(); ++s) {
      if (!branches_[s]) continue;
      torch::serialize::OutputArchive branch;
      torch_branches_[s]->write(branch);
      archive.write(branch_key(s), branch);
    }
    vision::save_archive(archive, path, "fusion checkpoint");
  }

  void load_impl(const std::string& path) {
    torch::serialize::InputArchive archive;
    vision::load_archive(archive, path, device_, "fusion checkpoint");
    c10::IValue v;
    if (!archive.try_read("format", v) || !v.isString() || v.toStringRef() != kCheckpointFormat)
      throw InputError(fmt::format("'{}' is not a woundphase fusion checkpoint", path));
    auto expect = [&](const char* key, const std::string& want) {
      c10::IValue got;
      if (!archive.try_read(key, got) || !got.isString() || got.toStringRef() != want)
        throw InputError(fmt::format(
            "fusion checkpoint '{}' was written by another model ({} '{}', this model has '{}')",
            path, key, got.isString() ? got.toStringRef() : "?", want));
    };
    expect("kind", to_string(settings_.kind));
    expect("sources", sources_signature());
    c10::IValue names_value, tensors_value;
    if (!archive.try_read("head_names", names_value) ||
        !archive.try_read("head_tensors", tensors_value))
      throw InputError(fmt::format("fusion checkpoint '{}' has no head", path));
    const auto names = names_value.toList();
    const auto tensors = tensors_value.toTensorList();
    const std::vector<NamedTensor> into = head_tensors();
    if (names.size() != into.size() || tensors.size() != into.size())
      throw InputError(fmt::format("fusion checkpoint '{}' holds {} head tensors; this head has {}",
                                   path, names.size(), into.size()));
    for (size_t i = 0; i < into.size(); ++i) {
      const std::string name = names.get(i).toStringRef();
      const torch::Tensor t = tensors.get(i);
      if (name != into[i].first || !t.sizes().equals(into[i].second.sizes()))
        throw InputError(fmt::format("fusion checkpoint '{}' does not fit this head ({} vs {})",
                                     path, name, into[i].first));
    }
    for (int s = 0; s < n_sources(); ++s) {
      if (!branches_[s]) continue;
      torch::serialize::InputArchive branch;
      if (!archive.try_read(branch_key(s), branch))
        throw InputError(
            fmt::format("fusion checkpoint '{}' has no branch '{}'", path, sources_[s].name));
      torch_branches_[s]->read(branch, path);
    }
    {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < into.size(); ++i) into[i].second.copy_(tensors.get(i));
    }
    archive.read("standardizer_fitted", v);
    head_->set_standardizer_fitted(v.toBool());
    apply_stage2_trainability();
    stage2_start_.reset();
  }

  FusionSettings settings_;
  std::vector<FusionSource> sources_;
  std::vector<std::unique_ptr<ImageModel>> branches_;  // [source]; null for metadata
  std::vector<TorchBranch*> torch_branches_;           // the same models' torch side
  torch::Device device_{torch::kCPU};
  std::shared_ptr<Head> head_;
  std::optional<State> stage2_start_;  // for revert_stage2()
};

}  // namespace
}  // namespace woundphase::fusion

extern "C" int woundphase_fusion_create(const woundphase::FusionSettings* settings,
                                        const woundphase::FusionSource* sources, int n_sources,
                                        const woundphase::ImageModel* const* branches,
                                        woundphase::FusionModel** out, char* error,
                                        size_t error_size) {
  return woundphase::vision_abi::guarded(error, error_size, [&] {
    if (n_sources < 0 || (n_sources > 0 && (sources == nullptr || branches == nullptr)))
      throw woundphase::InputError("fusion: no sources given");
    const std::vector<woundphase::FusionSource> source_list(sources, sources + n_sources);
    const std::vector<const woundphase::ImageModel*> branch_list(branches, branches + n_sources);
    *out = woundphase::vision::without_backtrace([&] {
      return new woundphase::fusion::TorchFusionModel(*settings, source_list, branch_list);
    });
  });
}

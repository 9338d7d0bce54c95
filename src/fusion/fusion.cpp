// TorchFusionModel (fusion_model.h): building it over copies of the branches, its tensors and
// saved states, prediction and per-sample features; and the library's extern "C" fusion factory.
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>  // for min
#include <mutex>      // for lock_guard
#include <stdexcept>  // for logic_error
#include <vector>

#include "fusion/fusion_model.h"
#include "vision/c_abi.h"
#include "woundphase/class_weights.h"
#include "woundphase/random.h"  // for mix_seed

namespace woundphase::fusion {
namespace {

// Inference runs the branches on batches this many times the training batch.
constexpr int kEvalBatchFactor = 2;
// The head's initialisation seed, derived from settings.seed (the stages derive their own).
constexpr uint64_t kInitSalt = 11;

}  // namespace

TorchFusionModel::TorchFusionModel(const FusionSettings& settings,
                                   const std::vector<FusionSource>& sources,
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

std::vector<LayerParameters> TorchFusionModel::parameter_breakdown(int stage) const {
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

torch::Tensor TorchFusionModel::probs_tensor(const FusionFeatures& f) const {
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

torch::Tensor TorchFusionModel::embeddings_tensor(const FusionFeatures& f) const {
  std::vector<torch::Tensor> parts;
  for (int s = 0; s < n_sources() && f.count > 0; ++s) {
    const int64_t dim = sources_[s].embedding_dim;
    if (dim == 0) continue;
    parts.push_back(
        torch::from_blob(const_cast<float*>(f.embeddings[s].data()), {f.count, dim}, torch::kFloat)
            .to(torch::kDouble));
  }
  if (parts.empty()) {
    int64_t total = 0;  // [0, E] without samples, [n, 0] without image sources
    for (const auto& source : sources_) total += source.embedding_dim;
    return torch::zeros({f.count, f.count > 0 ? 0 : total}, torch::kDouble).to(device_);
  }
  return torch::cat(parts, 1).to(device_);
}

std::vector<double> TorchFusionModel::class_weights(const FusionFeatures& train) const {
  if (settings_.class_weight == VisionClassWeight::kNone) return std::vector<double>(kK, 1.0);
  return balanced_class_weights(train.labels, train.weights, kK);
}

torch::Tensor TorchFusionModel::sample_weights(const FusionFeatures& f,
                                               const std::vector<double>& class_w) const {
  std::vector<double> w(f.count);
  for (int i = 0; i < f.count; ++i)
    w[i] = (f.weights.empty() ? 1.0 : f.weights[i]) * class_w[f.labels[i]];
  return torch::tensor(w, torch::kDouble).to(device_);
}

SampleTensors TorchFusionModel::sample_tensors(const FusionFeatures& f,
                                               const std::vector<double>& class_w,
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

std::vector<torch::Tensor> TorchFusionModel::head_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : head_->parameters()) out.push_back(p);
  return out;
}

long TorchFusionModel::stage2_trainable() const {
  long n = 0;
  for (const auto& layer : parameter_breakdown(2)) n += layer.trainable;
  return n;
}

void TorchFusionModel::apply_stage2_trainability() {
  for (TorchBranch* branch : torch_branches_)
    if (branch != nullptr)
      branch->set_branch_trainable(settings_.stage2_unfreeze, settings_.stage2_unfreeze > 0);
}

void TorchFusionModel::set_branch_mode(bool train) {
  for (TorchBranch* branch : torch_branches_)
    if (branch != nullptr) branch->set_mode(train);
}

TorchFusionModel::State TorchFusionModel::snapshot(bool with_branches) const {
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

void TorchFusionModel::restore(const State& state) {
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& p : head_->parameters()) p.copy_(state.head[i++]);
  for (auto& b : head_->buffers()) b.copy_(state.head[i++]);
  head_->set_standardizer_fitted(state.standardizer_fitted);
  for (size_t s = 0; s < state.branches.size(); ++s)
    if (torch_branches_[s] != nullptr) torch_branches_[s]->restore(state.branches[s]);
}

Probabilities TorchFusionModel::predict_impl(const FusionFeatures& features) {
  check_features(features, "prediction", false, true);
  torch::set_num_threads(settings_.threads);
  torch::NoGradGuard no_grad;
  head_->eval();
  const SampleTensors t = sample_tensors(features, {}, false);
  const torch::Tensor p = head_->probs(t.inputs).to(torch::kCPU).contiguous();
  return Probabilities(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
}

FusionFeatures TorchFusionModel::features_impl(const FusionImages& samples) {
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

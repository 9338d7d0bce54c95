// The fusion heads (head.h): their layers, initialisation and how each combines its sources.
#include "fusion/head.h"

#include <cmath>  // for isfinite

namespace woundphase::fusion {
namespace {

// Probabilities are clamped to at least this before their log (a branch may say exactly 0).
constexpr double kMinProb = 1e-7;
// A standardised embedding dimension's standard deviation is at least this (constant dimensions).
constexpr double kMinFeatureStd = 1e-6;

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

}  // namespace

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

std::string head_layer(const std::string& name) {
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? "head" : "head." + name.substr(0, dot);
}

Head::Head(const FusionSettings& s, const std::vector<FusionSource>& sources) : kind_(s.kind) {
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
      linear_ = register_module("linear", torch::nn::Linear(embedding_size_ + log_prob_inputs, kK));
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

torch::Tensor Head::log_probs(const Inputs& in) {
  if (mixture()) return torch::log(mix(in).clamp_min(kMinProb));
  return torch::log_softmax(logits(in), 1);
}

torch::Tensor Head::probs(const Inputs& in) {
  if (mixture()) return mix(in);
  return torch::softmax(logits(in), 1);
}

void Head::fit_standardizer(const torch::Tensor& embeddings) {
  if (!uses_embeddings()) return;
  torch::NoGradGuard no_grad;
  input_mean_.copy_(embeddings.mean(0));
  input_std_.copy_(embeddings.std(0, /*unbiased=*/false).clamp_min(kMinFeatureStd));
  standardizer_fitted_ = true;
}

void Head::init_as_geometric_mean(int64_t first_log_prob, int64_t n_sources) {
  torch::NoGradGuard no_grad;
  linear_->weight.zero_();
  linear_->bias.zero_();
  for (int64_t s = 0; s < n_sources; ++s)
    for (int64_t c = 0; c < kK; ++c)
      linear_->weight[c][first_log_prob + s * kK + c] = 1.0 / static_cast<double>(n_sources);
}

torch::Tensor Head::source_log_probs(const Inputs& in) {
  return torch::log(in.probs.clamp_min(kMinProb)).flatten(1);  // [n, S * k]
}

torch::Tensor Head::mix(const Inputs& in) {
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

torch::Tensor Head::logits(const Inputs& in) {
  if (kind_ == FusionKind::kProbConcat) return linear_->forward(source_log_probs(in));
  const torch::Tensor standardised = (in.embeddings - input_mean_) / input_std_;
  return linear_->forward(seeded_dropout(torch::cat({standardised, source_log_probs(in)}, 1),
                                         dropout_, is_training(), generator_));
}

}  // namespace woundphase::fusion

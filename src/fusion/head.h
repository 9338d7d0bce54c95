// The fusion heads (fixed, learned_weights, prob_concat, feature_concat, gated): what they read and
// how they combine their sources (internal to libwoundphase_vision.so; includes libtorch). The
// model that trains them, TorchFusionModel, is in fusion_model.h.
#pragma once

#include <torch/torch.h>

#include <cstdint>  // for int64_t
#include <string>
#include <vector>

#include "vision/torch_branch.h"
#include "woundphase/fusion.h"

namespace woundphase::fusion {

using vision::global_generator_mutex;
using vision::make_cpu_generator;
using vision::NamedTensor;
using vision::seeded_dropout;
using vision::TorchBranch;
using vision::without_backtrace;

constexpr int64_t kK = kNumClasses;

// What a head reads for n samples.
struct Inputs {
  torch::Tensor probs;       // [n, S, k] every source's class probabilities
  torch::Tensor embeddings;  // [n, E] image sources' embeddings side by side (feature_concat)
};

// Per-sample loss [n] from log-probabilities [n, k]: NLL, or focal (1 - p_y)^gamma (-log p_y).
torch::Tensor per_sample_loss(const torch::Tensor& log_p, const torch::Tensor& targets,
                              VisionLoss loss, double gamma);

bool is_mixture(FusionKind kind);

// The head's layer of a parameter: "head" plus the parameter's module path.
std::string head_layer(const std::string& name);

class Head : public torch::nn::Module {
 public:
  Head(const FusionSettings& s, const std::vector<FusionSource>& sources);

  bool mixture() const { return is_mixture(kind_); }
  bool uses_embeddings() const { return kind_ == FusionKind::kFeatureConcat; }

  // Log-probabilities [n, k]: what the loss reads.
  torch::Tensor log_probs(const Inputs& in);
  torch::Tensor probs(const Inputs& in);

  // feature_concat: each embedding dimension's mean and standard deviation over [n, E].
  void fit_standardizer(const torch::Tensor& embeddings);
  bool standardizer_fitted() const { return standardizer_fitted_; }
  void set_standardizer_fitted(bool fitted) { standardizer_fitted_ = fitted; }

 private:
  // Logits = mean over sources of log p_s: the normalised geometric mean of the sources, a sound
  // ensemble to start from; embedding weights start at 0.
  void init_as_geometric_mean(int64_t first_log_prob, int64_t n_sources);

  static torch::Tensor source_log_probs(const Inputs& in);

  torch::Tensor mix(const Inputs& in);

  torch::Tensor logits(const Inputs& in);

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

}  // namespace woundphase::fusion

// TorchFusionModel (fusion_model.h): stage 1, the head alone on cached per-sample features, and
// the scoring and Adam step both stages share.
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>  // for min, swap
#include <random>     // for mt19937_64
#include <vector>

#include "fusion/fusion_model.h"
#include "woundphase/metrics.h"  // for quadratic_weighted_kappa
#include "woundphase/random.h"   // for mix_seed, uniform_index

namespace woundphase::fusion {
namespace {

// Seeds of stage 1's random streams, derived from settings.seed.
constexpr uint64_t kStage1Salt = 12;         // stage-1 dropout
constexpr uint64_t kStage1ShuffleSalt = 13;  // stage-1 epoch order

}  // namespace

TorchFusionModel::Score TorchFusionModel::score(const SampleTensors& t) {
  torch::NoGradGuard no_grad;
  head_->eval();
  const torch::Tensor log_p = head_->log_probs(t.inputs);
  const torch::Tensor per = per_sample_loss(log_p, t.labels, settings_.loss, settings_.focal_gamma);
  const double wsum = t.weights.sum().item<double>();
  Score out;
  out.loss = wsum > 0 ? ((per * t.weights).sum() / wsum).item<double>() : per.mean().item<double>();
  const torch::Tensor pred_t = log_p.argmax(1).to(torch::kCPU).contiguous();
  const torch::Tensor truth_t = t.labels.to(torch::kCPU).contiguous();
  const std::vector<int> pred(pred_t.data_ptr<int64_t>(), pred_t.data_ptr<int64_t>() + t.count);
  const std::vector<int> truth(truth_t.data_ptr<int64_t>(), truth_t.data_ptr<int64_t>() + t.count);
  out.qwk = quadratic_weighted_kappa(truth, pred, kK);
  long correct = 0;
  for (int i = 0; i < t.count; ++i) correct += truth[i] == pred[i];
  out.accuracy = t.count > 0 ? static_cast<double>(correct) / t.count : 0;
  return out;
}

double TorchFusionModel::step(torch::optim::Adam& optimizer, const torch::Tensor& log_p,
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

std::vector<int64_t> TorchFusionModel::shuffled(int n, std::mt19937_64& rng) {
  std::vector<int64_t> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[uniform_index(rng(), i)]);
  return order;
}

TrainingHistory TorchFusionModel::fit_stage1_impl(const FusionFeatures& train,
                                                  const FusionFeatures& val,
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
      if (tr.inputs.embeddings.defined()) in.embeddings = tr.inputs.embeddings.index_select(0, idx);
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

}  // namespace woundphase::fusion

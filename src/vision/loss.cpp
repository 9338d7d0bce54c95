// The image trainer's loss (loss.h) and the torch-free views of it and of the learning-rate
// schedule that the tests check against references (trainer_detail.h).
#include "vision/loss.h"

#include <cstdint>  // for int64_t

#include "vision/trainer_detail.h"

namespace woundphase::vision {

torch::Tensor per_image_loss(const torch::Tensor& logits, const torch::Tensor& targets,
                             VisionLoss loss, double gamma, double smoothing) {
  const torch::Tensor log_all = torch::log_softmax(logits, 1);
  const torch::Tensor log_p = log_all.gather(1, targets.unsqueeze(1)).squeeze(1);
  torch::Tensor ce = -log_p;
  if (smoothing > 0) ce = (1 - smoothing) * ce - smoothing * log_all.mean(1);
  if (loss == VisionLoss::kFocal && gamma > 0) return torch::pow(1 - log_p.exp(), gamma) * ce;
  return ce;
}

torch::Tensor long_tensor(const std::vector<int>& values) {
  return torch::tensor(std::vector<int64_t>(values.begin(), values.end()), torch::kLong);
}
torch::Tensor float_tensor(const std::vector<float>& values) {
  return torch::tensor(values, torch::kFloat);
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

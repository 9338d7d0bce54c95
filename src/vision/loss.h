// The image trainer's loss and learning-rate schedule (internal to libwoundphase_vision.so;
// includes libtorch). Defined in loss.cpp, with the torch-free wrappers of trainer_detail.h.
#pragma once

#include <torch/torch.h>

#include <limits>  // for numeric_limits
#include <vector>

#include "woundphase/vision.h"

namespace woundphase::vision {

// Per-image loss [N] of logits [N, k]: cross-entropy, or focal loss (1 - p)^gamma * CE.
// Per image: cross-entropy against the label smoothed by `smoothing` (1 - e on the label, e / k on
// every class), times focal loss's (1 - p_label)^gamma.
torch::Tensor per_image_loss(const torch::Tensor& logits, const torch::Tensor& targets,
                             VisionLoss loss, double gamma, double smoothing = 0);

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

torch::Tensor long_tensor(const std::vector<int>& values);
torch::Tensor float_tensor(const std::vector<float>& values);

}  // namespace woundphase::vision

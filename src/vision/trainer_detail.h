// Pieces of the image trainer exposed for the tests, torch-free (defined in loss.cpp).
#pragma once

#include <vector>

namespace woundphase::vision {

// Weighted mean focal loss, sum_i w_i (1 - p_i)^gamma (-log p_i) / sum_i w_i, of row-major logits
// [n, k] where p_i is the softmax probability of row i's label. gamma = 0 is cross-entropy.
// With `smoothing` e the cross-entropy is against the smoothed label (1 - e on it, e / k on every
// class), as torch.nn.CrossEntropyLoss(label_smoothing=e) computes it.
double focal_loss_value(const std::vector<float>& logits, int k, const std::vector<int>& labels,
                        const std::vector<float>& weights, double gamma, double smoothing = 0);

// --lr-plateau-factor's schedule: the learning rate after each epoch's validation loss, from
// `rate`, multiplied by `factor` whenever `patience` epochs in a row brought no lower loss.
std::vector<double> plateau_learning_rates(const std::vector<double>& val_losses, double rate,
                                           double factor, int patience);

}  // namespace woundphase::vision

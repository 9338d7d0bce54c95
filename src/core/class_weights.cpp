#include "woundphase/class_weights.h"

#include <stdexcept>  // for invalid_argument
#include <string>

#include "woundphase/core.h"  // for InputError

namespace woundphase {

std::vector<double> balanced_class_weights(const std::vector<int>& labels,
                                           const std::vector<float>& weights, int num_classes,
                                           WeightScale scale) {
  if (!weights.empty() && weights.size() != labels.size())
    throw std::invalid_argument("balanced_class_weights: " + std::to_string(weights.size()) +
                                " weights for " + std::to_string(labels.size()) + " labels");
  std::vector<double> per_class(num_classes, 0.0);
  double total = 0.0;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      throw InputError("class label " + std::to_string(labels[i]) + " at row " + std::to_string(i) +
                       " is outside 0.." + std::to_string(num_classes - 1));
    }
    const double w = weights.empty() ? 1.0 : weights[i];
    per_class[labels[i]] += w;
    total += w;
  }
  int present = 0;
  for (double c : per_class) present += c > 0.0 ? 1 : 0;
  const double numerator = scale == WeightScale::kSumOne ? 1.0 : total;
  std::vector<double> out(num_classes, 0.0);
  for (int c = 0; c < num_classes; ++c)
    if (per_class[c] > 0.0) out[c] = numerator / (present * per_class[c]);
  return out;
}

}  // namespace woundphase

// Agreement and accuracy metrics for the ordinal three-class problem. Both quadratic-weighted and
// plain Cohen's kappa are always reported, each under its own name.
#pragma once

#include <array>
#include <vector>

#include "woundphase/core.h"

namespace woundphase {

using Confusion = std::array<std::array<long, kNumClasses>, kNumClasses>;  // [true][pred]

Confusion confusion_matrix(const std::vector<int>& truth, const std::vector<int>& pred);

// Cohen's kappa with quadratic weights (w_ij = (i-j)^2 / (k-1)^2). NaN when undefined: no rows,
// or truth and predictions all of one class (the expected disagreement is 0); never 0 for that.
double quadratic_weighted_kappa(const Confusion& c);
// The same for `num_classes` >= 2 ordered classes (w_ij = (i-j)^2 / (k-1)^2) from labels and
// predictions in 0..num_classes-1 (std::invalid_argument otherwise): what the image networks and
// fusion heads select epochs on, whatever their class count. 0 (not NaN) when undefined: model
// selection compares it, and a NaN would never improve.
double quadratic_weighted_kappa(const std::vector<int>& truth, const std::vector<int>& pred,
                                int num_classes);
// Plain (unweighted) Cohen's kappa; NaN when undefined, as above.
double cohen_kappa(const Confusion& c);

struct Scores {
  double qwk = 0;
  double kappa = 0;
  double accuracy = 0;
  double macro_f1 = 0;
  std::array<double, kNumClasses>
      f1{};  // per class; 0 when the class is neither true nor predicted
  Confusion confusion{};
  long n = 0;
};

Scores score(const std::vector<int>& truth, const std::vector<int>& pred);

// Argmax per row (ties go to the lower class).
std::vector<int> argmax(const Probabilities& probs);

struct MeanStd {
  double mean = 0;
  double std = 0;  // sample standard deviation (n-1); 0 for a single value
};
MeanStd mean_std(const std::vector<double>& values);

}  // namespace woundphase

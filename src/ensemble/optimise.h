// Internal to src/ensemble: a small deterministic L-BFGS minimiser for the ensemble's fits (a few
// dozen parameters, full batch), so the stage needs no optimisation library.
#pragma once

#include <functional>  // for function
#include <vector>

namespace woundphase::ensemble_detail {

// Objective: returns f(x) and writes its gradient into `grad` (already sized like x).
using Objective = std::function<double(const std::vector<double>& x, std::vector<double>& grad)>;

struct OptimiseResult {
  std::vector<double> x;
  double value = 0.0;
  int iterations = 0;
};

// Minimises `f` from `x0` with at most `max_iterations` L-BFGS steps (Armijo backtracking). Stops
// early once the gradient or the decrease of f is negligible. Single-threaded and free of
// randomness: the same inputs give bit-identical results.
OptimiseResult minimise_lbfgs(const Objective& f, std::vector<double> x0, int max_iterations);

}  // namespace woundphase::ensemble_detail

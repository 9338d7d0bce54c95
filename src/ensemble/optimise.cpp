#include "ensemble/optimise.h"

#include <algorithm>  // for max
#include <cmath>      // for abs, isfinite, sqrt
#include <cstddef>    // for size_t
#include <deque>

namespace woundphase::ensemble_detail {

namespace {

// Curvature pairs kept (the usual 5-20; these problems have at most a few dozen parameters).
constexpr size_t kHistory = 10;
// Armijo sufficient-decrease constant.
constexpr double kArmijo = 1e-4;
// Backtracking halves the step at most this often (2^-40 ~ 1e-12) before giving up.
constexpr int kMaxHalvings = 40;
// Converged when the largest gradient entry falls below this.
constexpr double kGradientTolerance = 1e-9;
// ... or when a step lowers f by less than this fraction of |f| (double precision noise).
constexpr double kRelativeDecrease = 1e-13;
// A curvature pair is kept only when s'y exceeds this fraction of |s||y| (keeps H positive).
constexpr double kCurvatureFloor = 1e-10;

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double max_abs(const std::vector<double>& a) {
  double m = 0.0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

struct Pair {
  std::vector<double> s;  // x_{k+1} - x_k
  std::vector<double> y;  // g_{k+1} - g_k
  double rho = 0.0;       // 1 / (y's)
};

// Two-loop recursion: returns -H g for the inverse-Hessian approximation H of the stored pairs.
std::vector<double> direction(const std::deque<Pair>& pairs, const std::vector<double>& g) {
  std::vector<double> q = g;
  std::vector<double> alpha(pairs.size());
  for (size_t k = pairs.size(); k-- > 0;) {
    alpha[k] = pairs[k].rho * dot(pairs[k].s, q);
    for (size_t i = 0; i < q.size(); ++i) q[i] -= alpha[k] * pairs[k].y[i];
  }
  if (!pairs.empty()) {
    // Initial scaling gamma = s'y / y'y from the newest pair (Nocedal & Wright 7.20).
    const Pair& last = pairs.back();
    const double gamma = 1.0 / (last.rho * dot(last.y, last.y));
    for (double& v : q) v *= gamma;
  }
  for (size_t k = 0; k < pairs.size(); ++k) {
    const double beta = pairs[k].rho * dot(pairs[k].y, q);
    for (size_t i = 0; i < q.size(); ++i) q[i] += (alpha[k] - beta) * pairs[k].s[i];
  }
  for (double& v : q) v = -v;
  return q;
}

}  // namespace

OptimiseResult minimise_lbfgs(const Objective& f, std::vector<double> x0, int max_iterations) {
  OptimiseResult result;
  result.x = std::move(x0);
  const size_t n = result.x.size();
  std::vector<double> g(n, 0.0);
  result.value = f(result.x, g);
  if (n == 0) return result;

  std::deque<Pair> pairs;
  std::vector<double> x_new(n);
  std::vector<double> g_new(n);
  for (int iter = 0; iter < max_iterations; ++iter) {
    if (max_abs(g) < kGradientTolerance) break;
    std::vector<double> d = direction(pairs, g);
    double slope = dot(g, d);
    if (!(slope < 0.0)) {
      // Not a descent direction (stale curvature): restart from steepest descent.
      pairs.clear();
      d = g;
      for (double& v : d) v = -v;
      slope = dot(g, d);
    }
    // Without curvature information, a first step of unit length in parameter space.
    double step = pairs.empty() ? std::min(1.0, 1.0 / std::sqrt(-slope)) : 1.0;
    double value_new = 0.0;
    bool accepted = false;
    for (int h = 0; h < kMaxHalvings; ++h, step *= 0.5) {
      for (size_t i = 0; i < n; ++i) x_new[i] = result.x[i] + step * d[i];
      value_new = f(x_new, g_new);
      if (std::isfinite(value_new) && value_new <= result.value + kArmijo * step * slope) {
        accepted = true;
        break;
      }
    }
    if (!accepted) break;  // no decrease left at double precision

    Pair pair;
    pair.s.resize(n);
    pair.y.resize(n);
    for (size_t i = 0; i < n; ++i) {
      pair.s[i] = x_new[i] - result.x[i];
      pair.y[i] = g_new[i] - g[i];
    }
    const double sy = dot(pair.s, pair.y);
    if (sy > kCurvatureFloor * std::sqrt(dot(pair.s, pair.s) * dot(pair.y, pair.y))) {
      pair.rho = 1.0 / sy;
      pairs.push_back(std::move(pair));
      if (pairs.size() > kHistory) pairs.pop_front();
    }
    const double decrease = result.value - value_new;
    result.x.swap(x_new);
    g.swap(g_new);
    result.value = value_new;
    result.iterations = iter + 1;
    if (decrease <= kRelativeDecrease * std::max(1.0, std::abs(value_new))) break;
  }
  return result;
}

}  // namespace woundphase::ensemble_detail

// Multinomial logistic regression by Newton's method (logistic.h).
#include "tabular/logistic.h"

#include <algorithm>  // for max
#include <cmath>      // for exp, log, abs, sqrt
#include <stdexcept>  // for invalid_argument, runtime_error

namespace woundphase::tabular_detail {
namespace {

// Newton stops when the largest gradient entry is below this (the objective is O(rows)).
constexpr double kGradientTolerance = 1e-9;
constexpr int kMaxNewtonSteps = 200;
constexpr int kMaxHalvings = 60;
// The intercepts are identifiable only up to a common shift: this ridge on their diagonal pins
// them (sum near 0) without changing any probability measurably.
constexpr double kInterceptRidge = 1e-10;

// Softmax of one row's scores into `p`.
void softmax(const double* scores, int k, double* p) {
  double top = scores[0];
  for (int c = 1; c < k; ++c) top = std::max(top, scores[c]);
  double sum = 0;
  for (int c = 0; c < k; ++c) sum += (p[c] = std::exp(scores[c] - top));
  for (int c = 0; c < k; ++c) p[c] /= sum;
}

// Solves A z = b for symmetric positive definite A (n x n, row-major) by Cholesky.
std::vector<double> solve_spd(std::vector<double> a, std::vector<double> b, int n) {
  for (int j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) throw std::runtime_error("logistic regression: Hessian not positive definite");
    const double l = std::sqrt(d);
    a[j * n + j] = l;
    for (int i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (int k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / l;
    }
  }
  for (int i = 0; i < n; ++i) {  // L y = b
    for (int k = 0; k < i; ++k) b[i] -= a[i * n + k] * b[k];
    b[i] /= a[i * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {  // L^T z = y
    for (int k = i + 1; k < n; ++k) b[i] -= a[k * n + i] * b[k];
    b[i] /= a[i * n + i];
  }
  return b;
}

}  // namespace

void MultinomialLogistic::fit(const std::vector<double>& x, const std::vector<int>& y,
                              const std::vector<double>& w, int classes, int features, double c) {
  if (classes < 2 || features < 0 || !(c > 0))
    throw std::invalid_argument("logistic regression: bad shape or C");
  const size_t n = y.size();
  if (x.size() != n * features || (!w.empty() && w.size() != n))
    throw std::invalid_argument("logistic regression: rows of x, y and w differ");
  classes_ = classes;
  features_ = features;
  const int width = features + 1;
  const int dim = classes * width;
  coef_.assign(dim, 0.0);
  auto weight = [&](size_t i) { return w.empty() ? 1.0 : w[i]; };
  auto objective = [&](const std::vector<double>& coef) {
    double f = 0;
    std::vector<double> s(classes);
    for (size_t i = 0; i < n; ++i) {
      for (int k = 0; k < classes; ++k) {
        s[k] = coef[k * width + features];
        for (int a = 0; a < features; ++a) s[k] += coef[k * width + a] * x[i * features + a];
      }
      double top = s[0];
      for (int k = 1; k < classes; ++k) top = std::max(top, s[k]);
      double sum = 0;
      for (int k = 0; k < classes; ++k) sum += std::exp(s[k] - top);
      f += c * weight(i) * (top + std::log(sum) - s[y[i]]);
    }
    for (int k = 0; k < classes; ++k)
      for (int a = 0; a < features; ++a) f += 0.5 * coef[k * width + a] * coef[k * width + a];
    return f;
  };

  double f = objective(coef_);
  std::vector<double> s(classes), p(classes), xi(width);
  for (int step = 0; step < kMaxNewtonSteps; ++step) {
    std::vector<double> grad(dim, 0.0), hess(static_cast<size_t>(dim) * dim, 0.0);
    for (size_t i = 0; i < n; ++i) {
      for (int a = 0; a < features; ++a) xi[a] = x[i * features + a];
      xi[features] = 1.0;
      for (int k = 0; k < classes; ++k) {
        s[k] = 0;
        for (int a = 0; a < width; ++a) s[k] += coef_[k * width + a] * xi[a];
      }
      softmax(s.data(), classes, p.data());
      const double wi = c * weight(i);
      for (int k = 0; k < classes; ++k) {
        const double r = wi * (p[k] - (y[i] == k ? 1.0 : 0.0));
        for (int a = 0; a < width; ++a) grad[k * width + a] += r * xi[a];
        for (int l = 0; l < classes; ++l) {
          const double h = wi * p[k] * ((k == l ? 1.0 : 0.0) - p[l]);
          for (int a = 0; a < width; ++a)
            for (int b = 0; b < width; ++b)
              hess[static_cast<size_t>(k * width + a) * dim + l * width + b] += h * xi[a] * xi[b];
        }
      }
    }
    double largest = 0;
    for (int k = 0; k < classes; ++k)
      for (int a = 0; a < width; ++a) {
        const int j = k * width + a;
        const bool intercept = a == features;
        if (!intercept) grad[j] += coef_[j];
        hess[static_cast<size_t>(j) * dim + j] += intercept ? kInterceptRidge : 1.0;
        largest = std::max(largest, std::abs(grad[j]));
      }
    if (largest < kGradientTolerance) break;
    const std::vector<double> delta = solve_spd(hess, grad, dim);
    double t = 1.0;
    bool moved = false;
    for (int h = 0; h < kMaxHalvings; ++h, t *= 0.5) {
      std::vector<double> next = coef_;
      for (int j = 0; j < dim; ++j) next[j] -= t * delta[j];
      const double fn = objective(next);
      if (fn <= f) {
        moved = fn < f;
        coef_ = std::move(next);
        f = fn;
        break;
      }
    }
    if (!moved) break;  // no decrease left at machine precision
  }
}

std::vector<double> MultinomialLogistic::predict(const std::vector<double>& x) const {
  if (features_ == 0 && coef_.empty()) throw std::logic_error("logistic predict() before fit()");
  const int width = features_ + 1;
  const size_t n = features_ > 0 ? x.size() / features_ : 0;
  std::vector<double> out(n * classes_);
  std::vector<double> s(classes_);
  for (size_t i = 0; i < n; ++i) {
    for (int k = 0; k < classes_; ++k) {
      s[k] = coef_[k * width + features_];
      for (int a = 0; a < features_; ++a) s[k] += coef_[k * width + a] * x[i * features_ + a];
    }
    softmax(s.data(), classes_, out.data() + i * classes_);
  }
  return out;
}

}  // namespace woundphase::tabular_detail

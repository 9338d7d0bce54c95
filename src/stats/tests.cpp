// Distributions and the paired tests (t-test, Wilcoxon, McNemar, Holm).
#include <algorithm>  // for sort, min, max
#include <cmath>      // for lgamma, exp, log, erfc, sqrt, fabs
#include <numeric>    // for iota
#include <stdexcept>  // for invalid_argument

#include "woundphase/stats.h"

namespace woundphase::stats {
namespace {

// Continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes 6.4).
double beta_continued_fraction(double a, double b, double x) {
  constexpr int kMaxIterations = 500;
  constexpr double kEpsilon = 1e-16;
  constexpr double kTiny = 1e-300;  // keeps the Lentz denominators off zero
  const double qab = a + b;
  const double qap = a + 1.0;
  const double qam = a - 1.0;
  double c = 1.0;
  double d = 1.0 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= kMaxIterations; ++m) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double step = d * c;
    h *= step;
    if (std::fabs(step - 1.0) < kEpsilon) break;
  }
  return h;
}

// Binomial(n, 1/2) lower tail P(X <= k), summed exactly in doubles (n < kMcNemarExactBelow, so
// every term is exact).
double binomial_half_cdf(long k, long n) {
  double term = std::ldexp(1.0, static_cast<int>(-n));  // C(n, 0) / 2^n
  double sum = 0.0;
  for (long i = 0; i <= k; ++i) {
    sum += term;
    term = term * static_cast<double>(n - i) / static_cast<double>(i + 1);
  }
  return sum;
}

// Average ranks (1-based) of |values| (scipy.stats.rankdata, method "average").
std::vector<double> average_ranks(const std::vector<double>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t i, size_t j) { return values[i] < values[j]; });
  std::vector<double> ranks(values.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + j) + 1.0;
    for (size_t t = i; t <= j; ++t) ranks[order[t]] = rank;
    i = j + 1;
  }
  return ranks;
}

// Null distribution of W+ for n non-zero, untied differences: counts of the subsets of {1..n}
// with each rank sum, divided by 2^n (scipy.stats._morestats._get_wilcoxon_distr). The counts are
// at most C(50, 25) < 2^53, so they are exact in doubles.
std::vector<double> wilcoxon_null(int n) {
  const int max_sum = n * (n + 1) / 2;
  std::vector<double> counts(max_sum + 1, 0.0);
  counts[0] = 1.0;
  for (int k = 1; k <= n; ++k)
    for (int s = k * (k + 1) / 2; s >= k; --s) counts[s] += counts[s - k];
  const double scale = std::ldexp(1.0, -n);
  for (double& c : counts) c *= scale;
  return counts;
}

// SciPy's "auto" method uses the exact distribution up to this many differences.
constexpr size_t kWilcoxonExactMax = 50;

}  // namespace

double incomplete_beta(double a, double b, double x) {
  if (!(a > 0 && b > 0)) throw std::invalid_argument("incomplete_beta: a and b must be positive");
  if (std::isnan(x)) return NAN;
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x));
  // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry
  // I_x(a, b) = 1 - I_{1-x}(b, a) otherwise.
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
  return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

double student_t_two_sided(double t, double df) {
  if (std::isnan(t) || !(df > 0)) return NAN;
  if (std::isinf(t)) return 0.0;
  return incomplete_beta(0.5 * df, 0.5, df / (df + t * t));
}

double normal_sf(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

TestResult corrected_resampled_ttest(const std::vector<double>& differences,
                                     double test_train_ratio) {
  TestResult out;
  const size_t j = differences.size();
  if (j < 2) return out;
  double mean = 0.0;
  for (double d : differences) mean += d;
  mean /= static_cast<double>(j);
  double ss = 0.0;
  bool all_zero = true;
  for (double d : differences) {
    ss += (d - mean) * (d - mean);
    all_zero = all_zero && d == 0.0;
  }
  if (all_zero) return {0.0, 1.0};
  const double variance = ss / static_cast<double>(j - 1);
  const double se = std::sqrt((1.0 / static_cast<double>(j) + test_train_ratio) * variance);
  out.statistic = se > 0 ? mean / se : (mean > 0 ? INFINITY : -INFINITY);
  out.p = student_t_two_sided(out.statistic, static_cast<double>(j - 1));
  return out;
}

TestResult wilcoxon_signed_rank(const std::vector<double>& differences) {
  if (differences.empty()) return {};
  bool any_zero = false;
  std::vector<double> nonzero;
  for (double d : differences) {
    if (d == 0.0)
      any_zero = true;
    else
      nonzero.push_back(d);
  }
  if (nonzero.empty()) return {0.0, 1.0};
  const bool exact = differences.size() <= kWilcoxonExactMax && !any_zero;
  std::vector<double> magnitude;
  for (double d : nonzero) magnitude.push_back(std::fabs(d));
  const std::vector<double> ranks = average_ranks(magnitude);
  double r_plus = 0.0;
  double r_minus = 0.0;
  for (size_t i = 0; i < nonzero.size(); ++i) (nonzero[i] > 0 ? r_plus : r_minus) += ranks[i];
  TestResult out;
  out.statistic = std::min(r_plus, r_minus);
  const int n = static_cast<int>(nonzero.size());
  if (exact) {
    const std::vector<double> pmf = wilcoxon_null(n);
    const int w = static_cast<int>(r_plus);  // SciPy truncates a tied (x.5) W+ the same way
    if (w == (static_cast<int>(pmf.size()) - 1) / 2) {
      out.p = 1.0;
      return out;
    }
    double lower = 0.0;
    double upper = 0.0;
    for (int s = 0; s <= w; ++s) lower += pmf[s];
    for (size_t s = w; s < pmf.size(); ++s) upper += pmf[s];
    out.p = std::clamp(2.0 * std::min(lower, upper), 0.0, 1.0);
    return out;
  }
  const double nn = n;
  const double mean = nn * (nn + 1.0) * 0.25;
  double variance = nn * (nn + 1.0) * (2.0 * nn + 1.0);
  // Tie correction: every group of t equal ranks removes (t^3 - t) / 2 (before the / 24).
  std::vector<double> sorted = ranks;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size();) {
    size_t k = i;
    while (k + 1 < sorted.size() && sorted[k + 1] == sorted[i]) ++k;
    const double t = static_cast<double>(k - i + 1);
    if (t > 1) variance -= 0.5 * t * (t * t - 1.0);
    i = k + 1;
  }
  const double se = std::sqrt(variance / 24.0);
  const double z = (out.statistic - mean) / se;
  out.p = 2.0 * normal_sf(std::fabs(z));
  return out;
}

TestResult mcnemar(long b, long c) {
  if (b < 0 || c < 0) throw std::invalid_argument("mcnemar: negative count");
  const long n = b + c;
  if (n < kMcNemarExactBelow) {
    const long k = std::min(b, c);
    return {static_cast<double>(k), std::min(1.0, 2.0 * binomial_half_cdf(k, n))};
  }
  const double excess = std::fabs(static_cast<double>(b - c)) - 1.0;
  const double statistic = excess * excess / static_cast<double>(n);
  // Chi-square with one degree of freedom: P(X > s) = erfc(sqrt(s / 2)).
  return {statistic, std::erfc(std::sqrt(statistic / 2.0))};
}

std::vector<double> holm(const std::vector<double>& p) {
  std::vector<size_t> order;
  for (size_t i = 0; i < p.size(); ++i)
    if (!std::isnan(p[i])) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return p[i] < p[j]; });
  std::vector<double> out(p.size(), NAN);
  const double m = static_cast<double>(order.size());
  double running = 0.0;  // adjusted p-values never decrease along the sorted order
  for (size_t rank = 0; rank < order.size(); ++rank) {
    running = std::max(running, (m - static_cast<double>(rank)) * p[order[rank]]);
    out[order[rank]] = std::min(1.0, running);
  }
  return out;
}

}  // namespace woundphase::stats

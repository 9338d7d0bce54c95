// Probability calibration (ECE, Brier score, log loss, reliability bins), weighted F1 and the
// NaN-skipping mean the paired statistics need.
#include <algorithm>  // for clamp, max
#include <cmath>      // for log, fabs, ceil
#include <stdexcept>
#include <string>

#include "woundphase/stats.h"

namespace woundphase::stats {

Calibration calibration(const Probabilities& probs, const std::vector<int>& truth, int bins) {
  if (bins < 1) throw std::invalid_argument("calibration: bins must be at least 1");
  if (probs.size() != truth.size() * kNumClasses)
    throw std::invalid_argument("calibration: " + std::to_string(truth.size()) + " labels but " +
                                std::to_string(probs.size()) + " probabilities");
  Calibration out;
  out.n = static_cast<long>(truth.size());
  std::vector<double> confidence_sum(bins, 0.0);
  std::vector<long> correct(bins, 0);
  out.bins.resize(bins);
  for (int b = 0; b < bins; ++b) {
    // Edges as b / bins (the same doubles Python's b / 15 gives), not accumulated steps.
    out.bins[b].lower = static_cast<double>(b) / bins;
    out.bins[b].upper = static_cast<double>(b + 1) / bins;
  }
  if (out.n == 0) return out;
  double brier = 0.0;
  double log_loss = 0.0;
  for (size_t r = 0; r < truth.size(); ++r) {
    const double* p = &probs[r * kNumClasses];
    const int y = truth[r];
    if (y < 0 || y >= kNumClasses)
      throw std::invalid_argument("calibration: label out of range at row " + std::to_string(r));
    int top = 0;
    for (int k = 1; k < kNumClasses; ++k)
      if (p[k] > p[top]) top = k;
    const double conf = p[top];
    // Bin (lower, upper]; the first bin also takes 0.
    int b = std::clamp(static_cast<int>(std::ceil(conf * bins)) - 1, 0, bins - 1);
    while (b > 0 && conf <= out.bins[b].lower) --b;
    while (b < bins - 1 && conf > out.bins[b].upper) ++b;
    ++out.bins[b].count;
    confidence_sum[b] += conf;
    if (top == y) ++correct[b];

    // Log loss as sklearn computes it: clip to [floor, 1 - floor], renormalise the row.
    double clipped_sum = 0.0;
    for (int k = 0; k < kNumClasses; ++k) {
      clipped_sum += std::clamp(p[k], kLogLossFloor, 1.0 - kLogLossFloor);
      const double diff = p[k] - (k == y ? 1.0 : 0.0);
      brier += diff * diff;
    }
    log_loss -= std::log(std::clamp(p[y], kLogLossFloor, 1.0 - kLogLossFloor) / clipped_sum);
  }
  double ece = 0.0;
  for (int b = 0; b < bins; ++b) {
    ReliabilityBin& bin = out.bins[b];
    if (bin.count == 0) continue;
    bin.confidence = confidence_sum[b] / bin.count;
    bin.accuracy = static_cast<double>(correct[b]) / bin.count;
    ece += static_cast<double>(bin.count) / out.n * std::fabs(bin.accuracy - bin.confidence);
  }
  out.ece = ece;
  out.brier = brier / out.n;
  out.log_loss = log_loss / out.n;
  return out;
}

double weighted_f1(const Confusion& c) {
  double n = 0.0;
  double sum = 0.0;
  for (int k = 0; k < kNumClasses; ++k) {
    long support = 0;
    long predicted = 0;
    for (int j = 0; j < kNumClasses; ++j) {
      support += c[k][j];
      predicted += c[j][k];
    }
    n += support;
    const long denominator = support + predicted;  // 2 tp + fp + fn
    if (denominator > 0) sum += support * (2.0 * c[k][k] / denominator);
  }
  return n > 0 ? sum / n : NAN;
}

MeanStd nan_mean_std(const std::vector<double>& values) {
  std::vector<double> defined;
  for (double v : values)
    if (!std::isnan(v)) defined.push_back(v);
  if (defined.empty()) return {NAN, NAN};
  return mean_std(defined);
}

}  // namespace woundphase::stats

namespace woundphase::stats {
namespace {

// Mean negative log-likelihood of `truth` under temperature-scaled log-probabilities.
double scaled_log_loss(const std::vector<double>& logp, const std::vector<int>& truth, double t) {
  double total = 0.0;
  for (size_t r = 0; r < truth.size(); ++r) {
    const double* l = &logp[r * kNumClasses];
    double top = l[0] / t;
    for (int k = 1; k < kNumClasses; ++k) top = std::max(top, l[k] / t);
    double sum = 0.0;
    for (int k = 0; k < kNumClasses; ++k) sum += std::exp(l[k] / t - top);
    total -= l[truth[r]] / t - top - std::log(sum);
  }
  return total / static_cast<double>(truth.size());
}

std::vector<double> floored_logs(const Probabilities& probs) {
  std::vector<double> out(probs.size());
  for (size_t i = 0; i < probs.size(); ++i) out[i] = std::log(std::max(probs[i], kLogLossFloor));
  return out;
}

}  // namespace

Probabilities apply_temperature(const Probabilities& probs, double temperature) {
  if (!(temperature > 0)) throw std::invalid_argument("apply_temperature: temperature must be > 0");
  if (probs.size() % kNumClasses != 0)
    throw std::invalid_argument("apply_temperature: length is not a multiple of the classes");
  if (temperature == 1.0) return probs;  // bit for bit: uncalibrated outputs stay unchanged
  const std::vector<double> logp = floored_logs(probs);
  Probabilities out(probs.size());
  for (size_t r = 0; r < probs.size() / kNumClasses; ++r) {
    const double* l = &logp[r * kNumClasses];
    double top = l[0] / temperature;
    for (int k = 1; k < kNumClasses; ++k) top = std::max(top, l[k] / temperature);
    double sum = 0.0;
    for (int k = 0; k < kNumClasses; ++k) sum += std::exp(l[k] / temperature - top);
    for (int k = 0; k < kNumClasses; ++k)
      out[r * kNumClasses + k] = std::exp(l[k] / temperature - top) / sum;
  }
  return out;
}

double fit_temperature(const Probabilities& probs, const std::vector<int>& truth) {
  if (probs.size() != truth.size() * kNumClasses)
    throw std::invalid_argument("fit_temperature: labels and probabilities differ in length");
  if (truth.empty()) return 1.0;
  const std::vector<double> logp = floored_logs(probs);
  // The log loss is convex in 1/T, hence unimodal in log T: golden-section search on log T.
  constexpr double kTolerance = 1e-6;
  const double golden = (std::sqrt(5.0) - 1.0) / 2.0;
  double lo = std::log(kMinTemperature);
  double hi = std::log(kMaxTemperature);
  double x1 = hi - golden * (hi - lo);
  double x2 = lo + golden * (hi - lo);
  double f1 = scaled_log_loss(logp, truth, std::exp(x1));
  double f2 = scaled_log_loss(logp, truth, std::exp(x2));
  while (hi - lo > kTolerance) {
    if (f1 <= f2) {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - golden * (hi - lo);
      f1 = scaled_log_loss(logp, truth, std::exp(x1));
    } else {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + golden * (hi - lo);
      f2 = scaled_log_loss(logp, truth, std::exp(x2));
    }
  }
  return std::exp((lo + hi) / 2.0);
}

}  // namespace woundphase::stats

#include "woundphase/metrics.h"

#include <cmath>      // for sqrt
#include <stdexcept>  // for invalid_argument
#include <string>

namespace woundphase {

namespace {

// Cohen's kappa with disagreement weights w: 1 - sum(w * observed) / sum(w * expected), where the
// expected matrix is the outer product of the marginals. NaN when the expected disagreement is 0
// (truth and predictions of one class): the kappa is undefined there, and 0 would read as chance.
template <typename Weight>
double weighted_kappa(const Confusion& c, Weight weight) {
  std::array<double, kNumClasses> row{};
  std::array<double, kNumClasses> col{};
  double n = 0.0;
  for (int i = 0; i < kNumClasses; ++i) {
    for (int j = 0; j < kNumClasses; ++j) {
      row[i] += c[i][j];
      col[j] += c[i][j];
      n += c[i][j];
    }
  }
  if (n <= 0.0) return NAN;
  double observed = 0.0;
  double expected = 0.0;
  for (int i = 0; i < kNumClasses; ++i) {
    for (int j = 0; j < kNumClasses; ++j) {
      const double w = weight(i, j);
      observed += w * c[i][j] / n;
      expected += w * row[i] * col[j] / (n * n);
    }
  }
  if (expected <= 0.0) return NAN;
  return 1.0 - observed / expected;
}

void check_label(int label, const char* what, size_t row) {
  if (label < 0 || label >= kNumClasses)
    throw std::invalid_argument(std::string("metrics: ") + what + " label " +
                                std::to_string(label) + " out of range at row " +
                                std::to_string(row));
}

}  // namespace

Confusion confusion_matrix(const std::vector<int>& truth, const std::vector<int>& pred) {
  if (truth.size() != pred.size())
    throw std::invalid_argument("metrics: truth and predictions differ in length");
  Confusion c{};
  for (size_t i = 0; i < truth.size(); ++i) {
    check_label(truth[i], "true", i);
    check_label(pred[i], "predicted", i);
    ++c[truth[i]][pred[i]];
  }
  return c;
}

double quadratic_weighted_kappa(const Confusion& c) {
  constexpr double kMaxDistance = kNumClasses - 1;
  return weighted_kappa(c, [](int i, int j) {
    const double d = (i - j) / kMaxDistance;
    return d * d;
  });
}

double cohen_kappa(const Confusion& c) {
  return weighted_kappa(c, [](int i, int j) { return i == j ? 0.0 : 1.0; });
}

Scores score(const std::vector<int>& truth, const std::vector<int>& pred) {
  Scores s;
  s.confusion = confusion_matrix(truth, pred);
  s.n = static_cast<long>(truth.size());
  s.qwk = quadratic_weighted_kappa(s.confusion);
  s.kappa = cohen_kappa(s.confusion);
  long correct = 0;
  for (int k = 0; k < kNumClasses; ++k) correct += s.confusion[k][k];
  s.accuracy = s.n > 0 ? static_cast<double>(correct) / s.n : 0.0;
  double f1_sum = 0.0;
  for (int k = 0; k < kNumClasses; ++k) {
    long fp = 0;
    long fn = 0;
    for (int j = 0; j < kNumClasses; ++j) {
      if (j == k) continue;
      fp += s.confusion[j][k];
      fn += s.confusion[k][j];
    }
    const long tp = s.confusion[k][k];
    const long denominator = 2 * tp + fp + fn;
    s.f1[k] = denominator > 0 ? 2.0 * tp / denominator : 0.0;
    f1_sum += s.f1[k];
  }
  s.macro_f1 = f1_sum / kNumClasses;
  return s;
}

std::vector<int> argmax(const Probabilities& probs) {
  if (probs.size() % kNumClasses != 0)
    throw std::invalid_argument("argmax: probability vector length is not a multiple of " +
                                std::to_string(kNumClasses));
  std::vector<int> out(probs.size() / kNumClasses);
  for (size_t r = 0; r < out.size(); ++r) {
    int best = 0;
    for (int k = 1; k < kNumClasses; ++k)
      if (probs[r * kNumClasses + k] > probs[r * kNumClasses + best]) best = k;
    out[r] = best;
  }
  return out;
}

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd out;
  if (values.empty()) return out;
  double sum = 0.0;
  for (double v : values) sum += v;
  out.mean = sum / values.size();
  if (values.size() < 2) return out;
  double ss = 0.0;
  for (double v : values) ss += (v - out.mean) * (v - out.mean);
  out.std = std::sqrt(ss / (values.size() - 1));
  return out;
}

}  // namespace woundphase

#include "woundphase/metrics.h"

#include <cmath>      // for sqrt
#include <stdexcept>  // for invalid_argument
#include <string>

namespace woundphase {

namespace {

// Cohen's kappa with disagreement weights w over a k x k confusion matrix (row-major counts,
// [true * k + pred]): 1 - sum(w * observed) / sum(w * expected), where the expected matrix is the
// outer product of the marginals. NaN when the expected disagreement is 0 (truth and predictions
// of one class): the kappa is undefined there, and 0 would read as chance.
template <typename Weight>
double weighted_kappa(const std::vector<double>& counts, int k, Weight weight) {
  std::vector<double> row(k, 0.0);
  std::vector<double> col(k, 0.0);
  double n = 0.0;
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j) {
      const double c = counts[static_cast<size_t>(i) * k + j];
      row[i] += c;
      col[j] += c;
      n += c;
    }
  }
  if (n <= 0.0) return NAN;
  double observed = 0.0;
  double expected = 0.0;
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j) {
      const double w = weight(i, j);
      observed += w * counts[static_cast<size_t>(i) * k + j] / n;
      expected += w * row[i] * col[j] / (n * n);
    }
  }
  if (expected <= 0.0) return NAN;
  return 1.0 - observed / expected;
}

std::vector<double> flat_counts(const Confusion& c) {
  std::vector<double> counts(static_cast<size_t>(kNumClasses) * kNumClasses);
  for (int i = 0; i < kNumClasses; ++i)
    for (int j = 0; j < kNumClasses; ++j)
      counts[i * kNumClasses + j] = static_cast<double>(c[i][j]);
  return counts;
}

// Quadratic disagreement ((i - j) / (k - 1))^2 of k ordered classes.
double quadratic_kappa_of_counts(const std::vector<double>& counts, int k) {
  const double max_distance = k - 1;
  return weighted_kappa(counts, k, [max_distance](int i, int j) {
    const double d = (i - j) / max_distance;
    return d * d;
  });
}

void check_label(int label, int num_classes, const char* what, size_t row) {
  if (label < 0 || label >= num_classes)
    throw std::invalid_argument(std::string("metrics: ") + what + " label " +
                                std::to_string(label) + " out of range at row " +
                                std::to_string(row));
}

void check_lengths(const std::vector<int>& truth, const std::vector<int>& pred) {
  if (truth.size() != pred.size())
    throw std::invalid_argument("metrics: truth and predictions differ in length");
}

}  // namespace

Confusion confusion_matrix(const std::vector<int>& truth, const std::vector<int>& pred) {
  check_lengths(truth, pred);
  Confusion c{};
  for (size_t i = 0; i < truth.size(); ++i) {
    check_label(truth[i], kNumClasses, "true", i);
    check_label(pred[i], kNumClasses, "predicted", i);
    ++c[truth[i]][pred[i]];
  }
  return c;
}

double quadratic_weighted_kappa(const Confusion& c) {
  return quadratic_kappa_of_counts(flat_counts(c), kNumClasses);
}

double quadratic_weighted_kappa(const std::vector<int>& truth, const std::vector<int>& pred,
                                int num_classes) {
  check_lengths(truth, pred);
  if (num_classes < 2)
    throw std::invalid_argument("metrics: kappa needs at least 2 classes, got " +
                                std::to_string(num_classes));
  std::vector<double> counts(static_cast<size_t>(num_classes) * num_classes, 0.0);
  for (size_t i = 0; i < truth.size(); ++i) {
    check_label(truth[i], num_classes, "true", i);
    check_label(pred[i], num_classes, "predicted", i);
    counts[static_cast<size_t>(truth[i]) * num_classes + pred[i]] += 1.0;
  }
  const double kappa = quadratic_kappa_of_counts(counts, num_classes);
  return std::isnan(kappa) ? 0.0 : kappa;
}

double cohen_kappa(const Confusion& c) {
  return weighted_kappa(flat_counts(c), kNumClasses,
                        [](int i, int j) { return i == j ? 0.0 : 1.0; });
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

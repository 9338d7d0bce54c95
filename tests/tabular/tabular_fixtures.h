// Synthetic data sets with planted signals for the tree-model tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>   // for max_element
#include <cstdint>     // for uint64_t
#include <functional>  // for function
#include <memory>      // for unique_ptr
#include <vector>

#include "woundphase/core.h"
#include "woundphase/tabular.h"

namespace woundphase::testing {

// Deterministic uniform numbers for fixtures (splitmix64).
class FixtureRng {
 public:
  explicit FixtureRng(uint64_t seed) : state_(seed) {}
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  int below(int n) { return static_cast<int>(uniform() * n); }

 private:
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

struct PlantedOptions {
  size_t rows = 600;
  size_t features = 12;  // features 0 and 1 carry the signal, the rest are noise
  int rows_per_patient = 5;
  double label_noise = 0.1;  // fraction of labels replaced by a random class
  double missing = 0.05;     // fraction of entries set to NaN
  uint64_t seed = 1;
};

// Class = [x0 > 0.4] + [x1 > 0.6] on the noise-free features (before NaN masking).
inline TabularData planted(const PlantedOptions& o) {
  FixtureRng rng(o.seed);
  TabularData d;
  d.x = Matrix(o.rows, o.features);
  d.y.resize(o.rows);
  d.group.resize(o.rows);
  for (size_t i = 0; i < o.rows; ++i) {
    for (size_t f = 0; f < o.features; ++f) d.x.at(i, f) = static_cast<float>(rng.uniform());
    int label = (d.x.at(i, 0) > 0.4F ? 1 : 0) + (d.x.at(i, 1) > 0.6F ? 1 : 0);
    if (rng.uniform() < o.label_noise) label = rng.below(kNumClasses);
    d.y[i] = label;
    d.group[i] = static_cast<int>(i) / o.rows_per_patient;
    for (size_t f = 0; f < o.features; ++f) {
      if (rng.uniform() < o.missing) d.x.at(i, f) = kMissing;
    }
  }
  return d;
}

// `rows` rows of `features` uniform features, `rows_per_patient` consecutive rows per patient,
// labelled by `label(d, i)` after the row's features are drawn; it may draw from `rng` too and
// change the row (mask a feature).
inline TabularData random_rows(FixtureRng& rng, size_t rows, size_t features, int rows_per_patient,
                               const std::function<int(TabularData& d, size_t i)>& label) {
  TabularData d;
  d.x = Matrix(rows, features);
  d.y.resize(rows);
  d.group.resize(rows);
  for (size_t i = 0; i < rows; ++i) {
    for (size_t f = 0; f < features; ++f) d.x.at(i, f) = static_cast<float>(rng.uniform());
    d.y[i] = label(d, i);
    d.group[i] = static_cast<int>(i) / rows_per_patient;
  }
  return d;
}

// How a patient's rows lie in the table: one after another, or one per patient in turn.
enum class RowOrder { kByPatient, kInterleaved };

// Leak detector: labels random per patient, feature 0 a code unique to the patient, features 1
// and 2 noise. Anything that has seen the patient predicts its label; anything that has not is at
// chance (1/3).
inline TabularData leak_detector(int patients, int rows_per_patient, uint64_t seed,
                                 RowOrder order = RowOrder::kByPatient) {
  FixtureRng rng(seed);
  TabularData d;
  const size_t rows = static_cast<size_t>(patients) * rows_per_patient;
  d.x = Matrix(rows, 3);
  d.y.resize(rows);
  d.group.resize(rows);
  std::vector<int> label(patients);
  std::vector<float> code(patients);
  for (int g = 0; g < patients; ++g) {
    label[g] = rng.below(kNumClasses);
    code[g] = static_cast<float>(rng.uniform());
  }
  for (size_t i = 0; i < rows; ++i) {
    const int g = order == RowOrder::kByPatient ? static_cast<int>(i) / rows_per_patient
                                                : static_cast<int>(i % patients);
    d.group[i] = g;
    d.y[i] = label[g];
    d.x.at(i, 0) = code[g];
    d.x.at(i, 1) = static_cast<float>(rng.uniform());
    d.x.at(i, 2) = static_cast<float>(rng.uniform());
  }
  return d;
}

// Every row of `p` a probability distribution over the classes.
inline void expect_rows_sum_to_one(const Probabilities& p, size_t rows, double tolerance = 1e-9) {
  ASSERT_EQ(p.size(), rows * kNumClasses);
  for (size_t i = 0; i < rows; ++i) {
    double sum = 0.0;
    for (int c = 0; c < kNumClasses; ++c) {
      EXPECT_GE(p[i * kNumClasses + c], 0.0);
      sum += p[i * kNumClasses + c];
    }
    EXPECT_NEAR(sum, 1.0, tolerance) << "row " << i;
  }
}

// XGBoost on a few hundred rows gains nothing from a second thread, and with OpenMP's default
// (active) waiting it runs 10-100x slower while other processes share the two cores: the tests
// use one thread unless threading is what they check.
inline GbdtSettings single_thread_gbdt() {
  GbdtSettings s;
  s.threads = 1;
  return s;
}

// A forest whose trees grow until their leaves are pure or `max_depth` deep: every feature tried
// at every split, a leaf may hold one row.
inline ForestSettings fully_grown_forest(int max_depth = ForestSettings{}.max_depth) {
  ForestSettings s;
  s.max_features = 1.0;
  s.min_samples_leaf = 1;
  s.min_samples_split = 2;
  s.max_depth = max_depth;
  return s;
}

// A gbdt of `rounds` rounds (one thread) fitted on `train`.
inline std::unique_ptr<TreeModel> fitted_gbdt(const TabularData& train, int rounds) {
  GbdtSettings s = single_thread_gbdt();
  s.n_rounds = rounds;
  auto gbdt = make_gbdt(s);
  gbdt->fit(train);
  return gbdt;
}

// Two draws of the planted signal with the options `o`: a training set (o.seed) and a test set
// (`test_seed`).
struct TrainTest {
  TabularData train;
  TabularData test;
};
inline TrainTest planted_train_test(PlantedOptions o, uint64_t test_seed) {
  TrainTest t;
  t.train = planted(o);
  o.seed = test_seed;
  t.test = planted(o);
  return t;
}

inline int argmax(const Probabilities& p, size_t row) {
  const auto* begin = p.data() + row * kNumClasses;
  return static_cast<int>(std::max_element(begin, begin + kNumClasses) - begin);
}

inline double accuracy(const Probabilities& p, const std::vector<int>& y) {
  size_t hits = 0;
  for (size_t i = 0; i < y.size(); ++i) hits += argmax(p, i) == y[i] ? 1 : 0;
  return static_cast<double>(hits) / static_cast<double>(y.size());
}

inline double mean_max_prob(const Probabilities& p, size_t rows) {
  double sum = 0.0;
  for (size_t i = 0; i < rows; ++i) sum += p[i * kNumClasses + argmax(p, i)];
  return sum / static_cast<double>(rows);
}

}  // namespace woundphase::testing

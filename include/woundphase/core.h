// Core types shared by every stage: the feature matrix, class labels, errors, seeding.
#pragma once

#include <cmath>      // for NAN
#include <cstddef>    // for size_t
#include <cstdint>    // for uint64_t
#include <stdexcept>  // for runtime_error
#include <string>
#include <vector>

namespace woundphase {

// The healing phases, in their clinical (ordinal) order: Inflammatory < Proliferative < Remodeling.
inline constexpr int kNumClasses = 3;

// Missing values are NaN everywhere in the library (trees route them natively).
inline constexpr float kMissing = NAN;
inline bool is_missing(float v) { return std::isnan(v); }

// Bad input from the user (file content, option value). The CLI turns it into exit code 2.
// The message already names the file and line/column/field.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Dense float matrix stored column-major: each feature column is contiguous, which is what tree
// split-finding scans. Row-major consumers (XGBoost) convert explicitly.
class Matrix {
 public:
  Matrix() = default;
  Matrix(size_t rows, size_t cols, float fill = kMissing)
      : rows_(rows), cols_(cols), data_(rows * cols, fill) {}

  size_t rows() const { return rows_; }
  size_t cols() const { return cols_; }
  float& at(size_t row, size_t col) { return data_[col * rows_ + row]; }
  float at(size_t row, size_t col) const { return data_[col * rows_ + row]; }
  const float* column(size_t col) const { return data_.data() + col * rows_; }
  float* column(size_t col) { return data_.data() + col * rows_; }

  // New matrix made of the given rows, in that order (rows may repeat).
  Matrix select_rows(const std::vector<int>& rows) const;
  // Row-major copy (for libraries that want rows contiguous).
  std::vector<float> row_major() const;

 private:
  size_t rows_ = 0;
  size_t cols_ = 0;
  std::vector<float> data_;
};

// Per-feature description needed by encoders, samplers and bundles.
enum class FeatureKind { kNumeric, kCategorical };

struct FeatureInfo {
  std::string name;
  FeatureKind kind = FeatureKind::kNumeric;
  // For categorical features: code i stands for categories[i] (codes are the feature's values).
  std::vector<std::string> categories;
};

// A labelled tabular data set as the tree branch sees it. `group` is the patient index: every
// resampling and bootstrap is done by patient so out-of-bag rows are honest out-of-fold rows.
// Synthetic rows (SMOTE) have a second parent group; they count as in-bag only if both are.
struct TabularData {
  Matrix x;
  std::vector<int> y;       // class index 0..kNumClasses-1
  std::vector<int> group;   // patient index of the (first) parent
  std::vector<int> group2;  // patient index of the second parent, -1 for real rows
  // Per-row weights multiplying the class weights (label cleaning's down-weighting); empty: 1.
  std::vector<double> weight;
  size_t rows() const { return y.size(); }
};

// Class-probability matrix, row-major: probs[row * kNumClasses + c].
using Probabilities = std::vector<double>;

// `text` without leading and trailing spaces, tabs and line breaks (how hand-typed fields compare).
std::string trim(const std::string& text);

// Deterministic 64-bit mixing (splitmix64): derives independent seeds from a job's identity so
// results never depend on the order or the thread in which jobs run.
uint64_t mix_seed(uint64_t seed, uint64_t salt);

}  // namespace woundphase

namespace woundphase {

// Fault injection for the crash-and-resume tests: when the environment variable
// WOUNDPHASE_TEST_KILL equals "<point>:<index>" (e.g. "commit:3"), the process kills itself with
// SIGKILL on reaching that point, exactly as an external kill would. Unset, it costs one getenv.
void test_kill_point(const char* point, int index);

}  // namespace woundphase

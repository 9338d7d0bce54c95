// Internal to src/tabular: multinomial logistic regression with an L2 penalty, the stacking
// model's meta-learner. The objective is scikit-learn's LogisticRegression(multi_class=
// "multinomial", penalty="l2", C): C * sum_i w_i * log loss_i + 0.5 * ||W||^2 (one weight vector
// per class; intercepts unpenalised), minimised by Newton's method with a backtracking line
// search, so the optimum is reached to machine precision rather than a solver tolerance.
#pragma once

#include <vector>

namespace woundphase::tabular_detail {

class MultinomialLogistic {
 public:
  MultinomialLogistic() = default;
  MultinomialLogistic(int classes, int features, std::vector<double> coef)
      : classes_(classes), features_(features), coef_(std::move(coef)) {}

  // `x`: rows x features, row-major; `y` in [0, classes); `w`: one weight per row (empty: 1).
  void fit(const std::vector<double>& x, const std::vector<int>& y, const std::vector<double>& w,
           int classes, int features, double c);
  // rows x classes probabilities, row-major.
  std::vector<double> predict(const std::vector<double>& x) const;

  int classes() const { return classes_; }
  int features() const { return features_; }
  // classes x (features + 1), row-major; the last column is the intercept.
  const std::vector<double>& coef() const { return coef_; }

 private:
  int classes_ = 0;
  int features_ = 0;
  std::vector<double> coef_;
};

}  // namespace woundphase::tabular_detail

// Label cleaning (tabular.h): flag likely-mislabelled training rows from their inner out-of-fold
// probabilities, then fit without them or with them down-weighted.
#include <algorithm>  // for max_element
#include <cmath>      // for ceil

#include "tabular/models.h"
#include "woundphase/enum_names.h"

namespace woundphase {
namespace {

bool is_synthetic(const TabularData& data, size_t i) {
  return !data.group2.empty() && data.group2[i] >= 0;
}

int argmax_row(const double* p) {
  return static_cast<int>(std::max_element(p, p + kNumClasses) - p);
}

class Cleaning final : public TreeModel {
 public:
  Cleaning(std::function<std::unique_ptr<TreeModel>(int)> factory, CleanSettings s, int inner_folds,
           unsigned long long seed)
      : factory_(std::move(factory)), settings_(s), inner_folds_(inner_folds), seed_(seed) {}

  void fit(const TabularData& data) override {
    // Flagging passes use fits 1.., the final fit is fit 0.
    int next_fit = 0;
    issues_ = find_label_issues(
        data, [&](int) { return factory_(++next_fit); }, settings_, inner_folds_, seed_);
    inner_ = factory_(0);
    if (settings_.action == CleanAction::kDownweight) {
      TabularData weighted = data;
      weighted.weight.assign(data.rows(), 1.0);
      for (size_t i = 0; i < data.rows(); ++i) {
        const double base = data.weight.empty() ? 1.0 : data.weight[i];
        weighted.weight[i] = issues_[i].flagged ? base * settings_.weight : base;
      }
      kept_.clear();
      inner_->fit(weighted);
      return;
    }
    kept_.clear();
    for (size_t i = 0; i < data.rows(); ++i)
      if (!issues_[i].flagged) kept_.push_back(static_cast<int>(i));
    if (kept_.size() == data.rows()) {
      inner_->fit(data);
      return;
    }
    TabularData kept;
    kept.x = data.x.select_rows(kept_);
    for (int r : kept_) {
      kept.y.push_back(data.y[r]);
      kept.group.push_back(data.group[r]);
      if (!data.group2.empty()) kept.group2.push_back(data.group2[r]);
      if (!data.weight.empty()) kept.weight.push_back(data.weight[r]);
    }
    n_rows_ = data.rows();
    inner_->fit(kept);
  }

  Probabilities predict(const Matrix& x) const override { return fitted().predict(x); }
  bool has_oob() const override { return fitted().has_oob(); }

  // The wrapped model's out-of-bag rows mapped back; dropped rows are not covered (the caller
  // predicts them from inner folds, whose models never saw them).
  Probabilities oob(std::vector<bool>* covered) const override {
    std::vector<bool> inner_covered;
    const Probabilities inner = fitted().oob(&inner_covered);
    if (kept_.empty()) {
      *covered = inner_covered;
      return inner;
    }
    Probabilities out(n_rows_ * kNumClasses, 0.0);
    covered->assign(n_rows_, false);
    for (size_t i = 0; i < kept_.size(); ++i) {
      if (!inner_covered[i]) continue;
      (*covered)[kept_[i]] = true;
      std::copy(inner.begin() + i * kNumClasses, inner.begin() + (i + 1) * kNumClasses,
                out.begin() + static_cast<size_t>(kept_[i]) * kNumClasses);
    }
    return out;
  }

  // The predictions are the cleaned fit's, so are its explanations.
  Contributions contributions(const Matrix& x) const override { return fitted().contributions(x); }
  // A bundle keeps the fitted model; the cleaning happened at training time.
  nlohmann::json to_json() const override { return fitted().to_json(); }
  const std::vector<LabelIssue>* label_issues() const override { return &issues_; }

 private:
  const TreeModel& fitted() const {
    if (!inner_) throw std::logic_error("cleaning model used before fit()");
    return *inner_;
  }

  std::function<std::unique_ptr<TreeModel>(int)> factory_;
  CleanSettings settings_;
  int inner_folds_;
  unsigned long long seed_;
  std::unique_ptr<TreeModel> inner_;
  std::vector<LabelIssue> issues_;
  std::vector<int> kept_;  // kDrop with rows dropped: the fit's rows among the data's
  size_t n_rows_ = 0;
};

}  // namespace

namespace {

constexpr EnumNames<CleanMethod, 3> kCleanMethodNames("--clean",
                                                      {{{CleanMethod::kNone, "none"},
                                                        {CleanMethod::kConfident, "confident"},
                                                        {CleanMethod::kMisclass, "misclass"}}});
constexpr EnumNames<CleanAction, 2> kCleanActionNames("--clean-action",
                                                      {{{CleanAction::kDrop, "drop"},
                                                        {CleanAction::kDownweight, "downweight"}}});

}  // namespace

CleanMethod parse_clean_method(const std::string& text) { return kCleanMethodNames.parse(text); }
std::string to_string(CleanMethod m) { return kCleanMethodNames.name(m); }
CleanAction parse_clean_action(const std::string& text) { return kCleanActionNames.parse(text); }
std::string to_string(CleanAction a) { return kCleanActionNames.name(a); }

std::vector<LabelIssue> confident_issues(const Probabilities& probs, const std::vector<int>& y) {
  const size_t n = y.size();
  if (probs.size() != n * kNumClasses)
    throw std::invalid_argument("confident_issues: probabilities and labels differ in rows");
  // Class thresholds: the mean self-confidence of each class's rows.
  std::array<double, kNumClasses> sum{}, count{}, threshold{};
  for (size_t i = 0; i < n; ++i) {
    sum[y[i]] += probs[i * kNumClasses + y[i]];
    count[y[i]] += 1;
  }
  for (int c = 0; c < kNumClasses; ++c)
    threshold[c] = count[c] > 0 ? sum[c] / count[c] : 2.0;  // an absent class never fires
  std::vector<LabelIssue> out(n);
  for (size_t i = 0; i < n; ++i) {
    const double* p = &probs[i * kNumClasses];
    LabelIssue& issue = out[i];
    issue.self_confidence = p[y[i]];
    issue.suggested = argmax_row(p);
    issue.passes = 1;
    issue.misclassified = issue.suggested != y[i] ? 1 : 0;
    int confident = -1;
    for (int c = 0; c < kNumClasses; ++c)
      if (p[c] >= threshold[c] && (confident < 0 || p[c] > p[confident])) confident = c;
    if (confident < 0 || confident == y[i]) continue;
    issue.flagged = true;
    issue.suggested = confident;
    issue.suggested_prob = p[confident];
    issue.suggested_threshold = threshold[confident];
    issue.label_threshold = threshold[y[i]];
  }
  return out;
}

std::vector<LabelIssue> find_label_issues(
    const TabularData& data, const std::function<std::unique_ptr<TreeModel>(int)>& factory,
    const CleanSettings& settings, int inner_folds, unsigned long long seed) {
  const size_t n = data.rows();
  std::vector<LabelIssue> out(n);
  if (settings.method == CleanMethod::kNone) return out;
  const int passes = settings.method == CleanMethod::kMisclass ? settings.repeats : 1;
  Probabilities mean(n * kNumClasses, 0.0);
  std::vector<int> wrong(n, 0);
  int fit = 0;
  for (int pass = 0; pass < passes; ++pass) {
    std::unique_ptr<TreeModel> model = factory(fit++);
    model->fit(data);
    const Probabilities p = out_of_fold_probabilities(
        data, *model, [&] { return factory(fit++); }, inner_folds, mix_seed(seed, pass));
    for (size_t i = 0; i < n; ++i) {
      if (is_synthetic(data, i)) continue;
      for (int c = 0; c < kNumClasses; ++c)
        mean[i * kNumClasses + c] += p[i * kNumClasses + c] / passes;
      wrong[i] += argmax_row(&p[i * kNumClasses]) != data.y[i] ? 1 : 0;
    }
  }
  // The rules see real rows only.
  std::vector<size_t> real;
  Probabilities real_probs;
  std::vector<int> real_y;
  for (size_t i = 0; i < n; ++i) {
    if (is_synthetic(data, i)) continue;
    real.push_back(i);
    real_probs.insert(real_probs.end(), mean.begin() + i * kNumClasses,
                      mean.begin() + (i + 1) * kNumClasses);
    real_y.push_back(data.y[i]);
  }
  if (settings.method == CleanMethod::kConfident) {
    const std::vector<LabelIssue> issues = confident_issues(real_probs, real_y);
    for (size_t k = 0; k < real.size(); ++k) out[real[k]] = issues[k];
    return out;
  }
  for (size_t k = 0; k < real.size(); ++k) {
    const size_t i = real[k];
    LabelIssue& issue = out[i];
    const int label = data.y[i];
    issue.self_confidence = mean[i * kNumClasses + label];
    issue.suggested = argmax_row(&mean[i * kNumClasses]);
    issue.misclassified = wrong[i];
    issue.passes = passes;
    const int needed =
        std::max(1, static_cast<int>(std::ceil(settings.misclass_share[label] * passes - 1e-9)));
    if (wrong[i] < needed) continue;
    issue.flagged = true;
    issue.needed = needed;
  }
  return out;
}

std::unique_ptr<TreeModel> make_cleaning(std::function<std::unique_ptr<TreeModel>(int)> factory,
                                         CleanSettings settings, int inner_folds,
                                         unsigned long long seed) {
  return std::make_unique<Cleaning>(std::move(factory), settings, inner_folds, seed);
}

}  // namespace woundphase

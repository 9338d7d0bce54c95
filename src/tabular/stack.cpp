// Stacking (tabular.h): members' out-of-fold probabilities -> multinomial logistic regression.
#include "tabular/logistic.h"
#include "tabular/models.h"

namespace woundphase {
namespace {

// scikit-learn's LogisticRegression default: the meta-learner has a handful of inputs, so the
// default penalty is mild.
constexpr double kMetaC = 1.0;

bool is_synthetic(const TabularData& data, size_t i) {
  return !data.group2.empty() && data.group2[i] >= 0;
}

class Stack final : public TreeModel {
 public:
  explicit Stack(StackSettings s) : settings_(std::move(s)) {}
  Stack(std::vector<std::unique_ptr<TreeModel>> members, tabular_detail::MultinomialLogistic meta)
      : members_(std::move(members)), meta_(std::move(meta)) {}

  void fit(const TabularData& data) override {
    if (settings_.members.empty()) throw std::logic_error("a stack needs members");
    members_.clear();
    const size_t n = data.rows();
    const size_t m = settings_.members.size();
    std::vector<Probabilities> oof;
    for (size_t k = 0; k < m; ++k) {
      const MemberFactory& make = settings_.members[k];
      members_.push_back(make(0));
      members_.back()->fit(data);
      int inner_fit = 0;
      oof.push_back(out_of_fold_probabilities(
          data, *members_.back(), [&] { return make(++inner_fit); }, settings_.inner_folds,
          mix_seed(settings_.seed, k)));
    }
    // The meta-learner sees real rows only: synthetic rows have no out-of-fold probabilities.
    std::vector<double> x;
    std::vector<int> y;
    std::vector<double> row_weight;
    for (size_t i = 0; i < n; ++i) {
      if (is_synthetic(data, i)) continue;
      row_weight.push_back(data.weight.empty() ? 1.0 : data.weight[i]);
      for (size_t k = 0; k < m; ++k)
        x.insert(x.end(), oof[k].begin() + i * kNumClasses, oof[k].begin() + (i + 1) * kNumClasses);
      y.push_back(data.y[i]);
    }
    std::vector<double> w = class_weights(y, settings_.meta_class_weight);
    for (size_t i = 0; i < w.size(); ++i) w[i] *= row_weight[i];
    meta_.fit(x, y, w, kNumClasses, static_cast<int>(m) * kNumClasses, kMetaC);
  }

  Probabilities predict(const Matrix& x) const override {
    if (members_.empty()) throw std::logic_error("stack predict() called before fit()");
    std::vector<Probabilities> p;
    for (const auto& member : members_) p.push_back(member->predict(x));
    std::vector<double> features;
    features.reserve(x.rows() * members_.size() * kNumClasses);
    for (size_t i = 0; i < x.rows(); ++i)
      for (const Probabilities& q : p)
        features.insert(features.end(), q.begin() + i * kNumClasses,
                        q.begin() + (i + 1) * kNumClasses);
    return meta_.predict(features);
  }

  nlohmann::json to_json() const override {
    if (members_.empty()) throw std::logic_error("stack to_json() called before fit()");
    nlohmann::json members = nlohmann::json::array();
    for (const auto& member : members_) members.push_back(member->to_json());
    return {
        {"kind", "stack"},
        {"format_version", tabular_detail::kJsonFormatVersion},
        {"members", members},
        {"meta",
         {{"classes", meta_.classes()}, {"features", meta_.features()}, {"coef", meta_.coef()}}}};
  }

 private:
  StackSettings settings_;
  std::vector<std::unique_ptr<TreeModel>> members_;
  tabular_detail::MultinomialLogistic meta_;
};

}  // namespace

std::unique_ptr<TreeModel> make_stack(StackSettings s) {
  return std::make_unique<Stack>(std::move(s));
}

namespace tabular_detail {
std::unique_ptr<TreeModel> stack_from_json(const nlohmann::json& j) {
  std::vector<std::unique_ptr<TreeModel>> members;
  try {
    for (const auto& m : j.at("members")) members.push_back(tree_model_from_json(m));
    const auto& meta = j.at("meta");
    const int classes = meta.at("classes").get<int>();
    const int features = meta.at("features").get<int>();
    auto coef = meta.at("coef").get<std::vector<double>>();
    if (members.empty() || classes != kNumClasses ||
        features != static_cast<int>(members.size()) * kNumClasses ||
        coef.size() != static_cast<size_t>(classes * (features + 1)))
      throw InputError("stack model JSON: members and meta-learner do not match");
    return std::make_unique<Stack>(std::move(members),
                                   MultinomialLogistic(classes, features, std::move(coef)));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("stack model JSON is malformed: ") + e.what());
  }
}
}  // namespace tabular_detail

}  // namespace woundphase

// Frank & Hall's ordinal classifier (tabular.h): two cumulative binary models.
#include <algorithm>  // for max
#include <array>

#include "tabular/models.h"

namespace woundphase {
namespace {

// Binary models for the cumulative events y > 0 and y > 1 (the classes' cut points).
constexpr int kCuts = kNumClasses - 1;

class Ordinal final : public TreeModel {
 public:
  explicit Ordinal(BinaryFactory binary) : binary_(std::move(binary)) {}
  Ordinal(std::array<std::unique_ptr<TreeModel>, kCuts> models) : models_(std::move(models)) {}

  void fit(const TabularData& data) override {
    for (int k = 0; k < kCuts; ++k) {
      TabularData above = data;
      for (int& y : above.y) y = y > k ? 1 : 0;
      models_[k] = binary_(k);
      models_[k]->fit(above);
    }
  }

  Probabilities predict(const Matrix& x) const override {
    std::array<Probabilities, kCuts> p;
    for (int k = 0; k < kCuts; ++k) p[k] = check_fitted(k).predict(x);
    return combine(p, x.rows());
  }

  bool has_oob() const override {
    for (const auto& m : models_)
      if (!m || !m->has_oob()) return false;
    return true;
  }

  // A row is covered when both binary models have an out-of-bag estimate for it.
  Probabilities oob(std::vector<bool>* covered) const override {
    std::array<Probabilities, kCuts> p;
    std::array<std::vector<bool>, kCuts> cov;
    for (int k = 0; k < kCuts; ++k) p[k] = check_fitted(k).oob(&cov[k]);
    const size_t n = cov[0].size();
    covered->assign(n, true);
    for (int k = 0; k < kCuts; ++k)
      for (size_t i = 0; i < n; ++i) (*covered)[i] = (*covered)[i] && cov[k][i];
    return combine(p, n);
  }

  nlohmann::json to_json() const override {
    nlohmann::json models = nlohmann::json::array();
    for (int k = 0; k < kCuts; ++k) models.push_back(check_fitted(k).to_json());
    return {{"kind", "ordinal"},
            {"format_version", tabular_detail::kJsonFormatVersion},
            {"models", models}};
  }

 private:
  const TreeModel& check_fitted(int k) const {
    if (!models_[k]) throw std::logic_error("ordinal model used before fit()");
    return *models_[k];
  }

  // P(I) = 1 - P(y > 0), P(P) = P(y > 0) - P(y > 1), P(R) = P(y > 1). The two models are fitted
  // apart, so P(y > 1) can exceed P(y > 0): the middle class is clipped at 0 and the row
  // renormalised (Frank & Hall leave it negative).
  static Probabilities combine(const std::array<Probabilities, kCuts>& p, size_t rows) {
    Probabilities out(rows * kNumClasses);
    for (size_t i = 0; i < rows; ++i) {
      const double above0 = p[0][i * kNumClasses + 1];
      const double above1 = p[1][i * kNumClasses + 1];
      double* o = &out[i * kNumClasses];
      o[0] = 1.0 - above0;
      o[1] = std::max(0.0, above0 - above1);
      o[2] = above1;
      const double sum = o[0] + o[1] + o[2];
      for (int c = 0; c < kNumClasses; ++c) o[c] /= sum;
    }
    return out;
  }

  BinaryFactory binary_;
  std::array<std::unique_ptr<TreeModel>, kCuts> models_;
};

}  // namespace

std::unique_ptr<TreeModel> make_ordinal(BinaryFactory binary) {
  return std::make_unique<Ordinal>(std::move(binary));
}

namespace tabular_detail {
std::unique_ptr<TreeModel> ordinal_from_json(const nlohmann::json& j) {
  std::array<std::unique_ptr<TreeModel>, kCuts> models;
  try {
    const nlohmann::json& list = j.at("models");
    if (!list.is_array() || list.size() != static_cast<size_t>(kCuts))
      throw InputError("ordinal model JSON must hold " + std::to_string(kCuts) + " models");
    for (int k = 0; k < kCuts; ++k) models[k] = tree_model_from_json(list[k]);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("ordinal model JSON is malformed: ") + e.what());
  }
  return std::make_unique<Ordinal>(std::move(models));
}
}  // namespace tabular_detail

}  // namespace woundphase

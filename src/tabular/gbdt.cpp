// Gradient-boosted trees through XGBoost's C API (multi:softprob, hist, NaN as missing).
#include <xgboost/c_api.h>  // for XGBoosterCreate, XGDMatrixCreateFromMat, ...

#include <cmath>    // for NAN
#include <sstream>  // for ostringstream

#include "tabular/models.h"

namespace woundphase {

namespace {

// XGBoosterPredict's option_mask bit for SHAP contributions (c_api.h).
constexpr int kPredContribs = 4;

void check_xgb(int rc, const char* call) {
  if (rc != 0) throw std::runtime_error(std::string("XGBoost ") + call + ": " + XGBGetLastError());
}
#define WP_XGB_CHECK(call) check_xgb((call), #call)

struct DMatrixFree {
  void operator()(void* h) const { XGDMatrixFree(h); }
};
struct BoosterFree {
  void operator()(void* h) const { XGBoosterFree(h); }
};
using DMatrixPtr = std::unique_ptr<void, DMatrixFree>;
using BoosterPtr = std::unique_ptr<void, BoosterFree>;

DMatrixPtr make_dmatrix(const Matrix& x) {
  const std::vector<float> rows = x.row_major();
  DMatrixHandle h = nullptr;
  WP_XGB_CHECK(XGDMatrixCreateFromMat(rows.data(), x.rows(), x.cols(), NAN, &h));
  return DMatrixPtr(h);
}

void set_param(BoosterHandle b, const char* name, const std::string& value) {
  if (XGBoosterSetParam(b, name, value.c_str()) != 0) {
    throw std::runtime_error(std::string("XGBoost parameter ") + name + "=" + value + ": " +
                             XGBGetLastError());
  }
}

std::string number(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

class Gbdt final : public TreeModel {
 public:
  explicit Gbdt(const GbdtSettings& s) : settings_(s) { settings_.validate(); }

  void fit(const TabularData& data) override {
    const size_t n = data.rows();
    if (n == 0) throw InputError("cannot fit a tree model on 0 rows");
    if (data.x.rows() != n) {
      throw InputError("tabular data is inconsistent: " + std::to_string(data.x.rows()) +
                       " feature rows for " + std::to_string(n) + " labels");
    }
    const std::vector<double> weights = row_weights(data, settings_.class_weight);
    DMatrixPtr train = make_dmatrix(data.x);
    std::vector<float> label(data.y.begin(), data.y.end());
    std::vector<float> weight(weights.begin(), weights.end());
    WP_XGB_CHECK(XGDMatrixSetFloatInfo(train.get(), "label", label.data(), n));
    WP_XGB_CHECK(XGDMatrixSetFloatInfo(train.get(), "weight", weight.data(), n));

    DMatrixHandle cache[] = {train.get()};
    BoosterHandle b = nullptr;
    WP_XGB_CHECK(XGBoosterCreate(cache, 1, &b));
    BoosterPtr booster(b);
    set_param(b, "objective", "multi:softprob");
    set_param(b, "num_class", std::to_string(kNumClasses));
    set_param(b, "tree_method", "hist");
    set_param(b, "max_depth", std::to_string(settings_.max_depth));
    set_param(b, "eta", number(settings_.learning_rate));
    set_param(b, "subsample", number(settings_.subsample));
    set_param(b, "colsample_bytree", number(settings_.colsample));
    set_param(b, "min_child_weight", number(settings_.min_child_weight));
    // XGBoost's seed is a signed integer: keep the low 31 bits of ours.
    set_param(b, "seed", std::to_string(settings_.seed & 0x7FFFFFFFULL));
    set_param(b, "verbosity", "0");
    set_threads(b);
    for (int round = 0; round < settings_.n_rounds; ++round) {
      WP_XGB_CHECK(XGBoosterUpdateOneIter(b, round, train.get()));
    }
    booster_ = std::move(booster);
    n_features_ = data.x.cols();
  }

  Probabilities predict(const Matrix& x) const override {
    if (!booster_) throw std::logic_error("gbdt predict() called before fit()");
    if (x.cols() != n_features_) {
      throw InputError("gbdt was fitted on " + std::to_string(n_features_) +
                       " features but is asked to predict " + std::to_string(x.cols()));
    }
    if (x.rows() == 0) return {};
    DMatrixPtr dm = make_dmatrix(x);
    bst_ulong len = 0;
    const float* out = nullptr;
    WP_XGB_CHECK(XGBoosterPredict(booster_.get(), dm.get(), 0, 0, 0, &len, &out));
    if (len != x.rows() * kNumClasses) {
      throw std::runtime_error("XGBoost returned " + std::to_string(len) + " values for " +
                               std::to_string(x.rows()) + " rows");
    }
    Probabilities probs(out, out + len);
    // softprob sums to 1 in float; renormalise so rows sum to 1 in double too.
    for (size_t i = 0; i < x.rows(); ++i) {
      double sum = 0.0;
      for (int c = 0; c < kNumClasses; ++c) sum += probs[i * kNumClasses + c];
      for (int c = 0; c < kNumClasses; ++c) probs[i * kNumClasses + c] /= sum;
    }
    return probs;
  }

  // XGBoost's own TreeSHAP (pred_contribs): per row and class the features' contributions to the
  // class margin and the bias last, which is exactly our layout; they sum to the margin whose
  // softmax predict() returns.
  Contributions contributions(const Matrix& x) const override {
    if (!booster_) throw std::logic_error("gbdt contributions() called before fit()");
    if (x.cols() != n_features_) {
      throw InputError("gbdt was fitted on " + std::to_string(n_features_) +
                       " features but is asked to explain " + std::to_string(x.cols()));
    }
    Contributions c;
    c.rows = x.rows();
    c.features = x.cols();
    c.scale = ContributionScale::kMargin;
    if (x.rows() == 0) return c;
    DMatrixPtr dm = make_dmatrix(x);
    bst_ulong len = 0;
    const float* out = nullptr;
    WP_XGB_CHECK(XGBoosterPredict(booster_.get(), dm.get(), kPredContribs, 0, 0, &len, &out));
    if (len != x.rows() * kNumClasses * (x.cols() + 1)) {
      throw std::runtime_error("XGBoost returned " + std::to_string(len) + " contributions for " +
                               std::to_string(x.rows()) + " rows");
    }
    c.values.assign(out, out + len);
    return c;
  }

  nlohmann::json to_json() const override {
    if (!booster_) throw std::logic_error("gbdt to_json() called before fit()");
    bst_ulong len = 0;
    const char* buf = nullptr;
    WP_XGB_CHECK(XGBoosterSaveModelToBuffer(booster_.get(), "{\"format\": \"json\"}", &len, &buf));
    const GbdtSettings& s = settings_;
    nlohmann::json settings = {{"n_rounds", s.n_rounds},
                               {"max_depth", s.max_depth},
                               {"learning_rate", s.learning_rate},
                               {"subsample", s.subsample},
                               {"colsample", s.colsample},
                               {"min_child_weight", s.min_child_weight},
                               {"class_weight", to_string(s.class_weight)},
                               {"threads", s.threads},
                               {"seed", s.seed}};
    // The XGBoost model is kept as its exact JSON text so a reload is bit-identical.
    return {{"kind", "gbdt"},
            {"format_version", tabular_detail::kJsonFormatVersion},
            {"settings", settings},
            {"n_features", n_features_},
            {"xgboost_model", std::string(buf, len)}};
  }

  static std::unique_ptr<TreeModel> from_json(const nlohmann::json& j) {
    GbdtSettings s;
    std::string model;
    size_t n_features = 0;
    try {
      const nlohmann::json& js = j.at("settings");
      s.n_rounds = js.at("n_rounds").get<int>();
      s.max_depth = js.at("max_depth").get<int>();
      s.learning_rate = js.at("learning_rate").get<double>();
      s.subsample = js.at("subsample").get<double>();
      s.colsample = js.at("colsample").get<double>();
      s.min_child_weight = js.at("min_child_weight").get<double>();
      s.class_weight = parse_class_weight(js.at("class_weight").get<std::string>());
      s.threads = js.at("threads").get<int>();
      s.seed = js.at("seed").get<unsigned long long>();
      n_features = j.at("n_features").get<size_t>();
      model = j.at("xgboost_model").get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      throw InputError(std::string("gbdt JSON is malformed: ") + e.what());
    }
    auto gbdt = std::make_unique<Gbdt>(s);
    BoosterHandle b = nullptr;
    WP_XGB_CHECK(XGBoosterCreate(nullptr, 0, &b));
    BoosterPtr booster(b);
    WP_XGB_CHECK(XGBoosterLoadModelFromBuffer(b, model.data(), model.size()));
    gbdt->set_threads(b);
    gbdt->booster_ = std::move(booster);
    gbdt->n_features_ = n_features;
    return gbdt;
  }

 private:
  void set_threads(BoosterHandle b) const {
    set_param(b, "nthread", std::to_string(settings_.threads));
  }

  GbdtSettings settings_;
  size_t n_features_ = 0;
  BoosterPtr booster_;
};

}  // namespace

std::unique_ptr<TreeModel> make_gbdt(const GbdtSettings& s) { return std::make_unique<Gbdt>(s); }

namespace tabular_detail {
std::unique_ptr<TreeModel> gbdt_from_json(const nlohmann::json& j) { return Gbdt::from_json(j); }
}  // namespace tabular_detail

}  // namespace woundphase

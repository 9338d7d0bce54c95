// The metadata branch as one fitted step: encode -> resample (training rows only) -> tree model,
// plus out-of-fold probabilities for the training rows.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <unordered_map>

#include "experiment/seed_streams.h"
#include "woundphase/metadata_branch.h"
#include "woundphase/search_settings.h"

namespace woundphase {
namespace {

// A tree model that resamples the rows it is fitted on before fitting the wrapped model. Wrapping
// (rather than resampling once outside) makes every inner out-of-fold fit resample its own
// training patients only, so no fitted step ever sees a resampled copy of a held-out row.
class ResamplingModel : public TreeModel {
 public:
  ResamplingModel(std::unique_ptr<TreeModel> inner, std::vector<FeatureInfo> features,
                  SamplingSettings sampling, unsigned long long seed)
      : inner_(std::move(inner)),
        features_(std::move(features)),
        sampling_(sampling),
        seed_(seed) {}

  void fit(const TabularData& data) override {
    refs_ = resample(data, features_, sampling_, seed_);
    n_original_ = data.rows();
    inner_->fit(materialise(data, features_, refs_));
  }
  Probabilities predict(const Matrix& x) const override { return inner_->predict(x); }
  bool has_oob() const override { return inner_->has_oob(); }

  // Out-of-bag estimate for the original rows: a row's real copies share its patient, so they are
  // out of bag together and any copy's estimate is the row's. Rows dropped by undersampling (or
  // only present as SMOTE parents) are reported as not covered.
  Probabilities oob(std::vector<bool>* covered) const override {
    std::vector<bool> inner_covered;
    const Probabilities inner = inner_->oob(&inner_covered);
    Probabilities out(n_original_ * kNumClasses, 0.0);
    covered->assign(n_original_, false);
    for (size_t i = 0; i < refs_.size(); ++i) {
      const SampleRef& ref = refs_[i];
      if (ref.parent_b >= 0 || !inner_covered[i] || (*covered)[ref.parent_a]) continue;
      (*covered)[ref.parent_a] = true;
      for (int c = 0; c < kNumClasses; ++c)
        out[ref.parent_a * kNumClasses + c] = inner[i * kNumClasses + c];
    }
    return out;
  }
  nlohmann::json to_json() const override { return inner_->to_json(); }
  Contributions contributions(const Matrix& x) const override { return inner_->contributions(x); }

 private:
  std::unique_ptr<TreeModel> inner_;
  std::vector<FeatureInfo> features_;
  SamplingSettings sampling_;
  unsigned long long seed_;
  std::vector<SampleRef> refs_;
  size_t n_original_ = 0;
};

// Salts of the stack members' seeds (each member's fits then mix in their fit index).
constexpr uint64_t kStackForestSalt = 1;
constexpr uint64_t kStackGbdtSalt = 2;

// A forest or boosting model, made ordinal (two cumulative binary models) with --ordinal.
std::unique_ptr<TreeModel> make_base(const TabularSettings& s, TreeModelKind kind,
                                     unsigned long long seed) {
  auto plain = [s, kind](unsigned long long model_seed) -> std::unique_ptr<TreeModel> {
    if (kind == TreeModelKind::kForest) {
      ForestSettings f = s.forest;
      f.seed = model_seed;
      return make_forest(f);
    }
    GbdtSettings g = s.gbdt;
    g.seed = model_seed;
    return make_gbdt(g);
  };
  if (!s.ordinal) return plain(seed);
  return make_ordinal([plain, seed](int cut) { return plain(mix_seed(seed, cut)); });
}

std::unique_ptr<TreeModel> make_model(const TabularSettings& s,
                                      const std::vector<FeatureInfo>& features,
                                      unsigned long long seed) {
  std::unique_ptr<TreeModel> model;
  if (s.model == TreeModelKind::kStack) {
    StackSettings st;
    for (const auto& [kind, salt] : {std::make_pair(TreeModelKind::kForest, kStackForestSalt),
                                     std::make_pair(TreeModelKind::kGbdt, kStackGbdtSalt)}) {
      const unsigned long long member_seed = mix_seed(seed, salt);
      st.members.push_back([s, kind = kind, member_seed](int fit) {
        return make_base(s, kind, mix_seed(member_seed, fit));
      });
    }
    st.inner_folds = s.inner_folds;
    st.seed = seed;
    st.meta_class_weight = s.forest.class_weight;
    model = make_stack(std::move(st));
  } else {
    model = make_base(s, s.model, seed);
  }
  if (s.sampling.strategy == SamplingStrategy::kNone) return model;
  return std::make_unique<ResamplingModel>(std::move(model), features, s.sampling,
                                           stream_seed(seed, SeedStream::kResampling));
}

// Salt of the cleaning wrapper's seeds (its flagging passes and final fit).
constexpr uint64_t kCleaningSalt = 3;

// The branch's model: with --clean, wrapped so each fit flags and cleans its own training rows.
std::unique_ptr<TreeModel> make_cleaned_model(const TabularSettings& s,
                                              const std::vector<FeatureInfo>& features,
                                              unsigned long long seed) {
  if (s.clean.method == CleanMethod::kNone) return make_model(s, features, seed);
  const unsigned long long clean_seed = mix_seed(seed, kCleaningSalt);
  return make_cleaning(
      [s, features, seed](int fit) {
        return make_model(s, features, fit == 0 ? seed : mix_seed(seed, fit));
      },
      s.clean, s.inner_folds, clean_seed);
}

}  // namespace

MetadataModel fit_metadata(const Dataset& data, const std::vector<int>& rows,
                           const std::vector<int>& labels, const TabularSettings& settings,
                           unsigned long long seed, Probabilities* oof) {
  MetadataModel out;
  out.encoder.fit(data, rows);
  TabularData train;
  train.x = out.encoder.transform(data, rows);
  train.y = labels;
  // Patients are renumbered 0..G-1 among the training rows: the bootstrap draws G patients.
  std::unordered_map<int, int> compact;
  for (int r : rows) {
    const int p = data.rows[r].patient;
    const auto it = compact.emplace(p, static_cast<int>(compact.size())).first;
    train.group.push_back(it->second);
  }
  train.group2.assign(rows.size(), -1);

  const auto features = out.encoder.features();
  out.model = make_cleaned_model(settings, features, stream_seed(seed, SeedStream::kTreeModel));
  out.model->fit(train);
  if (oof != nullptr) {
    int fit_count = 0;
    auto factory = [&]() {
      return make_cleaned_model(settings, features,
                                stream_seed(seed, SeedStream::kInnerFits, ++fit_count));
    };
    *oof = out_of_fold_probabilities(train, *out.model, factory, settings.inner_folds,
                                     stream_seed(seed, SeedStream::kInnerFits));
  }
  return out;
}

Probabilities predict_metadata(const MetadataModel& model, const Dataset& data,
                               const std::vector<int>& rows) {
  return model.model->predict(model.encoder.transform(data, rows));
}

}  // namespace woundphase

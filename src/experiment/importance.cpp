// Global importance of the clinical features on a search's test folds: mean |TreeSHAP
// contribution| and permutation importance (QWK drop), for the metadata model each fold fits.
#include <fmt/format.h>

#include <algorithm>  // for copy_n, max_element, swap
#include <cmath>      // for abs, NAN
#include <cstddef>    // for ptrdiff_t
#include <optional>

#include "experiment/search_plan.h"
#include "experiment/seed_streams.h"
#include "woundphase/explain.h"
#include "woundphase/files.h"
#include "woundphase/metadata_branch.h"
#include "woundphase/metrics.h"
#include "woundphase/modality.h"
#include "woundphase/search_settings.h"

namespace woundphase {
namespace {

std::vector<int> predicted_classes(const Probabilities& p) {
  std::vector<int> out(p.size() / kNumClasses);
  for (size_t i = 0; i < out.size(); ++i) {
    const double* row = p.data() + i * kNumClasses;
    out[i] = static_cast<int>(std::max_element(row, row + kNumClasses) - row);
  }
  return out;
}

// Fisher-Yates over `n` values, seeded (std::shuffle's draws differ by library).
void permute(float* col, size_t n, uint64_t seed) {
  uint64_t state = seed;
  for (size_t i = n; i > 1; --i) {
    state = mix_seed(state, i);
    std::swap(col[i - 1], col[state % i]);
  }
}

// Every permuted copy of the test rows stacked into one matrix: block f * kPermutationRepeats + k
// is `x` with column f shuffled by repeat k's seed. The model then predicts them in one call, one
// parallel region instead of features x repeats small ones, whose thread start-up and spinning
// took most of the time. Rows are predicted independently, so the scores are the same.
Matrix stacked_permutations(const Matrix& x, uint64_t fold_seed) {
  const size_t n = x.rows();
  const size_t blocks = x.cols() * kPermutationRepeats;
  Matrix out(n * blocks, x.cols());
  for (size_t c = 0; c < x.cols(); ++c)
    for (size_t b = 0; b < blocks; ++b) std::copy_n(x.column(c), n, out.column(c) + b * n);
  for (size_t f = 0; f < x.cols(); ++f)
    for (int k = 0; k < kPermutationRepeats; ++k) {
      const size_t b = f * kPermutationRepeats + k;
      permute(out.column(f) + b * n, n,
              mix_seed(stream_seed(fold_seed, SeedStream::kPermutation, f), k));
    }
  return out;
}

bool has_metadata(const SearchSettings& settings) {
  for (const Combination& c : settings.combinations)
    if (c.front() == Modality::kMetadata) return true;
  return false;
}

}  // namespace

std::vector<FeatureImportance> metadata_importance(const Dataset& data,
                                                   const SearchSettings& settings) {
  std::vector<FeatureImportance> out;
  if (!has_metadata(settings)) return out;
  // The tree model exactly as FoldWork::metadata() fits it.
  TabularSettings tabular = settings.tabular;
  tabular.forest.threads = settings.threads;
  tabular.gbdt.threads = 1;
  SearchPlan plan(data, settings);
  const std::vector<int> labels = data.labels();
  for (int run = 0; run < plan.runs(); ++run) {
    for (int fold = 0; fold < plan.folds(); ++fold) {
      const FoldPlan fp = plan.fold_plan(run, fold);
      const MetadataModel model =
          fit_metadata(data, fp.train_rows, fp.train_labels, tabular, fp.seed);
      const Matrix x = model.encoder.transform(data, fp.test_rows);
      const std::vector<FeatureInfo> features = model.encoder.features();
      // Ordinal and stacked models have no additive explanation: permutation importance only.
      std::optional<Contributions> c;
      try {
        c = model.model->contributions(x);
      } catch (const InputError&) {
        c.reset();
      }
      std::vector<int> truth;
      for (int r : fp.test_rows) truth.push_back(labels[r]);
      const double qwk = score(truth, predicted_classes(model.model->predict(x))).qwk;
      const std::vector<int> permuted_classes =
          predicted_classes(model.model->predict(stacked_permutations(x, fp.seed)));
      for (size_t f = 0; f < x.cols(); ++f) {
        FeatureImportance fi;
        fi.run = run;
        fi.fold = fold;
        fi.feature = features[f].name;
        fi.mean_abs_contribution = NAN;
        if (c) {
          fi.scale = c->scale;
          fi.mean_abs_contribution = 0;
          for (size_t i = 0; i < c->rows; ++i)
            for (int cl = 0; cl < kNumClasses; ++cl)
              fi.mean_abs_contribution += std::abs(c->at(i, cl, f));
          fi.mean_abs_contribution /= static_cast<double>(c->rows * kNumClasses);
        }
        double permuted = 0;
        for (int k = 0; k < kPermutationRepeats; ++k) {
          const auto block = permuted_classes.begin() +
                             static_cast<std::ptrdiff_t>((f * kPermutationRepeats + k) * x.rows());
          permuted +=
              score(truth, std::vector<int>(block, block + static_cast<std::ptrdiff_t>(x.rows())))
                  .qwk;
        }
        fi.permutation_qwk_drop = qwk - permuted / kPermutationRepeats;
        fi.test_qwk = qwk;
        out.push_back(fi);
      }
    }
  }
  return out;
}

void write_importance_csv(const std::vector<FeatureImportance>& rows, const std::string& path) {
  std::string out =
      "run,fold,feature,mean_abs_contribution,scale,permutation_qwk_drop,permutations\n";
  for (const FeatureImportance& r : rows)
    out += fmt::format("{},{},{},{:.9g},{},{:.9g},{}\n", r.run, r.fold, csv_field(r.feature),
                       r.mean_abs_contribution,
                       std::isnan(r.mean_abs_contribution) ? "" : to_string(r.scale),
                       r.permutation_qwk_drop, kPermutationRepeats);
  write_file_atomically(path, out);
}

}  // namespace woundphase

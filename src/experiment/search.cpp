// The cross-validated search: runs x patient folds x modality combinations.
#include <fmt/format.h>

#include <algorithm>  // for max
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>  // for mt19937_64
#include <set>

#include "woundphase/experiment.h"
#include "woundphase/split.h"

namespace woundphase {
namespace {

constexpr uint64_t kPercentageSalt = 1;
constexpr uint64_t kFoldSalt = 2;
constexpr uint64_t kShuffleSalt = 3;
constexpr uint64_t kJobSalt = 4;

// Permutes labels with a seeded Fisher-Yates of our own (std::shuffle's draws are
// implementation-defined; ours are the same on every platform).
std::vector<int> permuted(std::vector<int> labels, unsigned long long seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = labels.size(); i > 1; --i) {
    const size_t j = rng() % i;
    std::swap(labels[i - 1], labels[j]);
  }
  return labels;
}

}  // namespace

void SearchSettings::validate() const {
  if (combinations.empty()) throw InputError("--modalities: no combination given");
  if (cv_folds < 1 || cv_folds > 50)
    throw InputError(fmt::format("--cv-folds must be in [1, 50], got {}", cv_folds));
  if (runs < 1 || runs > 1000)
    throw InputError(fmt::format("--runs must be in [1, 1000], got {}", runs));
  if (!(train_fraction > 0 && train_fraction < 1))
    throw InputError(fmt::format("--train-fraction must be in (0, 1), got {}", train_fraction));
  if (!(data_percentage > 0 && data_percentage <= 100))
    throw InputError(fmt::format("--data-percentage must be in (0, 100], got {}", data_percentage));
  if (threads < 1 || threads > 256)
    throw InputError(fmt::format("--threads must be in [1, 256], got {}", threads));
  for (const auto& c : combinations)
    for (Modality m : c)
      if (m != Modality::kMetadata)
        throw InputError(
            fmt::format("--modalities: '{}' needs the image branches, which this build does not "
                        "have yet; use 'metadata'",
                        to_string(c)));
  tabular.validate();
}

nlohmann::json SearchSettings::to_json() const {
  std::vector<std::string> combos;
  for (const auto& c : combinations) combos.push_back(to_string(c));
  const auto& f = tabular.forest;
  const auto& g = tabular.gbdt;
  return {{"modalities", combos},
          {"cv_folds", cv_folds},
          {"runs", runs},
          {"seed", seed},
          {"train_fraction", train_fraction},
          {"data_percentage", data_percentage},
          {"shuffle_labels", shuffle_labels},
          {"model", to_string(tabular.model)},
          {"sampling", to_string(tabular.sampling.strategy)},
          {"smote_neighbours", tabular.sampling.smote_neighbours},
          {"inner_folds", tabular.inner_folds},
          {"forest",
           {{"trees", f.n_trees},
            {"max_depth", f.max_depth},
            {"min_samples_leaf", f.min_samples_leaf},
            {"min_samples_split", f.min_samples_split},
            {"max_features", f.max_features},
            {"max_bins", f.max_bins},
            {"class_weight", to_string(f.class_weight)}}},
          {"gbdt",
           {{"rounds", g.n_rounds},
            {"max_depth", g.max_depth},
            {"learning_rate", g.learning_rate},
            {"subsample", g.subsample},
            {"colsample", g.colsample},
            {"min_child_weight", g.min_child_weight},
            {"class_weight", to_string(g.class_weight)}}}};
}

std::vector<CombinationSummary> summarise(const std::vector<Combination>& combinations,
                                          const std::vector<FoldResult>& folds,
                                          const std::vector<PredictionRow>& predictions) {
  std::vector<CombinationSummary> out;
  for (const Combination& combo : combinations) {
    const std::string name = to_string(combo);
    CombinationSummary s;
    s.modalities = name;
    std::vector<double> qwk, kappa, acc, mf1;
    std::array<std::vector<double>, kNumClasses> f1;
    for (const auto& fr : folds) {
      if (fr.modalities != name) continue;
      qwk.push_back(fr.scores.qwk);
      kappa.push_back(fr.scores.kappa);
      acc.push_back(fr.scores.accuracy);
      mf1.push_back(fr.scores.macro_f1);
      for (int c = 0; c < kNumClasses; ++c) f1[c].push_back(fr.scores.f1[c]);
    }
    std::set<int> evaluated;
    for (const auto& p : predictions)
      if (p.modalities == name) evaluated.insert(p.row);
    s.n_samples = static_cast<int>(evaluated.size());
    s.qwk = mean_std(qwk);
    s.kappa = mean_std(kappa);
    s.accuracy = mean_std(acc);
    s.macro_f1 = mean_std(mf1);
    for (int c = 0; c < kNumClasses; ++c) s.f1[c] = mean_std(f1[c]).mean;
    out.push_back(s);
  }
  return out;
}

namespace {

// Trains and scores one (run, fold, combination) job.
JobRecord compute_job(const Dataset& data, const TabularSettings& tabular, int run,
                      unsigned long long run_seed, int fold, const Combination& combo,
                      const std::vector<int>& train_rows, const std::vector<int>& train_labels,
                      const std::vector<int>& test_rows) {
  const auto start = std::chrono::steady_clock::now();
  const std::string name = to_string(combo);
  const unsigned long long job_seed = mix_seed(mix_seed(run_seed, kJobSalt), fold);
  Probabilities oof;
  const MetadataModel model = fit_metadata(data, train_rows, train_labels, tabular, job_seed, &oof);
  const Probabilities probs = predict_metadata(model, data, test_rows);
  const std::vector<int> pred = argmax(probs);
  std::vector<int> truth;
  for (int r : test_rows) truth.push_back(data.rows[r].label);

  JobRecord job;
  FoldResult& fr = job.result;
  fr.run = run;
  fr.seed = run_seed;
  fr.fold = fold;
  fr.modalities = name;
  fr.n_train = static_cast<int>(train_rows.size());
  fr.n_test = static_cast<int>(test_rows.size());
  fr.scores = score(truth, pred);
  auto add_rows = [&](std::vector<PredictionRow>& into, const std::vector<int>& rows,
                      const Probabilities& p) {
    const std::vector<int> am = argmax(p);
    for (size_t i = 0; i < rows.size(); ++i) {
      PredictionRow row;
      row.run = run;
      row.fold = fold;
      row.modalities = name;
      row.row = rows[i];
      for (int c = 0; c < kNumClasses; ++c) row.prob[c] = p[i * kNumClasses + c];
      row.pred = am[i];
      into.push_back(row);
    }
  };
  add_rows(job.test, test_rows, probs);
  add_rows(job.oof, train_rows, oof);
  job.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return job;
}

}  // namespace

SearchResult run_search(const Dataset& data, const SearchSettings& settings,
                        const ProgressFn& progress, JobCache* cache) {
  settings.validate();
  if (!data.has_labels)
    throw InputError(fmt::format("{}: a search needs labels", data.metadata_path));
  const int n_patients = static_cast<int>(data.patients.size());
  const std::vector<int> labels = data.labels();
  const std::vector<int> patient_of_row = data.patient_of_rows();

  TabularSettings tabular = settings.tabular;
  tabular.forest.threads = settings.threads;
  // Boosting stays on one thread: on data this size XGBoost's OpenMP synchronisation costs more
  // than it gains and busy-waits badly when other processes share the cores.
  tabular.gbdt.threads = 1;

  SearchResult result;
  const int n_folds = std::max(settings.cv_folds, 1);
  const int total_jobs = settings.runs * n_folds * static_cast<int>(settings.combinations.size());
  int done_jobs = 0;
  for (int run = 0; run < settings.runs; ++run) {
    const unsigned long long run_seed = settings.seed + static_cast<unsigned long long>(run);
    result.run_seeds.push_back(run_seed);

    // Patients kept (data percentage), then folds over the kept patients only.
    auto counts = group_class_counts(labels, patient_of_row, n_patients);
    if (settings.data_percentage < 100) {
      const auto keep = keep_group_percentage(counts, settings.data_percentage,
                                              mix_seed(run_seed, kPercentageSalt));
      for (int p = 0; p < n_patients; ++p)
        if (!keep[p]) counts[p].assign(kNumClasses, 0);
    }
    GroupAssignment split;
    if (settings.cv_folds >= 2) {
      split = stratified_group_kfold(counts, settings.cv_folds, mix_seed(run_seed, kFoldSalt));
    } else {
      // Part 1 is the test part.
      split =
          stratified_group_split(counts, {settings.train_fraction, 1.0 - settings.train_fraction},
                                 mix_seed(run_seed, kFoldSalt));
    }
    result.fold_of_patient.push_back(split.fold_of_group);
    if (cache != nullptr) cache->splits(run, split.fold_of_group);

    for (int fold = 0; fold < n_folds; ++fold) {
      const int test_part = settings.cv_folds >= 2 ? fold : 1;
      std::vector<int> train_rows;
      std::vector<int> test_rows;
      for (size_t r = 0; r < data.rows.size(); ++r) {
        const int part = split.fold_of_group[patient_of_row[r]];
        if (part < 0) continue;
        (part == test_part ? test_rows : train_rows).push_back(static_cast<int>(r));
      }
      if (test_rows.empty() || train_rows.empty())
        throw InputError(
            fmt::format("run {} fold {}: no {} patients; use fewer --cv-folds or more data", run,
                        fold, test_rows.empty() ? "test" : "training"));
      std::vector<int> train_labels;
      for (int r : train_rows) train_labels.push_back(labels[r]);
      if (settings.shuffle_labels)
        train_labels = permuted(train_labels, mix_seed(mix_seed(run_seed, kShuffleSalt), fold));

      for (const Combination& combo : settings.combinations) {
        const std::string name = to_string(combo);
        std::optional<JobRecord> job;
        if (cache != nullptr) job = cache->find(run, fold, name);
        const bool reused = job.has_value();
        if (!reused) {
          job = compute_job(data, tabular, run, run_seed, fold, combo, train_rows, train_labels,
                            test_rows);
          test_kill_point("fit", done_jobs);
          if (cache != nullptr) cache->save(*job);
        }
        result.folds.push_back(job->result);
        result.predictions.insert(result.predictions.end(), job->test.begin(), job->test.end());
        result.oof_predictions.insert(result.oof_predictions.end(), job->oof.begin(),
                                      job->oof.end());
        ++done_jobs;
        if (progress)
          progress({done_jobs, total_jobs,
                    fmt::format("[{}/{}] run {} fold {} {}: QWK {:.3f}, kappa {:.3f}, n_test {}{}",
                                done_jobs, total_jobs, run, fold, name, job->result.scores.qwk,
                                job->result.scores.kappa, job->result.n_test,
                                reused ? " (stored)" : fmt::format(" ({:.2f} s)", job->seconds))});
      }
    }
  }
  result.summary = summarise(settings.combinations, result.folds, result.predictions);
  return result;
}

}  // namespace woundphase

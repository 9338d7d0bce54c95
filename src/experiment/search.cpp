// The cross-validated search: runs x patient folds x modality combinations.
#include <fmt/format.h>

#include <algorithm>  // for max
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>  // for mt19937_64
#include <set>

#include "experiment/fold.h"
#include "woundphase/experiment.h"
#include "woundphase/split.h"

namespace woundphase {
namespace {

constexpr uint64_t kPercentageSalt = 1;
constexpr uint64_t kFoldSalt = 2;
constexpr uint64_t kShuffleSalt = 3;

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
  tabular.validate();
  if (uses_images()) images.validate();
  if (uses_fusion()) fusion.validate();
  ensemble.validate();
}

bool SearchSettings::uses_fusion() const {
  for (const auto& c : combinations)
    if (c.size() > 1) return true;
  return false;
}

double FoldResult::stage_qwk(const std::string& stage) const {
  for (const StageResult& s : stages)
    if (s.stage == stage) return s.scores.qwk;
  return NAN;
}

bool SearchSettings::uses_images() const {
  for (const auto& c : combinations)
    for (Modality m : c)
      if (is_image(m)) return true;
  return false;
}

void ImageBranchSettings::validate() const {
  vision.validate();
  preprocess.validate();
  augment.validate();
  if (!(validation_fraction > 0 && validation_fraction <= 0.5))
    throw InputError(
        fmt::format("--validation-fraction must be in (0, 0.5], got {}", validation_fraction));
  if (!(gen_aug_probability >= 0 && gen_aug_probability <= 1))
    throw InputError(
        fmt::format("--gen-aug-probability must be in [0, 1], got {}", gen_aug_probability));
  if (vision.image_size != preprocess.image_size)
    throw std::logic_error("vision and preprocessing image sizes differ");
}

nlohmann::json SearchSettings::to_json() const {
  std::vector<std::string> combos;
  for (const auto& c : combinations) combos.push_back(to_string(c));
  const auto& f = tabular.forest;
  const auto& g = tabular.gbdt;
  nlohmann::json out = {{"modalities", combos},
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
  if (ensemble.kind != EnsembleKind::kNone)
    out["ensemble"] = {{"kind", to_string(ensemble.kind)},
                       {"l2", ensemble.l2},
                       {"iterations", ensemble.iterations}};
  if (uses_fusion()) {
    const auto& u = fusion;
    out["fusion"] = {{"kind", to_string(u.kind)},
                     {"rf_weight", u.rf_weight},
                     {"stage1_epochs", u.stage1_epochs},
                     {"stage1_learning_rate", u.stage1_learning_rate},
                     {"stage2_epochs", u.stage2_epochs},
                     {"stage2_learning_rate", u.stage2_learning_rate},
                     {"stage2_unfreeze", u.stage2_unfreeze},
                     {"patience", u.patience},
                     {"loss", to_string(u.loss)},
                     {"focal_gamma", u.focal_gamma},
                     {"class_weight", to_string(u.class_weight)},
                     {"dropout", u.dropout},
                     {"weight_decay", u.weight_decay},
                     {"batch_size", u.batch_size}};
  }
  if (!uses_images()) return out;
  // Image settings are recorded only when an image modality is searched, so metadata-only runs
  // stay comparable (and resumable) whatever the image defaults are.
  const auto& v = images.vision;
  const auto& p = images.preprocess;
  const auto& a = images.augment;
  out["images"] = {{"backbone", v.backbone},
                   {"image_size", v.image_size},
                   {"epochs", v.epochs},
                   {"batch_size", v.batch_size},
                   {"learning_rate", v.learning_rate},
                   {"weight_decay", v.weight_decay},
                   {"patience", v.patience},
                   {"loss", to_string(v.loss)},
                   {"focal_gamma", v.focal_gamma},
                   {"class_weight", to_string(v.class_weight)},
                   {"dropout", v.dropout},
                   {"normalization", to_string(v.normalization)},
                   {"map_decode", to_string(p.map_decode)},
                   {"on_missing_image", to_string(p.on_missing_image)},
                   {"crop", p.fingerprint()},
                   {"augment",
                    {{"flips", a.flips},
                     {"rotation_deg", a.rotation_deg},
                     {"brightness", a.brightness},
                     {"contrast", a.contrast},
                     {"noise", a.noise}}},
                   {"validation_fraction", images.validation_fraction},
                   {"gen_aug_dir", images.gen_aug_dir},
                   {"gen_aug_probability", images.gen_aug_probability}};
  return out;
}

std::vector<CombinationSummary> summarise(const std::vector<Combination>& combinations,
                                          const std::vector<FoldResult>& folds,
                                          const std::vector<PredictionRow>& predictions) {
  std::vector<std::string> names;
  for (const Combination& combo : combinations) names.push_back(to_string(combo));
  return summarise_named(names, folds, predictions);
}

std::vector<CombinationSummary> summarise_named(const std::vector<std::string>& names,
                                                const std::vector<FoldResult>& folds,
                                                const std::vector<PredictionRow>& predictions) {
  std::vector<CombinationSummary> out;
  for (const std::string& name : names) {
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

SearchResult run_search(const Dataset& data, const SearchSettings& settings,
                        const ProgressFn& progress, JobCache* cache) {
  settings.validate();
  if (!data.has_labels)
    throw InputError(fmt::format("{}: a search needs labels", data.metadata_path));
  const int n_patients = static_cast<int>(data.patients.size());
  const std::vector<int> labels = data.labels();
  const std::vector<int> patient_of_row = data.patient_of_rows();

  std::unique_ptr<ImageInputs> images;
  if (settings.uses_images()) images = prepare_images(data, settings, progress);

  SearchResult result;
  const bool with_ensemble = settings.ensemble.kind != EnsembleKind::kNone;
  const int n_folds = std::max(settings.cv_folds, 1);
  const int jobs_per_fold =
      static_cast<int>(settings.combinations.size()) + (with_ensemble ? 1 : 0);
  const int total_jobs = settings.runs * n_folds * jobs_per_fold;
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
      FoldWork work(
          data, settings, images.get(),
          make_fold_plan(data, settings.images.validation_fraction, run, run_seed, fold,
                         std::move(train_rows), std::move(train_labels), std::move(test_rows)),
          progress, cache);

      std::vector<JobRecord> fold_jobs;
      auto finish = [&](const std::string& name, const std::function<JobRecord()>& compute) {
        std::optional<JobRecord> job;
        if (cache != nullptr) job = cache->find(run, fold, name);
        const bool reused = job.has_value();
        if (!reused) {
          job = compute();
          test_kill_point("fit", done_jobs);
          if (cache != nullptr) cache->save(*job);
        }
        result.folds.push_back(job->result);
        result.predictions.insert(result.predictions.end(), job->test.begin(), job->test.end());
        result.oof_predictions.insert(result.oof_predictions.end(), job->oof.begin(),
                                      job->oof.end());
        for (const CurvePoint& point : job->curve) result.curves.emplace_back(job->result, point);
        ++done_jobs;
        if (progress)
          progress({done_jobs, total_jobs,
                    fmt::format("[{}/{}] run {} fold {} {}: QWK {:.3f}, kappa {:.3f}, n_test {}{}",
                                done_jobs, total_jobs, run, fold, name, job->result.scores.qwk,
                                job->result.scores.kappa, job->result.n_test,
                                reused ? " (stored)" : fmt::format(" ({:.2f} s)", job->seconds))});
        fold_jobs.push_back(std::move(*job));
      };
      for (const Combination& combo : settings.combinations)
        finish(to_string(combo), [&] { return work.compute(combo); });
      if (with_ensemble) {
        std::vector<const JobRecord*> members;
        for (const JobRecord& j : fold_jobs) members.push_back(&j);
        finish(kEnsembleName, [&] { return work.ensemble(members); });
      }
    }
  }
  result.summary = summarise(settings.combinations, result.folds, result.predictions);
  if (with_ensemble) {
    // The ensemble's row, summarised like a combination.
    const auto extra = summarise_named({kEnsembleName}, result.folds, result.predictions);
    result.summary.insert(result.summary.end(), extra.begin(), extra.end());
  }
  return result;
}

}  // namespace woundphase

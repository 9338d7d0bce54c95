// The cross-validated search: runs x patient folds x modality combinations.
#include <fmt/format.h>

#include <algorithm>  // for max
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>  // for mt19937_64
#include <set>

#include "experiment/image_job.h"
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
    if (c.size() > 1)
      throw InputError(
          fmt::format("--modalities: '{}' fuses several modalities; fusion arrives with the "
                      "fusion stage: evaluate single modalities for now",
                      to_string(c)));
  tabular.validate();
  if (uses_images()) images.validate();
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

// The image side of a search: the index (images matched to visit-wounds) and the decoded crops.
struct ImageInputs {
  ImageIndex index;
  std::unique_ptr<ImageCache> cache;
};

std::unique_ptr<ImageInputs> prepare_images(const Dataset& data, const SearchSettings& settings,
                                            const ProgressFn& progress) {
  std::string why;
  if (!vision_available(&why))
    throw InputError(fmt::format("image modalities need the image networks library ({}): {}",
                                 kVisionLibraryName, why));
  auto in = std::make_unique<ImageInputs>();
  ImageIndexSettings index_settings;
  index_settings.on_missing_image = settings.images.preprocess.on_missing_image;
  in->index = build_image_index(data, data.dir, index_settings);
  if (progress) progress({0, 0, in->index.report.summary()});
  in->cache =
      std::make_unique<ImageCache>(data.dir, settings.images.preprocess, settings.images.cache_dir);
  std::vector<ImageModality> needed;
  for (const auto& c : settings.combinations)
    for (Modality m : c)
      if (is_image(m)) needed.push_back(static_cast<ImageModality>(static_cast<int>(m) - 1));
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < needed.size(); ++i) {
    if (progress)
      progress({static_cast<int>(i), static_cast<int>(needed.size()),
                fmt::format("decoding {} images", to_string(needed[i])), true});
    in->cache->preload(in->index, {needed[i]}, settings.threads);
  }
  if (progress)
    progress({0, 0,
              fmt::format(
                  "decoded {} image crops in {:.1f} s ({} files skipped)", in->cache->size(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                  in->cache->skipped())});
  return in;
}

JobRecord compute_image_job(const Dataset& data, ImageInputs& images,
                            const ImageBranchSettings& settings, int run,
                            unsigned long long run_seed, int fold, const Combination& combo,
                            const std::vector<int>& train_rows,
                            const std::vector<int>& train_labels, const std::vector<int>& test_rows,
                            const ProgressFn& progress, JobCache* cache) {
  const auto start = std::chrono::steady_clock::now();
  const std::string name = to_string(combo);
  ImageBranchSettings s = settings;
  const unsigned long long job_seed = mix_seed(mix_seed(run_seed, kJobSalt), fold);
  const std::string weights = cache != nullptr ? cache->weights_path(run, fold, name) : "";
  const auto reusable = cache != nullptr ? cache->reusable_weights(run, fold, name) : std::nullopt;
  const ImageJobOutput out = run_image_job(data, images.index, *images.cache, combo.front(), s,
                                           train_rows, train_labels, test_rows, job_seed, progress,
                                           reusable ? "" : weights, reusable ? weights : "");
  JobRecord job;
  FoldResult& fr = job.result;
  fr.run = run;
  fr.seed = run_seed;
  fr.fold = fold;
  fr.modalities = name;
  fr.n_train = static_cast<int>(train_rows.size());
  fr.n_test = static_cast<int>(out.rows.size());
  std::vector<int> truth;
  const std::vector<int> pred = argmax(out.probs);
  for (size_t i = 0; i < out.rows.size(); ++i) {
    truth.push_back(data.rows[out.rows[i]].label);
    PredictionRow row;
    row.run = run;
    row.fold = fold;
    row.modalities = name;
    row.row = out.rows[i];
    for (int c = 0; c < kNumClasses; ++c) row.prob[c] = out.probs[i * kNumClasses + c];
    row.pred = pred[i];
    job.test.push_back(row);
  }
  fr.scores = score(truth, pred);
  job.weights = weights;
  if (reusable) job.curve = *reusable;
  for (const EpochReport& e : out.curve)
    job.curve.push_back(CurvePoint{name, e.epoch, e.train_loss, e.val_loss, e.val_qwk});
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

  std::unique_ptr<ImageInputs> images;
  if (settings.uses_images()) images = prepare_images(data, settings, progress);
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
          job = combo.front() == Modality::kMetadata
                    ? compute_job(data, tabular, run, run_seed, fold, combo, train_rows,
                                  train_labels, test_rows)
                    : compute_image_job(data, *images, settings.images, run, run_seed, fold, combo,
                                        train_rows, train_labels, test_rows, progress, cache);
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
      }
    }
  }
  result.summary = summarise(settings.combinations, result.folds, result.predictions);
  return result;
}

}  // namespace woundphase

// One (run, fold) of a search: the shared metadata and image branches, each combination's job
// (single modality or fusion head with its stages) and the late-fusion ensemble.
#include "experiment/fold.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // for join
#include <spdlog/spdlog.h>

#include <algorithm>  // for copy_if, sort, min
#include <chrono>
#include <cmath>     // for NAN
#include <iterator>  // for back_inserter
#include <unordered_map>

#include "experiment/fold_detail.h"
#include "experiment/seed_streams.h"
#include "woundphase/split.h"

namespace woundphase {
using namespace fold_detail;  // the fold's shared helpers (fold_detail.h)

namespace {

// Skipped frames named in the log; skipped_images.csv has them all.
constexpr size_t kShownSkippedFrames = 5;

// The skipped frames' count per modality and the first few with their reasons (all of them go to
// skipped_images.csv).
void log_skipped(const std::vector<SkippedImage>& skipped, const ProgressFn& progress) {
  if (skipped.empty()) return;
  std::array<long, kNumImageModalities> counts{};
  for (const SkippedImage& s : skipped) ++counts[static_cast<int>(s.modality)];
  std::vector<std::string> parts;
  for (ImageModality m : kImageModalities)
    if (counts[static_cast<int>(m)] > 0)
      parts.push_back(fmt::format("{} {}", to_string(m), counts[static_cast<int>(m)]));
  progress({0, 0,
            fmt::format("{} frames skipped ({}), listed in skipped_images.csv:", skipped.size(),
                        fmt::join(parts, ", "))});
  const size_t shown = std::min(skipped.size(), kShownSkippedFrames);
  for (size_t i = 0; i < shown; ++i)
    progress({0, 0, fmt::format("  {}: {}", skipped[i].file, skipped[i].reason)});
  if (shown < skipped.size())
    progress({0, 0, fmt::format("  ... and {} more", skipped.size() - shown)});
}

}  // namespace

void require_two_classes(const Dataset& data, const std::vector<int>& labels,
                         const std::string& where) {
  std::array<long, kNumClasses> counts{};
  for (int y : labels)
    if (y >= 0 && y < kNumClasses) ++counts[y];
  int present = 0;
  int only = 0;
  for (int k = 0; k < kNumClasses; ++k)
    if (counts[k] > 0) {
      ++present;
      only = k;
    }
  if (present >= 2) return;
  throw InputError(fmt::format(
      "{}: label column '{}' has {} among {}: a classifier needs at least two classes (every "
      "kappa would be undefined)",
      data.metadata_path, data.schema.label_column,
      present == 0 ? std::string("no class")
                   : fmt::format("a single class ({})", data.schema.class_labels[only]),
      where));
}

std::unique_ptr<ImageInputs> prepare_images(const Dataset& data, const SearchSettings& settings,
                                            const ProgressFn& progress) {
  std::string why;
  if (!vision_available(&why))
    throw InputError(fmt::format("image modalities need the image networks library ({}): {}",
                                 kVisionLibraryName, why));
  auto in = std::make_unique<ImageInputs>();
  std::vector<ImageModality>& needed = in->modalities;
  for (const auto& c : settings.combinations)
    for (Modality m : c)
      if (is_image(m) && std::find(needed.begin(), needed.end(), image_modality(m)) == needed.end())
        needed.push_back(image_modality(m));
  probe_image_models(settings.images, needed);
  ImageIndexSettings index_settings;
  index_settings.on_missing_image = settings.images.preprocess.on_missing_image;
  in->index = build_image_index(data, data.dir, index_settings);
  if (progress) progress({0, 0, in->index.report.summary()});
  // Generated images before any decoding: a missing class folder is an error at once.
  for (ImageModality m : needed)
    in->generated[static_cast<int>(m)] =
        load_generated(settings.images, data.schema, m, settings.images.preprocess,
                       branch_channels(m, settings.images.preprocess));
  in->cache =
      std::make_unique<ImageCache>(data.dir, settings.images.preprocess, settings.images.cache_dir);
  const auto start = Clock::now();
  for (size_t i = 0; i < needed.size(); ++i) {
    if (progress)
      progress({static_cast<int>(i), static_cast<int>(needed.size()),
                fmt::format("decoding {} images", to_string(needed[i])), true});
    in->cache->preload(in->index, {needed[i]}, settings.threads);
  }
  if (progress)
    progress({0, 0,
              fmt::format("decoded {} image crops in {:.1f} s ({} files skipped)",
                          in->cache->size(), seconds_since(start), in->cache->skipped())});
  if (progress) log_skipped(in->skipped(), progress);
  return in;
}

std::vector<SkippedImage> ImageInputs::skipped() const {
  std::vector<SkippedImage> out;
  auto wanted = [&](const SkippedImage& s) {
    return std::find(modalities.begin(), modalities.end(), s.modality) != modalities.end();
  };
  std::copy_if(index.report.skipped.begin(), index.report.skipped.end(), std::back_inserter(out),
               wanted);
  for (const SkippedImage& s : cache->skipped_images())
    if (wanted(s)) out.push_back(s);
  std::sort(out.begin(), out.end(),
            [](const SkippedImage& a, const SkippedImage& b) { return a.file < b.file; });
  return out;
}

FoldPlan make_fold_plan(const Dataset& data, double validation_fraction, int run,
                        unsigned long long run_seed, int fold, std::vector<int> train_rows,
                        std::vector<int> train_labels, std::vector<int> test_rows) {
  FoldPlan plan;
  plan.run = run;
  plan.run_seed = run_seed;
  plan.fold = fold;
  plan.seed = mix_seed(stream_seed(run_seed, SeedStream::kFoldJob), fold);
  plan.train_rows = std::move(train_rows);
  plan.train_labels = std::move(train_labels);
  plan.test_rows = std::move(test_rows);
  // Training patients renumbered 0..G-1, split stratified by their (training) labels.
  std::unordered_map<int, int> compact;
  std::vector<int> patient_of(plan.train_rows.size());
  for (size_t i = 0; i < plan.train_rows.size(); ++i)
    patient_of[i] =
        compact.emplace(data.rows[plan.train_rows[i]].patient, static_cast<int>(compact.size()))
            .first->second;
  const auto counts =
      group_class_counts(plan.train_labels, patient_of, static_cast<int>(compact.size()));
  const GroupAssignment parts =
      stratified_group_split(counts, {1.0 - validation_fraction, validation_fraction},
                             stream_seed(plan.seed, SeedStream::kValidationSplit));
  for (size_t i = 0; i < plan.train_rows.size(); ++i) {
    const bool val = parts.fold_of_group[patient_of[i]] == 1;
    (val ? plan.val_rows : plan.fit_rows).push_back(plan.train_rows[i]);
    (val ? plan.val_labels : plan.fit_labels).push_back(plan.train_labels[i]);
  }
  return plan;
}

FoldWork::FoldWork(const Dataset& data, const SearchSettings& settings, ImageInputs* images,
                   const FoldPlan& plan, const ProgressFn& progress, JobCache* cache)
    : data_(data),
      settings_(settings),
      images_(images),
      plan_(plan),
      progress_(progress),
      cache_(cache) {}

FoldWork::~FoldWork() = default;

const FoldWork::Metadata& FoldWork::metadata() {
  if (metadata_) return *metadata_;
  TabularSettings tabular = settings_.tabular;
  tabular.forest.threads = settings_.threads;
  // Boosting stays on one thread: on data this size XGBoost's OpenMP synchronisation costs more
  // than it gains and busy-waits badly when other processes share the cores.
  tabular.gbdt.threads = 1;
  Metadata m;
  if (tabular.tune > 0) {
    const auto start = Clock::now();
    const TunedConfig t = tune_metadata(data_, plan_.train_rows, plan_.train_labels, tabular,
                                        settings_.decision, plan_.seed);
    tabular = t.settings;
    m.tuned = t.to_json().dump();
    spdlog::debug("  run {} fold {} tuned in {:.2f} s: {}", plan_.run, plan_.fold,
                  seconds_since(start), m.tuned);
  }
  MetadataModel model =
      fit_metadata(data_, plan_.train_rows, plan_.train_labels, tabular, plan_.seed, &m.train_oof);
  if (!plan_.test_rows.empty()) m.test = predict_metadata(model, data_, plan_.test_rows);
  if (const std::vector<LabelIssue>* issues = model.model->label_issues()) {
    for (size_t i = 0; i < issues->size(); ++i)
      m.cleaning.push_back(CleaningRow{plan_.run, plan_.fold, plan_.train_rows[i], (*issues)[i]});
  }
  metadata_ = std::move(m);
  if (keep_models_) metadata_model_ = std::move(model);
  return *metadata_;
}

FoldWork::Branch& FoldWork::branch(Modality m) {
  auto& slot = branches_[static_cast<int>(m)];
  if (slot) return *slot;
  ImageCache& cache = *images_->cache;
  const ImageIndex& index = images_->index;
  const std::vector<int> fit = rows_with_images(index, cache, m, plan_.fit_rows);
  const std::vector<int> val = rows_with_images(index, cache, m, plan_.val_rows);
  const std::string path =
      cache_ != nullptr ? cache_->weights_path(plan_.run, plan_.fold, to_string(m)) : "";
  const bool load = cache_ != nullptr && cache_->reuse_networks() && branch_saved(path);
  ImageBranchSettings s = settings_.images;
  s.vision.threads = kNetworkThreads;
  const auto start = Clock::now();
  auto b = std::make_unique<Branch>();
  b->trained = train_branch(
      data_, index, cache, m, s, images_->generated[static_cast<int>(image_modality(m))],
      settings_.tabular.sampling, fit, labels_of(fit, plan_.fit_rows, plan_.fit_labels), val,
      labels_of(val, plan_.val_rows, plan_.val_labels), plan_.seed, progress_, load ? "" : path,
      load ? path : "");
  std::vector<int> rows = plan_.fit_rows;
  rows.insert(rows.end(), plan_.val_rows.begin(), plan_.val_rows.end());
  rows.insert(rows.end(), plan_.test_rows.begin(), plan_.test_rows.end());
  // A loaded branch brings the features its training process computed (when they were saved);
  // otherwise they are computed here, and saved beside the network for the next process.
  std::optional<BranchFeatures> saved;
  if (load) saved = load_branch_features(path, rows);
  if (saved && saved->slot.size() == rows_with_images(index, cache, m, rows).size()) {
    b->features = std::move(*saved);
  } else {
    b->features = branch_features(index, cache, m, *b->trained.model, rows);
    if (!path.empty()) save_branch_features(path, b->features);
  }
  spdlog::debug("  run {} fold {} {} branch {} in {:.2f} s ({} epochs, best validation QWK {:.3f})",
                plan_.run, plan_.fold, to_string(m), load ? "loaded" : "trained",
                seconds_since(start), b->trained.curve.size(), b->trained.best_val_qwk);
  slot = std::move(b);
  return *slot;
}

FoldWork::Models FoldWork::take_models(const Combination& combo) {
  Models out;
  out.metadata = std::move(metadata_model_);
  for (Modality m : combo) {
    if (!is_image(m)) continue;
    auto& slot = branches_[static_cast<int>(m)];
    if (!slot) throw std::logic_error("take_models: the branch was not trained");
    out.branches.push_back(std::move(slot->trained));
    slot.reset();
  }
  out.head = std::move(head_);
  out.final_stage = final_stage_;
  return out;
}

std::unique_ptr<FusionModel> FoldWork::take_head(std::string* final_stage) {
  if (!head_) throw std::logic_error("take_head: no fused combination was computed");
  *final_stage = final_stage_;
  return std::move(head_);
}

JobRecord FoldWork::new_record(const Combination& combo, int n_train) const {
  JobRecord job;
  job.result.run = plan_.run;
  job.result.seed = plan_.run_seed;
  job.result.fold = plan_.fold;
  job.result.modalities = to_string(combo);
  job.result.n_train = n_train;
  return job;
}

JobRecord FoldWork::compute(const Combination& combo) {
  const auto start = Clock::now();
  JobRecord job = combo.size() > 1                       ? compute_fused(combo)
                  : combo.front() == Modality::kMetadata ? compute_metadata(combo)
                                                         : compute_image(combo);
  job.seconds = seconds_since(start);
  return job;
}

JobRecord FoldWork::compute_metadata(const Combination& combo) {
  const Metadata& m = metadata();
  JobRecord job = new_record(combo, static_cast<int>(plan_.train_rows.size()));
  job.result.n_test = static_cast<int>(plan_.test_rows.size());
  job.result.scores = score_rows(data_, plan_.test_rows, m.test);
  job.test = prediction_rows(plan_, job.result.modalities, plan_.test_rows, m.test);
  job.oof = prediction_rows(plan_, job.result.modalities, plan_.train_rows, m.train_oof);
  job.cleaning = m.cleaning;
  job.result.tuned = m.tuned;
  return job;
}

JobRecord FoldWork::compute_image(const Combination& combo) {
  const Modality m = combo.front();
  Branch& b = branch(m);
  auto rows_in = [&](const std::vector<int>& rows) {
    std::vector<int> out;
    for (int r : rows)
      if (b.features.has(r)) out.push_back(r);
    return out;
  };
  auto probs_of = [&](const std::vector<int>& rows) {
    Probabilities p;
    for (int r : rows) {
      const size_t s = b.features.slot.at(r);
      p.insert(p.end(), b.features.probs.begin() + s * kNumClasses,
               b.features.probs.begin() + (s + 1) * kNumClasses);
    }
    return p;
  };
  const std::vector<int> fit = rows_in(plan_.fit_rows);
  const std::vector<int> val = rows_in(plan_.val_rows);
  const std::vector<int> test = rows_in(plan_.test_rows);
  JobRecord job = new_record(combo, static_cast<int>(fit.size() + val.size()));
  const Probabilities test_probs = probs_of(test);
  job.result.n_test = static_cast<int>(test.size());
  job.result.scores = score_rows(data_, test, test_probs);
  job.test = prediction_rows(plan_, job.result.modalities, test, test_probs);
  // The validation patients' predictions: held out from the branch's weights (only its epoch
  // was chosen on them), they are what the ensemble is fitted on.
  job.oof = prediction_rows(plan_, job.result.modalities, val, probs_of(val));
  job.curve = b.trained.curve;
  job.weights = cache_ != nullptr ? cache_->weights_path(plan_.run, plan_.fold, to_string(m)) : "";
  add_branch_counts(m, &job);
  return job;
}

void FoldWork::add_branch_counts(Modality m, JobRecord* job) {
  if (settings_.images.gen_aug_dir.empty()) return;
  GeneratedCount c;
  c.run = plan_.run;
  c.fold = plan_.fold;
  c.combination = to_string(m);
  c.modality = to_string(m);
  c.stage = kGeneratedBranch;
  c.injected = branch(m).trained.generated_injected;
  job->generated.push_back(c);
}

}  // namespace woundphase

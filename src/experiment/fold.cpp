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

#include "experiment/seed_streams.h"
#include "woundphase/split.h"

namespace woundphase {
namespace {

constexpr char kStagePretrain[] = "pretrain";
constexpr char kStage1[] = "stage1";
constexpr char kStage2[] = "stage2";
// Skipped frames named in the log; skipped_images.csv has them all.
constexpr size_t kShownSkippedFrames = 5;

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A combination's identity as a number (its modalities as bits): seeds derived from it do not
// depend on the order of --modalities.
uint64_t combination_bits(const Combination& combo) {
  uint64_t bits = 0;
  for (Modality m : combo) bits |= uint64_t{1} << static_cast<int>(m);
  return bits;
}

std::vector<int> labels_of(const std::vector<int>& rows, const std::vector<int>& all_rows,
                           const std::vector<int>& all_labels) {
  std::unordered_map<int, int> label;
  for (size_t i = 0; i < all_rows.size(); ++i) label[all_rows[i]] = all_labels[i];
  std::vector<int> out;
  for (int r : rows) out.push_back(label.at(r));
  return out;
}

std::vector<PredictionRow> prediction_rows(const FoldPlan& plan, const std::string& name,
                                           const std::vector<int>& rows, const Probabilities& p) {
  std::vector<PredictionRow> out;
  const std::vector<int> am = argmax(p);
  for (size_t i = 0; i < rows.size(); ++i) {
    PredictionRow row;
    row.run = plan.run;
    row.fold = plan.fold;
    row.modalities = name;
    row.row = rows[i];
    for (int c = 0; c < kNumClasses; ++c) row.prob[c] = p[i * kNumClasses + c];
    row.pred = am[i];
    out.push_back(row);
  }
  return out;
}

Scores score_rows(const Dataset& data, const std::vector<int>& rows, const Probabilities& p) {
  std::vector<int> truth;
  for (int r : rows) truth.push_back(data.rows[r].label);
  return score(truth, argmax(p));
}

double qwk_of(const std::vector<int>& labels, const Probabilities& p) {
  return score(labels, argmax(p)).qwk;
}

// Probabilities of `rows` looked up in per-row probabilities of `source_rows`.
Probabilities probs_for(const std::vector<int>& rows, const std::vector<int>& source_rows,
                        const Probabilities& source) {
  std::unordered_map<int, size_t> at;
  for (size_t i = 0; i < source_rows.size(); ++i) at[source_rows[i]] = i;
  Probabilities out;
  for (int r : rows) {
    const size_t i = at.at(r);
    out.insert(out.end(), source.begin() + i * kNumClasses, source.begin() + (i + 1) * kNumClasses);
  }
  return out;
}

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

JobRecord FoldWork::compute_fused(const Combination& combo) {
  const std::string name = to_string(combo);
  std::vector<Modality> image_mods;
  for (Modality m : combo)
    if (is_image(m)) image_mods.push_back(m);
  const bool has_metadata = combo.front() == Modality::kMetadata;
  std::vector<Branch*> branches;
  for (Modality m : image_mods) branches.push_back(&branch(m));
  const Metadata* meta = has_metadata ? &metadata() : nullptr;
  JobRecord job = new_record(combo, 0);
  if (meta != nullptr) job.cleaning = meta->cleaning;
  for (Modality m : image_mods) add_branch_counts(m, &job);

  // The combination's samples: visit-wounds with every image modality of it.
  auto complete = [&](const std::vector<int>& rows, const std::vector<int>* labels,
                      std::vector<int>* labels_out) {
    std::vector<int> out;
    for (size_t i = 0; i < rows.size(); ++i) {
      bool all = true;
      for (Branch* b : branches) all = all && b->features.has(rows[i]);
      if (!all) continue;
      out.push_back(rows[i]);
      if (labels != nullptr) labels_out->push_back((*labels)[i]);
    }
    return out;
  };
  std::vector<int> fit_labels, val_labels;
  const std::vector<int> fit = complete(plan_.fit_rows, &plan_.fit_labels, &fit_labels);
  const std::vector<int> val = complete(plan_.val_rows, &plan_.val_labels, &val_labels);
  const std::vector<int> test = complete(plan_.test_rows, nullptr, nullptr);
  if (fit.size() < 2)
    throw InputError(fmt::format(
        "run {} fold {} {}: {} training visit-wounds have every modality of the combination; "
        "a fusion head needs at least 2",
        plan_.run, plan_.fold, name, fit.size()));

  // Metadata probabilities: out-of-fold for training patients, the fold's model for test rows.
  auto metadata_probs = [&](const std::vector<int>& rows, bool test_rows) {
    return test_rows ? probs_for(rows, plan_.test_rows, meta->test)
                     : probs_for(rows, plan_.train_rows, meta->train_oof);
  };
  // Features of real rows.
  auto features_of = [&](const std::vector<int>& rows, const std::vector<int>& labels,
                         bool test_rows) {
    FusionFeatures f;
    f.count = static_cast<int>(rows.size());
    f.labels = labels;
    if (has_metadata) {
      f.probs.push_back(metadata_probs(rows, test_rows));
      f.embeddings.emplace_back();
    }
    for (Branch* b : branches) {
      Probabilities p;
      std::vector<float> e;
      const int dim = b->features.dim;
      for (int r : rows) {
        const size_t s = b->features.slot.at(r);
        p.insert(p.end(), b->features.probs.begin() + s * kNumClasses,
                 b->features.probs.begin() + (s + 1) * kNumClasses);
        e.insert(e.end(), b->features.embeddings.begin() + s * dim,
                 b->features.embeddings.begin() + (s + 1) * dim);
      }
      f.probs.push_back(std::move(p));
      f.embeddings.push_back(std::move(e));
    }
    return f;
  };
  // The head's training samples: the fit rows resampled per the strategy. A synthetic sample's
  // cached features are its parents' blended with the weight its metadata was interpolated with
  // (stage 2 blends the parents' images themselves).
  const std::vector<SampleRef> plan =
      plan_samples(data_, fit, fit_labels, settings_.tabular.sampling,
                   stream_seed(plan_.seed, SeedStream::kHeadSampling, combination_bits(combo)));
  const FusionFeatures fit_real = features_of(fit, fit_labels, false);
  FusionFeatures train;
  train.count = static_cast<int>(plan.size());
  train.probs.resize(fit_real.probs.size());
  train.embeddings.resize(fit_real.embeddings.size());
  for (const SampleRef& ref : plan) {
    train.labels.push_back(ref.label);
    for (size_t s = 0; s < fit_real.probs.size(); ++s) {
      const float w = ref.parent_b >= 0 ? ref.mix : 0.0F;
      const int b = ref.parent_b >= 0 ? ref.parent_b : ref.parent_a;
      for (int c = 0; c < kNumClasses; ++c)
        train.probs[s].push_back((1 - w) * fit_real.probs[s][ref.parent_a * kNumClasses + c] +
                                 w * fit_real.probs[s][b * kNumClasses + c]);
      const auto& e = fit_real.embeddings[s];
      if (e.empty()) continue;
      const size_t dim = e.size() / fit.size();
      for (size_t j = 0; j < dim; ++j)
        train.embeddings[s].push_back((1 - w) * e[ref.parent_a * dim + j] + w * e[b * dim + j]);
    }
  }
  const FusionFeatures val_f = features_of(val, val_labels, false);
  const FusionFeatures test_f = features_of(test, {}, true);

  std::vector<FusionSource> sources;
  std::vector<const ImageModel*> models;
  if (has_metadata) {
    sources.push_back({to_string(Modality::kMetadata), 0});
    models.push_back(nullptr);
  }
  for (size_t i = 0; i < branches.size(); ++i) {
    sources.push_back({to_string(image_mods[i]), branches[i]->features.dim});
    models.push_back(branches[i]->trained.model.get());
  }
  FusionSettings fs = settings_.fusion;
  fs.seed = stream_seed(plan_.seed, SeedStream::kHead, combination_bits(combo));
  fs.threads = kNetworkThreads;
  std::unique_ptr<FusionModel> head = create_fusion_model(fs, sources, models);

  job.result.n_train = static_cast<int>(fit.size() + val.size());
  job.result.n_test = static_cast<int>(test.size());
  auto log_layers = [&](int stage) {
    for (const auto& layer : head->parameter_breakdown(stage))
      spdlog::debug("  {} stage {} layer {}: {} trainable of {} parameters", name, stage,
                    layer.name, layer.trainable, layer.total);
    spdlog::debug("  {} stage {}: {} trainable parameters ({})", name, stage,
                  head->trainable_parameters(stage), to_string(fs.kind));
  };
  auto on_epoch = [&](const char* stage, int epochs) {
    return [&, stage, epochs](const EpochReport& e) {
      job.curve.push_back(
          CurvePoint{fmt::format("head {}", stage), e.epoch, e.train_loss, e.val_loss, e.val_qwk});
      if (progress_) progress_({e.epoch, epochs, fmt::format("{} {} epoch", name, stage), true});
      spdlog::debug("  {} {} epoch {}: train loss {:.4f}, val loss {:.4f}, val QWK {:.3f}{}", name,
                    stage, e.epoch, e.train_loss, e.val_loss, e.val_qwk, e.improved ? " *" : "");
    };
  };

  // Pre-train: the combination's best single image branch (chosen on validation patients).
  size_t best = 0;
  for (size_t i = 1; i < branches.size(); ++i)
    if (branches[i]->trained.best_val_qwk > branches[best]->trained.best_val_qwk) best = i;
  StageResult pretrain;
  pretrain.stage = kStagePretrain;
  pretrain.val_qwk = branches[best]->trained.best_val_qwk;
  pretrain.scores = score_rows(data_, test, test_f.probs[has_metadata ? best + 1 : best]);
  job.result.stages.push_back(pretrain);

  // Stage 1: the head on cached features.
  log_layers(1);
  if (fs.kind == FusionKind::kFixed)
    spdlog::debug("  {} stage 1: fixed weights ({} metadata), nothing to train", name,
                  fs.rf_weight);
  head->fit_stage1(train, val_f, on_epoch(kStage1, fs.stage1_epochs));
  // (A bundle's fold has no test rows; a tiny cohort may have no validation rows.)
  auto predict = [&](const FusionFeatures& f) {
    return f.count > 0 ? head->predict(f) : Probabilities{};
  };
  auto predict_images = [&](const FusionImages& f) {
    return f.fixed.count > 0 ? head->predict_images(f) : Probabilities{};
  };
  Probabilities final_test = predict(test_f);
  Probabilities final_val = predict(val_f);
  StageResult stage1;
  stage1.stage = kStage1;
  stage1.val_qwk = qwk_of(val_labels, final_val);
  stage1.scores = score_rows(data_, test, final_test);
  stage1.kept = true;

  StageResult stage2;
  if (fs.stage2_epochs > 0) {
    // Stage 2 on the images: the same planned samples, parents' images blended for synthetic
    // ones; metadata enters as fixed (out-of-fold) probabilities.
    ImageCache& cache = *images_->cache;
    auto samples = [&](const std::vector<SampleRef>& refs, const std::vector<int>& rows,
                       const FusionFeatures& fixed) {
      FusionImages out;
      out.fixed.count = static_cast<int>(refs.size());
      out.fixed.labels = fixed.labels;
      if (has_metadata) {
        out.fixed.probs.push_back(fixed.probs.front());
        out.fixed.embeddings.emplace_back();
        out.images.emplace_back();
      }
      for (Modality m : image_mods) {
        out.fixed.probs.emplace_back();
        out.fixed.embeddings.emplace_back();
        out.images.push_back(gather_samples(refs, rows, images_->index, cache, image_modality(m),
                                            branch(m).trained.model->channels()));
      }
      return out;
    };
    auto identity = [](const std::vector<int>& rows, const std::vector<int>& labels) {
      std::vector<SampleRef> refs;
      for (size_t i = 0; i < rows.size(); ++i)
        refs.push_back(SampleRef{static_cast<int>(i), -1, 0.0F, labels.empty() ? 0 : labels[i]});
      return refs;
    };
    const FusionImages train_images = samples(plan, fit, train);
    const FusionImages val_images = samples(identity(val, val_labels), val, val_f);
    const FusionImages test_images = samples(identity(test, {}), test, test_f);
    log_layers(2);
    // --gen-aug-dir: each image source's training batches get its modality's generated images
    // (validation and test samples never do), counted per modality.
    std::vector<InjectFn> inject(train_images.images.size());
    std::vector<ClassCounts> injected(inject.size(), ClassCounts{});
    for (size_t i = 0; i < image_mods.size(); ++i) {
      const size_t s = has_metadata ? i + 1 : i;
      const auto& generated = images_->generated[static_cast<int>(image_modality(image_mods[i]))];
      if (generated)
        inject[s] = make_injection(generated, settings_.images.gen_aug_probability,
                                   settings_.images.gen_aug_mix, &injected[s]);
    }
    head->fit_stage2(train_images, val_images, on_epoch(kStage2, fs.stage2_epochs), inject);
    if (!settings_.images.gen_aug_dir.empty()) {
      for (size_t i = 0; i < image_mods.size(); ++i) {
        GeneratedCount c;
        c.run = plan_.run;
        c.fold = plan_.fold;
        c.combination = name;
        c.modality = to_string(image_mods[i]);
        c.stage = kGeneratedStage2;
        c.injected = injected[has_metadata ? i + 1 : i];
        job.generated.push_back(c);
        spdlog::debug("  {} stage 2: {} generated {} images injected into training batches", name,
                      injected_total(c.injected), c.modality);
      }
    }
    const Probabilities val2 = predict_images(val_images);
    const Probabilities test2 = predict_images(test_images);
    stage2.stage = kStage2;
    stage2.val_qwk = qwk_of(val_labels, val2);
    stage2.scores = score_rows(data_, test, test2);
    // Kept only when it beats stage 1 on the validation patients; then it really is the model.
    stage2.kept = stage2.val_qwk > stage1.val_qwk;
    stage1.kept = !stage2.kept;
    if (stage2.kept) {
      final_test = test2;
      final_val = val2;
    }
    spdlog::debug("  {}: stage 2 validation QWK {:.3f} vs stage 1 {:.3f}: {}", name, stage2.val_qwk,
                  stage1.val_qwk, stage2.kept ? "kept" : "stage 1 kept");
  }
  job.result.stages.push_back(stage1);
  if (!stage2.stage.empty()) job.result.stages.push_back(stage2);
  if (keep_models_) {
    if (!stage2.stage.empty() && !stage2.kept) head->revert_stage2();
    final_stage_ = stage2.kept ? kStage2 : kStage1;
    head_ = std::move(head);
  }
  job.result.scores = score_rows(data_, test, final_test);
  job.test = prediction_rows(plan_, name, test, final_test);
  job.oof = prediction_rows(plan_, name, val, final_val);
  return job;
}

JobRecord FoldWork::ensemble(const std::vector<const JobRecord*>& members) {
  const auto start = Clock::now();
  // Members' predictions for a row set, NaN where a member has none.
  auto gather = [&](const std::vector<int>& rows, bool test) {
    std::unordered_map<int, size_t> at;
    for (size_t i = 0; i < rows.size(); ++i) at[rows[i]] = i;
    MemberPredictions out;
    out.count = static_cast<int>(rows.size());
    for (const JobRecord* job : members) {
      Probabilities p(rows.size() * kNumClasses, NAN);
      for (const PredictionRow& row : test ? job->test : job->oof) {
        const auto it = at.find(row.row);
        if (it == at.end()) continue;
        for (int c = 0; c < kNumClasses; ++c) p[it->second * kNumClasses + c] = row.prob[c];
      }
      out.probs.push_back(std::move(p));
    }
    return out;
  };
  // The positions of the rows some member predicts, and the predictions at those positions.
  auto covered = [](const MemberPredictions& m) {
    std::vector<size_t> at;
    for (size_t i = 0; i < static_cast<size_t>(m.count); ++i) {
      bool any = false;
      for (const auto& p : m.probs) any = any || !std::isnan(p[i * kNumClasses]);
      if (any) at.push_back(i);
    }
    return at;
  };
  auto select = [](const MemberPredictions& m, const std::vector<size_t>& at) {
    MemberPredictions out;
    out.count = static_cast<int>(at.size());
    for (const auto& p : m.probs) {
      Probabilities kept;
      for (size_t i : at)
        kept.insert(kept.end(), p.begin() + i * kNumClasses, p.begin() + (i + 1) * kNumClasses);
      out.probs.push_back(std::move(kept));
    }
    return out;
  };
  const MemberPredictions val_all = gather(plan_.val_rows, false);
  const std::vector<size_t> val_at = covered(val_all);
  if (val_at.empty())
    throw InputError(
        fmt::format("run {} fold {}: no validation patients to fit the --ensemble on; raise "
                    "--validation-fraction or use more patients",
                    plan_.run, plan_.fold));
  std::vector<int> val_labels;
  for (size_t i : val_at) val_labels.push_back(plan_.val_labels[i]);
  EnsembleSettings es = settings_.ensemble;
  es.seed = stream_seed(plan_.seed, SeedStream::kHead);
  const Ensemble model = Ensemble::fit(es, select(val_all, val_at), val_labels);

  const MemberPredictions test_all = gather(plan_.test_rows, true);
  const std::vector<size_t> test_at = covered(test_all);
  std::vector<int> test;
  for (size_t i : test_at) test.push_back(plan_.test_rows[i]);
  const Probabilities probs = model.predict(select(test_all, test_at));
  JobRecord job;
  job.result.run = plan_.run;
  job.result.seed = plan_.run_seed;
  job.result.fold = plan_.fold;
  job.result.modalities = kEnsembleName;
  job.result.n_train = static_cast<int>(val_at.size());
  job.result.n_test = static_cast<int>(test.size());
  job.result.scores = score_rows(data_, test, probs);
  job.test = prediction_rows(plan_, kEnsembleName, test, probs);
  // The validation patients' ensemble predictions: what a --decision is fitted on (the member
  // weights were fitted on the same patients, so these are in-sample for the weights alone).
  std::vector<int> val;
  for (size_t i : val_at) val.push_back(plan_.val_rows[i]);
  job.oof = prediction_rows(plan_, kEnsembleName, val, model.predict(select(val_all, val_at)));
  const std::vector<double> weights = model.member_weights();
  std::string text;
  for (size_t i = 0; i < members.size(); ++i)
    text += fmt::format("{}{} {:.3f}", i ? ", " : "", members[i]->result.modalities, weights[i]);
  spdlog::debug("  run {} fold {} ensemble ({}) on {} validation visit-wounds: {}", plan_.run,
                plan_.fold, to_string(es.kind), val_at.size(), text);
  job.seconds = seconds_since(start);
  return job;
}

}  // namespace woundphase

// One (run, fold)'s fused combinations (the head's stages on the fold's cached branches and
// stage 2's fine-tuning) and its late-fusion ensemble.
#include <fmt/format.h>
#include <fmt/ranges.h>  // for join
#include <spdlog/spdlog.h>

#include <algorithm>  // for copy_if, sort, min
#include <chrono>
#include <cmath>     // for NAN
#include <iterator>  // for back_inserter
#include <unordered_map>

#include "experiment/fold.h"
#include "experiment/fold_detail.h"
#include "experiment/seed_streams.h"
#include "woundphase/split.h"

namespace woundphase {

using namespace fold_detail;  // the fold's shared helpers (fold_detail.h)

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
      spdlog::debug("{}", epoch_line(fmt::format("{} {}", name, stage), e));
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

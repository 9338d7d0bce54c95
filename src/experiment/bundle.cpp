// Model bundles: fit on every labelled patient, save everything needed to predict, apply later.
#include <fmt/format.h>
#include <unistd.h>         // for getpid
#include <xgboost/c_api.h>  // for XGBoostVersion

#include <algorithm>  // for max_element, find
#include <cmath>      // for NAN, isnan, abs
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>  // for iota
#include <sstream>

#include "experiment/fold.h"
#include "experiment/grad_cam.h"
#include "experiment/search_stats.h"  // for fit_job_temperature
#include "woundphase/dataset.h"       // for csv_field
#include "woundphase/experiment.h"
#include "woundphase/explain.h"
#include "woundphase/options_json.h"
#include "woundphase/report.h"  // for render_case_page

namespace fs = std::filesystem;

namespace woundphase {
namespace {

// 2: image branches and fusion heads; 1 (metadata only) still loads.
constexpr int kBundleFormat = 2;
constexpr int kOldestBundleFormat = 1;
constexpr const char* kBundleFile = "bundle.json";
constexpr const char* kFusionFile = "fusion.pt";
constexpr const char* kTrainPredictionsFile = "train_predictions.csv";
constexpr const char* kExplanationsFile = "explanations.csv";
constexpr const char* kCasePageFile = "predictions.html";
constexpr const char* kModalitySharesFile = "modality_shares.csv";
// Clinical features listed per visit-wound on the case page.
constexpr size_t kCaseTopFeatures = 5;

std::string xgboost_version() {
  int major = 0;
  int minor = 0;
  int patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  return fmt::format("{}.{}.{}", major, minor, patch);
}

}  // namespace

namespace {

std::string branch_file(Modality m) { return fmt::format("branch_{}.pt", to_string(m)); }

// The combination's modalities whose bits are set in `mask` (bit i: combo[i]), in its order.
Combination modalities_in(const Combination& combo, unsigned mask) {
  Combination out;
  for (size_t i = 0; i < combo.size(); ++i)
    if ((mask >> i) & 1U) out.push_back(combo[i]);
  return out;
}

// What predict_rows gives: probabilities (NaN for rows without a prediction) and the
// sub-combination each row was predicted from ("" without a prediction).
struct RowPredictions {
  Probabilities probs;
  std::vector<std::string> used;
};

// The fitted models of a bundle (the training process's own or a loaded bundle's: the same code,
// so both give the same numbers).
struct BundleModels {
  const Combination* combo = nullptr;
  const MetadataModel* metadata = nullptr;
  std::vector<ImageModel*> branches;  // the combination's image modalities, in its order
  FusionModel* head = nullptr;
  std::vector<std::pair<Combination, FusionModel*>> sub_heads;
};

// Probabilities of `rows` (every one has each modality of `sub`) from the models for `sub`: the
// tree model or the image branch alone for one modality, else the combination's head or the
// sub-combination's. Empty when the bundle has no head for `sub` (written before sub-heads).
Probabilities predict_group(const BundleModels& m, const Combination& sub,
                            const std::vector<int>& rows, const Probabilities& meta,
                            const ImageIndex* index, ImageCache* cache) {
  const Combination& combo = *m.combo;
  auto branch_of = [&](Modality modality) {
    size_t k = 0;
    for (Modality c : combo) {
      if (c == modality) return m.branches[k];
      k += is_image(c) ? 1 : 0;
    }
    throw std::logic_error("predict_group: no branch for " + to_string(modality));
  };
  Probabilities out;
  if (sub.size() == 1 && !is_image(sub.front())) {
    for (int r : rows)
      out.insert(out.end(), meta.begin() + r * kNumClasses, meta.begin() + (r + 1) * kNumClasses);
    return out;
  }
  if (sub.size() == 1) {
    const BranchFeatures f =
        branch_features(*index, *cache, sub.front(), *branch_of(sub.front()), rows);
    for (int r : rows) {
      const size_t slot = f.slot.at(r);
      out.insert(out.end(), f.probs.begin() + slot * kNumClasses,
                 f.probs.begin() + (slot + 1) * kNumClasses);
    }
    return out;
  }
  FusionModel* head = sub == combo ? m.head : nullptr;
  for (const auto& [c, h] : m.sub_heads)
    if (c == sub) head = h;
  if (head == nullptr) return out;
  FusionImages samples;
  samples.fixed.count = static_cast<int>(rows.size());
  std::vector<SampleRef> refs;
  for (size_t i = 0; i < rows.size(); ++i)
    refs.push_back(SampleRef{static_cast<int>(i), -1, 0.0F, 0});
  for (Modality modality : sub) {
    if (!is_image(modality)) {
      Probabilities p;
      for (int r : rows)
        p.insert(p.end(), meta.begin() + r * kNumClasses, meta.begin() + (r + 1) * kNumClasses);
      samples.fixed.probs.push_back(std::move(p));
      samples.fixed.embeddings.emplace_back();
      samples.images.emplace_back();
      continue;
    }
    samples.fixed.probs.emplace_back();
    samples.fixed.embeddings.emplace_back();
    samples.images.push_back(gather_samples(refs, rows, *index, *cache, image_modality(modality),
                                            branch_of(modality)->channels()));
  }
  return head->predict_images(samples);
}

// Probabilities for every row of `data`. A row is predicted from the modalities of the
// combination it has: all of them through the combination's model, fewer through the models of
// that sub-combination (the metadata's tree model, an image branch, a sub-combination head).
// With `require_all`, only rows with every modality get a prediction.
RowPredictions predict_rows(const BundleModels& m, bool require_all, const Dataset& data,
                            const ImageIndex* index, ImageCache* cache) {
  const Combination& combo = *m.combo;
  std::vector<int> rows(data.rows.size());
  std::iota(rows.begin(), rows.end(), 0);
  Probabilities meta;
  if (m.metadata != nullptr) meta = predict_metadata(*m.metadata, data, rows);
  // Which of the combination's modalities each row has (bit i: combo[i]).
  std::vector<unsigned> mask(rows.size(), 0);
  for (size_t i = 0; i < combo.size(); ++i) {
    if (!is_image(combo[i])) {
      for (unsigned& bits : mask) bits |= 1U << i;
      continue;
    }
    for (int r : rows_with_images(*index, *cache, combo[i], rows)) mask[r] |= 1U << i;
  }
  const unsigned full = (1U << combo.size()) - 1;
  std::map<unsigned, std::vector<int>> groups;
  for (int r : rows)
    if (mask[r] != 0 && (!require_all || mask[r] == full)) groups[mask[r]].push_back(r);
  RowPredictions out;
  out.probs.assign(rows.size() * kNumClasses, NAN);
  out.used.assign(rows.size(), "");
  for (const auto& [bits, group] : groups) {
    const Combination sub = modalities_in(combo, bits);
    const Probabilities p = predict_group(m, sub, group, meta, index, cache);
    if (p.empty()) continue;
    for (size_t i = 0; i < group.size(); ++i) {
      for (int c = 0; c < kNumClasses; ++c)
        out.probs[group[i] * kNumClasses + c] = p[i * kNumClasses + c];
      out.used[group[i]] = to_string(sub);
    }
  }
  return out;
}

// The predictions file of predict (and train_predictions.csv); returns the scores of the rows
// that have predictions.
Scores write_predictions(const Schema& schema, const Dataset& data, const Probabilities& probs,
                         const Decision& decision, const std::vector<std::string>& used,
                         const std::string& out_csv) {
  const auto& labels = schema.class_labels;
  std::string out = "patient,appt,dfu";
  if (data.has_labels) out += ",label";
  out += fmt::format(",prob_{},prob_{},prob_{},pred,modalities_used\n", labels[0], labels[1],
                     labels[2]);
  std::vector<int> truth;
  std::vector<int> pred;
  for (size_t i = 0; i < data.rows.size(); ++i) {
    const VisitWound& vw = data.rows[i];
    out += fmt::format("{},{},{}", csv_field(data.patients[vw.patient]), vw.appt, vw.dfu);
    if (data.has_labels) out += "," + labels[vw.label];
    const double* p = probs.data() + i * kNumClasses;
    if (std::isnan(p[0])) {
      out += ",,,,,\n";  // the row has none of the modalities (or not all, --require-all)
      continue;
    }
    const int best = decision.apply_row(p);
    out += fmt::format(",{:.6f},{:.6f},{:.6f},{},{}\n", p[0], p[1], p[2], labels[best], used[i]);
    if (data.has_labels) {
      truth.push_back(vw.label);
      pred.push_back(best);
    }
  }
  const fs::path parent = fs::absolute(out_csv).parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  write_file_atomically(out_csv, out);
  return score(truth, pred);
}

nlohmann::json vision_json(const VisionSettings& v, int channels) {
  return {{"backbone", v.backbone},
          {"image_size", v.image_size},
          {"num_classes", v.num_classes},
          {"dropout", v.dropout},
          {"normalization", to_string(v.normalization)},
          {"projection", v.projection},
          {"channels", channels}};
}

// Every crop setting, recorded or not: predict must crop as training did.
nlohmann::json preprocess_json(const PreprocessSettings& p) {
  nlohmann::json out = options_to_json(preprocess_options(), p, /*all=*/true);
  out.update(options_to_json(image_limits_options(), p.limits, /*all=*/true));
  return out;
}

PreprocessSettings preprocess_from_json(const nlohmann::json& j) {
  PreprocessSettings p;
  options_from_json(preprocess_options(), p, j, /*required=*/true);
  // Bundles written before the limits existed get the defaults.
  options_from_json(image_limits_options(), p.limits, j);
  p.validate();
  return p;
}

// The image inputs of a dataset for a bundle's modalities (memory cache only).
std::unique_ptr<ImageInputs> bundle_images(const Dataset& data, const Combination& combo,
                                           const PreprocessSettings& preprocess, int threads) {
  SearchSettings s;
  s.combinations = {combo};
  s.threads = threads;
  s.images.preprocess = preprocess;
  s.images.vision.image_size = preprocess.image_size;
  return prepare_images(data, s, nullptr);
}

}  // namespace

void train_bundle(const Dataset& data, const TrainSettings& settings, const std::string& bundle_dir,
                  const ProgressFn& progress) {
  settings.validate();
  if (!data.has_labels)
    throw InputError(fmt::format("{}: training needs labels", data.metadata_path));
  require_two_classes(data, data.labels(),
                      fmt::format("the {} training visit-wounds", data.rows.size()));
  const fs::path target = fs::absolute(bundle_dir);
  if (fs::exists(target) && !fs::is_directory(target))
    throw InputError(fmt::format("{}: exists and is not a folder", bundle_dir));
  if (fs::exists(target) && !fs::exists(target / kBundleFile) && !fs::is_empty(target))
    throw InputError(fmt::format(
        "{}: folder exists and is not a woundphase bundle; refusing to overwrite it", bundle_dir));

  const Combination& combo = settings.combination;
  SearchSettings recorded;
  recorded.combinations = {combo};
  recorded.seed = settings.seed;
  recorded.threads = settings.threads;
  recorded.tabular = settings.tabular;
  recorded.images = settings.images;
  recorded.fusion = settings.fusion;
  recorded.decision = settings.decision;
  std::unique_ptr<ImageInputs> images;
  if (recorded.uses_images()) images = prepare_images(data, recorded, progress);

  // One fold whose training patients are all patients and whose test part is empty.
  std::vector<int> rows(data.rows.size());
  std::iota(rows.begin(), rows.end(), 0);
  FoldWork work(data, recorded, images.get(),
                make_fold_plan(data, settings.images.validation_fraction, 0, settings.seed, 0, rows,
                               data.labels(), {}),
                progress, nullptr);
  work.keep_models();
  const JobRecord job = work.compute(combo);
  std::string final_stage;
  std::unique_ptr<FusionModel> head;
  if (combo.size() > 1) head = work.take_head(&final_stage);
  // A head per fused sub-combination, on the same branches and metadata model: predict falls
  // back to one for a visit-wound lacking some of the combination's images.
  std::vector<std::pair<Combination, std::unique_ptr<FusionModel>>> sub_heads;
  for (const Combination& sub : sub_combinations(combo)) {
    if (sub.size() < 2) continue;  // the tree model or a branch alone: already in the bundle
    std::string unused;
    work.compute(sub);
    sub_heads.emplace_back(sub, work.take_head(&unused));
  }
  FoldWork::Models models = work.take_models(combo);
  models.head = std::move(head);
  models.final_stage = final_stage;
  // The temperature is fitted on the training process's predictions for patients it did not fit
  // on: the validation patients' (image and fused combinations) or out-of-fold ones (metadata).
  const double temperature = settings.calibrate == CalibrationMethod::kTemperature
                                 ? fit_job_temperature(data, job.oof)
                                 : 1.0;
  // The decision is fitted on the same predictions, scaled as predict will scale them.
  Probabilities fit_probs;
  std::vector<int> fit_truth;
  for (const PredictionRow& p : job.oof) {
    fit_probs.insert(fit_probs.end(), p.prob.begin(), p.prob.end());
    fit_truth.push_back(data.rows[p.row].label);
  }
  // --tune chose the metadata branch's rule with its configuration.
  const DecisionRule rule =
      job.result.tuned.empty()
          ? settings.decision
          : parse_decision(
                nlohmann::json::parse(job.result.tuned).at("decision").get<std::string>());
  const Decision decision =
      fit_decision(rule, stats::apply_temperature(fit_probs, temperature), fit_truth);

  // Written into a sibling temporary folder and renamed, so an existing bundle is replaced only
  // by a complete one.
  const fs::path tmp =
      target.parent_path() / fmt::format(".{}.tmp.{}", target.filename().string(), getpid());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) throw InputError(fmt::format("{}: cannot create ({})", tmp.string(), ec.message()));

  nlohmann::json manifest = {
      {"format", kBundleFormat},
      {"software", {{"woundphase", WOUNDPHASE_VERSION_STRING}, {"xgboost", xgboost_version()}}},
      {"modalities", to_string(combo)},
      {"schema", data.schema.to_json()},
      {"settings", recorded.to_json()},
      {"training_data",
       {{"metadata_file", data.metadata_path},
        {"fingerprint", file_fingerprint(data.metadata_path)},
        {"rows", data.rows.size()},
        {"patients", data.patients.size()}}}};
  if (models.metadata) {
    manifest["encoder"] = models.metadata->encoder.to_json();
    manifest["model"] = models.metadata->model->to_json();
  }
  std::vector<ImageModel*> branches;
  if (!models.branches.empty()) {
    manifest["preprocess"] = preprocess_json(settings.images.preprocess);
    nlohmann::json list = nlohmann::json::array();
    for (TrainedBranch& b : models.branches) {
      const std::string file = branch_file(b.modality);
      b.model->save((tmp / file).string());
      list.push_back({{"modality", to_string(b.modality)},
                      {"file", file},
                      {"vision", vision_json(b.model->settings(), b.model->channels())}});
      branches.push_back(b.model.get());
    }
    manifest["branches"] = list;
  }
  if (models.head) {
    models.head->save((tmp / kFusionFile).string());
    const FusionSettings& f = models.head->settings();
    manifest["fusion"] = {{"file", kFusionFile},
                          {"kind", to_string(f.kind)},
                          {"rf_weight", f.rf_weight},
                          {"dropout", f.dropout},
                          {"final_stage", models.final_stage}};
  }
  if (!sub_heads.empty()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [sub, sub_head] : sub_heads) {
      const std::string file = fmt::format("fusion_{}.pt", to_string(sub));
      sub_head->save((tmp / file).string());
      list.push_back({{"modalities", to_string(sub)}, {"file", file}});
    }
    manifest["sub_heads"] = list;
  }
  if (settings.calibrate == CalibrationMethod::kTemperature)
    manifest["calibration"] = {{"method", to_string(settings.calibrate)},
                               {"temperature", temperature},
                               {"fitted_on_rows", job.oof.size()}};
  if (!job.result.tuned.empty()) manifest["tuning"] = nlohmann::json::parse(job.result.tuned);
  manifest["decision"] = {{"rule", to_string(decision.rule)},
                          {"threshold_low", decision.thresholds.low},
                          {"threshold_high", decision.thresholds.high},
                          {"fitted_on_rows", job.oof.size()}};
  write_file_atomically((tmp / kBundleFile).string(), manifest.dump(1));
  // The training process's own predictions for its cohort (predict reproduces them).
  BundleModels fitted;
  fitted.combo = &combo;
  fitted.metadata = models.metadata ? &*models.metadata : nullptr;
  fitted.branches = branches;
  fitted.head = models.head.get();
  for (const auto& [sub, sub_head] : sub_heads) fitted.sub_heads.emplace_back(sub, sub_head.get());
  const RowPredictions predicted =
      predict_rows(fitted, /*require_all=*/false, data, images ? &images->index : nullptr,
                   images ? images->cache.get() : nullptr);
  const Probabilities probs = stats::apply_temperature(predicted.probs, temperature);
  write_predictions(data.schema, data, probs, decision, predicted.used,
                    (tmp / kTrainPredictionsFile).string());

  fs::remove_all(target, ec);
  fs::rename(tmp, target, ec);
  if (ec)
    throw InputError(
        fmt::format("{}: cannot move the bundle into place ({})", bundle_dir, ec.message()));
}

Bundle load_bundle(const std::string& bundle_dir) {
  const fs::path file = fs::path(bundle_dir) / kBundleFile;
  std::ifstream in(file);
  if (!in) throw InputError(fmt::format("{}: not a model bundle (no {})", bundle_dir, kBundleFile));
  Bundle b;
  b.dir = bundle_dir;
  try {
    b.manifest = nlohmann::json::parse(in);
    const int format = b.manifest.at("format").get<int>();
    if (format < kOldestBundleFormat || format > kBundleFormat)
      throw InputError(fmt::format("{}: bundle format {} is not supported (expected {} to {})",
                                   file.string(), format, kOldestBundleFormat, kBundleFormat));
    b.schema = Schema::from_json(b.manifest.at("schema"));
    b.combination.clear();
    std::stringstream combo(b.manifest.at("modalities").get<std::string>());
    for (std::string name; std::getline(combo, name, '+');)
      b.combination.push_back(parse_modality(name));
    if (b.manifest.contains("calibration"))
      b.temperature = b.manifest.at("calibration").at("temperature").get<double>();
    // Bundles written before --decision existed decide by argmax.
    if (b.manifest.contains("decision")) {
      const auto& d = b.manifest.at("decision");
      b.decision.rule = parse_decision(d.at("rule").get<std::string>());
      b.decision.thresholds = {d.at("threshold_low").get<double>(),
                               d.at("threshold_high").get<double>()};
    }
    if (!(b.temperature > 0))
      throw InputError(fmt::format("{}: damaged bundle (temperature {} is not positive)",
                                   file.string(), b.temperature));
    if (b.manifest.contains("encoder")) {
      MetadataModel m;
      m.encoder = FeatureEncoder::from_json(b.manifest.at("encoder"));
      m.model = tree_model_from_json(b.manifest.at("model"));
      b.metadata = std::move(m);
    }
    if (b.manifest.contains("branches")) {
      b.preprocess = preprocess_from_json(b.manifest.at("preprocess"));
      for (const auto& branch : b.manifest.at("branches")) {
        const auto& v = branch.at("vision");
        VisionSettings vs;
        vs.backbone = v.at("backbone").get<std::string>();
        vs.image_size = v.at("image_size").get<int>();
        vs.num_classes = v.at("num_classes").get<int>();
        vs.dropout = v.at("dropout").get<double>();
        vs.normalization = parse_input_normalization(v.at("normalization").get<std::string>());
        // Bundles written before --projection existed have none.
        vs.projection = v.value("projection", VisionSettings{}.projection);
        auto model = create_image_model(vs, v.at("channels").get<int>());
        model->load((fs::path(bundle_dir) / branch.at("file").get<std::string>()).string());
        b.branches.push_back(std::move(model));
      }
    }
    if (b.manifest.contains("fusion")) {
      const auto& f = b.manifest.at("fusion");
      FusionSettings fs;
      fs.kind = parse_fusion(f.at("kind").get<std::string>());
      fs.rf_weight = f.at("rf_weight").get<double>();
      fs.dropout = f.at("dropout").get<double>();
      // The head of `combo` (the bundle's combination or a sub-combination of it).
      auto make_head = [&](const Combination& combo, const std::string& file) {
        std::vector<FusionSource> sources;
        std::vector<const ImageModel*> models;
        for (Modality m : combo) {
          if (!is_image(m)) {
            sources.push_back({to_string(m), 0});
            models.push_back(nullptr);
            continue;
          }
          size_t k = 0;
          for (Modality c : b.combination) {
            if (c == m) break;
            k += is_image(c) ? 1 : 0;
          }
          sources.push_back({to_string(m), b.branches.at(k)->embedding_dim()});
          models.push_back(b.branches.at(k).get());
        }
        std::unique_ptr<FusionModel> head = create_fusion_model(fs, sources, models);
        head->load((fs::path(bundle_dir) / file).string());
        return head;
      };
      b.head = make_head(b.combination, f.at("file").get<std::string>());
      if (b.manifest.contains("sub_heads")) {
        for (const auto& sub : b.manifest.at("sub_heads")) {
          Combination c;
          std::stringstream names(sub.at("modalities").get<std::string>());
          for (std::string name; std::getline(names, name, '+');) c.push_back(parse_modality(name));
          for (Modality m : c)
            if (std::find(b.combination.begin(), b.combination.end(), m) == b.combination.end())
              throw InputError(fmt::format("{}: damaged bundle (sub-head '{}' is not part of '{}')",
                                           file.string(), to_string(c), to_string(b.combination)));
          b.sub_heads.push_back({c, make_head(c, sub.at("file").get<std::string>())});
        }
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: damaged bundle ({})", file.string(), e.what()));
  } catch (const std::out_of_range& e) {
    throw InputError(fmt::format("{}: damaged bundle ({})", file.string(), e.what()));
  }
  const bool fused = b.combination.size() > 1;
  size_t n_images = 0;
  for (Modality m : b.combination) n_images += is_image(m) ? 1 : 0;
  const bool has_meta = b.combination.front() == Modality::kMetadata;
  if (b.combination.empty() || has_meta != b.metadata.has_value() ||
      b.branches.size() != n_images || fused != (b.head != nullptr))
    throw InputError(fmt::format("{}: damaged bundle (its models do not match '{}')", file.string(),
                                 to_string(b.combination)));
  return b;
}

namespace {

// The features with the largest |contribution| to class `c` of explained row `i`, largest first.
std::vector<CaseFeature> top_features(const TabularExplanation& e, int i, int c) {
  const Contributions& k = e.contributions;
  std::vector<size_t> order(k.features);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::abs(k.at(i, c, a)) > std::abs(k.at(i, c, b));
  });
  std::vector<CaseFeature> out;
  for (size_t j = 0; j < order.size() && j < kCaseTopFeatures; ++j) {
    if (k.at(i, c, order[j]) == 0) break;
    out.push_back({e.features[order[j]].name, e.value_text(i, order[j]), k.at(i, c, order[j])});
  }
  return out;
}

}  // namespace

Probabilities predict_bundle(const Bundle& bundle, const Dataset& data, const std::string& out_csv,
                             Scores* scores, int threads) {
  PredictSettings settings;
  settings.threads = threads;
  return predict_bundle(bundle, data, out_csv, scores, settings);
}

Probabilities predict_bundle(const Bundle& bundle, const Dataset& data, const std::string& out_csv,
                             Scores* scores, const PredictSettings& settings,
                             std::vector<std::string>* modalities_used) {
  settings.validate();
  std::unique_ptr<ImageInputs> images;
  if (!bundle.branches.empty()) {
    for (Modality m : bundle.combination) {
      if (!is_image(m)) continue;
      const fs::path folder = fs::path(data.dir) / folder_of(image_modality(m));
      std::error_code ec;  // a folder that cannot be read (a symlink loop) is as good as missing
      if (!fs::is_directory(folder, ec))
        throw InputError(
            fmt::format("{}: missing; the bundle's combination '{}' needs its {} images",
                        folder.string(), to_string(bundle.combination), to_string(m)));
    }
    images = bundle_images(data, bundle.combination, bundle.preprocess, settings.threads);
  }
  BundleModels models;
  models.combo = &bundle.combination;
  models.metadata = bundle.metadata ? &*bundle.metadata : nullptr;
  for (const auto& m : bundle.branches) models.branches.push_back(m.get());
  models.head = bundle.head.get();
  for (const auto& sub : bundle.sub_heads)
    models.sub_heads.emplace_back(sub.combination, sub.head.get());
  const RowPredictions predicted =
      predict_rows(models, settings.require_all, data, images ? &images->index : nullptr,
                   images ? images->cache.get() : nullptr);
  const Probabilities probs = stats::apply_temperature(predicted.probs, bundle.temperature);
  const Scores s =
      write_predictions(bundle.schema, data, probs, bundle.decision, predicted.used, out_csv);
  if (scores != nullptr && data.has_labels) *scores = s;
  if (modalities_used != nullptr) *modalities_used = predicted.used;
  const fs::path folder = fs::absolute(out_csv).parent_path();

  std::vector<int> rows;
  for (size_t i = 0; i < data.rows.size(); ++i)
    if (!std::isnan(probs[i * kNumClasses])) rows.push_back(static_cast<int>(i));
  std::optional<TabularExplanation> explanation;
  if (bundle.metadata && (settings.explain || settings.report))
    explanation = explain_metadata(*bundle.metadata, data, rows);
  if (settings.explain)
    write_explanations_csv(bundle.schema, data, *explanation,
                           (folder / kExplanationsFile).string());
  // Image explanations: Grad-CAM overlays of every image a prediction used; for a fused
  // combination, each modality's share (the decided class's probability with every modality minus
  // without that one, from the sub-combination's model on the same visit-wounds).
  std::vector<GradCamImage> cams;
  std::vector<std::vector<std::pair<std::string, double>>> shares(data.rows.size());
  std::vector<int> decisions;
  for (int r : rows) {
    const double* p = probs.data() + r * kNumClasses;
    decisions.push_back(bundle.decision.apply_row(p));
  }
  if (settings.explain && images) {
    GradCamRequest request{rows, decisions, predicted.used};
    cams = write_grad_cam(bundle.combination, models.branches, data, images->index, *images->cache,
                          request, folder.string());
    write_grad_cam_csv(data, bundle.schema.class_labels, cams,
                       (folder / kGradCamFolder / kGradCamIndex).string());
  }
  if (settings.explain && bundle.combination.size() > 1) {
    const std::string full = to_string(bundle.combination);
    std::vector<int> complete;
    std::vector<int> decided;
    for (size_t i = 0; i < rows.size(); ++i)
      if (predicted.used[rows[i]] == full) {
        complete.push_back(rows[i]);
        decided.push_back(decisions[i]);
      }
    std::vector<int> all(data.rows.size());
    std::iota(all.begin(), all.end(), 0);
    const Probabilities meta =
        bundle.metadata ? predict_metadata(*bundle.metadata, data, all) : Probabilities{};
    std::string csv = fmt::format("patient,appt,dfu,modality,class,prob,prob_without,share\n");
    for (size_t k = 0; k < bundle.combination.size() && !complete.empty(); ++k) {
      Combination without;
      for (size_t j = 0; j < bundle.combination.size(); ++j)
        if (j != k) without.push_back(bundle.combination[j]);
      const Probabilities p = stats::apply_temperature(
          predict_group(models, without, complete, meta, images ? &images->index : nullptr,
                        images ? images->cache.get() : nullptr),
          bundle.temperature);
      if (p.empty()) continue;  // a bundle written before sub-combination heads
      for (size_t i = 0; i < complete.size(); ++i) {
        const int r = complete[i];
        const int c = decided[i];
        const double with = probs[r * kNumClasses + c];
        const double share = with - p[i * kNumClasses + c];
        shares[r].emplace_back(to_string(bundle.combination[k]), share);
        const VisitWound& vw = data.rows[r];
        csv += fmt::format("{},{},{},{},{},{:.6f},{:.6f},{:.6f}\n",
                           csv_field(data.patients[vw.patient]), vw.appt, vw.dfu,
                           to_string(bundle.combination[k]), bundle.schema.class_labels[c], with,
                           p[i * kNumClasses + c], share);
      }
    }
    write_file_atomically((folder / kModalitySharesFile).string(), csv);
  }
  if (settings.report) {
    CasePage page;
    page.bundle = bundle.dir;
    page.combination = to_string(bundle.combination);
    page.class_labels = bundle.schema.class_labels;
    page.branch_only = bundle.combination.size() > 1;
    if (explanation) page.contribution_scale = to_string(explanation->contributions.scale);
    std::vector<int> slot(data.rows.size(), -1);
    for (size_t i = 0; i < rows.size(); ++i) slot[rows[i]] = static_cast<int>(i);
    for (size_t r = 0; r < data.rows.size(); ++r) {
      const VisitWound& vw = data.rows[r];
      CaseEntry e;
      e.patient = data.patients[vw.patient];
      e.appt = vw.appt;
      e.dfu = vw.dfu;
      if (data.has_labels) e.label = bundle.schema.class_labels[vw.label];
      e.modalities_used = predicted.used[r];
      if (slot[r] >= 0) {
        const double* p = probs.data() + r * kNumClasses;
        e.prob.assign(p, p + kNumClasses);
        e.decision = bundle.decision.apply_row(p);
        if (explanation) e.top = top_features(*explanation, slot[r], e.decision);
        e.shares = shares[r];
      }
      page.entries.push_back(std::move(e));
    }
    for (const GradCamImage& g : cams)
      page.entries[g.row].images.push_back({fmt::format("{} {}", to_string(g.modality), g.view),
                                            (folder / kGradCamFolder / g.file).string()});
    write_file_atomically((folder / kCasePageFile).string(), render_case_page(page));
  }
  return probs;
}

}  // namespace woundphase

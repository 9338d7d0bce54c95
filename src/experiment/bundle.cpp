// Model bundles: fit on every labelled patient (train_bundle) and save everything needed to
// predict; load them back (load_bundle). Applying them: predict.cpp.
#include "woundphase/bundle.h"

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

#include "experiment/bundle_rows.h"
#include "experiment/fold.h"
#include "experiment/grad_cam.h"
#include "experiment/search_stats.h"  // for fit_job_temperature
#include "woundphase/dataset.h"       // for csv_field
#include "woundphase/explain.h"
#include "woundphase/files.h"
#include "woundphase/metadata_branch.h"
#include "woundphase/modality.h"
#include "woundphase/options_json.h"
#include "woundphase/report.h"  // for render_case_page
#include "woundphase/search.h"
#include "woundphase/search_settings.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

// 2: image branches and fusion heads; 1 (metadata only) still loads.
constexpr int kBundleFormat = 2;
constexpr int kOldestBundleFormat = 1;
constexpr const char* kBundleFile = "bundle.json";
constexpr const char* kFusionFile = "fusion.pt";
constexpr const char* kTrainPredictionsFile = "train_predictions.csv";

std::string xgboost_version() {
  int major = 0;
  int minor = 0;
  int patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  return fmt::format("{}.{}.{}", major, minor, patch);
}

std::string branch_file(Modality m) { return fmt::format("branch_{}.pt", to_string(m)); }

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

}  // namespace woundphase

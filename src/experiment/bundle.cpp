// Model bundles: fit on every labelled patient, save everything needed to predict, apply later.
#include <fmt/format.h>
#include <unistd.h>         // for getpid
#include <xgboost/c_api.h>  // for XGBoostVersion

#include <algorithm>  // for max_element
#include <cmath>      // for NAN, isnan
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>  // for iota
#include <sstream>

#include "experiment/fold.h"
#include "experiment/search_stats.h"  // for fit_job_temperature
#include "woundphase/dataset.h"       // for csv_field
#include "woundphase/experiment.h"
#include "woundphase/options_json.h"

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

}  // namespace

namespace {

std::string branch_file(Modality m) { return fmt::format("branch_{}.pt", to_string(m)); }

// Probabilities for every row of `data` from fitted models (the training process's own or a
// loaded bundle's: the same code, so both give the same numbers). Rows missing an image
// modality the combination needs get NaN.
Probabilities predict_rows(const Combination& combo, const MetadataModel* metadata,
                           const std::vector<ImageModel*>& branches, FusionModel* head,
                           const Dataset& data, const ImageIndex* index, ImageCache* cache) {
  std::vector<int> rows(data.rows.size());
  std::iota(rows.begin(), rows.end(), 0);
  Probabilities meta;
  if (metadata != nullptr) meta = predict_metadata(*metadata, data, rows);
  if (combo.size() == 1 && metadata != nullptr) return meta;

  std::vector<Modality> image_mods;
  for (Modality m : combo)
    if (is_image(m)) image_mods.push_back(m);
  Probabilities out(rows.size() * kNumClasses, NAN);
  if (combo.size() == 1) {
    const BranchFeatures f = branch_features(*index, *cache, image_mods[0], *branches[0], rows);
    for (const auto& [row, slot] : f.slot)
      for (int c = 0; c < kNumClasses; ++c)
        out[row * kNumClasses + c] = f.probs[slot * kNumClasses + c];
    return out;
  }
  std::vector<int> complete = rows;
  for (Modality m : image_mods) complete = rows_with_images(*index, *cache, m, complete);
  if (complete.empty()) return out;
  FusionImages samples;
  samples.fixed.count = static_cast<int>(complete.size());
  std::vector<SampleRef> refs;
  for (size_t i = 0; i < complete.size(); ++i)
    refs.push_back(SampleRef{static_cast<int>(i), -1, 0.0F, 0});
  if (metadata != nullptr) {
    Probabilities p;
    for (int r : complete)
      p.insert(p.end(), meta.begin() + r * kNumClasses, meta.begin() + (r + 1) * kNumClasses);
    samples.fixed.probs.push_back(std::move(p));
    samples.fixed.embeddings.emplace_back();
    samples.images.emplace_back();
  }
  for (size_t i = 0; i < image_mods.size(); ++i) {
    samples.fixed.probs.emplace_back();
    samples.fixed.embeddings.emplace_back();
    samples.images.push_back(gather_samples(
        refs, complete, *index, *cache, image_modality(image_mods[i]), branches[i]->channels()));
  }
  const Probabilities p = head->predict_images(samples);
  for (size_t i = 0; i < complete.size(); ++i)
    for (int c = 0; c < kNumClasses; ++c)
      out[complete[i] * kNumClasses + c] = p[i * kNumClasses + c];
  return out;
}

// The predictions file of predict (and train_predictions.csv); returns the scores of the rows
// that have predictions.
Scores write_predictions(const Schema& schema, const Dataset& data, const Probabilities& probs,
                         const Decision& decision, const std::string& out_csv) {
  const auto& labels = schema.class_labels;
  std::string out = "patient,appt,dfu";
  if (data.has_labels) out += ",label";
  out += fmt::format(",prob_{},prob_{},prob_{},pred\n", labels[0], labels[1], labels[2]);
  std::vector<int> truth;
  std::vector<int> pred;
  for (size_t i = 0; i < data.rows.size(); ++i) {
    const VisitWound& vw = data.rows[i];
    out += fmt::format("{},{},{}", csv_field(data.patients[vw.patient]), vw.appt, vw.dfu);
    if (data.has_labels) out += "," + labels[vw.label];
    const double* p = probs.data() + i * kNumClasses;
    if (std::isnan(p[0])) {
      out += ",,,,\n";  // the row lacks an image modality the bundle needs
      continue;
    }
    const int best = decision.apply_row(p);
    out += fmt::format(",{:.6f},{:.6f},{:.6f},{}\n", p[0], p[1], p[2], labels[best]);
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
  FoldWork::Models models = work.take_models(combo);
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
  const Decision decision =
      fit_decision(settings.decision, stats::apply_temperature(fit_probs, temperature), fit_truth);

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
  if (settings.calibrate == CalibrationMethod::kTemperature)
    manifest["calibration"] = {{"method", to_string(settings.calibrate)},
                               {"temperature", temperature},
                               {"fitted_on_rows", job.oof.size()}};
  manifest["decision"] = {{"rule", to_string(decision.rule)},
                          {"threshold_low", decision.thresholds.low},
                          {"threshold_high", decision.thresholds.high},
                          {"fitted_on_rows", job.oof.size()}};
  write_file_atomically((tmp / kBundleFile).string(), manifest.dump(1));
  // The training process's own predictions for its cohort (predict reproduces them).
  const Probabilities probs = stats::apply_temperature(
      predict_rows(combo, models.metadata ? &*models.metadata : nullptr, branches,
                   models.head.get(), data, images ? &images->index : nullptr,
                   images ? images->cache.get() : nullptr),
      temperature);
  write_predictions(data.schema, data, probs, decision, (tmp / kTrainPredictionsFile).string());

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
      std::vector<FusionSource> sources;
      std::vector<const ImageModel*> models;
      size_t next = 0;
      for (Modality m : b.combination) {
        if (!is_image(m)) {
          sources.push_back({to_string(m), 0});
          models.push_back(nullptr);
          continue;
        }
        sources.push_back({to_string(m), b.branches.at(next)->embedding_dim()});
        models.push_back(b.branches.at(next++).get());
      }
      b.head = create_fusion_model(fs, sources, models);
      b.head->load((fs::path(bundle_dir) / f.at("file").get<std::string>()).string());
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

Probabilities predict_bundle(const Bundle& bundle, const Dataset& data, const std::string& out_csv,
                             Scores* scores, int threads) {
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
    images = bundle_images(data, bundle.combination, bundle.preprocess, threads);
  }
  std::vector<ImageModel*> branches;
  for (const auto& m : bundle.branches) branches.push_back(m.get());
  const Probabilities probs = stats::apply_temperature(
      predict_rows(bundle.combination, bundle.metadata ? &*bundle.metadata : nullptr, branches,
                   bundle.head.get(), data, images ? &images->index : nullptr,
                   images ? images->cache.get() : nullptr),
      bundle.temperature);
  const Scores s = write_predictions(bundle.schema, data, probs, bundle.decision, out_csv);
  if (scores != nullptr && data.has_labels) *scores = s;
  return probs;
}

}  // namespace woundphase

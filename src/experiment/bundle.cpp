// Model bundles: fit on every labelled patient, save everything needed to predict, apply later.
#include <fmt/format.h>
#include <unistd.h>         // for getpid
#include <xgboost/c_api.h>  // for XGBoostVersion

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>  // for iota
#include <sstream>

#include "experiment/csv_text.h"
#include "woundphase/experiment.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

constexpr int kBundleFormat = 1;
constexpr const char* kBundleFile = "bundle.json";

std::string xgboost_version() {
  int major = 0;
  int minor = 0;
  int patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  return fmt::format("{}.{}.{}", major, minor, patch);
}

}  // namespace

void train_bundle(const Dataset& data, const TrainSettings& settings,
                  const std::string& bundle_dir) {
  settings.tabular.validate();
  if (!data.has_labels)
    throw InputError(fmt::format("{}: training needs labels", data.metadata_path));
  for (Modality m : settings.combination)
    if (m != Modality::kMetadata)
      throw InputError(fmt::format(
          "--modalities: '{}' needs the image branches, which this build does not have yet",
          to_string(settings.combination)));
  std::vector<int> rows(data.rows.size());
  std::iota(rows.begin(), rows.end(), 0);
  const MetadataModel model =
      fit_metadata(data, rows, data.labels(), settings.tabular, settings.seed);

  SearchSettings recorded;
  recorded.tabular = settings.tabular;
  recorded.seed = settings.seed;
  recorded.combinations = {settings.combination};
  const nlohmann::json manifest = {
      {"format", kBundleFormat},
      {"software", {{"woundphase", WOUNDPHASE_VERSION_STRING}, {"xgboost", xgboost_version()}}},
      {"modalities", to_string(settings.combination)},
      {"schema", data.schema.to_json()},
      {"settings", recorded.to_json()},
      {"training_data",
       {{"metadata_file", data.metadata_path},
        {"fingerprint", file_fingerprint(data.metadata_path)},
        {"rows", data.rows.size()},
        {"patients", data.patients.size()}}},
      {"encoder", model.encoder.to_json()},
      {"model", model.model->to_json()}};

  // Written into a sibling temporary folder and renamed, so an existing bundle is replaced only
  // by a complete one.
  const fs::path target = fs::absolute(bundle_dir);
  if (fs::exists(target) && !fs::is_directory(target))
    throw InputError(fmt::format("{}: exists and is not a folder", bundle_dir));
  if (fs::exists(target) && !fs::exists(target / kBundleFile) && !fs::is_empty(target))
    throw InputError(fmt::format(
        "{}: folder exists and is not a woundphase bundle; refusing to overwrite it", bundle_dir));
  const fs::path tmp =
      target.parent_path() / fmt::format(".{}.tmp.{}", target.filename().string(), getpid());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) throw InputError(fmt::format("{}: cannot create ({})", tmp.string(), ec.message()));
  write_file_atomically((tmp / kBundleFile).string(), manifest.dump(1));
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
    if (b.manifest.at("format").get<int>() != kBundleFormat)
      throw InputError(fmt::format("{}: bundle format {} is not supported (expected {})",
                                   file.string(), b.manifest.at("format").get<int>(),
                                   kBundleFormat));
    b.schema = Schema::from_json(b.manifest.at("schema"));
    b.combination.clear();
    std::stringstream combo(b.manifest.at("modalities").get<std::string>());
    for (std::string name; std::getline(combo, name, '+');)
      b.combination.push_back(parse_modality(name));
    b.metadata.encoder = FeatureEncoder::from_json(b.manifest.at("encoder"));
    b.metadata.model = tree_model_from_json(b.manifest.at("model"));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: damaged bundle ({})", file.string(), e.what()));
  }
  return b;
}

Probabilities predict_bundle(const Bundle& bundle, const Dataset& data, const std::string& out_csv,
                             Scores* scores) {
  std::vector<int> rows(data.rows.size());
  std::iota(rows.begin(), rows.end(), 0);
  const Probabilities probs = predict_metadata(bundle.metadata, data, rows);
  const std::vector<int> pred = argmax(probs);
  const auto& labels = bundle.schema.class_labels;
  std::string out = "patient,appt,dfu";
  if (data.has_labels) out += ",label";
  out += fmt::format(",prob_{},prob_{},prob_{},pred\n", labels[0], labels[1], labels[2]);
  std::vector<int> truth;
  for (size_t i = 0; i < rows.size(); ++i) {
    const VisitWound& vw = data.rows[i];
    out += fmt::format("{},{},{}", csv_field(data.patients[vw.patient]), vw.appt, vw.dfu);
    if (data.has_labels) {
      out += "," + labels[vw.label];
      truth.push_back(vw.label);
    }
    out += fmt::format(",{:.6f},{:.6f},{:.6f},{}\n", probs[i * kNumClasses],
                       probs[i * kNumClasses + 1], probs[i * kNumClasses + 2], labels[pred[i]]);
  }
  const fs::path parent = fs::absolute(out_csv).parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  write_file_atomically(out_csv, out);
  if (scores != nullptr && data.has_labels) *scores = score(truth, pred);
  return probs;
}

}  // namespace woundphase

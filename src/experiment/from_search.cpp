// train --from-search: a search's recorded settings and ranking (from_search.h).
#include "woundphase/from_search.h"

#include <fmt/format.h>

#include <algorithm>  // for stable_sort, any_of
#include <filesystem>
#include <fstream>
#include <sstream>

#include "woundphase/experiment_options.h"  // for train_options, tabular_options, image_branch_options
#include "woundphase/fusion.h"              // for fusion_options
#include "woundphase/images.h"              // for preprocess_options, image_limits_options
#include "woundphase/options_json.h"
#include "woundphase/sampling.h"  // for sampling_options
#include "woundphase/tabular.h"   // for forest_options, gbdt_options
#include "woundphase/vision.h"    // for vision_options

namespace fs = std::filesystem;

namespace woundphase {
namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw InputError(
        fmt::format("{}: cannot read it (is this a finished search's output folder? "
                    "report --run says what an interrupted one holds)",
                    path));
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON ({})", path, e.what()));
  }
}

// results.csv's combinations by rank; searches written before the rank column existed are
// ranked as the report ranks them (QWK on common rows, best first, ties by name).
std::vector<std::string> ranked_combinations(const std::string& path) {
  const CsvTable t = read_csv(path);
  const int name = t.column_index("modalities");
  const int rank = t.column_index("rank");
  const int qwk = t.column_index("qwk_common_mean");
  if (name < 0 || (rank < 0 && qwk < 0))
    throw InputError(
        fmt::format("{}:1: not a search's results.csv (no modalities and rank)", path));
  struct Row {
    std::string name;
    double key;
  };
  std::vector<Row> rows;
  for (const auto& r : t.rows) {
    if (r[name] == kEnsembleName) continue;
    const double key = rank >= 0 ? std::stod(r[rank]) : -std::stod(r[qwk]);
    rows.push_back({r[name], key});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.key != b.key) return a.key < b.key;
    return a.name < b.name;
  });
  std::vector<std::string> out;
  for (const Row& r : rows) out.push_back(r.name);
  return out;
}

// `search.data` (or `demo.data`) of OUT/config.toml when it is an absolute path; "" otherwise.
std::string recorded_data_dir(const std::string& out_dir) {
  std::ifstream in(fs::path(out_dir) / "config.toml");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("search.data=", 0) != 0) continue;
    std::string value = line.substr(line.find('=') + 1);
    if (value.size() < 2) return "";
    value = value.substr(1, value.size() - 2);  // the quotes
    return fs::path(value).is_absolute() ? value : "";
  }
  return "";
}

}  // namespace

SearchRecord read_search_record(const std::string& out_dir) {
  SearchRecord record;
  record.out_dir = out_dir;
  const std::string settings_path = (fs::path(out_dir) / "settings.json").string();
  const nlohmann::json j = read_json(settings_path);
  try {
    record.settings = j.at("settings");
    record.schema = Schema::from_json(j.at("schema"));
    record.data_dir =
        fs::path(j.at("data").at("metadata_file").get<std::string>()).parent_path().string();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: not a search's settings ({})", settings_path, e.what()));
  }
  if (record.data_dir.empty()) record.data_dir = ".";
  // settings.json has the path as typed, relative to where the search ran; config.toml has it
  // absolute (searches since config paths resolve against the config file's folder).
  if (const std::string d = recorded_data_dir(out_dir); !d.empty()) record.data_dir = d;
  record.ranked = ranked_combinations((fs::path(out_dir) / "results.csv").string());
  if (record.ranked.empty()) throw InputError(fmt::format("{}: no combination to train", out_dir));
  return record;
}

TrainSettings train_settings_from_search(const SearchRecord& record,
                                         const Combination& combination) {
  const nlohmann::json& s = record.settings;
  TrainSettings t;
  t.combination = combination;
  try {
    options_from_json(train_options(), t, s);  // seed, calibrate
    options_from_json(tabular_options(), t.tabular, s);
    options_from_json(sampling_options(), t.tabular.sampling, s);
    options_from_json(forest_options(), t.tabular.forest, s.at("forest"));
    options_from_json(gbdt_options(), t.tabular.gbdt, s.at("gbdt"));
    const bool images = std::any_of(combination.begin(), combination.end(), is_image);
    if (images) {
      if (!s.contains("images"))
        throw InputError(fmt::format("{}: the search recorded no image settings for {}",
                                     record.out_dir, to_string(combination)));
      const nlohmann::json& im = s.at("images");
      options_from_json(vision_options(), t.images.vision, im);
      options_from_json(preprocess_options(), t.images.preprocess, im);
      options_from_json(image_limits_options(), t.images.preprocess.limits, im);
      options_from_json(image_branch_options(), t.images, im);
      const nlohmann::json& a = im.at("augment");
      t.images.augment.flips = a.at("flips").get<bool>();
      t.images.augment.rotation_deg = a.at("rotation_deg").get<double>();
      t.images.augment.brightness = a.at("brightness").get<double>();
      t.images.augment.contrast = a.at("contrast").get<double>();
      t.images.augment.noise = a.at("noise").get<double>();
    }
    if (combination.size() > 1) {
      if (!s.contains("fusion"))
        throw InputError(fmt::format("{}: the search recorded no fusion settings for {}",
                                     record.out_dir, to_string(combination)));
      options_from_json(fusion_options(), t.fusion, s.at("fusion"));
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}/settings.json: {}", record.out_dir, e.what()));
  }
  return t;
}

}  // namespace woundphase

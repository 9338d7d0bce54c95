// ConfigFile: key spellings and relative paths of config_file.h.
#include "config_file.h"

#include <algorithm>  // for replace, find
#include <filesystem>

namespace fs = std::filesystem;

namespace woundphase::app {
namespace {

// Options holding a folder or file, by "subcommand.option" or a bare option name (any
// subcommand). `model` is a path only for predict: elsewhere it names the tree model.
const std::vector<std::string>& path_keys() {
  static const std::vector<std::string> keys = {"data",        "schema",      "out",
                                                "from",        "from-search", "image-cache",
                                                "gen-aug-dir", "run",         "predict.model"};
  return keys;
}

// CLI11 marks entering and leaving a [section] with these item names.
bool section_marker(const std::string& name) { return name == "++" || name == "--"; }

}  // namespace

bool is_path_key(const std::string& key) {
  const auto& keys = path_keys();
  if (std::find(keys.begin(), keys.end(), key) != keys.end()) return true;
  const size_t dot = key.rfind('.');
  if (dot == std::string::npos) return false;
  const std::string name = key.substr(dot + 1);
  return name != "model" && std::find(keys.begin(), keys.end(), name) != keys.end();
}

std::vector<CLI::ConfigItem> ConfigFile::from_config(std::istream& input) const {
  std::vector<CLI::ConfigItem> items = CLI::ConfigTOML::from_config(input);
  for (CLI::ConfigItem& item : items) {
    if (section_marker(item.name)) continue;
    // Python users type cv_folds; the options are --cv-folds.
    std::replace(item.name.begin(), item.name.end(), '_', '-');
    if (!is_path_key(item.fullname()) || config_dir_.empty()) continue;
    for (std::string& value : item.inputs)
      if (!value.empty() && fs::path(value).is_relative())
        value = (fs::path(config_dir_) / value).lexically_normal().string();
  }
  return items;
}

std::string config_path_in(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) return args[i].substr(9);
  }
  return "";
}

}  // namespace woundphase::app

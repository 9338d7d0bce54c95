// ConfigFile: key spellings, relative paths and per-modality tables of config_file.h.
#include "config_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // for join

#include <algorithm>  // for replace, find
#include <filesystem>
#include <iterator>  // for istreambuf_iterator
#include <map>
#include <sstream>

#include "woundphase/experiment_options.h"
#include "woundphase/images.h"  // for kImageModalities

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

// Python users type cv_folds; the options are --cv-folds.
std::string dashed(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

std::string trimmed(const std::string& s) {
  const size_t first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

// Where each table header and each key of a TOML text is (1-based lines), as CLI11 names them:
// tables by their dotted name ("search.thermal_map"), keys by table and key ("search.
// thermal_map.backbone", the last part dashed). CLI11's items carry no line numbers.
struct Lines {
  std::map<std::string, int> tables;
  std::map<std::string, int> keys;
};

Lines locate(const std::string& text) {
  Lines out;
  std::istringstream in(text);
  std::string table;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const std::string t = trimmed(line);
    if (t.empty() || t.front() == '#') continue;
    if (t.front() == '[' && t.back() == ']') {
      table = t.substr(1, t.size() - 2);
      if (table.size() > 1 && table.front() == '[' && table.back() == ']')
        table = table.substr(1, table.size() - 2);
      table = trimmed(table);
      out.tables.emplace(table, number);
      continue;
    }
    const size_t eq = t.find('=');
    if (eq == std::string::npos) continue;
    std::string key = trimmed(t.substr(0, eq));
    if (!table.empty()) key = table + "." + key;
    const size_t dot = key.rfind('.');
    key = dot == std::string::npos ? dashed(key)
                                   : key.substr(0, dot + 1) + dashed(key.substr(dot + 1));
    out.keys.emplace(key, number);
  }
  return out;
}

std::string joined(const std::vector<std::string>& parts, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to; ++i) out += (i > from ? "." : "") + parts[i];
  return out;
}

bool takes_per_modality_value(const std::string& flag) {
  const std::vector<std::string> flags = per_modality_flags();
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

// The per-modality knobs as a config file spells them ("image_learning_rate").
std::vector<std::string> per_modality_keys() {
  std::vector<std::string> keys;
  for (std::string flag : per_modality_flags()) {
    flag = flag.substr(2);
    std::replace(flag.begin(), flag.end(), '-', '_');
    keys.push_back(flag);
  }
  return keys;
}

bool is_image_modality(const std::string& name) {
  for (ImageModality m : kImageModalities)
    if (name == to_string(m)) return true;
  return false;
}

}  // namespace

bool is_path_key(const std::string& key) {
  const auto& keys = path_keys();
  if (std::find(keys.begin(), keys.end(), key) != keys.end()) return true;
  const size_t dot = key.rfind('.');
  if (dot == std::string::npos) return false;
  const std::string name = key.substr(dot + 1);
  return name != "model" && std::find(keys.begin(), keys.end(), name) != keys.end();
}

ConfigFile::ConfigFile(std::string config_path) : config_path_(std::move(config_path)) {
  if (!config_path_.empty()) config_dir_ = fs::path(config_path_).parent_path().string();
}

std::vector<CLI::ConfigItem> ConfigFile::from_config(std::istream& input) const {
  const std::string text((std::istreambuf_iterator<char>(input)), std::istreambuf_iterator<char>());
  std::istringstream copy(text);
  std::vector<CLI::ConfigItem> items = CLI::ConfigTOML::from_config(copy);
  for (CLI::ConfigItem& item : items) {
    if (section_marker(item.name)) continue;
    item.name = dashed(item.name);
    if (!is_path_key(item.fullname()) || config_dir_.empty()) continue;
    for (std::string& value : item.inputs)
      if (!value.empty() && fs::path(value).is_relative())
        value = (fs::path(config_dir_) / value).lexically_normal().string();
  }
  return per_modality_tables(std::move(items), text);
}

std::vector<CLI::ConfigItem> ConfigFile::per_modality_tables(std::vector<CLI::ConfigItem> items,
                                                             const std::string& text) const {
  const Lines lines = locate(text);
  // "FILE:LINE: [TABLE]", LINE the key's (or the table header's, with `at_table`, when the
  // table has one: a dotted key may stand in a parent table).
  auto where = [&](const std::string& table, const std::string& key, bool at_table) {
    const auto k = lines.keys.find(key);
    const auto t = lines.tables.find(table);
    int line = k != lines.keys.end() ? k->second : 0;
    if (t != lines.tables.end() && (at_table || line == 0)) line = t->second;
    return fmt::format("{}:{}: [{}]", config_path_.empty() ? "config" : config_path_, line, table);
  };
  std::vector<CLI::ConfigItem> out;
  // [SUBCOMMAND.MODALITY] knob = VALUE is SUBCOMMAND's knob = "MODALITY=VALUE": the items of
  // one knob joined after its plain value, in one item at the place of the first.
  std::map<std::string, size_t> merged;  // "subcommand.knob" -> index in `out`
  for (CLI::ConfigItem& item : items) {
    if (item.parents.size() < 2) {
      out.push_back(std::move(item));
      if (!section_marker(out.back().name) && out.back().parents.size() == 1)
        merged.emplace(out.back().fullname(), out.size() - 1);
      continue;
    }
    if (section_marker(item.name)) continue;  // the nested table's own markers
    const std::string table = joined(item.parents, 0, 2);
    const std::string& modality = item.parents[1];
    if (!is_image_modality(modality)) {
      std::vector<std::string> names;
      for (ImageModality m : kImageModalities) names.emplace_back(to_string(m));
      throw CLI::ConfigError(fmt::format("{}: '{}' is not an image modality ({})",
                                         where(table, table + "." + item.name, true), modality,
                                         fmt::join(names, ", ")));
    }
    if (item.parents.size() > 2 || !takes_per_modality_value("--" + item.name))
      throw CLI::ConfigError(fmt::format(
          "{}: '{}' takes no per-modality value (those that do: {})",
          where(table, joined(item.parents, 0, item.parents.size()) + "." + item.name, false),
          joined(item.parents, 2, item.parents.size()) + (item.parents.size() > 2 ? "." : "") +
              item.name,
          fmt::join(per_modality_keys(), ", ")));
    const std::string value = modality + "=" + fmt::format("{}", fmt::join(item.inputs, ","));
    const std::string key = item.parents[0] + "." + item.name;
    const auto at = merged.find(key);
    if (at != merged.end()) {
      CLI::ConfigItem& target = out[at->second];
      const std::string before = fmt::format("{}", fmt::join(target.inputs, ","));
      target.inputs = {before.empty() ? value : before + "," + value};
      continue;
    }
    CLI::ConfigItem plain;
    plain.parents = {item.parents[0]};
    plain.name = item.name;
    plain.inputs = {value};
    out.push_back(std::move(plain));
    merged.emplace(key, out.size() - 1);
  }
  return out;
}

std::string config_path_in(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) return args[i].substr(9);
  }
  return "";
}

}  // namespace woundphase::app

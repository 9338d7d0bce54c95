// The dataset schema: the DFU preset and TOML overrides.
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>  // for find
#include <cctype>     // for isalpha, tolower
#include <nlohmann/json.hpp>
#include <set>

#include "woundphase/dataset.h"

namespace woundphase {

Schema Schema::dfu() {
  Schema s;
  // Restating the label (Healing Phase, Phase Confidence), identifiers (ID, Patient#, DFU#), the
  // visit date offset (Appt Days) and free text (Location) must never be features.
  s.excluded_columns = {
      "Healing Phase", "Phase Confidence (%)", "ID", "Patient#", "Appt Days", "Location", "DFU#"};
  // Treatments are chosen after the wound is seen, so they leak the clinician's judgement of its
  // phase (the predecessor dropped them too); the raw pain types are free-form spellings of the
  // grouped ones. Excluding them cost nothing on the DFU data (README, "Default columns"); a
  // --schema file with `replace_excluded = true` and its own list puts them back (they stay
  // categorical below).
  const std::vector<std::string> treatments_and_raw_pain = {
      "Dressing",
      "No Offloading",
      "Offloading: Therapeutic Footwear",
      "Offloading: Scotcast Boot or RCW",
      "Offloading: Half Shoes or Sandals",
      "Offloading: Total Contact Cast",
      "Offloading: Crutches, Walkers or Wheelchairs",
      "Offloading Score",
      "Type of Pain",
      "Type of Pain2",
      "Type of Pain_Grouped2"};
  s.excluded_columns.insert(s.excluded_columns.end(), treatments_and_raw_pain.begin(),
                            treatments_and_raw_pain.end());
  // The label restated: excluded even when a schema file replaces the list (allow_label_restating
  // is the explicit way back).
  s.label_restating_columns = {"Healing Phase", "Phase Confidence (%)"};
  s.categorical_columns = {"Sex (F:0, M:1)",
                           "Side (Left:0, Right:1)",
                           "Foot Aspect",
                           "Location Grouped (Hallux:1,Toes,Middle,Heel,Ankle:5)",
                           "Type of Pain",
                           "Type of Pain Grouped",
                           "Type of Pain2",
                           "Type of Pain_Grouped2",
                           "Exudate Appearance (Serous:1,Haemoserous,Bloody,Thick:4)",
                           "Odor",
                           "Dressing",
                           "Dressing Grouped"};
  return s;
}

namespace {

std::vector<std::string> string_list(const toml::node& node, const std::string& path,
                                     const std::string& key) {
  const auto* arr = node.as_array();
  if (arr == nullptr)
    throw InputError(fmt::format("{}: key '{}' must be an array of strings", path, key));
  std::vector<std::string> out;
  for (const auto& item : *arr) {
    const auto value = item.value<std::string>();
    if (!value)
      throw InputError(fmt::format("{}:{}: key '{}' must contain only strings", path,
                                   item.source().begin.line, key));
    out.push_back(*value);
  }
  return out;
}

}  // namespace

Schema Schema::from_toml_file(const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{}:{}:{}: {}", path, e.source().begin.line,
                                 e.source().begin.column, e.description()));
  }
  Schema s = dfu();
  const std::vector<std::string> preset_excluded = s.excluded_columns;
  bool replace_excluded = false;
  const std::map<std::string, std::string*> strings = {{"metadata_file", &s.metadata_file},
                                                       {"patient_column", &s.patient_column},
                                                       {"visit_column", &s.visit_column},
                                                       {"wound_column", &s.wound_column},
                                                       {"label_column", &s.label_column}};
  const std::map<std::string, std::vector<std::string>*> lists = {
      {"class_labels", &s.class_labels},
      {"excluded_columns", &s.excluded_columns},
      {"categorical_columns", &s.categorical_columns},
      {"missing_tokens", &s.missing_tokens},
      {"allow_label_restating", &s.allow_label_restating}};
  for (const auto& [key, node] : table) {
    const std::string k(key.str());
    if (k == "replace_excluded") {
      const auto value = node.value<bool>();
      if (!value)
        throw InputError(fmt::format("{}:{}: key 'replace_excluded' must be true or false", path,
                                     node.source().begin.line));
      replace_excluded = *value;
    } else if (auto it = strings.find(k); it != strings.end()) {
      const auto value = node.value<std::string>();
      if (!value)
        throw InputError(
            fmt::format("{}:{}: key '{}' must be a string", path, node.source().begin.line, k));
      *it->second = *value;
    } else if (auto jt = lists.find(k); jt != lists.end()) {
      *jt->second = string_list(node, path, k);
    } else {
      throw InputError(
          fmt::format("{}:{}: unknown schema key '{}' (known: metadata_file, "
                      "patient_column, visit_column, wound_column, label_column, "
                      "class_labels, excluded_columns, replace_excluded, "
                      "allow_label_restating, categorical_columns, missing_tokens)",
                      path, node.source().begin.line, k));
    }
  }
  // A study's own list usually names its extra identifiers; dropping the preset's exclusions
  // (which include restatements of the label) must be asked for.
  if (!replace_excluded) {
    std::vector<std::string> merged = preset_excluded;
    for (const std::string& c : s.excluded_columns)
      if (std::find(merged.begin(), merged.end(), c) == merged.end()) merged.push_back(c);
    s.excluded_columns = std::move(merged);
  }
  if (s.class_labels.size() != static_cast<size_t>(kNumClasses))
    throw InputError(fmt::format("{}: class_labels must list exactly {} labels, lowest phase first",
                                 path, kNumClasses));
  if (std::set<std::string>(s.class_labels.begin(), s.class_labels.end()).size() !=
      s.class_labels.size())
    throw InputError(fmt::format("{}: class_labels must be distinct", path));
  return s;
}

namespace {

bool listed(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

// Lower-case words of at least `kMinWordLetters` letters ("Healing Phase Abs" -> healing, phase):
// shorter ones ("Abs", "of", "%") are too common to mean anything.
constexpr size_t kMinWordLetters = 4;

std::set<std::string> name_words(const std::string& name) {
  std::set<std::string> words;
  std::string word;
  for (size_t i = 0; i <= name.size(); ++i) {
    const unsigned char c = i < name.size() ? static_cast<unsigned char>(name[i]) : ' ';
    if (std::isalpha(c) != 0) {
      word += static_cast<char>(std::tolower(c));
      continue;
    }
    if (word.size() >= kMinWordLetters) words.insert(word);
    word.clear();
  }
  return words;
}

}  // namespace

bool Schema::excluded(const std::string& name) const {
  if (listed(excluded_columns, name)) return true;
  return listed(label_restating_columns, name) && !listed(allow_label_restating, name);
}

bool Schema::looks_label_restating(const std::string& name) const {
  if (name == label_column || listed(allow_label_restating, name)) return false;
  if (listed(label_restating_columns, name)) return true;
  const std::set<std::string> label_words = name_words(label_column);
  for (const std::string& w : name_words(name))
    if (label_words.count(w) > 0) return true;
  return false;
}

nlohmann::json Schema::to_json() const {
  return {{"metadata_file", metadata_file},
          {"patient_column", patient_column},
          {"visit_column", visit_column},
          {"wound_column", wound_column},
          {"label_column", label_column},
          {"class_labels", class_labels},
          {"excluded_columns", excluded_columns},
          {"label_restating_columns", label_restating_columns},
          {"allow_label_restating", allow_label_restating},
          {"categorical_columns", categorical_columns},
          {"missing_tokens", missing_tokens}};
}

Schema Schema::from_json(const nlohmann::json& j) {
  Schema s;
  s.metadata_file = j.at("metadata_file").get<std::string>();
  s.patient_column = j.at("patient_column").get<std::string>();
  s.visit_column = j.at("visit_column").get<std::string>();
  s.wound_column = j.at("wound_column").get<std::string>();
  s.label_column = j.at("label_column").get<std::string>();
  s.class_labels = j.at("class_labels").get<std::vector<std::string>>();
  s.excluded_columns = j.at("excluded_columns").get<std::vector<std::string>>();
  s.categorical_columns = j.at("categorical_columns").get<std::vector<std::string>>();
  s.missing_tokens = j.at("missing_tokens").get<std::vector<std::string>>();
  // Files written before these keys existed: nothing restates, nothing is allowed.
  s.label_restating_columns = j.value("label_restating_columns", std::vector<std::string>{});
  s.allow_label_restating = j.value("allow_label_restating", std::vector<std::string>{});
  return s;
}

int label_index(const Schema& schema, const std::string& text) {
  for (size_t i = 0; i < schema.class_labels.size(); ++i)
    if (schema.class_labels[i] == text) return static_cast<int>(i);
  return -1;
}

}  // namespace woundphase

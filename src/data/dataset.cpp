// Loading the metadata table into visit-wound rows, and encoding features for the tree models.
#include "woundphase/dataset.h"

#include <fmt/format.h>

#include <algorithm>  // for find, sort
#include <cerrno>     // for errno
#include <cfloat>     // for FLT_MAX
#include <cstdlib>    // for strtod, strtol
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

namespace fs = std::filesystem;

namespace woundphase {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Context for error messages: file, line, column name and 1-based column number.
struct Where {
  const std::string& path;
  long line;
  const std::string& column;
  int column_number;
  std::string str() const {
    return fmt::format("{}:{}: column '{}' ({})", path, line, column, column_number);
  }
};

long parse_integer(const std::string& text, const Where& where) {
  if (text.empty())
    throw InputError(fmt::format("{}: value is missing (an integer is required)", where.str()));
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  // Accept "3" and "3.0" (spreadsheets write integers as floats), nothing else.
  if (end != text.c_str() + text.size() || errno == ERANGE || value != static_cast<long>(value))
    throw InputError(fmt::format("{}: expected an integer, got '{}'", where.str(), text));
  return static_cast<long>(value);
}

float parse_number(const std::string& text, const Where& where) {
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size())
    throw InputError(
        fmt::format("{}: expected a number, got '{}' (list the column in "
                    "categorical_columns of a --schema file if it is text)",
                    where.str(), text));
  if (!std::isfinite(value) || errno == ERANGE || std::fabs(value) > FLT_MAX)
    throw InputError(
        fmt::format("{}: '{}' is not a finite number in range (leave the field "
                    "blank for a missing value)",
                    where.str(), text));
  return static_cast<float>(value);
}

// Leading zeros are spelling, not identity: "003" in the image CSVs is patient "3" here.
std::string normalise_id(const std::string& text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), ::isdigit)) return text;
  const auto nz = text.find_first_not_of('0');
  return nz == std::string::npos ? "0" : text.substr(nz);
}

}  // namespace

std::vector<int> Dataset::labels() const {
  std::vector<int> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(r.label);
  return out;
}

std::vector<int> Dataset::patient_of_rows() const {
  std::vector<int> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(r.patient);
  return out;
}

Dataset load_dataset(const std::string& dir, const Schema& schema, bool require_labels) {
  if (!fs::is_directory(dir)) throw InputError(fmt::format("{}: data folder not found", dir));
  const std::string path = (fs::path(dir) / schema.metadata_file).string();
  if (!fs::exists(path))
    throw InputError(
        fmt::format("{}: metadata file '{}' not found (set metadata_file in a "
                    "--schema file if the study names it differently)",
                    dir, schema.metadata_file));
  const CsvTable table = read_csv(path);

  auto required = [&](const std::string& name, const char* role) {
    const int idx = table.column_index(name);
    if (idx < 0)
      throw InputError(
          fmt::format("{}:1: missing required column '{}' ({}); the header has {} "
                      "columns",
                      path, name, role, table.header.size()));
    return idx;
  };
  const int patient_col = required(schema.patient_column, "patient id");
  const int visit_col = required(schema.visit_column, "visit number");
  const int wound_col = required(schema.wound_column, "wound number");
  int label_col = table.column_index(schema.label_column);
  if (label_col < 0 && require_labels) required(schema.label_column, "label");

  Dataset data;
  data.dir = dir;
  data.metadata_path = path;
  data.schema = schema;
  data.has_labels = label_col >= 0;

  std::vector<int> feature_cols;
  for (size_t c = 0; c < table.header.size(); ++c) {
    const std::string& name = table.header[c];
    if (static_cast<int>(c) == patient_col || static_cast<int>(c) == label_col) continue;
    if (contains(schema.excluded_columns, name)) continue;
    feature_cols.push_back(static_cast<int>(c));
    data.feature_names.push_back(name);
    data.feature_kinds.push_back(contains(schema.categorical_columns, name)
                                     ? FeatureKind::kCategorical
                                     : FeatureKind::kNumeric);
  }

  auto is_missing_text = [&](const std::string& v) {
    return v.empty() || contains(schema.missing_tokens, v);
  };

  // First pass: keys, labels and duplicates; rows kept in file order.
  std::map<std::tuple<std::string, long, long>, size_t> seen;  // key -> index into kept rows
  std::vector<size_t> kept;                                    // table row per dataset row
  std::unordered_map<std::string, int> patient_index;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const auto& fields = table.rows[r];
    const long line = table.line_of_row[r];
    const std::string pid = normalise_id(trim(fields[patient_col]));
    if (is_missing_text(pid))
      throw InputError(
          fmt::format("{}: patient id is missing",
                      Where{path, line, schema.patient_column, patient_col + 1}.str()));
    const long appt = parse_integer(trim(fields[visit_col]),
                                    Where{path, line, schema.visit_column, visit_col + 1});
    const long dfu = parse_integer(trim(fields[wound_col]),
                                   Where{path, line, schema.wound_column, wound_col + 1});
    int label = -1;
    if (label_col >= 0) {
      const std::string text = trim(fields[label_col]);
      const Where where{path, line, schema.label_column, label_col + 1};
      if (is_missing_text(text))
        throw InputError(fmt::format("{}: label is missing (every row needs one of {})",
                                     where.str(), fmt::join(schema.class_labels, ", ")));
      label = label_index(schema, text);
      if (label < 0)
        throw InputError(fmt::format("{}: unknown label '{}' (expected one of {})", where.str(),
                                     text, fmt::join(schema.class_labels, ", ")));
    }
    const auto key = std::make_tuple(pid, appt, dfu);
    if (auto it = seen.find(key); it != seen.end()) {
      const VisitWound& first = data.rows[it->second];
      if (first.label != label)
        throw InputError(
            fmt::format("{}:{}: visit-wound (patient {}, visit {}, wound {}) appears again "
                        "with label '{}' but line {} gives '{}'",
                        path, line, pid, appt, dfu, schema.class_labels[label], first.line,
                        schema.class_labels[first.label]));
      data.warnings.push_back(
          fmt::format("{}:{}: duplicate of visit-wound (patient {}, visit {}, wound {}) "
                      "at line {} with the same label; kept the first",
                      path, line, pid, appt, dfu, first.line));
      continue;
    }
    auto [pit, inserted] = patient_index.emplace(pid, static_cast<int>(data.patients.size()));
    if (inserted) data.patients.push_back(pid);
    seen.emplace(key, data.rows.size());
    data.rows.push_back(VisitWound{pit->second, appt, dfu, label, line});
    kept.push_back(r);
  }
  if (data.rows.empty()) throw InputError(fmt::format("{}: no data rows after the header", path));

  // Second pass: feature values.
  data.numeric = Matrix(data.rows.size(), feature_cols.size());
  data.text.assign(feature_cols.size(), {});
  for (size_t f = 0; f < feature_cols.size(); ++f) {
    const int col = feature_cols[f];
    const bool categorical = data.feature_kinds[f] == FeatureKind::kCategorical;
    if (categorical) data.text[f].resize(data.rows.size());
    for (size_t i = 0; i < data.rows.size(); ++i) {
      const std::string value = trim(table.rows[kept[i]][col]);
      if (is_missing_text(value)) continue;
      if (categorical) {
        data.text[f][i] = value;
      } else {
        data.numeric.at(i, f) =
            parse_number(value, Where{path, data.rows[i].line, table.header[col], col + 1});
      }
    }
  }
  return data;
}

void FeatureEncoder::fit(const Dataset& data, const std::vector<int>& rows) {
  features_.clear();
  for (size_t f = 0; f < data.feature_names.size(); ++f) {
    FeatureInfo info;
    info.name = data.feature_names[f];
    info.kind = data.feature_kinds[f];
    if (info.kind == FeatureKind::kCategorical) {
      std::set<std::string> values;
      for (int r : rows)
        if (!data.text[f][r].empty()) values.insert(data.text[f][r]);
      info.categories.assign(values.begin(), values.end());
    }
    features_.push_back(std::move(info));
  }
}

Matrix FeatureEncoder::transform(const Dataset& data, const std::vector<int>& rows) const {
  Matrix out(rows.size(), features_.size());
  for (size_t f = 0; f < features_.size(); ++f) {
    const FeatureInfo& info = features_[f];
    const auto it = std::find(data.feature_names.begin(), data.feature_names.end(), info.name);
    if (it == data.feature_names.end())
      throw InputError(fmt::format("{}: column '{}' used by the model is missing",
                                   data.metadata_path, info.name));
    const size_t src = static_cast<size_t>(it - data.feature_names.begin());
    if (data.feature_kinds[src] != info.kind)
      throw InputError(fmt::format(
          "{}: column '{}' is {} here but was {} when the model was trained", data.metadata_path,
          info.name, info.kind == FeatureKind::kNumeric ? "text" : "numeric",
          info.kind == FeatureKind::kNumeric ? "numeric" : "text"));
    float* dst = out.column(f);
    if (info.kind == FeatureKind::kNumeric) {
      const float* col = data.numeric.column(src);
      for (size_t i = 0; i < rows.size(); ++i) dst[i] = col[rows[i]];
      continue;
    }
    std::unordered_map<std::string, float> code;
    for (size_t k = 0; k < info.categories.size(); ++k)
      code.emplace(info.categories[k], static_cast<float>(k));
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto c = code.find(data.text[src][rows[i]]);
      dst[i] = c == code.end() ? kMissing : c->second;  // unseen category -> missing, by design
    }
  }
  return out;
}

nlohmann::json FeatureEncoder::to_json() const {
  nlohmann::json features = nlohmann::json::array();
  for (const auto& f : features_)
    features.push_back({{"name", f.name},
                        {"kind", f.kind == FeatureKind::kNumeric ? "numeric" : "categorical"},
                        {"categories", f.categories}});
  return {{"features", features}};
}

FeatureEncoder FeatureEncoder::from_json(const nlohmann::json& j) {
  FeatureEncoder enc;
  for (const auto& f : j.at("features")) {
    FeatureInfo info;
    info.name = f.at("name").get<std::string>();
    info.kind = f.at("kind").get<std::string>() == "numeric" ? FeatureKind::kNumeric
                                                             : FeatureKind::kCategorical;
    info.categories = f.at("categories").get<std::vector<std::string>>();
    enc.features_.push_back(std::move(info));
  }
  return enc;
}

}  // namespace woundphase

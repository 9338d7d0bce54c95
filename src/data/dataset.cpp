// Loading the metadata table into visit-wound rows, and encoding features for the tree models.
#include "woundphase/dataset.h"

#include <fmt/format.h>

#include <algorithm>  // for find, sort
#include <cerrno>     // for errno
#include <cfloat>     // for FLT_MAX
#include <cmath>      // for fabs, isfinite, trunc
#include <cstdlib>    // for strtod, strtol
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>  // for invalid_argument
#include <unordered_map>

#include "woundphase/image_name.h"  // for normalise_patient

namespace fs = std::filesystem;

namespace woundphase {
namespace {

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

// Values echoed in messages are cut to this many bytes (a 1 MB field makes an unreadable message).
constexpr size_t kMaxEchoBytes = 60;
// Integers (visit and wound numbers) are accepted up to this magnitude: exact in a double and in a
// long, so the round trip below is well defined.
constexpr double kMaxInteger = 1e15;

// The value quoted for a message: whole when short, else its start and its length.
std::string shown(const std::string& text) {
  if (text.size() <= kMaxEchoBytes) return "'" + text + "'";
  size_t cut = kMaxEchoBytes;
  // Do not split a UTF-8 sequence: back up to the start of the character.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return fmt::format("'{}...' ({} bytes)", text.substr(0, cut), text.size());
}

// strtod also reads hexadecimal ("0x1A"), which no spreadsheet writes: a column of such codes is
// text, not numbers.
bool is_hexadecimal(const std::string& text) {
  return text.find_first_of("xX") != std::string::npos &&
         text.find_first_of("nN") == std::string::npos;  // not "nan(...)"
}

long parse_integer(const std::string& text, const Where& where) {
  if (text.empty())
    throw InputError(fmt::format("{}: value is missing (an integer is required)", where.str()));
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  // Accept "3" and "3.0" (spreadsheets write integers as floats), nothing else. The range check
  // comes before the cast: casting NaN or a double beyond long's range is undefined.
  if (end != text.c_str() + text.size() || errno == ERANGE || is_hexadecimal(text) ||
      !(std::fabs(value) <= kMaxInteger) || value != std::trunc(value))
    throw InputError(fmt::format("{}: expected an integer, got {}", where.str(), shown(text)));
  if (value < 0)
    throw InputError(
        fmt::format("{}: expected a non-negative integer, got {}", where.str(), shown(text)));
  return static_cast<long>(value);
}

float parse_number(const std::string& text, const Where& where) {
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || is_hexadecimal(text))
    throw InputError(
        fmt::format("{}: expected a number, got {} (list the column in "
                    "categorical_columns of a --schema file if it is text)",
                    where.str(), shown(text)));
  // Overflow is an error; underflow (ERANGE with a tiny result, "1e-50") is a value near 0.
  if (!std::isfinite(value) || std::fabs(value) > FLT_MAX)
    throw InputError(
        fmt::format("{}: {} is not a finite number in range (leave the field "
                    "blank for a missing value)",
                    where.str(), shown(text)));
  return static_cast<float>(value);
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
  // Statuses with error codes: a symlink loop or an unreadable path is bad input, not a crash.
  std::error_code ec;
  const fs::file_status dir_status = fs::status(dir, ec);
  if (dir_status.type() == fs::file_type::none)
    throw InputError(fmt::format("{}: cannot read the data folder ({})", dir, ec.message()));
  if (!fs::exists(dir_status)) throw InputError(fmt::format("{}: data folder not found", dir));
  if (!fs::is_directory(dir_status))
    throw InputError(fmt::format("{}: not a folder (--data takes the study folder that holds '{}')",
                                 dir, schema.metadata_file));
  const std::string path = (fs::path(dir) / schema.metadata_file).string();
  const fs::file_status file_status = fs::status(path, ec);
  if (file_status.type() == fs::file_type::not_found)
    throw InputError(
        fmt::format("{}: metadata file '{}' not found (set metadata_file in a "
                    "--schema file if the study names it differently)",
                    dir, schema.metadata_file));
  return load_dataset_from_table(read_csv(path), schema, require_labels, dir);
}

Dataset load_dataset_from_table(const CsvTable& table, const Schema& schema, bool require_labels,
                                const std::string& dir) {
  const std::string& path = table.path;
  if (table.line_of_row.size() != table.rows.size())
    throw std::invalid_argument("load_dataset_from_table: line_of_row and rows differ in length");
  for (const auto& fields : table.rows)
    if (fields.size() != table.header.size())
      throw std::invalid_argument("load_dataset_from_table: a row and the header differ in width");
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
    if (schema.excluded(name)) continue;
    feature_cols.push_back(static_cast<int>(c));
    data.feature_names.push_back(name);
    if (schema.looks_label_restating(name))
      data.warnings.push_back(fmt::format(
          "column '{}' is a feature but looks like a restatement of the label '{}' (leakage): "
          "add it to excluded_columns in the schema file, or to allow_label_restating if it "
          "is known before the phase is",
          name, schema.label_column));
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
    const std::string pid = normalise_patient(fields[patient_col]);
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
        throw InputError(fmt::format("{}: unknown label {} (expected one of {})", where.str(),
                                     shown(text), fmt::join(schema.class_labels, ", ")));
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
    const bool empty =
        categorical ? std::all_of(data.text[f].begin(), data.text[f].end(),
                                  [](const std::string& v) { return v.empty(); })
                    : std::all_of(data.numeric.column(f), data.numeric.column(f) + data.rows.size(),
                                  [](float v) { return is_missing(v); });
    if (empty)
      data.warnings.push_back(
          fmt::format("{}: column '{}' ({}) has no value in any row; it carries no information",
                      path, table.header[col], col + 1));
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

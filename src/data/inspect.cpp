// `woundphase inspect`: what a study folder holds, checked before hours are spent on it.
#include "woundphase/inspect.h"

#include <fmt/format.h>

#include <algorithm>  // for sort
#include <array>
#include <cstdlib>  // for strtod
#include <filesystem>
#include <map>
#include <set>

#include "woundphase/image_name.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

struct ImageSource {
  const char* folder;
  const char* box_file;  // bounding boxes naming this folder's frames (empty: none)
  Camera camera;
};

// The study's image folders and which box file names their frames.
constexpr ImageSource kImageSources[] = {
    {"Depth_RGB", "bounding_box_depth.csv", Camera::kDepth},
    {"Depth_Map_IMG", "bounding_box_depth.csv", Camera::kDepth},
    {"Thermal_Map_IMG", "bounding_box_thermal.csv", Camera::kThermal},
    {"Thermal_RGB", "bounding_box_thermal.csv", Camera::kThermal},
};

std::string percent(long part, long whole) {
  return whole == 0 ? "0%" : fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / whole);
}

using VisitKey = std::tuple<std::string, long, long>;  // patient, appt, dfu

void inspect_boxes(const std::string& dir, const char* box_file, std::string* out,
                   std::vector<std::string>* problems) {
  const fs::path path = fs::path(dir) / box_file;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) {
    *out += fmt::format("  {}: not present\n", box_file);
    return;
  }
  if (!fs::is_regular_file(status)) {  // a symlink loop, a folder, a pipe: never opened
    const std::string why = ec ? ec.message() : "not a regular file";
    problems->push_back(fmt::format("{}: cannot read the box file ({})", path.string(), why));
    *out += fmt::format("  {}: unreadable ({})\n", box_file, why);
    return;
  }
  const CsvTable t = read_csv(path.string());
  const char* needed[] = {"Filename", "Xmin", "Ymin", "Xmax", "Ymax"};
  for (const char* col : needed)
    if (t.column_index(col) < 0) {
      problems->push_back(fmt::format("{}:1: missing column '{}'", path.string(), col));
      *out += fmt::format("  {}: {} rows, missing column '{}'\n", box_file, t.rows.size(), col);
      return;
    }
  const int fcol = t.column_index("Filename");
  long bad_names = 0;
  long bad_boxes = 0;
  for (size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    const long line = t.line_of_row[r];
    try {
      parse_image_name(row[fcol]);
    } catch (const InputError& e) {
      if (++bad_names <= 3)
        problems->push_back(fmt::format("{}:{}: {}", path.string(), line, e.what()));
    }
    double v[4];
    bool numeric = true;
    for (int k = 0; k < 4; ++k) {
      const std::string& text = row[t.column_index(needed[k + 1])];
      char* end = nullptr;
      v[k] = std::strtod(text.c_str(), &end);
      numeric = numeric && !text.empty() && end == text.c_str() + text.size();
    }
    if (!numeric || v[0] < 0 || v[1] < 0 || v[0] >= v[2] || v[1] >= v[3]) {
      if (++bad_boxes <= 3)
        problems->push_back(fmt::format(
            "{}:{}: box ({}, {}, {}, {}) is not a non-empty box with "
            "non-negative corners",
            path.string(), line, row[t.column_index("Xmin")], row[t.column_index("Ymin")],
            row[t.column_index("Xmax")], row[t.column_index("Ymax")]));
    }
  }
  // Only what the file itself says: which visit-wounds its rows reach is counted below by the
  // search's own matching (box rows by their Patient#, Appt#, DFU# columns), so that inspect and
  // search never give two different counts for one question.
  *out += fmt::format("  {}: {} boxes; {} bad file names; {} bad boxes\n", box_file, t.rows.size(),
                      bad_names, bad_boxes);
}

}  // namespace

std::string inspect_dataset(const std::string& dir, const Schema& schema) {
  const Dataset data = load_dataset(dir, schema, /*require_labels=*/false);
  const CsvTable table = read_csv(data.metadata_path);
  std::string out;
  std::vector<std::string> problems = data.warnings;

  std::set<std::pair<int, long>> visits;
  std::set<std::pair<int, long>> wounds;
  std::set<VisitKey> visit_wounds;
  for (const auto& r : data.rows) {
    visits.insert({r.patient, r.appt});
    wounds.insert({r.patient, r.dfu});
    visit_wounds.insert({data.patients[r.patient], r.appt, r.dfu});
  }
  out += fmt::format("metadata: {}\n", data.metadata_path);
  out += fmt::format(
      "  {} data lines, {} visit-wounds (samples), {} patients, {} visits, {} wounds\n",
      table.rows.size(), data.rows.size(), data.patients.size(), visits.size(), wounds.size());

  if (data.has_labels) {
    std::array<long, kNumClasses> counts{};
    std::map<std::string, long> patient_mix;  // which phases a patient's visit-wounds show
    std::vector<std::set<int>> per_patient(data.patients.size());
    for (const auto& r : data.rows) {
      ++counts[r.label];
      per_patient[r.patient].insert(r.label);
    }
    for (const auto& labels : per_patient) {
      std::string mix;
      for (int c : labels) mix += (mix.empty() ? "" : "+") + schema.class_labels[c];
      ++patient_mix[mix];
    }
    out += "classes (visit-wounds):";
    for (int c = 0; c < kNumClasses; ++c)
      out += fmt::format("  {} {} ({})", schema.class_labels[c], counts[c],
                         percent(counts[c], data.rows.size()));
    out += "\npatients by the phases their visit-wounds show:";
    for (const auto& [mix, n] : patient_mix) out += fmt::format("  {} {}", mix, n);
    out += "\n";
    for (int c = 0; c < kNumClasses; ++c)
      if (counts[c] == 0)
        problems.push_back(
            fmt::format("class {} has no visit-wounds: folds cannot be stratified for it",
                        schema.class_labels[c]));
  } else {
    out += fmt::format("labels: none (column '{}' absent): usable with predict only\n",
                       schema.label_column);
  }
  std::vector<long> rows_per_patient(data.patients.size(), 0);
  for (const auto& r : data.rows) ++rows_per_patient[r.patient];
  std::sort(rows_per_patient.begin(), rows_per_patient.end());
  out +=
      fmt::format("visit-wounds per patient: min {}, median {}, max {}\n", rows_per_patient.front(),
                  rows_per_patient[rows_per_patient.size() / 2], rows_per_patient.back());

  out += "\ncolumns (role, kind, missing, distinct values):\n";
  size_t width = 0;
  for (const auto& h : table.header) width = std::max(width, h.size());
  int n_numeric = 0;
  int n_categorical = 0;
  for (size_t c = 0; c < table.header.size(); ++c) {
    const std::string& name = table.header[c];
    // The roles the loader gave: a column is a feature exactly when the dataset has it as one.
    const bool feature = std::find(data.feature_names.begin(), data.feature_names.end(), name) !=
                         data.feature_names.end();
    std::string role = feature ? "feature" : "excluded";
    if (name == schema.patient_column) role = "patient id";
    if (name == schema.label_column) role = "label";
    if (name == schema.visit_column) role = feature ? "visit (feature)" : "visit";
    if (name == schema.wound_column) role = feature ? "wound (feature)" : "wound";
    const bool categorical =
        std::find(schema.categorical_columns.begin(), schema.categorical_columns.end(), name) !=
        schema.categorical_columns.end();
    if (feature) (categorical ? n_categorical : n_numeric) += 1;
    long missing = 0;
    std::set<std::string> distinct;
    for (const auto& row : table.rows) {
      std::string v = row[c];
      const auto b = v.find_first_not_of(" \t\r\n");
      v = b == std::string::npos ? "" : v.substr(b, v.find_last_not_of(" \t\r\n") - b + 1);
      if (v.empty() || std::find(schema.missing_tokens.begin(), schema.missing_tokens.end(), v) !=
                           schema.missing_tokens.end()) {
        ++missing;
      } else {
        distinct.insert(v);
      }
    }
    out += fmt::format("  {:<{}}  {:<16} {:<11} {:>5} ({:>6})  {:>4}\n", name, width, role,
                       feature ? (categorical ? "categorical" : "numeric") : "-", missing,
                       percent(missing, static_cast<long>(table.rows.size())), distinct.size());
    if (feature && missing == static_cast<long>(table.rows.size()))
      problems.push_back(fmt::format("column '{}' has no values: it cannot help any model", name));
  }
  out += fmt::format("features: {} ({} numeric, {} categorical)\n", n_numeric + n_categorical,
                     n_numeric, n_categorical);

  out += "\nimages:\n";
  for (const auto& src : kImageSources) {
    const fs::path folder = fs::path(dir) / src.folder;
    std::error_code ec;
    const fs::file_status status = fs::status(folder, ec);
    if (status.type() == fs::file_type::none) {  // a symlink loop, no permission
      problems.push_back(
          fmt::format("{}: cannot read the image folder ({})", folder.string(), ec.message()));
      out += fmt::format("  {}/: unreadable ({})\n", src.folder, ec.message());
      continue;
    }
    if (!fs::is_directory(status)) {
      out += fmt::format("  {}/: not present\n", src.folder);
      continue;
    }
    long files = 0;
    long unparsable = 0;
    long unknown = 0;
    long not_files = 0;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::directory_entry& entry = *it;
      std::error_code type_ec;
      if (!entry.is_regular_file(type_ec)) {
        // Pipes, devices, folders and symlink loops named like frames are never opened.
        not_files += entry.path().extension() == ".png";
        continue;
      }
      ++files;
      try {
        const ImageName n = parse_image_name(entry.path().filename().string());
        if (visit_wounds.count({n.patient, n.appt, n.dfu}) == 0) ++unknown;
      } catch (const InputError&) {
        ++unparsable;
      }
    }
    if (ec)
      problems.push_back(
          fmt::format("{}: cannot list the folder ({})", folder.string(), ec.message()));
    out += fmt::format(
        "  {}/: {} files, {} not named by the study's code, {} for visit-wounds not in the "
        "metadata\n",
        src.folder, files, unparsable, unknown);
    if (not_files > 0)
      problems.push_back(
          fmt::format("{}: {} .png entries are not files (pipes, devices, folders "
                      "or symlink loops); they are skipped",
                      folder.string(), not_files));
    if (files == 0) problems.push_back(fmt::format("{}: folder is empty", folder.string()));
  }
  std::set<std::string> box_files;
  for (const auto& src : kImageSources) box_files.insert(src.box_file);
  for (const auto& f : box_files) inspect_boxes(dir, f.c_str(), &out, &problems);

  out += problems.empty() ? "\nno problems found\n"
                          : fmt::format("\n{} problem(s):\n", problems.size());
  for (const auto& p : problems) out += "  - " + p + "\n";
  return out;
}

}  // namespace woundphase

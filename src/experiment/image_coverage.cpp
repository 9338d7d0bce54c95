// Image coverage (image_coverage.h): build_image_index's counts, worded for the user.
#include "woundphase/image_coverage.h"

#include <fmt/format.h>

#include <algorithm>  // for set_intersection
#include <filesystem>
#include <iterator>  // for back_inserter

#include "woundphase/inspect.h"  // for inspect_dataset

namespace fs = std::filesystem;

namespace woundphase {

std::vector<int> ImageCoverage::common(const Combination& c) const {
  std::vector<int> out(static_cast<size_t>(rows));
  for (long r = 0; r < rows; ++r) out[r] = static_cast<int>(r);
  for (Modality m : c) {
    if (!is_image(m)) continue;
    const std::vector<int>& with = rows_with[static_cast<int>(m) - 1];
    std::vector<int> both;
    std::set_intersection(out.begin(), out.end(), with.begin(), with.end(),
                          std::back_inserter(both));
    out = std::move(both);
  }
  return out;
}

ImageCoverage image_coverage(const Dataset& data, const std::string& dir) {
  ImageCoverage c;
  c.rows = static_cast<long>(data.rows.size());
  const ImageIndex index = build_image_index(data, dir);
  c.rows_with.resize(kNumImageModalities);
  for (ImageModality m : kImageModalities) {
    const int k = static_cast<int>(m);
    c.rows_with[k] = index.rows_with(m);
    c.usable[k] = static_cast<long>(c.rows_with[k].size());
    std::error_code ec;
    c.folder[k] = fs::is_directory(fs::path(dir) / folder_of(m), ec);
  }
  c.report = index.report;
  return c;
}

std::string image_coverage_text(const ImageCoverage& c) {
  std::string out =
      "usable visit-wounds per image modality (matched as search, train and predict match: box "
      "rows by their\nPatient#, Appt# and DFU# columns, the frame present in its folder):\n";
  for (ImageModality m : kImageModalities) {
    const int k = static_cast<int>(m);
    if (!c.folder[k]) {
      out += fmt::format("  {:<12} folder {}/ not present\n", to_string(m), folder_of(m));
      continue;
    }
    out += fmt::format("  {:<12} {:>6} of {}", to_string(m), c.usable[k], c.rows);
    if (c.rows - c.usable[k] > 0)
      out +=
          fmt::format("  {} without a frame{}", c.rows - c.usable[k], c.report.without_reasons(k));
    out += "\n";
  }
  const UnmatchedReport& r = c.report;
  out += fmt::format(
      "box rows: {} read; {} name visit-wounds not in the metadata; {} unusable (bad name, "
      "columns disagreeing with it, bad box); {} frames named but missing from their folder\n",
      r.box_rows, r.unknown_visit_boxes, r.bad_rows, r.missing_files);
  return out;
}

std::string combination_coverage_text(const ImageCoverage& c, const Combination& combination) {
  std::vector<std::string> parts;
  bool images = false;
  for (Modality m : combination) {
    if (!is_image(m)) {
      parts.push_back(fmt::format("{} {}", to_string(m), c.rows));
      continue;
    }
    images = true;
    parts.push_back(fmt::format("{} {}", to_string(m), c.usable[static_cast<int>(m) - 1]));
  }
  std::string out = fmt::format("visit-wounds covered of {}: {}", c.rows, fmt::join(parts, ", "));
  if (images)
    out += fmt::format("; with every modality of {}: {}", to_string(combination),
                       c.rows_for(combination));
  return out;
}

std::string inspect_study(const std::string& dir, const Schema& schema) {
  std::string out = inspect_dataset(dir, schema);
  // The counts the search will see, from the search's own matching code.
  const Dataset data = load_dataset(dir, schema, /*require_labels=*/false);
  return out + "\n" + image_coverage_text(image_coverage(data, data.dir));
}

}  // namespace woundphase

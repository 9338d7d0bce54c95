// The HTML report of a search: one self-contained file (inline CSS and SVG, no script, no external
// resource) summarising a search's output folder with tables and plots.
#pragma once

#include <string>

namespace woundphase {

// Bootstrap behind the report's 95% intervals of QWK: patients are resampled with replacement.
inline constexpr int kReportBootstrapReplicates = 1000;
inline constexpr unsigned long long kReportBootstrapSeed = 20240611;

// A search with image modalities lists the frames it could not use here: file, modality, reason.
inline constexpr char kSkippedImagesFile[] = "skipped_images.csv";

// Renders the report of the search outputs in `run_dir` (results.csv, folds.csv and
// predictions.csv are required; splits.csv, oof_predictions.csv, settings.json,
// training_curves.csv and skipped_images.csv are used when present). Same inputs give the same
// bytes: the report holds no date and no absolute path other than the data file recorded in
// settings.json. Throws InputError naming the file (and line) when a file is missing or malformed.
std::string render_report(const std::string& run_dir);

// Writes render_report(run_dir) to `run_dir`/report.html via a temporary file and a rename, so
// an existing report is replaced only by a complete one. Throws InputError as render_report does.
void write_report(const std::string& run_dir);

}  // namespace woundphase

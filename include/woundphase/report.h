// The HTML report of a search: one self-contained file (inline CSS and SVG, no script, no external
// resource) summarising a search's output folder with tables and plots.
#pragma once

#include <string>
#include <utility>  // for pair
#include <vector>

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

// predict --report: one self-contained page (predictions.html) with a card per visit-wound.
struct CaseFeature {
  std::string name;
  std::string value;  // as the reader knows it: number, category, "" when missing
  double contribution = 0;
};
struct CaseEntry {
  std::string patient;
  long appt = 0;
  long dfu = 0;
  std::string label;         // the known phase, "" when the data has none
  std::vector<double> prob;  // one per class; empty when the visit-wound got no prediction
  int decision = -1;         // class index
  std::string modalities_used;
  std::vector<CaseFeature>
      top;  // the largest |contribution| to the decision's class, largest first
  // Fused bundles: per modality, the decided class's probability with every modality minus
  // without that one.
  std::vector<std::pair<std::string, double>> shares;
  struct Image {
    std::string caption;
    std::string png_path;  // embedded in the page (a data: URI)
  };
  std::vector<Image> images;  // Grad-CAM overlays
};
struct CasePage {
  std::string bundle;       // the bundle folder as given
  std::string combination;  // the bundle's combination
  std::vector<std::string> class_labels;
  // What the contributions explain ("probability" or "margin"; "" without explanations) and
  // whether they explain the metadata branch only (fused bundles).
  std::string contribution_scale;
  bool branch_only = false;
  std::vector<CaseEntry> entries;
};
std::string render_case_page(const CasePage& page);

}  // namespace woundphase

// Internal to src/report: the report's charts, each returned as one inline <svg> element.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "report/run_data.h"
#include "woundphase/metrics.h"
#include "woundphase/stats.h"  // for ReliabilityBin

namespace woundphase::report {

// One combination in ranking order with its bootstrap interval.
struct RankedCombination {
  const ResultRow* result = nullptr;
  Interval interval;
};

// Horizontal bars of QWK mean ± std and the bootstrap interval of the pooled QWK.
std::string ranking_chart(const std::vector<RankedCombination>& ranked);

// A legend alone (colour swatches with labels), for a grid of small multiples sharing it.
std::string legend_chart(const std::vector<std::pair<std::string, std::string>>& entries,
                         std::string_view label);

// QWK of every test fold of one combination: x = fold, one colour per run, dashed mean.
// `runs` lists the run numbers (their order gives the colours); y spans [y_lo, y_hi].
std::string fold_strip_chart(const std::string& modalities, const std::vector<const FoldRow*>& rows,
                             const std::vector<int>& folds, const std::vector<int>& runs,
                             double y_lo, double y_hi, const std::string& fold_axis_title);

// Confusion matrix as a heatmap with the number in each cell: counts, or row-normalised (%).
// `title` is drawn above it, `label` is its accessible name.
std::string confusion_heatmap(const Confusion& confusion, const std::vector<std::string>& labels,
                              bool row_normalised, const std::string& title,
                              const std::string& label);

// Per-class F1 (and macro-F1) of each combination as grouped horizontal bars.
std::string f1_chart(const std::vector<RankedCombination>& ranked,
                     const std::vector<std::string>& labels);

// Stacked bars: visit-wounds per class in each split part (fold) of one run.
std::string class_distribution_chart(const std::string& title,
                                     const std::vector<std::string>& part_names,
                                     const std::vector<std::array<long, kNumClasses>>& counts,
                                     const std::vector<std::string>& labels, long y_max,
                                     const std::string& part_axis_title);

// One line per series against the epoch.
struct Series {
  std::string label;
  const char* colour = nullptr;
  const char* dash = "";                          // stroke-dasharray, empty for solid
  std::vector<std::pair<double, double>> points;  // (epoch, value), NaN values skipped
};
std::string line_chart(const std::string& title, const std::vector<Series>& series,
                       const std::string& y_title);

// Square matrix of values in [lo, hi] with row and column names (e.g. Yule's Q between the
// modalities); NaN cells are grey.
std::string matrix_heatmap(const std::vector<std::string>& names,
                           const std::vector<std::vector<double>>& values, double lo, double hi,
                           const std::string& title, const std::string& label);

// Reliability diagram: per confidence bin, the accuracy (bar) and the mean confidence (dot);
// the diagonal is perfect calibration.
std::string reliability_diagram(const std::string& name,
                                const std::vector<stats::ReliabilityBin>& bins, double ece);

}  // namespace woundphase::report

// The report's charts. Layout constants are in pixels of the SVG's own coordinate system.
#include "report/charts.h"

#include <fmt/format.h>

#include <algorithm>  // for max, min
#include <cmath>      // for isnan

#include "report/svg.h"

namespace woundphase::report {
namespace {

constexpr double kLabelFont = 12;
constexpr double kSmallFont = 10.5;
constexpr double kTitleFont = 13;
constexpr double kLegendHeight = 26;
constexpr double kAxisBelow = 46;  // room under a plot for tick labels and the axis title
constexpr const char* kMacroColour = "#9a9a9a";

bool finite(double v) { return !std::isnan(v) && !std::isinf(v); }

// Ticks covering the finite values of `values` (and `always`, e.g. 0).
std::vector<double> ticks_over(const std::vector<double>& values, double always, int target) {
  double lo = always;
  double hi = always;
  for (double v : values) {
    if (!finite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  return nice_ticks(lo, hi, target);
}

double widest(const std::vector<std::string>& texts, double font) {
  double w = 0;
  for (const auto& t : texts) w = std::max(w, text_width(t, font));
  return w;
}

}  // namespace

std::string ranking_chart(const std::vector<RankedCombination>& ranked) {
  constexpr double kRowHeight = 40;
  constexpr double kBarHeight = 16;
  constexpr double kMinPlotWidth = 360;
  constexpr double kTotalWidth = 880;
  constexpr double kValueColumn = 150;
  constexpr double kCap = 5;

  std::vector<std::string> names;
  std::vector<double> extent;
  for (const auto& r : ranked) {
    names.push_back(r.result->modalities);
    extent.push_back(r.result->qwk.mean - r.result->qwk.std);
    extent.push_back(r.result->qwk.mean + r.result->qwk.std);
    extent.push_back(r.interval.lower);
    extent.push_back(r.interval.upper);
  }
  const std::vector<double> ticks = ticks_over(extent, 0.0, 6);
  const double left = std::max(90.0, widest(names, kLabelFont) + 18);
  const double plot_width = std::max(kMinPlotWidth, kTotalWidth - left - kValueColumn);
  const double top = kLegendHeight + 10;
  const double plot_height = kRowHeight * static_cast<double>(ranked.size());
  Svg svg(left + plot_width + kValueColumn, top + plot_height + kAxisBelow,
          "Ranking of modality combinations by QWK");
  const Scale x{ticks.front(), ticks.back(), left, left + plot_width};
  svg.legend(left, 16,
             {{colour::kBlue, "QWK mean over folds \u00d7 runs"},
              {colour::kInk, "\u00b1 1 std"},
              {colour::kOrange, "95% bootstrap interval, pooled QWK (\u25cf)"}});
  svg.x_axis(x, ticks, top + plot_height, top, "quadratic-weighted kappa (QWK)");
  if (ticks.front() < 0) svg.line(x(0), top, x(0), top + plot_height, colour::kAxis, 1.2);

  for (size_t i = 0; i < ranked.size(); ++i) {
    const ResultRow& r = *ranked[i].result;
    const Interval& ci = ranked[i].interval;
    const double y0 = top + kRowHeight * static_cast<double>(i);
    const double bar_y = y0 + 5;
    const double mid = bar_y + kBarHeight / 2;
    svg.text(left - 8, mid + 4, r.modalities, style(kLabelFont, "end"));
    if (!finite(r.qwk.mean)) continue;
    const double x0 = x(std::min(0.0, r.qwk.mean));
    const double x1 = x(std::max(0.0, r.qwk.mean));
    svg.rect(x0, bar_y, x1 - x0, kBarHeight, colour::kBlue,
             fmt::format("{}: QWK {} \u00b1 {} (mean \u00b1 std over folds \u00d7 runs)",
                         r.modalities, fixed(r.qwk.mean, 3), fixed(r.qwk.std, 3)),
             "fill-opacity=\"0.85\"");
    const double lo = x(r.qwk.mean - r.qwk.std);
    const double hi = x(r.qwk.mean + r.qwk.std);
    svg.line(lo, mid, hi, mid, colour::kInk, 1.5);
    svg.line(lo, mid - kCap, lo, mid + kCap, colour::kInk, 1.5);
    svg.line(hi, mid - kCap, hi, mid + kCap, colour::kInk, 1.5);
    const double ci_y = bar_y + kBarHeight + 8;
    if (finite(ci.lower) && finite(ci.upper)) {
      svg.line(x(ci.lower), ci_y, x(ci.upper), ci_y, colour::kOrange, 3,
               "stroke-linecap=\"round\"");
      svg.circle(x(ci.estimate), ci_y, 4, colour::kOrange,
                 fmt::format("{}: pooled QWK {}, 95% interval [{}, {}]", r.modalities,
                             fixed(ci.estimate, 3), fixed(ci.lower, 3), fixed(ci.upper, 3)),
                 "stroke=\"#222222\" stroke-width=\"1\"");
    }
    const double vx = left + plot_width + 10;
    svg.text(vx, mid + 4, fmt::format("{} \u00b1 {}", fixed(r.qwk.mean, 3), fixed(r.qwk.std, 3)),
             style(kLabelFont, "start", colour::kInk, "bold"));
    if (finite(ci.lower))
      svg.text(vx, ci_y + 4, fmt::format("[{}, {}]", fixed(ci.lower, 3), fixed(ci.upper, 3)),
               style(kSmallFont, "start", colour::kMuted));
  }
  return svg.str();
}

std::string legend_chart(const std::vector<std::pair<std::string, std::string>>& entries,
                         std::string_view label) {
  double width = 8;
  for (const auto& e : entries) width += 12 + 5 + text_width(e.second, kLabelFont) + 16;
  Svg svg(width, 22, label);
  svg.legend(4, 15, entries);
  return svg.str();
}

std::string fold_strip_chart(const std::string& modalities, const std::vector<const FoldRow*>& rows,
                             const std::vector<int>& folds, const std::vector<int>& runs,
                             double y_lo, double y_hi, const std::string& fold_axis_title) {
  constexpr double kLeft = 52;
  constexpr double kRight = 56;  // room for the mean's label
  constexpr double kTop = 30;
  constexpr double kPlotHeight = 170;
  constexpr double kMinBand = 34;
  constexpr double kMinPlotWidth = 230;
  constexpr double kDotRadius = 4.2;
  const double plot_width =
      std::max({kMinPlotWidth, kMinBand * static_cast<double>(std::max<size_t>(folds.size(), 1)),
                text_width(modalities, kTitleFont) - kRight});
  Svg svg(kLeft + plot_width + kRight, kTop + kPlotHeight + kAxisBelow,
          "QWK per test fold: " + modalities);
  const std::vector<double> ticks = nice_ticks(y_lo, y_hi, 5);
  const Scale y{ticks.front(), ticks.back(), kTop + kPlotHeight, kTop};
  svg.text(kLeft, 16, modalities, style(kTitleFont, "start", colour::kInk, "bold"));
  svg.y_axis(y, ticks, kLeft, kLeft + plot_width, "QWK");
  if (ticks.front() < 0) svg.line(kLeft, y(0), kLeft + plot_width, y(0), colour::kAxis, 1);

  const double band = plot_width / static_cast<double>(std::max<size_t>(folds.size(), 1));
  const double dodge =
      std::min(9.0, band * 0.7 / static_cast<double>(std::max<size_t>(runs.size(), 1)));
  auto centre = [&](int fold) {
    const size_t i = std::lower_bound(folds.begin(), folds.end(), fold) - folds.begin();
    return kLeft + band * (static_cast<double>(i) + 0.5);
  };
  const double axis_y = kTop + kPlotHeight;
  svg.line(kLeft, axis_y, kLeft + plot_width, axis_y, colour::kAxis);
  for (int f : folds) {
    svg.line(centre(f), axis_y, centre(f), axis_y + 4, colour::kAxis);
    svg.text(centre(f), axis_y + 16, std::to_string(f), style(11, "middle", colour::kMuted));
  }
  svg.text(kLeft + plot_width / 2, axis_y + 36, fold_axis_title, style(kLabelFont, "middle"));

  double sum = 0;
  int count = 0;
  for (const FoldRow* r : rows) {
    if (!finite(r->qwk)) continue;
    sum += r->qwk;
    ++count;
  }
  if (count > 0) {
    const double mean = sum / count;
    svg.line(kLeft, y(mean), kLeft + plot_width, y(mean), colour::kInk, 1.2,
             "stroke-dasharray=\"5 4\"");
    svg.text(kLeft + plot_width + 4, y(mean) - 2, "mean", style(kSmallFont, "start"));
    svg.text(kLeft + plot_width + 4, y(mean) + 10, fixed(mean, 3), style(kSmallFont, "start"));
  }
  for (const FoldRow* r : rows) {
    if (!finite(r->qwk)) continue;
    const size_t ri = std::lower_bound(runs.begin(), runs.end(), r->run) - runs.begin();
    const double offset =
        (static_cast<double>(ri) - (static_cast<double>(runs.size()) - 1) / 2) * dodge;
    svg.circle(centre(r->fold) + offset, y(r->qwk), kDotRadius,
               colour::for_series(static_cast<int>(ri)),
               fmt::format("run {}, fold {}: QWK {} (n_test {})", r->run, r->fold, fixed(r->qwk, 3),
                           r->n_test),
               "stroke=\"#ffffff\" stroke-width=\"0.8\"");
  }
  return svg.str();
}

std::string confusion_heatmap(const Confusion& confusion, const std::vector<std::string>& labels,
                              bool row_normalised, const std::string& title,
                              const std::string& label) {
  constexpr double kCell = 56;
  constexpr double kLeft = 64;
  constexpr double kTop = 58;
  constexpr double kRight = 14;
  const double grid = kCell * kNumClasses;
  Svg svg(kLeft + grid + kRight, kTop + grid + 40, label);
  svg.text(kLeft, 16, title, style(kTitleFont, "start", colour::kInk, "bold"));
  svg.text(kLeft + grid / 2, kTop - 22, "predicted", style(kLabelFont, "middle"));
  TextStyle true_title = style(kLabelFont, "middle");
  true_title.rotate = -90;
  svg.text(kLeft - 34, kTop + grid / 2, "true", true_title);

  long max_count = 0;
  std::array<long, kNumClasses> row_total{};
  for (int i = 0; i < kNumClasses; ++i)
    for (int j = 0; j < kNumClasses; ++j) {
      max_count = std::max(max_count, confusion[i][j]);
      row_total[i] += confusion[i][j];
    }
  for (int k = 0; k < kNumClasses; ++k) {
    svg.text(kLeft + kCell * (k + 0.5), kTop - 6, labels[k],
             style(kLabelFont, "middle", colour::for_class(k), "bold"));
    svg.text(kLeft - 8, kTop + kCell * (k + 0.5) + 4, labels[k],
             style(kLabelFont, "end", colour::for_class(k), "bold"));
  }
  for (int i = 0; i < kNumClasses; ++i) {
    for (int j = 0; j < kNumClasses; ++j) {
      const long c = confusion[i][j];
      const double share = row_total[i] > 0 ? static_cast<double>(c) / row_total[i] : 0.0;
      const double t =
          row_normalised ? share : (max_count > 0 ? static_cast<double>(c) / max_count : 0.0);
      const double cx = kLeft + kCell * j;
      const double cy = kTop + kCell * i;
      svg.rect(cx, cy, kCell, kCell, colour::ramp(t),
               fmt::format("true {}, predicted {}: {} ({}% of true {})", labels[i], labels[j], c,
                           fixed(100 * share, 1), labels[i]),
               "stroke=\"#ffffff\" stroke-width=\"2\"");
      const std::string value =
          row_normalised ? (row_total[i] > 0 ? fixed(100 * share, 1) + "%" : fixed(NAN, 0))
                         : std::to_string(c);
      svg.text(cx + kCell / 2, cy + kCell / 2 + 5, value,
               style(14, "middle", colour::text_on_ramp(t), i == j ? "bold" : "normal"));
    }
  }
  long total = 0;
  for (long r : row_total) total += r;
  svg.text(kLeft + grid / 2, kTop + grid + 22,
           row_normalised ? "each row sums to 100% (recall on the diagonal)"
                          : fmt::format("n = {} predictions", total),
           style(kSmallFont, "middle", colour::kMuted));
  return svg.str();
}

std::string f1_chart(const std::vector<RankedCombination>& ranked,
                     const std::vector<std::string>& labels) {
  constexpr int kBars = kNumClasses + 1;  // the classes, then macro-F1
  constexpr double kBarHeight = 10;
  constexpr double kBarGap = 2;
  constexpr double kGroupGap = 16;
  constexpr double kTotalWidth = 880;
  constexpr double kValueRoom = 40;
  std::vector<std::string> names;
  for (const auto& r : ranked) names.push_back(r.result->modalities);
  const double left = std::max(90.0, widest(names, kLabelFont) + 18);
  const double plot_width = std::max(360.0, kTotalWidth - left - kValueRoom);
  const double group = kBars * (kBarHeight + kBarGap) + kGroupGap;
  const double top = kLegendHeight + 10;
  const double plot_height = group * static_cast<double>(ranked.size());
  Svg svg(left + plot_width + kValueRoom, top + plot_height + kAxisBelow, "Per-class F1");
  const std::vector<double> ticks = nice_ticks(0, 1, 5);
  const Scale x{0, 1, left, left + plot_width};
  std::vector<std::pair<std::string, std::string>> legend;
  for (int k = 0; k < kNumClasses; ++k)
    legend.emplace_back(colour::for_class(k), "F1 " + labels[k]);
  legend.emplace_back(kMacroColour, "macro-F1");
  svg.legend(left, 16, legend);
  svg.x_axis(x, ticks, top + plot_height, top, "F1 (mean over folds \u00d7 runs)");
  for (size_t i = 0; i < ranked.size(); ++i) {
    const ResultRow& r = *ranked[i].result;
    const double y0 = top + group * static_cast<double>(i) + kGroupGap / 2;
    svg.text(left - 8, y0 + kBars * (kBarHeight + kBarGap) / 2 + 4, r.modalities,
             style(kLabelFont, "end"));
    for (int b = 0; b < kBars; ++b) {
      const double value = b < kNumClasses ? r.f1[b] : r.macro_f1;
      const std::string name = b < kNumClasses ? "F1 " + labels[b] : "macro-F1";
      const double y = y0 + b * (kBarHeight + kBarGap);
      if (!finite(value)) continue;
      svg.rect(left, y, x(std::clamp(value, 0.0, 1.0)) - left, kBarHeight,
               b < kNumClasses ? colour::for_class(b) : kMacroColour,
               fmt::format("{}: {} {}", r.modalities, name, fixed(value, 3)));
      svg.text(x(std::clamp(value, 0.0, 1.0)) + 4, y + kBarHeight - 1, fixed(value, 2),
               style(kSmallFont - 0.5, "start", colour::kMuted));
    }
  }
  return svg.str();
}

std::string class_distribution_chart(const std::string& title,
                                     const std::vector<std::string>& part_names,
                                     const std::vector<std::array<long, kNumClasses>>& counts,
                                     const std::vector<std::string>& labels, long y_max,
                                     const std::string& part_axis_title) {
  constexpr double kLeft = 58;
  constexpr double kRight = 12;
  constexpr double kTop = 34;
  constexpr double kPlotHeight = 180;
  constexpr double kBand = 52;
  constexpr double kMinPlotWidth = 200;
  constexpr double kMinLabelledSegment = 14;
  const double plot_width =
      std::max(kMinPlotWidth, kBand * static_cast<double>(std::max<size_t>(part_names.size(), 1)));
  Svg svg(kLeft + plot_width + kRight, kTop + kPlotHeight + kAxisBelow, title);
  svg.text(kLeft, 16, title, style(kTitleFont, "start", colour::kInk, "bold"));
  const std::vector<double> ticks =
      nice_ticks(0, std::max<double>(static_cast<double>(y_max), 1), 5);
  const Scale y{0, ticks.back(), kTop + kPlotHeight, kTop};
  svg.y_axis(y, ticks, kLeft, kLeft + plot_width, "visit-wounds");
  const double band = plot_width / static_cast<double>(std::max<size_t>(part_names.size(), 1));
  const double bar = std::min(36.0, band * 0.65);
  const double axis_y = kTop + kPlotHeight;
  for (size_t p = 0; p < part_names.size(); ++p) {
    const double cx = kLeft + band * (static_cast<double>(p) + 0.5);
    long total = 0;
    for (long c : counts[p]) total += c;
    double base = 0;
    for (int k = 0; k < kNumClasses; ++k) {
      const long c = counts[p][k];
      if (c == 0) continue;
      const double y_top = y(base + c);
      const double h = y(base) - y_top;
      svg.rect(cx - bar / 2, y_top, bar, h, colour::for_class(k),
               fmt::format("{}, class {}: {} visit-wounds ({}%)", part_names[p], labels[k], c,
                           fixed(total > 0 ? 100.0 * c / total : 0.0, 1)),
               "stroke=\"#ffffff\" stroke-width=\"0.6\"");
      if (h >= kMinLabelledSegment)
        svg.text(cx, y_top + h / 2 + 4, std::to_string(c),
                 style(kSmallFont, "middle", "#ffffff", "bold"));
      base += c;
    }
    svg.text(cx, y(base) - 4, std::to_string(total), style(kSmallFont, "middle", colour::kInk));
    svg.line(cx, axis_y, cx, axis_y + 4, colour::kAxis);
    svg.text(cx, axis_y + 16, part_names[p], style(11, "middle", colour::kMuted));
  }
  svg.line(kLeft, axis_y, kLeft + plot_width, axis_y, colour::kAxis);
  svg.text(kLeft + plot_width / 2, axis_y + 36, part_axis_title, style(kLabelFont, "middle"));
  return svg.str();
}

std::string line_chart(const std::string& title, const std::vector<Series>& series,
                       const std::string& y_title) {
  constexpr double kLeft = 58;
  constexpr double kRight = 14;
  constexpr double kTop = 30;
  constexpr double kPlotWidth = 300;
  constexpr double kPlotHeight = 170;
  Svg svg(kLeft + kPlotWidth + kRight, kTop + kPlotHeight + kAxisBelow, title);
  svg.text(kLeft, 16, title, style(kTitleFont, "start", colour::kInk, "bold"));
  std::vector<double> xs;
  std::vector<double> ys;
  for (const auto& s : series)
    for (const auto& [e, v] : s.points) {
      if (!finite(v)) continue;
      xs.push_back(e);
      ys.push_back(v);
    }
  if (ys.empty()) {
    svg.text(kLeft + kPlotWidth / 2, kTop + kPlotHeight / 2, "no values recorded",
             style(kLabelFont, "middle", colour::kMuted));
    return svg.str();
  }
  const double x_lo = *std::min_element(xs.begin(), xs.end());
  const double x_hi = *std::max_element(xs.begin(), xs.end());
  const double y_lo = *std::min_element(ys.begin(), ys.end());
  const double y_hi = *std::max_element(ys.begin(), ys.end());
  const std::vector<double> x_ticks = nice_ticks(x_lo, std::max(x_hi, x_lo + 1), 6);
  const std::vector<double> y_ticks = nice_ticks(y_lo, std::max(y_hi, y_lo + 1e-6), 5);
  const Scale x{x_ticks.front(), x_ticks.back(), kLeft, kLeft + kPlotWidth};
  const Scale y{y_ticks.front(), y_ticks.back(), kTop + kPlotHeight, kTop};
  svg.y_axis(y, y_ticks, kLeft, kLeft + kPlotWidth, y_title);
  svg.x_axis(x, x_ticks, kTop + kPlotHeight, kTop, "epoch");
  for (const auto& s : series) {
    std::vector<std::pair<double, double>> segment;
    auto flush = [&] {
      if (segment.size() == 1)
        svg.circle(segment[0].first, segment[0].second, 2.5, s.colour);
      else
        svg.polyline(segment, s.colour, 1.6,
                     *s.dash ? fmt::format("stroke-dasharray=\"{}\"", s.dash) : "");
      segment.clear();
    };
    for (const auto& [e, v] : s.points) {
      if (!finite(v)) {
        if (!segment.empty()) flush();
        continue;
      }
      segment.emplace_back(x(e), y(v));
    }
    if (!segment.empty()) flush();
  }
  return svg.str();
}

}  // namespace woundphase::report

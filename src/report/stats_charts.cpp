// The report's charts for the paired statistics: a labelled matrix heatmap (Yule's Q between
// modalities) and reliability diagrams (calibration).
#include <fmt/format.h>

#include <algorithm>  // for max
#include <cmath>      // for isnan

#include "report/charts.h"
#include "report/svg.h"

namespace woundphase::report {
namespace {

constexpr double kLabelFont = 12;
constexpr double kSmallFont = 10.5;
constexpr double kTitleFont = 13;

}  // namespace

std::string matrix_heatmap(const std::vector<std::string>& names,
                           const std::vector<std::vector<double>>& values, double lo, double hi,
                           const std::string& title, const std::string& label) {
  constexpr double kCell = 62;
  constexpr double kTop = 40;
  constexpr double kRight = 16;
  double left = 40;
  for (const auto& n : names) left = std::max(left, text_width(n, kLabelFont) + 14);
  const double grid = kCell * static_cast<double>(names.size());
  // Column labels are written at 45 degrees so long names fit.
  double label_room = 0;
  for (const auto& n : names) label_room = std::max(label_room, text_width(n, kLabelFont) * 0.72);
  const double top = kTop + label_room;
  Svg svg(left + grid + kRight + label_room, top + grid + 12, label);
  svg.text(left, 16, title, style(kTitleFont, "start", colour::kInk, "bold"));
  for (size_t i = 0; i < names.size(); ++i) {
    TextStyle rotated = style(kLabelFont, "start");
    rotated.rotate = -45;
    svg.text(left + kCell * (static_cast<double>(i) + 0.5), top - 6, names[i], rotated);
    svg.text(left - 8, top + kCell * (static_cast<double>(i) + 0.5) + 4, names[i],
             style(kLabelFont, "end"));
  }
  for (size_t i = 0; i < names.size(); ++i)
    for (size_t j = 0; j < names.size(); ++j) {
      const double v = values[i][j];
      const double t = std::isnan(v) ? 0.0 : (v - lo) / (hi - lo);
      const double x = left + kCell * static_cast<double>(j);
      const double y = top + kCell * static_cast<double>(i);
      svg.rect(x, y, kCell, kCell, std::isnan(v) ? "#f4f4f4" : colour::ramp(t),
               fmt::format("{} vs {}: {}", names[i], names[j], fixed(v, 3)),
               "stroke=\"#ffffff\" stroke-width=\"2\"");
      svg.text(x + kCell / 2, y + kCell / 2 + 5, fixed(v, 2),
               style(13, "middle", std::isnan(v) ? colour::kMuted : colour::text_on_ramp(t)));
    }
  return svg.str();
}

std::string reliability_diagram(const std::string& name,
                                const std::vector<stats::ReliabilityBin>& bins, double ece) {
  constexpr double kPlot = 190;
  constexpr double kLeft = 52;
  constexpr double kTop = 30;
  constexpr double kBelow = 44;
  Svg svg(kLeft + kPlot + 16, kTop + kPlot + kBelow, "Reliability diagram \u2014 " + name);
  svg.text(kLeft, 16, name, style(kTitleFont, "start", colour::kInk, "bold"));
  const Scale x{0, 1, kLeft, kLeft + kPlot};
  const Scale y{0, 1, kTop + kPlot, kTop};
  const std::vector<double> ticks = {0, 0.2, 0.4, 0.6, 0.8, 1.0};
  svg.x_axis(x, ticks, kTop + kPlot, kTop, "confidence (top-label probability)");
  svg.y_axis(y, ticks, kLeft, kLeft + kPlot, "accuracy");
  svg.line(x(0), y(0), x(1), y(1), colour::kAxis, 1, "stroke-dasharray=\"4 3\"");
  long total = 0;
  for (const auto& b : bins) total += b.count;
  for (const auto& b : bins) {
    if (b.count == 0) continue;
    // Bar: the bin's accuracy over its confidence range; dot: mean confidence vs accuracy.
    svg.rect(x(b.lower), y(b.accuracy), x(b.upper) - x(b.lower), y(0) - y(b.accuracy), colour::kSky,
             fmt::format("confidence ({}, {}]: {} predictions, accuracy {}, mean confidence {}",
                         fixed(b.lower, 3), fixed(b.upper, 3), b.count, fixed(b.accuracy, 3),
                         fixed(b.confidence, 3)),
             "fill-opacity=\"0.7\" stroke=\"#ffffff\" stroke-width=\"0.5\"");
    const double r = 2.0 + 4.0 * std::sqrt(static_cast<double>(b.count) / std::max(1L, total));
    svg.circle(x(b.confidence), y(b.accuracy), r, colour::kVermillion);
  }
  svg.text(kLeft + 6, kTop + 14, fmt::format("ECE {}", fixed(ece, 3)),
           style(kSmallFont, "start", colour::kInk, "bold"));
  return svg.str();
}

}  // namespace woundphase::report

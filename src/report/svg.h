// Internal to src/report: HTML escaping, number formatting, colours and a small inline-SVG builder
// with linear scales and axes. Every number is written with a fixed precision, so the same chart
// gives the same bytes.
#pragma once

#include <string>
#include <string_view>
#include <utility>  // for pair
#include <vector>

namespace woundphase::report {

// Text for HTML/SVG content and attribute values: & < > " ' escaped.
std::string escape(std::string_view text);

// Fixed-precision number; "-0.000" becomes "0.000" and NaN becomes an en dash.
std::string fixed(double value, int decimals);

// Approximate rendered width of `text` in the report's sans-serif font.
double text_width(std::string_view text, double font_size);

// Okabe–Ito colours (safe for the common colour-vision deficiencies).
namespace colour {
inline constexpr const char* kBlue = "#0072B2";
inline constexpr const char* kOrange = "#E69F00";
inline constexpr const char* kGreen = "#009E73";
inline constexpr const char* kVermillion = "#D55E00";
inline constexpr const char* kSky = "#56B4E9";
inline constexpr const char* kPurple = "#CC79A7";
inline constexpr const char* kInk = "#222222";
inline constexpr const char* kMuted = "#666666";
inline constexpr const char* kGrid = "#e3e3e3";
inline constexpr const char* kAxis = "#888888";
// The healing phases, lowest first (the same colour for a class in every chart).
const char* for_class(int k);
// Runs, folds and other series, cycling through the palette.
const char* for_series(int i);
// Sequential single-hue ramp for heatmaps: 0 → near white, 1 → dark blue.
std::string ramp(double t);
// Readable text colour on top of ramp(t).
const char* text_on_ramp(double t);
}  // namespace colour

// Maps [d0, d1] linearly onto [r0, r1].
struct Scale {
  double d0 = 0, d1 = 1, r0 = 0, r1 = 1;
  double operator()(double v) const;
};

// "Nice" tick positions (steps of 1, 2 or 5 × 10^k) covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target);
// Decimals needed to print the ticks distinctly.
int tick_decimals(const std::vector<double>& ticks);

struct TextStyle {
  double size = 12;
  const char* anchor = "start";  // start | middle | end
  const char* weight = "normal";
  const char* fill = colour::kInk;
  double rotate = 0;  // degrees, about the anchor point
};

// A text style of `size` with the given anchor, fill and weight.
TextStyle style(double size, const char* anchor = "start", const char* fill = colour::kInk,
                const char* weight = "normal");

class Svg {
 public:
  // `label` is the chart's accessible name (aria-label) and tooltip.
  Svg(double width, double height, std::string_view label);

  double width() const { return width_; }
  double height() const { return height_; }

  // `tooltip` (optional) becomes a <title> child, shown on hover.
  void rect(double x, double y, double w, double h, std::string_view fill,
            std::string_view tooltip = {}, std::string_view extra = {});
  void line(double x1, double y1, double x2, double y2, std::string_view stroke, double width = 1,
            std::string_view extra = {});
  void circle(double cx, double cy, double r, std::string_view fill, std::string_view tooltip = {},
              std::string_view extra = {});
  void polyline(const std::vector<std::pair<double, double>>& points, std::string_view stroke,
                double width = 1.5, std::string_view extra = {});
  void polygon(const std::vector<std::pair<double, double>>& points, std::string_view fill,
               std::string_view tooltip = {});
  void text(double x, double y, std::string_view content, const TextStyle& style = {});

  // Horizontal axis at `y` with ticks, labels, vertical grid lines up to `grid_top` and a title.
  void x_axis(const Scale& x, const std::vector<double>& ticks, double y, double grid_top,
              std::string_view title);
  // Vertical axis at `x` with ticks, labels, horizontal grid lines up to `grid_right`, a title.
  void y_axis(const Scale& y, const std::vector<double>& ticks, double x, double grid_right,
              std::string_view title);
  // A row of legend entries (colour swatch + label) starting at (x, y).
  void legend(double x, double y, const std::vector<std::pair<std::string, std::string>>& entries);

  std::string str() const;

 private:
  double width_;
  double height_;
  std::string label_;
  std::string body_;
};

}  // namespace woundphase::report

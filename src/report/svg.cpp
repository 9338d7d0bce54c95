// Inline-SVG building blocks of the report.
#include "report/svg.h"

#include <fmt/format.h>

#include <algorithm>  // for max, min, clamp
#include <array>
#include <cmath>  // for floor, ceil, log10, pow, isnan

namespace woundphase::report {
namespace {

// Average glyph advance of a sans-serif font, as a fraction of the font size.
constexpr double kGlyphAdvance = 0.6;
constexpr double kTickLength = 4;
constexpr double kTickFont = 11;
constexpr double kTitleFont = 12;
constexpr double kSwatch = 12;

std::string num(double v) {
  std::string s = fmt::format("{:.1f}", v);
  if (s == "-0.0") s = "0.0";
  return s;
}

std::string tooltip_child(std::string_view tooltip) {
  return tooltip.empty() ? std::string() : "<title>" + escape(tooltip) + "</title>";
}

// Closes an element: with a tooltip as a child, otherwise self-closing.
std::string close(std::string_view name, std::string_view tooltip) {
  if (tooltip.empty()) return "/>";
  return fmt::format(">{}</{}>", tooltip_child(tooltip), name);
}

std::string extra_attrs(std::string_view extra) {
  return extra.empty() ? std::string() : " " + std::string(extra);
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string fixed(double value, int decimals) {
  if (std::isnan(value)) return "\u2013";
  std::string s = fmt::format("{:.{}f}", value, decimals);
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

double text_width(std::string_view text, double font_size) {
  size_t glyphs = 0;
  for (char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++glyphs;  // not a UTF-8 continuation
  return static_cast<double>(glyphs) * font_size * kGlyphAdvance;
}

namespace colour {

const char* for_class(int k) {
  static constexpr std::array<const char*, 3> kClasses = {kVermillion, kBlue, kGreen};
  return kClasses[static_cast<size_t>(k) % kClasses.size()];
}

const char* for_series(int i) {
  static constexpr std::array<const char*, 6> kSeries = {kBlue,       kOrange, kGreen,
                                                         kVermillion, kPurple, kSky};
  return kSeries[static_cast<size_t>(std::max(i, 0)) % kSeries.size()];
}

std::string ramp(double t) {
  // ColorBrewer "Blues" anchors.
  static constexpr std::array<std::array<double, 3>, 5> kStops = {
      {{247, 251, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107}}};
  t = std::clamp(std::isnan(t) ? 0.0 : t, 0.0, 1.0);
  const double pos = t * (kStops.size() - 1);
  const size_t i = std::min(static_cast<size_t>(pos), kStops.size() - 2);
  const double f = pos - static_cast<double>(i);
  std::array<int, 3> rgb{};
  for (int c = 0; c < 3; ++c)
    rgb[c] = static_cast<int>(std::lround(kStops[i][c] + f * (kStops[i + 1][c] - kStops[i][c])));
  return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

const char* text_on_ramp(double t) {
  constexpr double kDarkFrom = 0.55;
  return t > kDarkFrom ? "#ffffff" : kInk;
}

}  // namespace colour

TextStyle style(double size, const char* anchor, const char* fill, const char* weight) {
  TextStyle s;
  s.size = size;
  s.anchor = anchor;
  s.fill = fill;
  s.weight = weight;
  return s;
}

double Scale::operator()(double v) const {
  if (d1 == d0) return (r0 + r1) / 2;
  return r0 + (v - d0) / (d1 - d0) * (r1 - r0);
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / std::max(target, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  constexpr double kSlack = 1e-9;
  const long first = static_cast<long>(std::floor(lo / step + kSlack));
  const long last = static_cast<long>(std::ceil(hi / step - kSlack));
  std::vector<double> ticks;
  for (long k = first; k <= last; ++k) ticks.push_back(static_cast<double>(k) * step);
  return ticks;
}

int tick_decimals(const std::vector<double>& ticks) {
  if (ticks.size() < 2) return 2;
  const double step = std::abs(ticks[1] - ticks[0]);
  return std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
}

Svg::Svg(double width, double height, std::string_view label)
    : width_(width), height_(height), label_(label) {}

void Svg::rect(double x, double y, double w, double h, std::string_view fill,
               std::string_view tooltip, std::string_view extra) {
  body_ += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"{}{}", num(x),
                       num(y), num(std::max(w, 0.0)), num(std::max(h, 0.0)), escape(fill),
                       extra_attrs(extra), close("rect", tooltip));
}

void Svg::line(double x1, double y1, double x2, double y2, std::string_view stroke, double width,
               std::string_view extra) {
  body_ += fmt::format(
      "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{}/>",
      num(x1), num(y1), num(x2), num(y2), escape(stroke), num(width), extra_attrs(extra));
}

void Svg::circle(double cx, double cy, double r, std::string_view fill, std::string_view tooltip,
                 std::string_view extra) {
  body_ += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\"{}{}", num(cx), num(cy),
                       num(r), escape(fill), extra_attrs(extra), close("circle", tooltip));
}

void Svg::polyline(const std::vector<std::pair<double, double>>& points, std::string_view stroke,
                   double width, std::string_view extra) {
  if (points.empty()) return;
  std::string pts;
  for (const auto& [x, y] : points) pts += (pts.empty() ? "" : " ") + num(x) + "," + num(y);
  body_ += fmt::format(
      "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" "
      "stroke-linejoin=\"round\"{}/>",
      pts, escape(stroke), num(width), extra_attrs(extra));
}

void Svg::polygon(const std::vector<std::pair<double, double>>& points, std::string_view fill,
                  std::string_view tooltip) {
  std::string pts;
  for (const auto& [x, y] : points) pts += (pts.empty() ? "" : " ") + num(x) + "," + num(y);
  body_ += fmt::format("<polygon points=\"{}\" fill=\"{}\"{}", pts, escape(fill),
                       close("polygon", tooltip));
}

void Svg::text(double x, double y, std::string_view content, const TextStyle& style) {
  std::string attrs =
      fmt::format("x=\"{}\" y=\"{}\" font-size=\"{}\"", num(x), num(y), num(style.size));
  if (std::string_view(style.anchor) != "start")
    attrs += fmt::format(" text-anchor=\"{}\"", style.anchor);
  if (std::string_view(style.weight) != "normal")
    attrs += fmt::format(" font-weight=\"{}\"", style.weight);
  if (std::string_view(style.fill) != colour::kInk)
    attrs += fmt::format(" fill=\"{}\"", style.fill);
  if (style.rotate != 0)
    attrs += fmt::format(" transform=\"rotate({} {} {})\"", num(style.rotate), num(x), num(y));
  body_ += fmt::format("<text {}>{}</text>", attrs, escape(content));
}

void Svg::x_axis(const Scale& x, const std::vector<double>& ticks, double y, double grid_top,
                 std::string_view title) {
  const int decimals = tick_decimals(ticks);
  for (double t : ticks) {
    const double px = x(t);
    line(px, grid_top, px, y, colour::kGrid);
    line(px, y, px, y + kTickLength, colour::kAxis);
    text(px, y + kTickLength + kTickFont + 1, fixed(t, decimals),
         {kTickFont, "middle", "normal", colour::kMuted});
  }
  line(x(x.d0), y, x(x.d1), y, colour::kAxis);
  if (!title.empty())
    text((x.r0 + x.r1) / 2, y + kTickLength + kTickFont + kTitleFont + 8, title,
         {kTitleFont, "middle"});
}

void Svg::y_axis(const Scale& y, const std::vector<double>& ticks, double x, double grid_right,
                 std::string_view title) {
  const int decimals = tick_decimals(ticks);
  double widest = 0;
  for (double t : ticks) {
    const double py = y(t);
    line(x, py, grid_right, py, colour::kGrid);
    line(x - kTickLength, py, x, py, colour::kAxis);
    const std::string label = fixed(t, decimals);
    widest = std::max(widest, text_width(label, kTickFont));
    text(x - kTickLength - 3, py + kTickFont * 0.35, label,
         {kTickFont, "end", "normal", colour::kMuted});
  }
  line(x, y(y.d0), x, y(y.d1), colour::kAxis);
  if (!title.empty()) {
    const double tx = x - kTickLength - 3 - widest - 8;
    text(tx, (y.r0 + y.r1) / 2, title, {kTitleFont, "middle", "normal", colour::kInk, -90});
  }
}

void Svg::legend(double x, double y,
                 const std::vector<std::pair<std::string, std::string>>& entries) {
  for (const auto& [fill, label] : entries) {
    rect(x, y - kSwatch + 2, kSwatch, kSwatch, fill, {}, "rx=\"2\"");
    text(x + kSwatch + 5, y, label, {kTickFont + 1});
    x += kSwatch + 5 + text_width(label, kTickFont + 1) + 16;
  }
}

std::string Svg::str() const {
  return fmt::format(
      "<svg class=\"chart\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" role=\"img\" "
      "aria-label=\"{}\"><title>{}</title>{}</svg>\n",
      num(width_), num(height_), num(width_), num(height_), escape(label_), escape(label_), body_);
}

}  // namespace woundphase::report

// predict --report: predictions.html, one card per visit-wound (probabilities, decision, the
// modalities used, the clinical features that pushed the decision most). Self-contained like
// report.html: inline CSS and SVG, no script, no external resource.
#include <fmt/format.h>

#include <algorithm>  // for max
#include <cmath>      // for abs
#include <fstream>
#include <sstream>

#include "report/html.h"
#include "report/svg.h"
#include "woundphase/core.h"  // for InputError
#include "woundphase/report.h"

namespace woundphase {
namespace {

using report::escape;
using report::fixed;

constexpr const char* kCaseStyle = R"css(
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#222;font:14px/1.45 "DejaVu Sans","Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:1160px;margin:0 auto;padding:28px 36px 48px;background:#fff}
h1{font-size:26px;margin:0 0 2px}
.sub{color:#555;margin:0 0 14px}
.card{border:1px solid #dcdfe3;border-radius:6px;padding:10px 16px;margin:14px 0;display:flex;flex-wrap:wrap;gap:8px 36px}
.card h2{font-size:16px;margin:0 0 4px;width:100%}
.decision{font-weight:700}
.wrong{color:#b03a2e}
table{border-collapse:collapse;font-size:13px}
th,td{padding:3px 8px;border-bottom:1px solid #e6e8eb;text-align:right;font-variant-numeric:tabular-nums}
th{background:#f1f3f5;font-weight:600}
.l{text-align:left}
.na{color:#777;font-style:italic}
footer{margin-top:36px;color:#777;font-size:12px}
figure.cam{margin:4px 8px 4px 0;display:inline-block}
figure.cam figcaption{color:#555;font-size:11px;max-width:160px;overflow-wrap:anywhere}
)css";

// Bars of the class probabilities, the decision's in a darker colour.
constexpr double kBarWidth = 180;
constexpr double kBarHeight = 14;
constexpr double kLabelWidth = 28;
constexpr double kValueWidth = 52;
// Shown width of the Grad-CAM overlays, in CSS pixels.
constexpr int kCamWidth = 160;
// Bars of the contributions: the largest |contribution| on the page spans this width.
constexpr double kContributionWidth = 120;

std::string probability_bars(const CaseEntry& e, const std::vector<std::string>& labels) {
  const double height = kBarHeight * 1.5 * static_cast<double>(e.prob.size());
  std::string svg = fmt::format(
      "<svg width=\"{:.0f}\" height=\"{:.0f}\" role=\"img\" aria-label=\"class probabilities\">",
      kLabelWidth + kBarWidth + kValueWidth, height);
  for (size_t c = 0; c < e.prob.size(); ++c) {
    const double y = static_cast<double>(c) * kBarHeight * 1.5;
    const bool chosen = static_cast<int>(c) == e.decision;
    svg += fmt::format(
        "<text x=\"0\" y=\"{:.1f}\" font-size=\"12\">{}</text><rect x=\"{:.0f}\" y=\"{:.1f}\" "
        "width=\"{:.1f}\" height=\"{:.0f}\" fill=\"{}\"/><text x=\"{:.1f}\" y=\"{:.1f}\" "
        "font-size=\"12\">{}</text>",
        y + kBarHeight - 3, escape(labels[c]), kLabelWidth, y, kBarWidth * e.prob[c], kBarHeight,
        chosen ? "#0072B2" : "#9ecae1", kLabelWidth + kBarWidth * e.prob[c] + 4, y + kBarHeight - 3,
        fixed(e.prob[c], 3));
  }
  return svg + "</svg>";
}

std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read the heatmap", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string contribution_bar(double v, double largest) {
  const double w = largest > 0 ? kContributionWidth * std::abs(v) / largest : 0;
  // Pushing towards the decision: orange; away from it: blue.
  return fmt::format(
      "<svg width=\"{:.0f}\" height=\"10\" role=\"img\" aria-label=\"contribution\"><rect "
      "x=\"{:.1f}\" width=\"{:.1f}\" height=\"10\" fill=\"{}\"/></svg>",
      2 * kContributionWidth, v >= 0 ? kContributionWidth : kContributionWidth - w, w,
      v >= 0 ? "#E69F00" : "#56B4E9");
}

}  // namespace

std::string render_case_page(const CasePage& page) {
  const auto& labels = page.class_labels;
  double largest = 0;
  size_t predicted = 0;
  std::vector<size_t> decided(labels.size(), 0);
  for (const CaseEntry& e : page.entries) {
    for (const CaseFeature& f : e.top) largest = std::max(largest, std::abs(f.contribution));
    if (e.decision < 0) continue;
    ++predicted;
    ++decided[e.decision];
  }
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>woundphase predictions</title>\n<style>" +
      std::string(kCaseStyle) + "</style>\n</head>\n<body>\n<main>\n";
  html += "<h1>Healing-phase predictions</h1>\n";
  std::string counts;
  for (size_t c = 0; c < labels.size(); ++c)
    counts += fmt::format("{}{} {}", c == 0 ? "" : ", ", escape(labels[c]), decided[c]);
  html += fmt::format(
      "<p class=\"sub\">Bundle <b>{}</b> ({}): {} of {} visit-wounds predicted ({}).</p>\n",
      escape(page.bundle), escape(page.combination), predicted, page.entries.size(), counts);
  if (!page.contribution_scale.empty())
    html += fmt::format(
        "<p>Top clinical features: the largest TreeSHAP contributions to the decided phase's {} "
        "({}); orange pushes towards that phase, blue away from it.</p>\n",
        page.contribution_scale == "margin" ? "log-odds" : "probability",
        page.branch_only ? "of the metadata branch, one input of the fused head"
                         : "explanations.csv has every feature and class");
  for (const CaseEntry& e : page.entries) {
    html += "<section class=\"card\">\n";
    html += fmt::format("<h2>Patient {} \u00b7 appointment {} \u00b7 wound {}</h2>\n",
                        escape(e.patient), e.appt, e.dfu);
    if (e.decision < 0) {
      html +=
          "<p class=\"na\">no prediction: none of the bundle's modalities (or not all, with "
          "--require-all).</p>\n</section>\n";
      continue;
    }
    const bool wrong = !e.label.empty() && e.label != labels[e.decision];
    html += "<div>" + probability_bars(e, labels) + "\n";
    html +=
        fmt::format("<p>Decision: <span class=\"decision\">{}</span>", escape(labels[e.decision]));
    if (!e.label.empty())
      html += fmt::format(" \u00b7 recorded: <span class=\"{}\">{}</span>", wrong ? "wrong" : "",
                          escape(e.label));
    html += fmt::format("<br>Modalities used: {}</p></div>\n", escape(e.modalities_used));
    if (!e.top.empty()) {
      html +=
          "<table><tr><th class=\"l\">feature</th><th class=\"l\">value</th><th>"
          "contribution</th><th></th></tr>\n";
      for (const CaseFeature& f : e.top)
        html += fmt::format(
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}"
            "</td></tr>\n",
            escape(f.name), f.value.empty() ? "<i>missing</i>" : escape(f.value),
            fmt::format("{:+.4f}", f.contribution), contribution_bar(f.contribution, largest));
      html += "</table>\n";
    }
    if (!e.shares.empty()) {
      html += "<p>Share of each modality in the decision (probability with all minus without it): ";
      for (size_t k = 0; k < e.shares.size(); ++k)
        html += fmt::format("{}{} {:+.3f}", k == 0 ? "" : ", ", escape(e.shares[k].first),
                            e.shares[k].second);
      html += "</p>\n";
    }
    for (const CaseEntry::Image& image : e.images)
      html += fmt::format(
          "<figure class=\"cam\"><img alt=\"Grad-CAM {}\" width=\"{}\" "
          "src=\"data:image/png;base64,{}\"><figcaption>{}</figcaption></figure>\n",
          escape(image.caption), kCamWidth, base64(read_bytes(image.png_path)),
          escape(image.caption));
    html += "</section>\n";
  }
  html +=
      "<footer>Written by woundphase predict --report. The unit is the visit-wound (patient, "
      "appointment, wound).</footer>\n</main>\n</body>\n</html>\n";
  return html;
}

}  // namespace woundphase

#include "report/html.h"

#include <fmt/format.h>

#include <cmath>  // for isnan

#include "report/svg.h"

namespace woundphase::report {

std::string td(const std::string& text, bool left) {
  return fmt::format("<td{}>{}</td>", left ? " class=\"l\"" : "", escape(text));
}

std::string th(const std::string& text, bool left) {
  return fmt::format("<th{}>{}</th>", left ? " class=\"l\"" : "", escape(text));
}

std::string name_td(const std::string& name) {
  std::string html;
  for (char c : escape(name)) {
    html += c;
    if (c == '+') html += "<wbr>";
  }
  return "<td class=\"l\">" + html + "</td>";
}

std::string mean_pm_std(const MeanStd& m) {
  if (std::isnan(m.mean)) return "n/a";
  return fixed(m.mean, 3) + " \u00b1 " + fixed(m.std, 3);
}

std::string value_or_na(double v, int decimals) {
  return std::isnan(v) ? std::string("n/a") : fixed(v, decimals);
}

std::string figure(const std::string& svgs, const std::string& caption) {
  return "<figure>" + svgs + "<figcaption>" + escape(caption) + "</figcaption></figure>\n";
}

}  // namespace woundphase::report

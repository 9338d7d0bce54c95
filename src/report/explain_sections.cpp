// The report's sections on explanations and missing inputs: the clinical features' global
// importance (importance.csv: mean |TreeSHAP contribution| and permutation importance on the test
// folds) and the fused combinations' QWK from fewer modalities (degraded.csv).
#include <fmt/format.h>

#include <algorithm>  // for sort
#include <cmath>      // for isnan
#include <limits>     // for numeric_limits
#include <map>

#include "report/html.h"
#include "report/stats_sections.h"
#include "report/svg.h"
#include "woundphase/metrics.h"  // for mean_std

namespace woundphase::report {
namespace {

// Features listed, by mean |contribution|; the file has them all.
constexpr size_t kTopFeatures = 20;
// Width in pixels of the longest bar.
constexpr double kBarWidth = 160;

struct Summary {
  std::string feature;
  MeanStd contribution;
  MeanStd drop;
};

}  // namespace

std::string importance_section(const RunData& data) {
  std::string html = "<h2 id=\"importance\">Clinical feature importance</h2>\n";
  if (!data.has_importance)
    return html +
           "<p class=\"na\">not available: importance.csv is missing (written by searches of "
           "this version that include metadata).</p>\n";
  if (data.importance.empty())
    return html + "<p class=\"na\">no combination uses the metadata.</p>\n";
  std::map<std::string, std::vector<double>> contribution;
  std::map<std::string, std::vector<double>> drop;
  for (const ImportanceRow& r : data.importance) {
    contribution[r.feature].push_back(r.mean_abs_contribution);
    if (!std::isnan(r.permutation_qwk_drop)) drop[r.feature].push_back(r.permutation_qwk_drop);
  }
  std::vector<Summary> rows;
  for (const auto& [feature, values] : contribution) {
    const auto it = drop.find(feature);
    rows.push_back(
        {feature, mean_std(values), it == drop.end() ? MeanStd{NAN, NAN} : mean_std(it->second)});
  }
  // Ranked by mean |contribution|, or by the QWK drop for models without additive explanations
  // (--ordinal, --model stack: no contributions); NaN last.
  const bool by_drop = std::isnan(data.importance.front().mean_abs_contribution);
  const auto key = [by_drop](const Summary& s) {
    const double v = by_drop ? s.drop.mean : s.contribution.mean;
    return std::isnan(v) ? -std::numeric_limits<double>::infinity() : v;
  };
  std::sort(rows.begin(), rows.end(), [&](const Summary& a, const Summary& b) {
    return key(a) > key(b) || (key(a) == key(b) && a.feature < b.feature);
  });
  const std::string& scale = data.importance.front().scale;
  html += fmt::format(
      "<p>The metadata model of each test fold, explained on that fold's test visit-wounds "
      "(importance.csv). Mean |contribution|: the TreeSHAP contribution's magnitude averaged over "
      "the test visit-wounds and the classes ({} units), then mean \u00b1 std over folds \u00d7 "
      "runs. QWK drop: the test QWK lost when the feature's values are permuted among the test "
      "visit-wounds (mean of {} permutations); near 0 or negative means the model does not rely "
      "on it. The top {} of {} features by {}.</p>\n",
      scale == "margin" ? "log-odds" : "probability", data.importance.front().permutations,
      std::min(kTopFeatures, rows.size()), rows.size(),
      by_drop ? "QWK drop (this model has no additive explanation)" : "mean |contribution|");
  html += "<div class=\"scroll\"><table><tr>" + th("feature", true) + th("mean |contribution|") +
          th("", true) + th("QWK drop") + "</tr>\n";
  const double longest = key(rows.front());
  for (size_t i = 0; i < rows.size() && i < kTopFeatures; ++i) {
    const Summary& s = rows[i];
    const double width = longest > 0 ? kBarWidth * std::max(0.0, key(s)) / longest : 0;
    html += "<tr>" + td(s.feature, true) + td(mean_pm_std(s.contribution)) +
            fmt::format(
                "<td class=\"l\"><svg width=\"{:.0f}\" height=\"10\" role=\"img\" "
                "aria-label=\"bar\"><rect width=\"{:.1f}\" height=\"10\" "
                "fill=\"#4c72b0\"/></svg></td>",
                kBarWidth, width) +
            td(mean_pm_std(s.drop)) + "</tr>\n";
  }
  return html + "</table></div>\n";
}

std::string degraded_section(const RunData& data) {
  std::string html = "<h2 id=\"degraded\">When images are missing</h2>\n";
  if (!data.has_degraded)
    return html +
           "<p class=\"na\">not available: degraded.csv is missing (written by searches of this "
           "version).</p>\n";
  if (data.degraded.empty())
    return html +
           "<p class=\"na\">no fused combination with a sub-combination in the search (search "
           "them together, e.g. --modalities all).</p>\n";
  html +=
      "<p>A bundle predicts a visit-wound that lacks some of its combination's images from the "
      "modalities it has. Here each fused combination's test visit-wounds are predicted from one "
      "sub-combination only (that sub-combination's model in the same fold: what the bundle falls "
      "back to) and with every modality (degraded.csv); QWK mean \u00b1 std over folds \u00d7 "
      "runs.</p>\n";
  html += "<div class=\"scroll\"><table><tr>" + th("combination", true) +
          th("predicted from", true) + th("QWK from it") + th("QWK with all") + th("difference") +
          "</tr>\n";
  std::map<std::pair<std::string, std::string>, std::vector<const DegradedRow*>> groups;
  std::vector<std::pair<std::string, std::string>> order;
  for (const DegradedRow& r : data.degraded) {
    const auto key = std::make_pair(r.modalities, r.used);
    if (groups.find(key) == groups.end()) order.push_back(key);
    groups[key].push_back(&r);
  }
  for (const auto& key : order) {
    std::vector<double> used, all, diff;
    for (const DegradedRow* r : groups[key]) {
      if (std::isnan(r->qwk_used) || std::isnan(r->qwk_all)) continue;
      used.push_back(r->qwk_used);
      all.push_back(r->qwk_all);
      diff.push_back(r->qwk_used - r->qwk_all);
    }
    const MeanStd none{NAN, NAN};
    html += "<tr>" + name_td(key.first) + name_td(key.second) +
            td(used.empty() ? "n/a" : mean_pm_std(mean_std(used))) +
            td(all.empty() ? "n/a" : mean_pm_std(mean_std(all))) +
            td(diff.empty() ? mean_pm_std(none) : mean_pm_std(mean_std(diff))) + "</tr>\n";
  }
  return html + "</table></div>\n";
}

}  // namespace woundphase::report

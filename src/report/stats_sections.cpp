// The report's sections for the paired statistics: comparisons on common rows,
// complementarity of the modalities' errors, and calibration.
#include "report/stats_sections.h"

#include <fmt/format.h>

#include <algorithm>  // for find
#include <cmath>      // for isnan
#include <map>

#include "report/charts.h"
#include "report/html.h"
#include "report/svg.h"
#include "woundphase/stats.h"

namespace woundphase::report {
namespace {

std::string p_cell(double p) {
  if (std::isnan(p)) return "n/a";
  if (p < 1e-4) return "<0.0001";
  return fixed(p, 4);
}

std::string not_written(const char* file) {
  return fmt::format(
      "<p class=\"na\">not available: {} is missing (written by searches of this version; rerun "
      "the search, or resume it with --resume from_predictions).</p>\n",
      file);
}

}  // namespace

std::string comparisons_section(const RunData& data) {
  std::string html = "<h2 id=\"comparisons\">Paired comparisons on common rows</h2>\n";
  if (!data.has_comparisons) return html + not_written("comparisons.csv");
  if (data.comparisons.empty())
    return html + "<p class=\"na\">only one combination: nothing to compare.</p>\n";
  const double alpha = data.comparisons.front().alpha;
  html += fmt::format(
      "<p>Each combination against <b>metadata</b> and against the top-ranked combination, on the "
      "same visit-wounds (comparisons.csv). QWK a, QWK b: per-fold QWK on the common rows, mean "
      "over folds \u00d7 runs; difference: mean of the per-fold differences a \u2212 b, with a "
      "95% interval from a patient bootstrap (the same patients drawn for a and b). "
      "p (t): Nadeau\u2013Bengio corrected resampled t-test over folds \u00d7 runs (the "
      "training sets of the folds overlap, so the plain t-test is too optimistic); p (Wilcoxon): "
      "signed-rank test of the same differences; p (McNemar): correct/incorrect on the pooled "
      "predictions of the first run; p (Holm): the t-test's p-value adjusted for all {} rows. "
      "Significant: Holm-adjusted p \u2264 \u03b1 = {}.</p>\n",
      data.comparisons.size(), fixed(alpha, 3));
  html += "<div class=\"scroll\"><table><tr>" + th("a", true) + th("b", true) + th("n common") +
          th("QWK a") + th("QWK b") + th("difference") + th("95% interval") + th("p (t)") +
          th("p (Wilcoxon)") + th("p (McNemar)") + th("p (Holm)") + th("significant") + "</tr>\n";
  for (const ComparisonRow& c : data.comparisons) {
    html += "<tr>" + name_td(c.a) + name_td(c.b) + td(std::to_string(c.n_common)) +
            td(value_or_na(c.qwk_a, 3)) + td(value_or_na(c.qwk_b, 3)) +
            td(value_or_na(c.qwk_diff, 3)) +
            td(std::isnan(c.diff_ci_low)
                   ? std::string("n/a")
                   : "[" + fixed(c.diff_ci_low, 3) + ", " + fixed(c.diff_ci_high, 3) + "]") +
            td(p_cell(c.p_corrected_t)) + td(p_cell(c.p_wilcoxon)) + td(p_cell(c.p_mcnemar)) +
            td(p_cell(c.p_holm)) + td(c.significant ? "yes" : "no") + "</tr>\n";
  }
  html += "</table></div>\n";
  return html;
}

std::string complementarity_section(const RunData& data) {
  std::string html = "<h2 id=\"complementarity\">Complementarity of the modalities</h2>\n";
  if (!data.has_complementarity) return html + not_written("complementarity.csv");
  if (data.complementarity.empty())
    return html +
           "<p class=\"na\">fewer than two single modalities and no fusion of searched "
           "modalities: nothing to compare.</p>\n";
  html +=
      "<p>Whether two classifiers make the same mistakes, on the common rows of every run "
      "(complementarity.csv). Yule's Q: +1 they are right and wrong together, 0 independent, "
      "\u22121 one is right where the other is wrong. Disagreement: share of rows where exactly "
      "one is right. Error overlap: of the rows where either errs, the share where both do. "
      "Oracle: accuracy if the right one were always chosen (an upper bound for fusion). "
      "Fusion gain: the fusion's QWK on common rows minus its best member's.</p>\n";
  // Heatmap of Yule's Q between the single modalities.
  std::vector<std::string> names;
  for (const ComplementarityRow& c : data.complementarity) {
    if (c.kind != "modalities") continue;
    for (const std::string* n : {&c.a, &c.b})
      if (std::find(names.begin(), names.end(), *n) == names.end()) names.push_back(*n);
  }
  if (names.size() >= 2) {
    std::vector<std::vector<double>> q(names.size(), std::vector<double>(names.size(), NAN));
    auto index = [&](const std::string& n) {
      return static_cast<size_t>(std::find(names.begin(), names.end(), n) - names.begin());
    };
    for (const ComplementarityRow& c : data.complementarity) {
      if (c.kind != "modalities") continue;
      q[index(c.a)][index(c.b)] = q[index(c.b)][index(c.a)] = c.yules_q;
    }
    for (size_t i = 0; i < names.size(); ++i) q[i][i] = 1.0;
    html += figure(matrix_heatmap(names, q, -1.0, 1.0, "Yule's Q between modalities",
                                  "Yule's Q between the single modalities"),
                   "Yule's Q of the correct/incorrect indicators of each pair of single "
                   "modalities (diagonal: 1 by definition). Light cells: errors that differ, "
                   "where combining the modalities can help.");
  }
  html += "<div class=\"scroll\"><table><tr>" + th("a", true) + th("b", true) + th("kind", true) +
          th("n") + th("accuracy a") + th("accuracy b") + th("error overlap") + th("Yule's Q") +
          th("disagreement") + th("oracle accuracy") + th("fusion gain (QWK)") + "</tr>\n";
  for (const ComplementarityRow& c : data.complementarity)
    html += "<tr>" + name_td(c.a) + name_td(c.b) + td(c.kind, true) + td(std::to_string(c.n)) +
            td(value_or_na(c.accuracy_a, 3)) + td(value_or_na(c.accuracy_b, 3)) +
            td(value_or_na(c.error_overlap, 3)) + td(value_or_na(c.yules_q, 3)) +
            td(value_or_na(c.disagreement, 3)) + td(value_or_na(c.oracle_accuracy, 3)) +
            td(c.kind == "fusion" ? value_or_na(c.fusion_gain, 3) : std::string()) + "</tr>\n";
  return html + "</table></div>\n";
}

std::string calibration_section(const RunData& data, const std::vector<std::string>& order) {
  std::string html = "<h2 id=\"calibration\">Calibration</h2>\n";
  std::map<std::string, std::pair<Probabilities, std::vector<int>>> pooled;
  bool has_probabilities = true;
  for (const PredictionRow& p : data.predictions) {
    if (std::isnan(p.prob[0])) {
      has_probabilities = false;
      break;
    }
    auto& [probs, truth] = pooled[p.modalities];
    probs.insert(probs.end(), p.prob.begin(), p.prob.end());
    truth.push_back(p.label);
  }
  if (!has_probabilities)
    return html + "<p class=\"na\">not available: predictions.csv has no probabilities.</p>\n";
  html +=
      "<p>How far the predicted probabilities can be taken at face value, on each combination's "
      "test predictions pooled over all folds and runs. ECE: expected calibration error of the "
      "top label (15 equal-width confidence bins: the bin-size-weighted mean of |accuracy "
      "\u2212 confidence|). Brier: mean squared distance between the probability vector and the "
      "one-hot truth (0 to 2). Log loss: mean \u2212log p(true class). Lower is better for "
      "all three.</p>\n";
  const bool calibrated = !data.results.empty() && data.results.front().has_calibrated;
  if (calibrated)
    html +=
        "<p>--calibrate temperature: each fold's test probabilities were divided (in log space) by "
        "a temperature fitted on that fold's training patients only (the validation patients' "
        "predictions, or the metadata branch's out-of-fold ones), minimising the log loss; the "
        "columns after the temperature are the same measures after scaling. predictions.csv and "
        "the diagrams keep the probabilities before scaling.</p>\n";
  html +=
      "<table><tr>" + th("modalities", true) + th("ECE") + th("Brier") + th("log loss") +
      th("weighted F1") +
      (calibrated ? th("temperature") + th("ECE after") + th("Brier after") + th("log loss after")
                  : std::string()) +
      "</tr>\n";
  for (const std::string& name : order)
    for (const ResultRow& r : data.results) {
      if (r.modalities != name) continue;
      html += "<tr>" + name_td(name) + td(value_or_na(r.ece, 3)) + td(value_or_na(r.brier, 3)) +
              td(value_or_na(r.log_loss, 3)) + td(value_or_na(r.f1_weighted, 3));
      if (calibrated)
        html += td(value_or_na(r.temperature, 3)) + td(value_or_na(r.ece_calibrated, 3)) +
                td(value_or_na(r.brier_calibrated, 3)) + td(value_or_na(r.log_loss_calibrated, 3));
      html += "</tr>\n";
    }
  html += "</table>\n";
  std::string charts;
  for (const std::string& name : order) {
    const auto it = pooled.find(name);
    if (it == pooled.end()) continue;
    const stats::Calibration c = stats::calibration(it->second.first, it->second.second);
    charts += reliability_diagram(name, c.bins, c.ece);
  }
  html += "<figure><div class=\"grid\">" + charts + "</div><figcaption>" +
          escape(
              "Reliability diagrams (predictions.csv, probabilities as written with 6 decimals): "
              "per confidence bin, the share of correct top labels (bar) and the mean confidence "
              "(dot, area \u221d the bin's predictions). On the dashed diagonal the model is "
              "calibrated; bars below it: over-confident.") +
          "</figcaption></figure>\n";
  return html;
}

}  // namespace woundphase::report

// The HTML report: reads a search output folder, computes the report's statistics and assembles
// one self-contained HTML page (inline CSS and SVG; no script, no external resource).
#include "woundphase/report.h"

#include <fmt/format.h>
#include <unistd.h>  // for getpid

#include <algorithm>  // for sort, stable_sort, find
#include <cmath>      // for isnan
#include <cstdio>     // for rename
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>

#include "report/charts.h"
#include "report/html.h"
#include "report/run_data.h"
#include "report/stats_sections.h"
#include "report/svg.h"
#include "woundphase/dataset.h"  // for read_csv
#include "woundphase/files.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace report {
namespace {

// At most this many runs get their own class-distribution chart.
constexpr int kMaxDistributionRuns = 6;
constexpr double kIntervalLevel = 0.95;
// Rows shown of the tree branch's tables (the CSV files hold them all).
constexpr size_t kMaxTableRows = 60;
constexpr const char* kNotAvailable = "not available for this run (metadata-only search)";

constexpr const char* kStyle = R"css(
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#222;font:14px/1.45 "DejaVu Sans","Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:1160px;margin:0 auto;padding:28px 36px 48px;background:#fff}
h1{font-size:26px;margin:0 0 2px}
h2{font-size:19px;margin:34px 0 8px;padding-top:14px;border-top:1px solid #dcdfe3}
h3{font-size:15px;margin:18px 0 6px}
p{margin:6px 0;max-width:920px}
.sub{color:#555;margin:0 0 14px}
nav{margin:8px 0 4px;font-size:13px}
nav a{margin-right:14px;color:#0072B2;text-decoration:none}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{padding:4px 8px;border-bottom:1px solid #e6e8eb;text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th{background:#f1f3f5;font-weight:600}
.l{text-align:left}
td.l{white-space:normal;min-width:190px}
.scroll{overflow-x:auto;max-width:100%}
table.kv td:first-child{color:#555;text-align:left}
table.kv td{text-align:left;white-space:normal}
tr.sum td{font-weight:600;border-top:2px solid #c9ced4}
.grid{display:flex;flex-wrap:wrap;gap:10px 26px;align-items:flex-start}
figure{margin:10px 0}
figcaption{color:#555;font-size:12.5px;max-width:920px;margin-top:4px}
.na{color:#777;font-style:italic}
.note{background:#fff6e0;border-left:4px solid #E69F00;padding:6px 12px;max-width:920px}
svg.chart{display:block;overflow:visible;font-family:inherit}
pre{background:#f6f8fa;padding:12px;font-size:12px;line-height:1.35;overflow:auto;border:1px solid #e6e8eb;max-height:640px}
footer{margin-top:36px;color:#777;font-size:12px}
)css";

using Json = nlohmann::json;

// A value of settings.json as text ("" when absent); strings without quotes.
std::string json_text(const Json& root, std::initializer_list<const char*> path) {
  const Json* node = &root;
  for (const char* key : path) {
    if (!node->is_object()) return "";
    const auto it = node->find(key);
    if (it == node->end()) return "";
    node = &*it;
  }
  if (node->is_string()) return node->get<std::string>();
  if (node->is_array()) {
    std::string out;
    for (const auto& v : *node)
      out += (out.empty() ? "" : ", ") + (v.is_string() ? v.get<std::string>() : v.dump());
    return out;
  }
  return node->dump();
}

std::string na_line() { return fmt::format("<p class=\"na\">{}</p>\n", escape(kNotAvailable)); }

// Everything the sections share.
struct Context {
  const RunData& data;
  std::vector<RankedCombination> ranked;
  std::map<std::string, std::vector<const PredictionRow*>> predictions;  // by combination
  std::vector<int> runs;                                                 // run numbers in folds.csv
  bool single_split = false;  // cv_folds = 1: one train/test split
  // Some combination's own visit-wounds differ from the common rows (every modality present):
  // the ranking then uses the QWK on the common rows, so every row is judged on the same patients.
  bool rank_on_common = false;
};

// The QWK the ranking uses.
double ranking_qwk(const ResultRow& r, bool on_common) {
  return on_common ? r.qwk_common.mean : r.qwk.mean;
}

Context make_context(const RunData& data) {
  Context ctx{data, {}, {}, {}, false, false};
  for (const auto& r : data.results)
    ctx.rank_on_common = ctx.rank_on_common || (r.has_common && r.n_common != r.n_samples);
  for (const auto& p : data.predictions) ctx.predictions[p.modalities].push_back(&p);
  std::set<int> runs;
  for (const auto& f : data.folds) runs.insert(f.run);
  ctx.runs.assign(runs.begin(), runs.end());
  ctx.single_split = json_text(data.settings, {"settings", "cv_folds"}) == "1";

  std::vector<const ResultRow*> order;
  for (const auto& r : data.results) order.push_back(&r);
  // Best QWK first; NaN last; ties by name so the order never depends on the file's order.
  const bool common = ctx.rank_on_common;
  std::stable_sort(order.begin(), order.end(), [common](const ResultRow* a, const ResultRow* b) {
    const double qa = ranking_qwk(*a, common);
    const double qb = ranking_qwk(*b, common);
    const bool a_nan = std::isnan(qa);
    const bool b_nan = std::isnan(qb);
    if (a_nan != b_nan) return b_nan;
    if (!a_nan && qa != qb) return qa > qb;
    return a->modalities < b->modalities;
  });
  for (const ResultRow* r : order) {
    const auto it = ctx.predictions.find(r->modalities);
    Interval ci;
    if (it != ctx.predictions.end())
      ci = bootstrap_pooled_qwk(it->second, kReportBootstrapReplicates, kReportBootstrapSeed,
                                kIntervalLevel);
    ctx.ranked.push_back({r, ci});
  }
  return ctx;
}

std::string summary_section(const Context& ctx) {
  const Json& s = ctx.data.settings;
  auto or_unknown = [](const std::string& v) {
    return v.empty() ? std::string("not recorded") : v;
  };
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("Data file", or_unknown(json_text(s, {"data", "metadata_file"})));
  rows.emplace_back("Data fingerprint (FNV-1a)", or_unknown(json_text(s, {"data", "fingerprint"})));
  rows.emplace_back("Visit-wounds (rows)", or_unknown(json_text(s, {"data", "rows"})));
  rows.emplace_back("Patients", or_unknown(json_text(s, {"data", "patients"})));
  std::string classes;
  for (const auto& l : ctx.data.class_labels) classes += (classes.empty() ? "" : " < ") + l;
  rows.emplace_back("Classes (ordinal)", classes);
  rows.emplace_back("Combinations", std::to_string(ctx.data.results.size()));
  const std::string folds = json_text(s, {"settings", "cv_folds"});
  rows.emplace_back(
      "Runs \u00d7 folds",
      fmt::format("{} \u00d7 {}", ctx.runs.size(),
                  ctx.single_split ? "1 (single train/test split)" : or_unknown(folds)));
  rows.emplace_back("Model", or_unknown(json_text(s, {"settings", "model"})));
  rows.emplace_back("Sampling", or_unknown(json_text(s, {"settings", "sampling"})));
  rows.emplace_back("Base seed", or_unknown(json_text(s, {"settings", "seed"})));
  rows.emplace_back("Data percentage", or_unknown(json_text(s, {"settings", "data_percentage"})));
  rows.emplace_back("Test-fold predictions", std::to_string(ctx.data.predictions.size()));
  if (ctx.data.has_skipped_images) {
    std::string skipped;
    for (const auto& [modality, n] : ctx.data.skipped_by_modality)
      skipped += fmt::format("{}{} {}", skipped.empty() ? "" : ", ", modality, n);
    rows.emplace_back("Frames skipped (skipped_images.csv)", skipped.empty() ? "none" : skipped);
  }
  rows.emplace_back("Software",
                    "woundphase " + or_unknown(json_text(s, {"software", "woundphase"})));

  std::string html = "<h2 id=\"summary\">Run summary</h2>\n<table class=\"kv\">";
  for (const auto& [k, v] : rows) html += "<tr>" + td(k, true) + td(v, true) + "</tr>";
  html += "</table>\n";
  if (!ctx.data.has_settings)
    html +=
        "<p class=\"na\">settings.json is missing: settings, data and software are not "
        "recorded.</p>\n";
  if (json_text(s, {"settings", "shuffle_labels"}) == "true")
    html +=
        "<p class=\"note\">Training labels were shuffled (--shuffle-labels): this run is the "
        "leakage control, and its kappas should be near 0.</p>\n";
  return html;
}

std::string ranking_section(const Context& ctx) {
  const auto& labels = ctx.data.class_labels;
  std::string html = "<h2 id=\"ranking\">Ranking of modality combinations</h2>\n";
  html += figure(
      ranking_chart(ctx.ranked),
      fmt::format("Bars: QWK averaged over the test folds of all runs, whiskers \u00b1 1 standard "
                  "deviation (results.csv). Orange: {:.0f}% percentile bootstrap interval of the "
                  "pooled QWK (dot: estimate), i.e. the QWK of each run's test predictions pooled "
                  "over its folds, averaged over runs; {} replicates resampling patients with "
                  "replacement (seed {}).",
                  100 * kIntervalLevel, kReportBootstrapReplicates, kReportBootstrapSeed));
  const bool has_common = !ctx.data.results.empty() && ctx.data.results.front().has_common;
  if (ctx.rank_on_common)
    html +=
        "<p class=\"note\">Combinations are ranked on the <b>common rows</b>: the visit-wounds of "
        "each test fold that have every modality of the search, so every combination is judged "
        "on the same patients. Numbers on each combination's own visit-wounds (n) are kept "
        "beside them; the chart shows the own-row numbers.</p>\n";
  html += "<div class=\"scroll\"><table><tr>" + th("#") + th("modalities", true) + th("n") +
          (has_common ? th("n common") + th("QWK common rows") : std::string()) +
          th("QWK mean \u00b1 std") + th("pooled QWK") + th("95% interval") +
          th("kappa mean \u00b1 std") + th("accuracy") + th("macro-F1");
  for (const auto& l : labels) html += th("F1 " + l);
  html += "</tr>\n";
  for (size_t i = 0; i < ctx.ranked.size(); ++i) {
    const ResultRow& r = *ctx.ranked[i].result;
    const Interval& ci = ctx.ranked[i].interval;
    html += "<tr>" + td(std::to_string(i + 1)) + name_td(r.modalities) +
            td(std::to_string(r.n_samples)) +
            (has_common ? td(std::to_string(r.n_common)) + td(mean_pm_std(r.qwk_common))
                        : std::string()) +
            td(mean_pm_std(r.qwk)) + td(fixed(ci.estimate, 3)) +
            td(std::isnan(ci.lower) ? fixed(NAN, 0)
                                    : "[" + fixed(ci.lower, 3) + ", " + fixed(ci.upper, 3) + "]") +
            td(mean_pm_std(r.kappa)) + td(fixed(r.accuracy, 3)) + td(fixed(r.macro_f1, 3));
    for (int k = 0; k < kNumClasses; ++k) html += td(fixed(r.f1[k], 3));
    html += "</tr>\n";
  }
  html +=
      "</table></div>\n<p class=\"sub\">n: distinct visit-wounds evaluated (own rows); n common: "
      "those among the common rows. Plain Cohen's kappa is reported next to the "
      "quadratic-weighted one; the ranking uses QWK. n/a: kappa undefined (truth and predictions "
      "of one class).</p>\n";
  return html;
}

std::string folds_section(const Context& ctx) {
  std::string html = "<h2 id=\"folds\">QWK per test fold</h2>\n";
  std::vector<double> values;
  std::set<int> fold_set;
  for (const auto& f : ctx.data.folds) {
    values.push_back(f.qwk);
    fold_set.insert(f.fold);
  }
  const std::vector<int> folds(fold_set.begin(), fold_set.end());
  double lo = 0;
  double hi = 0.5;
  for (double v : values)
    if (!std::isnan(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  std::vector<std::pair<std::string, std::string>> legend;
  for (size_t i = 0; i < ctx.runs.size(); ++i)
    legend.emplace_back(colour::for_series(static_cast<int>(i)),
                        fmt::format("run {}", ctx.runs[i]));
  std::string charts;
  for (const auto& rc : ctx.ranked) {
    std::vector<const FoldRow*> rows;
    for (const auto& f : ctx.data.folds)
      if (f.modalities == rc.result->modalities) rows.push_back(&f);
    charts += fold_strip_chart(rc.result->modalities, rows, folds, ctx.runs, lo, hi,
                               ctx.single_split ? "test split" : "test fold");
  }
  html += "<figure>" + legend_chart(legend, "Runs") + "<div class=\"grid\">" + charts + "</div>" +
          "<figcaption>" +
          escape(
              "Each dot is one test fold of one run (folds.csv), coloured by run; the dashed "
              "line is the mean over folds \u00d7 runs. Runs use different patient folds, so "
              "fold k of one run and of another hold different patients.") +
          "</figcaption></figure>\n";
  return html;
}

std::string confusion_section(const Context& ctx) {
  const auto& labels = ctx.data.class_labels;
  std::string html = "<h2 id=\"confusion\">Confusion matrices</h2>\n";
  html +=
      "<p>Test-fold predictions summed over all folds and runs: each visit-wound is counted "
      "once per run. Rows are the true phase, columns the predicted one.</p>\n";
  html += "<div class=\"grid\">\n";
  for (const auto& rc : ctx.ranked) {
    const std::string& name = rc.result->modalities;
    html += "<div><h3>" + escape(name) + "</h3>\n";
    const auto it = ctx.predictions.find(name);
    if (it == ctx.predictions.end()) {
      html +=
          "<p class=\"na\">no test predictions for this combination in predictions.csv</p>"
          "</div>\n";
      continue;
    }
    const Confusion c = pooled_confusion(it->second);
    html +=
        "<div class=\"grid\">" +
        confusion_heatmap(c, labels, false, "Counts", "Counts \u2014 " + name) +
        confusion_heatmap(c, labels, true, "Row-normalised (%)", "Row-normalised \u2014 " + name) +
        "</div></div>\n";
  }
  return html + "</div>\n";
}

std::string f1_section(const Context& ctx) {
  return "<h2 id=\"f1\">Per-class F1</h2>\n" +
         figure(f1_chart(ctx.ranked, ctx.data.class_labels),
                "F1 of each phase and macro-F1 (grey), averaged over the test folds of all runs "
                "(results.csv).");
}

std::string stages_section(const Context& ctx) {
  std::string html = "<h2 id=\"stages\">QWK by training stage</h2>\n";
  if (!ctx.data.has_stage_columns) return html + na_line();
  html +=
      "<p>Test-fold QWK after each stage of the image pipeline (folds.csv); Final is the QWK "
      "the ranking uses. A dash: the stage does not apply to the combination.</p>\n";
  for (const auto& rc : ctx.ranked) {
    const std::string& name = rc.result->modalities;
    std::vector<const FoldRow*> rows;
    for (const auto& f : ctx.data.folds)
      if (f.modalities == name) rows.push_back(&f);
    if (rows.empty()) continue;
    html += "<h3>" + escape(name) + "</h3>\n<table><tr>" + th("run") + th("fold") +
            th("Pre-train") + th("Stage 1") + th("Stage 2") + th("Final (QWK)") + "</tr>\n";
    std::array<std::vector<double>, kNumStages + 1> columns;
    for (const FoldRow* f : rows) {
      html += "<tr>" + td(std::to_string(f->run)) + td(std::to_string(f->fold));
      for (int s = 0; s < kNumStages; ++s) {
        html += td(fixed(f->stage_qwk[s], 3));
        if (!std::isnan(f->stage_qwk[s])) columns[s].push_back(f->stage_qwk[s]);
      }
      html += td(fixed(f->qwk, 3)) + "</tr>\n";
      if (!std::isnan(f->qwk)) columns[kNumStages].push_back(f->qwk);
    }
    html += "<tr class=\"sum\"><td class=\"l\" colspan=\"2\">mean \u00b1 std</td>";
    for (const auto& col : columns)
      html += td(col.empty() ? fixed(NAN, 0) : mean_pm_std(mean_std(col)));
    html += "</tr>\n</table>\n";
  }
  return html;
}

std::string curves_section(const Context& ctx) {
  std::string html = "<h2 id=\"curves\">Training curves</h2>\n";
  if (!ctx.data.has_curves) return html + na_line();
  if (ctx.data.curves.empty())
    return html + "<p class=\"na\">training_curves.csv has no rows.</p>\n";
  // Panels in order of first appearance of (combination, component); one line per run × fold.
  std::vector<std::pair<std::string, std::string>> panels;
  std::set<int> fold_set;
  std::set<int> run_set;
  for (const auto& p : ctx.data.curves) {
    const std::pair<std::string, std::string> key{p.modalities, p.component};
    if (std::find(panels.begin(), panels.end(), key) == panels.end()) panels.push_back(key);
    fold_set.insert(p.fold);
    run_set.insert(p.run);
  }
  const std::vector<int> folds(fold_set.begin(), fold_set.end());
  const std::vector<int> runs(run_set.begin(), run_set.end());
  static constexpr std::array<const char*, 3> kDashes = {"", "6 3", "2 3"};
  auto index_of = [](const std::vector<int>& v, int x) {
    return static_cast<int>(std::lower_bound(v.begin(), v.end(), x) - v.begin());
  };
  std::vector<std::pair<std::string, std::string>> legend;
  for (size_t i = 0; i < folds.size(); ++i)
    legend.emplace_back(colour::for_series(static_cast<int>(i)), fmt::format("fold {}", folds[i]));
  html += legend_chart(legend, "Folds");
  for (const auto& [modalities, component] : panels) {
    std::map<std::pair<int, int>, std::pair<Series, Series>> by_job;  // (run, fold) -> loss, qwk
    for (const auto& p : ctx.data.curves) {
      if (p.modalities != modalities || p.component != component) continue;
      auto& [loss, qwk] = by_job[{p.run, p.fold}];
      if (loss.colour == nullptr) {
        const int fi = index_of(folds, p.fold);
        const int ri = index_of(runs, p.run);
        for (Series* s : {&loss, &qwk}) {
          s->label = fmt::format("run {} fold {}", p.run, p.fold);
          s->colour = colour::for_series(fi);
          s->dash = kDashes[static_cast<size_t>(ri) % kDashes.size()];
        }
      }
      loss.points.emplace_back(p.epoch, p.loss);
      qwk.points.emplace_back(p.epoch, p.val_qwk);
    }
    std::vector<Series> losses;
    std::vector<Series> qwks;
    for (auto& [job, pair] : by_job) {
      for (Series* s : {&pair.first, &pair.second})
        std::stable_sort(s->points.begin(), s->points.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
      losses.push_back(std::move(pair.first));
      qwks.push_back(std::move(pair.second));
    }
    const std::string title = component + " \u2014 " + modalities;
    html += "<h3>" + escape(title) + "</h3>\n<div class=\"grid\">" +
            line_chart("Training loss", losses, "loss") +
            line_chart("Validation QWK", qwks, "QWK") + "</div>\n";
  }
  html += fmt::format(
      "<p class=\"sub\">{}</p>\n",
      escape("One line per run \u00d7 fold (training_curves.csv), coloured by fold; runs after "
             "the first are dashed. Validation QWK is measured on the inner validation patients "
             "of the training folds, never on the test fold."));
  return html;
}

std::string distribution_section(const Context& ctx) {
  const auto& labels = ctx.data.class_labels;
  std::string html = "<h2 id=\"distribution\">Class distribution per fold</h2>\n";
  if (!ctx.data.has_splits)
    return html + "<p class=\"na\">not available: splits.csv is missing.</p>\n";
  // Label of every visit-wound seen in any prediction file; visit-wounds grouped by patient.
  std::map<std::string, std::map<std::string, int>> label_of;  // patient -> (appt|dfu -> label)
  for (const auto* rows : {&ctx.data.predictions, &ctx.data.oof_predictions})
    for (const auto& p : *rows) label_of[p.patient].emplace(p.appt + "\x1f" + p.dfu, p.label);

  std::map<int, std::map<int, std::array<long, kNumClasses>>> counts;  // run -> part -> class
  std::map<int, long> left_out;                                        // run -> patients
  for (const auto& s : ctx.data.splits) {
    if (s.fold < 0) {
      ++left_out[s.run];
      continue;
    }
    auto& c = counts[s.run][s.fold];
    const auto it = label_of.find(s.patient);
    if (it == label_of.end()) continue;
    for (const auto& [visit, label] : it->second) ++c[label];
  }
  long y_max = 1;
  for (const auto& [run, parts] : counts)
    for (const auto& [part, c] : parts) {
      long total = 0;
      for (long v : c) total += v;
      y_max = std::max(y_max, total);
    }
  std::vector<std::pair<std::string, std::string>> legend;
  for (int k = 0; k < kNumClasses; ++k) legend.emplace_back(colour::for_class(k), labels[k]);
  std::string charts;
  int shown = 0;
  for (const auto& [run, parts] : counts) {
    if (shown++ == kMaxDistributionRuns) break;
    std::vector<std::string> names;
    std::vector<std::array<long, kNumClasses>> values;
    for (const auto& [part, c] : parts) {
      names.push_back(ctx.single_split ? (part == 1 ? "test" : "train") : std::to_string(part));
      values.push_back(c);
    }
    charts += class_distribution_chart(fmt::format("run {}", run), names, values, labels, y_max,
                                       ctx.single_split ? "split part" : "test fold");
  }
  std::string caption =
      "Visit-wounds of the patients in each test fold (splits.csv), by true phase (labels from "
      "the prediction files). Folds are patient-grouped and stratified by class.";
  if (static_cast<int>(counts.size()) > kMaxDistributionRuns)
    caption +=
        fmt::format(" The first {} of {} runs are shown.", kMaxDistributionRuns, counts.size());
  long dropped = 0;
  for (const auto& [run, n] : left_out) dropped = std::max(dropped, n);
  if (dropped > 0)
    caption +=
        fmt::format(" Up to {} patients per run were left out by --data-percentage.", dropped);
  html += "<figure>" + legend_chart(legend, "Classes") + "<div class=\"grid\">" + charts +
          "</div><figcaption>" + escape(caption) + "</figcaption></figure>\n";
  return html;
}

std::string settings_section(const Context& ctx) {
  std::string html = "<h2 id=\"settings\">Settings</h2>\n";
  if (!ctx.data.has_settings)
    return html + "<p class=\"na\">not available: settings.json is missing.</p>\n";
  return html +
         "<p>settings.json as written by the search: effective settings, the data file and "
         "its fingerprint, the schema and the software version.</p>\n<pre>" +
         escape(ctx.data.settings.dump(2)) + "</pre>\n";
}

// A CSV the tree branch wrote (tuning.csv, cleaning.csv) as a table, first `max_rows` rows; ""
// when the run did not write it.
std::string csv_section(const std::string& run_dir, const char* file, const char* id,
                        const char* title, const std::string& intro, size_t max_rows,
                        std::vector<std::string>* files_read) {
  const fs::path path = fs::path(run_dir) / file;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return "";
  const CsvTable table = read_csv(path.string());
  files_read->push_back(file);
  std::string html =
      fmt::format("<h2 id=\"{}\">{}</h2>\n<p>{}</p>\n", id, escape(title), escape(intro));
  html += "<div class=\"scroll\"><table><tr>";
  for (const std::string& h : table.header) html += th(h, true);
  html += "</tr>\n";
  for (size_t i = 0; i < table.rows.size() && i < max_rows; ++i) {
    html += "<tr>";
    for (const std::string& v : table.rows[i]) html += td(v, true);
    html += "</tr>\n";
  }
  html += "</table></div>\n";
  if (table.rows.size() > max_rows)
    html += fmt::format("<p>... and {} more rows in {}.</p>\n", table.rows.size() - max_rows, file);
  return html;
}

}  // namespace
}  // namespace report

std::string render_report(const std::string& run_dir) {
  using namespace report;
  const RunData data = load_run(run_dir);
  const Context ctx = make_context(data);
  std::string best;
  if (!ctx.ranked.empty()) {
    const ResultRow& top = *ctx.ranked.front().result;
    best = fmt::format("Best combination: {} (QWK {}{}).", top.modalities,
                       mean_pm_std(ctx.rank_on_common ? top.qwk_common : top.qwk),
                       ctx.rank_on_common ? " on the common rows" : "");
  }

  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<title>woundphase report</title>\n<style>" + std::string(kStyle) + "</style>\n";
  html += "</head>\n<body>\n<main>\n<h1>woundphase report</h1>\n";
  html += fmt::format(
      "<p class=\"sub\">Patient-grouped cross-validation of {} modality combination{} for the "
      "healing phase. {}</p>\n",
      data.results.size(), data.results.size() == 1 ? "" : "s", escape(best));
  html +=
      "<nav><a href=\"#summary\">Summary</a><a href=\"#ranking\">Ranking</a><a "
      "href=\"#comparisons\">Comparisons</a><a href=\"#folds\">Folds</a><a "
      "href=\"#confusion\">Confusion</a><a href=\"#f1\">F1</a><a "
      "href=\"#calibration\">Calibration</a><a href=\"#complementarity\">Complementarity</a><a "
      "href=\"#importance\">Importance</a><a href=\"#degraded\">Missing images</a><a "
      "href=\"#stages\">Stages</a><a href=\"#curves\">Curves</a><a "
      "href=\"#distribution\">Classes</a><a href=\"#settings\">Settings</a></nav>\n";
  html += summary_section(ctx);
  html += ranking_section(ctx);
  html += comparisons_section(data);
  html += folds_section(ctx);
  html += confusion_section(ctx);
  html += f1_section(ctx);
  std::vector<std::string> order;
  for (const auto& rc : ctx.ranked) order.push_back(rc.result->modalities);
  html += calibration_section(data, order);
  html += complementarity_section(data);
  html += importance_section(data);
  html += degraded_section(data);
  html += stages_section(ctx);
  html += curves_section(ctx);
  html += distribution_section(ctx);
  std::vector<std::string> files_read = data.files_read;
  html += csv_section(run_dir, "tuning.csv", "tuning", "Nested tuning (--tune)",
                      "The tree-branch configuration chosen inside each training fold by its inner "
                      "out-of-fold QWK, and what the search cost.",
                      kMaxTableRows, &files_read);
  html += csv_section(run_dir, "cleaning.csv", "cleaning", "Label cleaning (--clean)",
                      "Visit-wounds flagged as possibly mislabelled, for review. A protocol column "
                      "reading OPTIMISTIC means the flags came from the outer CV itself and the "
                      "figures above overstate what new patients would see.",
                      kMaxTableRows, &files_read);
  html += settings_section(ctx);
  std::string inputs;
  for (const auto& f : files_read) inputs += (inputs.empty() ? "" : ", ") + f;
  html += "<footer>Written by woundphase report from " + escape(inputs) +
          ". The unit of evaluation is the visit-wound (patient, appointment, wound).</footer>\n";
  html += "</main>\n</body>\n</html>\n";
  return html;
}

void write_report(const std::string& run_dir) {
  const std::string html = render_report(run_dir);
  write_file_atomically((fs::path(run_dir) / "report.html").string(), html);
}

}  // namespace woundphase

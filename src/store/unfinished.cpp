// What an interrupted search left: its plan from the stored settings, its finished jobs from the
// store, and a page that shows them (report --run on a folder without results.csv).
#include <fmt/format.h>

#include <cmath>  // for isnan
#include <filesystem>
#include <nlohmann/json.hpp>

#include "report/svg.h"  // for escape
#include "woundphase/store.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

constexpr char kStoreFileName[] = "woundphase.db";
// Missing jobs named in the terminal message; the page lists them all.
constexpr size_t kMissingShown = 5;

using report::escape;  // the report's HTML escaping (& < > " ')

std::string qwk_text(double v) { return std::isnan(v) ? "n/a" : fmt::format("{:.3f}", v); }

}  // namespace

int UnfinishedSearch::planned() const {
  return runs * folds * static_cast<int>(combinations.size());
}

UnfinishedSearch read_unfinished_search(const std::string& out_dir) {
  const fs::path db = fs::path(out_dir) / kStoreFileName;
  std::error_code ec;
  if (!fs::is_regular_file(db, ec))
    throw InputError(
        fmt::format("{}: no {} (not a search's output folder)", out_dir, kStoreFileName));
  auto store = Store::open(db.string());
  const auto run = store->meta("run");
  if (!run) throw InputError(fmt::format("{}: the store holds no search", db.string()));
  const nlohmann::json settings = nlohmann::json::parse(*run).at("settings");
  UnfinishedSearch u;
  u.out_dir = out_dir;
  u.runs = settings.at("runs").get<int>();
  u.folds = settings.at("cv_folds").get<int>();
  u.combinations = settings.at("modalities").get<std::vector<std::string>>();
  if (settings.contains("ensemble")) u.combinations.push_back(kEnsembleName);
  for (int r = 0; r < u.runs; ++r)
    for (int f = 0; f < u.folds; ++f)
      for (const std::string& c : u.combinations) {
        const auto job = store->load_job(r, f, c);
        if (!job) {
          u.missing.push_back({r, f, c, 0, 0});
          continue;
        }
        u.finished.push_back({r, f, c, job->result.scores.qwk, job->result.n_test});
      }
  return u;
}

std::string UnfinishedSearch::summary() const {
  std::vector<std::string> shown;
  for (size_t i = 0; i < missing.size() && i < kMissingShown; ++i)
    shown.push_back(
        fmt::format("run {} fold {} {}", missing[i].run, missing[i].fold, missing[i].modalities));
  std::string out = fmt::format("{}: unfinished search: {} of {} jobs finished", out_dir,
                                finished.size(), planned());
  if (!missing.empty())
    out += fmt::format("; missing {} ({}{})", missing.size(), fmt::join(shown, ", "),
                       missing.size() > kMissingShown ? ", ..." : "");
  return out + "; rerun the search's command to finish it";
}

std::string UnfinishedSearch::html() const {
  std::string page =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>woundphase: unfinished "
      "search</title>\n<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px "
      "8px;text-align:right}th:first-child,td:first-child{text-align:left}"
      ".missing{color:#b00}</style></head><body>\n";
  page += fmt::format(
      "<h1>Unfinished search</h1>\n<p>{}: {} of {} jobs finished ({} runs &times; "
      "{} folds &times; {} combinations). The search's outputs (results.csv and "
      "the full report) are written when every job has finished: rerun the "
      "search's command, which keeps the finished jobs.</p>\n",
      escape(out_dir), finished.size(), planned(), runs, folds, combinations.size());
  // One row per combination, one column per (run, fold): the test QWK of each finished job.
  page += "<h2>Test QWK of the finished jobs</h2>\n<table>\n<tr><th>combination</th>";
  for (int r = 0; r < runs; ++r)
    for (int f = 0; f < folds; ++f) page += fmt::format("<th>r{} f{}</th>", r, f);
  page += "<th>mean so far</th><th>finished</th></tr>\n";
  for (const std::string& c : combinations) {
    page += "<tr><td>" + escape(c) + "</td>";
    double sum = 0;
    int n = 0;
    int done = 0;
    for (int r = 0; r < runs; ++r)
      for (int f = 0; f < folds; ++f) {
        const Job* job = nullptr;
        for (const Job& j : finished)
          if (j.run == r && j.fold == f && j.modalities == c) job = &j;
        if (job == nullptr) {
          page += "<td class=\"missing\">missing</td>";
          continue;
        }
        ++done;
        page += "<td>" + qwk_text(job->qwk) + "</td>";
        if (!std::isnan(job->qwk)) {
          sum += job->qwk;
          ++n;
        }
      }
    page += fmt::format("<td>{}</td><td>{} of {}</td></tr>\n",
                        n > 0 ? qwk_text(sum / n) : std::string("-"), done, runs * folds);
  }
  page += "</table>\n";
  if (!missing.empty()) {
    page += fmt::format("<h2>Missing ({})</h2>\n<p class=\"missing\">", missing.size());
    std::vector<std::string> names;
    for (const Job& j : missing)
      names.push_back(fmt::format("run {} fold {} {}", j.run, j.fold, escape(j.modalities)));
    page += fmt::format("{}</p>\n", fmt::join(names, "; "));
  }
  return page + "</body></html>\n";
}

}  // namespace woundphase

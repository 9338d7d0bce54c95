// Paired comparison of searches run with the same seeds (so the same patient folds) on the same
// data: each RUN_DIR's predictions.csv against BASE_DIR's, for one row name (default metadata),
// with the project's statistics (woundphase/stats.h): per (run, fold) QWK differences,
// Nadeau-Bengio corrected t-test, Wilcoxon, patient-bootstrap interval, and Holm's adjustment of
// the corrected-t p-values over the RUN_DIRs. Used by bench/compare_defaults.sh.
// Usage: compare_runs [--name NAME] BASE_DIR LABEL=RUN_DIR...
#include <fmt/format.h>

#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "woundphase/dataset.h"  // for read_csv
#include "woundphase/stats.h"

namespace {

using woundphase::stats::PairedRow;
// (run, fold, patient, appt, dfu) -> (truth, pred) of the named row.
using Key = std::tuple<int, int, std::string, std::string, std::string>;
using Predictions = std::map<Key, std::pair<int, int>>;

constexpr int kBootstrapReplicates = 1000;

int class_index(std::vector<std::string>& labels, const std::string& text) {
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == text) return static_cast<int>(i);
  labels.push_back(text);
  return static_cast<int>(labels.size() - 1);
}

Predictions load(const std::string& dir, const std::string& name,
                 std::vector<std::string>& labels) {
  const woundphase::CsvTable t = woundphase::read_csv(dir + "/predictions.csv");
  const int run = t.column_index("run"), fold = t.column_index("fold"),
            mod = t.column_index("modalities"), patient = t.column_index("patient"),
            appt = t.column_index("appt"), dfu = t.column_index("dfu"),
            label = t.column_index("label"), pred = t.column_index("pred");
  Predictions out;
  for (const auto& r : t.rows) {
    if (r[mod] != name) continue;
    out[{std::stoi(r[run]), std::stoi(r[fold]), r[patient], r[appt], r[dfu]}] = {
        class_index(labels, r[label]), class_index(labels, r[pred])};
  }
  if (out.empty()) throw woundphase::InputError(dir + "/predictions.csv: no rows named " + name);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string name = "metadata";
  int first = 1;
  if (argc > 2 && std::strcmp(argv[1], "--name") == 0) {
    name = argv[2];
    first = 3;
  }
  if (argc - first < 2) {
    std::cerr << "usage: compare_runs [--name NAME] BASE_DIR LABEL=RUN_DIR...\n";
    return 2;
  }
  try {
    // Phases are ordered: I < P < R by their order in the schema; the CSVs name them, so fix the
    // order from the DFU labels and add any others after.
    std::vector<std::string> labels = {"I", "P", "R"};
    const Predictions base = load(argv[first], name, labels);
    // Test/train size ratio of the corrected t-test: per (run, fold), test rows over the run's
    // other rows, averaged.
    std::map<int, long> run_rows;
    std::map<std::pair<int, int>, long> fold_rows;
    for (const auto& [k, v] : base) {
      ++run_rows[std::get<0>(k)];
      ++fold_rows[{std::get<0>(k), std::get<1>(k)}];
    }
    double ratio = 0;
    for (const auto& [rf, n] : fold_rows)
      ratio += static_cast<double>(n) / static_cast<double>(run_rows[rf.first] - n);
    ratio /= static_cast<double>(fold_rows.size());

    std::map<std::string, int> patient_index;
    std::vector<std::string> names;
    std::vector<woundphase::stats::PairedComparison> results;
    for (int i = first + 1; i < argc; ++i) {
      const std::string arg = argv[i];
      const size_t eq = arg.find('=');
      const std::string label = eq == std::string::npos ? arg : arg.substr(0, eq);
      const std::string dir = eq == std::string::npos ? arg : arg.substr(eq + 1);
      const Predictions other = load(dir, name, labels);
      std::vector<PairedRow> rows;
      for (const auto& [k, a] : other) {
        const auto it = base.find(k);
        if (it == base.end()) continue;
        if (it->second.first != a.first)
          throw woundphase::InputError(dir + ": labels differ from the base run's (other data?)");
        PairedRow r;
        r.run = std::get<0>(k);
        r.fold = std::get<1>(k);
        r.patient = patient_index.emplace(std::get<2>(k), static_cast<int>(patient_index.size()))
                        .first->second;
        r.truth = a.first;
        r.pred_a = a.second;           // the option
        r.pred_b = it->second.second;  // the base
        rows.push_back(r);
      }
      if (rows.size() != base.size())
        throw woundphase::InputError(
            fmt::format("{}: {} of the base run's {} rows matched; were both searched with the "
                        "same --seed, --runs and --cv-folds?",
                        dir, rows.size(), base.size()));
      woundphase::stats::BootstrapSettings b;
      b.replicates = kBootstrapReplicates;
      names.push_back(label);
      results.push_back(woundphase::stats::compare_paired(rows, ratio, b));
    }
    std::vector<double> p;
    for (const auto& r : results) p.push_back(r.corrected_t.p);
    const std::vector<double> holm = woundphase::stats::holm(p);
    fmt::print("{:<44} {:>7} {:>7} {:>8} {:>18} {:>8} {:>8} {:>8}\n", "option vs base", "QWK",
               "base", "diff", "95% CI (patients)", "p (NB t)", "p Holm", "p Wilc.");
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      fmt::print(
          "{:<44} {:>7.3f} {:>7.3f} {:>+8.3f} [{:>+7.3f}, {:>+7.3f}] {:>8.4f} {:>8.4f} {:>8.4f}\n",
          names[i], r.qwk_a, r.qwk_b, r.qwk_diff, r.diff_ci_low, r.diff_ci_high, r.corrected_t.p,
          holm[i], r.wilcoxon.p);
    }
  } catch (const std::exception& e) {
    std::cerr << "compare_runs: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

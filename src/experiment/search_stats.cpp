// The statistics of a search's test predictions: common rows, paired comparisons,
// complementarity and calibration (search_stats.h).
#include "experiment/search_stats.h"

#include <fmt/format.h>

#include <algorithm>  // for sort, find, max
#include <map>
#include <set>
#include <utility>  // for pair

#include "woundphase/dataset.h"  // for csv_field
#include "woundphase/enum_names.h"

namespace woundphase {
namespace {

using FoldKey = std::pair<int, int>;  // (run, fold)
// Per (run, fold), per combination: its test predictions by dataset row.
using PredictionIndex =
    std::map<FoldKey, std::map<std::string, std::map<int, const PredictionRow*>>>;

PredictionIndex index_predictions(const SearchResult& result) {
  PredictionIndex index;
  for (const PredictionRow& p : result.predictions)
    index[{p.run, p.fold}][p.modalities][p.row] = &p;
  return index;
}

// Per (run, fold): the rows every combination of the search predicted.
std::map<FoldKey, std::vector<int>> common_rows(const PredictionIndex& index,
                                                const std::vector<std::string>& names) {
  std::map<FoldKey, std::vector<int>> out;
  for (const auto& [key, by_name] : index) {
    std::vector<int>& rows = out[key];
    bool first = true;
    for (const std::string& name : names) {
      const auto it = by_name.find(name);
      std::vector<int> own;
      if (it != by_name.end())
        for (const auto& [row, p] : it->second) own.push_back(row);
      if (first) {
        rows = own;
        first = false;
        continue;
      }
      std::vector<int> kept;
      std::set_intersection(rows.begin(), rows.end(), own.begin(), own.end(),
                            std::back_inserter(kept));
      rows = std::move(kept);
    }
  }
  return out;
}

// Mean over folds x runs of n_test / n_train, counting every visit-wound of the split (the
// Nadeau-Bengio correction's n2 / n1). With one train/test split (cv_folds 1) the test part is 1.
double test_train_ratio(const Dataset& data, const SearchResult& result) {
  std::map<int, std::set<int>> folds_of_run;
  for (const FoldResult& f : result.folds) folds_of_run[f.run].insert(f.fold);
  std::vector<double> ratios;
  for (const auto& [run, folds] : folds_of_run) {
    if (run < 0 || run >= static_cast<int>(result.fold_of_patient.size())) continue;
    const std::vector<int>& part_of = result.fold_of_patient[run];
    int max_part = -1;
    for (int part : part_of) max_part = std::max(max_part, part);
    const bool single_split = folds.size() == 1 && max_part == 1;
    for (int fold : folds) {
      const int test_part = single_split ? 1 : fold;
      long n_test = 0;
      long n_train = 0;
      for (const VisitWound& vw : data.rows) {
        const int part = part_of[vw.patient];
        if (part < 0) continue;
        ++(part == test_part ? n_test : n_train);
      }
      if (n_train > 0) ratios.push_back(static_cast<double>(n_test) / n_train);
    }
  }
  return ratios.empty() ? NAN : mean_std(ratios).mean;
}

// Split "a+b+c" into its modalities.
std::vector<std::string> members_of(const std::string& name) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t plus = name.find('+', start);
    out.push_back(name.substr(start, plus - start));
    if (plus == std::string::npos) return out;
    start = plus + 1;
  }
}

std::string num(double v) { return fmt::format("{:.6f}", v); }
// Comparisons carry 12 decimals and p-values 10 significant digits, so a reference computation
// from predictions.csv can check them to 1e-9 and 1e-6.
std::string precise(double v) { return fmt::format("{:.12f}", v); }
std::string p_value(double v) { return fmt::format("{:.10g}", v); }

}  // namespace

namespace {

constexpr EnumNames<CalibrationMethod, 2> kCalibrationNames(
    "--calibrate",
    {{{CalibrationMethod::kNone, "none"}, {CalibrationMethod::kTemperature, "temperature"}}});

}  // namespace

std::string to_string(CalibrationMethod m) { return kCalibrationNames.name(m); }
CalibrationMethod parse_calibration(const std::string& text) {
  return kCalibrationNames.parse(text);
}

double fit_job_temperature(const Dataset& data, const std::vector<PredictionRow>& fit_rows) {
  Probabilities probs;
  std::vector<int> truth;
  for (const PredictionRow& p : fit_rows) {
    probs.insert(probs.end(), p.prob.begin(), p.prob.end());
    truth.push_back(data.rows[p.row].label);
  }
  return stats::fit_temperature(probs, truth);
}

SearchStatistics compute_search_statistics(const Dataset& data, const SearchResult& result,
                                           double alpha, CalibrationMethod calibrate) {
  SearchStatistics out;
  out.alpha = alpha;
  out.calibrate = calibrate;
  // Predictions for training patients (validation or out-of-fold) per (run, fold, combination):
  // what a fold's temperature is fitted on.
  std::map<std::pair<FoldKey, std::string>, std::vector<PredictionRow>> fit_rows;
  if (calibrate == CalibrationMethod::kTemperature)
    for (const PredictionRow& p : result.oof_predictions)
      fit_rows[{{p.run, p.fold}, p.modalities}].push_back(p);
  std::vector<std::string> names;
  for (const CombinationSummary& s : result.summary) names.push_back(s.modalities);
  const PredictionIndex index = index_predictions(result);
  const std::map<FoldKey, std::vector<int>> common = common_rows(index, names);
  out.test_train_ratio = test_train_ratio(data, result);

  // Per combination: QWK on the common rows, weighted F1 on its own rows, calibration.
  for (const std::string& name : names) {
    CombinationStats c;
    c.modalities = name;
    std::vector<double> qwk_common;
    std::vector<double> f1_weighted;
    std::set<int> common_seen;
    Probabilities probs;
    Probabilities calibrated;
    std::vector<int> truth;
    std::vector<double> temperatures;
    for (const auto& [key, by_name] : index) {
      const auto own = by_name.find(name);
      if (own == by_name.end()) continue;
      Confusion own_confusion{};
      Probabilities fold_probs;
      for (const auto& [row, p] : own->second) {
        const int y = data.rows[row].label;
        ++own_confusion[y][p->pred];
        fold_probs.insert(fold_probs.end(), p->prob.begin(), p->prob.end());
        truth.push_back(y);
      }
      probs.insert(probs.end(), fold_probs.begin(), fold_probs.end());
      if (calibrate == CalibrationMethod::kTemperature) {
        const auto fit = fit_rows.find({key, name});
        const double t = fit == fit_rows.end() ? 1.0 : fit_job_temperature(data, fit->second);
        temperatures.push_back(t);
        const Probabilities scaled = stats::apply_temperature(fold_probs, t);
        calibrated.insert(calibrated.end(), scaled.begin(), scaled.end());
      }
      f1_weighted.push_back(stats::weighted_f1(own_confusion));
      const std::vector<int>& rows = common.at(key);
      if (rows.size() != own->second.size()) out.common_differs = true;
      Confusion common_confusion{};
      for (int row : rows) {
        ++common_confusion[data.rows[row].label][own->second.at(row)->pred];
        common_seen.insert(row);
      }
      qwk_common.push_back(quadratic_weighted_kappa(common_confusion));
    }
    c.n_common = static_cast<int>(common_seen.size());
    c.qwk_common = stats::nan_mean_std(qwk_common);
    c.f1_weighted = stats::nan_mean_std(f1_weighted).mean;
    c.calibration = stats::calibration(probs, truth);
    if (calibrate == CalibrationMethod::kTemperature) {
      c.temperature_mean = stats::nan_mean_std(temperatures).mean;
      c.calibrated = stats::calibration(calibrated, truth);
    }
    out.combinations.push_back(std::move(c));
  }

  // The top-ranked combination: best QWK on common rows; NaN last; ties by name.
  std::vector<const CombinationStats*> ranked;
  for (const CombinationStats& c : out.combinations) ranked.push_back(&c);
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto* a, const auto* b) {
    const bool a_nan = std::isnan(a->qwk_common.mean);
    const bool b_nan = std::isnan(b->qwk_common.mean);
    if (a_nan != b_nan) return b_nan;
    if (!a_nan && a->qwk_common.mean != b->qwk_common.mean)
      return a->qwk_common.mean > b->qwk_common.mean;
    return a->modalities < b->modalities;
  });
  if (!ranked.empty()) out.top = ranked.front()->modalities;

  // Pairs: each combination against metadata, then against the top one (each pair once).
  const std::string metadata = to_string(Modality::kMetadata);
  const bool has_metadata = std::find(names.begin(), names.end(), metadata) != names.end();
  std::vector<std::pair<std::string, std::string>> pairs;
  auto add_pair = [&](const std::string& a, const std::string& b) {
    if (a == b) return;
    for (const auto& [x, y] : pairs)
      if ((x == a && y == b) || (x == b && y == a)) return;
    pairs.emplace_back(a, b);
  };
  if (has_metadata)
    for (const std::string& name : names) add_pair(name, metadata);
  for (const std::string& name : names) add_pair(name, out.top);

  const stats::BootstrapSettings bootstrap{kComparisonBootstrapReplicates, kComparisonBootstrapSeed,
                                           kComparisonIntervalLevel};
  auto paired_rows = [&](const std::string& a, const std::string& b) {
    std::vector<stats::PairedRow> rows;
    for (const auto& [key, by_name] : index) {
      const auto ia = by_name.find(a);
      const auto ib = by_name.find(b);
      if (ia == by_name.end() || ib == by_name.end()) continue;
      for (int row : common.at(key)) {
        const VisitWound& vw = data.rows[row];
        rows.push_back({key.first, key.second, vw.patient, vw.label, ia->second.at(row)->pred,
                        ib->second.at(row)->pred});
      }
    }
    return rows;
  };
  std::vector<double> p_t;
  for (const auto& [a, b] : pairs) {
    ComparisonRow row;
    row.a = a;
    row.b = b;
    const std::vector<stats::PairedRow> rows = paired_rows(a, b);
    std::set<int> distinct;
    for (const auto& [key, rs] : common)
      for (int r : rs) distinct.insert(r);
    row.n_common = static_cast<int>(distinct.size());
    row.result = stats::compare_paired(rows, out.test_train_ratio, bootstrap);
    p_t.push_back(row.result.corrected_t.p);
    out.comparisons.push_back(std::move(row));
  }
  const std::vector<double> adjusted = stats::holm(p_t);
  for (size_t i = 0; i < out.comparisons.size(); ++i) {
    out.comparisons[i].p_holm = adjusted[i];
    out.comparisons[i].significant = !std::isnan(adjusted[i]) && adjusted[i] <= alpha;
  }

  // Complementarity on the common rows of every run: pairs of single modalities, and each fusion
  // against each of its members that the search evaluated alone.
  auto complement = [&](const std::string& a, const std::string& b, const std::string& kind) {
    std::vector<int> truth, pred_a, pred_b;
    for (const stats::PairedRow& r : paired_rows(a, b)) {
      truth.push_back(r.truth);
      pred_a.push_back(r.pred_a);
      pred_b.push_back(r.pred_b);
    }
    ComplementarityRow row;
    row.a = a;
    row.b = b;
    row.kind = kind;
    row.table = stats::correctness_table(truth, pred_a, pred_b);
    row.agreement = stats::agreement(row.table);
    const double n = static_cast<double>(row.table.total());
    if (n > 0) {
      row.accuracy_a = (row.table.both + row.table.a_only) / n;
      row.accuracy_b = (row.table.both + row.table.b_only) / n;
    }
    return row;
  };
  auto qwk_common_of = [&](const std::string& name) -> double {
    for (const CombinationStats& c : out.combinations)
      if (c.modalities == name) return c.qwk_common.mean;
    return NAN;
  };
  std::vector<std::string> singles;
  for (const std::string& name : names)
    if (name != kEnsembleName && name.find('+') == std::string::npos) singles.push_back(name);
  for (size_t i = 0; i < singles.size(); ++i)
    for (size_t j = i + 1; j < singles.size(); ++j)
      out.complementarity.push_back(complement(singles[i], singles[j], "modalities"));
  for (const std::string& name : names) {
    if (name.find('+') == std::string::npos) continue;
    std::vector<std::string> members;
    for (const std::string& m : members_of(name))
      if (std::find(singles.begin(), singles.end(), m) != singles.end()) members.push_back(m);
    double best_member = NAN;
    for (const std::string& m : members) {
      const double q = qwk_common_of(m);
      if (!std::isnan(q) && (std::isnan(best_member) || q > best_member)) best_member = q;
    }
    for (const std::string& m : members) {
      ComplementarityRow row = complement(name, m, "fusion");
      row.fusion_gain = qwk_common_of(name) - best_member;
      out.complementarity.push_back(std::move(row));
    }
  }
  return out;
}

std::string comparisons_csv(const SearchStatistics& s) {
  std::string out =
      "a,b,n_common,qwk_a,qwk_b,qwk_diff,diff_ci_low,diff_ci_high,p_corrected_t,p_wilcoxon,"
      "p_mcnemar,p_holm,significant,n_folds,t_statistic,wilcoxon_statistic,mcnemar_b,mcnemar_c,"
      "test_train_ratio,alpha\n";
  for (const ComparisonRow& c : s.comparisons) {
    const stats::PairedComparison& r = c.result;
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                       csv_field(c.a), csv_field(c.b), c.n_common, precise(r.qwk_a),
                       precise(r.qwk_b), precise(r.qwk_diff), num(r.diff_ci_low),
                       num(r.diff_ci_high), p_value(r.corrected_t.p), p_value(r.wilcoxon.p),
                       p_value(r.mcnemar.p), p_value(c.p_holm), c.significant ? "yes" : "no",
                       r.n_folds, num(r.corrected_t.statistic), num(r.wilcoxon.statistic),
                       r.mcnemar_b, r.mcnemar_c, precise(s.test_train_ratio), s.alpha);
  }
  return out;
}

std::string complementarity_csv(const SearchStatistics& s) {
  std::string out =
      "a,b,kind,n,both_right,a_only_right,b_only_right,both_wrong,accuracy_a,accuracy_b,"
      "error_overlap,yules_q,disagreement,oracle_accuracy,fusion_gain\n";
  for (const ComplementarityRow& c : s.complementarity) {
    const stats::Agreement& g = c.agreement;
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(c.a),
                       csv_field(c.b), c.kind, c.table.total(), c.table.both, c.table.a_only,
                       c.table.b_only, c.table.neither, num(c.accuracy_a), num(c.accuracy_b),
                       num(g.error_overlap), num(g.yules_q), num(g.disagreement),
                       num(g.oracle_accuracy), c.kind == "fusion" ? num(c.fusion_gain) : "");
  }
  return out;
}

}  // namespace woundphase

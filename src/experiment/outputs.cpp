// Search outputs: the CSV files and the printed results table. Numbers are written with a fixed
// precision so identical runs give byte-identical files.
#include <fmt/format.h>
#include <unistd.h>  // for getpid

#include <algorithm>  // for stable_sort, find
#include <array>
#include <cmath>   // for isnan
#include <cstdio>  // for rename
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "experiment/search_stats.h"
#include "report/run_data.h"     // for bootstrap_pooled_qwk: the report's interval
#include "woundphase/dataset.h"  // for csv_field
#include "woundphase/files.h"
#include "woundphase/report.h"  // for kSkippedImagesFile
#include "woundphase/search.h"
#include "woundphase/search_settings.h"

namespace woundphase {
namespace {
constexpr char kCleaningFile[] = "cleaning.csv";
constexpr char kTuningFile[] = "tuning.csv";
constexpr char kGeneratedFile[] = "generated_images.csv";
}  // namespace
}  // namespace woundphase

namespace fs = std::filesystem;

namespace woundphase {
namespace {

std::string num(double v) { return fmt::format("{:.6f}", v); }

constexpr double kIntervalLevel = 0.95;  // the report's intervals

// The stages of a fused combination, in the order the seed's tables print them.
constexpr const char* kStages[] = {"pretrain", "stage1", "stage2"};

// "mean ± std" in the printed table; "n/a" where the kappa is undefined in every fold.
std::string pm_cell(const MeanStd& m) {
  if (std::isnan(m.mean)) return fmt::format("{:>7} ± {:<5}", "n/a", "");
  return fmt::format("{:>7.3f} ± {:<5.3f}", m.mean, m.std);
}

// The report's ranking (report.cpp, make_context): by QWK on the common rows when some
// combination's own rows differ from them, else on own rows; best first, NaN last, ties by name.
// Returns the rank of each summary row, 1 = best.
std::vector<int> report_ranks(const SearchResult& result, const SearchStatistics& statistics) {
  const size_t n = result.summary.size();
  auto qwk = [&](size_t i) {
    return statistics.common_differs ? statistics.combinations[i].qwk_common.mean
                                     : result.summary[i].qwk.mean;
  };
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const double qa = qwk(a);
    const double qb = qwk(b);
    if (std::isnan(qa) != std::isnan(qb)) return std::isnan(qb);
    if (!std::isnan(qa) && qa != qb) return qa > qb;
    return result.summary[a].modalities < result.summary[b].modalities;
  });
  std::vector<int> rank(n);
  for (size_t r = 0; r < n; ++r) rank[order[r]] = static_cast<int>(r) + 1;
  return rank;
}

// The report's 95% interval of a combination's pooled QWK: the same bootstrap (patients drawn
// with replacement, kReportBootstrapReplicates, kReportBootstrapSeed) on the same predictions, so
// results.csv and the report quote the same bounds.
report::Interval qwk_interval(const Dataset& data, const SearchResult& result,
                              const std::string& modalities) {
  std::vector<report::PredictionRow> rows;
  for (const PredictionRow& p : result.predictions) {
    if (p.modalities != modalities) continue;
    const VisitWound& vw = data.rows[p.row];
    report::PredictionRow r;
    r.run = p.run;
    r.fold = p.fold;
    r.modalities = p.modalities;
    r.patient = data.patients[vw.patient];
    r.label = vw.label;
    r.pred = p.pred;
    rows.push_back(std::move(r));
  }
  std::vector<const report::PredictionRow*> pointers;
  for (const auto& r : rows) pointers.push_back(&r);
  return report::bootstrap_pooled_qwk(pointers, kReportBootstrapReplicates, kReportBootstrapSeed,
                                      kIntervalLevel);
}

std::string stage_cell(double v) { return std::isnan(v) ? "      -" : fmt::format("{:>7.3f}", v); }

// Per fused combination: test QWK per fold after each stage, then mean ± std (the seed's
// Pre-train | Stage 1 | Stage 2 | Final tables).
std::string stage_tables(const SearchResult& result) {
  std::string out;
  std::vector<std::string> names;
  for (const auto& f : result.folds)
    if (!f.stages.empty() && std::find(names.begin(), names.end(), f.modalities) == names.end())
      names.push_back(f.modalities);
  for (const std::string& name : names) {
    out += fmt::format("\n{}: test QWK by stage (final = the stage chosen on validation)\n", name);
    out += fmt::format("{:>4} {:>5}  {:>9}  {:>7}  {:>7}  {:>7}\n", "run", "fold", "pre-train",
                       "stage 1", "stage 2", "final");
    std::array<std::vector<double>, 4> columns;
    for (const auto& f : result.folds) {
      if (f.modalities != name) continue;
      out += fmt::format("{:>4} {:>5}", f.run, f.fold);
      for (size_t s = 0; s < std::size(kStages); ++s) {
        const double q = f.stage_qwk(kStages[s]);
        out += (s == 0 ? "    " : "  ") + stage_cell(q);
        if (!std::isnan(q)) columns[s].push_back(q);
      }
      out += "  " + stage_cell(f.scores.qwk) + "\n";
      columns[3].push_back(f.scores.qwk);
    }
    // Mean and standard deviation over folds x runs, under their columns.
    for (const bool mean : {true, false}) {
      out += fmt::format("{:>10}", mean ? "mean" : "std");
      for (size_t s = 0; s < columns.size(); ++s) {
        const double v = columns[s].empty()
                             ? NAN
                             : (mean ? mean_std(columns[s]).mean : mean_std(columns[s]).std);
        out += (s == 0 ? "    " : "  ") + stage_cell(v);
      }
      out += "\n";
    }
  }
  return out;
}

// generated_images.csv: per (run, fold), each image branch's then each stage 2's generated images
// per modality and class; sorted, so the bytes do not depend on which job finished first.
std::string generated_csv(const Dataset& data, const SearchResult& result) {
  auto rows = result.generated;
  std::stable_sort(rows.begin(), rows.end(), [](const GeneratedCount& a, const GeneratedCount& b) {
    const int a_stage = a.stage == kGeneratedBranch ? 0 : 1;  // branches first
    const int b_stage = b.stage == kGeneratedBranch ? 0 : 1;
    return std::tie(a.run, a.fold, a_stage, a.combination, a.modality) <
           std::tie(b.run, b.fold, b_stage, b.combination, b.modality);
  });
  std::string out = "run,fold,combination,modality,stage,class,injected\n";
  for (const GeneratedCount& g : rows)
    for (int c = 0; c < kNumClasses; ++c)
      out +=
          fmt::format("{},{},{},{},{},{},{}\n", g.run, g.fold, csv_field(g.combination), g.modality,
                      g.stage, csv_field(data.schema.class_labels[c]), g.injected[c]);
  return out;
}

// cleaning.csv: every visit-wound flagged at least once, for a clinician to review.
std::string cleaning_csv(const Dataset& data, const SearchResult& result) {
  const auto& labels = data.schema.class_labels;
  struct Tally {
    int fits = 0, flagged = 0, wrong = 0, passes = 0;
    double confidence = 0;
    std::array<int, kNumClasses> suggested{};
    const LabelIssue* last = nullptr;  // the last flagging verdict, for its reason
  };
  std::map<int, Tally> by_row;
  bool optimistic = false;
  for (const CleaningRow& c : result.cleaning) {
    optimistic = optimistic || c.run < 0;
    Tally& t = by_row[c.row];
    ++t.fits;
    t.confidence += c.issue.self_confidence;
    t.wrong += c.issue.misclassified;
    t.passes += c.issue.passes;
    if (!c.issue.flagged) continue;
    ++t.flagged;
    ++t.suggested[c.issue.suggested];
    t.last = &c.issue;
  }
  std::string out = fmt::format(
      "patient,appt,dfu,label,protocol,times_flagged,times_fitted,share_flagged,suggested,"
      "mean_self_confidence,misclassified_passes,passes,reason\n");
  for (const auto& [row, t] : by_row) {
    if (t.flagged == 0) continue;
    const VisitWound& vw = data.rows[row];
    const int suggested = static_cast<int>(
        std::max_element(t.suggested.begin(), t.suggested.end()) - t.suggested.begin());
    const LabelIssue& i = *t.last;
    const std::string reason =
        i.needed > 0
            ? fmt::format("misclassified in {} of {} out-of-fold passes (class threshold {})",
                          i.misclassified, i.passes, i.needed)
            : fmt::format(
                  "P({}) = {:.3f} >= {}'s mean self-confidence {:.3f}; P({}) = {:.3f} "
                  "(its class's mean {:.3f})",
                  labels[i.suggested], i.suggested_prob, labels[i.suggested], i.suggested_threshold,
                  labels[vw.label], i.self_confidence, i.label_threshold);
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                       csv_field(data.patients[vw.patient]), vw.appt, vw.dfu, labels[vw.label],
                       optimistic ? "OPTIMISTIC (outer CV)" : "honest (training folds)", t.flagged,
                       t.fits, num(static_cast<double>(t.flagged) / t.fits), labels[suggested],
                       num(t.confidence / t.fits), t.wrong, t.passes, csv_field(reason));
  }
  return out;
}

}  // namespace

SearchRanking write_search_outputs(const Dataset& data, const SearchResult& result,
                                   const std::string& out_dir, double alpha,
                                   CalibrationMethod calibrate) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec)
    throw InputError(fmt::format("{}: cannot create output folder ({})", out_dir, ec.message()));
  const auto& labels = data.schema.class_labels;

  // The statistics columns come after the original ones, so readers of the old layout still work.
  const SearchStatistics statistics = compute_search_statistics(data, result, alpha, calibrate);
  const bool calibrated = calibrate == CalibrationMethod::kTemperature;
  std::string results = fmt::format(
      "modalities,n_samples,qwk_mean,qwk_std,kappa_mean,kappa_std,accuracy_mean,macro_f1_mean,f1_{}"
      ",f1_{},f1_{},n_common,qwk_common_mean,qwk_common_std,f1_weighted,ece,brier,log_loss{}\n",
      labels[0], labels[1], labels[2],
      calibrated ? ",temperature_mean,ece_calibrated,brier_calibrated,log_loss_calibrated" : "");
  // Label cleaning names itself in every row (an optimistic protocol must never pass for honest).
  // The ranking columns follow the others; the cleaning label, when there is one, stays last.
  const bool cleaned = !result.cleaning_label.empty();
  results.pop_back();
  results += ",rank,n_folds,n_runs,qwk_ci_low,qwk_ci_high";
  results += cleaned ? ",cleaning\n" : "\n";
  const std::vector<int> ranks = report_ranks(result, statistics);
  for (size_t i = 0; i < result.summary.size(); ++i) {
    const CombinationSummary& s = result.summary[i];
    const CombinationStats& c = statistics.combinations[i];
    std::set<int> runs;
    std::set<int> folds;
    for (const FoldResult& f : result.folds)
      if (f.modalities == s.modalities) {
        runs.insert(f.run);
        folds.insert(f.fold);
      }
    const report::Interval ci = qwk_interval(data, result, s.modalities);
    results += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}", csv_field(s.modalities),
        s.n_samples, num(s.qwk.mean), num(s.qwk.std), num(s.kappa.mean), num(s.kappa.std),
        num(s.accuracy.mean), num(s.macro_f1.mean), num(s.f1[0]), num(s.f1[1]), num(s.f1[2]),
        c.n_common, num(c.qwk_common.mean), num(c.qwk_common.std), num(c.f1_weighted),
        num(c.calibration.ece), num(c.calibration.brier), num(c.calibration.log_loss));
    if (calibrated)
      results += fmt::format(",{},{},{},{}", num(c.temperature_mean), num(c.calibrated.ece),
                             num(c.calibrated.brier), num(c.calibrated.log_loss));
    results += fmt::format(",{},{},{},{},{}", ranks[i], folds.size(), runs.size(), num(ci.lower),
                           num(ci.upper));
    if (cleaned) results += "," + csv_field(result.cleaning_label);
    results += "\n";
  }

  // Fused combinations add the seed's per-stage columns (blank where a stage does not apply).
  bool staged = false;
  for (const auto& f : result.folds) staged = staged || !f.stages.empty();
  // An ordinal --decision adds its rule and each fold's thresholds (fitted on training patients).
  bool decided = false;
  for (const auto& f : result.folds) decided = decided || f.decision.rule != DecisionRule::kArgmax;
  std::string folds = "run,seed,fold,modalities,n_train,n_test,qwk,kappa,accuracy,macro_f1";
  if (staged) folds += ",qwk_pretrain,qwk_stage1,qwk_stage2,final_stage";
  if (decided) folds += ",decision,threshold_low,threshold_high";
  folds += "\n";
  for (const auto& f : result.folds) {
    folds += fmt::format("{},{},{},{},{},{},{},{},{},{}", f.run, f.seed, f.fold,
                         csv_field(f.modalities), f.n_train, f.n_test, num(f.scores.qwk),
                         num(f.scores.kappa), num(f.scores.accuracy), num(f.scores.macro_f1));
    if (staged) {
      std::string final_stage;
      for (const char* stage : kStages) {
        const double q = f.stage_qwk(stage);
        folds += "," + (std::isnan(q) ? std::string() : num(q));
      }
      for (const auto& st : f.stages)
        if (st.kept) final_stage = st.stage;
      folds += "," + final_stage;
    }
    if (decided) {
      const Thresholds t =
          f.decision.rule == DecisionRule::kExpected ? Thresholds{} : f.decision.thresholds;
      folds += fmt::format(",{},{},{}", to_string(f.decision.rule), num(t.low), num(t.high));
    }
    folds += "\n";
  }

  auto predictions = [&](const std::vector<PredictionRow>& rows) {
    std::string out =
        fmt::format("run,fold,modalities,patient,appt,dfu,label,prob_{},prob_{},prob_{},pred\n",
                    labels[0], labels[1], labels[2]);
    for (const auto& p : rows) {
      const VisitWound& vw = data.rows[p.row];
      out +=
          fmt::format("{},{},{},{},{},{},{},{},{},{},{}\n", p.run, p.fold, csv_field(p.modalities),
                      csv_field(data.patients[vw.patient]), vw.appt, vw.dfu, labels[vw.label],
                      num(p.prob[0]), num(p.prob[1]), num(p.prob[2]), labels[p.pred]);
    }
    return out;
  };

  std::string splits = "run,patient,fold\n";
  for (size_t run = 0; run < result.fold_of_patient.size(); ++run)
    for (size_t p = 0; p < result.fold_of_patient[run].size(); ++p)
      splits += fmt::format("{},{},{}\n", run, csv_field(data.patients[p]),
                            result.fold_of_patient[run][p]);

  // results.csv last: its presence marks a complete set of outputs.
  const fs::path dir(out_dir);
  write_file_atomically((dir / "splits.csv").string(), splits);
  write_file_atomically((dir / "folds.csv").string(), folds);
  test_kill_point("export", 2);
  write_file_atomically((dir / "predictions.csv").string(), predictions(result.predictions));
  write_file_atomically((dir / "oof_predictions.csv").string(),
                        predictions(result.oof_predictions));
  if (!result.curves.empty()) {
    // Sorted the way the store returns them, so a resumed run writes the same bytes.
    auto curves = result.curves;
    std::stable_sort(curves.begin(), curves.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first.run, a.first.fold, a.first.modalities, a.second.component,
                      a.second.epoch) < std::tie(b.first.run, b.first.fold, b.first.modalities,
                                                 b.second.component, b.second.epoch);
    });
    std::string text = "run,fold,modalities,component,epoch,loss,val_qwk\n";
    for (const auto& [f, c] : curves)
      text += fmt::format("{},{},{},{},{},{},{}\n", f.run, f.fold, csv_field(f.modalities),
                          csv_field(c.component), c.epoch, num(c.loss), num(c.val_qwk));
    write_file_atomically((dir / "training_curves.csv").string(), text);
  }
  if (result.skipped_images) {
    std::string text = "file,modality,reason\n";
    for (const SkippedImage& s : *result.skipped_images)
      text +=
          fmt::format("{},{},{}\n", csv_field(s.file), to_string(s.modality), csv_field(s.reason));
    write_file_atomically((dir / kSkippedImagesFile).string(), text);
  }
  if (!result.cleaning.empty())
    write_file_atomically((dir / kCleaningFile).string(), cleaning_csv(data, result));
  if (!result.generated.empty())
    write_file_atomically((dir / kGeneratedFile).string(), generated_csv(data, result));
  std::string tuning = "run,fold,modalities,trials,seconds,inner_qwk,decision,config\n";
  bool tuned = false;
  for (const auto& f : result.folds) {
    if (f.tuned.empty()) continue;
    tuned = true;
    const nlohmann::json j = nlohmann::json::parse(f.tuned);
    tuning += fmt::format("{},{},{},{},{},{},{},{}\n", f.run, f.fold, csv_field(f.modalities),
                          j.at("trials").get<int>(), num(j.at("seconds").get<double>()),
                          num(j.at("inner_qwk").get<double>()), j.at("decision").get<std::string>(),
                          csv_field(f.tuned));
  }
  if (tuned) write_file_atomically((dir / kTuningFile).string(), tuning);
  write_file_atomically((dir / "comparisons.csv").string(), comparisons_csv(statistics));
  write_file_atomically((dir / "complementarity.csv").string(), complementarity_csv(statistics));
  write_degraded_csv(data, result, (dir / "degraded.csv").string());
  write_file_atomically((dir / "results.csv").string(), results);
  SearchRanking ranking;
  ranking.rank = ranks;
  ranking.on_common = statistics.common_differs;
  for (size_t i = 0; i < result.summary.size(); ++i)
    ranking.qwk.push_back(statistics.common_differs ? statistics.combinations[i].qwk_common.mean
                                                    : result.summary[i].qwk.mean);
  if (!statistics.combinations.empty()) ranking.n_common = statistics.combinations[0].n_common;
  return ranking;
}

std::string format_results_table(const SearchResult& result, const Schema& schema,
                                 const SearchRanking* ranking) {
  std::string banner;
  if (!result.cleaning_label.empty()) {
    long flagged = 0;
    std::set<int> rows;
    for (const CleaningRow& c : result.cleaning)
      if (c.issue.flagged && rows.insert(c.row).second) ++flagged;
    banner = fmt::format("label cleaning: {}; {} visit-wounds flagged (cleaning.csv){}\n",
                         result.cleaning_label, flagged,
                         result.cleaning_label.find("OPTIMISTIC") != std::string::npos
                             ? "\nOPTIMISTIC: the flagged visit-wounds left the test folds too; "
                               "these figures overstate what new patients would see"
                             : "");
  }
  std::vector<double> trials, seconds;
  for (const auto& f : result.folds) {
    if (f.tuned.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(f.tuned);
    trials.push_back(j.at("trials").get<int>());
    seconds.push_back(j.at("seconds").get<double>());
  }
  if (!trials.empty())
    banner += fmt::format(
        "--tune: {:.1f} configurations and {:.1f} s per fold on average (tuning.csv: the chosen "
        "one per fold)\n",
        mean_std(trials).mean, mean_std(seconds).mean);
  size_t width = 10;
  for (const auto& s : result.summary) width = std::max(width, s.modalities.size());
  const bool ranked = ranking != nullptr && ranking->rank.size() == result.summary.size();
  std::vector<size_t> order(result.summary.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (ranked)
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return ranking->rank[a] < ranking->rank[b]; });
  std::string out =
      fmt::format("{:>4}  {:<{}}  {:>5}  {:>15}  {:>15}  {:>8}  {:>8}  {:>6} {:>6} {:>6}\n", "rank",
                  "modalities", width, "n", "QWK mean±std", "kappa mean±std", "accuracy",
                  "macro-F1", "F1 " + schema.class_labels[0], "F1 " + schema.class_labels[1],
                  "F1 " + schema.class_labels[2]);
  for (size_t i : order) {
    const auto& s = result.summary[i];
    const std::string rank =
        ranked ? fmt::format("{}{}", ranking->rank[i] == 1 ? "*" : "", ranking->rank[i]) : "";
    out += fmt::format(
        "{:>4}  {:<{}}  {:>5}  {}  {}  {:>8.3f}  {:>8.3f}  {:>6.3f} {:>6.3f} {:>6.3f}\n", rank,
        s.modalities, width, s.n_samples, pm_cell(s.qwk), pm_cell(s.kappa), s.accuracy.mean,
        s.macro_f1.mean, s.f1[0], s.f1[1], s.f1[2]);
  }
  if (ranked)
    out += ranking->on_common
               ? fmt::format(
                     "ranked as the report ranks: by QWK on the {} common visit-wounds (every "
                     "modality present; own-row QWK above); * = best\n",
                     ranking->n_common)
               : std::string("ranked as the report ranks: by QWK mean; * = best\n");
  return banner + out + stage_tables(result);
}

}  // namespace woundphase

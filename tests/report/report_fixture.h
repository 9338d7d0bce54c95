// A hand-made search output folder for the report tests: results.csv, folds.csv, predictions.csv,
// oof_predictions.csv, splits.csv and settings.json consistent with each other, plus the optional
// per-stage QWK columns and training_curves.csv that image branches will write.
#pragma once

#include <fmt/format.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>  // for json (settings.json)
#include <string>
#include <vector>

#include "woundphase/dataset.h"  // for csv_field
#include "woundphase/metrics.h"

namespace woundphase::testing {

struct FixtureOptions {
  std::vector<std::string> combinations = {"metadata", "metadata+thermal_map"};
  int runs = 2;
  int folds = 3;
  int patients = 24;
  std::string first_patient_id = "P00";  // the other patients are P01, P02, ...
  bool stage_columns = false;            // folds.csv gets qwk_pretrain, qwk_stage1, qwk_stage2
  bool curves = false;                   // training_curves.csv is written
};

// The outputs of a search with image branches: per-stage QWK columns and training curves.
inline FixtureOptions image_branch_fixture() {
  FixtureOptions o;
  o.stage_columns = true;
  o.curves = true;
  return o;
}

struct Fixture {
  std::string dir;
  std::map<std::string, long> predictions_per_combination;  // rows in predictions.csv
  long visit_wounds = 0;
};

// The HTML of one section of a report: from its <h2 id="ID"> to the next <h2 or the footer; ""
// when the page has no such section.
inline std::string report_section(const std::string& html, const std::string& id) {
  const size_t start = html.find("<h2 id=\"" + id + "\"");
  if (start == std::string::npos) return "";
  size_t end = html.find("<h2", start + 1);
  if (end == std::string::npos) end = html.find("<footer", start);
  return html.substr(start, end - start);
}

inline void fixture_write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline Fixture write_fixture(const std::string& dir, const FixtureOptions& o = {}) {
  namespace fs = std::filesystem;
  const std::array<std::string, kNumClasses> letters = {"I", "P", "R"};
  Fixture fx;
  fx.dir = dir;
  fs::create_directories(dir);

  struct Visit {
    int patient;
    int appt;
    int label;
  };
  std::vector<std::string> ids;
  std::vector<Visit> visits;
  for (int p = 0; p < o.patients; ++p) {
    ids.push_back(p == 0 ? o.first_patient_id : fmt::format("P{:02d}", p));
    for (int a = 0; a < 1 + p % 3; ++a)
      visits.push_back({p, a, (p + 2 * a) % 5 < 2 ? 0 : (p + a) % 7 == 0 ? 2 : 1});
  }
  fx.visit_wounds = static_cast<long>(visits.size());
  auto fold_of = [&](int run, int patient) { return (patient * 7 + run * 3) % o.folds; };
  // A deterministic imperfect classifier: wrong on about a quarter of the rows, by combination.
  auto predict = [&](size_t combo, int run, const Visit& v) {
    const int h = (v.patient * 31 + v.appt * 17 + run * 13 + static_cast<int>(combo) * 5) % 8;
    if (h == 0) return (v.label + 1) % kNumClasses;
    if (h == 1 && combo == 0) return (v.label + 2) % kNumClasses;
    return v.label;
  };

  const std::string pred_header =
      "run,fold,modalities,patient,appt,dfu,label,prob_I,prob_P,prob_R,pred\n";
  std::string predictions = pred_header;
  std::string oof = pred_header;
  std::string folds = "run,seed,fold,modalities,n_train,n_test,qwk,kappa,accuracy,macro_f1";
  if (o.stage_columns) folds += ",qwk_pretrain,qwk_stage1,qwk_stage2";
  folds += "\n";
  std::string curves = "run,fold,modalities,component,epoch,loss,val_qwk\n";
  std::vector<std::vector<double>> qwks(o.combinations.size()), kappas(o.combinations.size()),
      accs(o.combinations.size()), macros(o.combinations.size());
  std::vector<std::array<std::vector<double>, kNumClasses>> f1s(o.combinations.size());

  auto pred_line = [&](int run, int fold, const std::string& combo, const Visit& v, int pred) {
    std::array<double, kNumClasses> prob{0.15, 0.15, 0.15};
    prob[pred] = 0.7;
    return fmt::format("{},{},{},{},{},1,{},{:.6f},{:.6f},{:.6f},{}\n", run, fold, csv_field(combo),
                       csv_field(ids[v.patient]), v.appt, letters[v.label], prob[0], prob[1],
                       prob[2], letters[pred]);
  };

  for (int run = 0; run < o.runs; ++run) {
    for (int fold = 0; fold < o.folds; ++fold) {
      for (size_t c = 0; c < o.combinations.size(); ++c) {
        std::vector<int> truth, pred;
        int n_train = 0;
        for (const Visit& v : visits) {
          const int p = predict(c, run, v);
          if (fold_of(run, v.patient) == fold) {
            truth.push_back(v.label);
            pred.push_back(p);
            predictions += pred_line(run, fold, o.combinations[c], v, p);
            ++fx.predictions_per_combination[o.combinations[c]];
          } else {
            ++n_train;
            oof += pred_line(run, fold, o.combinations[c], v, p);
          }
        }
        const Scores s = score(truth, pred);
        qwks[c].push_back(s.qwk);
        kappas[c].push_back(s.kappa);
        accs[c].push_back(s.accuracy);
        macros[c].push_back(s.macro_f1);
        for (int k = 0; k < kNumClasses; ++k) f1s[c][k].push_back(s.f1[k]);
        folds += fmt::format("{},{},{},{},{},{},{:.6f},{:.6f},{:.6f},{:.6f}", run, 42 + run, fold,
                             csv_field(o.combinations[c]), n_train, truth.size(), s.qwk, s.kappa,
                             s.accuracy, s.macro_f1);
        // The metadata-only combination has no image stages: blank fields.
        if (o.stage_columns)
          folds += c == 0 ? ",,," : fmt::format(",{:.6f},{:.6f},", s.qwk * 0.6, s.qwk * 0.9);
        folds += "\n";
        if (o.curves && c > 0) {
          for (const char* component : {"thermal_map backbone", "fusion head"})
            for (int epoch = 1; epoch <= 6; ++epoch)
              curves += fmt::format(
                  "{},{},{},{},{},{:.6f},{}\n", run, fold, csv_field(o.combinations[c]), component,
                  epoch, 1.2 / epoch + 0.05 * fold,
                  epoch == 3 ? std::string() : fmt::format("{:.6f}", 0.1 * epoch - 0.02 * fold));
        }
      }
    }
  }

  std::string results =
      "modalities,n_samples,qwk_mean,qwk_std,kappa_mean,kappa_std,accuracy_mean,macro_f1_mean,f1_I,"
      "f1_P,f1_R\n";
  for (size_t c = 0; c < o.combinations.size(); ++c) {
    auto mean = [](const std::vector<double>& v) { return mean_std(v).mean; };
    results +=
        fmt::format("{},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f}\n",
                    csv_field(o.combinations[c]), visits.size(), mean(qwks[c]),
                    mean_std(qwks[c]).std, mean(kappas[c]), mean_std(kappas[c]).std, mean(accs[c]),
                    mean(macros[c]), mean(f1s[c][0]), mean(f1s[c][1]), mean(f1s[c][2]));
  }
  std::string splits = "run,patient,fold\n";
  for (int run = 0; run < o.runs; ++run)
    for (int p = 0; p < o.patients; ++p)
      splits += fmt::format("{},{},{}\n", run, csv_field(ids[p]), fold_of(run, p));

  const std::string modalities_json = nlohmann::json(o.combinations).dump();
  const std::string settings =
      fmt::format(R"({{
  "data": {{"fingerprint": "0123456789abcdef", "metadata_file": "/data/study/meta.csv",
           "patients": {}, "rows": {}}},
  "schema": {{"class_labels": ["I", "P", "R"], "label_column": "Healing Phase Abs"}},
  "settings": {{"cv_folds": {}, "runs": {}, "seed": 42, "model": "rf", "sampling": "none",
               "data_percentage": 100.0, "shuffle_labels": false, "modalities": {}}},
  "software": {{"woundphase": "0.1.0"}}
}}
)",
                  o.patients, visits.size(), o.folds, o.runs, modalities_json);
  const fs::path d(dir);
  fixture_write(d / "predictions.csv", predictions);
  fixture_write(d / "oof_predictions.csv", oof);
  fixture_write(d / "folds.csv", folds);
  fixture_write(d / "splits.csv", splits);
  fixture_write(d / "settings.json", settings);
  fixture_write(d / "results.csv", results);
  if (o.curves) fixture_write(d / "training_curves.csv", curves);
  return fx;
}

}  // namespace woundphase::testing

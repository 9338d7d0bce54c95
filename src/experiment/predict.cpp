// Applying a model bundle to new patients: predictions.csv, and with the options the explanations,
// the case page and the modalities' shares.
#include <fmt/format.h>
#include <unistd.h>         // for getpid
#include <xgboost/c_api.h>  // for XGBoostVersion

#include <algorithm>  // for max_element, find
#include <cmath>      // for NAN, isnan, abs
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>  // for iota
#include <sstream>

#include "experiment/bundle_rows.h"
#include "experiment/fold.h"
#include "experiment/grad_cam.h"
#include "experiment/search_stats.h"  // for fit_job_temperature
#include "woundphase/bundle.h"
#include "woundphase/dataset.h"  // for csv_field
#include "woundphase/explain.h"
#include "woundphase/files.h"
#include "woundphase/metadata_branch.h"
#include "woundphase/modality.h"
#include "woundphase/options_json.h"
#include "woundphase/report.h"  // for render_case_page

namespace fs = std::filesystem;

namespace woundphase {
namespace {

constexpr const char* kExplanationsFile = "explanations.csv";
constexpr const char* kCasePageFile = "predictions.html";
constexpr const char* kModalitySharesFile = "modality_shares.csv";
// Clinical features listed per visit-wound on the case page.
constexpr size_t kCaseTopFeatures = 5;

// The features with the largest |contribution| to class `c` of explained row `i`, largest first.
std::vector<CaseFeature> top_features(const TabularExplanation& e, int i, int c) {
  const Contributions& k = e.contributions;
  std::vector<size_t> order(k.features);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::abs(k.at(i, c, a)) > std::abs(k.at(i, c, b));
  });
  std::vector<CaseFeature> out;
  for (size_t j = 0; j < order.size() && j < kCaseTopFeatures; ++j) {
    if (k.at(i, c, order[j]) == 0) break;
    out.push_back({e.features[order[j]].name, e.value_text(i, order[j]), k.at(i, c, order[j])});
  }
  return out;
}

}  // namespace

Probabilities predict_bundle(const Bundle& bundle, const Dataset& data, const std::string& out_csv,
                             Scores* scores, int threads) {
  PredictSettings settings;
  settings.threads = threads;
  return predict_bundle(bundle, data, out_csv, scores, settings);
}

Probabilities predict_bundle(const Bundle& bundle, const Dataset& data, const std::string& out_csv,
                             Scores* scores, const PredictSettings& settings,
                             std::vector<std::string>* modalities_used) {
  settings.validate();
  std::unique_ptr<ImageInputs> images;
  if (!bundle.branches.empty()) {
    for (Modality m : bundle.combination) {
      if (!is_image(m)) continue;
      const fs::path folder = fs::path(data.dir) / folder_of(image_modality(m));
      std::error_code ec;  // a folder that cannot be read (a symlink loop) is as good as missing
      if (!fs::is_directory(folder, ec))
        throw InputError(
            fmt::format("{}: missing; the bundle's combination '{}' needs its {} images",
                        folder.string(), to_string(bundle.combination), to_string(m)));
    }
    images = bundle_images(data, bundle.combination, bundle.preprocess, settings.threads);
  }
  BundleModels models;
  models.combo = &bundle.combination;
  models.metadata = bundle.metadata ? &*bundle.metadata : nullptr;
  for (const auto& m : bundle.branches) models.branches.push_back(m.get());
  models.head = bundle.head.get();
  for (const auto& sub : bundle.sub_heads)
    models.sub_heads.emplace_back(sub.combination, sub.head.get());
  const RowPredictions predicted =
      predict_rows(models, settings.require_all, data, images ? &images->index : nullptr,
                   images ? images->cache.get() : nullptr);
  const Probabilities probs = stats::apply_temperature(predicted.probs, bundle.temperature);
  const Scores s =
      write_predictions(bundle.schema, data, probs, bundle.decision, predicted.used, out_csv);
  if (scores != nullptr && data.has_labels) *scores = s;
  if (modalities_used != nullptr) *modalities_used = predicted.used;
  const fs::path folder = fs::absolute(out_csv).parent_path();

  std::vector<int> rows;
  for (size_t i = 0; i < data.rows.size(); ++i)
    if (!std::isnan(probs[i * kNumClasses])) rows.push_back(static_cast<int>(i));
  std::optional<TabularExplanation> explanation;
  if (bundle.metadata && (settings.explain || settings.report))
    explanation = explain_metadata(*bundle.metadata, data, rows);
  if (settings.explain)
    write_explanations_csv(bundle.schema, data, *explanation,
                           (folder / kExplanationsFile).string());
  // Image explanations: Grad-CAM overlays of every image a prediction used; for a fused
  // combination, each modality's share (the decided class's probability with every modality minus
  // without that one, from the sub-combination's model on the same visit-wounds).
  std::vector<GradCamImage> cams;
  std::vector<std::vector<std::pair<std::string, double>>> shares(data.rows.size());
  std::vector<int> decisions;
  for (int r : rows) {
    const double* p = probs.data() + r * kNumClasses;
    decisions.push_back(bundle.decision.apply_row(p));
  }
  if (settings.explain && images) {
    GradCamRequest request{rows, decisions, predicted.used};
    cams = write_grad_cam(bundle.combination, models.branches, data, images->index, *images->cache,
                          request, folder.string());
    write_grad_cam_csv(data, bundle.schema.class_labels, cams,
                       (folder / kGradCamFolder / kGradCamIndex).string());
  }
  if (settings.explain && bundle.combination.size() > 1) {
    const std::string full = to_string(bundle.combination);
    std::vector<int> complete;
    std::vector<int> decided;
    for (size_t i = 0; i < rows.size(); ++i)
      if (predicted.used[rows[i]] == full) {
        complete.push_back(rows[i]);
        decided.push_back(decisions[i]);
      }
    std::vector<int> all(data.rows.size());
    std::iota(all.begin(), all.end(), 0);
    const Probabilities meta =
        bundle.metadata ? predict_metadata(*bundle.metadata, data, all) : Probabilities{};
    std::string csv = fmt::format("patient,appt,dfu,modality,class,prob,prob_without,share\n");
    for (size_t k = 0; k < bundle.combination.size() && !complete.empty(); ++k) {
      Combination without;
      for (size_t j = 0; j < bundle.combination.size(); ++j)
        if (j != k) without.push_back(bundle.combination[j]);
      const Probabilities p = stats::apply_temperature(
          predict_group(models, without, complete, meta, images ? &images->index : nullptr,
                        images ? images->cache.get() : nullptr),
          bundle.temperature);
      if (p.empty()) continue;  // a bundle written before sub-combination heads
      for (size_t i = 0; i < complete.size(); ++i) {
        const int r = complete[i];
        const int c = decided[i];
        const double with = probs[r * kNumClasses + c];
        const double share = with - p[i * kNumClasses + c];
        shares[r].emplace_back(to_string(bundle.combination[k]), share);
        const VisitWound& vw = data.rows[r];
        csv += fmt::format("{},{},{},{},{},{:.6f},{:.6f},{:.6f}\n",
                           csv_field(data.patients[vw.patient]), vw.appt, vw.dfu,
                           to_string(bundle.combination[k]), bundle.schema.class_labels[c], with,
                           p[i * kNumClasses + c], share);
      }
    }
    write_file_atomically((folder / kModalitySharesFile).string(), csv);
  }
  if (settings.report) {
    CasePage page;
    page.bundle = bundle.dir;
    page.combination = to_string(bundle.combination);
    page.class_labels = bundle.schema.class_labels;
    page.branch_only = bundle.combination.size() > 1;
    if (explanation) page.contribution_scale = to_string(explanation->contributions.scale);
    std::vector<int> slot(data.rows.size(), -1);
    for (size_t i = 0; i < rows.size(); ++i) slot[rows[i]] = static_cast<int>(i);
    for (size_t r = 0; r < data.rows.size(); ++r) {
      const VisitWound& vw = data.rows[r];
      CaseEntry e;
      e.patient = data.patients[vw.patient];
      e.appt = vw.appt;
      e.dfu = vw.dfu;
      if (data.has_labels) e.label = bundle.schema.class_labels[vw.label];
      e.modalities_used = predicted.used[r];
      if (slot[r] >= 0) {
        const double* p = probs.data() + r * kNumClasses;
        e.prob.assign(p, p + kNumClasses);
        e.decision = bundle.decision.apply_row(p);
        if (explanation) e.top = top_features(*explanation, slot[r], e.decision);
        e.shares = shares[r];
      }
      page.entries.push_back(std::move(e));
    }
    for (const GradCamImage& g : cams)
      page.entries[g.row].images.push_back({fmt::format("{} {}", to_string(g.modality), g.view),
                                            (folder / kGradCamFolder / g.file).string()});
    write_file_atomically((folder / kCasePageFile).string(), render_case_page(page));
  }
  return probs;
}

}  // namespace woundphase

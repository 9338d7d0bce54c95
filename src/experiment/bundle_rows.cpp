// A bundle's models applied to a dataset's rows (bundle_rows.h).
#include "experiment/bundle_rows.h"

#include <fmt/format.h>

#include <cmath>  // for NAN, isnan
#include <filesystem>
#include <numeric>  // for iota

#include "woundphase/dataset.h"  // for csv_field
#include "woundphase/files.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

// The combination's modalities whose bits are set in `mask` (bit i: combo[i]), in its order.
Combination modalities_in(const Combination& combo, unsigned mask) {
  Combination out;
  for (size_t i = 0; i < combo.size(); ++i)
    if ((mask >> i) & 1U) out.push_back(combo[i]);
  return out;
}

}  // namespace

// Probabilities of `rows` (every one has each modality of `sub`) from the models for `sub`: the
// tree model or the image branch alone for one modality, else the combination's head or the
// sub-combination's. Empty when the bundle has no head for `sub` (written before sub-heads).
Probabilities predict_group(const BundleModels& m, const Combination& sub,
                            const std::vector<int>& rows, const Probabilities& meta,
                            const ImageIndex* index, ImageCache* cache) {
  const Combination& combo = *m.combo;
  auto branch_of = [&](Modality modality) {
    size_t k = 0;
    for (Modality c : combo) {
      if (c == modality) return m.branches[k];
      k += is_image(c) ? 1 : 0;
    }
    throw std::logic_error("predict_group: no branch for " + to_string(modality));
  };
  Probabilities out;
  if (sub.size() == 1 && !is_image(sub.front())) {
    for (int r : rows)
      out.insert(out.end(), meta.begin() + r * kNumClasses, meta.begin() + (r + 1) * kNumClasses);
    return out;
  }
  if (sub.size() == 1) {
    const BranchFeatures f =
        branch_features(*index, *cache, sub.front(), *branch_of(sub.front()), rows);
    for (int r : rows) {
      const size_t slot = f.slot.at(r);
      out.insert(out.end(), f.probs.begin() + slot * kNumClasses,
                 f.probs.begin() + (slot + 1) * kNumClasses);
    }
    return out;
  }
  FusionModel* head = sub == combo ? m.head : nullptr;
  for (const auto& [c, h] : m.sub_heads)
    if (c == sub) head = h;
  if (head == nullptr) return out;
  FusionImages samples;
  samples.fixed.count = static_cast<int>(rows.size());
  std::vector<SampleRef> refs;
  for (size_t i = 0; i < rows.size(); ++i)
    refs.push_back(SampleRef{static_cast<int>(i), -1, 0.0F, 0});
  for (Modality modality : sub) {
    if (!is_image(modality)) {
      Probabilities p;
      for (int r : rows)
        p.insert(p.end(), meta.begin() + r * kNumClasses, meta.begin() + (r + 1) * kNumClasses);
      samples.fixed.probs.push_back(std::move(p));
      samples.fixed.embeddings.emplace_back();
      samples.images.emplace_back();
      continue;
    }
    samples.fixed.probs.emplace_back();
    samples.fixed.embeddings.emplace_back();
    samples.images.push_back(gather_samples(refs, rows, *index, *cache, image_modality(modality),
                                            branch_of(modality)->channels()));
  }
  return head->predict_images(samples);
}

// Probabilities for every row of `data`. A row is predicted from the modalities of the
// combination it has: all of them through the combination's model, fewer through the models of
// that sub-combination (the metadata's tree model, an image branch, a sub-combination head).
// With `require_all`, only rows with every modality get a prediction.
RowPredictions predict_rows(const BundleModels& m, bool require_all, const Dataset& data,
                            const ImageIndex* index, ImageCache* cache) {
  const Combination& combo = *m.combo;
  std::vector<int> rows(data.rows.size());
  std::iota(rows.begin(), rows.end(), 0);
  Probabilities meta;
  if (m.metadata != nullptr) meta = predict_metadata(*m.metadata, data, rows);
  // Which of the combination's modalities each row has (bit i: combo[i]).
  std::vector<unsigned> mask(rows.size(), 0);
  for (size_t i = 0; i < combo.size(); ++i) {
    if (!is_image(combo[i])) {
      for (unsigned& bits : mask) bits |= 1U << i;
      continue;
    }
    for (int r : rows_with_images(*index, *cache, combo[i], rows)) mask[r] |= 1U << i;
  }
  const unsigned full = (1U << combo.size()) - 1;
  std::map<unsigned, std::vector<int>> groups;
  for (int r : rows)
    if (mask[r] != 0 && (!require_all || mask[r] == full)) groups[mask[r]].push_back(r);
  RowPredictions out;
  out.probs.assign(rows.size() * kNumClasses, NAN);
  out.used.assign(rows.size(), "");
  for (const auto& [bits, group] : groups) {
    const Combination sub = modalities_in(combo, bits);
    const Probabilities p = predict_group(m, sub, group, meta, index, cache);
    if (p.empty()) continue;
    for (size_t i = 0; i < group.size(); ++i) {
      for (int c = 0; c < kNumClasses; ++c)
        out.probs[group[i] * kNumClasses + c] = p[i * kNumClasses + c];
      out.used[group[i]] = to_string(sub);
    }
  }
  return out;
}

// The predictions file of predict (and train_predictions.csv); returns the scores of the rows
// that have predictions.
Scores write_predictions(const Schema& schema, const Dataset& data, const Probabilities& probs,
                         const Decision& decision, const std::vector<std::string>& used,
                         const std::string& out_csv) {
  const auto& labels = schema.class_labels;
  std::string out = "patient,appt,dfu";
  if (data.has_labels) out += ",label";
  out += fmt::format(",prob_{},prob_{},prob_{},pred,modalities_used\n", labels[0], labels[1],
                     labels[2]);
  std::vector<int> truth;
  std::vector<int> pred;
  for (size_t i = 0; i < data.rows.size(); ++i) {
    const VisitWound& vw = data.rows[i];
    out += fmt::format("{},{},{}", csv_field(data.patients[vw.patient]), vw.appt, vw.dfu);
    if (data.has_labels) out += "," + labels[vw.label];
    const double* p = probs.data() + i * kNumClasses;
    if (std::isnan(p[0])) {
      out += ",,,,,\n";  // the row has none of the modalities (or not all, --require-all)
      continue;
    }
    const int best = decision.apply_row(p);
    out += fmt::format(",{:.6f},{:.6f},{:.6f},{},{}\n", p[0], p[1], p[2], labels[best], used[i]);
    if (data.has_labels) {
      truth.push_back(vw.label);
      pred.push_back(best);
    }
  }
  const fs::path parent = fs::absolute(out_csv).parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  write_file_atomically(out_csv, out);
  return score(truth, pred);
}

// The image inputs of a dataset for a bundle's modalities (memory cache only).
std::unique_ptr<ImageInputs> bundle_images(const Dataset& data, const Combination& combo,
                                           const PreprocessSettings& preprocess, int threads) {
  SearchSettings s;
  s.combinations = {combo};
  s.threads = threads;
  s.images.preprocess = preprocess;
  s.images.vision.image_size = preprocess.image_size;
  return prepare_images(data, s, nullptr);
}

}  // namespace woundphase

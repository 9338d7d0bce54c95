// One image-only (run, fold, modality) job: train the image branch on the fold's training patients
// with early stopping on an inner validation split of those patients, predict the test patients'
// images and average them per visit-wound. The test fold is never seen by any fitted step.
#include "experiment/image_job.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>  // for sort, copy
#include <chrono>
#include <filesystem>
#include <random>
#include <unordered_map>

#include "woundphase/split.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

constexpr uint64_t kValidationSalt = 21;
constexpr uint64_t kNetworkSalt = 22;
constexpr uint64_t kGenAugSalt = 23;

ImageModality image_modality(Modality m) {
  // Modality lists metadata first, then the image modalities in ImageModality's order.
  return static_cast<ImageModality>(static_cast<int>(m) - 1);
}

int channels_of(ImageModality m, const PreprocessSettings& p) {
  return is_colour_coded_map(m) && p.map_decode == MapDecode::kViridis ? 1 : 3;
}

// Every usable image of `rows` (all views: the other views act as augmentation), with the row's
// label; `owner` gets the row of each image.
LabelledImages gather(const std::vector<int>& rows, const std::vector<int>& labels,
                      const ImageIndex& index, ImageCache& cache, ImageModality m, int channels,
                      std::vector<int>* owner) {
  const int size = cache.settings().image_size;
  std::vector<const ImageU8*> crops;
  LabelledImages out;
  for (size_t i = 0; i < rows.size(); ++i) {
    for (const ImageRef& ref : index.rows[rows[i]].refs[static_cast<int>(m)]) {
      const ImageU8* crop = cache.get(ref, m);
      if (crop == nullptr) continue;
      crops.push_back(crop);
      out.labels.push_back(labels.empty() ? 0 : labels[i]);
      out.groups.push_back(rows[i]);
      if (owner != nullptr) owner->push_back(rows[i]);
    }
  }
  out.images = ImageBatch(static_cast<int>(crops.size()), size, channels);
  for (size_t i = 0; i < crops.size(); ++i) {
    // Crops are interleaved (HWC); the networks take planar (CHW) images.
    const ImageU8& c = *crops[i];
    uint8_t* dst = out.images.image(static_cast<int>(i));
    for (int ch = 0; ch < channels; ++ch)
      for (int p = 0; p < size * size; ++p) dst[ch * size * size + p] = c.pixels[p * channels + ch];
  }
  return out;
}

// Generative augmentation: pre-generated images in DIR/<class letter>/ join the training images of
// the fold (each kept with probability gen_aug_probability, seeded), as their own groups, so the
// trainer draws them like any visit-wound. They never reach validation or test images.
int add_generated(const ImageBranchSettings& settings, const Schema& schema, ImageModality m,
                  const PreprocessSettings& prep, int channels, int first_group,
                  unsigned long long seed, LabelledImages* fit) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<uint8_t>> planar;
  std::vector<int> labels;
  for (int c = 0; c < kNumClasses; ++c) {
    const fs::path folder = fs::path(settings.gen_aug_dir) / schema.class_labels[c];
    if (!fs::is_directory(folder))
      throw InputError(fmt::format("--gen-aug-dir: {} is missing (one folder per class: {})",
                                   folder.string(), fmt::join(schema.class_labels, ", ")));
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(folder))
      if (e.is_regular_file() && e.path().extension() == ".png") files.push_back(e.path());
    std::sort(files.begin(), files.end());  // directory order is not deterministic
    for (const auto& f : files) {
      if (std::uniform_real_distribution<double>(0, 1)(rng) >= settings.gen_aug_probability)
        continue;
      ImageU8 img = read_image(f.string());
      if (channels == 1 && img.channels == 3)
        img = is_colour_coded_map(m) && prep.map_decode == MapDecode::kViridis ? viridis_decode(img)
                                                                               : img;
      if (img.channels != channels)
        throw InputError(fmt::format("{}: has {} channels, the {} branch takes {}", f.string(),
                                     img.channels, to_string(m), channels));
      img = resize_pad(img, prep.image_size);
      std::vector<uint8_t> p(img.pixels.size());
      const int area = prep.image_size * prep.image_size;
      for (int ch = 0; ch < channels; ++ch)
        for (int i = 0; i < area; ++i) p[ch * area + i] = img.pixels[i * channels + ch];
      planar.push_back(std::move(p));
      labels.push_back(c);
    }
  }
  if (planar.empty()) return 0;
  ImageBatch merged(fit->images.count + static_cast<int>(planar.size()), fit->images.size,
                    channels);
  std::copy(fit->images.pixels.begin(), fit->images.pixels.end(), merged.pixels.begin());
  for (size_t i = 0; i < planar.size(); ++i) {
    std::copy(planar[i].begin(), planar[i].end(),
              merged.image(fit->images.count + static_cast<int>(i)));
    fit->labels.push_back(labels[i]);
    fit->groups.push_back(first_group + static_cast<int>(i));
  }
  fit->images = std::move(merged);
  return static_cast<int>(planar.size());
}

}  // namespace

std::vector<int> rows_with_images(const ImageIndex& index, Modality m,
                                  const std::vector<int>& rows) {
  std::vector<int> out;
  for (int r : rows)
    if (!index.rows[r].refs[static_cast<int>(image_modality(m))].empty()) out.push_back(r);
  return out;
}

ImageJobOutput run_image_job(const Dataset& data, const ImageIndex& index, ImageCache& cache,
                             Modality modality, const ImageBranchSettings& settings,
                             const std::vector<int>& train_rows,
                             const std::vector<int>& train_labels,
                             const std::vector<int>& test_rows, unsigned long long seed,
                             const ProgressFn& progress, const std::string& save_weights,
                             const std::string& load_weights) {
  const ImageModality m = image_modality(modality);
  const int channels = channels_of(m, cache.settings());

  // Inner validation split of the training patients (for early stopping and model selection).
  std::vector<int> train_with;
  std::vector<int> labels_with;
  for (size_t i = 0; i < train_rows.size(); ++i) {
    if (index.rows[train_rows[i]].refs[static_cast<int>(m)].empty()) continue;
    train_with.push_back(train_rows[i]);
    labels_with.push_back(train_labels[i]);
  }
  std::vector<int> patients;
  std::vector<int> patient_of(train_with.size());
  std::unordered_map<int, int> compact;
  for (size_t i = 0; i < train_with.size(); ++i) {
    const int p = data.rows[train_with[i]].patient;
    const auto it = compact.emplace(p, static_cast<int>(compact.size())).first;
    patient_of[i] = it->second;
  }
  const auto counts = group_class_counts(labels_with, patient_of, static_cast<int>(compact.size()));
  const GroupAssignment parts = stratified_group_split(
      counts, {1.0 - settings.validation_fraction, settings.validation_fraction},
      mix_seed(seed, kValidationSalt));
  std::vector<int> fit_rows, fit_labels, val_rows, val_labels;
  for (size_t i = 0; i < train_with.size(); ++i) {
    const bool val = parts.fold_of_group[patient_of[i]] == 1;
    (val ? val_rows : fit_rows).push_back(train_with[i]);
    (val ? val_labels : fit_labels).push_back(labels_with[i]);
  }

  LabelledImages fit = gather(fit_rows, fit_labels, index, cache, m, channels, nullptr);
  LabelledImages val = gather(val_rows, val_labels, index, cache, m, channels, nullptr);
  if (fit.images.count == 0)
    throw InputError(fmt::format("{}: no readable {} images among the training patients", data.dir,
                                 to_string(m)));
  if (!settings.gen_aug_dir.empty()) {
    const int added =
        add_generated(settings, data.schema, m, cache.settings(), channels,
                      static_cast<int>(data.rows.size()), mix_seed(seed, kGenAugSalt), &fit);
    spdlog::debug(
        "  {}: {} generated images added to the training images (never to validation or test)",
        to_string(m), added);
  }

  VisionSettings vs = settings.vision;
  vs.seed = mix_seed(seed, kNetworkSalt);
  std::unique_ptr<ImageModel> model = create_image_model(vs, channels);
  for (const auto& layer : model->parameter_breakdown())
    spdlog::debug("  {} layer {}: {} trainable of {} parameters", to_string(m), layer.name,
                  layer.trainable, layer.total);
  FitHooks hooks;
  ImageJobOutput out;
  hooks.on_epoch = [&](const EpochReport& e) {
    out.curve.push_back(e);
    if (progress)
      progress({e.epoch, vs.epochs, fmt::format("{} training, epoch", to_string(m)), true});
    spdlog::debug("  {} epoch {}: train loss {:.4f}, val loss {:.4f}, val QWK {:.3f}{}",
                  to_string(m), e.epoch, e.train_loss, e.val_loss, e.val_qwk,
                  e.improved ? " *" : "");
  };
  if (settings.augment.any()) {
    const AugmentSettings aug = settings.augment;
    hooks.augment = [aug](ImageBatch& batch, std::mt19937_64& rng) {
      // Augmentation works on interleaved images: convert each planar image and back.
      const int s = batch.size;
      const int c = batch.channels;
      ImageU8 img;
      img.width = s;
      img.height = s;
      img.channels = c;
      img.pixels.resize(static_cast<size_t>(s) * s * c);
      for (int i = 0; i < batch.count; ++i) {
        uint8_t* planar = batch.image(i);
        for (int ch = 0; ch < c; ++ch)
          for (int p = 0; p < s * s; ++p) img.pixels[p * c + ch] = planar[ch * s * s + p];
        const ImageU8 done = augment(img, aug, rng);
        for (int ch = 0; ch < c; ++ch)
          for (int p = 0; p < s * s; ++p) planar[ch * s * s + p] = done.pixels[p * c + ch];
      }
    };
  }
  if (!load_weights.empty()) {
    // from_models: the fold's trained network, as saved; only predictions are recomputed.
    model->load(load_weights);
  } else {
    out.history = model->fit(fit, val, vs, hooks);
    if (!save_weights.empty()) {
      std::error_code ec;
      fs::create_directories(fs::path(save_weights).parent_path(), ec);
      const std::string tmp = save_weights + ".tmp";
      model->save(tmp);
      fs::rename(tmp, save_weights, ec);
      if (ec)
        throw InputError(
            fmt::format("{}: cannot save the network ({})", save_weights, ec.message()));
    }
  }

  // Test: every image of each test visit-wound, probabilities averaged per visit-wound.
  std::vector<int> owner;
  const LabelledImages test = gather(test_rows, {}, index, cache, m, channels, &owner);
  const Probabilities per_image =
      test.images.count > 0 ? model->predict_proba(test.images) : Probabilities{};
  std::unordered_map<int, std::pair<std::array<double, kNumClasses>, int>> sums;
  for (size_t i = 0; i < owner.size(); ++i) {
    auto& [sum, n] = sums[owner[i]];
    for (int c = 0; c < kNumClasses; ++c) sum[c] += per_image[i * kNumClasses + c];
    ++n;
  }
  for (int r : test_rows) {
    const auto it = sums.find(r);
    if (it == sums.end()) continue;  // no readable image of this modality: not evaluated here
    out.rows.push_back(r);
    for (int c = 0; c < kNumClasses; ++c)
      out.probs.push_back(it->second.first[c] / it->second.second);
  }
  return out;
}

}  // namespace woundphase

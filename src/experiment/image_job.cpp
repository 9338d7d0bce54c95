// The image branches: sampling plans with blended synthetic images, training with early stopping
// on an inner validation split, saving/loading, and per-visit-wound features. The test fold is
// never seen by any fitted step.
#include "experiment/image_job.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>  // for getpid

#include <algorithm>  // for sort, copy, max
#include <array>
#include <cmath>    // for lround
#include <cstring>  // for memcmp, memcpy
#include <filesystem>
#include <fstream>
#include <iterator>  // for istreambuf_iterator
#include <memory>    // for shared_ptr
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "experiment/seed_streams.h"
#include "woundphase/files.h"
#include "woundphase/random.h"  // for uniform_index

namespace fs = std::filesystem;

namespace woundphase {
namespace {

constexpr char kCurveSuffix[] = ".curve.json";
constexpr char kFeaturesSuffix[] = ".features";
// First bytes of a features file (format version 1).
constexpr char kFeaturesMagic[] = "WPFEAT1";

// Interleaved (HWC) crop -> planar (CHW) image, as the networks take them.
void to_planar(const ImageU8& crop, int channels, uint8_t* dst) {
  const int area = crop.width * crop.height;
  for (int ch = 0; ch < channels; ++ch)
    for (int p = 0; p < area; ++p) dst[ch * area + p] = crop.pixels[p * channels + ch];
}

std::vector<const ImageU8*> readable_crops(const ImageIndex& index, ImageCache& cache, int row,
                                           ImageModality m) {
  std::vector<const ImageU8*> out;
  for (const ImageRef& ref : index.rows[row].refs[static_cast<int>(m)])
    if (const ImageU8* crop = cache.get(ref, m); crop != nullptr) out.push_back(crop);
  return out;
}

// The folder of `m`'s generated images: DIR/<modality>/ when DIR has a folder per modality (a
// modality without one gets none: empty path), else DIR itself for every modality (the layout of
// one shared set, DIR/I, DIR/P, DIR/R).
fs::path generated_root(const std::string& dir, ImageModality m) {
  std::error_code ec;
  if (fs::is_directory(fs::path(dir) / to_string(m), ec)) return fs::path(dir) / to_string(m);
  for (ImageModality other : kImageModalities)
    if (fs::is_directory(fs::path(dir) / to_string(other), ec)) return {};
  return dir;
}

// Reads every PNG of ROOT/<class label>/ (sorted: directory order is not deterministic), decoded
// and cropped as the modality's frames are.
GeneratedImages read_generated(const ImageBranchSettings& settings, const Schema& schema,
                               ImageModality m, const PreprocessSettings& prep, int channels) {
  GeneratedImages out;
  const fs::path root = generated_root(settings.gen_aug_dir, m);
  if (root.empty()) return out;
  for (int c = 0; c < kNumClasses; ++c) {
    const fs::path folder = root / schema.class_labels[c];
    std::error_code ec;
    if (!fs::is_directory(folder, ec))
      throw InputError(fmt::format("--gen-aug-dir: {} is missing (one folder per class: {})",
                                   folder.string(), fmt::join(schema.class_labels, ", ")));
    std::vector<fs::path> files;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code type_ec;
      if (it->is_regular_file(type_ec) && it->path().extension() == ".png")
        files.push_back(it->path());
    }
    if (ec)
      throw InputError(
          fmt::format("--gen-aug-dir: cannot list {} ({})", folder.string(), ec.message()));
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      ImageU8 img = read_image(f.string(), prep.limits);
      if (channels == 1 && img.channels == 3)
        img = is_colour_coded_map(m) && prep.map_decode == MapDecode::kViridis ? viridis_decode(img)
                                                                               : img;
      if (img.channels != channels)
        throw InputError(fmt::format("{}: has {} channels, the {} branch takes {}", f.string(),
                                     img.channels, to_string(m), channels));
      img = resize_pad(img, prep.image_size);
      std::vector<uint8_t> planar(img.pixels.size());
      to_planar(img, channels, planar.data());
      out.by_class[c].push_back(std::move(planar));
    }
  }
  return out;
}

// Augmentation works on interleaved images: each planar image is converted and back.
AugmentFn make_augment(const AugmentSettings& aug) {
  return [aug](ImageBatch& batch, std::mt19937_64& rng) {
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
      to_planar(done, c, planar);
    }
  };
}

void save_curve(const std::string& path, const TrainedBranch& branch) {
  nlohmann::json points = nlohmann::json::array();
  for (const CurvePoint& c : branch.curve)
    points.push_back(
        {{"epoch", c.epoch}, {"loss", c.loss}, {"val_loss", c.val_loss}, {"val_qwk", c.val_qwk}});
  write_file_atomically(path + kCurveSuffix,
                        nlohmann::json({{"best_val_qwk", branch.best_val_qwk},
                                        {"curve", points},
                                        {"generated_injected", branch.generated_injected}})
                            .dump());
}

void load_curve(const std::string& path, TrainedBranch* branch) {
  std::ifstream in(path + kCurveSuffix);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.contains("curve"))
    throw InputError(fmt::format("{}{}: not a branch curve file", path, kCurveSuffix));
  branch->best_val_qwk = j.at("best_val_qwk").get<double>();
  // (Absent from curves saved before the counts were kept: none recorded.)
  if (j.contains("generated_injected"))
    branch->generated_injected = j.at("generated_injected").get<ClassCounts>();
  for (const auto& c : j.at("curve"))
    branch->curve.push_back(CurvePoint{to_string(branch->modality), c.at("epoch").get<int>(),
                                       c.at("loss").get<double>(), c.at("val_loss").get<double>(),
                                       c.at("val_qwk").get<double>()});
}

}  // namespace

std::shared_ptr<const GeneratedImages> load_generated(const ImageBranchSettings& settings,
                                                      const Schema& schema, ImageModality m,
                                                      const PreprocessSettings& prep,
                                                      int channels) {
  if (settings.gen_aug_dir.empty()) return nullptr;
  auto generated =
      std::make_shared<const GeneratedImages>(read_generated(settings, schema, m, prep, channels));
  const auto& g = generated->by_class;
  spdlog::debug("  {}: {} generated images ({} {}, {} {}, {} {})", to_string(m), generated->count(),
                g[0].size(), schema.class_labels[0], g[1].size(), schema.class_labels[1],
                g[2].size(), schema.class_labels[2]);
  if (generated->count() == 0) return nullptr;
  return generated;
}

InjectFn make_injection(std::shared_ptr<const GeneratedImages> generated, double probability,
                        double mix, ClassCounts* injected) {
  return [generated, probability, mix, injected](ImageBatch& batch, const std::vector<int>& labels,
                                                 std::mt19937_64& rng) {
    if (std::uniform_real_distribution<double>(0, 1)(rng) >= probability) return;
    const int n = batch.count;
    const int replace = std::max(1, static_cast<int>(std::lround(mix * n)));
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    for (int i = n; i > 1; --i) std::swap(order[i - 1], order[uniform_index(rng(), i)]);
    for (int j = 0; j < replace && j < n; ++j) {
      const int at = order[j];
      const auto& pool = generated->by_class[labels[at]];
      if (pool.empty()) continue;
      const auto& image = pool[uniform_index(rng(), pool.size())];
      std::copy(image.begin(), image.end(), batch.image(at));
      ++(*injected)[labels[at]];
    }
  };
}

ImageModality image_modality(Modality m) {
  return static_cast<ImageModality>(static_cast<int>(m) - 1);
}

int branch_channels(ImageModality m, const PreprocessSettings& p) {
  return is_colour_coded_map(m) && p.map_decode == MapDecode::kViridis ? 1 : 3;
}

void probe_image_models(const ImageBranchSettings& settings,
                        const std::vector<ImageModality>& modalities) {
  for (ImageModality m : modalities) {
    const int channels = branch_channels(m, settings.preprocess);
    const VisionSettings vision = settings.vision_for(m);
    try {
      const auto model = create_image_model(vision, channels);
      if (model->embedding_dim() <= 0)
        throw InputError(
            fmt::format("--backbone {}: the network returns no embedding", vision.backbone));
    } catch (const InputError& e) {
      throw InputError(fmt::format("{} images ({} channel{}, {}x{} px): {}", to_string(m), channels,
                                   channels == 1 ? "" : "s", vision.image_size, vision.image_size,
                                   e.what()));
    }
  }
}

std::vector<int> rows_with_images(const ImageIndex& index, ImageCache& cache, Modality m,
                                  const std::vector<int>& rows) {
  std::vector<int> out;
  for (int r : rows)
    if (!readable_crops(index, cache, r, image_modality(m)).empty()) out.push_back(r);
  return out;
}

std::vector<SampleRef> plan_samples(const Dataset& data, const std::vector<int>& rows,
                                    const std::vector<int>& labels,
                                    const SamplingSettings& sampling, unsigned long long seed) {
  std::vector<SampleRef> refs;
  if (sampling.strategy == SamplingStrategy::kNone) {
    for (size_t i = 0; i < rows.size(); ++i)
      refs.push_back(SampleRef{static_cast<int>(i), -1, 0.0F, labels[i]});
    return refs;
  }
  FeatureEncoder encoder;
  encoder.fit(data, rows);
  TabularData table;
  table.x = encoder.transform(data, rows);
  table.y = labels;
  std::unordered_map<int, int> compact;
  for (int r : rows)
    table.group.push_back(
        compact.emplace(data.rows[r].patient, static_cast<int>(compact.size())).first->second);
  table.group2.assign(rows.size(), -1);
  return resample(table, encoder.features(), sampling, seed);
}

LabelledImages gather_samples(const std::vector<SampleRef>& refs, const std::vector<int>& rows,
                              const ImageIndex& index, ImageCache& cache, ImageModality m,
                              int channels) {
  const int size = cache.settings().image_size;
  const size_t bytes = static_cast<size_t>(size) * size * channels;
  LabelledImages out;
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> planar_b(bytes);
  for (size_t s = 0; s < refs.size(); ++s) {
    const SampleRef& ref = refs[s];
    const auto a = readable_crops(index, cache, rows[ref.parent_a], m);
    const auto b = ref.parent_b >= 0 ? readable_crops(index, cache, rows[ref.parent_b], m)
                                     : std::vector<const ImageU8*>{};
    if (a.empty() || (ref.parent_b >= 0 && b.empty()))
      throw std::logic_error("gather_samples: a sample's parent has no readable image");
    for (size_t j = 0; j < a.size(); ++j) {
      const size_t at = pixels.size();
      pixels.resize(at + bytes);
      to_planar(*a[j], channels, pixels.data() + at);
      if (!b.empty()) {
        to_planar(*b[j % b.size()], channels, planar_b.data());
        const float mix = ref.mix;
        for (size_t p = 0; p < bytes; ++p)
          pixels[at + p] =
              static_cast<uint8_t>(std::lround((1.0F - mix) * pixels[at + p] + mix * planar_b[p]));
      }
      out.labels.push_back(ref.label);
      out.groups.push_back(static_cast<int>(s));
    }
  }
  out.images = ImageBatch(static_cast<int>(out.labels.size()), size, channels);
  out.images.pixels = std::move(pixels);
  return out;
}

bool branch_saved(const std::string& path) {
  return !path.empty() && fs::exists(path) && fs::exists(path + kCurveSuffix);
}

TrainedBranch train_branch(const Dataset& data, const ImageIndex& index, ImageCache& cache,
                           Modality modality, const ImageBranchSettings& settings,
                           const std::shared_ptr<const GeneratedImages>& generated,
                           const SamplingSettings& sampling, const std::vector<int>& fit_rows,
                           const std::vector<int>& fit_labels, const std::vector<int>& val_rows,
                           const std::vector<int>& val_labels, unsigned long long seed,
                           const ProgressFn& progress, const std::string& save_weights,
                           const std::string& load_weights) {
  const ImageModality m = image_modality(modality);
  const int channels = branch_channels(m, cache.settings());
  TrainedBranch branch;
  branch.modality = modality;
  VisionSettings vs = settings.vision_for(m);
  vs.seed = stream_seed(seed, SeedStream::kNetwork, static_cast<uint64_t>(modality));
  branch.model = create_image_model(vs, channels);
  if (!load_weights.empty()) {
    // A saved branch of this fold (resume): the same network training would give again.
    branch.model->load(load_weights);
    load_curve(load_weights, &branch);
    return branch;
  }

  const std::vector<SampleRef> plan =
      plan_samples(data, fit_rows, fit_labels, sampling,
                   stream_seed(seed, SeedStream::kBranchSampling, static_cast<uint64_t>(modality)));
  LabelledImages fit = gather_samples(plan, fit_rows, index, cache, m, channels);
  std::vector<SampleRef> val_refs;
  for (size_t i = 0; i < val_rows.size(); ++i)
    val_refs.push_back(SampleRef{static_cast<int>(i), -1, 0.0F, val_labels[i]});
  const LabelledImages val = gather_samples(val_refs, val_rows, index, cache, m, channels);
  if (fit.images.count == 0)
    throw InputError(fmt::format("{}: no readable {} images among the training patients", data.dir,
                                 to_string(m)));
  for (const auto& layer : branch.model->parameter_breakdown())
    spdlog::debug("  {} layer {}: {} trainable of {} parameters", to_string(m), layer.name,
                  layer.trainable, layer.total);
  FitHooks hooks;
  hooks.on_epoch = [&](const EpochReport& e) {
    branch.curve.push_back(
        CurvePoint{to_string(modality), e.epoch, e.train_loss, e.val_loss, e.val_qwk});
    if (progress)
      progress({e.epoch, vs.epochs, fmt::format("{} training, epoch", to_string(m)), true});
    spdlog::debug("{}", epoch_line(to_string(m), e));
  };
  AugmentSettings augment = settings.augment;
  augment.rot90 = vs.aug_rot90;
  augment.zoom = vs.aug_zoom;
  augment.cutout = vs.aug_cutout;
  if (augment.any()) hooks.augment = make_augment(augment);
  if (generated)
    hooks.inject = make_injection(generated, settings.gen_aug_probability, settings.gen_aug_mix,
                                  &branch.generated_injected);
  const TrainingHistory history = branch.model->fit(fit, val, vs, hooks);
  if (!settings.gen_aug_dir.empty())
    spdlog::debug(
        "  {}: {} generated images injected into training batches (never validation or test)",
        to_string(m), injected_total(branch.generated_injected));
  if (history.best_epoch > 0) branch.best_val_qwk = history.epochs[history.best_epoch - 1].val_qwk;
  if (!save_weights.empty()) {
    std::error_code ec;
    fs::create_directories(fs::path(save_weights).parent_path(), ec);
    save_curve(save_weights, branch);
    // The network last: its presence marks a complete saved branch.
    // Per-process temporary name: under MPI a branch presumed lost may be trained again
    // elsewhere while its first worker still writes.
    const std::string tmp = fmt::format("{}.tmp.{}", save_weights, getpid());
    branch.model->save(tmp);
    fs::rename(tmp, save_weights, ec);
    if (ec)
      throw InputError(fmt::format("{}: cannot save the network ({})", save_weights, ec.message()));
  }
  return branch;
}

BranchFeatures branch_features(const ImageIndex& index, ImageCache& cache, Modality modality,
                               ImageModel& model, const std::vector<int>& rows) {
  const ImageModality m = image_modality(modality);
  const std::vector<int> with = rows_with_images(index, cache, modality, rows);
  std::vector<SampleRef> refs;
  for (size_t i = 0; i < with.size(); ++i)
    refs.push_back(SampleRef{static_cast<int>(i), -1, 0.0F, 0});
  const LabelledImages images = gather_samples(refs, with, index, cache, m, model.channels());
  BranchFeatures out;
  out.dim = model.embedding_dim();
  out.embeddings.assign(with.size() * out.dim, 0.0F);
  out.probs.assign(with.size() * kNumClasses, 0.0);
  for (size_t i = 0; i < with.size(); ++i) out.slot[with[i]] = static_cast<int>(i);
  if (images.images.count == 0) return out;
  std::vector<float> emb;
  Probabilities probs;
  model.embed_and_predict(images.images, &emb, &probs);
  std::vector<int> views(with.size(), 0);
  for (int i = 0; i < images.images.count; ++i) {
    const int s = images.groups[i];
    ++views[s];
    for (int j = 0; j < out.dim; ++j)
      out.embeddings[static_cast<size_t>(s) * out.dim + j] +=
          emb[static_cast<size_t>(i) * out.dim + j];
    for (int c = 0; c < kNumClasses; ++c)
      out.probs[s * kNumClasses + c] += probs[i * kNumClasses + c];
  }
  for (size_t s = 0; s < with.size(); ++s) {
    for (int j = 0; j < out.dim; ++j) out.embeddings[s * out.dim + j] /= views[s];
    for (int c = 0; c < kNumClasses; ++c) out.probs[s * kNumClasses + c] /= views[s];
  }
  return out;
}

void save_branch_features(const std::string& weights_path, const BranchFeatures& features) {
  // Rows in slot order, then the embeddings (float) and probabilities (double) as computed.
  std::vector<int32_t> rows(features.slot.size());
  for (const auto& [row, slot] : features.slot) rows[slot] = row;
  const auto n = static_cast<int32_t>(rows.size());
  const auto dim = static_cast<int32_t>(features.dim);
  std::string bytes(kFeaturesMagic, sizeof(kFeaturesMagic));
  auto append = [&bytes](const void* data, size_t size) {
    bytes.append(static_cast<const char*>(data), size);
  };
  append(&n, sizeof n);
  append(&dim, sizeof dim);
  append(rows.data(), rows.size() * sizeof(int32_t));
  append(features.embeddings.data(), features.embeddings.size() * sizeof(float));
  append(features.probs.data(), features.probs.size() * sizeof(double));
  write_file_atomically(weights_path + kFeaturesSuffix, bytes);
}

std::optional<BranchFeatures> load_branch_features(const std::string& weights_path,
                                                   const std::vector<int>& rows) {
  std::ifstream in(weights_path + kFeaturesSuffix, std::ios::binary);
  if (!in) return std::nullopt;
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t at = 0;
  auto read = [&](void* out, size_t size) {
    if (bytes.size() - at < size) return false;
    std::memcpy(out, bytes.data() + at, size);
    at += size;
    return true;
  };
  char magic[sizeof(kFeaturesMagic)];
  int32_t n = 0;
  int32_t dim = 0;
  if (!read(magic, sizeof magic) || std::memcmp(magic, kFeaturesMagic, sizeof magic) != 0 ||
      !read(&n, sizeof n) || !read(&dim, sizeof dim) || n < 0 || dim <= 0)
    return std::nullopt;
  BranchFeatures f;
  f.dim = dim;
  std::vector<int32_t> saved(n);
  f.embeddings.resize(static_cast<size_t>(n) * dim);
  f.probs.resize(static_cast<size_t>(n) * kNumClasses);
  if (!read(saved.data(), saved.size() * sizeof(int32_t)) ||
      !read(f.embeddings.data(), f.embeddings.size() * sizeof(float)) ||
      !read(f.probs.data(), f.probs.size() * sizeof(double)) || at != bytes.size())
    return std::nullopt;
  for (int32_t i = 0; i < n; ++i) f.slot[saved[i]] = i;
  // It must be the features of these rows: every saved row among them, none missing.
  std::unordered_set<int> wanted(rows.begin(), rows.end());
  for (const auto& [row, slot] : f.slot)
    if (wanted.count(row) == 0) return std::nullopt;
  return f;
}

std::string epoch_line(const std::string& who, const EpochReport& e) {
  return fmt::format(
      "  {} epoch {}: train loss {:.4f}, val loss {:.4f}, val QWK {:.3f}{} (training {:.2f} s, "
      "validation {:.2f} s)",
      who, e.epoch, e.train_loss, e.val_loss, e.val_qwk, e.improved ? " *" : "", e.train_seconds,
      e.val_seconds);
}

}  // namespace woundphase

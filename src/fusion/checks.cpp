// TorchFusionModel (fusion_model.h): the checks of its sources, features and images, each failure
// an InputError naming the sample set and the source.
#include <fmt/format.h>

#include <algorithm>  // for find
#include <cmath>      // for isfinite
#include <set>
#include <string>
#include <vector>

#include "fusion/fusion_model.h"

namespace woundphase::fusion {

void TorchFusionModel::check_sources(const std::vector<const ImageModel*>& branches) const {
  if (sources_.empty()) throw InputError("fusion: a combination needs at least one source");
  if (branches.size() != sources_.size())
    throw InputError(
        fmt::format("fusion: {} branches for {} sources", branches.size(), sources_.size()));
  std::set<std::string> names;
  for (size_t s = 0; s < sources_.size(); ++s) {
    const FusionSource& source = sources_[s];
    if (source.name.empty() || !names.insert(source.name).second)
      throw InputError(fmt::format("fusion: source name '{}' is empty or repeated", source.name));
    const ImageModel* branch = branches[s];
    if (branch == nullptr) {
      if (source.embedding_dim != 0)
        throw InputError(
            fmt::format("fusion: source '{}' has an embedding of {} but no image branch",
                        source.name, source.embedding_dim));
      continue;
    }
    if (source.embedding_dim != branch->embedding_dim())
      throw InputError(fmt::format(
          "fusion: source '{}' says its embedding has {} dimensions; its branch gives {}",
          source.name, source.embedding_dim, branch->embedding_dim()));
    if (branch->num_classes() != kNumClasses)
      throw InputError(fmt::format("fusion: branch '{}' has {} classes; fusion needs {}",
                                   source.name, branch->num_classes(), kNumClasses));
  }
}

void TorchFusionModel::check_features(const FusionFeatures& f, const std::string& what,
                                      bool need_labels, bool image_sources) const {
  if (f.count < 0) throw InputError(fmt::format("{} samples: negative count {}", what, f.count));
  if (f.count == 0 && f.probs.empty()) return;  // none (no validation): `{}` is enough
  const auto n = static_cast<size_t>(f.count);
  if (f.probs.size() != sources_.size())
    throw InputError(fmt::format("{} samples: probabilities of {} sources for a combination of {}",
                                 what, f.probs.size(), sources_.size()));
  const bool embeddings = image_sources && head_->uses_embeddings();
  if (embeddings && f.embeddings.size() != sources_.size())
    throw InputError(fmt::format("{} samples: embeddings of {} sources for a combination of {}",
                                 what, f.embeddings.size(), sources_.size()));
  for (size_t s = 0; s < sources_.size(); ++s) {
    const FusionSource& source = sources_[s];
    if (!image_sources && branches_[s]) continue;
    if (f.probs[s].size() != n * kK)
      throw InputError(fmt::format("{} samples: source '{}' has {} probabilities for {} samples",
                                   what, source.name, f.probs[s].size(), n));
    for (double p : f.probs[s])
      if (!std::isfinite(p) || p < 0)
        throw InputError(
            fmt::format("{} samples: source '{}' has a probability {}", what, source.name, p));
    if (!embeddings || source.embedding_dim == 0) continue;
    if (f.embeddings[s].size() != n * source.embedding_dim)
      throw InputError(fmt::format(
          "{} samples: source '{}' has {} embedding values for {} samples of {} dimensions", what,
          source.name, f.embeddings[s].size(), n, source.embedding_dim));
    for (float e : f.embeddings[s])
      if (!std::isfinite(e))
        throw InputError(
            fmt::format("{} samples: source '{}' has an embedding value {}", what, source.name, e));
  }
  if ((need_labels && f.count > 0) || !f.labels.empty()) {
    if (f.labels.size() != n)
      throw InputError(
          fmt::format("{} samples: {} labels for {} samples", what, f.labels.size(), n));
    for (int y : f.labels)
      if (y < 0 || y >= kNumClasses)
        throw InputError(fmt::format("{} samples: label {} outside [0, {})", what, y, kNumClasses));
  }
  if (!f.weights.empty() && f.weights.size() != n)
    throw InputError(
        fmt::format("{} samples: {} weights for {} samples", what, f.weights.size(), n));
  for (float w : f.weights)
    if (!std::isfinite(w) || w < 0)
      throw InputError(fmt::format("{} samples: weight {} is not a finite number >= 0", what, w));
}

void TorchFusionModel::check_images(const FusionImages& d, const std::string& what,
                                    bool need_labels) const {
  check_features(d.fixed, what, need_labels, /*image_sources=*/false);
  if (d.fixed.count == 0 && d.images.empty()) return;
  if (d.images.size() != sources_.size())
    throw InputError(fmt::format("{} samples: images of {} sources for a combination of {}", what,
                                 d.images.size(), sources_.size()));
  for (size_t s = 0; s < sources_.size(); ++s) {
    if (!branches_[s]) continue;
    const std::string& name = sources_[s].name;
    const ImageBatch& b = d.images[s].images;
    const ImageModel& branch = *branches_[s];
    if (b.count > 0 && (b.channels != branch.channels() || b.size != branch.settings().image_size ||
                        b.pixels.size() != b.image_bytes() * b.count))
      throw InputError(fmt::format(
          "{} samples: source '{}' images are {} of {}x{}x{} in {} bytes; its branch takes "
          "{}x{}x{}",
          what, name, b.count, b.size, b.size, b.channels, b.pixels.size(),
          branch.settings().image_size, branch.settings().image_size, branch.channels()));
    const auto& groups = d.images[s].groups;
    if (groups.size() != static_cast<size_t>(b.count))
      throw InputError(fmt::format("{} samples: source '{}' has {} groups for {} images", what,
                                   name, groups.size(), b.count));
    std::vector<int> seen(d.fixed.count, 0);
    for (int g : groups) {
      if (g < 0 || g >= d.fixed.count)
        throw InputError(fmt::format("{} samples: source '{}' has an image of sample {} (of {})",
                                     what, name, g, d.fixed.count));
      seen[g] = 1;
    }
    const auto missing = std::find(seen.begin(), seen.end(), 0);
    if (missing != seen.end())
      throw InputError(fmt::format("{} samples: sample {} has no '{}' image", what,
                                   missing - seen.begin(), name));
  }
}

}  // namespace woundphase::fusion

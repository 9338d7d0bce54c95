// TorchImageModel::fit (image_model.h): Adam on weighted cross-entropy or focal loss, one image per
// group and epoch, mixup, early stopping on validation QWK, the plateau schedule.
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>  // for max_element, fill, min, swap
#include <cmath>      // for isfinite
#include <cstring>    // for memcpy
#include <random>     // for mt19937_64, gamma_distribution
#include <stdexcept>  // for logic_error
#include <unordered_map>
#include <vector>

#include "vision/image_model.h"
#include "vision/loss.h"
#include "woundphase/class_weights.h"
#include "woundphase/metrics.h"  // for quadratic_weighted_kappa
#include "woundphase/random.h"   // for mix_seed, uniform_index

namespace woundphase::vision {
namespace {

// Seeds of the training streams, derived from settings.seed (model.cpp derives initialisation's).
constexpr uint64_t kFitSalt = 2;      // dropout, stochastic depth (the model's own generator)
constexpr uint64_t kShuffleSalt = 3;  // epoch order, view draws, augmentation

// A draw of Beta(alpha, alpha) from two gamma draws of `rng` (mixup's mixing weight).
double beta_draw(double alpha, std::mt19937_64& rng) {
  std::gamma_distribution<double> gamma(alpha, 1.0);
  const double a = gamma(rng);
  const double b = gamma(rng);
  return a + b > 0 ? a / (a + b) : 0.5;
}

void check_labelled(const LabelledImages& d, int channels, int size, int k, const char* what) {
  check_images(d.images, channels, size, what);
  const size_t n = d.images.count;
  if (d.labels.size() != n)
    throw InputError(fmt::format("{} images: {} labels for {} images", what, d.labels.size(), n));
  for (int y : d.labels)
    if (y < 0 || y >= k)
      throw InputError(fmt::format("{} images: label {} outside [0, {})", what, y, k));
  if (!d.weights.empty() && d.weights.size() != n)
    throw InputError(fmt::format("{} images: {} weights for {} images", what, d.weights.size(), n));
  for (float w : d.weights)
    if (!std::isfinite(w) || w < 0)
      throw InputError(fmt::format("{} images: weight {} is not a finite number >= 0", what, w));
  if (!d.groups.empty() && d.groups.size() != n)
    throw InputError(fmt::format("{} images: {} groups for {} images", what, d.groups.size(), n));
  std::unordered_map<int, int> label_of_group;
  for (size_t i = 0; i < d.groups.size(); ++i) {
    const auto [it, fresh] = label_of_group.emplace(d.groups[i], d.labels[i]);
    if (!fresh && it->second != d.labels[i])
      throw InputError(fmt::format("{} images: group {} holds labels {} and {}", what, d.groups[i],
                                   it->second, d.labels[i]));
  }
}

// Image indices per group, groups in order of first appearance.
std::vector<std::vector<int>> group_members(const LabelledImages& d) {
  std::vector<std::vector<int>> members;
  if (d.groups.empty()) {
    for (int i = 0; i < d.images.count; ++i) members.push_back({i});
    return members;
  }
  std::unordered_map<int, size_t> slot;
  for (int i = 0; i < d.images.count; ++i) {
    const auto [it, fresh] = slot.emplace(d.groups[i], members.size());
    if (fresh) members.emplace_back();
    members[it->second].push_back(i);
  }
  return members;
}

// Per-image weights: the image's own weight times its class's weight.
std::vector<float> image_weights(const LabelledImages& d, const std::vector<double>& class_w) {
  std::vector<float> w(d.labels.size());
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>((d.weights.empty() ? 1.0 : d.weights[i]) * class_w[d.labels[i]]);
  return w;
}

// balanced: balanced_class_weights() (class_weights.h) over the images' weights; none: 1.
std::vector<double> class_weights(const LabelledImages& train, const VisionSettings& s) {
  if (s.class_weight == VisionClassWeight::kNone) return std::vector<double>(s.num_classes, 1.0);
  return balanced_class_weights(train.labels, train.weights, s.num_classes);
}

}  // namespace

TrainingHistory TorchImageModel::fit_impl(const LabelledImages& train, const LabelledImages& val,
                                          const VisionSettings& s, const FitHooks& hooks) {
  const auto start = Clock::now();
  s.validate();
  check_architecture(s);
  const int k = s.num_classes;
  check_labelled(train, channels_, s.image_size, k, "training");
  check_labelled(val, channels_, s.image_size, k, "validation");
  if (train.images.count < 2) throw InputError("training images: at least 2 are needed");
  settings_ = s;
  torch::set_num_threads(s.threads);
  // CPU kernels are deterministic; on CUDA an op without a deterministic kernel warns.
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  if (!normalizer_fitted_ && s.normalization == InputNormalization::kDataset)
    fit_normalizer(train.images);

  const std::vector<double> class_w = class_weights(train, s);
  const std::vector<float> train_w = image_weights(train, class_w);
  const std::vector<float> val_w = image_weights(val, class_w);
  const auto train_groups = group_members(train);
  const auto val_groups = group_members(val);
  generator_.set_current_seed(mix_seed(s.seed, kFitSalt));
  std::mt19937_64 rng(mix_seed(s.seed, kShuffleSalt));
  new_optimizer();

  std::vector<torch::Tensor> best = snapshot();
  ImageBatch batch(0, s.image_size, channels_);
  LossScaler scaler(s.precision);
  PlateauSchedule plateau(s.lr_plateau_factor, s.lr_plateau_patience);
  // On a GPU the training crops go over once per fit, and batches are gathered there; an augment
  // hook works on host pixels, so with one every batch is copied as on the CPU.
  torch::Tensor device_pixels;
  if (device_.is_cuda() && !hooks.augment && !hooks.inject)
    device_pixels =
        torch::from_blob(const_cast<uint8_t*>(train.images.pixels.data()),
                         {train.images.count, channels_, s.image_size, s.image_size}, torch::kUInt8)
            .to(device_);
  TrainingHistory history = run_epochs(
      s.epochs, s.patience, val.images.count > 0,
      [&](EpochReport* r) {
        train_epoch(train, train_w, train_groups, hooks, rng, device_pixels, &scaler, &batch, r);
      },
      [&](EpochReport* r) {
        score(val, val_w, val_groups, r);
        plateau.update(r->val_loss, *optimizer_);
      },
      [&] {
        best = snapshot();
        if (!hooks.checkpoint_path.empty()) save_impl(hooks.checkpoint_path);
      },
      hooks.on_epoch);
  restore(best);
  set_mode(false);
  history.seconds = seconds_since(start);
  return history;
}

void TorchImageModel::train_epoch(const LabelledImages& train, const std::vector<float>& weights,
                                  const std::vector<std::vector<int>>& groups,
                                  const FitHooks& hooks, std::mt19937_64& rng,
                                  const torch::Tensor& device_pixels, LossScaler* scaler,
                                  ImageBatch* batch, EpochReport* report) {
  set_mode(true);
  std::vector<int> order(groups.size());
  for (size_t g = 0; g < groups.size(); ++g)
    order[g] =
        groups[g].size() == 1 ? groups[g][0] : groups[g][uniform_index(rng(), groups[g].size())];
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[uniform_index(rng(), i)]);

  const size_t bytes = train.images.image_bytes();
  double loss_sum = 0;
  double weight_sum = 0;
  std::vector<int> labels;
  std::vector<float> w;
  const auto b = static_cast<size_t>(settings_.batch_size);
  for (size_t start = 0; start < order.size(); start += b) {
    const size_t n = std::min(b, order.size() - start);
    if (n < 2) break;  // batch norm needs two images: a last lone one is left out
    labels.resize(n);
    w.resize(n);
    double batch_weight = 0;
    for (size_t j = 0; j < n; ++j) {
      const int i = order[start + j];
      labels[j] = train.labels[i];
      w[j] = weights[i];
      batch_weight += w[j];
    }
    if (batch_weight <= 0) continue;
    torch::Tensor x;
    if (device_pixels.defined()) {
      const std::vector<int64_t> rows(order.begin() + start, order.begin() + start + n);
      x = normalize(device_pixels.index_select(0, torch::tensor(rows).to(device_)));
    } else {
      batch->count = static_cast<int>(n);
      batch->pixels.resize(n * bytes);
      for (size_t j = 0; j < n; ++j)
        std::memcpy(batch->image(static_cast<int>(j)), train.images.image(order[start + j]), bytes);
      if (hooks.inject) {
        hooks.inject(*batch, labels, rng);
        if (batch->count != static_cast<int>(n) || batch->pixels.size() != n * bytes)
          throw std::logic_error("the inject hook changed the batch's shape");
      }
      if (hooks.augment) {
        hooks.augment(*batch, rng);
        if (batch->count != static_cast<int>(n) || batch->size != settings_.image_size ||
            batch->channels != channels_ || batch->pixels.size() != n * bytes)
          throw std::logic_error("the augment hook changed the batch's shape");
      }
      x = input(batch->pixels.data(), static_cast<int>(n));
    }
    const torch::Tensor y = long_tensor(labels).to(device_);
    const torch::Tensor wt = float_tensor(w).to(device_);
    // --mixup: each image blended with another of the batch; the loss blends their labels'.
    double mix = 1;
    torch::Tensor partner;
    if (settings_.mixup > 0) {
      mix = beta_draw(settings_.mixup, rng);
      std::vector<int64_t> perm(n);
      for (size_t j = 0; j < n; ++j) perm[j] = static_cast<int64_t>(j);
      for (size_t j = n; j > 1; --j) std::swap(perm[j - 1], perm[uniform_index(rng(), j)]);
      partner = torch::tensor(perm).to(device_);
      x = mix * x + (1 - mix) * x.index_select(0, partner);
    }
    torch::Tensor loss;
    {
      AutocastScope autocast(device_, settings_.precision);
      const torch::Tensor logits = forward(x);
      auto loss_of = [&](const torch::Tensor& targets) {
        return per_image_loss(logits, targets, settings_.loss, settings_.focal_gamma,
                              settings_.label_smoothing)
            .to(torch::kFloat);
      };
      torch::Tensor per = loss_of(y);
      if (partner.defined()) per = mix * per + (1 - mix) * loss_of(y.index_select(0, partner));
      loss = (per * wt).sum() / batch_weight;
    }
    optimizer_->zero_grad();
    scaler->backward_and_step(loss, *optimizer_, settings_.grad_clip);
    loss_sum += loss.item<double>() * batch_weight;
    weight_sum += batch_weight;
    report->train_images += static_cast<long>(n);
  }
  report->train_loss = weight_sum > 0 ? loss_sum / weight_sum : 0;
}

void TorchImageModel::score(const LabelledImages& val, const std::vector<float>& weights,
                            const std::vector<std::vector<int>>& groups, EpochReport* report) {
  const int k = settings_.num_classes;
  const torch::Tensor logits = logits_of(val.images);
  const torch::Tensor per =
      per_image_loss(logits, long_tensor(val.labels), settings_.loss, settings_.focal_gamma);
  const torch::Tensor w = float_tensor(weights);
  const double wsum = w.sum().item<double>();
  report->val_loss = wsum > 0 ? ((per * w).sum() / wsum).item<double>() : per.mean().item<double>();
  const torch::Tensor probs = torch::softmax(logits, 1).to(torch::kDouble).contiguous();
  const double* p = probs.data_ptr<double>();
  std::vector<int> truth, pred;
  std::vector<double> mean(k);
  for (const auto& members : groups) {
    std::fill(mean.begin(), mean.end(), 0.0);
    for (int i : members)
      for (int c = 0; c < k; ++c) mean[c] += p[static_cast<size_t>(i) * k + c];
    truth.push_back(val.labels[members[0]]);
    pred.push_back(static_cast<int>(std::max_element(mean.begin(), mean.end()) - mean.begin()));
  }
  report->val_qwk = quadratic_weighted_kappa(truth, pred, k);
  long correct = 0;
  for (size_t g = 0; g < truth.size(); ++g) correct += truth[g] == pred[g];
  report->val_accuracy = truth.empty() ? 0 : static_cast<double>(correct) / truth.size();
}

}  // namespace woundphase::vision

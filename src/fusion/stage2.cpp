// TorchFusionModel (fusion_model.h): stage 2, the head and the unfrozen branch layers trained end
// to end on every image of each batch's samples, with generated images injected on request.
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>  // for min
#include <random>     // for mt19937_64
#include <stdexcept>  // for logic_error
#include <vector>

#include "fusion/fusion_model.h"
#include "woundphase/random.h"  // for mix_seed

namespace woundphase::fusion {
namespace {

// Seeds of stage 2's random streams, derived from settings.seed.
constexpr uint64_t kStage2Salt = 14;         // stage-2 dropout (head and branches)
constexpr uint64_t kStage2ShuffleSalt = 15;  // stage-2 epoch order
constexpr uint64_t kStage2InjectSalt = 16;   // stage-2 generated-image injection

}  // namespace

std::vector<std::vector<int>> TorchFusionModel::members_of(const LabelledImages& d, int count) {
  std::vector<std::vector<int>> members(count);
  for (int i = 0; i < static_cast<int>(d.groups.size()); ++i) members[d.groups[i]].push_back(i);
  return members;
}

TrainingHistory TorchFusionModel::fit_stage2_impl(const FusionImages& train,
                                                  const FusionImages& val, const EpochFn& on_epoch,
                                                  const std::vector<InjectFn>& inject) {
  const auto start = Clock::now();
  stage2_start_ = snapshot(/*with_branches=*/true);
  if (settings_.stage2_epochs == 0) return {};  // no stage 2
  if (stage2_trainable() == 0)
    throw InputError(fmt::format(
        "--fusion {} on a combination without image branches: stage 2 would train 0 parameters "
        "(the head has none and there is no backbone to unfreeze); set --stage2-epochs 0",
        to_string(settings_.kind)));
  check_images(train, "stage-2 training", true);
  check_images(val, "stage-2 validation", true);
  if (!inject.empty() && inject.size() != sources_.size())
    throw std::logic_error(
        fmt::format("fit_stage2: {} inject hooks for {} sources", inject.size(), sources_.size()));
  if (train.fixed.count < 2) throw InputError("stage-2 training: at least 2 samples are needed");
  torch::set_num_threads(settings_.threads);
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  if (head_->uses_embeddings() && !head_->standardizer_fitted())
    head_->fit_standardizer(embeddings_tensor(features_impl(train)));

  const std::vector<double> class_w = class_weights(train.fixed);
  const torch::Tensor fixed_probs = probs_tensor(train.fixed);
  const torch::Tensor labels =
      torch::tensor(std::vector<int64_t>(train.fixed.labels.begin(), train.fixed.labels.end()),
                    torch::kLong)
          .to(device_);
  const torch::Tensor weights = sample_weights(train.fixed, class_w);
  std::vector<std::vector<std::vector<int>>> members(n_sources());
  for (int s = 0; s < n_sources(); ++s)
    if (branches_[s]) members[s] = members_of(train.images[s], train.fixed.count);

  std::vector<torch::Tensor> params = head_parameters();
  for (const TorchBranch* branch : torch_branches_)
    if (branch != nullptr)
      for (const auto& [name, p] : branch->parameters())
        if (p.requires_grad()) params.push_back(p);
  // The head and each branch draw their own stage-2 streams.
  head_->generator_.set_current_seed(mix_seed(settings_.seed, kStage2Salt));
  for (size_t s = 0; s < torch_branches_.size(); ++s)
    if (torch_branches_[s] != nullptr)
      torch_branches_[s]->seed_training(
          mix_seed(mix_seed(settings_.seed, kStage2Salt), static_cast<uint64_t>(s)));
  std::mt19937_64 rng(mix_seed(settings_.seed, kStage2ShuffleSalt));
  // Injection draws from its own stream: the epochs' order is the same with or without it.
  std::mt19937_64 inject_rng(mix_seed(settings_.seed, kStage2InjectSalt));
  ImageBatch injected;
  std::vector<int> injected_labels;
  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(settings_.stage2_learning_rate)
                                           .weight_decay(settings_.weight_decay));
  const auto b = static_cast<size_t>(settings_.batch_size);
  std::vector<uint8_t> pixels;

  // Stage 2 feeds the head what stage 1 fitted it on and what prediction gives it: per sample
  // and image source, the mean of the embeddings and of the probabilities over all the sample's
  // images, with the branches in evaluation mode (batch norms on their running statistics, no
  // branch dropout; the head's dropout stays). Its first step thus starts from where stage 1
  // ended, and gradients still reach every unfrozen branch weight. (Single views through
  // training-mode batch norms gave the head features it had never seen: losses of 2 to 66 at
  // the first stage-2 epoch, against under 1 at stage 1's.)
  auto train_epoch = [&](EpochReport* r) {
    head_->train();
    set_branch_mode(false);
    const std::vector<int64_t> order = shuffled(train.fixed.count, rng);
    double loss_sum = 0, weight_sum = 0;
    for (size_t begin = 0; begin < order.size(); begin += b) {
      const size_t n = std::min(b, order.size() - begin);
      if (n < 2) break;  // as stage 1: a last lone sample is left out
      const std::vector<int64_t> batch(order.begin() + begin, order.begin() + begin + n);
      const torch::Tensor idx = torch::tensor(batch, torch::kLong).to(device_);
      std::vector<torch::Tensor> probs(n_sources()), embeddings;
      for (int s = 0; s < n_sources(); ++s) {
        if (!branches_[s]) {
          probs[s] = fixed_probs.select(1, s).index_select(0, idx);
          continue;
        }
        // Every image of the batch's samples, and which sample it shows.
        const ImageBatch& images = train.images[s].images;
        const size_t bytes = images.image_bytes();
        std::vector<int64_t> owner;
        pixels.clear();
        for (size_t j = 0; j < n; ++j)
          for (int i : members[s][batch[j]]) {
            pixels.insert(pixels.end(), images.image(i), images.image(i) + bytes);
            owner.push_back(static_cast<int64_t>(j));
          }
        TorchBranch& branch = *torch_branches_[s];
        const auto m = static_cast<int>(owner.size());
        const uint8_t* batch_pixels = pixels.data();
        if (!inject.empty() && inject[s]) {
          // The batch's images as an ImageBatch (its pixels moved in and back, not copied),
          // each with its sample's label: generated images replace views of their own class.
          injected.count = m;
          injected.size = images.size;
          injected.channels = images.channels;
          injected.pixels.swap(pixels);
          injected_labels.clear();
          for (int64_t j : owner) injected_labels.push_back(train.fixed.labels[batch[j]]);
          inject[s](injected, injected_labels, inject_rng);
          if (injected.count != m || injected.pixels.size() != bytes * m)
            throw std::logic_error("the inject hook changed the batch's shape");
          pixels.swap(injected.pixels);
          batch_pixels = pixels.data();
        }
        const torch::Tensor e = branch.embed_tensor(branch.input(batch_pixels, m));
        const torch::Tensor p = torch::softmax(branch.classify(e), 1);
        const torch::Tensor owner_idx = torch::tensor(owner, torch::kLong).to(device_);
        const auto options = torch::TensorOptions(torch::kDouble).device(device_);
        const torch::Tensor per_sample = torch::zeros({static_cast<int64_t>(n)}, options)
                                             .index_add_(0, owner_idx, torch::ones({m}, options))
                                             .unsqueeze(1);
        probs[s] = torch::zeros({static_cast<int64_t>(n), kK}, options)
                       .index_add(0, owner_idx, p.to(torch::kDouble)) /
                   per_sample;
        embeddings.push_back(torch::zeros({static_cast<int64_t>(n), e.size(1)}, options)
                                 .index_add(0, owner_idx, e.to(torch::kDouble)) /
                             per_sample);
      }
      Inputs in;
      in.probs = torch::stack(probs, 1);
      if (head_->uses_embeddings())
        in.embeddings = embeddings.empty()
                            ? torch::zeros({static_cast<int64_t>(n), 0},
                                           torch::TensorOptions(torch::kDouble).device(device_))
                            : torch::cat(embeddings, 1);
      loss_sum += step(optimizer, head_->log_probs(in), labels.index_select(0, idx),
                       weights.index_select(0, idx), settings_, &weight_sum);
      r->train_images += static_cast<long>(n);
    }
    r->train_loss = weight_sum > 0 ? loss_sum / weight_sum : 0;
  };
  auto validate = [&] {
    const SampleTensors va = sample_tensors(features_impl(val), class_w, true);
    return score(va);
  };
  TrainingHistory history = run_epochs(settings_.stage2_epochs, val.fixed.count > 0,
                                       /*with_branches=*/true, train_epoch, validate, on_epoch);
  history.seconds = seconds_since(start);
  return history;
}

}  // namespace woundphase::fusion

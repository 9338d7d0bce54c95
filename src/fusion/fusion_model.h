// TorchFusionModel: the library's FusionModel, a fusion head (head.h) over its own copies of the
// image branches, with the two-stage trainer: stage 1 on cached per-sample features, stage 2 end to
// end through the branches. Internal to libwoundphase_vision.so. Its members are defined by
// concern: fusion.cpp (building, tensors, state, prediction, the extern "C" factory), checks.cpp
// (input checks), stage1.cpp, stage2.cpp and checkpoint.cpp.
#pragma once

#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdint>  // for int64_t
#include <memory>   // for unique_ptr, shared_ptr
#include <optional>
#include <random>  // for mt19937_64
#include <string>
#include <vector>

#include "fusion/head.h"
#include "vision/torch_branch.h"
#include "woundphase/fusion.h"

namespace woundphase::fusion {

// Features and targets of a sample set as tensors on the model's device.
struct SampleTensors {
  int count = 0;
  Inputs inputs;
  torch::Tensor labels;   // [n] long
  torch::Tensor weights;  // [n] sample weight x class weight
};

class TorchFusionModel final : public FusionModel {
 public:
  TorchFusionModel(const FusionSettings& settings, const std::vector<FusionSource>& sources,
                   const std::vector<const ImageModel*>& branches);

  const std::vector<FusionSource>& sources() const override { return sources_; }
  const FusionSettings& settings() const override { return settings_; }

  std::vector<LayerParameters> parameter_breakdown(int stage) const override;

  TrainingHistory fit_stage1(const FusionFeatures& train, const FusionFeatures& val,
                             const EpochFn& on_epoch) override {
    return without_backtrace([&] { return fit_stage1_impl(train, val, on_epoch); });
  }
  Probabilities predict(const FusionFeatures& features) override {
    return without_backtrace([&] { return predict_impl(features); });
  }
  TrainingHistory fit_stage2(const FusionImages& train, const FusionImages& val,
                             const EpochFn& on_epoch,
                             const std::vector<InjectFn>& inject) override {
    return without_backtrace([&] { return fit_stage2_impl(train, val, on_epoch, inject); });
  }
  void revert_stage2() override {
    without_backtrace([&] {
      if (stage2_start_) restore(*stage2_start_);
    });
  }
  FusionFeatures features(const FusionImages& samples) override {
    return without_backtrace([&] {
      check_images(samples, "feature");
      return features_impl(samples);
    });
  }
  Probabilities predict_images(const FusionImages& samples) override {
    return without_backtrace([&] {
      check_images(samples, "prediction");
      return predict_impl(features_impl(samples));
    });
  }
  void save(const std::string& path) const override {
    without_backtrace([&] { save_impl(path); });
  }
  void load(const std::string& path) override {
    without_backtrace([&] { load_impl(path); });
  }

 private:
  // Head and branches at one moment: the best epoch, or the state before stage 2.
  struct State {
    std::vector<torch::Tensor> head;  // parameters then buffers
    bool standardizer_fitted = false;
    std::vector<std::vector<torch::Tensor>> branches;  // empty: the branches are not part of it
  };

  int n_sources() const { return static_cast<int>(sources_.size()); }

  // ---- Checks

  void check_sources(const std::vector<const ImageModel*>& branches) const;

  // `image_sources` false: the image sources' entries are not read (stage 2 computes them).
  void check_features(const FusionFeatures& f, const std::string& what, bool need_labels,
                      bool image_sources) const;

  void check_images(const FusionImages& d, const std::string& what, bool need_labels = false) const;

  // ---- Tensors

  torch::Tensor probs_tensor(const FusionFeatures& f) const;

  torch::Tensor embeddings_tensor(const FusionFeatures& f) const;

  // balanced: balanced_class_weights() (class_weights.h) over the samples' weights; none: 1.
  std::vector<double> class_weights(const FusionFeatures& train) const;

  torch::Tensor sample_weights(const FusionFeatures& f, const std::vector<double>& class_w) const;

  SampleTensors sample_tensors(const FusionFeatures& f, const std::vector<double>& class_w,
                               bool labelled) const;

  // ---- Training

  std::vector<torch::Tensor> head_parameters() const;

  long stage2_trainable() const;

  // The branch copies only ever train in stage 2, so they hold its trainability throughout; with
  // stage2_unfreeze 0 the classifier is frozen too (the branch is then a fixed feature extractor).
  void apply_stage2_trainability();

  void set_branch_mode(bool train);

  State snapshot(bool with_branches) const;

  void restore(const State& state);

  struct Score {
    double loss = 0, qwk = 0, accuracy = 0;
  };

  Score score(const SampleTensors& t);

  // Adam steps over one batch's loss; returns the batch's weighted loss sum.
  static double step(torch::optim::Adam& optimizer, const torch::Tensor& log_p,
                     const torch::Tensor& labels, const torch::Tensor& weights,
                     const FusionSettings& s, double* weight_sum);

  static std::vector<int64_t> shuffled(int n, std::mt19937_64& rng);

  // The epochs of a stage: `train_epoch(report)` then `validate()` (a Score) when there is
  // validation; the best epoch (QWK, ties to the lower loss) is restored at the end.
  template <typename TrainEpoch, typename Validate>
  TrainingHistory run_epochs(int epochs, bool has_val, bool with_branches, TrainEpoch&& train_epoch,
                             Validate&& validate, const EpochFn& on_epoch) {
    State best = snapshot(with_branches);
    TrainingHistory history = vision::run_epochs(
        epochs, settings_.patience, has_val, train_epoch,
        [&](EpochReport* r) {
          const Score s = validate();
          r->val_loss = s.loss;
          r->val_qwk = s.qwk;
          r->val_accuracy = s.accuracy;
        },
        [&] { best = snapshot(with_branches); }, on_epoch);
    restore(best);
    head_->eval();
    set_branch_mode(false);
    return history;
  }

  TrainingHistory fit_stage1_impl(const FusionFeatures& train, const FusionFeatures& val,
                                  const EpochFn& on_epoch);

  Probabilities predict_impl(const FusionFeatures& features);

  // Per sample, the mean embedding and mean probabilities of its images, for every image source.
  FusionFeatures features_impl(const FusionImages& samples);

  // Image indices per sample, for each image source.
  static std::vector<std::vector<int>> members_of(const LabelledImages& d, int count);

  TrainingHistory fit_stage2_impl(const FusionImages& train, const FusionImages& val,
                                  const EpochFn& on_epoch, const std::vector<InjectFn>& inject);

  // ---- Checkpoints

  std::string sources_signature() const;

  static std::string branch_key(int s) { return fmt::format("branch_{}", s); }

  std::vector<NamedTensor> head_tensors() const;

  void save_impl(const std::string& path) const;

  void load_impl(const std::string& path);

  FusionSettings settings_;
  std::vector<FusionSource> sources_;
  std::vector<std::unique_ptr<ImageModel>> branches_;  // [source]; null for metadata
  std::vector<TorchBranch*> torch_branches_;           // the same models' torch side
  torch::Device device_{torch::kCPU};
  std::shared_ptr<Head> head_;
  std::optional<State> stage2_start_;  // for revert_stage2()
};

}  // namespace woundphase::fusion

// FusionSettings: names, parsing and validation. Torch-free: it is compiled into the experiment
// stage too, so options are checked without loading libtorch.
#include <fmt/format.h>
#include <fmt/ranges.h>  // for join (fmt 11 moved it here)

#include <array>
#include <cmath>  // for isfinite
#include <string>
#include <utility>  // for pair
#include <vector>

#include "woundphase/fusion.h"

namespace woundphase {
namespace {

constexpr int kMaxEpochs = 10000;
constexpr int kMinBatch = 2;  // a stage-2 step runs the backbones' batch norms: two images at least
constexpr int kMaxBatch = 4096;
constexpr double kMinStage2LearningRate = 1e-5;
constexpr double kMaxFocalGamma = 10;
constexpr double kMaxDropout = 0.9;
constexpr int kMaxThreads = 256;

constexpr std::array<std::pair<const char*, FusionKind>, 5> kKinds = {{
    {"fixed", FusionKind::kFixed},
    {"learned_weights", FusionKind::kLearnedWeights},
    {"prob_concat", FusionKind::kProbConcat},
    {"feature_concat", FusionKind::kFeatureConcat},
    {"gated", FusionKind::kGated},
}};

void check_range(bool ok, const char* option, const std::string& value, const char* bound) {
  if (!ok)
    throw InputError(fmt::format("{}: {} is out of range (must be {})", option, value, bound));
}

}  // namespace

FusionKind parse_fusion(const std::string& text) {
  std::vector<std::string> choices;
  for (const auto& [name, kind] : kKinds) {
    if (text == name) return kind;
    choices.push_back(name);
  }
  throw InputError(
      fmt::format("--fusion: unknown value '{}' (choose from {})", text, fmt::join(choices, ", ")));
}

const char* to_string(FusionKind kind) {
  for (const auto& [name, k] : kKinds)
    if (k == kind) return name;
  return "?";
}

void FusionSettings::validate() const {
  check_range(std::isfinite(rf_weight) && rf_weight >= 0 && rf_weight <= 1, "--rf-weight",
              fmt::format("{}", rf_weight), "in [0, 1]");
  check_range(stage1_epochs >= 1 && stage1_epochs <= kMaxEpochs, "--stage1-epochs",
              std::to_string(stage1_epochs), "in [1, 10000]");
  check_range(
      std::isfinite(stage1_learning_rate) && stage1_learning_rate > 0 && stage1_learning_rate <= 1,
      "--stage1-learning-rate", fmt::format("{}", stage1_learning_rate), "in (0, 1]");
  check_range(stage2_epochs >= 0 && stage2_epochs <= kMaxEpochs, "--stage2-epochs",
              std::to_string(stage2_epochs), "in [0, 10000]");
  check_range(std::isfinite(stage2_learning_rate) &&
                  stage2_learning_rate >= kMinStage2LearningRate && stage2_learning_rate <= 1,
              "--stage2-learning-rate", fmt::format("{}", stage2_learning_rate), "in [1e-5, 1]");
  check_range(std::isfinite(stage2_unfreeze) && stage2_unfreeze >= 0 && stage2_unfreeze <= 1,
              "--stage2-unfreeze", fmt::format("{}", stage2_unfreeze), "in [0, 1]");
  check_range(patience >= 0 && patience <= kMaxEpochs, "--fusion-patience",
              std::to_string(patience), "in [0, 10000]");
  check_range(std::isfinite(focal_gamma) && focal_gamma >= 0 && focal_gamma <= kMaxFocalGamma,
              "--fusion-focal-gamma", fmt::format("{}", focal_gamma), "in [0, 10]");
  check_range(std::isfinite(dropout) && dropout >= 0 && dropout <= kMaxDropout, "--fusion-dropout",
              fmt::format("{}", dropout), "in [0, 0.9]");
  check_range(std::isfinite(weight_decay) && weight_decay >= 0 && weight_decay <= 1,
              "--fusion-weight-decay", fmt::format("{}", weight_decay), "in [0, 1]");
  check_range(batch_size >= kMinBatch && batch_size <= kMaxBatch, "--fusion-batch-size",
              std::to_string(batch_size), "in [2, 4096]");
  check_range(threads >= 1 && threads <= kMaxThreads, "threads", std::to_string(threads),
              "in [1, 256]");
  // Caught here, before any branch trains: the combination cannot change this.
  if (kind == FusionKind::kFixed && stage2_epochs > 0 && stage2_unfreeze == 0)
    throw InputError(
        "--fusion fixed with --stage2-unfreeze 0: stage 2 would train 0 parameters (the fixed "
        "average has none and every backbone layer and branch classifier is frozen); raise "
        "--stage2-unfreeze or set --stage2-epochs 0");
}

}  // namespace woundphase

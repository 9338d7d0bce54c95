// VisionSettings: names, parsing and validation. Torch-free: it is compiled into the experiment
// stage too, so options are checked without loading libtorch.
#include <fmt/format.h>
#include <fmt/ranges.h>  // for join (fmt 11 moved it here)

#include <array>
#include <cmath>       // for isfinite
#include <filesystem>  // for exists
#include <utility>     // for pair

#include "woundphase/vision.h"

namespace woundphase {
namespace {

constexpr char kTorchScriptPrefix[] = "torchscript:";
constexpr int kMinClasses = 2;
constexpr int kMaxClasses = 1000;
constexpr int kMaxEpochs = 10000;
constexpr int kMinBatch = 2;  // batch norm needs two images per step
constexpr int kMaxBatch = 4096;
constexpr double kMaxFocalGamma = 10;
constexpr double kMaxDropout = 0.9;
constexpr int kMaxThreads = 256;
constexpr int kMaxDeviceIndex = 255;
constexpr char kCudaIndexPrefix[] = "cuda:";
constexpr std::array<int, 4> kVisionImageSizes = {32, 64, 128, 256};

constexpr std::array<std::pair<const char*, BackboneKind>, 7> kBackbones = {{
    {"simple", BackboneKind::kSimple},
    {"resnet18", BackboneKind::kResnet18},
    {"densenet121", BackboneKind::kDenseNet121},
    {"efficientnet_b0", BackboneKind::kEfficientNetB0},
    {"efficientnet_b1", BackboneKind::kEfficientNetB1},
    {"efficientnet_b2", BackboneKind::kEfficientNetB2},
    {"efficientnet_b3", BackboneKind::kEfficientNetB3},
}};

template <typename Enum, size_t N>
Enum parse_named(const std::array<std::pair<const char*, Enum>, N>& names, const std::string& text,
                 const char* option) {
  std::vector<std::string> choices;
  for (const auto& [name, value] : names) {
    if (text == name) return value;
    choices.push_back(name);
  }
  throw InputError(fmt::format("{}: unknown value '{}' (choose from {})", option, text,
                               fmt::join(choices, ", ")));
}

template <typename Enum, size_t N>
const char* name_of(const std::array<std::pair<const char*, Enum>, N>& names, Enum value) {
  for (const auto& [name, v] : names)
    if (v == value) return name;
  return "?";
}

constexpr std::array<std::pair<const char*, VisionLoss>, 2> kLosses = {{
    {"weighted_ce", VisionLoss::kWeightedCrossEntropy},
    {"focal", VisionLoss::kFocal},
}};
constexpr std::array<std::pair<const char*, VisionDevice>, 3> kDevices = {{
    {"cpu", VisionDevice::kCpu},
    {"cuda", VisionDevice::kCuda},
    {"multi", VisionDevice::kMulti},
}};
constexpr std::array<std::pair<const char*, Precision>, 3> kPrecisions = {{
    {"fp32", Precision::kFp32},
    {"bf16", Precision::kBf16},
    {"fp16", Precision::kFp16},
}};
constexpr std::array<std::pair<const char*, VisionClassWeight>, 2> kClassWeights = {{
    {"balanced", VisionClassWeight::kBalanced},
    {"none", VisionClassWeight::kNone},
}};
constexpr std::array<std::pair<const char*, InputNormalization>, 2> kNormalizations = {{
    {"dataset", InputNormalization::kDataset},
    {"imagenet", InputNormalization::kImageNet},
}};

void check_range(bool ok, const char* option, const std::string& value, const char* bound) {
  if (!ok)
    throw InputError(fmt::format("{}: {} is out of range (must be {})", option, value, bound));
}

}  // namespace

BackboneKind parse_backbone(const std::string& text) {
  if (text.rfind(kTorchScriptPrefix, 0) == 0) {
    if (text.size() == sizeof(kTorchScriptPrefix) - 1)
      throw InputError("--backbone: 'torchscript:' needs a file (torchscript:PATH)");
    return BackboneKind::kTorchScript;
  }
  std::vector<std::string> choices;
  for (const auto& [name, value] : kBackbones) {
    if (text == name) return value;
    choices.push_back(name);
  }
  choices.push_back("torchscript:PATH");
  throw InputError(fmt::format("--backbone: unknown backbone '{}' (choose from {})", text,
                               fmt::join(choices, ", ")));
}

VisionLoss parse_vision_loss(const std::string& text) {
  return parse_named(kLosses, text, "--loss");
}
VisionDevice parse_vision_device(const std::string& text) {
  if (text.rfind(kCudaIndexPrefix, 0) == 0) {
    parse_device_index(text);  // checks N
    return VisionDevice::kCuda;
  }
  return parse_named(kDevices, text, "--device");
}
int parse_device_index(const std::string& text) {
  if (text.rfind(kCudaIndexPrefix, 0) != 0) return 0;
  const std::string digits = text.substr(sizeof(kCudaIndexPrefix) - 1);
  const bool all_digits = !digits.empty() && digits.size() <= 3 &&
                          digits.find_first_not_of("0123456789") == std::string::npos;
  if (!all_digits || std::stoi(digits) > kMaxDeviceIndex)
    throw InputError(fmt::format(
        "--device: '{}' is not cuda:N with N a GPU number in [0, {}] (or cpu, cuda, multi)", text,
        kMaxDeviceIndex));
  return std::stoi(digits);
}
Precision parse_precision(const std::string& text) {
  return parse_named(kPrecisions, text, "--precision");
}
VisionClassWeight parse_vision_class_weight(const std::string& text) {
  return parse_named(kClassWeights, text, "--image-class-weight");
}
InputNormalization parse_input_normalization(const std::string& text) {
  return parse_named(kNormalizations, text, "--normalization");
}
const char* to_string(VisionLoss v) { return name_of(kLosses, v); }
const char* to_string(VisionDevice v) { return name_of(kDevices, v); }
const char* to_string(VisionClassWeight v) { return name_of(kClassWeights, v); }
const char* to_string(InputNormalization v) { return name_of(kNormalizations, v); }
const char* to_string(Precision v) { return name_of(kPrecisions, v); }

BackboneKind VisionSettings::backbone_kind() const { return parse_backbone(backbone); }

std::string VisionSettings::torchscript_path() const {
  if (backbone_kind() != BackboneKind::kTorchScript) return "";
  return backbone.substr(sizeof(kTorchScriptPrefix) - 1);
}

void VisionSettings::validate() const {
  if (backbone_kind() == BackboneKind::kTorchScript) {
    const std::string path = torchscript_path();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      throw InputError(fmt::format("--backbone: TorchScript file '{}' does not exist", path));
  }
  bool size_ok = false;
  for (int s : kVisionImageSizes) size_ok = size_ok || s == image_size;
  check_range(size_ok, "--image-size", std::to_string(image_size), "32, 64, 128 or 256");
  check_range(num_classes >= kMinClasses && num_classes <= kMaxClasses, "num_classes",
              std::to_string(num_classes), "in [2, 1000]");
  check_range(epochs >= 1 && epochs <= kMaxEpochs, "--epochs", std::to_string(epochs),
              "in [1, 10000]");
  check_range(batch_size >= kMinBatch && batch_size <= kMaxBatch, "--batch-size",
              std::to_string(batch_size), "in [2, 4096]");
  check_range(std::isfinite(learning_rate) && learning_rate > 0 && learning_rate <= 1,
              "--image-learning-rate", fmt::format("{}", learning_rate), "in (0, 1]");
  check_range(std::isfinite(weight_decay) && weight_decay >= 0 && weight_decay <= 1,
              "--weight-decay", fmt::format("{}", weight_decay), "in [0, 1]");
  check_range(patience >= 0 && patience <= kMaxEpochs, "--patience", std::to_string(patience),
              "in [0, 10000]");
  check_range(std::isfinite(focal_gamma) && focal_gamma >= 0 && focal_gamma <= kMaxFocalGamma,
              "--focal-gamma", fmt::format("{}", focal_gamma), "in [0, 10]");
  check_range(std::isfinite(dropout) && dropout >= 0 && dropout <= kMaxDropout, "--dropout",
              fmt::format("{}", dropout), "in [0, 0.9]");
  check_range(threads >= 1 && threads <= kMaxThreads, "--threads", std::to_string(threads),
              "in [1, 256]");
  check_range(device_index >= 0 && device_index <= kMaxDeviceIndex, "--device",
              fmt::format("cuda:{}", device_index), "cuda:N with N in [0, 255]");
  if (precision != Precision::kFp32 && device == VisionDevice::kCpu)
    throw InputError(fmt::format(
        "--precision {}: mixed precision runs on CUDA only; use --precision fp32 with --device cpu",
        to_string(precision)));
}

}  // namespace woundphase

// VisionSettings: names, parsing and validation. Torch-free: it is compiled into the experiment
// stage too, so options are checked without loading libtorch.
#include <fmt/format.h>
#include <fmt/ranges.h>  // for join (fmt 11 moved it here)

#include <algorithm>  // for min
#include <array>
#include <charconv>    // for from_chars
#include <cmath>       // for isfinite
#include <filesystem>  // for exists
#include <utility>     // for pair
#include <vector>

#include "woundphase/enum_names.h"
#include "woundphase/options.h"
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
constexpr char kNoProjection[] = "none";
constexpr char kAutoProjection[] = "auto";
// The predecessor's projection heads: 1024 -> 128 -> 32 for RGB frames, 1024 -> 128 for maps.
const std::vector<int> kAutoRgbWidths = {128, 32};
const std::vector<int> kAutoMapWidths = {128};
constexpr int kMaxProjectionWidth = 4096;
constexpr double kMaxLabelSmoothing = 0.5;
constexpr double kMaxMixup = 10;
constexpr double kMaxGradClip = 1e6;
// Bounds of AugmentSettings' (images.h): at most half the side cropped away, half the area cut.
constexpr double kMaxZoom = 0.5;
constexpr double kMaxCutout = 0.5;

constexpr std::array<std::pair<const char*, BackboneKind>, 7> kBackbones = {{
    {"simple", BackboneKind::kSimple},
    {"resnet18", BackboneKind::kResnet18},
    {"densenet121", BackboneKind::kDenseNet121},
    {"efficientnet_b0", BackboneKind::kEfficientNetB0},
    {"efficientnet_b1", BackboneKind::kEfficientNetB1},
    {"efficientnet_b2", BackboneKind::kEfficientNetB2},
    {"efficientnet_b3", BackboneKind::kEfficientNetB3},
}};

constexpr EnumNames<VisionLoss, 2> kLosses("--loss",
                                           {{{VisionLoss::kWeightedCrossEntropy, "weighted_ce"},
                                             {VisionLoss::kFocal, "focal"}}});
constexpr EnumNames<VisionDevice, 3> kDevices("--device", {{{VisionDevice::kCpu, "cpu"},
                                                            {VisionDevice::kCuda, "cuda"},
                                                            {VisionDevice::kMulti, "multi"}}});
constexpr EnumNames<Precision, 3> kPrecisions("--precision", {{{Precision::kFp32, "fp32"},
                                                               {Precision::kBf16, "bf16"},
                                                               {Precision::kFp16, "fp16"}}});
constexpr EnumNames<VisionClassWeight, 2> kClassWeights(
    "--image-class-weight",
    {{{VisionClassWeight::kBalanced, "balanced"}, {VisionClassWeight::kNone, "none"}}});
constexpr EnumNames<InputNormalization, 2> kNormalizations(
    "--normalization",
    {{{InputNormalization::kDataset, "dataset"}, {InputNormalization::kImageNet, "imagenet"}}});

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

VisionLoss parse_vision_loss(const std::string& text) { return kLosses.parse(text); }
VisionDevice parse_vision_device(const std::string& text) {
  if (text.rfind(kCudaIndexPrefix, 0) == 0) {
    parse_device_index(text);  // checks N
    return VisionDevice::kCuda;
  }
  return kDevices.parse(text);
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
Precision parse_precision(const std::string& text) { return kPrecisions.parse(text); }
VisionClassWeight parse_vision_class_weight(const std::string& text) {
  return kClassWeights.parse(text);
}
InputNormalization parse_input_normalization(const std::string& text) {
  return kNormalizations.parse(text);
}
const char* to_string(VisionLoss v) { return kLosses.name(v); }
const char* to_string(VisionDevice v) { return kDevices.name(v); }
const char* to_string(VisionClassWeight v) { return kClassWeights.name(v); }
const char* to_string(InputNormalization v) { return kNormalizations.name(v); }
const char* to_string(Precision v) { return kPrecisions.name(v); }

BackboneKind VisionSettings::backbone_kind() const { return parse_backbone(backbone); }

std::vector<int> VisionSettings::projection_widths(int channels) const {
  if (projection == kNoProjection) return {};
  if (projection == kAutoProjection) return channels == 1 ? kAutoMapWidths : kAutoRgbWidths;
  std::vector<int> widths;
  size_t start = 0;
  while (start <= projection.size()) {
    const size_t end = std::min(projection.find(',', start), projection.size());
    const std::string item = projection.substr(start, end - start);
    int width = 0;
    const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), width);
    if (ec != std::errc() || ptr != item.data() + item.size() || width < 1 ||
        width > kMaxProjectionWidth)
      throw InputError(fmt::format(
          "--projection: '{}' is not a width in [1, {}] (none, auto, or widths like 128,32)", item,
          kMaxProjectionWidth));
    widths.push_back(width);
    start = end + 1;
  }
  return widths;
}

std::string VisionSettings::torchscript_path() const {
  if (backbone_kind() != BackboneKind::kTorchScript) return "";
  return backbone.substr(sizeof(kTorchScriptPrefix) - 1);
}

const OptionTable<VisionSettings>& vision_options() {
  static const OptionTable<VisionSettings> table = [] {
    using S = VisionSettings;
    OptionTable<S> t;
    t.add("--backbone", &S::backbone,
          "simple | resnet18 | densenet121 | efficientnet_b0 | efficientnet_b1 | efficientnet_b2 | "
          "efficientnet_b3 | torchscript:PATH");
    // Recorded by ImageBranchSettings' --image-size, which sets this and the crops' size.
    t.add("--image-size", &S::image_size, "side of the square crops the network takes")
        .one_of(kImageSizes)
        .internal()
        .recorded_elsewhere();
    t.add("num_classes", &S::num_classes, "output classes (the study: 3)")
        .range(kMinClasses, kMaxClasses)
        .fixed();
    t.add("--epochs", &S::epochs, "maximum training epochs").range(1, kMaxEpochs);
    t.add("--batch-size", &S::batch_size, "images per optimiser step").range(kMinBatch, kMaxBatch);
    t.add("--image-learning-rate", &S::learning_rate, "Adam step size")
        .range(0, 1)
        .open_low()
        .json_key("learning_rate");
    t.add("--weight-decay", &S::weight_decay, "Adam's L2 penalty (coupled, not AdamW)").range(0, 1);
    t.add("--patience", &S::patience,
          "epochs without a better validation QWK before stopping; 0 = never stop early")
        .range(0, kMaxEpochs);
    t.add_choice("--loss", &S::loss, {VisionLoss::kWeightedCrossEntropy, VisionLoss::kFocal},
                 "the branches' training loss");
    t.add("--focal-gamma", &S::focal_gamma, "focal loss focusing power").range(0, kMaxFocalGamma);
    t.add_choice("--image-class-weight", &S::class_weight,
                 {VisionClassWeight::kBalanced, VisionClassWeight::kNone},
                 "balanced: class c weighs n / (k * n_c) over the training images' weights")
        .json_key("class_weight");
    t.add("--dropout", &S::dropout, "dropout before the classifier").range(0, kMaxDropout);
    t.add_choice("--normalization", &S::normalization,
                 {InputNormalization::kDataset, InputNormalization::kImageNet},
                 "input scaling: the first fit's training images' mean/std, or ImageNet's (for "
                 "TorchScript models exported with ImageNet weights)");
    t.add("--image-unfreeze", &S::unfreeze,
          "top share of the backbone's layers that train (1 = all; e.g. 0.2 to fine-tune a "
          "pretrained torchscript model's top)")
        .range(0, 1);
    t.add("--freeze-bn", &S::freeze_bn,
          "batch norms keep their running statistics while training (fine-tuning pretrained "
          "backbones)");
    t.add("--projection", &S::projection,
          "projection head before the classifier: none | auto (128,32 for RGB, 128 for maps) | "
          "widths W[,W...]");
    t.add("--label-smoothing", &S::label_smoothing,
          "targets 1 - e on the label and e / k on every class")
        .range(0, kMaxLabelSmoothing);
    t.add("--mixup", &S::mixup,
          "mixup's Beta(a, a) parameter: training images blended in pairs, losses too; 0 = off")
        .range(0, kMaxMixup);
    t.add("--grad-clip", &S::grad_clip, "clip the gradients' global L2 norm to this; 0 = off")
        .range(0, kMaxGradClip);
    t.add("--lr-plateau-factor", &S::lr_plateau_factor,
          "on a validation-loss plateau multiply the image learning rate by this; 0 = constant")
        .range(0, 1)
        .open_high();
    t.add("--lr-plateau-patience", &S::lr_plateau_patience,
          "epochs without a lower validation loss that make a plateau")
        .range(1, kMaxEpochs);
    t.add("--aug-rot90", &S::aug_rot90,
          "probability that a training image turns by 90, 180 or 270 degrees; 0 = off")
        .range(0, 1);
    t.add("--aug-zoom", &S::aug_zoom,
          "zoom-crop: a training image is cropped to a side share 1 - u * S (u uniform) at a "
          "random position and resized back; 0 = off")
        .range(0, kMaxZoom);
    t.add("--aug-cutout", &S::aug_cutout,
          "share of a training image's area blanked (set to 0) by one square at a random "
          "position; 0 = off")
        .range(0, kMaxCutout);
    t.add("--seed", &S::seed, "weights, shuffling, dropout, augmentation").run_context();
    t.add("--threads", &S::threads, "libtorch intra-op threads")
        .range(1, kMaxThreads)
        .run_context();
    t.add_computed(
         "--device", OptionType::kText,
         [](const S& s) -> OptionValue {
           if (s.device == VisionDevice::kCuda && s.device_index > 0)
             return fmt::format("{}{}", kCudaIndexPrefix, s.device_index);
           return std::string(to_string(s.device));
         },
         [](S& s, const OptionValue& v) {
           const std::string text = option_as<std::string>(v, "--device");
           s.device = parse_vision_device(text);
           s.device_index = parse_device_index(text);
         },
         "where the networks run: one GPU, the first or the N-th (README \"GPU build\")")
        .note("cpu | cuda | cuda:N | multi")
        .context();
    t.add("device_index", &S::device_index, "the N of --device cuda:N")
        .range(0, kMaxDeviceIndex)
        .run_context();
    // Not recorded in settings.json, as before the registry (CPU runs are fp32 only).
    t.add_choice("--precision", &S::precision,
                 {Precision::kFp32, Precision::kBf16, Precision::kFp16},
                 "arithmetic of the image branches: autocast to bf16/fp16 on CUDA")
        .context();
    return t;
  }();
  return table;
}

void VisionSettings::validate() const {
  if (backbone_kind() == BackboneKind::kTorchScript) {
    const std::string path = torchscript_path();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      throw InputError(fmt::format("--backbone: TorchScript file '{}' does not exist", path));
  }
  vision_options().validate(*this);
  projection_widths(1);  // InputError for a malformed list
  if (precision != Precision::kFp32 && device == VisionDevice::kCpu)
    throw InputError(fmt::format(
        "--precision {}: mixed precision runs on CUDA only; use --precision fp32 with --device cpu",
        to_string(precision)));
}

}  // namespace woundphase

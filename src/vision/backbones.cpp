// The backbones: a small CNN, ResNet-18, DenseNet-121, EfficientNet-B0..B3 (torchvision's layouts,
// no pretrained weights) and TorchScript modules loaded from a file.
#include "vision/backbones.h"

#include <fmt/format.h>
#include <torch/script.h>  // for jit::load, jit::Module

#include <algorithm>  // for max
#include <cmath>      // for ceil
#include <iterator>   // for size, prev

namespace woundphase::vision {
namespace {

namespace nn = torch::nn;

// Which modules are batch norms whose parameters are all frozen (they stay in evaluation mode).
bool all_frozen(const std::vector<torch::Tensor>& params) {
  if (params.empty()) return false;
  for (const auto& p : params)
    if (p.requires_grad()) return false;
  return true;
}

// He initialisation of convolutions (fan-out, ReLU gain), as torchvision initialises ResNet and
// EfficientNet; batch norms start at identity.
void init_convolutions(nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (conv->bias.defined()) conv->bias.zero_();
    }
  }
}

// A Sequential that can sit inside another (nn::Sequential's templated forward cannot).
struct StackImpl : nn::SequentialImpl {
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(Stack);

nn::Conv2dOptions conv_options(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                               int64_t groups = 1) {
  return nn::Conv2dOptions(in, out, kernel)
      .stride(stride)
      .padding((kernel - 1) / 2)
      .groups(groups)
      .bias(false);
}

// ---- ResNet-18
// -----------------------------------------------------------------------------------

struct BasicBlockImpl : nn::Module {
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride)
      : conv1(register_module("conv1", nn::Conv2d(conv_options(in, out, 3, stride)))),
        bn1(register_module("bn1", nn::BatchNorm2d(out))),
        conv2(register_module("conv2", nn::Conv2d(conv_options(out, out, 3)))),
        bn2(register_module("bn2", nn::BatchNorm2d(out))) {
    if (stride != 1 || in != out)
      downsample = register_module(
          "downsample",
          nn::Sequential(nn::Conv2d(conv_options(in, out, 1, stride)), nn::BatchNorm2d(out)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = torch::relu(bn1(conv1(x)));
    y = bn2(conv2(y));
    return torch::relu(y + (downsample.is_empty() ? x : downsample->forward(x)));
  }
  // Declared in network order: members are registered (and listed) in this order.
  nn::Conv2d conv1;
  nn::BatchNorm2d bn1;
  nn::Conv2d conv2;
  nn::BatchNorm2d bn2;
  nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

constexpr int64_t kResnetStem = 64;
constexpr int64_t kResnetStemKernel = 7;
constexpr int kResnetStages = 4;
constexpr int kResnet18BlocksPerStage = 2;

struct ResNet18Impl : nn::Module {
  explicit ResNet18Impl(int channels)
      : conv1(register_module(
            "conv1", nn::Conv2d(conv_options(channels, kResnetStem, kResnetStemKernel, 2)))),
        bn1(register_module("bn1", nn::BatchNorm2d(kResnetStem))) {
    int64_t in = kResnetStem;
    for (int stage = 0; stage < kResnetStages; ++stage) {
      const int64_t out = kResnetStem << stage;
      nn::Sequential layer;
      for (int b = 0; b < kResnet18BlocksPerStage; ++b) {
        layer->push_back(BasicBlock(in, out, (b == 0 && stage > 0) ? 2 : 1));
        in = out;
      }
      layers.push_back(register_module(fmt::format("layer{}", stage + 1), layer));
    }
    init_convolutions(*this);
  }
  torch::Tensor forward(const torch::Tensor& x) { return pool(feature_map(x)); }
  torch::Tensor feature_map(const torch::Tensor& x) {
    torch::Tensor y = torch::relu(bn1(conv1(x)));
    y = torch::max_pool2d(y, 3, 2, 1);
    for (auto& layer : layers) y = layer->forward(y);
    return y;
  }
  torch::Tensor pool(const torch::Tensor& a) {
    return torch::adaptive_avg_pool2d(a, {1, 1}).flatten(1);
  }
  static constexpr int64_t kDim = kResnetStem << (kResnetStages - 1);  // 512
  nn::Conv2d conv1;
  nn::BatchNorm2d bn1;
  std::vector<nn::Sequential> layers;
};
TORCH_MODULE(ResNet18);

// ---- DenseNet-121 ---------------------------------------------------------------------------

constexpr int64_t kDenseGrowth = 32;
constexpr int64_t kDenseBottleneck = 4;  // the 1x1 convolution's width is 4 x growth
constexpr int64_t kDenseStem = 64;
constexpr int64_t kDenseStemKernel = 7;
constexpr int64_t kDenseNet121Blocks[] = {6, 12, 24, 16};

// BN -> ReLU -> 1x1 conv -> BN -> ReLU -> 3x3 conv, its `growth` channels appended to its input.
struct DenseLayerImpl : nn::Module {
  DenseLayerImpl(int64_t in, int64_t growth, int64_t bottleneck)
      : norm1(register_module("norm1", nn::BatchNorm2d(in))),
        conv1(register_module("conv1", nn::Conv2d(conv_options(in, bottleneck * growth, 1)))),
        norm2(register_module("norm2", nn::BatchNorm2d(bottleneck * growth))),
        conv2(register_module("conv2", nn::Conv2d(conv_options(bottleneck * growth, growth, 3)))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    const torch::Tensor y = conv1(torch::relu(norm1(x)));
    return torch::cat({x, conv2(torch::relu(norm2(y)))}, 1);
  }

  nn::BatchNorm2d norm1;
  nn::Conv2d conv1;
  nn::BatchNorm2d norm2;
  nn::Conv2d conv2;
};
TORCH_MODULE(DenseLayer);

// BN -> ReLU -> 1x1 conv halving the channels -> 2x2 average pool.
struct TransitionImpl : nn::Module {
  TransitionImpl(int64_t in, int64_t out)
      : norm(register_module("norm", nn::BatchNorm2d(in))),
        conv(register_module("conv", nn::Conv2d(conv_options(in, out, 1)))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    return torch::avg_pool2d(conv(torch::relu(norm(x))), 2, 2);
  }

  nn::BatchNorm2d norm;
  nn::Conv2d conv;
};
TORCH_MODULE(Transition);

// torchvision's densenet121 (its `features` and the ReLU + pooling of its forward), names kept:
// features.conv0, norm0, denseblock1.denselayer1.norm1, ..., transition1, ..., norm5.
struct DenseNet121Impl : nn::Module {
  explicit DenseNet121Impl(int channels) {
    features->push_back("conv0",
                        nn::Conv2d(conv_options(channels, kDenseStem, kDenseStemKernel, 2)));
    features->push_back("norm0", nn::BatchNorm2d(kDenseStem));
    features->push_back("relu0", nn::ReLU());
    features->push_back("pool0", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
    int64_t width = kDenseStem;
    const size_t blocks = std::size(kDenseNet121Blocks);
    for (size_t b = 0; b < blocks; ++b) {
      Stack block;
      for (int64_t l = 0; l < kDenseNet121Blocks[b]; ++l) {
        block->push_back(fmt::format("denselayer{}", l + 1),
                         DenseLayer(width, kDenseGrowth, kDenseBottleneck));
        width += kDenseGrowth;
      }
      features->push_back(fmt::format("denseblock{}", b + 1), block);
      if (b + 1 == blocks) break;
      features->push_back(fmt::format("transition{}", b + 1), Transition(width, width / 2));
      width /= 2;
    }
    features->push_back("norm5", nn::BatchNorm2d(width));
    dim = width;
    register_module("features", features);
    init_convolutions(*this);
  }

  torch::Tensor forward(const torch::Tensor& x) { return pool(feature_map(x)); }
  torch::Tensor feature_map(const torch::Tensor& x) { return torch::relu(features->forward(x)); }
  torch::Tensor pool(const torch::Tensor& a) {
    return torch::adaptive_avg_pool2d(a, {1, 1}).flatten(1);
  }

  nn::Sequential features;
  int64_t dim = 0;  // 1024
};
TORCH_MODULE(DenseNet121);

// ---- EfficientNet
// --------------------------------------------------------------------------------

// torchvision's _make_divisible: channels rounded to a multiple of 8, never below 90% of v.
int64_t make_divisible(double v, int64_t divisor = 8) {
  int64_t rounded =
      std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (rounded < 0.9 * v) rounded += divisor;
  return rounded;
}

Stack conv_bn_silu(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                   int64_t groups = 1) {
  return Stack(nn::Conv2d(conv_options(in, out, kernel, stride, groups)), nn::BatchNorm2d(out),
               nn::SiLU());
}

struct SqueezeExcitationImpl : nn::Module {
  SqueezeExcitationImpl(int64_t channels, int64_t squeeze)
      : fc1(register_module("fc1", nn::Conv2d(nn::Conv2dOptions(channels, squeeze, 1)))),
        fc2(register_module("fc2", nn::Conv2d(nn::Conv2dOptions(squeeze, channels, 1)))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor s = torch::adaptive_avg_pool2d(x, {1, 1});
    s = torch::sigmoid(fc2(torch::silu(fc1(s))));
    return x * s;
  }
  nn::Conv2d fc1, fc2;
};
TORCH_MODULE(SqueezeExcitation);

// Mobile inverted bottleneck: expand 1x1 -> depthwise kxk -> squeeze-excitation -> project 1x1,
// residual (with stochastic depth, per sample) when the shape is kept.
struct MBConvImpl : nn::Module {
  MBConvImpl(int64_t expand_ratio, int64_t kernel, int64_t stride, int64_t in, int64_t out,
             double drop_prob)
      : residual(stride == 1 && in == out), drop_prob(drop_prob) {
    const int64_t expanded = make_divisible(static_cast<double>(in * expand_ratio));
    if (expanded != in) block->push_back(conv_bn_silu(in, expanded, 1));
    block->push_back(conv_bn_silu(expanded, expanded, kernel, stride, expanded));
    block->push_back(SqueezeExcitation(expanded, std::max<int64_t>(1, in / 4)));
    block->push_back(Stack(nn::Conv2d(conv_options(expanded, out, 1)), nn::BatchNorm2d(out)));
    register_module("block", block);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = block->forward(x);
    if (!residual) return y;
    if (is_training() && drop_prob > 0) {
      // One keep/drop per sample, from the model's generator (drawn on the CPU, see
      // torch_branch.h), or libtorch's global one for a backbone used on its own.
      const double keep = 1.0 - drop_prob;
      torch::Tensor mask = torch::empty({y.size(0), 1, 1, 1}, torch::kFloat);
      if (generator != nullptr)
        mask.bernoulli_(keep, *generator);
      else
        mask.bernoulli_(keep);
      y = y * mask.to(y.device(), y.scalar_type()).div_(keep);
    }
    return y + x;
  }
  bool residual;
  double drop_prob;
  at::Generator* generator = nullptr;
  nn::Sequential block;
};
TORCH_MODULE(MBConv);

struct StageConfig {
  int64_t expand_ratio, kernel, stride, in, out, repeats;
};
// EfficientNet-B0's stages (torchvision's _efficientnet_conf); B2/B3 scale width and depth.
constexpr StageConfig kEfficientNetB0Stages[] = {
    {1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},   {6, 5, 2, 24, 40, 2},   {6, 3, 2, 40, 80, 3},
    {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4}, {6, 3, 1, 192, 320, 1},
};
constexpr int64_t kEfficientNetStem = 32;
constexpr int64_t kEfficientNetHeadExpansion = 4;     // last channels = 4 x the last stage's
constexpr double kEfficientNetStochasticDepth = 0.2;  // final block's drop probability

struct EfficientNetImpl : nn::Module {
  EfficientNetImpl(int channels, double width, double depth) {
    auto adjust = [width](int64_t c) { return make_divisible(c * width); };
    int total_blocks = 0;
    for (const auto& s : kEfficientNetB0Stages)
      total_blocks += static_cast<int>(std::ceil(s.repeats * depth));
    features->push_back(conv_bn_silu(channels, adjust(kEfficientNetStem), 3, 2));
    int block_id = 0;
    for (const auto& s : kEfficientNetB0Stages) {
      Stack stage;
      const int repeats = static_cast<int>(std::ceil(s.repeats * depth));
      for (int r = 0; r < repeats; ++r) {
        const double drop = kEfficientNetStochasticDepth * block_id / total_blocks;
        stage->push_back(MBConv(s.expand_ratio, s.kernel, r == 0 ? s.stride : 1,
                                r == 0 ? adjust(s.in) : adjust(s.out), adjust(s.out), drop));
        ++block_id;
      }
      features->push_back(stage);
    }
    const int64_t last_in = adjust(kEfficientNetB0Stages[std::size(kEfficientNetB0Stages) - 1].out);
    dim = kEfficientNetHeadExpansion * last_in;
    features->push_back(conv_bn_silu(last_in, dim, 1));
    register_module("features", features);
    init_convolutions(*this);
  }
  torch::Tensor forward(const torch::Tensor& x) { return pool(feature_map(x)); }
  torch::Tensor feature_map(const torch::Tensor& x) { return features->forward(x); }
  torch::Tensor pool(const torch::Tensor& a) {
    return torch::adaptive_avg_pool2d(a, {1, 1}).flatten(1);
  }
  nn::Sequential features;
  int64_t dim = 0;
};
TORCH_MODULE(EfficientNet);

// ---- Wrappers
// ------------------------------------------------------------------------------------

std::vector<NamedTensor> to_named(const torch::OrderedDict<std::string, torch::Tensor>& dict) {
  std::vector<NamedTensor> out;
  for (const auto& item : dict) out.emplace_back(item.key(), item.value());
  return out;
}

constexpr int64_t kImageTensorDims = 4;  // [N, C, H, W]; convolution weights [O, I, kH, kW]

template <typename Holder>
class ModuleBackbone final : public Backbone {
 public:
  ModuleBackbone(Holder module, int64_t dim) : module_(std::move(module)), dim_(dim) {
    // Convolution weights in channels-last layout make oneDNN (and cuDNN) run every convolution
    // and pooling in NHWC, without a layout conversion per layer: about twice as fast per training
    // step on the CPU for these small networks. The values are the initialised ones, unchanged.
    torch::NoGradGuard no_grad;
    for (auto& p : module_->parameters())
      if (p.dim() == kImageTensorDims) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  torch::Tensor forward(const torch::Tensor& x) override { return module_->forward(x); }
  torch::Tensor feature_map(const torch::Tensor& x) override { return module_->feature_map(x); }
  torch::Tensor pool(const torch::Tensor& a) override { return module_->pool(a); }
  int64_t dim() const override { return dim_; }
  std::vector<NamedTensor> named_parameters() const override {
    return to_named(module_->named_parameters());
  }
  std::vector<NamedTensor> named_buffers() const override {
    return to_named(module_->named_buffers());
  }
  void train(bool on, bool freeze_bn) override {
    module_->train(on);
    if (!on) return;
    for (auto& m : module_->modules(/*include_self=*/false))
      if (auto* bn = m->template as<nn::BatchNorm2d>())
        if (freeze_bn || all_frozen(bn->parameters())) bn->eval();
  }
  void to(const torch::Device& device) override { module_->to(device); }
  void set_generator(at::Generator* generator) override {
    for (auto& m : module_->modules(/*include_self=*/false))
      if (auto* block = m->template as<MBConvImpl>()) block->generator = generator;
  }

 private:
  Holder module_;
  int64_t dim_;
};

// The gist of a libtorch error: TorchScript's "RuntimeError: ..." line if there is one (its
// interpreter prefixes a traceback), else the first line.
std::string gist(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  const std::string text = c10_error ? c10_error->what_without_backtrace() : e.what();
  constexpr char kMarker[] = "RuntimeError: ";
  const size_t at = text.rfind(kMarker);
  const size_t begin = at == std::string::npos ? 0 : at + sizeof(kMarker) - 1;
  return text.substr(begin, text.find('\n', begin) - begin);
}

// A TorchScript module: `features(x)` if it has that method, else `forward(x)`, must return
// [N, D] (or [N, D, H, W], pooled to [N, D]) for float images [N, C, H, W].
class TorchScriptBackbone final : public Backbone {
 public:
  TorchScriptBackbone(const std::string& path, int channels, int image_size) : path_(path) {
    try {
      module_ = torch::jit::load(path);
    } catch (const std::exception& e) {
      throw InputError(
          fmt::format("--backbone: cannot load TorchScript file '{}': {}", path, gist(e)));
    }
    has_features_ = module_.find_method("features").has_value();
    module_.eval();
    // The image's own channels first; a 1-channel map may go to a model made for RGB (ImageNet
    // weights) as three copies of itself.
    std::string why, rgb_why;  // the error names the image's own channels' failure
    input_channels_ = channels;
    if (probe(channels, image_size, &why)) return;
    input_channels_ = kRgbChannels;
    if (channels == 1 && probe(kRgbChannels, image_size, &rgb_why)) return;
    throw InputError(fmt::format(
        "--backbone: TorchScript model '{}' does not run on [N, {}, {}, {}] images{}: {}", path,
        channels, image_size, image_size, channels == 1 ? " (nor on 3-channel copies)" : "", why));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    c10::IValue out = has_features_ ? module_.get_method("features")({x}) : module_.forward({x});
    if (!out.isTensor())
      throw InputError(
          fmt::format("--backbone: TorchScript model '{}' must return one tensor", path_));
    torch::Tensor t = out.toTensor();
    if (t.dim() == 4) t = torch::adaptive_avg_pool2d(t, {1, 1}).flatten(1);
    if (t.dim() != 2)
      throw InputError(fmt::format(
          "--backbone: TorchScript model '{}' returns a {}-d tensor; it must return [N, D] or "
          "[N, D, H, W]",
          path_, t.dim()));
    return t;
  }
  // A `features` method returning [N, K, h, w] is the feature map; pooled as forward() pools it.
  torch::Tensor feature_map(const torch::Tensor& x) override {
    torch::Tensor t;
    if (has_features_) {
      c10::IValue out = module_.get_method("features")({x});
      if (out.isTensor()) t = out.toTensor();
    }
    if (!t.defined() || t.dim() != 4)
      throw InputError(fmt::format(
          "Grad-CAM: TorchScript model '{}' has no features() method returning [N, K, h, w]",
          path_));
    return t;
  }
  torch::Tensor pool(const torch::Tensor& a) override {
    return torch::adaptive_avg_pool2d(a, {1, 1}).flatten(1);
  }
  int64_t dim() const override { return dim_; }
  int input_channels(int /*image_channels*/) const override { return input_channels_; }
  std::vector<NamedTensor> named_parameters() const override {
    std::vector<NamedTensor> out;
    for (const auto& p : module_.named_parameters(/*recurse=*/true))
      out.emplace_back(p.name, p.value);
    return out;
  }
  std::vector<NamedTensor> named_buffers() const override {
    std::vector<NamedTensor> out;
    for (const auto& b : module_.named_buffers(/*recurse=*/true)) out.emplace_back(b.name, b.value);
    return out;
  }
  void train(bool on, bool freeze_bn) override {
    module_.train(on);
    if (!on) return;
    for (const auto& m : module_.named_modules()) {
      const auto type_name = m.value.type()->name();
      if (!type_name || type_name->qualifiedName().find("BatchNorm") == std::string::npos) continue;
      std::vector<torch::Tensor> params;
      for (const auto& p : m.value.parameters(/*recurse=*/false)) params.push_back(p);
      if (freeze_bn || all_frozen(params)) {
        torch::jit::Module bn = m.value;
        bn.train(false);
      }
    }
  }
  void to(const torch::Device& device) override { module_.to(device); }

 private:
  static constexpr int kRgbChannels = 3;
  static constexpr int kProbeImages = 2;

  // Runs the model on zeros of `channels`; false with the reason in *why if it cannot, or if it
  // returns no embedding.
  bool probe(int channels, int image_size, std::string* why) {
    torch::NoGradGuard no_grad;
    try {
      dim_ = forward(torch::zeros({kProbeImages, channels, image_size, image_size})).size(1);
    } catch (const InputError& e) {
      *why = e.what();
      return false;
    } catch (const std::exception& e) {
      *why = gist(e);
      return false;
    }
    if (dim_ > 0) return true;
    *why = "it returns an empty embedding [N, 0]";
    return false;
  }

  std::string path_;
  mutable torch::jit::Module module_;
  bool has_features_ = false;
  int64_t dim_ = 0;
  int input_channels_ = 0;
};

struct EfficientNetScale {
  double width, depth;
};
constexpr EfficientNetScale kB0{1.0, 1.0};
constexpr EfficientNetScale kB1{1.0, 1.1};
constexpr EfficientNetScale kB2{1.1, 1.2};
constexpr EfficientNetScale kB3{1.2, 1.4};

std::unique_ptr<Backbone> make_efficientnet(int channels, EfficientNetScale scale) {
  EfficientNet net(channels, scale.width, scale.depth);
  const int64_t dim = net->dim;
  return std::make_unique<ModuleBackbone<EfficientNet>>(net, dim);
}

constexpr int64_t kSimpleWidths[] = {32, 64, 128};

}  // namespace

SimpleCnnImpl::SimpleCnnImpl(int channels) {
  int64_t in = channels;
  for (int64_t out : kSimpleWidths) {
    features->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
    features->push_back(nn::BatchNorm2d(out));
    features->push_back(nn::ReLU(nn::ReLUOptions(/*inplace=*/true)));
    features->push_back(nn::MaxPool2d(2));
    in = out;
  }
  register_module("features", features);
  init_convolutions(*this);
}

torch::Tensor SimpleCnnImpl::forward(const torch::Tensor& x) { return pool(feature_map(x)); }

torch::Tensor SimpleCnnImpl::feature_map(const torch::Tensor& x) {
  torch::Tensor y = x;
  const auto last = std::prev(features->end());
  for (auto it = features->begin(); it != last; ++it) {
    y = it->forward(y);
    // A 1-channel image's first convolution cannot tell layouts apart (its channel dimension has
    // size 1) and answers in NCHW, where max pooling runs without vector kernels at a quarter of
    // the training step; in channels-last every later layer takes the fast path. A no-op after.
    y = y.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  return y;
}

torch::Tensor SimpleCnnImpl::pool(const torch::Tensor& a) {
  return torch::adaptive_avg_pool2d(std::prev(features->end())->forward(a), {1, 1}).flatten(1);
}

std::unique_ptr<Backbone> make_backbone(const VisionSettings& settings, int channels) {
  switch (settings.backbone_kind()) {
    case BackboneKind::kSimple:
      return std::make_unique<ModuleBackbone<SimpleCnn>>(
          SimpleCnn(channels), kSimpleWidths[std::size(kSimpleWidths) - 1]);
    case BackboneKind::kResnet18:
      return std::make_unique<ModuleBackbone<ResNet18>>(ResNet18(channels), ResNet18Impl::kDim);
    case BackboneKind::kDenseNet121: {
      DenseNet121 net(channels);
      const int64_t dim = net->dim;
      return std::make_unique<ModuleBackbone<DenseNet121>>(net, dim);
    }
    case BackboneKind::kEfficientNetB0:
      return make_efficientnet(channels, kB0);
    case BackboneKind::kEfficientNetB1:
      return make_efficientnet(channels, kB1);
    case BackboneKind::kEfficientNetB2:
      return make_efficientnet(channels, kB2);
    case BackboneKind::kEfficientNetB3:
      return make_efficientnet(channels, kB3);
    case BackboneKind::kTorchScript:
      return std::make_unique<TorchScriptBackbone>(settings.torchscript_path(), channels,
                                                   settings.image_size);
  }
  throw std::logic_error("make_backbone: unknown backbone");
}

}  // namespace woundphase::vision

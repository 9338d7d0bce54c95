// woundphase_gpu_check: the GPU evidence of bench/gpu.sh, linked against libwoundphase_vision.so
// alone (a vision-only build: libtorch and fmt, nothing else of the project).
//
//   woundphase_gpu_check agree [--device cuda:0]
//       the same initial weights on the CPU and on the GPU (fp32, TF32 off; then bf16): the
//       largest difference of the predicted probabilities, before and after one training step
//   woundphase_gpu_check throughput [--device cuda:0] [--size 128] [--images 1024]
//       [--batch-size 64] [--backbones simple,resnet18,...] [--precisions fp32,bf16]
//       training (device-resident crops, and host batches as with augmentation) and inference
//       images per second, one line per backbone and precision, then "rate" lines bench/gpu.sh
//       reads for its estimate
// Without a CUDA device both say so and exit 0 (CPU-side checks only).
#include <fmt/format.h>

#include <algorithm>  // for max
#include <chrono>
#include <cmath>    // for fabs
#include <cstdio>   // for fflush
#include <cstring>  // for strcmp
#include <exception>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../bench_main.h"
#include "woundphase/vision.h"

namespace {

using namespace woundphase;
using Clock = std::chrono::steady_clock;

constexpr size_t kErrorBytes = 1024;
constexpr uint64_t kSeed = 11;
// The same weights give the same probabilities on CPU and GPU to float rounding (summation order
// differs) in fp32 with TF32 off.
constexpr double kForwardTolerance = 1e-5;
// After one Adam step the rounding differences of the gradients are amplified: Adam's first step
// moves each weight by about lr x sign(gradient), so a gradient that rounds to the other sign
// moves it by 2 lr. The probabilities after one step stay within this.
constexpr double kStepTolerance = 1e-2;

std::unique_ptr<ImageModel> make_model(const VisionSettings& s, int channels) {
  ImageModel* model = nullptr;
  char error[kErrorBytes] = {};
  if (woundphase_vision_create(&s, channels, &model, error, sizeof(error)) != 0)
    throw InputError(error);
  return std::unique_ptr<ImageModel>(model);
}

// Images with a planted signal (a bright square whose column says the class) over noise.
LabelledImages planted(int n, int size, int channels, uint64_t seed) {
  std::mt19937_64 rng(seed);
  LabelledImages d;
  d.images = ImageBatch(n, size, channels);
  const int square = size / 4;
  for (int i = 0; i < n; ++i) {
    const int label = static_cast<int>(rng() % kNumClasses);
    d.labels.push_back(label);
    uint8_t* img = d.images.image(i);
    for (size_t j = 0; j < d.images.image_bytes(); ++j) img[j] = static_cast<uint8_t>(rng() % 96);
    const int x0 = label * (size - square) / (kNumClasses - 1);
    for (int c = 0; c < channels; ++c)
      for (int y = size / 2 - square / 2; y < size / 2 + square / 2; ++y)
        for (int x = x0; x < x0 + square; ++x) img[(c * size + y) * size + x] = 240;
  }
  return d;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = text.find(',', start);
    out.push_back(text.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

bool cuda_usable(const std::string& device) {
  VisionSettings s;
  s.device = parse_vision_device(device);
  s.device_index = parse_device_index(device);
  try {
    make_model(s, 1);
    return true;
  } catch (const InputError& e) {
    fmt::print("no GPU: {}\n", e.what());
    return false;
  }
}

// A model of `backbone` on `device` from the seed's initial weights (no dropout: the GPU's masks
// come from another generator).
std::unique_ptr<ImageModel> seeded_model(const std::string& backbone, const std::string& device,
                                         Precision p, int size, int channels, int batch) {
  VisionSettings s;
  s.backbone = backbone;
  s.image_size = size;
  s.epochs = 1;
  s.batch_size = batch;
  s.patience = 0;
  s.dropout = 0;
  s.threads = 1;
  s.seed = kSeed;
  s.device = parse_vision_device(device);
  s.device_index = parse_device_index(device);
  s.precision = p;
  return make_model(s, channels);
}

struct Outputs {
  Probabilities initial;     // before training
  Probabilities after_step;  // after one optimiser step on one batch
};

Outputs run_on(const std::string& backbone, const std::string& device, Precision p,
               const LabelledImages& batch, const ImageBatch& test) {
  auto model = seeded_model(backbone, device, p, batch.images.size, batch.images.channels,
                            batch.images.count);
  Outputs out;
  out.initial = model->predict_proba(test);
  model->fit(batch, {}, model->settings());  // one epoch of one batch: one step
  out.after_step = model->predict_proba(test);
  return out;
}

double max_difference(const Probabilities& a, const Probabilities& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

int agree(const std::string& device) {
  if (!cuda_usable(device)) return 0;
  constexpr int kSize = 32;
  constexpr int kBatch = 32;
  const LabelledImages batch = planted(kBatch, kSize, 3, 1);
  const ImageBatch test = planted(32, kSize, 3, 2).images;
  int failures = 0;
  // simple: plain convolutions; resnet18: strided convolutions and residual sums. EfficientNet
  // draws stochastic depth masks (another generator on the GPU), so it is left out.
  for (const char* backbone : {"simple", "resnet18"}) {
    const Outputs cpu = run_on(backbone, "cpu", Precision::kFp32, batch, test);
    const Outputs fp32 = run_on(backbone, device, Precision::kFp32, batch, test);
    const Outputs bf16 = run_on(backbone, device, Precision::kBf16, batch, test);
    const double forward = max_difference(cpu.initial, fp32.initial);
    const double step = max_difference(cpu.after_step, fp32.after_step);
    const bool ok = forward <= kForwardTolerance && step <= kStepTolerance;
    failures += !ok;
    fmt::print(
        "agree {:<9} max |p_cpu - p_gpu| over 32 images: fp32 forward {:.1e} (<= {:.0e}), after "
        "one Adam step {:.1e} (<= {:.0e}): {}; bf16 forward {:.1e}, after the step {:.1e}\n",
        backbone, forward, kForwardTolerance, step, kStepTolerance, ok ? "ok" : "FAILED",
        max_difference(cpu.initial, bf16.initial), max_difference(cpu.after_step, bf16.after_step));
    std::fflush(stdout);
  }
  return failures == 0 ? 0 : 1;
}

struct Rates {
  double train_resident = 0;  // img/s, crops on the device
  double train_host = 0;      // img/s, batches copied from the host (as with augmentation)
  double infer = 0;           // img/s, predict_proba
};

Rates measure(const std::string& backbone, const std::string& device, Precision p, int size,
              int images, int batch) {
  VisionSettings s;
  s.backbone = backbone;
  s.image_size = size;
  s.epochs = 2;  // the first warms the allocator and picks kernels; the second is timed
  s.batch_size = batch;
  s.patience = 0;
  s.threads = 1;
  s.device = parse_vision_device(device);
  s.device_index = parse_device_index(device);
  s.precision = p;
  const LabelledImages train = planted(images, size, 3, 3);
  Rates r;
  auto rate = [](const TrainingHistory& h) {
    const EpochReport& last = h.epochs.back();
    return last.train_images / last.train_seconds;
  };
  {
    auto model = make_model(s, 3);
    r.train_resident = rate(model->fit(train, {}, s));
    model->predict_proba(train.images);  // warm-up
    const auto start = Clock::now();
    model->predict_proba(train.images);
    r.infer = images / std::chrono::duration<double>(Clock::now() - start).count();
  }
  {
    auto model = make_model(s, 3);
    FitHooks hooks;
    hooks.augment = [](ImageBatch&, std::mt19937_64&) {};  // forces host batches
    r.train_host = rate(model->fit(train, {}, s, hooks));
  }
  return r;
}

int throughput(const std::string& device, int size, int images, int batch,
               const std::vector<std::string>& backbones,
               const std::vector<std::string>& precisions) {
  if (!cuda_usable(device)) return 0;
  fmt::print("throughput on {}: {}px, 3 channels, {} images, batch {}; the second of 2 epochs\n",
             device, size, images, batch);
  fmt::print("{:<16} {:>9} {:>16} {:>16} {:>14}\n", "backbone", "precision", "train img/s (gpu)",
             "train img/s (host)", "infer img/s");
  std::fflush(stdout);
  for (const auto& backbone : backbones)
    for (const auto& precision : precisions) {
      try {
        const Rates r = measure(backbone, device, parse_precision(precision), size, images, batch);
        fmt::print("{:<16} {:>9} {:>16.0f} {:>16.0f} {:>14.0f}\n", backbone, precision,
                   r.train_resident, r.train_host, r.infer);
        fmt::print("rate {} {} {:.1f} {:.1f} {:.1f}\n", backbone, precision, r.train_resident,
                   r.train_host, r.infer);
      } catch (const std::exception& e) {
        fmt::print("{:<16} {:>9} failed: {}\n", backbone, precision, e.what());
      }
      std::fflush(stdout);
    }
  return 0;
}

int usage() {
  fmt::print(stderr,
             "usage: woundphase_gpu_check agree [--device cuda:N]\n"
             "       woundphase_gpu_check throughput [--device cuda:N] [--size 128] "
             "[--images 1024] [--batch-size 64] [--backbones a,b] [--precisions fp32,bf16]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  return woundphase::bench::bench_main(argc, argv, usage, [&](const std::string& command) {
    std::string device = "cuda";
    int size = 128;
    int images = 1024;
    int batch = 64;
    std::string backbones = "simple,resnet18,efficientnet_b0,densenet121";
    std::string precisions = "fp32,bf16";
    bench::Flags flags;
    flags.add("--device", &device)
        .add("--size", &size)
        .add("--images", &images)
        .add("--batch-size", &batch)
        .add("--backbones", &backbones)
        .add("--precisions", &precisions);
    if (!flags.parse(argc, argv, 2)) return usage();
    if (command == "agree") return agree(device);
    if (command == "throughput")
      return throughput(device, size, images, batch, split(backbones), split(precisions));
    return usage();
  });
}

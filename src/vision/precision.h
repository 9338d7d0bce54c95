// Devices and mixed precision for the library's trainers: which torch device a VisionSettings
// names, autocast scopes for bf16/fp16 on CUDA, and the dynamic loss scale fp16 needs. Includes
// libtorch: only for code inside libwoundphase_vision.so. Written against libtorch 1.13 (Debian)
// and 2.x (PyTorch's CUDA builds), whose autocast functions differ in name.
#pragma once

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <torch/torch.h>
#include <torch/version.h>  // for TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR

#include <cmath>  // for isfinite
#include <vector>

#include "woundphase/vision.h"

namespace woundphase::vision {

// libtorch 2.4 replaced the CUDA-only autocast setters by per-device-type ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define WOUNDPHASE_AUTOCAST_PER_DEVICE 1
#endif

// The torch device of `device` / `index`. CUDA: InputError when libtorch has no CUDA or the GPU
// is not there; cuDNN is put in deterministic mode. For fp32, TF32 tensor-core arithmetic is
// switched off so that GPU steps agree with CPU steps to float rounding (bench/gpu.sh checks it).
inline torch::Device resolve_device(VisionDevice device, int index, Precision precision) {
  if (device == VisionDevice::kCpu) return torch::kCPU;
  if (!torch::cuda::is_available())
    throw InputError(fmt::format(
        "--device {}: no CUDA device is available (this libtorch is a CPU-only build, or no GPU "
        "is visible); use --device cpu, or build with a CUDA libtorch (README \"GPU build\")",
        to_string(device)));
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (device == VisionDevice::kMulti && count > 1)
    throw InputError(
        "--device multi: the C++ trainer trains on one GPU only (no data-parallel training); use "
        "--device cuda (one GPU), and several GPUs through MPI ranks (README \"GPU build\")");
  if (index >= count)
    throw InputError(fmt::format("--device cuda:{}: this machine has {} GPU{} (cuda:0..cuda:{})",
                                 index, count, count == 1 ? "" : "s", count - 1));
  at::globalContext().setDeterministicCuDNN(true);
  at::globalContext().setBenchmarkCuDNN(false);
  if (precision == Precision::kFp32) {
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(index)};
}

// While alive: operations on CUDA tensors run in bf16/fp16 where autocast's lists say so (matrix
// products and convolutions), in fp32 where precision matters (softmax, losses). Nothing for fp32
// or on the CPU.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, Precision precision)
      : active_(device.is_cuda() && precision != Precision::kFp32) {
    if (!active_) return;
    const at::ScalarType dtype = precision == Precision::kBf16 ? at::kBFloat16 : at::kHalf;
#ifdef WOUNDPHASE_AUTOCAST_PER_DEVICE
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(dtype);
#endif
  }
  ~AutocastScope() {
    if (!active_) return;
#ifdef WOUNDPHASE_AUTOCAST_PER_DEVICE
    at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
    at::autocast::set_enabled(false);
#endif
    at::autocast::clear_cache();  // casted weights must not outlive the step that made them
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_;
};

// fp16's dynamic loss scale (as torch.cuda.amp.GradScaler): the loss is multiplied by the scale
// before backward so small gradients survive fp16; gradients are divided back before the step; a
// step whose gradients overflowed is skipped and halves the scale; every kGrowthInterval good
// steps double it. For fp32 and bf16 (bf16 has fp32's range) the scale is 1 and nothing is checked.
class LossScaler {
 public:
  explicit LossScaler(Precision precision)
      : enabled_(precision == Precision::kFp16), scale_(enabled_ ? kInitialScale : 1.0) {}

  // backward() of loss x scale, then the optimiser's step unless a gradient is not finite. With
  // `clip_norm` > 0 the (unscaled) gradients' global norm is clipped to it first (--grad-clip).
  // Returns whether the step was taken.
  bool backward_and_step(const torch::Tensor& loss, torch::optim::Optimizer& optimizer,
                         double clip_norm = 0) {
    if (!enabled_) {
      loss.backward();
      clip(optimizer, clip_norm);
      optimizer.step();
      return true;
    }
    (loss * scale_).backward();
    bool finite = true;
    {
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> sums;  // one device-to-host read for all parameters
      for (auto& group : optimizer.param_groups())
        for (auto& p : group.params()) {
          if (!p.grad().defined()) continue;
          p.grad().div_(scale_);
          sums.push_back(p.grad().sum().to(torch::kFloat));
        }
      if (!sums.empty()) finite = std::isfinite(torch::stack(sums).sum().item<double>());
    }
    if (!finite) {
      scale_ *= kBackoff;
      good_steps_ = 0;
      return false;
    }
    clip(optimizer, clip_norm);
    optimizer.step();
    if (++good_steps_ == kGrowthInterval) {
      scale_ *= kGrowth;
      good_steps_ = 0;
    }
    return true;
  }

 private:
  static void clip(torch::optim::Optimizer& optimizer, double clip_norm) {
    if (clip_norm <= 0) return;
    std::vector<torch::Tensor> params;
    for (auto& group : optimizer.param_groups())
      for (auto& p : group.params())
        if (p.grad().defined()) params.push_back(p);
    torch::nn::utils::clip_grad_norm_(params, clip_norm);
  }

  static constexpr double kInitialScale = 65536.0;  // 2^16, GradScaler's default
  static constexpr double kBackoff = 0.5;
  static constexpr double kGrowth = 2.0;
  static constexpr int kGrowthInterval = 2000;

  bool enabled_;
  double scale_;
  int good_steps_ = 0;
};

}  // namespace woundphase::vision

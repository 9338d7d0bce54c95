// The torch side of an image model, for code inside libwoundphase_vision.so that trains through a
// branch (the fusion heads' stage 2). Every ImageModel the library creates is also a TorchBranch:
// reach it with as_torch_branch(). Includes libtorch: never include it outside the library. Also
// the helpers the library's trainers share (epoch loop, checkpoints); seeds (mix_seed), draws
// (uniform_index) and QWK come from the core and metrics stages, linked into the library.
#pragma once

#include <ATen/CPUGeneratorImpl.h>  // for make_generator<CPUGeneratorImpl>
#include <torch/torch.h>

#include <cstddef>     // for size_t
#include <cstdint>     // for uint8_t, uint64_t
#include <cstdio>      // for rename
#include <filesystem>  // for is_regular_file
#include <mutex>
#include <stdexcept>  // for runtime_error
#include <string>
#include <vector>

#include "vision/backbones.h"  // for NamedTensor
#include "woundphase/timing.h"
#include "woundphase/vision.h"

namespace woundphase::vision {

// libtorch's errors carry a C++ backtrace in what(): callers get the message alone.
template <typename Fn>
auto without_backtrace(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    throw std::runtime_error(e.what_without_backtrace());
  }
}

// ---- Random streams
// Weight initialisation draws from libtorch's global generator, so the library seeds it and builds
// a network while holding global_generator_mutex(); every draw during training (dropout masks,
// stochastic depth) comes from the model's own CPU generator instead. Models trained at the same
// time on several threads then never share a stream, and a GPU draws the masks the CPU would.
// (A TorchScript backbone's own dropout still uses the global generator: such models give the same
// bytes only when trained one at a time.)
std::mutex& global_generator_mutex();

inline at::Generator make_cpu_generator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

// Inverted dropout of `x` with masks from `generator`, drawn on the CPU and moved to x's device.
inline torch::Tensor seeded_dropout(const torch::Tensor& x, double p, bool training,
                                    at::Generator& generator) {
  if (!training || p <= 0) return x;
  const torch::Tensor keep = torch::empty(x.sizes(), torch::kFloat)
                                 .bernoulli_(1.0 - p, generator)
                                 .to(x.device(), x.scalar_type());
  return x * keep / (1.0 - p);
}

// Model selection of every trainer in the library: an epoch improves on the best so far when its
// validation QWK is higher, or equal (within rounding) with a lower validation loss.
inline bool improves(double qwk, double loss, double best_qwk, double best_loss) {
  constexpr double kTieTolerance = 1e-12;  // two QWKs closer than this are a tie
  return qwk > best_qwk + kTieTolerance || (qwk >= best_qwk - kTieTolerance && loss < best_loss);
}

// The epoch loop every trainer of the library shares. Each epoch: `train(report)` fills the
// training fields, then, with validation, `validate(report)` fills val_loss, val_qwk and
// val_accuracy; an improving epoch (improves(); every epoch without validation) calls
// `keep_best()`, which snapshots the model (the caller restores the snapshot afterwards). Stops
// after `patience` epochs without improvement (0 = never). Timings and `on_epoch` included.
template <typename Train, typename Validate, typename KeepBest>
TrainingHistory run_epochs(int epochs, int patience, bool has_val, Train&& train,
                           Validate&& validate, KeepBest&& keep_best, const EpochFn& on_epoch) {
  TrainingHistory history;
  double best_qwk = -std::numeric_limits<double>::infinity();
  double best_loss = std::numeric_limits<double>::infinity();
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    EpochReport r;
    r.epoch = epoch;
    const auto train_start = Clock::now();
    train(&r);
    r.train_seconds = seconds_since(train_start);
    const auto val_start = Clock::now();
    if (has_val) {
      validate(&r);
      r.improved = improves(r.val_qwk, r.val_loss, best_qwk, best_loss);
    } else {
      r.improved = true;  // no validation: the last epoch is kept
    }
    r.val_seconds = seconds_since(val_start);
    if (r.improved) {
      best_qwk = r.val_qwk;
      best_loss = r.val_loss;
      history.best_epoch = epoch;
      keep_best();
    }
    history.epochs.push_back(r);
    if (on_epoch) on_epoch(r);
    if (patience > 0 && epoch - history.best_epoch >= patience && epoch < epochs) {
      history.stopped_early = true;
      break;
    }
  }
  return history;
}

// Writes `archive` to `path` atomically (a temporary file renamed into place); `what` names the
// kind of checkpoint in the InputError.
inline void save_archive(torch::serialize::OutputArchive& archive, const std::string& path,
                         const char* what) {
  const std::string tmp = path + ".tmp";
  try {
    archive.save_to(tmp);
  } catch (const std::exception& e) {
    const std::string message = e.what();
    throw InputError(std::string("cannot write ") + what + " '" + path +
                     "': " + message.substr(0, message.find('\n')));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw InputError(std::string("cannot write ") + what + " '" + path + "' (rename failed)");
}

// Reads the checkpoint at `path` onto `device`; InputError when it is missing or not a libtorch
// archive (`what` names the kind of checkpoint expected).
inline void load_archive(torch::serialize::InputArchive& archive, const std::string& path,
                         const torch::Device& device, const char* what) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(std::string(what) + " '" + path + "' does not exist");
  try {
    archive.load_from(path, device);
  } catch (const std::exception&) {
    throw InputError("'" + path + "' is not a woundphase " + what);
  }
}

class TorchBranch {
 public:
  virtual ~TorchBranch() = default;

  virtual torch::Device device() const = 0;
  // `n` planar uint8 images -> normalised float input [n, C, S, S] on device().
  virtual torch::Tensor input(const uint8_t* pixels, int n) const = 0;
  // The backbone's embedding [n, D]; keeps the graph for the parameters with gradients on.
  virtual torch::Tensor embed_tensor(const torch::Tensor& input) = 0;
  // The classifier (dropout -> linear) on embeddings: logits [n, k].
  virtual torch::Tensor classify(const torch::Tensor& embedding) = 0;
  // Training or evaluation mode for backbone, dropout and classifier (frozen batch norms stay in
  // evaluation mode).
  virtual void set_mode(bool train) = 0;
  // Restarts the branch's own training draws (dropout, stochastic depth) from `seed`.
  virtual void seed_training(uint64_t seed) = 0;

  // "backbone.<name>" then "head.<name>", in network order, as parameter_breakdown() groups them.
  virtual std::vector<NamedTensor> parameters() const = 0;
  // Like ImageModel::set_trainable, but the classifier trains only when `classifier` is set.
  virtual void set_branch_trainable(double top_fraction, bool classifier) = 0;

  // Weights and batch-norm statistics (not the input normalisation, which training never moves).
  virtual std::vector<torch::Tensor> snapshot() const = 0;
  virtual void restore(const std::vector<torch::Tensor>& saved) = 0;

  // The checkpoint's content, into or out of an archive another file may nest; `path` names the
  // file in errors.
  virtual void write(torch::serialize::OutputArchive& archive) const = 0;
  virtual void read(torch::serialize::InputArchive& archive, const std::string& path) = 0;
};

// The TorchBranch behind an ImageModel of this library (std::logic_error for another one).
TorchBranch& as_torch_branch(ImageModel& model);

}  // namespace woundphase::vision

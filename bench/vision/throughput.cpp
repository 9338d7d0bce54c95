// Training throughput: the trainer's loop (ImageModel::fit through the loader: batch gathering
// from uint8 images, scaling, weighted loss, Adam) against a bare libtorch loop on preloaded float
// tensors, same network (SimpleCnn + dropout + linear), batch size and threads.
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>  // for max, min
#include <chrono>
#include <cstdio>  // for fflush
#include <random>

#include "bench.h"
#include "vision/backbones.h"
#include "woundphase/vision.h"

namespace woundphase::bench {
namespace {

using Clock = std::chrono::steady_clock;

LabelledImages random_set(int n, int size, int channels, uint64_t seed) {
  std::mt19937_64 rng(seed);
  LabelledImages d;
  d.images = ImageBatch(n, size, channels);
  for (auto& p : d.images.pixels) p = static_cast<uint8_t>(rng());
  for (int i = 0; i < n; ++i) d.labels.push_back(static_cast<int>(rng() % kNumClasses));
  return d;
}

// Images per second of the trainer: the last of `epochs` epochs' training steps alone.
double trainer_rate(const ThroughputOptions& o, int size) {
  VisionSettings s;
  s.image_size = size;
  s.epochs = o.epochs;
  s.batch_size = o.batch_size;
  s.threads = o.threads;
  s.patience = 0;
  auto model = create_image_model(s, o.channels);
  const TrainingHistory h = model->fit(random_set(o.images, size, o.channels, 1), {}, s);
  const EpochReport& last = h.epochs.back();
  return last.train_images / last.train_seconds;
}

// Images per second of a bare loop: preloaded normalised tensors, forward, loss, backward, step.
double bare_rate(const ThroughputOptions& o, int size) {
  torch::set_num_threads(o.threads);
  torch::manual_seed(1);
  vision::SimpleCnn net(o.channels);
  torch::nn::Dropout dropout(0.3);
  torch::nn::Linear head(128, kNumClasses);
  std::vector<torch::Tensor> params = net->parameters();
  for (const auto& p : head->parameters()) params.push_back(p);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-3).weight_decay(1e-4));
  const torch::Tensor x = torch::randn({o.images, o.channels, size, size});
  const torch::Tensor y = torch::randint(kNumClasses, {o.images}, torch::kLong);
  net->train();
  dropout->train();
  double seconds = 0;
  long images = 0;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    const auto start = Clock::now();
    images = 0;
    for (int b = 0; b + 1 < o.images; b += o.batch_size) {
      const int n = std::min(o.batch_size, o.images - b);
      const torch::Tensor logits = head(dropout(net(x.narrow(0, b, n))));
      const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y.narrow(0, b, n));
      adam.zero_grad();
      loss.backward();
      adam.step();
      images += n;
    }
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return images / seconds;
}

}  // namespace

int run_throughput(const ThroughputOptions& o) {
  fmt::print(
      "throughput: simple CNN, {} channel(s), batch {}, {} images, {} thread(s); best of {} "
      "alternating repetitions, each timing the last of {} epochs\n",
      o.channels, o.batch_size, o.images, o.threads, o.repetitions, o.epochs);
  fmt::print("{:>6} {:>14} {:>14} {:>8}\n", "size", "trainer img/s", "bare img/s", "ratio");
  for (int size : o.sizes) {
    // Best of several: on shared cores the slow runs measure the neighbours, not the loop.
    double trainer = 0;
    double bare = 0;
    for (int r = 0; r < o.repetitions; ++r) {
      trainer = std::max(trainer, trainer_rate(o, size));
      if (o.bare) bare = std::max(bare, bare_rate(o, size));
    }
    fmt::print("{:>6} {:>14.1f} {:>14.1f} {:>7.0f}%\n", size, trainer, bare,
               bare > 0 ? 100 * trainer / bare : 0.0);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace woundphase::bench

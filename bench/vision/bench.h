// woundphase_vision_bench: the image networks' evidence (Fashion-MNIST accuracy, throughput).
#pragma once

#include <string>
#include <vector>

namespace woundphase::bench {

struct FashionOptions {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";  // Debian's dataset-fashion-mnist
  int epochs = 15;
  int patience = 4;
  int batch_size = 64;
  double learning_rate = 2e-3;
  int threads = 2;
  int validation = 6000;  // images of the training set held out for model selection
  int train_limit = 0;    // use only this many training images (0: all); for quick checks
  unsigned long long seed = 42;
  // Transfer experiments: another backbone (torchscript:PATH), only these classes (relabelled
  // 0..k-1 in the order given; empty: all ten), and the fine-tuning knobs of VisionSettings.
  std::string backbone = "simple";
  std::vector<int> classes;
  double unfreeze = 1;
  bool freeze_bn = false;
  bool imagenet_normalization = false;
};
int run_fashion_mnist(const FashionOptions& options);

struct ThroughputOptions {
  std::vector<int> sizes = {32, 64, 128};
  int images = 512;
  int batch_size = 64;
  int channels = 3;
  int threads = 2;
  int epochs = 2;       // the last one is timed (the first warms the allocator and the kernels)
  int repetitions = 3;  // alternating trainer / bare runs; the best of each is reported
  bool bare = true;
};
int run_throughput(const ThroughputOptions& options);

}  // namespace woundphase::bench

// woundphase_vision_bench fashion-mnist [--epochs N] [--threads N] [--train-limit N] [--data DIR]
//     [--validation N] [--learning-rate X] [--backbone B] [--classes 0,3,7] [--unfreeze S]
//     [--freeze-bn] [--imagenet]    (the last five: transfer experiments, bench/transfer.sh)
// woundphase_vision_bench throughput [--sizes 32,64,128] [--images N] [--threads N]
//                                    [--repetitions N] [--no-bare]
#include <fmt/format.h>

#include <cstring>  // for strcmp
#include <string>

#include "../bench_main.h"
#include "bench.h"
#include "woundphase/core.h"

namespace {

using namespace woundphase::bench;

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = text.find(',', start);
    out.push_back(std::stoi(text.substr(start, end - start)));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

int usage() {
  fmt::print(stderr,
             "usage: woundphase_vision_bench fashion-mnist [--epochs N] [--threads N] "
             "[--batch-size N] [--train-limit N] [--data DIR] [--seed N]\n"
             "           [--validation N] [--learning-rate X] [--backbone B] [--classes 0,3,7] "
             "[--unfreeze S] [--freeze-bn] [--imagenet]\n"
             "       woundphase_vision_bench throughput [--sizes 32,64,128] [--images N] "
             "[--threads N] [--channels N] [--epochs N] [--repetitions N] [--no-bare]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  return woundphase::bench::bench_main(argc, argv, usage, [&](const std::string& command) {
    auto value = [&](int& i) -> std::string {
      if (i + 1 >= argc) throw woundphase::InputError(fmt::format("{} needs a value", argv[i]));
      return argv[++i];
    };
    if (command == "fashion-mnist") {
      FashionOptions o;
      for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--epochs")
          o.epochs = std::stoi(value(i));
        else if (a == "--threads")
          o.threads = std::stoi(value(i));
        else if (a == "--batch-size")
          o.batch_size = std::stoi(value(i));
        else if (a == "--train-limit")
          o.train_limit = std::stoi(value(i));
        else if (a == "--data")
          o.data_dir = value(i);
        else if (a == "--seed")
          o.seed = std::stoull(value(i));
        else if (a == "--validation")
          o.validation = std::stoi(value(i));
        else if (a == "--learning-rate")
          o.learning_rate = std::stod(value(i));
        else if (a == "--backbone")
          o.backbone = value(i);
        else if (a == "--classes")
          o.classes = parse_list(value(i));
        else if (a == "--unfreeze")
          o.unfreeze = std::stod(value(i));
        else if (a == "--freeze-bn")
          o.freeze_bn = true;
        else if (a == "--imagenet")
          o.imagenet_normalization = true;
        else
          return usage();
      }
      return run_fashion_mnist(o);
    }
    if (command == "throughput") {
      ThroughputOptions o;
      for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--sizes")
          o.sizes = parse_list(value(i));
        else if (a == "--images")
          o.images = std::stoi(value(i));
        else if (a == "--threads")
          o.threads = std::stoi(value(i));
        else if (a == "--channels")
          o.channels = std::stoi(value(i));
        else if (a == "--epochs")
          o.epochs = std::stoi(value(i));
        else if (a == "--repetitions")
          o.repetitions = std::stoi(value(i));
        else if (a == "--no-bare")
          o.bare = false;
        else
          return usage();
      }
      return run_throughput(o);
    }
    return usage();
  });
}

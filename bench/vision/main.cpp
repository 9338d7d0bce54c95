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
  return bench_main(argc, argv, usage, [&](const std::string& command) {
    const auto list = [](std::vector<int>* field) {
      return [field](const std::string& text) { *field = parse_list(text); };
    };
    if (command == "fashion-mnist") {
      FashionOptions o;
      Flags flags;
      flags.add("--epochs", &o.epochs)
          .add("--threads", &o.threads)
          .add("--batch-size", &o.batch_size)
          .add("--train-limit", &o.train_limit)
          .add("--data", &o.data_dir)
          .add("--seed", &o.seed)
          .add("--validation", &o.validation)
          .add("--learning-rate", &o.learning_rate)
          .add("--backbone", &o.backbone)
          .value("--classes", list(&o.classes))
          .add("--unfreeze", &o.unfreeze)
          .add_switch("--freeze-bn", &o.freeze_bn, true)
          .add_switch("--imagenet", &o.imagenet_normalization, true);
      if (!flags.parse(argc, argv, 2)) return usage();
      return run_fashion_mnist(o);
    }
    if (command == "throughput") {
      ThroughputOptions o;
      Flags flags;
      flags.value("--sizes", list(&o.sizes))
          .add("--images", &o.images)
          .add("--threads", &o.threads)
          .add("--channels", &o.channels)
          .add("--epochs", &o.epochs)
          .add("--repetitions", &o.repetitions)
          .add_switch("--no-bare", &o.bare, false);
      if (!flags.parse(argc, argv, 2)) return usage();
      return run_throughput(o);
    }
    return usage();
  });
}

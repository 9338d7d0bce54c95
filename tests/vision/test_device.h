// Where the vision and fusion cases run: the CPU, or the GPU that WOUNDPHASE_TEST_DEVICE names
// (cuda, cuda:N), as bench/gpu.sh runs them on a GPU machine.
#pragma once

#include <cstdint>  // for uint64_t
#include <cstdlib>  // for getenv

#include "woundphase/vision.h"

namespace woundphase::testing {

inline void apply_test_device(VisionSettings* s) {
  const char* device = std::getenv("WOUNDPHASE_TEST_DEVICE");
  if (device == nullptr || *device == '\0') return;
  s->device = parse_vision_device(device);
  s->device_index = parse_device_index(device);
}

// A network the test trains quickly: `image_size` px, `epochs` epochs of batches of `batch_size`
// at a fixed learning rate without early stopping, on one thread (on shared, loaded cores
// OpenMP's spinning threads make two several times slower), on the test device.
inline VisionSettings quick_vision_settings(int image_size, int epochs, int batch_size,
                                            uint64_t seed) {
  constexpr double kLearningRate = 3e-3;
  VisionSettings s;
  s.image_size = image_size;
  s.epochs = epochs;
  s.batch_size = batch_size;
  s.learning_rate = kLearningRate;
  s.patience = 0;
  s.threads = 1;
  s.seed = seed;
  apply_test_device(&s);
  return s;
}

}  // namespace woundphase::testing

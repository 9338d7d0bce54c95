// Where the vision and fusion cases run: the CPU, or the GPU that WOUNDPHASE_TEST_DEVICE names
// (cuda, cuda:N), as bench/gpu.sh runs them on a GPU machine.
#pragma once

#include <cstdlib>  // for getenv

#include "woundphase/vision.h"

namespace woundphase::testing {

inline void apply_test_device(VisionSettings* s) {
  const char* device = std::getenv("WOUNDPHASE_TEST_DEVICE");
  if (device == nullptr || *device == '\0') return;
  s->device = parse_vision_device(device);
  s->device_index = parse_device_index(device);
}

}  // namespace woundphase::testing

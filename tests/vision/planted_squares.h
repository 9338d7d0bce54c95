// The planted image task of the vision tests: class c is a bright square in the left, centre or
// right third of the image, at a random height, on noise. Trivial for a CNN, impossible for a
// constant predictor.
#pragma once

#include <cstdint>  // for uint8_t, uint64_t
#include <random>   // for mt19937_64
#include <vector>

#include "woundphase/vision.h"

namespace woundphase::testing {

constexpr int kPlantedSquare = 8;        // side of the planted square
constexpr uint8_t kPlantedNoise = 60;    // background pixels are uniform in [0, kPlantedNoise]
constexpr uint8_t kPlantedBright = 200;  // square pixels are at least this

// `n` images of `size` x `size` pixels (image i of class i % 3), `channels` planar channels;
// `inside`, when given, gets each image's square as a mask of its pixels.
inline LabelledImages planted_squares(int n, int size, int channels, uint64_t seed,
                                      std::vector<std::vector<bool>>* inside = nullptr) {
  std::mt19937_64 rng(seed);
  LabelledImages d;
  d.images = ImageBatch(n, size, channels);
  const int step = (size - kPlantedSquare - 4) / 2;
  for (int i = 0; i < n; ++i) {
    const int label = i % kNumClasses;
    d.labels.push_back(label);
    uint8_t* img = d.images.image(i);
    for (size_t p = 0; p < d.images.image_bytes(); ++p) img[p] = rng() % (kPlantedNoise + 1);
    std::vector<bool> mask(static_cast<size_t>(size) * size, false);
    const int x0 = 2 + label * step;
    const int y0 = 2 + static_cast<int>(rng() % (size - kPlantedSquare - 4));
    for (int y = y0; y < y0 + kPlantedSquare; ++y)
      for (int x = x0; x < x0 + kPlantedSquare; ++x) {
        mask[y * size + x] = true;
        for (int c = 0; c < channels; ++c)
          img[(c * size + y) * size + x] = kPlantedBright + rng() % (256 - kPlantedBright);
      }
    if (inside != nullptr) inside->push_back(std::move(mask));
  }
  return d;
}

}  // namespace woundphase::testing

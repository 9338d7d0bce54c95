// Drawing synthetic frames (internal to the synth stage): a foot on a background, wounds in their
// boxes; depth and thermal maps viridis-coded. Every pixel is a function of the frame's seed, so
// frames can be drawn in any order on any thread.
#pragma once

#include <cstdint>  // for uint64_t
#include <string>
#include <vector>

#include "woundphase/image_name.h"
#include "woundphase/images.h"

namespace woundphase::synth_internal {

// One wound shown in a frame.
struct WoundSpec {
  Box box;         // in the drawn frame's pixels
  int phase = -1;  // class index 0..2 (I, P, R); -1: unknown, drawn with the neutral appearance
  uint64_t wound_seed = 0;  // the visit-wound's own look: the same in each of its frames
  double wound_c = 0;       // wound-centre temperature, °C
  double peri_c = 0;        // peri-ulcer temperature, °C
  double intact_c = 0;      // intact-skin temperature, °C
};

struct FrameSpec {
  std::string file_name;  // seeds the scene (with DrawSettings::seed)
  ImageName name;         // camera, debridement, angle, zoom
  int width = 0;
  int height = 0;
  uint64_t patient_seed = 0;  // skin tone: the same for every frame of a patient
  std::vector<WoundSpec> wounds;
};

struct DrawSettings {
  uint64_t seed = 0;
  // [0, 1] how far each wound's look moves from the phase-neutral look to its phase's look: wound
  // colour, slough and granulation (RGB), crater depth and rim (depth map), hot or cool rim and
  // mottling (thermal). 0: nothing drawn depends on the phase beyond the temperatures given.
  double image_signal = 0.5;
};

ImageU8 draw_frame(ImageModality m, const FrameSpec& frame, const DrawSettings& settings);

}  // namespace woundphase::synth_internal

// Internal to src/experiment: which network knobs take per-modality values (per_modality.cpp).
#pragma once

#include <string>

#include "woundphase/options.h"
#include "woundphase/vision.h"  // for VisionSettings

namespace woundphase {

// The vision table's knob `flag` when it takes per-modality values (a command-line knob that
// settings.json records, the crop size excepted); nullptr otherwise.
const Option<VisionSettings>* per_modality_knob(const std::string& flag);

}  // namespace woundphase

// Synthetic cohorts in the DFU study's layout, so the project runs without the (private) real data:
// the metadata CSV (write_synthetic_cohort) and the image study (write_synthetic_study).
#pragma once

#include <array>
#include <string>

#include "woundphase/images.h"  // for kNumImageModalities

namespace woundphase {

// Defaults here; flags, bounds and meanings in synth_options() (src/synth/synth_options.cpp).
struct SynthSettings {
  int patients = 120;
  unsigned long long seed = 7;
  double signal = 1.0;
  std::string metadata_file = "DataMaster_Processed_V12_WithMissing.csv";
  // Images (written by write_synthetic_study, not by write_synthetic_cohort).
  bool write_images = true;
  double image_scale = 0.1;
  double image_signal = 0.5;
  bool thermal_rgb = false;
  std::string from_dir;
  int threads = 0;
  void validate() const;  // InputError naming the option
};

template <typename S>
class OptionTable;  // options.h
const OptionTable<SynthSettings>& synth_options();

// Summary of what was written.
struct SynthSummary {
  int patients = 0;
  int rows = 0;
  int class_counts[3] = {0, 0, 0};  // I, P, R
};

// Writes the cohort's metadata CSV (UTF-8 BOM, CRLF, the DFU study's 72 columns, blanks = missing)
// into `out_dir` (created if missing). The file is written to a temporary name and renamed, so an
// interrupted run never leaves a partial file. Patient# runs 1..patients; ID is a unique integer
// per row (the study's own file repeats a per-patient code there). Each patient is drawn from its
// own seeded stream, so the first n patients are the same whatever the cohort size.
SynthSummary write_synthetic_cohort(const std::string& out_dir, const SynthSettings& settings);

struct StudySummary {
  SynthSummary cohort;  // of the metadata written (or copied with from_dir)
  std::array<long, kNumImageModalities> images{};  // frames written per modality
  long depth_boxes = 0;                            // rows of the box files written
  long thermal_boxes = 0;
  double seconds = 0;
};

// `woundphase synth`: the metadata CSV (write_synthetic_cohort) and, with settings.write_images,
// the box files and the frames they name, at settings.image_scale of the real cameras' frames.
// With settings.from_dir, the real study's metadata CSV is copied and its box files are rescaled,
// and only the frames they name are drawn, at their boxes. Frames: a foot on a background with
// each named wound inside its box; depth and thermal maps viridis-coded; thermal frames with a
// black sensor border (~47% of the frame) and temperatures that follow the row's wound-centre,
// peri-ulcer and intact-skin columns; image_signal scales a phase-dependent appearance the
// metadata lacks. Same seed, same bytes, at any thread count. Files go to temporary names first;
// the box files are written after the frames.
StudySummary write_synthetic_study(const std::string& out_dir, const SynthSettings& settings);

}  // namespace woundphase

// Synthetic cohorts in the DFU study's layout, so the project runs without the (private) real data.
#pragma once

#include <string>

namespace woundphase {

struct SynthSettings {
  int patients = 120;           // [3, 100000] number of patients
  unsigned long long seed = 7;  // same seed, same cohort (byte-identical files)
  double signal = 1.0;          // [0, 1] strength of the phase signal in the metadata features
  std::string metadata_file = "DataMaster_Processed_V12_WithMissing.csv";  // file name written
  // Images (written by write_synthetic_study in the images stage, not by write_synthetic_cohort).
  bool write_images = true;   // also the image folders and the two box files
  double image_scale = 0.1;   // [0.02, 1] frame size relative to the real cameras' frames
  double image_signal = 0.5;  // [0, 1] phase-dependent image appearance the metadata lacks
  bool thermal_rgb = false;   // also Thermal_RGB/
  std::string from_dir;       // a real study folder: copy its metadata, rescale its boxes
  int threads = 0;            // [0, 256] 0 = all cores; the files do not depend on it
  void validate() const;      // throws InputError naming the knob
};

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

}  // namespace woundphase

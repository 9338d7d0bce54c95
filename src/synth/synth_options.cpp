// `woundphase synth`'s knobs: flags, bounds and meanings of SynthSettings, and its checks.
#include <string>

#include "woundphase/core.h"  // for InputError
#include "woundphase/options.h"
#include "woundphase/synth.h"

namespace woundphase {
namespace {

// Bounds of SynthSettings.
constexpr int kMinPatients = 3;
constexpr int kMaxPatients = 100000;
constexpr double kMinImageScale = 0.02;
constexpr double kMaxImageScale = 1.0;
constexpr int kMaxThreads = 256;

}  // namespace

const OptionTable<SynthSettings>& synth_options() {
  static const OptionTable<SynthSettings> table = [] {
    using S = SynthSettings;
    OptionTable<S> t;
    t.add("--patients", &S::patients, "number of patients").range(kMinPatients, kMaxPatients);
    t.add("--seed", &S::seed, "seed (same seed, same files)");
    t.add("--signal", &S::signal, "phase signal in the metadata, 0 = labels independent of it")
        .range(0, 1);
    t.add("--image-scale", &S::image_scale,
          "frame size relative to the real cameras' (1280x720 depth, 1080x1440 thermal)")
        .range(kMinImageScale, kMaxImageScale);
    t.add("--image-signal", &S::image_signal,
          "phase-dependent image appearance beyond the metadata, 0 = none")
        .range(0, 1);
    t.add("--from", &S::from_dir,
          "real study folder: copy its metadata, draw the frames its box files name");
    t.add("--thermal-rgb", &S::thermal_rgb, "also write Thermal_RGB/");
    t.add_computed(
        "--no-images", OptionType::kBool, [](const S& s) -> OptionValue { return !s.write_images; },
        [](S& s, const OptionValue& v) { s.write_images = !option_as<bool>(v, "--no-images"); },
        "write the metadata CSV only");
    t.add("metadata_file", &S::metadata_file, "the metadata file's name").internal();
    t.add("--threads", &S::threads, "0 = all cores; the files do not depend on it")
        .range(0, kMaxThreads)
        .run_context();
    return t;
  }();
  return table;
}

void SynthSettings::validate() const {
  synth_options().validate(*this);
  if (metadata_file.empty() || metadata_file == "." || metadata_file == ".." ||
      metadata_file.find_first_of("/\\") != std::string::npos)
    throw InputError("synth: metadata_file must be a plain file name, got '" + metadata_file + "'");
}

}  // namespace woundphase

// Per-modality values of the image networks' knobs ("--backbone simple,depth_rgb=resnet18"):
// parsing the command-line and config text, and the settings each modality's branch trains with.
#include "experiment/per_modality.h"

#include <fmt/format.h>

#include <string>

#include "woundphase/experiment_options.h"
#include "woundphase/options.h"
#include "woundphase/search_settings.h"

namespace woundphase {

const Option<VisionSettings>* per_modality_knob(const std::string& flag) {
  for (const auto& o : vision_options().options())
    if (o.flag == flag && o.recorded && o.on_command_line) return &o;
  return nullptr;
}

std::vector<std::string> per_modality_flags() {
  std::vector<std::string> flags;
  for (const auto& o : vision_options().options())
    if (per_modality_knob(o.flag) == &o) flags.push_back(o.flag);
  return flags;
}

namespace {

// Where "MODALITY=" starts an item of `text`: at 0 or after a comma. npos if nowhere from `from`.
size_t next_modality_item(const std::string& text, size_t from, std::string* modality) {
  for (size_t at = from; at < text.size(); ++at) {
    if (at > 0 && text[at - 1] != ',') continue;
    for (ImageModality m : kImageModalities) {
      const std::string prefix = std::string(to_string(m)) + "=";
      if (text.compare(at, prefix.size(), prefix) == 0) {
        *modality = to_string(m);
        return at;
      }
    }
  }
  return std::string::npos;
}

}  // namespace

void set_image_option_text(const Option<ImageBranchSettings>& o, ImageBranchSettings& s,
                           const std::string& text) {
  const Option<VisionSettings>* knob = per_modality_knob(o.flag);
  std::string modality;
  size_t at = knob != nullptr ? next_modality_item(text, 0, &modality) : std::string::npos;
  if (at == std::string::npos) {
    o.set(s, o.parse(text));
    return;
  }
  // A default for the other modalities before the first item ("simple,depth_rgb=resnet18").
  if (at > 0) o.set(s, o.parse(text.substr(0, at - 1)));
  while (at != std::string::npos) {
    const size_t value_at = at + modality.size() + 1;
    std::string next_modality;
    const size_t next = next_modality_item(text, value_at, &next_modality);
    const std::string value =
        text.substr(value_at, (next == std::string::npos ? text.size() + 1 : next) - value_at - 1);
    auto& values = s.per_modality[modality];
    if (values.count(o.flag) != 0)
      throw InputError(fmt::format("{}: {} is given twice", o.flag, modality));
    VisionSettings check = s.vision;
    knob->set(check, knob->parse(value));  // the option's own parsing and its error
    values[o.flag] = value;
    at = next;
    modality = next_modality;
  }
}

VisionSettings ImageBranchSettings::vision_for(ImageModality m) const {
  VisionSettings v = vision;
  const auto it = per_modality.find(to_string(m));
  if (it == per_modality.end()) return v;
  for (const auto& [flag, text] : it->second) {
    const Option<VisionSettings>* knob = per_modality_knob(flag);
    if (knob == nullptr)
      throw InputError(
          fmt::format("{}: takes no per-modality value ({}={})", flag, it->first, text));
    knob->set(v, knob->parse(text));
  }
  return v;
}

}  // namespace woundphase

// The experiment's knobs' declarations (options.h): the tables of the metadata branch, the image
// branches, the search and train.
#pragma once

#include <string>

#include "woundphase/bundle.h"  // for TrainSettings
#include "woundphase/search_settings.h"

namespace woundphase {

// The knobs' declarations (options.h): flags, bounds, meanings; each includes its parts' tables
// (tabular: sampling, forest, gbdt; image branch: vision, preprocessing) for the command line.
template <typename S>
class OptionTable;
template <typename S>
struct Option;
const OptionTable<TabularSettings>& tabular_options();
const OptionTable<ImageBranchSettings>& image_branch_options();
const OptionTable<SearchSettings>& search_options();  // the search's own knobs (cv-folds, ...)
const OptionTable<TrainSettings>& train_options();
// Sets image knob `o` from its command-line or config text. A network knob (the recorded ones of
// vision_options() but --image-size) may give per-modality values, "MODALITY=VALUE" items joined by
// commas, after an optional default for the others: "simple,depth_rgb=resnet18" (a value may hold
// commas itself: "--projection depth_rgb=128,32,thermal_map=64"). InputError naming the option.
void set_image_option_text(const Option<ImageBranchSettings>& o, ImageBranchSettings& s,
                           const std::string& text);
// The flags of those network knobs ("--backbone", ...), in the registry's order: what a config
// file's [SUBCOMMAND.MODALITY] tables may set.
std::vector<std::string> per_modality_flags();

}  // namespace woundphase

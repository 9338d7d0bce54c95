// `train --from-search OUT`: the settings a search recorded (OUT/settings.json) and its ranking
// (OUT/results.csv), turned into the train settings that fit one of its combinations exactly as a
// search fold fits it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "woundphase/bundle.h"
#include "woundphase/dataset.h"
#include "woundphase/modality.h"

namespace woundphase {

struct SearchRecord {
  std::string out_dir;
  std::string data_dir;     // the study folder the search read
  Schema schema;            // the schema it read it with
  nlohmann::json settings;  // settings.json's "settings"
  // Its combinations by the report's ranking (results.csv's rank; the ensemble, which no bundle
  // holds, left out).
  std::vector<std::string> ranked;
};

// Reads OUT/settings.json and OUT/results.csv; InputError naming the file when the folder holds
// no finished search.
SearchRecord read_search_record(const std::string& out_dir);

// The train settings of the search for `combination`: seed, calibration, tree model, sampling,
// and the image and fusion settings when the search recorded them. InputError when the
// combination needs settings the search did not record (an image modality it never searched).
TrainSettings train_settings_from_search(const SearchRecord& record,
                                         const Combination& combination);

}  // namespace woundphase

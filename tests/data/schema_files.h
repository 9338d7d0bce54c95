// A --schema file written by a data test, and the study loaded with it.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "test_paths.h"  // for scratch_dir
#include "woundphase/dataset.h"

namespace woundphase::testing {

// The labelled study in `dir` loaded with the schema file whose TOML text is `toml` (written as
// `name` in the calling test's scratch folder).
inline Dataset load_with_schema_file(const std::string& dir, const std::string& name,
                                     const std::string& toml) {
  const std::string path = (std::filesystem::path(scratch_dir()) / name).string();
  std::ofstream(path) << toml;
  return load_dataset(dir, Schema::from_toml_file(path), true);
}

}  // namespace woundphase::testing

// The --config file as a user writes it: keys in either spelling (cv_folds or cv-folds), folder
// and file paths relative to the file's own folder, not to where the command runs.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace woundphase::app {

// CLI11's TOML reader with those two rules. `config_dir` is the folder of the file being read.
class ConfigFile : public CLI::ConfigTOML {
 public:
  explicit ConfigFile(std::string config_dir) : config_dir_(std::move(config_dir)) {}
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

 private:
  std::string config_dir_;
};

// The --config value on a command line (`--config F` or `--config=F`); "" when none.
std::string config_path_in(const std::vector<std::string>& args);

// Whether `key` ("search.data", "predict.model", "out") names a path: written absolute by
// --print-config and OUT/config.toml, so the file reads back from any folder.
bool is_path_key(const std::string& key);

}  // namespace woundphase::app

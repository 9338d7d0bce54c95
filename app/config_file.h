// The --config file as a user writes it: keys in either spelling (cv_folds or cv-folds), folder
// and file paths relative to the file's own folder, not to where the command runs.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace woundphase::app {

// CLI11's TOML reader with those two rules, and per-modality tables: `[search.thermal_map]`
// with `backbone = "densenet121"` means `[search]` with `backbone = "thermal_map=densenet121"`
// (the --backbone thermal_map=densenet121 item), joined after the table's plain value if it has
// one. A table of an unknown modality, one nested deeper, or a key there that takes no
// per-modality value (per_modality_flags) is a CLI::ConfigError naming the file, line and table.
// `config_path` is the file being read ("" when none).
class ConfigFile : public CLI::ConfigTOML {
 public:
  explicit ConfigFile(std::string config_path);
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

 private:
  // The items of nested [SUBCOMMAND.MODALITY] tables folded into their subcommand's; `text` is
  // the file's, for line numbers (CLI11's items carry none).
  std::vector<CLI::ConfigItem> per_modality_tables(std::vector<CLI::ConfigItem> items,
                                                   const std::string& text) const;
  std::string config_path_;
  std::string config_dir_;
};

// The --config value on a command line (`--config F` or `--config=F`); "" when none.
std::string config_path_in(const std::vector<std::string>& args);

// Whether `key` ("search.data", "predict.model", "out") names a path: written absolute by
// --print-config and OUT/config.toml, so the file reads back from any folder.
bool is_path_key(const std::string& key);

}  // namespace woundphase::app

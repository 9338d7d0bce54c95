// Options that would do nothing in the chosen configuration (--trees with --model gbdt,
// --train-fraction with --cv-folds 5, image options for a metadata-only search, ...). Typed on
// the command line they are a usage error naming both options; from a config file, a warning.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "woundphase/bundle.h"
#include "woundphase/search_settings.h"

namespace woundphase::app {

enum class Given { kNo, kCommandLine, kConfig };

// The options the user set, by registry flag, and where each came from.
class GivenOptions {
 public:
  void set(const std::string& flag, Given how) { given_[flag] = how; }
  Given of(const std::string& flag) const {
    const auto it = given_.find(flag);
    return it == given_.end() ? Given::kNo : it->second;
  }
  bool any() const { return !given_.empty(); }
  std::string first() const { return given_.empty() ? "" : given_.begin()->first.substr(2); }

 private:
  std::map<std::string, Given> given_;
};

// Throws InputError (exit 2) for the first option typed on the command line that has no effect
// with these settings; returns one warning per such option that came from a config file.
std::vector<std::string> check_search_no_ops(const GivenOptions& given,
                                             const SearchSettings& settings);
std::vector<std::string> check_train_no_ops(const GivenOptions& given,
                                            const TrainSettings& settings);

}  // namespace woundphase::app

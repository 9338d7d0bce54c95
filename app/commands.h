// The subcommands' bodies, separate from option parsing (CLI11 stays in main.cpp/options.cpp).
#pragma once

#include <optional>
#include <string>

#include "no_ops.h"  // for GivenOptions
#include "woundphase/bundle.h"
#include "woundphase/cluster.h"
#include "woundphase/search.h"
#include "woundphase/search_settings.h"
#include "woundphase/store.h"
#include "woundphase/synth.h"

namespace woundphase::app {

// --threads' default: every core the machine reports (1 when it reports none).
int default_threads();

// Options every data-reading command shares.
struct DataOptions {
  std::string data_dir;
  std::string schema_file;                // empty = the DFU preset
  std::optional<Schema> schema_override;  // train --from-search: the search's schema
  Schema schema() const;
};

struct SearchOptions {
  DataOptions data;
  std::string out_dir;
  std::string resume = "auto";
  std::string effective_config;  // TOML of every option's value, recorded in OUT/config.toml
  std::string resume_command;    // printed on Ctrl-C: the command line that resumes the search
  int verbosity = 1;
  std::string modalities = "metadata";
  GivenOptions given;  // what the user set, and where: options with no effect are refused
  SearchSettings settings;
  ProgressFn progress;            // also told every event (the Python module's callback); may throw
  bool print_table = true;        // false: the caller shows results.csv itself (the Python module)
  void set_threads(int threads);  // --threads: jobs at once (one intra-op thread per network)
};

struct TrainOptions {
  DataOptions data;
  std::string out_dir;
  std::string modalities = "metadata";
  bool modalities_given = false;
  std::string from_search;  // a search's output folder: its settings, its top combination
  std::string combination;  // with from_search: this one instead of the top-ranked
  int verbosity = 1;
  GivenOptions given;
  TrainSettings settings;
  ProgressFn progress;            // also told every event (the Python module's callback); may throw
  bool print_summary = true;      // false: no line on stdout (the Python module)
  void set_threads(int threads);  // --threads: the forest's and the image networks' threads
};

struct PredictOptions {
  std::string bundle_dir;
  std::string data_dir;
  std::string out_csv;
  PredictSettings settings;  // --explain, threads
  void set_threads(int threads) { settings.threads = threads; }
};

struct DemoOptions {
  std::string out_dir = "demo";
  int verbosity = 1;
  GivenOptions given;
  std::string effective_config;  // recorded in OUT/search/config.toml, as every search does
  std::string resume_command;    // the command line, printed on Ctrl-C
  SynthSettings synth;
  SearchSettings settings;
  void set_threads(int threads);
};

int run_synth(const std::string& out_dir, const SynthSettings& settings);
// With `cluster` (an mpirun of several ranks), rank 0 runs the search and the others its jobs.
int run_search_command(SearchOptions options, Cluster* cluster = nullptr);
int run_train(TrainOptions options);
int run_predict(const PredictOptions& options);
int run_demo(DemoOptions options);
int run_inspect(const DataOptions& options);
int run_report(const std::string& run_dir);

}  // namespace woundphase::app

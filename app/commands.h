// The subcommands' bodies, separate from option parsing (CLI11 stays in main.cpp/options.cpp).
#pragma once

#include <string>

#include "woundphase/cluster.h"
#include "woundphase/experiment.h"
#include "woundphase/store.h"
#include "woundphase/synth.h"

namespace woundphase::app {

// Options every data-reading command shares.
struct DataOptions {
  std::string data_dir;
  std::string schema_file;  // empty = the DFU preset
  Schema schema() const;
};

struct SearchOptions {
  DataOptions data;
  std::string out_dir;
  std::string resume = "auto";
  std::string effective_config;  // TOML of every option's value, recorded in OUT/config.toml
  int verbosity = 1;
  std::string modalities = "metadata";
  SearchSettings settings;
  ProgressFn progress;      // also told every event (the Python module's callback); may throw
  bool print_table = true;  // false: the caller shows results.csv itself (the Python module)
};

struct TrainOptions {
  DataOptions data;
  std::string out_dir;
  std::string modalities = "metadata";
  int verbosity = 1;
  TrainSettings settings;
  ProgressFn progress;        // also told every event (the Python module's callback); may throw
  bool print_summary = true;  // false: no line on stdout (the Python module)
};

struct PredictOptions {
  std::string bundle_dir;
  std::string data_dir;
  std::string out_csv;
  PredictSettings settings;  // --explain, threads
};

struct DemoOptions {
  std::string out_dir = "demo";
  int verbosity = 1;
  SynthSettings synth;
  SearchSettings settings;
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

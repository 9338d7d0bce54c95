// woundphase command-line entry point: builds the CLI, runs a subcommand, turns errors into exit
// codes (0 success, 2 bad input or usage, 1 internal error).
#include <malloc.h>  // for mallopt
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>  // for find
#include <cstring>    // for strlen
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.h"
#include "config_file.h"
#include "help.h"
#include "interrupt.h"
#include "options.h"
#include "progress.h"
#include "woundphase/cluster.h"
#include "woundphase/experiment_options.h"  // for the option tables

namespace {

namespace fs = std::filesystem;
using namespace woundphase;

constexpr int kExitOk = 0;
constexpr int kExitInternal = 1;
constexpr int kExitBadInput = 2;
constexpr int kMaxThreads = 4096;
// A demo needs a few patients per fold and class; more than this is no longer a demo.
constexpr int kMinDemoPatients = 20;
constexpr int kMaxDemoPatients = 100000;

void add_data_options(CLI::App* cmd, app::DataOptions* data) {
  cmd->add_option("--data", data->data_dir, "study folder holding the metadata CSV")->required();
  cmd->add_option("--schema", data->schema_file,
                  "TOML file overriding the DFU schema (column roles)");
}

// Every knob of the search/train settings, from the registry (one declaration per knob).
constexpr char kImageGroup[] = "Image branches";
constexpr char kFusionGroup[] = "Fusion (combinations of several modalities)";

void bind_model_options(app::OptionBinder* binder, CLI::App* cmd, TabularSettings* tabular,
                        ImageBranchSettings* images, FusionSettings* fusion,
                        EnsembleSettings* ensemble) {
  binder->bind(cmd, tabular_options(), tabular);
  binder->bind(cmd, image_branch_options(), images, kImageGroup, set_image_option_text);
  binder->bind(cmd, fusion_options(), fusion, kFusionGroup);
  if (ensemble != nullptr) binder->bind(cmd, ensemble_options(), ensemble, kFusionGroup);
}

// A `key=value` line of CLI11's TOML with a relative path made absolute, so that the file reads
// back from any folder (config files resolve paths against their own folder).
std::string with_absolute_path(const std::string& key, const std::string& line) {
  if (!app::is_path_key(key)) return line;
  const auto eq = line.find('=');
  std::string value = line.substr(eq + 1);
  const char quote = value.empty() ? '\0' : value.front();
  if (value.size() < 2 || (quote != '"' && quote != '\'') || value.back() != quote) return line;
  value = value.substr(1, value.size() - 2);
  if (value.empty() || fs::path(value).is_absolute()) return line;
  return line.substr(0, eq + 1) + quote + fs::absolute(value).lexically_normal().string() + quote;
}

// The effective configuration as TOML: global options and the chosen subcommand's, every value
// (defaults included), in a form --config reads back.
std::string effective_config(const CLI::App& cli) {
  const auto chosen = cli.get_subcommands();
  const std::string prefix = chosen.empty() ? "" : chosen.front()->get_name() + ".";
  std::string out = "# woundphase " WOUNDPHASE_VERSION " effective configuration\n";
  std::istringstream all(cli.config_to_str(/*default_also=*/true, /*write_description=*/false));
  for (std::string line; std::getline(all, line);) {
    const auto eq = line.find('=');
    const std::string key = line.substr(0, eq);
    if (key == "print-config" || key == "config") continue;
    const bool global = key.find('.') == std::string::npos;
    if (!global && (prefix.empty() || key.rfind(prefix, 0) != 0)) continue;
    out += with_absolute_path(key, line) + "\n";
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc returns large buffers to the OS on every free; on these VMs the page faults make
  // training many times slower (TOOLCHAIN.md pitfall 1), so keep freed memory mapped.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
  // Ctrl-C and SIGTERM: the store write in flight finishes, then a message and exit 130.
  if (launched_ranks() <= 1) app::install_interrupt_handler();

  CLI::App cli{
      "woundphase: multimodal healing-phase classifiers for diabetic foot ulcers\n\n"
      "  woundphase inspect --data DIR                 check a study folder first\n"
      "  woundphase search --data DIR --out OUT        patient-grouped CV of combinations\n"
      "  woundphase train --from-search OUT --out B    fit the winner on every patient\n"
      "  woundphase predict --model B --data DIR --out preds.csv\n"
      "  woundphase demo                               synthetic cohort + search\n\n"
      "example: woundphase search --data study --modalities metadata,thermal_map \\\n"
      "           --out runs/first   (then open runs/first/report.html)\n"};
  // Help in 80 columns, the example first, options grouped (help.h); set before the subcommands
  // exist so that they inherit it.
  cli.formatter(std::make_shared<app::HelpFormatter>());
  cli.require_subcommand(1);
  cli.fallthrough();  // global options may also follow the subcommand
  int verbosity = 1;
  int threads = app::default_threads();
  cli.add_option("--verbosity,-v", verbosity,
                 "0 errors and the final table, 1 a line per job, 2 detail (epochs), 3 detail "
                 "and a progress bar with ETA")
      ->check(CLI::Range(0, app::kMaxVerbosity))
      ->capture_default_str();
  cli.add_option("--threads", threads, "worker threads (results never depend on it)")
      ->check(CLI::Range(1, kMaxThreads))
      ->capture_default_str();
  cli.set_version_flag("--version", std::string("woundphase ") + WOUNDPHASE_VERSION);
  // Every option of every subcommand can come from a TOML file ([search], [train], ... sections
  // use the options' long names); flags on the command line override it.
  cli.set_config("--config", "", "TOML file with options (command-line flags override it)");
  cli.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key is an error
  bool print_config = false;
  cli.add_flag("--print-config", print_config,
               "print the effective configuration as TOML and exit");

  app::OptionBinder binder;  // the registry's knobs, parsed into their structs after cli.parse
  std::string synth_out;
  SynthSettings synth;
  auto* synth_cmd = cli.add_subcommand("synth", "write a synthetic cohort in the DFU layout");
  synth_cmd->footer(
      "example: woundphase synth --out study --patients 60 --seed 7\n"
      "         woundphase synth --out real_layout --from ../shared/data/dfu");
  synth_cmd->add_option("--out", synth_out, "output folder")->required();
  binder.bind(synth_cmd, synth_options(), &synth);

  app::SearchOptions search;
  auto* search_cmd =
      cli.add_subcommand("search", "cross-validate modality combinations by patient");
  add_data_options(search_cmd, &search.data);
  search_cmd->add_option("--out", search.out_dir, "output folder")->required();
  search_cmd
      ->add_option("--modalities", search.modalities, "combinations, comma-separated, or 'all'")
      ->capture_default_str();
  search_cmd
      ->add_option("--resume", search.resume,
                   "fresh | auto (keep finished jobs) | from_data | from_models | from_predictions")
      ->capture_default_str();
  binder.bind(search_cmd, search_options(), &search.settings);
  bind_model_options(&binder, search_cmd, &search.settings.tabular, &search.settings.images,
                     &search.settings.fusion, &search.settings.ensemble);
  search_cmd->footer(
      "example: woundphase search --data study --out runs/first \\\n"
      "           --modalities metadata,thermal_map,metadata+thermal_map");

  app::TrainOptions train;
  auto* train_cmd =
      cli.add_subcommand("train", "fit on every labelled patient and write a model bundle");
  train_cmd->footer(
      "example: woundphase train --from-search runs/first --out bundles/first\n"
      "         woundphase train --data study --modalities metadata --out bundles/meta");
  train_cmd->add_option("--data", train.data.data_dir,
                        "study folder holding the metadata CSV (with --from-search: the "
                        "search's)");
  train_cmd->add_option("--schema", train.data.schema_file,
                        "TOML file overriding the DFU schema (column roles)");
  train_cmd->add_option("--out", train.out_dir, "bundle folder")->required();
  auto* train_modalities =
      train_cmd->add_option("--modalities", train.modalities, "one combination")
          ->capture_default_str();
  train_cmd->add_option("--from-search", train.from_search,
                        "a search's output folder: train its top-ranked combination with its "
                        "settings and data");
  train_cmd->add_option("--combination", train.combination,
                        "with --from-search: this combination instead of the top-ranked");
  binder.bind(train_cmd, train_options(), &train.settings);
  bind_model_options(&binder, train_cmd, &train.settings.tabular, &train.settings.images,
                     &train.settings.fusion, nullptr);

  app::PredictOptions predict;
  auto* predict_cmd =
      cli.add_subcommand("predict", "apply a model bundle; prints metrics when labels exist");
  predict_cmd->footer(
      "example: woundphase predict --model bundles/first --data study --out preds.csv");
  predict_cmd->add_option("--model", predict.bundle_dir, "bundle folder written by train")
      ->required();
  predict_cmd->add_option("--data", predict.data_dir, "study folder (labels optional)")->required();
  predict_cmd->add_option("--out", predict.out_csv, "predictions CSV")->required();
  binder.bind(predict_cmd, predict_options(), &predict.settings);

  app::DataOptions inspect;
  auto* inspect_cmd =
      cli.add_subcommand("inspect", "what a study folder holds: rows, classes, columns, images");
  add_data_options(inspect_cmd, &inspect);
  inspect_cmd->footer("example: woundphase inspect --data ../shared/data/dfu");

  std::string report_dir;
  auto* report_cmd =
      cli.add_subcommand("report", "write OUT/report.html (plots) for a search's output folder");
  report_cmd->add_option("--run", report_dir, "a search's output folder")->required();
  report_cmd->footer("example: woundphase report --run runs/first   (a search writes it too)");

  app::DemoOptions demo;
  demo.synth.patients = 150;
  // Sized to keep `make demo` to a few minutes on 2 cores: 32x32 crops, 20 epochs, one run.
  demo.settings.runs = 1;
  image_branch_options().find("--image-size")->set(demo.settings.images, 32LL);
  demo.settings.images.vision.epochs = 20;
  auto* demo_cmd =
      cli.add_subcommand("demo", "generate the demo cohort, search it, print the table");
  demo_cmd->footer("example: woundphase demo --out demo   (what make demo runs)");
  demo_cmd->add_option("--out", demo.out_dir, "output folder")->capture_default_str();
  demo_cmd->add_option("--patients", demo.synth.patients, "patients in the demo cohort")
      ->check(CLI::Range(kMinDemoPatients, kMaxDemoPatients))
      ->capture_default_str();
  binder.bind(demo_cmd, search_options(), &demo.settings);

  bool markdown = false;
  auto* options_cmd = cli.add_subcommand(
      "help-options", "every subcommand's options as tables (the README's option reference)");
  options_cmd->add_flag("--markdown", markdown, "Markdown tables (the only format so far)");

  const std::vector<std::string> args(argv + 1, argv + argc);
  // Relative paths in a config file are relative to its folder; keys take _ or -.
  const std::string config_path = app::config_path_in(args);
  cli.config_formatter(std::make_shared<app::ConfigFile>(config_path));
  // --print-config shows the configuration before any data is named: nothing is required then.
  if (std::find(args.begin(), args.end(), "--print-config") != args.end())
    for (CLI::App* cmd : cli.get_subcommands([](const CLI::App*) { return true; }))
      for (CLI::Option* o : cmd->get_options()) o->required(false);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ConfigError& e) {
    std::cerr << "error: --config: " << e.what()
              << " (woundphase SUBCOMMAND --print-config lists the valid keys)\n";
    return kExitBadInput;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {  // --help, --version
      cli.exit(e);
      return kExitOk;
    }
    std::cerr << "error: " << app::plain_parse_error(e, cli) << "\n";
    return kExitBadInput;
  }
  try {
    binder.apply();
  } catch (const InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitBadInput;
  }
  for (const std::string& w : binder.deprecated_names(args)) std::cerr << "warning: " << w << "\n";
  const app::GivenOptions given = binder.given(args);
  if (*options_cmd) {
    std::cout << app::options_markdown(cli);
    return kExitOk;
  }
  const std::string effective = effective_config(cli);
  if (print_config) {
    std::cout << effective;
    return kExitOk;
  }
  app::configure_logging(verbosity);
  search.effective_config = effective;
  // The same command resumes, unless it asked to start afresh.
  std::string resume_command = app::shell_command(argc, argv);
  for (const char* fresh : {"--resume fresh", "--resume=fresh"}) {
    const size_t at = resume_command.find(fresh);
    if (at != std::string::npos) resume_command.replace(at, std::strlen(fresh), "--resume auto");
  }
  search.resume_command = resume_command;
  demo.resume_command = app::shell_command(argc, argv);
  search.verbosity = verbosity;
  search.given = given;
  train.verbosity = verbosity;
  train.given = given;
  train.modalities_given = train_modalities->count() > 0;
  demo.verbosity = verbosity;
  demo.given = given;
  demo.effective_config = effective;

  // Under a launcher with several ranks only a search is spread; every other command runs on rank
  // 0 alone (the others would write the same files).
  if (!*search_cmd && launched_rank() > 0) return kExitOk;
  std::unique_ptr<Cluster> cluster;
  const int rc = [&]() -> int {
    try {
      if (*synth_cmd) {
        synth.threads = threads;
        return app::run_synth(synth_out, synth);
      }
      if (*search_cmd) {
        search.set_threads(threads);
        cluster = Cluster::join();  // nullptr for a single process: MPI stays uninitialised
        return app::run_search_command(search, cluster.get());
      }
      if (*train_cmd) {
        train.set_threads(threads);
        return app::run_train(train);
      }
      if (*predict_cmd) {
        predict.set_threads(threads);
        return app::run_predict(predict);
      }
      if (*inspect_cmd) return app::run_inspect(inspect);
      if (*report_cmd) return app::run_report(report_dir);
      if (*demo_cmd) {
        demo.set_threads(threads);
        return app::run_demo(demo);
      }
    } catch (const InputError& e) {
      std::cerr << "error: " << e.what() << "\n";
      return kExitBadInput;
    } catch (const std::exception& e) {
      std::cerr << "internal error: " << e.what() << "\n";
      return kExitInternal;
    }
    return kExitInternal;
  }();
  if (cluster) cluster->finish(rc);
  return rc;
}

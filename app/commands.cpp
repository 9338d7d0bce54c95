// Subcommand bodies: load, validate, run, write, print.
#include "commands.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>  // for isnan
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>  // for hardware_concurrency

#include "interrupt.h"
#include "progress.h"
#include "woundphase/cluster.h"
#include "woundphase/explain.h"  // for metadata_importance
#include "woundphase/files.h"
#include "woundphase/from_search.h"
#include "woundphase/image_coverage.h"
#include "woundphase/images.h"
#include "woundphase/inspect.h"
#include "woundphase/report.h"
#include "woundphase/synth.h"  // for write_synthetic_study
#include "woundphase/timing.h"

namespace fs = std::filesystem;

namespace woundphase::app {

// XGBoost's per-round OpenMP regions on a few hundred rows cost more in synchronisation than they
// gain, and busy-wait badly when other processes share the cores (measured: 0.2 s alone vs
// 4-30 s under load with 2 threads), so boosting in `train` runs on one thread.
constexpr int kTrainGbdtThreads = 1;

int default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void SearchOptions::set_threads(int threads) {
  settings.threads = threads;
  settings.images.vision.threads = threads;
}

void TrainOptions::set_threads(int threads) {
  settings.threads = threads;
  settings.tabular.forest.threads = threads;
  settings.tabular.gbdt.threads = kTrainGbdtThreads;
  settings.images.vision.threads = threads;
}

void DemoOptions::set_threads(int threads) {
  settings.threads = threads;
  settings.images.vision.threads = threads;
  synth.threads = threads;
}

namespace {

// Whether --modalities names `m` (in a combination; "all" names none).
bool names_modality(const std::string& text, Modality m) {
  size_t begin = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != ',' && text[i] != '+') continue;
    if (trim(text.substr(begin, i - begin)) == to_string(m)) return true;
    begin = i + 1;
  }
  return false;
}

// The combinations --modalities asks for. The metadata table is always there; an image modality
// is available when its folder is. A folder that cannot be read (a symlink loop, no permission)
// fails the run only when --modalities names its modality; otherwise it is a warning.
std::vector<Combination> resolve_modalities(const std::string& text, const Dataset& data) {
  std::vector<Modality> available = {Modality::kMetadata};
  for (ImageModality im : kImageModalities) {
    const Modality m = static_cast<Modality>(static_cast<int>(im) + 1);
    const fs::path folder = fs::path(data.dir) / folder_of(im);
    std::error_code ec;
    const fs::file_status status = fs::status(folder, ec);
    if (fs::is_directory(status)) {
      available.push_back(m);
      continue;
    }
    if (status.type() != fs::file_type::none) continue;  // absent (or a file): not available
    const std::string problem =
        fmt::format("{}: cannot read the image folder ({})", folder.string(), ec.message());
    if (names_modality(text, m)) throw InputError(problem);
    spdlog::warn("{}; {} is not available", problem, to_string(m));
  }
  if (available.size() == 1 && trim(text) == "all")
    spdlog::warn(
        "--modalities all: {} has no image folder ({}, {}, {}, {}), so 'all' is metadata alone",
        data.dir, folder_of(ImageModality::kDepthRgb), folder_of(ImageModality::kDepthMap),
        folder_of(ImageModality::kThermalMap), folder_of(ImageModality::kThermalRgb));
  return parse_combinations(text, available);
}

void warn_all(const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings) spdlog::warn("{}", w);
}

Dataset load(const DataOptions& options, bool require_labels) {
  Dataset data = load_dataset(options.data_dir, options.schema(), require_labels);
  for (const auto& w : data.warnings) spdlog::warn("{}", w);
  spdlog::info("{}: {} visit-wounds, {} patients, {} features", data.metadata_path,
               data.rows.size(), data.patients.size(), data.feature_names.size());
  return data;
}

void print_scores(const Scores& s, const Schema& schema) {
  // A kappa is undefined (NaN) when truth and predictions are all one class.
  const auto kappa = [](double v) {
    return std::isnan(v) ? std::string("n/a") : fmt::format("{:.3f}", v);
  };
  std::cout << fmt::format(
      "QWK {}  kappa {}  accuracy {:.3f}  macro-F1 {:.3f}  F1 {} {:.3f} / {} {:.3f} / {} "
      "{:.3f}  (n = {})\n",
      kappa(s.qwk), kappa(s.kappa), s.accuracy, s.macro_f1, schema.class_labels[0], s.f1[0],
      schema.class_labels[1], s.f1[1], schema.class_labels[2], s.f1[2], s.n);
  std::cout << "confusion (rows = true, columns = predicted):\n";
  for (int t = 0; t < kNumClasses; ++t) {
    std::cout << fmt::format("  {:>3}", schema.class_labels[t]);
    for (int p = 0; p < kNumClasses; ++p) std::cout << fmt::format(" {:>6}", s.confusion[t][p]);
    std::cout << "\n";
  }
}

// Progress to the reporter and to the caller's listener (if any).
ProgressFn both(Reporter& reporter, const ProgressFn& listener) {
  if (!listener) return reporter.callback();
  return [&reporter, listener](const ProgressEvent& e) {
    reporter(e);
    listener(e);
  };
}

int search(const Dataset& data, const SearchSettings& settings, const std::string& out_dir,
           ResumeMode resume, int verbosity, const std::string& resume_command,
           Cluster* cluster = nullptr, const ProgressFn& listener = nullptr,
           bool print_table = true) {
  settings.validate();
  const auto start = Clock::now();
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec)
    throw InputError(fmt::format("{}: cannot create output folder ({})", out_dir, ec.message()));
  Reporter reporter(verbosity);
  reporter.log_to_file((fs::path(out_dir) / "search.log").string());
  spdlog::debug("search of {} ({} visit-wounds, {} patients) into {}", data.metadata_path,
                data.rows.size(), data.patients.size(), out_dir);
  const std::string db_path = (fs::path(out_dir) / "woundphase.db").string();
  // The message reads the reporter: forget it when the search ends, however it ends.
  struct ForgetMessage {
    ~ForgetMessage() { on_interrupt(nullptr); }
  } forget_message;
  on_interrupt([&reporter, db_path, resume_command]() {
    int saved = reporter.done();
    try {
      saved = Store::open(db_path)->count_jobs();  // what is on disk, not what was announced
    } catch (const std::exception&) {
      // the count the progress lines gave
    }
    const std::string total =
        reporter.total() > 0 ? fmt::format(" of {}", reporter.total()) : std::string();
    return fmt::format("{}{} jobs are saved in {}; rerun the same command to resume:\n  {}", saved,
                       total, db_path, resume_command);
  });
  const SearchResult result =
      run_stored_search(data, settings, out_dir, resume, both(reporter, listener), cluster);
  reporter.finish();
  // The clinical features' importance on the test folds (refits each fold's metadata model).
  write_importance_csv(metadata_importance(data, settings),
                       (fs::path(out_dir) / kImportanceFile).string());
  on_interrupt([db_path]() {
    return fmt::format(
        "every job is saved in {}; the outputs were being written: rerun the "
        "same command to write them",
        db_path);
  });
  nlohmann::json record = {{"settings", settings.to_json()},
                           {"data",
                            {{"metadata_file", data.metadata_path},
                             {"fingerprint", file_fingerprint(data.metadata_path)},
                             {"rows", data.rows.size()},
                             {"patients", data.patients.size()}}},
                           {"schema", data.schema.to_json()},
                           {"software", {{"woundphase", WOUNDPHASE_VERSION}}}};
  write_file_atomically((fs::path(out_dir) / "settings.json").string(), record.dump(2) + "\n");
  write_report(out_dir);
  const double seconds = seconds_since(start);
  if (print_table) std::cout << format_results_table(result, data.schema, &result.ranking);
  spdlog::info("search finished in {:.2f} s; outputs and report.html in {}", seconds, out_dir);
  return 0;
}

}  // namespace

Schema DataOptions::schema() const {
  if (schema_override) return *schema_override;
  return schema_file.empty() ? Schema::dfu() : Schema::from_toml_file(schema_file);
}

int run_synth(const std::string& out_dir, const SynthSettings& settings) {
  settings.validate();
  const StudySummary study = write_synthetic_study(out_dir, settings);
  const SynthSummary& s = study.cohort;
  std::cout << fmt::format("wrote {} patients, {} visit-wounds (I {}, P {}, R {}) to {}\n",
                           s.patients, s.rows, s.class_counts[0], s.class_counts[1],
                           s.class_counts[2], out_dir);
  if (settings.write_images) {
    std::vector<std::string> counts;
    for (ImageModality m : kImageModalities)
      if (study.images[static_cast<int>(m)] > 0)
        counts.push_back(fmt::format("{} {}", folder_of(m), study.images[static_cast<int>(m)]));
    std::cout << fmt::format("images: {}; boxes: {} depth, {} thermal; {:.1f} s\n",
                             fmt::join(counts, ", "), study.depth_boxes, study.thermal_boxes,
                             study.seconds);
  }
  std::cout << std::flush;  // before the search logs to stderr
  return 0;
}

namespace {

// Exit codes, as main() returns them.
constexpr int kExitInternal = 1;
constexpr int kExitBadInput = 2;

// Ranks 1..N-1 of an mpirun: the same data and options as rank 0, jobs from it, no outputs.
int search_worker(const SearchOptions& options, Cluster& cluster) {
  SearchSettings settings = options.settings;
  std::optional<Dataset> data;
  try {
    data = load_dataset(options.data.data_dir, options.data.schema(), true);
    settings.combinations = resolve_modalities(options.modalities, *data);
    settings.validate();
  } catch (const InputError& e) {
    return report_worker_failure(cluster, e.what(), kExitBadInput);
  } catch (const std::exception& e) {
    return report_worker_failure(cluster, e.what(), kExitInternal);
  }
  return run_search_worker(*data, settings, options.out_dir, cluster);
}

}  // namespace

int run_search_command(SearchOptions options, Cluster* cluster) {
  if (cluster != nullptr && !cluster->coordinator()) return search_worker(options, *cluster);
  const Dataset data = load(options.data, true);
  options.settings.combinations = resolve_modalities(options.modalities, data);
  options.settings.validate();  // a value out of bounds is named before an idle option
  warn_all(check_search_no_ops(options.given, options.settings));
  const int rc = search(data, options.settings, options.out_dir, parse_resume(options.resume),
                        options.verbosity, options.resume_command, cluster, options.progress,
                        options.print_table);
  if (!options.effective_config.empty())
    write_file_atomically((fs::path(options.out_dir) / "config.toml").string(),
                          options.effective_config);
  return rc;
}

namespace {

// train --from-search OUT [--combination C]: the search's data, schema and settings; its
// top-ranked combination unless one is named.
void take_search_settings(TrainOptions* options) {
  if (options->given.any())
    throw InputError(fmt::format(
        "--from-search trains with the search's own settings: drop --{} (or train without "
        "--from-search)",
        options->given.first()));
  if (options->modalities_given)
    throw InputError("--modalities cannot be combined with --from-search: use --combination");
  const SearchRecord record = read_search_record(options->from_search);
  std::vector<Modality> every_modality;
  for (int m = 0; m < kNumModalities; ++m) every_modality.push_back(static_cast<Modality>(m));
  std::string chosen = options->combination.empty() ? record.ranked.front() : options->combination;
  if (!options->combination.empty() &&
      std::find(record.ranked.begin(), record.ranked.end(), chosen) == record.ranked.end())
    throw InputError(fmt::format("--combination {}: not one of the search's combinations ({})",
                                 chosen, fmt::join(record.ranked, ", ")));
  if (options->data.data_dir.empty()) options->data.data_dir = record.data_dir;
  options->data.schema_override = record.schema;
  options->modalities = chosen;
  const int threads = options->settings.threads;
  const auto tabular_threads = options->settings.tabular.forest.threads;
  const auto gbdt_threads = options->settings.tabular.gbdt.threads;
  const auto vision_threads = options->settings.images.vision.threads;
  options->settings =
      train_settings_from_search(record, parse_combinations(chosen, every_modality).front());
  options->settings.threads = threads;
  options->settings.tabular.forest.threads = tabular_threads;
  options->settings.tabular.gbdt.threads = gbdt_threads;
  options->settings.images.vision.threads = vision_threads;
  std::cout << fmt::format("training {} ({}) with the settings of the search in {}\n", chosen,
                           options->combination.empty() ? "its top-ranked combination" : "chosen",
                           options->from_search);
}

}  // namespace

int run_train(TrainOptions options) {
  if (!options.from_search.empty()) {
    take_search_settings(&options);
  } else if (!options.combination.empty()) {
    throw InputError("--combination picks one of a search's combinations: it needs --from-search");
  }
  if (options.data.data_dir.empty())
    throw InputError("train needs --data DIR (the study) or --from-search OUT (a search's folder)");
  const Dataset data = load(options.data, true);
  const auto combos = resolve_modalities(options.modalities, data);
  if (combos.size() != 1)
    throw InputError("--modalities: train takes exactly one combination (e.g. metadata)");
  options.settings.combination = combos.front();
  options.settings.validate();
  if (options.from_search.empty()) warn_all(check_train_no_ops(options.given, options.settings));
  const ImageCoverage coverage = image_coverage(data, data.dir);
  const long used = coverage.rows_for(combos.front());
  Reporter reporter(options.verbosity);
  train_bundle(data, options.settings, options.out_dir, both(reporter, options.progress));
  reporter.finish();
  if (!options.print_summary) return 0;
  std::cout << combination_coverage_text(coverage, combos.front()) << "\n";
  std::cout << fmt::format(
      "trained {} on {} of {} visit-wounds ({} patients in the study); "
      "bundle written to {}\n",
      to_string(combos.front()), used, data.rows.size(), data.patients.size(), options.out_dir);
  return 0;
}

int run_predict(const PredictOptions& options) {
  const Bundle bundle = load_bundle(options.bundle_dir);
  DataOptions data_options;
  data_options.data_dir = options.data_dir;
  Dataset data = load_dataset(options.data_dir, bundle.schema, false);
  for (const auto& w : data.warnings) spdlog::warn("{}", w);
  Scores scores;
  std::vector<std::string> used;
  const Probabilities probs =
      predict_bundle(bundle, data, options.out_csv, &scores, options.settings, &used);
  const std::string full = to_string(bundle.combination);
  long missing = 0;
  long partial = 0;
  for (size_t i = 0; i < data.rows.size(); ++i) {
    missing += used[i].empty() ? 1 : 0;
    partial += !used[i].empty() && used[i] != full ? 1 : 0;
  }
  std::cout << fmt::format("predicted {} visit-wounds of {} patients with {}; written to {}\n",
                           data.rows.size() - missing, data.patients.size(), full, options.out_csv);
  if (partial > 0)
    std::cout << fmt::format(
        "{} visit-wounds lack some of its images: predicted from the modalities they have (column "
        "modalities_used; --require-all leaves them blank)\n",
        partial);
  if (missing > 0)
    std::cout << fmt::format(
        "{} visit-wounds have {} of the modalities the bundle needs: their row has no prediction\n",
        missing, options.settings.require_all ? "not all" : "none");
  if (options.settings.explain) {
    const fs::path folder = fs::absolute(options.out_csv).parent_path();
    std::cout << fmt::format("explanations of the metadata branch written to {}\n",
                             (folder / "explanations.csv").string());
    if (bundle.combination.size() > 1)
      std::cout << "  (they explain the metadata branch's probabilities, one input of the fused "
                   "head, not the fused probabilities)\n";
    else if (bundle.temperature != 1.0)
      std::cout << "  (they explain the probabilities before the bundle's temperature scaling)\n";
  }
  if (options.settings.report)
    std::cout << fmt::format(
        "case page written to {}\n",
        (fs::absolute(options.out_csv).parent_path() / "predictions.html").string());
  if (bundle.combination.size() > 1 || is_image(bundle.combination.front()))
    std::cout << combination_coverage_text(image_coverage(data, data.dir), bundle.combination)
              << "\n";
  if (data.has_labels && scores.n > 0) print_scores(scores, bundle.schema);
  return 0;
}

int run_report(const std::string& run_dir) {
  // A search interrupted before its outputs: show the jobs the store holds and what is missing.
  std::error_code ec;
  if (!fs::exists(fs::path(run_dir) / "results.csv", ec) &&
      fs::exists(fs::path(run_dir) / "woundphase.db", ec)) {
    const UnfinishedSearch unfinished = read_unfinished_search(run_dir);
    const std::string page = (fs::path(run_dir) / "report.html").string();
    write_file_atomically(page, unfinished.html());
    std::cout << unfinished.summary() << "\nwrote " << page << "\n";
    return 0;
  }
  write_report(run_dir);
  std::cout << fmt::format("wrote {}\n", (fs::path(run_dir) / "report.html").string());
  return 0;
}

int run_inspect(const DataOptions& options) {
  std::cout << inspect_study(options.data_dir, options.schema());
  return 0;
}

int run_demo(DemoOptions options) {
  const std::string data_dir = (fs::path(options.out_dir) / "data").string();
  run_synth(data_dir, options.synth);
  DataOptions data_options;
  data_options.data_dir = data_dir;
  const Dataset data = load(data_options, true);
  // Every combination of the modalities the demo cohort has, with the late-fusion ensemble;
  // without the image networks library the demo still runs the metadata branch.
  std::string why;
  const std::string modalities = vision_available(&why) ? "all" : "metadata";
  if (modalities == "metadata") spdlog::warn("image modalities skipped: {}", why);
  options.settings.combinations = resolve_modalities(modalities, data);
  if (options.settings.uses_images()) options.settings.ensemble.kind = EnsembleKind::kWeighted;
  warn_all(check_search_no_ops(options.given, options.settings));
  const std::string search_dir = (fs::path(options.out_dir) / "search").string();
  // The demo regenerates its data every time, so an interrupted demo starts again.
  const int rc = search(data, options.settings, search_dir, ResumeMode::kFresh, options.verbosity,
                        options.resume_command + " (the demo starts again)");
  if (!options.effective_config.empty())
    write_file_atomically((fs::path(search_dir) / "config.toml").string(),
                          options.effective_config);
  return rc;
}

}  // namespace woundphase::app

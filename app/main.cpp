// woundphase command-line entry point: builds the CLI, runs a subcommand, turns errors into exit
// codes (0 success, 2 bad input or usage, 1 internal error).
#include <malloc.h>  // for mallopt
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.h"
#include "progress.h"
#include "woundphase/cluster.h"

namespace {

using namespace woundphase;

constexpr int kExitOk = 0;
// XGBoost's per-round OpenMP regions on a few hundred rows cost more in synchronisation than they
// gain, and busy-wait badly when other processes share the cores (measured: 0.2 s alone vs
// 4-30 s under load with 2 threads), so boosting runs on one thread.
constexpr int kGbdtThreads = 1;
constexpr int kExitInternal = 1;
constexpr int kExitBadInput = 2;

int default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void add_data_options(CLI::App* cmd, app::DataOptions* data) {
  cmd->add_option("--data", data->data_dir, "study folder holding the metadata CSV")->required();
  cmd->add_option("--schema", data->schema_file,
                  "TOML file overriding the DFU schema (column roles)");
}

// Options of the metadata (tree) branch; `model`, `sampling` and `class_weight` are parsed after.
struct TabularText {
  std::string model = "rf";
  std::string sampling = "none";
  std::string class_weight = "balanced";
};

void add_tabular_options(CLI::App* cmd, TabularSettings* t, TabularText* text) {
  cmd->add_option("--model", text->model, "tree model: rf (our random forest) | gbdt (XGBoost)")
      ->capture_default_str();
  cmd->add_option(
         "--sampling", text->sampling,
         "training-fold resampling: none | random | under | combined | smote | combined_smote")
      ->capture_default_str();
  cmd->add_option("--class-weight", text->class_weight, "balanced | frequency | none")
      ->capture_default_str();
  cmd->add_option("--trees", t->forest.n_trees, "rf: number of trees")->capture_default_str();
  cmd->add_option("--max-depth", t->forest.max_depth, "rf: maximum tree depth")
      ->capture_default_str();
  cmd->add_option("--min-samples-leaf", t->forest.min_samples_leaf, "rf: minimum rows per leaf")
      ->capture_default_str();
  cmd->add_option("--min-samples-split", t->forest.min_samples_split,
                  "rf: minimum rows to split a node")
      ->capture_default_str();
  cmd->add_option("--max-features", t->forest.max_features,
                  "rf: fraction of features per split (<=0: sqrt)")
      ->capture_default_str();
  cmd->add_option("--gbdt-rounds", t->gbdt.n_rounds, "gbdt: boosting rounds")
      ->capture_default_str();
  cmd->add_option("--gbdt-max-depth", t->gbdt.max_depth, "gbdt: tree depth")->capture_default_str();
  cmd->add_option("--learning-rate", t->gbdt.learning_rate, "gbdt: learning rate")
      ->capture_default_str();
  cmd->add_option("--subsample", t->gbdt.subsample, "gbdt: row subsample per round")
      ->capture_default_str();
  cmd->add_option("--colsample", t->gbdt.colsample, "gbdt: feature subsample per tree")
      ->capture_default_str();
  cmd->add_option("--min-child-weight", t->gbdt.min_child_weight, "gbdt: minimum hessian per leaf")
      ->capture_default_str();
  cmd->add_option("--max-bins", t->forest.max_bins, "rf: histogram bins per feature")
      ->capture_default_str();
  cmd->add_option("--smote-neighbours", t->sampling.smote_neighbours,
                  "smote: same-class neighbours")
      ->capture_default_str();
  cmd->add_option("--inner-folds", t->inner_folds,
                  "inner patient folds for out-of-fold probabilities")
      ->capture_default_str();
}

// Options of the image branches (image modalities only); text values are parsed after.
struct ImageText {
  std::string loss = "weighted_ce";
  std::string device = "cpu";
  std::string precision = "fp32";
  std::string map_decode = "viridis";
  std::string on_missing_image = "skip";
  bool no_augment = false;
};

void add_image_options(CLI::App* cmd, ImageBranchSettings* s, ImageText* text) {
  auto& v = s->vision;
  cmd->add_option("--backbone", v.backbone,
                  "simple | resnet18 | densenet121 | efficientnet_b0|b1|b2|b3 | torchscript:PATH")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--image-size", v.image_size, "square crop side: 32 | 64 | 128 | 256")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--epochs", v.epochs, "maximum training epochs")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--batch-size", v.batch_size, "images per step")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--image-learning-rate", v.learning_rate, "Adam learning rate")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--patience", v.patience,
                  "epochs without a better validation QWK before stopping")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--loss", text->loss, "weighted_ce | focal")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--focal-gamma", v.focal_gamma, "focal loss gamma")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--device", text->device, "cpu | cuda | cuda:N | multi")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--precision", text->precision,
                  "fp32 | bf16 | fp16 (autocast on CUDA; image branches)")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--map-decode", text->map_decode, "viridis (maps -> one scalar channel) | none")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--on-missing-image", text->on_missing_image, "skip (counted) | error")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--max-image-pixels", s->preprocess.limits.max_pixels,
                  "frames declaring more pixels are skipped before decoding")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--max-image-bytes", s->preprocess.limits.max_bytes,
                  "larger frame files are skipped before reading")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_flag("--no-augment", text->no_augment, "no flips/rotations/brightness/noise in training")
      ->group("Image branches");
  cmd->add_option("--validation-fraction", s->validation_fraction,
                  "share of training patients held out for early stopping")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option(
         "--gen-aug-dir", s->gen_aug_dir,
         "pre-generated training images, sub-folders I/ P/ R/ (never used for validation or test)")
      ->group("Image branches");
  cmd->add_option("--gen-aug-probability", s->gen_aug_probability,
                  "chance each generated image joins a fold's training images")
      ->capture_default_str()
      ->group("Image branches");
  cmd->add_option("--image-cache", s->cache_dir, "folder for a disk cache of decoded crops")
      ->group("Image branches");
}

// Options of the fusion heads (fused combinations) and the late-fusion ensemble.
struct FusionText {
  std::string fusion = to_string(FusionSettings{}.kind);
  std::string loss = "weighted_ce";
  std::string class_weight = "balanced";
  std::string ensemble = "none";
};

void add_fusion_options(CLI::App* cmd, FusionSettings* f, FusionText* text, EnsembleSettings* e) {
  const char* group = "Fusion (combinations of several modalities)";
  cmd->add_option("--fusion", text->fusion,
                  "fixed | learned_weights | prob_concat | feature_concat | gated")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--rf-weight", f->rf_weight,
                  "fixed: the metadata's weight (images share the rest)")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--stage1-epochs", f->stage1_epochs, "head epochs on cached embeddings")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--stage1-learning-rate", f->stage1_learning_rate, "head Adam learning rate")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--stage2-epochs", f->stage2_epochs,
                  "epochs fine-tuning head + top of the backbones (0 = no stage 2)")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--stage2-learning-rate", f->stage2_learning_rate, "stage 2 Adam learning rate")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--stage2-unfreeze", f->stage2_unfreeze,
                  "top fraction of each backbone's layers trained in stage 2")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--fusion-patience", f->patience,
                  "head epochs without a better validation QWK before stopping")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--fusion-loss", text->loss, "weighted_ce | focal")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--fusion-focal-gamma", f->focal_gamma, "focal loss gamma of the head")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--fusion-class-weight", text->class_weight, "balanced | none")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--fusion-dropout", f->dropout, "feature_concat: dropout on the head's input")
      ->capture_default_str()
      ->group(group);
  if (e == nullptr) return;
  cmd->add_option("--ensemble", text->ensemble,
                  "late fusion over the combinations: none | average | weighted | stacking | "
                  "gating (fitted on validation patients)")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--ensemble-l2", e->l2, "L2 penalty of the weighted/stacking/gating ensemble")
      ->capture_default_str()
      ->group(group);
}

void apply_fusion_text(const FusionText& text, FusionSettings* f, EnsembleSettings* e) {
  f->kind = parse_fusion(text.fusion);
  f->loss = parse_vision_loss(text.loss);
  f->class_weight = parse_vision_class_weight(text.class_weight);
  if (e != nullptr) e->kind = parse_ensemble(text.ensemble);
}

void apply_image_text(const ImageText& text, ImageBranchSettings* s) {
  s->vision.loss = parse_vision_loss(text.loss);
  s->vision.device = parse_vision_device(text.device);
  s->vision.device_index = parse_device_index(text.device);
  s->vision.precision = parse_precision(text.precision);
  s->preprocess.map_decode = parse_map_decode(text.map_decode);
  s->preprocess.on_missing_image = parse_missing_image(text.on_missing_image);
  s->preprocess.image_size = s->vision.image_size;
  if (text.no_augment) s->augment = AugmentSettings{};
}

void apply_tabular_text(const TabularText& text, TabularSettings* t) {
  t->model = parse_tree_model(text.model);
  t->sampling.strategy = parse_sampling(text.sampling);
  t->forest.class_weight = parse_class_weight(text.class_weight);
  t->gbdt.class_weight = t->forest.class_weight;
}

void add_search_options(CLI::App* cmd, SearchSettings* s) {
  cmd->add_option("--cv-folds", s->cv_folds,
                  "patient-grouped folds (1 = single split by --train-fraction)")
      ->capture_default_str();
  cmd->add_option("--runs", s->runs, "repeats with seeds seed, seed+1, ...")->capture_default_str();
  cmd->add_option("--seed", s->seed, "base seed")->capture_default_str();
  cmd->add_option("--train-fraction", s->train_fraction,
                  "training share of patients when --cv-folds 1")
      ->capture_default_str();
  cmd->add_option("--data-percentage", s->data_percentage,
                  "percent of patients kept (stratified) before splitting")
      ->capture_default_str();
  cmd->add_flag("--shuffle-labels", s->shuffle_labels,
                "permute training labels (leakage control: kappa ~ 0)");
  cmd->add_option("--alpha", s->alpha,
                  "significance level of the paired comparisons (comparisons.csv, Holm-adjusted)")
      ->capture_default_str();
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
    if (global || (!prefix.empty() && key.rfind(prefix, 0) == 0)) out += line + "\n";
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // glibc returns large buffers to the OS on every free; on these VMs the page faults make
  // training many times slower (TOOLCHAIN.md pitfall 1), so keep freed memory mapped.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 0x7fffffff);

  CLI::App cli{
      "woundphase: multimodal healing-phase classifiers for diabetic foot ulcers\n\n"
      "  woundphase demo                                   synthetic cohort + search\n"
      "  woundphase search --data DIR --out OUT            patient-grouped CV\n"
      "  woundphase train --data DIR --out BUNDLE          fit on all labelled patients\n"
      "  woundphase predict --model BUNDLE --data DIR --out preds.csv\n"
      "  woundphase inspect --data DIR                     check a study folder first\n\n"
      "example: woundphase search --data ../shared/data/dfu --runs 3 --out runs/meta\n"
      "         (then open runs/meta/report.html)\n"};
  cli.require_subcommand(1);
  cli.fallthrough();  // global options may also follow the subcommand
  int verbosity = 1;
  int threads = default_threads();
  cli.add_option("--verbosity,-v", verbosity,
                 "0 errors + final table, 1 a line per job, 2 detail, 3 progress bar only")
      ->check(CLI::Range(0, app::kMaxVerbosity))
      ->capture_default_str();
  cli.add_option("--threads", threads, "worker threads")->capture_default_str();
  cli.set_version_flag("--version", std::string("woundphase ") + WOUNDPHASE_VERSION);
  // Every option of every subcommand can come from a TOML file ([search], [train], ... sections
  // use the options' long names); flags on the command line override it.
  cli.set_config("--config", "", "TOML file with options (command-line flags override it)");
  cli.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key is an error
  bool print_config = false;
  cli.add_flag("--print-config", print_config,
               "print the effective configuration as TOML and exit");

  std::string synth_out;
  SynthSettings synth;
  auto* synth_cmd = cli.add_subcommand("synth", "write a synthetic cohort in the DFU layout");
  synth_cmd->footer(
      "example: woundphase synth --out cohort --patients 150 --seed 7\n"
      "         woundphase synth --out real_layout --from ../shared/data/dfu --image-scale 0.1");
  synth_cmd->add_option("--out", synth_out, "output folder")->required();
  synth_cmd->add_option("--patients", synth.patients, "number of patients")->capture_default_str();
  synth_cmd->add_option("--seed", synth.seed, "seed (same seed, same files)")
      ->capture_default_str();
  synth_cmd->add_option("--signal", synth.signal, "phase signal in the metadata, 0..1")
      ->capture_default_str();
  synth_cmd
      ->add_option("--image-scale", synth.image_scale,
                   "frame size relative to the real cameras' (1280x720 depth, 1080x1440 thermal)")
      ->capture_default_str();
  synth_cmd
      ->add_option("--image-signal", synth.image_signal,
                   "phase-dependent image appearance beyond the metadata, 0..1")
      ->capture_default_str();
  synth_cmd->add_option("--from", synth.from_dir,
                        "real study folder: copy its metadata, draw the frames its box files name");
  synth_cmd->add_flag("--thermal-rgb", synth.thermal_rgb, "also write Thermal_RGB/");
  bool synth_no_images = false;
  synth_cmd->add_flag("--no-images", synth_no_images, "write the metadata CSV only");

  app::SearchOptions search;
  TabularText search_text;
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
  add_search_options(search_cmd, &search.settings);
  std::string search_calibrate = "none";
  search_cmd
      ->add_option("--calibrate", search_calibrate,
                   "none | temperature (one per fold, fitted on training patients' predictions)")
      ->capture_default_str();
  add_tabular_options(search_cmd, &search.settings.tabular, &search_text);
  ImageText image_text;
  add_image_options(search_cmd, &search.settings.images, &image_text);
  FusionText fusion_text;
  add_fusion_options(search_cmd, &search.settings.fusion, &fusion_text, &search.settings.ensemble);
  search_cmd->footer(
      "example: woundphase search --data study/ --modalities metadata --cv-folds 5 --runs 3 --out "
      "runs/meta");

  app::TrainOptions train;
  TabularText train_text;
  auto* train_cmd =
      cli.add_subcommand("train", "fit on every labelled patient and write a model bundle");
  train_cmd->footer(
      "example: woundphase train --data study/ --modalities metadata+thermal_map --out "
      "bundles/meta_thermal");
  add_data_options(train_cmd, &train.data);
  train_cmd->add_option("--out", train.out_dir, "bundle folder")->required();
  train_cmd->add_option("--modalities", train.modalities, "one combination")->capture_default_str();
  train_cmd->add_option("--seed", train.settings.seed, "seed")->capture_default_str();
  std::string train_calibrate = "none";
  train_cmd
      ->add_option("--calibrate", train_calibrate,
                   "none | temperature (fitted on the validation patients, stored in the bundle)")
      ->capture_default_str();
  add_tabular_options(train_cmd, &train.settings.tabular, &train_text);
  ImageText train_image_text;
  add_image_options(train_cmd, &train.settings.images, &train_image_text);
  FusionText train_fusion_text;
  add_fusion_options(train_cmd, &train.settings.fusion, &train_fusion_text, nullptr);

  app::PredictOptions predict;
  auto* predict_cmd =
      cli.add_subcommand("predict", "apply a model bundle; prints metrics when labels exist");
  predict_cmd->footer(
      "example: woundphase predict --model bundles/meta --data new_patients --out preds.csv");
  predict_cmd->add_option("--model", predict.bundle_dir, "bundle folder written by train")
      ->required();
  predict_cmd->add_option("--data", predict.data_dir, "study folder (labels optional)")->required();
  predict_cmd->add_option("--out", predict.out_csv, "predictions CSV")->required();

  app::DataOptions inspect;
  auto* inspect_cmd = cli.add_subcommand(
      "inspect", "what a study folder holds: rows, classes, missing values, images");
  add_data_options(inspect_cmd, &inspect);
  inspect_cmd->footer("example: woundphase inspect --data ../shared/data/dfu");

  std::string report_dir;
  auto* report_cmd =
      cli.add_subcommand("report", "write OUT/report.html (plots) for a search's output folder");
  report_cmd->add_option("--run", report_dir, "a search's output folder")->required();
  report_cmd->footer("example: woundphase report --run runs/meta   (search writes it too)");

  app::DemoOptions demo;
  demo.synth.patients = 150;
  // Sized to keep `make demo` to a few minutes on 2 cores: 32x32 crops, 20 epochs, one run.
  demo.settings.runs = 1;
  demo.settings.images.vision.image_size = 32;
  demo.settings.images.preprocess.image_size = 32;
  demo.settings.images.vision.epochs = 20;
  auto* demo_cmd =
      cli.add_subcommand("demo", "generate the demo cohort, search it, print the table");
  demo_cmd->footer("example: woundphase demo --out demo   (what make demo runs)");
  demo_cmd->add_option("--out", demo.out_dir, "output folder")->capture_default_str();
  demo_cmd->add_option("--patients", demo.synth.patients, "patients in the demo cohort")
      ->capture_default_str();
  add_search_options(demo_cmd, &demo.settings);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ConfigError& e) {
    std::cerr << "error: --config: " << e.what()
              << " (woundphase SUBCOMMAND --print-config lists the valid keys)\n";
    return kExitBadInput;
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    return code == 0 ? kExitOk : kExitBadInput;
  }
  const std::string effective = effective_config(cli);
  if (print_config) {
    std::cout << effective;
    return kExitOk;
  }
  app::configure_logging(verbosity);
  search.effective_config = effective;
  search.verbosity = verbosity;
  train.verbosity = verbosity;
  demo.verbosity = verbosity;

  // Under a launcher with several ranks only a search is spread; every other command runs on rank
  // 0 alone (the others would write the same files).
  if (!*search_cmd && launched_rank() > 0) return kExitOk;
  std::unique_ptr<Cluster> cluster;
  const int rc = [&]() -> int {
    try {
      if (*synth_cmd) {
        synth.write_images = !synth_no_images;
        synth.threads = threads;
        return app::run_synth(synth_out, synth);
      }
      if (*search_cmd) {
        apply_tabular_text(search_text, &search.settings.tabular);
        search.settings.calibrate = parse_calibration(search_calibrate);
        apply_image_text(image_text, &search.settings.images);
        apply_fusion_text(fusion_text, &search.settings.fusion, &search.settings.ensemble);
        search.settings.images.vision.threads = threads;
        search.settings.threads = threads;
        cluster = Cluster::join();  // nullptr for a single process: MPI stays uninitialised
        return app::run_search_command(search, cluster.get());
      }
      if (*train_cmd) {
        apply_tabular_text(train_text, &train.settings.tabular);
        train.settings.calibrate = parse_calibration(train_calibrate);
        apply_image_text(train_image_text, &train.settings.images);
        apply_fusion_text(train_fusion_text, &train.settings.fusion, nullptr);
        train.settings.tabular.forest.threads = threads;
        train.settings.tabular.gbdt.threads = kGbdtThreads;
        train.settings.threads = threads;
        train.settings.images.vision.threads = threads;
        return app::run_train(train);
      }
      if (*predict_cmd) {
        predict.threads = threads;
        return app::run_predict(predict);
      }
      if (*inspect_cmd) return app::run_inspect(inspect);
      if (*report_cmd) return app::run_report(report_dir);
      if (*demo_cmd) {
        demo.settings.threads = threads;
        demo.settings.images.vision.threads = threads;
        demo.synth.threads = threads;
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

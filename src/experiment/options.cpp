// The option tables of the experiment's settings (search, train, the metadata and image branches)
// and settings.json, built from them. The stages' own tables (forest, gbdt, sampling, vision,
// preprocessing, fusion, ensemble) are declared with their structs.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <stdexcept>  // for logic_error

#include "experiment/per_modality.h"  // for per_modality_knob
#include "woundphase/bundle.h"
#include "woundphase/experiment_options.h"
#include "woundphase/modality.h"
#include "woundphase/options_json.h"
#include "woundphase/search_settings.h"

namespace woundphase {
namespace {

constexpr int kMaxThreads = 256;

constexpr std::initializer_list<DecisionRule> kDecisionRules = {
    DecisionRule::kArgmax, DecisionRule::kExpected, DecisionRule::kThresholds};
constexpr char kDecisionDoc[] =
    "phase from probabilities: argmax; expected grade (0 p_I + p_P + 2 p_R) rounded; or cut at "
    "two thresholds fitted for QWK on training patients' out-of-fold predictions";

}  // namespace

const OptionTable<TabularSettings>& tabular_options() {
  static const OptionTable<TabularSettings> table = [] {
    using S = TabularSettings;
    OptionTable<S> t;
    t.add_choice("--model", &S::model,
                 {TreeModelKind::kForest, TreeModelKind::kGbdt, TreeModelKind::kStack},
                 "tree model: rf (our random forest), gbdt (XGBoost boosting), stack (logistic "
                 "regression on both's out-of-fold probabilities)");
    t.add("--ordinal", &S::ordinal,
          "Frank & Hall: two cumulative binary models, P(y > I) and P(y > P), per tree model");
    // One class weighting for whichever tree model runs: recorded in the forest and gbdt sections.
    t.add_computed(
         "--class-weight", OptionType::kChoice,
         [](const S& s) -> OptionValue { return to_string(s.forest.class_weight); },
         [](S& s, const OptionValue& v) {
           s.forest.class_weight = parse_class_weight(option_as<std::string>(v, "--class-weight"));
           s.gbdt.class_weight = s.forest.class_weight;
         },
         "balanced: n / (k n_c) over the classes present; frequency: n_c / n; none: 1")
        .names({"balanced", "frequency", "none"})
        .recorded_elsewhere();
    t.add("--inner-folds", &S::inner_folds,
          "inner patient folds for out-of-fold probabilities where out-of-bag ones are missing")
        .range(2, 20);
    t.add("--tune", &S::tune,
          "nested random search of N tree-branch configurations (model, forest and boosting "
          "parameters, --ordinal, sampling, class weights, decision rule) inside each training "
          "fold, scored by inner out-of-fold QWK; 0: off")
        .range(0, 1000);
    t.add("--tune-budget", &S::tune_budget,
          "seconds one tuning may spend (then the best so far); 0: no limit")
        .range(0, 1e6);
    t.include(sampling_options(), &S::sampling);
    t.include(forest_options(), &S::forest);
    t.include(gbdt_options(), &S::gbdt);
    t.include(clean_options(), &S::clean);
    return t;
  }();
  return table;
}

const OptionTable<ImageBranchSettings>& image_branch_options() {
  static const OptionTable<ImageBranchSettings> table = [] {
    using S = ImageBranchSettings;
    OptionTable<S> t;
    t.include(vision_options(), &S::vision);
    t.include(preprocess_options(), &S::preprocess);
    // One size for the crops and the network that takes them.
    t.add_computed(
         "--image-size", OptionType::kInt,
         [](const S& s) -> OptionValue { return static_cast<long long>(s.vision.image_size); },
         [](S& s, const OptionValue& v) {
           s.vision.image_size = option_as<int>(v, "--image-size");
           s.preprocess.image_size = s.vision.image_size;
         },
         "side of the square crops")
        .one_of(kImageSizes);
    t.add("--validation-fraction", &S::validation_fraction,
          "share of training patients held out for early stopping and stage 2")
        .range(0, 0.5)
        .open_low();
    t.add("--gen-aug-dir", &S::gen_aug_dir,
          "pre-generated training images: DIR/<modality>/I|P|R/ (a modality without its folder "
          "gets none) or DIR/I|P|R/ for every modality; never validation or test");
    t.add("--gen-aug-probability", &S::gen_aug_probability,
          "chance that a training batch (branch or stage 2) gets generated images")
        .range(0, 1);
    t.add("--gen-aug-mix", &S::gen_aug_mix,
          "share of such a batch's images replaced by generated ones of the same class")
        .range(0, 1)
        .open_low();
    t.add("--image-cache", &S::cache_dir, "folder for a disk cache of decoded crops").context();
    // Recorded as the augmentation's settings ("augment" in settings.json).
    t.add_computed(
         "--no-augment", OptionType::kBool,
         [](const S& s) -> OptionValue { return !s.augment.any(); },
         [](S& s, const OptionValue& v) {
           s.augment =
               option_as<bool>(v, "--no-augment") ? AugmentSettings{} : AugmentSettings::training();
         },
         "no flips, rotations, brightness, contrast or noise in training")
        .recorded_elsewhere();
    return t;
  }();
  return table;
}

const OptionTable<SearchSettings>& search_options() {
  static const OptionTable<SearchSettings> table = [] {
    using S = SearchSettings;
    OptionTable<S> t;
    t.add("--cv-folds", &S::cv_folds, "patient folds; 1 = one split by --train-fraction")
        .range(1, 50);
    t.add("--runs", &S::runs, "repeats; run r uses seed --seed + r (and its own folds)")
        .range(1, 1000);
    t.add("--seed", &S::seed, "base seed");
    t.add("--train-fraction", &S::train_fraction, "training share of patients when --cv-folds 1")
        .range(0, 1)
        .open_low()
        .open_high();
    t.add("--data-percentage", &S::data_percentage,
          "keep this % of patients (stratified, seeded) before splitting")
        .range(0, 100)
        .open_low();
    t.add("--shuffle-labels", &S::shuffle_labels,
          "permute training labels: the leakage check, kappa must be near 0");
    // Applied when the outputs are written: stored jobs do not depend on them, so settings.json
    // (what a resume compares) leaves them out.
    t.add("--alpha", &S::alpha,
          "significance level of the paired comparisons (comparisons.csv, Holm-adjusted)")
        .range(0, 0.5)
        .open_low()
        .context();
    t.add_choice("--calibrate", &S::calibrate,
                 {CalibrationMethod::kNone, CalibrationMethod::kTemperature},
                 "temperature: one per fold, fitted on training patients' predictions")
        .context();
    t.add_choice("--decision", &S::decision, kDecisionRules, kDecisionDoc);
    t.add_choice("--clean-protocol", &S::clean_protocol,
                 {CleanProtocol::kHonest, CleanProtocol::kOptimistic},
                 "honest: --clean inside each training fold; optimistic: the predecessor's flags "
                 "from the outer CV itself, only to measure its optimism (labelled in every "
                 "output)");
    t.add("--threads", &S::threads, "worker threads").range(1, kMaxThreads).run_context();
    return t;
  }();
  return table;
}

const OptionTable<TrainSettings>& train_options() {
  static const OptionTable<TrainSettings> table = [] {
    using S = TrainSettings;
    OptionTable<S> t;
    t.add("--seed", &S::seed, "seed");
    t.add_choice("--calibrate", &S::calibrate,
                 {CalibrationMethod::kNone, CalibrationMethod::kTemperature},
                 "temperature: fitted on the validation patients, stored in the bundle");
    t.add_choice("--decision", &S::decision, kDecisionRules, kDecisionDoc);
    t.add("--threads", &S::threads, "worker threads").range(1, kMaxThreads).run_context();
    return t;
  }();
  return table;
}

void TabularSettings::validate() const { tabular_options().validate(*this); }

void ImageBranchSettings::validate() const {
  vision.validate();  // the TorchScript file too
  for (ImageModality m : kImageModalities)
    if (per_modality.count(to_string(m)) != 0) {
      try {
        vision_for(m).validate();
      } catch (const InputError& e) {
        throw InputError(fmt::format("{} (the value for {})", e.what(), to_string(m)));
      }
    }
  for (const auto& [name, values] : per_modality) {
    bool known = false;
    for (ImageModality m : kImageModalities) known = known || name == to_string(m);
    if (!known)
      throw InputError(fmt::format("per-modality image settings: no modality '{}'", name));
  }
  image_branch_options().validate(*this);
  augment.validate();
  if (vision.image_size != preprocess.image_size)
    throw std::logic_error("vision and preprocessing image sizes differ");
}

void SearchSettings::validate() const {
  if (combinations.empty()) throw InputError("--modalities: no combination given");
  search_options().validate(*this);
  tabular.validate();
  if (uses_images()) images.validate();
  if (uses_fusion()) fusion.validate();
  ensemble.validate();
}

const OptionTable<PredictSettings>& predict_options() {
  static const OptionTable<PredictSettings> table = [] {
    using S = PredictSettings;
    OptionTable<S> t;
    t.add("--explain", &S::explain,
          "write explanations.csv beside --out: each clinical feature's TreeSHAP contribution per "
          "visit-wound and class")
        .context();
    t.add("--report", &S::report,
          "write predictions.html beside --out: per visit-wound the probabilities, the decision, "
          "the modalities used and the top contributing clinical features")
        .context();
    t.add("--require-all", &S::require_all,
          "predict only visit-wounds that have every modality of the bundle's combination (by "
          "default one lacking images is predicted from the modalities it has)");
    t.add("--threads", &S::threads, "threads").range(1, kMaxThreads).run_context();
    return t;
  }();
  return table;
}

void PredictSettings::validate() const { predict_options().validate(*this); }

void TrainSettings::validate() const {
  train_options().validate(*this);
  tabular.validate();
  bool images_used = false;
  for (Modality m : combination) images_used = images_used || is_image(m);
  if (images_used) images.validate();
  if (combination.size() > 1) fusion.validate();
}

nlohmann::json SearchSettings::to_json() const {
  std::vector<std::string> combos;
  for (const auto& c : combinations) combos.push_back(to_string(c));
  nlohmann::json out = options_to_json(search_options(), *this);
  out["modalities"] = combos;
  out.update(options_to_json(tabular_options(), tabular));
  out.update(options_to_json(sampling_options(), tabular.sampling));
  out["forest"] = options_to_json(forest_options(), tabular.forest);
  out["gbdt"] = options_to_json(gbdt_options(), tabular.gbdt);
  if (ensemble.kind != EnsembleKind::kNone)
    out["ensemble"] = options_to_json(ensemble_options(), ensemble);
  if (uses_fusion()) out["fusion"] = options_to_json(fusion_options(), fusion);
  // Image settings are recorded only when an image modality is searched, so metadata-only runs
  // stay comparable (and resumable) whatever the image defaults are.
  if (!uses_images()) return out;
  nlohmann::json im = options_to_json(vision_options(), images.vision);
  im.update(options_to_json(preprocess_options(), images.preprocess));
  im.update(options_to_json(image_limits_options(), images.preprocess.limits));
  im.update(options_to_json(image_branch_options(), images));
  // Only when given, so searches without them stay comparable (and resumable) as before.
  if (!images.per_modality.empty()) {
    nlohmann::json per = nlohmann::json::object();
    for (const auto& [modality, values] : images.per_modality)
      for (const auto& [flag, text] : values)
        per[modality][per_modality_knob(flag)->key] =
            option_json(per_modality_knob(flag)->parse(text));
    im["per_modality"] = per;
  }
  const auto& a = images.augment;
  im["crop"] = images.preprocess.fingerprint();
  im["augment"] = {{"flips", a.flips},
                   {"rotation_deg", a.rotation_deg},
                   {"brightness", a.brightness},
                   {"contrast", a.contrast},
                   {"noise", a.noise}};
  out["images"] = im;
  return out;
}

}  // namespace woundphase

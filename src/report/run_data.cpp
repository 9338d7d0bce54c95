// Reading a search output folder for the report, and the report's statistics.
#include "report/run_data.h"

#include <fmt/format.h>

#include <algorithm>  // for sort, unique, lower_bound
#include <cerrno>     // for errno
#include <cstdlib>    // for strtod, strtol
#include <filesystem>
#include <fstream>
#include <sstream>
#include <variant>

#include "woundphase/dataset.h"
#include "woundphase/random.h"  // for uniform_index
#include "woundphase/report.h"  // for kSkippedImagesFile
#include "woundphase/stats.h"   // for percentile

namespace fs = std::filesystem;

namespace woundphase::report {
namespace {

const std::vector<std::string> kDefaultClassLabels = {"I", "P", "R"};

// Field access with errors naming file, line and column.
class Reader {
 public:
  explicit Reader(const CsvTable& table) : table_(table) {}

  int column(const std::string& name) const {
    const int c = table_.column_index(name);
    if (c < 0) {
      std::string header;
      for (const auto& h : table_.header) header += (header.empty() ? "" : ", ") + h;
      throw InputError(
          fmt::format("{}:1: missing column '{}' (header: {})", table_.path, name, header));
    }
    return c;
  }

  const std::string& text(size_t row, int col) const { return table_.rows[row][col]; }

  [[noreturn]] void fail(size_t row, int col, const std::string& what) const {
    throw InputError(fmt::format("{}:{}: column '{}': {}", table_.path, table_.line_of_row[row],
                                 table_.header[col], what));
  }

  long integer(size_t row, int col) const {
    const std::string& s = text(row, col);
    errno = 0;
    char* end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || end != s.c_str() + s.size() || errno != 0)
      fail(row, col, fmt::format("'{}' is not an integer", s));
    return v;
  }

  // A number; blank fields are an error unless `blank_ok`, then NaN.
  double number(size_t row, int col, bool blank_ok = false) const {
    const std::string& s = text(row, col);
    if (s.empty()) {
      if (blank_ok) return NAN;
      fail(row, col, "empty field, expected a number");
    }
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size()) fail(row, col, fmt::format("'{}' is not a number", s));
    return v;
  }

  int label(size_t row, int col, const std::vector<std::string>& labels) const {
    const std::string& s = text(row, col);
    for (size_t k = 0; k < labels.size(); ++k)
      if (labels[k] == s) return static_cast<int>(k);
    std::string known;
    for (const auto& l : labels) known += (known.empty() ? "" : ", ") + l;
    fail(row, col, fmt::format("unknown class '{}' (classes: {})", s, known));
  }

  size_t rows() const { return table_.rows.size(); }

 private:
  const CsvTable& table_;
};

// A blank number reads as NaN instead of an error (Field::blank_ok).
constexpr bool kBlankIsNaN = true;

// One column of a CSV file read into one member of Row.
template <typename Row>
struct Field {
  const char* column;
  std::variant<std::string Row::*, int Row::*, long Row::*, double Row::*> member;
  bool blank_ok = false;  // numbers only
};

// The required columns of a table, each read into its member of Row: the columns are looked up
// (a missing one is an error) in the order given, and each row's fields read in that order, so
// the first problem named is the first a reader going left to right would meet.
template <typename Row>
class Fields {
 public:
  Fields(const Reader& reader, std::vector<Field<Row>> fields)
      : reader_(reader), fields_(std::move(fields)) {
    for (const Field<Row>& f : fields_) columns_.push_back(reader_.column(f.column));
  }

  Row read(size_t row) const {
    Row out;
    for (size_t k = 0; k < fields_.size(); ++k) {
      const Field<Row>& f = fields_[k];
      const int col = columns_[k];
      if (const auto* text = std::get_if<std::string Row::*>(&f.member)) {
        out.** text = reader_.text(row, col);
      } else if (const auto* integer = std::get_if<int Row::*>(&f.member)) {
        out.** integer = static_cast<int>(reader_.integer(row, col));
      } else if (const auto* count = std::get_if<long Row::*>(&f.member)) {
        out.** count = reader_.integer(row, col);
      } else {
        out.*std::get<double Row::*>(f.member) = reader_.number(row, col, f.blank_ok);
      }
    }
    return out;
  }

  // Every row of the table.
  std::vector<Row> read_all() const {
    std::vector<Row> out;
    for (size_t i = 0; i < reader_.rows(); ++i) out.push_back(read(i));
    return out;
  }

 private:
  const Reader& reader_;
  std::vector<Field<Row>> fields_;
  std::vector<int> columns_;
};

std::vector<std::string> labels_from_settings(const nlohmann::json& settings,
                                              const std::string& path) {
  const auto schema = settings.find("schema");
  if (schema == settings.end() || !schema->is_object()) return kDefaultClassLabels;
  const auto labels = schema->find("class_labels");
  if (labels == schema->end()) return kDefaultClassLabels;
  std::vector<std::string> out;
  if (labels->is_array())
    for (const auto& l : *labels)
      if (l.is_string()) out.push_back(l.get<std::string>());
  if (out.size() != static_cast<size_t>(kNumClasses) || !labels->is_array())
    throw InputError(
        fmt::format("{}: schema.class_labels must be an array of {} strings", path, kNumClasses));
  return out;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open file for reading", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    nlohmann::json j = nlohmann::json::parse(buffer.str());
    if (!j.is_object()) throw InputError(fmt::format("{}: expected a JSON object", path));
    return j;
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(fmt::format("{}: not valid JSON ({})", path, e.what()));
  }
}

std::vector<ResultRow> read_results(const std::string& path,
                                    const std::vector<std::string>& labels) {
  const CsvTable table = read_csv(path);
  const Reader r(table);
  const int c_mod = r.column("modalities");
  const int c_n = r.column("n_samples");
  const int c_qm = r.column("qwk_mean");
  const int c_qs = r.column("qwk_std");
  const int c_km = r.column("kappa_mean");
  const int c_ks = r.column("kappa_std");
  const int c_acc = r.column("accuracy_mean");
  const int c_f1 = r.column("macro_f1_mean");
  std::array<int, kNumClasses> c_class{};
  for (int k = 0; k < kNumClasses; ++k) c_class[k] = r.column("f1_" + labels[k]);
  const int c_common = table.column_index("n_common");
  std::vector<ResultRow> out;
  for (size_t i = 0; i < r.rows(); ++i) {
    ResultRow row;
    row.modalities = r.text(i, c_mod);
    row.n_samples = r.integer(i, c_n);
    row.qwk = {r.number(i, c_qm), r.number(i, c_qs)};
    row.kappa = {r.number(i, c_km), r.number(i, c_ks)};
    row.accuracy = r.number(i, c_acc);
    row.macro_f1 = r.number(i, c_f1);
    for (int k = 0; k < kNumClasses; ++k) row.f1[k] = r.number(i, c_class[k]);
    if (c_common >= 0) {
      row.has_common = true;
      row.n_common = r.integer(i, c_common);
      row.qwk_common = {r.number(i, r.column("qwk_common_mean")),
                        r.number(i, r.column("qwk_common_std"))};
    }
    const auto optional_number = [&](const char* name) {
      const int c = table.column_index(name);
      return c < 0 ? NAN : r.number(i, c, /*blank_ok=*/true);
    };
    row.f1_weighted = optional_number("f1_weighted");
    row.ece = optional_number("ece");
    row.brier = optional_number("brier");
    row.log_loss = optional_number("log_loss");
    row.has_calibrated = table.column_index("temperature_mean") >= 0;
    row.temperature = optional_number("temperature_mean");
    row.ece_calibrated = optional_number("ece_calibrated");
    row.brier_calibrated = optional_number("brier_calibrated");
    row.log_loss_calibrated = optional_number("log_loss_calibrated");
    for (const auto& seen : out)
      if (seen.modalities == row.modalities)
        r.fail(i, c_mod, fmt::format("combination '{}' appears twice", row.modalities));
    out.push_back(std::move(row));
  }
  if (out.empty()) throw InputError(fmt::format("{}: no result rows", path));
  return out;
}

std::vector<FoldRow> read_folds(const std::string& path, bool* has_stage_columns) {
  const CsvTable table = read_csv(path);
  const Reader r(table);
  const Fields<FoldRow> fields(r, {{"run", &FoldRow::run},
                                   {"fold", &FoldRow::fold},
                                   {"modalities", &FoldRow::modalities},
                                   {"n_train", &FoldRow::n_train},
                                   {"n_test", &FoldRow::n_test},
                                   {"qwk", &FoldRow::qwk},
                                   {"kappa", &FoldRow::kappa},
                                   {"accuracy", &FoldRow::accuracy},
                                   {"macro_f1", &FoldRow::macro_f1}});
  std::array<int, kNumStages> c_stage{};
  *has_stage_columns = false;
  for (int s = 0; s < kNumStages; ++s) {
    c_stage[s] = table.column_index(kStageColumns[s]);
    *has_stage_columns = *has_stage_columns || c_stage[s] >= 0;
  }
  std::vector<FoldRow> out;
  for (size_t i = 0; i < r.rows(); ++i) {
    FoldRow row = fields.read(i);
    for (int s = 0; s < kNumStages; ++s)
      if (c_stage[s] >= 0) row.stage_qwk[s] = r.number(i, c_stage[s], /*blank_ok=*/true);
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<PredictionRow> read_predictions(const std::string& path,
                                            const std::vector<std::string>& labels) {
  const CsvTable table = read_csv(path);
  const Reader r(table);
  const int c_run = r.column("run");
  const int c_fold = r.column("fold");
  const int c_mod = r.column("modalities");
  const int c_patient = r.column("patient");
  const int c_appt = r.column("appt");
  const int c_dfu = r.column("dfu");
  const int c_label = r.column("label");
  const int c_pred = r.column("pred");
  std::array<int, kNumClasses> c_prob{};
  bool has_prob = true;
  for (int k = 0; k < kNumClasses; ++k) {
    c_prob[k] = table.column_index("prob_" + labels[k]);
    has_prob = has_prob && c_prob[k] >= 0;
  }
  std::vector<PredictionRow> out;
  out.reserve(r.rows());
  for (size_t i = 0; i < r.rows(); ++i) {
    PredictionRow row;
    row.run = static_cast<int>(r.integer(i, c_run));
    row.fold = static_cast<int>(r.integer(i, c_fold));
    row.modalities = r.text(i, c_mod);
    row.patient = r.text(i, c_patient);
    row.appt = r.text(i, c_appt);
    row.dfu = r.text(i, c_dfu);
    row.label = r.label(i, c_label, labels);
    row.pred = r.label(i, c_pred, labels);
    if (has_prob)
      for (int k = 0; k < kNumClasses; ++k) row.prob[k] = r.number(i, c_prob[k], /*blank_ok=*/true);
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<ComparisonRow> read_comparisons(const std::string& path) {
  using C = ComparisonRow;
  const CsvTable table = read_csv(path);
  const Reader r(table);
  const Fields<C> fields(r, {{"a", &C::a},
                             {"b", &C::b},
                             {"n_common", &C::n_common},
                             {"qwk_a", &C::qwk_a, kBlankIsNaN},
                             {"qwk_b", &C::qwk_b, kBlankIsNaN},
                             {"qwk_diff", &C::qwk_diff, kBlankIsNaN},
                             {"diff_ci_low", &C::diff_ci_low, kBlankIsNaN},
                             {"diff_ci_high", &C::diff_ci_high, kBlankIsNaN},
                             {"p_corrected_t", &C::p_corrected_t, kBlankIsNaN},
                             {"p_wilcoxon", &C::p_wilcoxon, kBlankIsNaN},
                             {"p_mcnemar", &C::p_mcnemar, kBlankIsNaN},
                             {"p_holm", &C::p_holm, kBlankIsNaN}});
  const int c_sig = r.column("significant");
  const int c_alpha = table.column_index("alpha");
  std::vector<ComparisonRow> out;
  for (size_t i = 0; i < r.rows(); ++i) {
    ComparisonRow c = fields.read(i);
    const std::string& sig = r.text(i, c_sig);
    if (sig != "yes" && sig != "no") r.fail(i, c_sig, fmt::format("'{}' is not yes or no", sig));
    c.significant = sig == "yes";
    if (c_alpha >= 0) c.alpha = r.number(i, c_alpha, true);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<ImportanceRow> read_importance(const std::string& path) {
  using I = ImportanceRow;
  const CsvTable table = read_csv(path);
  const Reader r(table);
  return Fields<I>(r, {{"run", &I::run},
                       {"fold", &I::fold},
                       {"feature", &I::feature},
                       {"mean_abs_contribution", &I::mean_abs_contribution},
                       {"scale", &I::scale},
                       {"permutation_qwk_drop", &I::permutation_qwk_drop, kBlankIsNaN},
                       {"permutations", &I::permutations}})
      .read_all();
}

std::vector<DegradedRow> read_degraded(const std::string& path) {
  using D = DegradedRow;
  const CsvTable table = read_csv(path);
  const Reader r(table);
  return Fields<D>(r, {{"run", &D::run},
                       {"fold", &D::fold},
                       {"modalities", &D::modalities},
                       {"used", &D::used},
                       {"n", &D::n},
                       {"qwk_used", &D::qwk_used, kBlankIsNaN},
                       {"qwk_all", &D::qwk_all, kBlankIsNaN}})
      .read_all();
}

std::vector<ComplementarityRow> read_complementarity(const std::string& path) {
  using C = ComplementarityRow;
  const CsvTable table = read_csv(path);
  const Reader r(table);
  return Fields<C>(r, {{"a", &C::a},
                       {"b", &C::b},
                       {"kind", &C::kind},
                       {"n", &C::n},
                       {"accuracy_a", &C::accuracy_a, kBlankIsNaN},
                       {"accuracy_b", &C::accuracy_b, kBlankIsNaN},
                       {"error_overlap", &C::error_overlap, kBlankIsNaN},
                       {"yules_q", &C::yules_q, kBlankIsNaN},
                       {"disagreement", &C::disagreement, kBlankIsNaN},
                       {"oracle_accuracy", &C::oracle_accuracy, kBlankIsNaN},
                       {"fusion_gain", &C::fusion_gain, kBlankIsNaN}})
      .read_all();
}

std::vector<SplitRow> read_splits(const std::string& path) {
  const CsvTable table = read_csv(path);
  const Reader r(table);
  return Fields<SplitRow>(
             r,
             {{"run", &SplitRow::run}, {"patient", &SplitRow::patient}, {"fold", &SplitRow::fold}})
      .read_all();
}

std::vector<CurvePoint> read_curves(const std::string& path) {
  using P = CurvePoint;
  const CsvTable table = read_csv(path);
  const Reader r(table);
  return Fields<P>(r, {{"run", &P::run},
                       {"fold", &P::fold},
                       {"modalities", &P::modalities},
                       {"component", &P::component},
                       {"epoch", &P::epoch},
                       {"loss", &P::loss, kBlankIsNaN},
                       {"val_qwk", &P::val_qwk, kBlankIsNaN}})
      .read_all();
}

// skipped_images.csv: frames per modality.
std::map<std::string, long> read_skipped_images(const std::string& path) {
  const CsvTable table = read_csv(path);
  const Reader r(table);
  r.column("file");
  const int c_modality = r.column("modality");
  r.column("reason");
  std::map<std::string, long> out;
  for (size_t i = 0; i < r.rows(); ++i) ++out[r.text(i, c_modality)];
  return out;
}

}  // namespace

RunData load_run(const std::string& run_dir) {
  const fs::path dir(run_dir);
  if (!fs::is_directory(dir))
    throw InputError(fmt::format("{}: not a folder (expected a search output folder)", run_dir));
  RunData data;
  auto path_of = [&](const char* name) { return (dir / name).string(); };
  auto require = [&](const char* name) {
    std::string path = path_of(name);
    if (!fs::is_regular_file(path))
      throw InputError(fmt::format(
          "{}: file not found (a search writes results.csv, folds.csv and predictions.csv; is {} "
          "a search output folder?)",
          path, run_dir));
    data.files_read.emplace_back(name);
    return path;
  };
  auto optional = [&](const char* name) {
    std::string path = path_of(name);
    if (!fs::is_regular_file(path)) return std::string();
    data.files_read.emplace_back(name);
    return path;
  };

  const std::string results_path = require("results.csv");
  const std::string folds_path = require("folds.csv");
  const std::string predictions_path = require("predictions.csv");
  const std::string settings_path = optional("settings.json");
  data.class_labels = kDefaultClassLabels;
  if (!settings_path.empty()) {
    data.settings = read_json(settings_path);
    data.has_settings = true;
    data.class_labels = labels_from_settings(data.settings, settings_path);
  }
  data.results = read_results(results_path, data.class_labels);
  data.folds = read_folds(folds_path, &data.has_stage_columns);
  data.predictions = read_predictions(predictions_path, data.class_labels);
  if (const std::string p = optional("oof_predictions.csv"); !p.empty())
    data.oof_predictions = read_predictions(p, data.class_labels);
  if (const std::string p = optional("splits.csv"); !p.empty()) {
    data.splits = read_splits(p);
    data.has_splits = true;
  }
  if (const std::string p = optional("training_curves.csv"); !p.empty()) {
    data.curves = read_curves(p);
    data.has_curves = true;
  }
  if (const std::string p = optional(kSkippedImagesFile); !p.empty()) {
    data.skipped_by_modality = read_skipped_images(p);
    data.has_skipped_images = true;
  }
  if (const std::string p = optional("comparisons.csv"); !p.empty()) {
    data.comparisons = read_comparisons(p);
    data.has_comparisons = true;
  }
  if (const std::string p = optional("complementarity.csv"); !p.empty()) {
    data.complementarity = read_complementarity(p);
    data.has_complementarity = true;
  }
  if (const std::string p = optional("degraded.csv"); !p.empty()) {
    data.degraded = read_degraded(p);
    data.has_degraded = true;
  }
  if (const std::string p = optional("importance.csv"); !p.empty()) {
    data.importance = read_importance(p);
    data.has_importance = true;
  }
  return data;
}

Confusion pooled_confusion(const std::vector<const PredictionRow*>& predictions) {
  Confusion c{};
  for (const PredictionRow* p : predictions) ++c[p->label][p->pred];
  return c;
}

Interval bootstrap_pooled_qwk(const std::vector<const PredictionRow*>& predictions, int replicates,
                              unsigned long long seed, double level) {
  Interval out;
  if (predictions.empty()) return out;
  // Patients and runs in sorted order, so the result does not depend on the rows' order.
  std::vector<std::string> patients;
  std::vector<int> runs;
  for (const PredictionRow* p : predictions) {
    patients.push_back(p->patient);
    runs.push_back(p->run);
  }
  std::sort(patients.begin(), patients.end());
  patients.erase(std::unique(patients.begin(), patients.end()), patients.end());
  std::sort(runs.begin(), runs.end());
  runs.erase(std::unique(runs.begin(), runs.end()), runs.end());
  const size_t n_patients = patients.size();
  const size_t n_runs = runs.size();

  // Confusion matrix of each (run, patient).
  std::vector<Confusion> cell(n_runs * n_patients, Confusion{});
  for (const PredictionRow* p : predictions) {
    const size_t pi =
        std::lower_bound(patients.begin(), patients.end(), p->patient) - patients.begin();
    const size_t ri = std::lower_bound(runs.begin(), runs.end(), p->run) - runs.begin();
    ++cell[ri * n_patients + pi][p->label][p->pred];
  }

  auto mean_qwk = [&](const std::vector<long>& weight) {
    double sum = 0;
    for (size_t r = 0; r < n_runs; ++r) {
      Confusion c{};
      for (size_t p = 0; p < n_patients; ++p) {
        if (weight[p] == 0) continue;
        const Confusion& x = cell[r * n_patients + p];
        for (int i = 0; i < kNumClasses; ++i)
          for (int j = 0; j < kNumClasses; ++j) c[i][j] += weight[p] * x[i][j];
      }
      sum += quadratic_weighted_kappa(c);
    }
    return sum / static_cast<double>(n_runs);
  };

  out.patients = static_cast<int>(n_patients);
  out.estimate = mean_qwk(std::vector<long>(n_patients, 1));
  std::vector<double> values;
  values.reserve(replicates);
  std::vector<long> weight(n_patients);
  for (int b = 0; b < replicates; ++b) {
    std::fill(weight.begin(), weight.end(), 0);
    const uint64_t replicate_seed = mix_seed(seed, static_cast<uint64_t>(b));
    for (size_t draw = 0; draw < n_patients; ++draw)
      ++weight[uniform_index(mix_seed(replicate_seed, draw), n_patients)];
    // A replicate whose QWK is undefined (one class drawn) has no value.
    if (const double v = mean_qwk(weight); !std::isnan(v)) values.push_back(v);
  }
  const double tail = (1.0 - level) / 2.0;
  out.lower = stats::percentile(values, tail);
  out.upper = stats::percentile(values, 1.0 - tail);
  out.replicates = replicates;
  return out;
}

}  // namespace woundphase::report

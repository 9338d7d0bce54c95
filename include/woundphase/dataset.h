// Reading a study folder: CSV parsing, the dataset schema (column roles), visit-wound rows and the
// feature encoder fitted on training rows only.
#pragma once

#include <nlohmann/json_fwd.hpp>  // for json
#include <string>
#include <vector>

#include "woundphase/core.h"

namespace woundphase {

// A parsed CSV file. Fields are UTF-8 text exactly as written (quotes removed, BOM stripped).
struct CsvTable {
  std::string path;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<long> line_of_row;  // 1-based line in the file where each data row starts
  int column_index(const std::string& name) const;  // -1 when absent
};

// Parses a comma-separated file (RFC 4180 quoting, CRLF or LF, optional UTF-8 BOM). Every row
// must have as many fields as the header; errors name the file and line. Only regular files are
// read (a folder, pipe or device is an InputError).
CsvTable read_csv(const std::string& path);
// The same on text already in memory; `path` is only used in messages and CsvTable::path.
CsvTable parse_csv_text(const std::string& text, const std::string& path);
// One field as written: quoted per RFC 4180 when it holds a comma, quote or line break.
std::string csv_field(const std::string& field);

// Which column plays which role. The built-in preset describes the DFU study; a TOML file can
// override any key (see README: "Dataset schema").
struct Schema {
  std::string metadata_file = "DataMaster_Processed_V12_WithMissing.csv";
  std::string patient_column = "Patient#";
  std::string visit_column = "Appt#";
  std::string wound_column = "DFU#";
  std::string label_column = "Healing Phase Abs";
  std::vector<std::string> class_labels = {"I", "P", "R"};  // ordinal order, lowest first
  // Never features: they identify the row, are free text or restate the label. A schema file's
  // list adds to the preset's (`replace_excluded = true` replaces it).
  std::vector<std::string> excluded_columns;
  // Columns the preset knows to restate the label: excluded whatever excluded_columns says,
  // unless named in allow_label_restating.
  std::vector<std::string> label_restating_columns;
  // The user's explicit acknowledgement: these columns may be features although they restate
  // (or look like they restate) the label; no exclusion, no warning.
  std::vector<std::string> allow_label_restating;
  // Text-valued columns; every other non-excluded column must be numeric.
  std::vector<std::string> categorical_columns;
  // Field values meaning "missing" (besides the empty field), in any column.
  std::vector<std::string> missing_tokens = {"NA"};

  static Schema dfu();
  // The DFU preset with the keys the TOML file sets replaced, except excluded_columns, which adds
  // to the preset's list unless `replace_excluded = true`. Unknown keys are errors.
  static Schema from_toml_file(const std::string& path);
  // Whether column `name` is kept out of the features (the patient and label columns aside).
  bool excluded(const std::string& name) const;
  // Whether a feature named `name` looks like a restatement of the label: a known restatement,
  // or a name sharing a word of 4+ letters with the label column's (case-insensitive); columns
  // in allow_label_restating never do.
  bool looks_label_restating(const std::string& name) const;
  nlohmann::json to_json() const;
  static Schema from_json(const nlohmann::json& j);
};

// One sample: a visit-wound (patient, appointment, wound) with at most one label.
struct VisitWound {
  int patient = 0;  // index into Dataset::patients
  long appt = 0;
  long dfu = 0;
  int label = -1;  // class index, -1 when the data has no labels
  long line = 0;   // line in the metadata CSV
};

struct Dataset {
  std::string dir;
  std::string metadata_path;
  Schema schema;
  bool has_labels = false;
  std::vector<std::string> patients;       // patient id text, by patient index
  std::vector<VisitWound> rows;            // visit-wounds, in file order
  std::vector<std::string> feature_names;  // metadata feature columns, in file order
  std::vector<FeatureKind> feature_kinds;
  Matrix numeric;                              // rows x features; NaN for missing or categorical
  std::vector<std::vector<std::string>> text;  // [feature][row] raw text of categorical features
  std::vector<std::string> warnings;           // things skipped or merged, for the log

  std::vector<int> labels() const;           // label per row
  std::vector<int> patient_of_rows() const;  // patient index per row
};

// Loads `dir`/schema.metadata_file. With `require_labels` a missing label column is an error;
// without it, the labels are read when present. Duplicate visit-wounds with the same label are
// merged (first kept, warning); with different labels they are an error naming both lines. A
// feature column with no value in any row is kept (the trees never split on it) with a warning.
Dataset load_dataset(const std::string& dir, const Schema& schema, bool require_labels);
// The same on a table already parsed (table.path names the file in messages); `dir` is recorded
// as Dataset::dir.
Dataset load_dataset_from_table(const CsvTable& table, const Schema& schema, bool require_labels,
                                const std::string& dir);

// Encodes metadata features as the tree models see them. Categories are learned from the rows the
// encoder is fitted on (training rows only) and coded in sorted order; a category unseen at fit
// time becomes missing, as does any missing value.
class FeatureEncoder {
 public:
  void fit(const Dataset& data, const std::vector<int>& rows);
  Matrix transform(const Dataset& data, const std::vector<int>& rows) const;
  const std::vector<FeatureInfo>& features() const { return features_; }
  nlohmann::json to_json() const;
  static FeatureEncoder from_json(const nlohmann::json& j);

 private:
  std::vector<FeatureInfo> features_;
};

// Label letters <-> class index per the schema.
int label_index(const Schema& schema, const std::string& text);  // -1 if unknown

}  // namespace woundphase

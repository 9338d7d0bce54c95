// libFuzzer target: the input is a metadata CSV in the DFU schema. It is parsed, loaded as a
// dataset (labels read when present) and encoded: the encoder is fitted on every other row and
// applies to all rows, also after a JSON round trip. Only InputError may escape.
#include <cstddef>  // for size_t
#include <cstdint>  // for uint8_t
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "woundphase/dataset.h"

namespace {

using namespace woundphase;

void check_dataset(const Dataset& data) {
  if (data.rows.empty() || data.patients.empty()) __builtin_trap();
  if (data.numeric.rows() != data.rows.size()) __builtin_trap();
  if (data.numeric.cols() != data.feature_names.size()) __builtin_trap();
  if (data.text.size() != data.feature_names.size()) __builtin_trap();
  for (const auto& row : data.rows) {
    if (row.patient < 0 || row.patient >= static_cast<int>(data.patients.size())) __builtin_trap();
    if (row.appt < 0 || row.dfu < 0) __builtin_trap();
    if (data.has_labels != (row.label >= 0) || row.label >= kNumClasses) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string text(reinterpret_cast<const char*>(bytes), size);
  try {
    const CsvTable table = parse_csv_text(text, "fuzz/DataMaster_Processed_V12_WithMissing.csv");
    const Dataset data = load_dataset_from_table(table, Schema::dfu(), false, "fuzz");
    check_dataset(data);
    std::vector<int> fit_rows;
    std::vector<int> all_rows;
    for (size_t r = 0; r < data.rows.size(); ++r) {
      all_rows.push_back(static_cast<int>(r));
      if (r % 2 == 0) fit_rows.push_back(static_cast<int>(r));
    }
    FeatureEncoder encoder;
    encoder.fit(data, fit_rows);
    const Matrix x = encoder.transform(data, all_rows);
    if (x.rows() != data.rows.size() || x.cols() != data.feature_names.size()) __builtin_trap();
    const FeatureEncoder back = FeatureEncoder::from_json(encoder.to_json());
    const Matrix y = back.transform(data, all_rows);
    for (size_t c = 0; c < x.cols(); ++c)
      for (size_t r = 0; r < x.rows(); ++r) {
        const float a = x.at(r, c);
        const float b = y.at(r, c);
        if (!(a == b || (is_missing(a) && is_missing(b)))) __builtin_trap();
      }
  } catch (const InputError&) {
    // Bad input, reported as such.
  }
  return 0;
}

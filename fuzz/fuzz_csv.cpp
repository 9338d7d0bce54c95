// libFuzzer target: the CSV reader on arbitrary bytes. Only InputError may escape parse_csv_text;
// a parsed table must be rectangular with ascending line numbers.
#include <cstddef>  // for size_t
#include <cstdint>  // for uint8_t
#include <string>

#include "woundphase/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const woundphase::CsvTable table = woundphase::parse_csv_text(text, "fuzz.csv");
    if (table.header.empty() || table.rows.size() != table.line_of_row.size()) __builtin_trap();
    long previous = 0;
    for (size_t r = 0; r < table.rows.size(); ++r) {
      if (table.rows[r].size() != table.header.size()) __builtin_trap();
      if (table.line_of_row[r] <= previous) __builtin_trap();
      previous = table.line_of_row[r];
    }
    for (const auto& name : table.header) {
      if (name.empty() || table.column_index(name) < 0) __builtin_trap();
    }
  } catch (const woundphase::InputError&) {
    // Bad input, reported as such: the expected outcome for most inputs.
  }
  return 0;
}

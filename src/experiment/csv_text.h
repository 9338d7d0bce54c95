// Internal to src/experiment: CSV output helpers.
#pragma once

#include <string>

namespace woundphase {

// A field quoted per RFC 4180 when it holds a comma, quote or line break.
inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace woundphase

// JSON out and in of an option table's knobs (settings.json, bundle.json): the keys are the
// knobs' JSON keys, the values their values (enums by name). Separate from options.h so that the
// tables themselves need no JSON library (the vision-only build has none).
#pragma once

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <stdexcept>  // for out_of_range
#include <string>

#include "woundphase/options.h"

namespace woundphase {

inline nlohmann::json option_json(const OptionValue& v) {
  return std::visit([](const auto& x) { return nlohmann::json(x); }, v);
}

// A JSON scalar as a knob's value; InputError naming `key` for arrays, objects and null.
inline OptionValue option_value(const nlohmann::json& j, const std::string& key) {
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_unsigned()) return j.get<unsigned long long>();
  if (j.is_number_integer()) return j.get<long long>();
  if (j.is_number_float()) return j.get<double>();
  if (j.is_string()) return j.get<std::string>();
  throw InputError(fmt::format("{}: {} is not a number, switch or name", key, j.dump()));
}

// The struct's own recorded knobs (results depend on them) as {key: value}; sub-settings (include)
// are left to the caller, which nests them. `all`: the unrecorded ones too.
template <typename S>
nlohmann::json options_to_json(const OptionTable<S>& table, const S& s, bool all = false) {
  nlohmann::json out = nlohmann::json::object();
  for (const Option<S>& o : table.options())
    if (!o.included && (o.recorded || all)) out[o.key] = option_json(o.get(s));
  return out;
}

// Sets the struct's own knobs that `j` names (others keep their values); InputError for a value of
// the wrong type or name. `required`: every own knob must be there (std::out_of_range naming the
// key otherwise, as json::at).
template <typename S>
void options_from_json(const OptionTable<S>& table, S& s, const nlohmann::json& j,
                       bool required = false) {
  for (const Option<S>& o : table.options()) {
    if (o.included) continue;
    if (!j.contains(o.key)) {
      if (required) throw std::out_of_range(fmt::format("key '{}' not found", o.key));
      continue;
    }
    o.set(s, option_value(j.at(o.key), o.key));
  }
}

}  // namespace woundphase

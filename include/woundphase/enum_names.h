// An enum's names, declared once: its to_string and parse functions both read the one table, and
// an unknown name is an InputError naming the option and every accepted name.
#pragma once

#include <fmt/format.h>

#include <array>
#include <cstddef>  // for size_t
#include <string>
#include <utility>  // for pair

#include "woundphase/core.h"  // for InputError

namespace woundphase {

template <typename E, size_t N>
class EnumNames {
 public:
  // `option`: the flag the names are given with ("--class-weight"), for the error message.
  constexpr EnumNames(const char* option, std::array<std::pair<E, const char*>, N> names)
      : option_(option), names_(names) {}

  // The value's name; the first name for a value outside the table (a cast integer).
  const char* name(E value) const {
    for (const auto& [v, n] : names_)
      if (v == value) return n;
    return names_[0].second;
  }

  // The value named `text`; InputError "OPTION must be one of a, b; got 'text'" otherwise.
  E parse(const std::string& text) const {
    for (const auto& [v, n] : names_)
      if (text == n) return v;
    std::string all;
    for (const auto& entry : names_) all += (all.empty() ? "" : ", ") + std::string(entry.second);
    throw InputError(fmt::format("{} must be one of {}; got '{}'", option_, all, text));
  }

 private:
  const char* option_;
  std::array<std::pair<E, const char*>, N> names_;
};

}  // namespace woundphase

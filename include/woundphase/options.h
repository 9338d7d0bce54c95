// The parameter registry: every knob of a settings struct is declared once, in that struct's
// option table (XGBoost's DMLC_DECLARE_FIELD, LightGBM's Config, in our words): its flag, its JSON
// key, its bounds or allowed names, whether results depend on it, and a one-line doc. The default
// is the struct's member initialiser, read from the struct the table is applied to. From the table
// come the command-line options and TOML keys (app/options.h binds them to CLI11), validate(),
// JSON out and in (options_json.h: settings.json, bundle.json), and the README's option tables
// (`woundphase help-options --markdown`; tests/app checks the README against it).
//
// Header-only, torch-free and JSON-free (it needs fmt alone): the tables compile into the program
// and into the dlopen'ed vision library, also in its vision-only build.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>  // for join (fmt 11 moved it here)

#include <cmath>       // for isnan, isinf, llround
#include <deque>       // for deque (stable references while a table grows)
#include <functional>  // for function
#include <initializer_list>
#include <limits>  // for numeric_limits
#include <string>
#include <type_traits>  // for is_same_v, is_enum_v, is_integral_v
#include <utility>      // for move, pair
#include <variant>
#include <vector>

#include "woundphase/core.h"  // for InputError

namespace woundphase {

enum class OptionType { kInt, kReal, kBool, kText, kChoice };

// A knob's value: integers (signed or unsigned), reals, switches, text and enum names (text).
using OptionValue = std::variant<long long, unsigned long long, double, bool, std::string>;

// The value as a number (integers and reals; 0 otherwise).
inline double option_number(const OptionValue& v) {
  if (const auto* i = std::get_if<long long>(&v)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<unsigned long long>(&v)) return static_cast<double>(*u);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return 0;
}

// The value converted to a field's type T; InputError naming `flag` when it cannot be.
template <typename T>
T option_as(const OptionValue& v, const std::string& flag) {
  if constexpr (std::is_same_v<T, bool>) {
    if (const auto* b = std::get_if<bool>(&v)) return *b;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
  } else {
    static_assert(std::is_arithmetic_v<T>, "option fields are numbers, bools or strings");
    const bool number = !std::holds_alternative<bool>(v) && !std::holds_alternative<std::string>(v);
    if (number) {
      // An integer field takes integers only (a real from a JSON file would lose its fraction).
      if (std::is_integral_v<T> && std::holds_alternative<double>(v)) {
        const double d = std::get<double>(v);
        if (d != std::floor(d)) throw InputError(fmt::format("{}: {} is not an integer", flag, d));
      }
      return static_cast<T>(option_number(v));
    }
  }
  throw InputError(fmt::format("{}: a value of the wrong type", flag));
}

// One knob of settings struct S.
template <typename S>
struct Option {
  std::string flag;  // "--trees": the command-line option; its name without dashes is the TOML key
  std::vector<std::string> aliases;  // former names ("--learning-rate"), accepted with a warning
  std::string key;                   // "trees": the key in settings.json and bundle.json
  OptionType type = OptionType::kInt;
  bool is_unsigned = false;  // kInt: an unsigned field (seeds)
  std::string doc;           // one line
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_open = false;
  bool high_open = false;
  std::vector<double> allowed;         // kInt: the only values allowed (empty: any in the bounds)
  std::vector<std::string> choices;    // kChoice: the names
  std::string bound_note;              // replaces the generated bound text ("<= 0: sqrt(p)")
  std::function<bool(double)> exempt;  // values the bounds do not apply to (max_features <= 0)
  bool recorded = true;         // written to settings.json: results depend on it (not run context)
  bool on_command_line = true;  // false: set by the program (threads from --threads, ...)
  bool included = false;        // reached through a sub-settings member (OptionTable::include)
  std::function<OptionValue(const S&)> get;
  std::function<void(S&, const OptionValue&)> set;

  // Fluent refinements, used where the table is declared.
  Option& range(double lo, double hi) {
    low = lo;
    high = hi;
    return *this;
  }
  Option& open_low() {
    low_open = true;
    return *this;
  }
  Option& open_high() {
    high_open = true;
    return *this;
  }
  template <typename Container>
  Option& one_of(const Container& values) {
    allowed.assign(values.begin(), values.end());
    return *this;
  }
  Option& note(std::string text) {
    bound_note = std::move(text);
    return *this;
  }
  Option& unless(std::function<bool(double)> f) {
    exempt = std::move(f);
    return *this;
  }
  Option& context() {  // run context (threads, device, caches): results do not depend on it
    recorded = false;
    return *this;
  }
  Option& recorded_elsewhere() {  // settings.json records it under another key or section
    recorded = false;
    return *this;
  }
  Option& names(std::vector<std::string> c) {  // a computed kChoice knob's names
    choices = std::move(c);
    return *this;
  }
  Option& run_context() {  // set by the orchestration (seed streams, --threads), never an option
    on_command_line = false;
    recorded = false;
    return *this;
  }
  Option& fixed() {  // fixed by the program (the study's classes), never an option nor recorded
    on_command_line = false;
    recorded = false;
    return *this;
  }
  Option& internal() {  // not a command-line option of this struct's commands
    on_command_line = false;
    return *this;
  }
  Option& json_key(std::string k) {
    key = std::move(k);
    return *this;
  }
  Option& alias(std::string former) {  // a former name, still accepted (deprecated)
    aliases.push_back(std::move(former));
    return *this;
  }

  bool numeric() const { return type == OptionType::kInt || type == OptionType::kReal; }

  // "[1, 10000]", "(0, 1]", "32, 64, 128 or 256", "a | b | c", "" (unbounded).
  std::string bound_text() const {
    if (!bound_note.empty()) return bound_note;
    if (type == OptionType::kChoice) return fmt::format("{}", fmt::join(choices, " | "));
    if (!allowed.empty()) {
      std::string out;
      for (size_t i = 0; i < allowed.size(); ++i) {
        if (i > 0) out += i + 1 == allowed.size() ? " or " : ", ";
        out += fmt::format("{}", allowed[i]);
      }
      return out;
    }
    if (!numeric() || (std::isinf(low) && std::isinf(high))) return "";
    if (std::isinf(high)) return fmt::format("{} {}", low_open ? ">" : ">=", low);
    return fmt::format("{}{}, {}{}", low_open ? "(" : "[", low, high, high_open ? ")" : "]");
  }

  // The value as a command-line or TOML string would give it.
  std::string text(const S& s) const {
    const OptionValue v = get(s);
    if (const auto* t = std::get_if<std::string>(&v)) return *t;
    if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
    if (const auto* d = std::get_if<double>(&v)) return fmt::format("{}", *d);
    if (const auto* u = std::get_if<unsigned long long>(&v)) return std::to_string(*u);
    return std::to_string(std::get<long long>(v));
  }

  // Parses a command-line or TOML value; InputError naming the flag.
  OptionValue parse(const std::string& text) const {
    switch (type) {
      case OptionType::kInt:
        if (is_unsigned) {
          if (text.find('-') != std::string::npos)
            throw InputError(fmt::format("{}: '{}' is not a non-negative integer", flag, text));
          return parse_whole(text, "an integer", [](const std::string& t, size_t* used) {
            return std::stoull(t, used);
          });
        }
        return parse_whole(text, "an integer",
                           [](const std::string& t, size_t* used) { return std::stoll(t, used); });
      case OptionType::kReal:
        return parse_whole(text, "a number",
                           [](const std::string& t, size_t* used) { return std::stod(t, used); });
      case OptionType::kBool:
        if (text == "true" || text == "1" || text == "on" || text == "yes") return true;
        if (text == "false" || text == "0" || text == "off" || text == "no") return false;
        throw InputError(fmt::format("{}: '{}' is not true or false", flag, text));
      case OptionType::kText:
        return text;
      case OptionType::kChoice:
        for (const std::string& c : choices)
          if (c == text) return text;
        throw InputError(
            fmt::format("{} must be one of {}; got '{}'", flag, fmt::join(choices, ", "), text));
    }
    return text;
  }

  // InputError naming the flag when the value breaks the bounds.
  void check(const S& s) const {
    if (!numeric()) return;
    const double v = option_number(get(s));
    if (exempt && exempt(v)) return;
    const std::string shown =
        type == OptionType::kInt ? fmt::format("{}", std::llround(v)) : fmt::format("{}", v);
    if (!allowed.empty()) {
      for (double a : allowed)
        if (v == a) return;
      throw InputError(fmt::format("{} must be {}, got {}", flag, bound_text(), shown));
    }
    const bool above = low_open ? v > low : v >= low;
    const bool below = high_open ? v < high : v <= high;
    if (above && below && !std::isnan(v)) return;
    if (std::isinf(high) && bound_note.empty())
      throw InputError(fmt::format("{} must be {} {}, got {}", flag,
                                   low_open ? "greater than" : "at least", low, shown));
    throw InputError(fmt::format("{} must be in {}, got {}", flag, bound_text(), shown));
  }

 private:
  // A number that is the whole text (std::sto* stop at the first character they cannot read).
  template <typename Convert>
  OptionValue parse_whole(const std::string& text, const char* what, Convert convert) const {
    try {
      size_t used = 0;
      const auto v = convert(text, &used);
      if (used == text.size()) return v;
    } catch (const std::exception&) {
      // not a number at all: the same message as trailing characters
    }
    throw InputError(fmt::format("{}: '{}' is not {}", flag, text, what));
  }
};

// The knobs of settings struct S, in declaration order.
template <typename S>
class OptionTable {
 public:
  // A plain field: an integer, a real, a bool or a std::string.
  template <typename T>
  Option<S>& add(const char* flag, T S::*field, const char* doc) {
    Option<S>& o = push(flag, doc);
    if constexpr (std::is_same_v<T, bool>) {
      o.type = OptionType::kBool;
    } else if constexpr (std::is_same_v<T, std::string>) {
      o.type = OptionType::kText;
    } else if constexpr (std::is_floating_point_v<T>) {
      o.type = OptionType::kReal;
    } else {
      static_assert(std::is_integral_v<T>, "option fields are numbers, bools or strings");
      o.type = OptionType::kInt;
      o.is_unsigned = std::is_unsigned_v<T>;
    }
    o.get = [field](const S& s) -> OptionValue {
      if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::string>) {
        return s.*field;
      } else if constexpr (std::is_floating_point_v<T>) {
        return static_cast<double>(s.*field);
      } else if constexpr (std::is_unsigned_v<T>) {
        return static_cast<unsigned long long>(s.*field);
      } else {
        return static_cast<long long>(s.*field);
      }
    };
    o.set = [field, flag = o.flag](S& s, const OptionValue& v) {
      s.*field = option_as<T>(v, flag);
    };
    return o;
  }

  // An enum field with its names: `values` in order, each named by to_string(value) (found by
  // argument-dependent lookup next to the enum).
  template <typename E>
  Option<S>& add_choice(const char* flag, E S::*field, std::initializer_list<E> values,
                        const char* doc) {
    static_assert(std::is_enum_v<E>);
    Option<S>& o = push(flag, doc);
    o.type = OptionType::kChoice;
    std::vector<std::pair<std::string, E>> named;
    for (E v : values) {
      named.emplace_back(std::string(to_string(v)), v);
      o.choices.push_back(named.back().first);
    }
    o.get = [field](const S& s) -> OptionValue { return std::string(to_string(s.*field)); };
    o.set = [field, named, flag = o.flag](S& s, const OptionValue& v) {
      const std::string text = option_as<std::string>(v, flag);
      for (const auto& [n, e] : named)
        if (n == text) {
          s.*field = e;
          return;
        }
      throw InputError(fmt::format("{}: unknown value '{}'", flag, text));
    };
    return o;
  }

  // A knob whose value is computed (several fields, an inverted flag): `type` and accessors given.
  Option<S>& add_computed(const char* flag, OptionType type,
                          std::function<OptionValue(const S&)> get,
                          std::function<void(S&, const OptionValue&)> set, const char* doc) {
    Option<S>& o = push(flag, doc);
    o.type = type;
    o.get = std::move(get);
    o.set = std::move(set);
    return o;
  }

  // Every knob of `inner`'s table, reached through the member `part` (a struct's sub-settings).
  template <typename P>
  void include(const OptionTable<P>& inner, P S::*part) {
    for (const Option<P>& io : inner.options()) {
      Option<S> o;
      o.flag = io.flag;
      o.aliases = io.aliases;
      o.key = io.key;
      o.type = io.type;
      o.is_unsigned = io.is_unsigned;
      o.doc = io.doc;
      o.low = io.low;
      o.high = io.high;
      o.low_open = io.low_open;
      o.high_open = io.high_open;
      o.allowed = io.allowed;
      o.choices = io.choices;
      o.bound_note = io.bound_note;
      o.exempt = io.exempt;
      o.recorded = io.recorded;
      o.on_command_line = io.on_command_line;
      o.included = true;
      o.get = [get = io.get, part](const S& s) { return get(s.*part); };
      o.set = [set = io.set, part](S& s, const OptionValue& v) { set(s.*part, v); };
      options_.push_back(std::move(o));
    }
  }

  const std::deque<Option<S>>& options() const { return options_; }
  // The knob of `flag`. An included table's internal knob may share its flag with one of this
  // table's own (the crops' --image-size and the branch's, which sets the crops' and the
  // network's size together): the one on the command line is the one a caller means.
  const Option<S>* find(const std::string& flag) const {
    const Option<S>* found = nullptr;
    for (const Option<S>& o : options_)
      if (o.flag == flag && (found == nullptr || (o.on_command_line && !found->on_command_line)))
        found = &o;
    return found;
  }

  // Checks every knob's bounds; InputError naming the first flag out of bounds.
  void validate(const S& s) const {
    for (const Option<S>& o : options_) o.check(s);
  }

 private:
  Option<S>& push(const char* flag, const char* doc) {
    Option<S> o;
    o.flag = flag;
    o.doc = doc;
    // The JSON key: the flag without its dashes, snake_case ("--max-depth" -> "max_depth").
    std::string key = o.flag.substr(o.flag.rfind("--", 0) == 0 ? 2 : 0);
    for (char& c : key)
      if (c == '-') c = '_';
    o.key = key;
    options_.push_back(std::move(o));
    return options_.back();
  }

  std::deque<Option<S>> options_;
};

}  // namespace woundphase

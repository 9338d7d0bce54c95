// Registry tables -> Python keywords (see knobs.h).
#include "knobs.h"

#include <fmt/format.h>
#include <pybind11/stl.h>  // for vector <-> list

#include <algorithm>  // for sort
#include <map>
#include <memory>  // for make_unique
#include <set>

#include "woundphase/bundle.h"
#include "woundphase/ensemble.h"
#include "woundphase/experiment_options.h"
#include "woundphase/fusion.h"
#include "woundphase/search_settings.h"
#include "woundphase/synth.h"

namespace woundphase::python {
namespace {

// help() groups, as the CLI's --help groups the same tables.
constexpr char kTreeGroup[] = "Metadata branch (tree model)";
constexpr char kImageGroup[] = "Image branches";
constexpr char kFusionGroup[] = "Fusion (combinations of several modalities)";

const char* type_name(OptionType t) {
  switch (t) {
    case OptionType::kInt:
      return "int";
    case OptionType::kReal:
      return "float";
    case OptionType::kBool:
      return "bool";
    case OptionType::kText:
      return "str";
    case OptionType::kChoice:
      return "choice";
  }
  return "str";
}

// Every command-line knob of `table`, reached from Root through `part`.
template <typename Root, typename S>
void add_table(Knobs<Root>* out, const OptionTable<S>& table, S& (*part)(Root&),
               const std::string& group) {
  for (const Option<S>& o : table.options()) {
    if (!o.on_command_line) continue;
    Knob<Root> k;
    k.name = keyword_of(o.flag);
    k.flag = o.flag;
    k.group = group;
    k.type = o.type;
    k.is_unsigned = o.is_unsigned;
    k.doc = o.doc;
    k.bounds = o.bound_text();
    k.choices = o.choices;
    const Option<S>* knob = &o;  // tables are static: the pointer outlives every call
    k.get = [knob, part](const Root& r) { return knob->get(part(const_cast<Root&>(r))); };
    k.set = [knob, part](Root& r, const OptionValue& v) { knob->set(part(r), v); };
    k.parse = [knob](const std::string& text) { return knob->parse(text); };
    out->push_back(std::move(k));
  }
}

template <typename Root>
void add_model_tables(Knobs<Root>* out, TabularSettings& (*tabular)(Root&),
                      ImageBranchSettings& (*images)(Root&), FusionSettings& (*fusion)(Root&)) {
  add_table(out, tabular_options(), tabular, kTreeGroup);
  add_table(out, image_branch_options(), images, kImageGroup);
  add_table(out, fusion_options(), fusion, kFusionGroup);
}

py::object to_python(const OptionValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return py::bool_(*b);
  if (const auto* i = std::get_if<long long>(&v)) return py::int_(*i);
  if (const auto* u = std::get_if<unsigned long long>(&v)) return py::int_(*u);
  if (const auto* d = std::get_if<double>(&v)) return py::float_(*d);
  return py::str(std::get<std::string>(v));
}

// A Python value as the knob's OptionValue; InputError naming the keyword when it cannot be one.
template <typename Root>
OptionValue from_python(const Knob<Root>& k, const py::handle& value) {
  const auto wrong = [&](const char* what) {
    return InputError(fmt::format("{}: expects {}{}, got {} {}", k.name, type_name(k.type),
                                  k.bounds.empty() ? "" : " (" + k.bounds + ")", what,
                                  py::repr(value).cast<std::string>()));
  };
  // str (and paths) go through the CLI's own parser: "0.5", "rf", "true" read as on the command
  // line.
  if (py::isinstance<py::str>(value)) return k.parse(value.cast<std::string>());
  const py::module_ os = py::module_::import("os");
  if (py::isinstance(value, os.attr("PathLike"))) {
    if (k.type != OptionType::kText) throw wrong("a path");
    return py::str(os.attr("fspath")(value)).cast<std::string>();
  }
  // bool before int: Python's bool is an int.
  if (py::isinstance<py::bool_>(value)) {
    if (k.type != OptionType::kBool) throw wrong("a bool");
    return value.cast<bool>();
  }
  if (py::isinstance<py::int_>(value)) {
    if (k.type != OptionType::kInt && k.type != OptionType::kReal) throw wrong("an int");
    if (k.type == OptionType::kReal) return value.cast<double>();
    if (k.is_unsigned) {
      if (value.cast<py::int_>() < py::int_(0))
        throw InputError(fmt::format("{}: '{}' is not a non-negative integer", k.name,
                                     py::str(value).cast<std::string>()));
      return value.cast<unsigned long long>();
    }
    return value.cast<long long>();
  }
  if (py::isinstance<py::float_>(value)) {
    // An integer knob takes a float only when it is whole (option_as checks it).
    if (k.type != OptionType::kInt && k.type != OptionType::kReal) throw wrong("a float");
    return value.cast<double>();
  }
  throw wrong(Py_TYPE(value.ptr())->tp_name);
}

// Every flag any command knows -> its keyword, longest first (so "--fusion-loss-x" is replaced
// before "--fusion-loss").
const std::vector<std::pair<std::string, std::string>>& flag_names() {
  static const std::vector<std::pair<std::string, std::string>> names = [] {
    std::map<std::string, std::string> all;
    for (const auto& k : search_knobs()) all[k.flag] = k.name;
    for (const auto& k : train_knobs()) all[k.flag] = k.name;
    for (const auto& k : synth_knobs()) all[k.flag] = k.name;
    // The commands' own options that are not registry knobs (app/main.cpp).
    for (const char* flag : {"--modalities", "--resume", "--schema", "--threads", "--data", "--out",
                             "--model", "--verbosity"})
      all[flag] = keyword_of(flag);
    std::vector<std::pair<std::string, std::string>> v(all.begin(), all.end());
    std::sort(v.begin(), v.end(),
              [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    return v;
  }();
  return names;
}

// A command's own table (its `settings`, of type S) under `group`, then the model tables inside
// those settings.
template <typename Root, typename S>
Knobs<Root> command_knobs(const OptionTable<S>& table, const std::string& group) {
  Knobs<Root> k;
  add_table<Root, S>(
      &k, table, [](Root& r) -> S& { return r.settings; }, group);
  add_model_tables<Root>(
      &k, [](Root& r) -> TabularSettings& { return r.settings.tabular; },
      [](Root& r) -> ImageBranchSettings& { return r.settings.images; },
      [](Root& r) -> FusionSettings& { return r.settings.fusion; });
  return k;
}

bool is_flag_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

}  // namespace

std::string keyword_of(const std::string& flag) {
  std::string key = flag.rfind("--", 0) == 0 ? flag.substr(2) : flag;
  for (char& c : key)
    if (c == '-') c = '_';
  // A Python reserved word cannot be a keyword argument: PEP 8's trailing underscore
  // (synth's --from is from_).
  static const std::set<std::string> reserved = {
      "False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
      "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
      "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
      "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield"};
  if (reserved.count(key) > 0) key += '_';
  return key;
}

const Knobs<app::SearchOptions>& search_knobs() {
  static const Knobs<app::SearchOptions> knobs = [] {
    using R = app::SearchOptions;
    Knobs<R> k = command_knobs<R, SearchSettings>(search_options(), "Search");
    add_table<R, EnsembleSettings>(
        &k, ensemble_options(), [](R& r) -> EnsembleSettings& { return r.settings.ensemble; },
        kFusionGroup);
    return k;
  }();
  return knobs;
}

const Knobs<app::TrainOptions>& train_knobs() {
  static const Knobs<app::TrainOptions> knobs =
      command_knobs<app::TrainOptions, TrainSettings>(train_options(), "Train");
  return knobs;
}

const Knobs<SynthSettings>& synth_knobs() {
  static const Knobs<SynthSettings> knobs = [] {
    Knobs<SynthSettings> k;
    add_table<SynthSettings, SynthSettings>(
        &k, synth_options(), [](SynthSettings& s) -> SynthSettings& { return s; }, "Synth");
    return k;
  }();
  return knobs;
}

template <typename Root>
py::list describe(const Knobs<Root>& knobs) {
  const auto defaults = std::make_unique<Root>();  // (on the stack, GCC 12 warns falsely)
  py::list out;
  for (const Knob<Root>& k : knobs) {
    py::dict d;
    d["name"] = k.name;
    d["flag"] = k.flag;
    d["group"] = k.group;
    d["type"] = type_name(k.type);
    d["default"] = to_python(k.get(*defaults));
    d["bounds"] = k.bounds;
    d["choices"] = k.choices;
    d["doc"] = python_message(k.doc, true);  // "by --train-fraction" -> "by `train_fraction`"
    out.append(d);
  }
  return out;
}

template <typename Root>
void apply(const Knobs<Root>& knobs, const py::dict& settings, Root* root) {
  for (const auto& [key, value] : settings) {
    const std::string name = py::str(key).cast<std::string>();
    const Knob<Root>* knob = nullptr;
    for (const Knob<Root>& k : knobs)
      if (k.name == name) knob = &k;
    if (knob == nullptr) throw InputError(fmt::format("unknown setting '{}'", name));
    knob->set(*root, from_python(*knob, value));
  }
}

std::string python_message(const std::string& message, bool quote) {
  std::string out;
  size_t i = 0;
  while (i < message.size()) {
    const bool starts_flag = message.compare(i, 2, "--") == 0 &&
                             (i == 0 || !is_flag_char(message[i - 1])) && i + 2 < message.size();
    if (starts_flag) {
      size_t end = i + 2;
      while (end < message.size() && is_flag_char(message[end])) ++end;
      const std::string flag = message.substr(i, end - i);
      bool replaced = false;
      for (const auto& [f, name] : flag_names()) {
        if (f != flag) continue;
        out += quote ? "`" + name + "`" : name;
        replaced = true;
        break;
      }
      if (replaced) {
        i = end;
        continue;
      }
    }
    out += message[i++];
  }
  return out;
}

template py::list describe(const Knobs<app::SearchOptions>&);
template py::list describe(const Knobs<app::TrainOptions>&);
template py::list describe(const Knobs<SynthSettings>&);
template void apply(const Knobs<app::SearchOptions>&, const py::dict&, app::SearchOptions*);
template void apply(const Knobs<app::TrainOptions>&, const py::dict&, app::TrainOptions*);
template void apply(const Knobs<SynthSettings>&, const py::dict&, SynthSettings*);

}  // namespace woundphase::python

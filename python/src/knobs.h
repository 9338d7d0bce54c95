// The Python keywords of woundphase.search/train/synth, derived from the parameter registry
// (woundphase/options.h): one keyword per command-line knob, named as its flag in snake_case
// (--cv-folds -> cv_folds), with the knob's default, bounds, parser and doc. Nothing is declared
// here: a knob added to a table is a keyword of every command that binds that table.
#pragma once

#include <pybind11/pybind11.h>

#include <functional>  // for function
#include <string>
#include <vector>

#include "commands.h"  // for SearchOptions, TrainOptions (app/)
#include "woundphase/options.h"

namespace woundphase::python {

namespace py = pybind11;

// One keyword of a command whose options live in struct Root.
template <typename Root>
struct Knob {
  std::string name;   // "cv_folds"
  std::string flag;   // "--cv-folds"
  std::string group;  // "Search", "Image branches", ... (help() groups them)
  OptionType type = OptionType::kInt;
  bool is_unsigned = false;
  std::string doc;
  std::string bounds;  // "[1, 10000]", "rf | gbdt", "" (none)
  std::vector<std::string> choices;
  std::function<OptionValue(const Root&)> get;
  std::function<void(Root&, const OptionValue&)> set;
  std::function<OptionValue(const std::string&)> parse;  // the CLI's parser (text values)
};

template <typename Root>
using Knobs = std::vector<Knob<Root>>;

// The keywords of each command, in --help order.
const Knobs<app::SearchOptions>& search_knobs();
const Knobs<app::TrainOptions>& train_knobs();
const Knobs<SynthSettings>& synth_knobs();

// "cv-folds" style flag -> "cv_folds".
std::string keyword_of(const std::string& flag);

// The knobs as Python dicts (name, flag, group, type, default, bounds, choices, doc): what the
// package builds signatures and help() from.
template <typename Root>
py::list describe(const Knobs<Root>& knobs);

// Sets each keyword of `settings` (a dict name -> Python value) on `root`: str values go through
// the CLI's parser, numbers and bools are checked against the knob's type. InputError naming the
// keyword for a value of the wrong type; KeyError-like InputError for an unknown name is the
// Python layer's job (it raises TypeError before calling here).
template <typename Root>
void apply(const Knobs<Root>& knobs, const py::dict& settings, Root* root);

// An error message (or a knob's doc) with every command-line flag it names replaced by its Python
// keyword ("--trees must be in [1, 10000]" -> "trees must be in [1, 10000]"), in backquotes when
// `quote` ("split by `train_fraction`").
std::string python_message(const std::string& message, bool quote = false);

}  // namespace woundphase::python

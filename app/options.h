// Binds the parameter registry (woundphase/options.h) to CLI11: each knob of a table becomes one
// command-line option (and so one TOML key of --config), its help text the knob's doc and bounds,
// its shown default the target struct's value when bound. Values are parsed into the structs by
// apply(), after CLI11 has read the command line and the config file.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>  // for function
#include <memory>      // for unique_ptr
#include <string>
#include <vector>

#include "no_ops.h"  // for GivenOptions
#include "woundphase/options.h"

namespace woundphase::app {

class OptionBinder {
 public:
  // Sets a knob of S from its text (the default: the knob's own parsing). Taken through
  // NotDeduced so that a plain function converts (S comes from the table).
  template <typename S>
  using TextSetter = std::function<void(const Option<S>&, S&, const std::string&)>;
  template <typename T>
  struct NotDeduced {
    using type = T;
  };

  // Adds every command-line knob of `table` to `cmd`, writing into `*target` on apply() through
  // `setter` if given (image knobs take per-modality values: set_image_option_text).
  template <typename S>
  void bind(CLI::App* cmd, const OptionTable<S>& table, S* target, const std::string& group = "",
            typename NotDeduced<TextSetter<S>>::type setter = {}) {
    if (!setter)
      setter = [](const Option<S>& knob, S& s, const std::string& text) {
        knob.set(s, knob.parse(text));
      };
    for (const Option<S>& o : table.options()) {
      if (!o.on_command_line) continue;
      auto b = std::make_unique<Binding>();
      const Option<S>* knob = &o;
      b->apply = [knob, target, setter](const std::string& text) { setter(*knob, *target, text); };
      const std::string bound = o.bound_text();
      const std::string help = bound.empty() ? o.doc : o.doc + "; " + bound;
      std::string names = o.flag;
      for (const std::string& a : o.aliases) names += "," + a;
      b->flag_name = o.flag;
      b->aliases = o.aliases;
      b->default_text = o.text(*target);
      if (o.type == OptionType::kBool) {
        b->is_flag = true;
        b->option = cmd->add_flag(names, b->flag, help);
      } else {
        b->option = cmd->add_option(names, b->text, help)->default_str(b->default_text);
      }
      if (!group.empty()) b->option->group(group);
      bindings_.push_back(std::move(b));
    }
  }

  // Parses every option given (command line or config file) into its struct; InputError naming
  // the option for a malformed value or an unknown name.
  void apply() const;

  // Where each option given to the chosen subcommand came from: the command line (`args`, as
  // typed) or the config file. A config value equal to the default counts as not given: a
  // --print-config file lists every option.
  GivenOptions given(const std::vector<std::string>& args) const;
  // Deprecation warnings for former names typed on the command line.
  std::vector<std::string> deprecated_names(const std::vector<std::string>& args) const;

 private:
  struct Binding {
    CLI::Option* option = nullptr;
    std::string flag_name;  // the registry's flag
    std::vector<std::string> aliases;
    std::string default_text;
    std::string text;
    bool flag = false;
    bool is_flag = false;
    std::function<void(const std::string&)> apply;
  };
  std::vector<std::unique_ptr<Binding>> bindings_;
};

// Every subcommand's options as Markdown tables (`woundphase help-options --markdown`), grouped
// as --help groups them: what the README's option reference holds.
std::string options_markdown(const CLI::App& cli);

}  // namespace woundphase::app

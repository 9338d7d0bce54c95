// OptionBinder::apply and the Markdown option reference.
#include "options.h"

#include <fmt/format.h>

#include <map>

namespace woundphase::app {

void OptionBinder::apply() const {
  for (const auto& b : bindings_) {
    if (b->option->count() == 0) continue;
    b->apply(b->is_flag ? (b->flag ? "true" : "false") : b->text);
  }
}

namespace {

// Whether `args` (the command line as typed) names `flag` ("--trees 5" or "--trees=5").
bool typed(const std::vector<std::string>& args, const std::string& flag) {
  for (const std::string& a : args)
    if (a == flag || a.rfind(flag + "=", 0) == 0) return true;
  return false;
}

}  // namespace

GivenOptions OptionBinder::given(const std::vector<std::string>& args) const {
  GivenOptions out;
  for (const auto& b : bindings_) {
    if (b->option->count() == 0) continue;
    bool on_line = typed(args, b->flag_name);
    for (const std::string& a : b->aliases) on_line = on_line || typed(args, a);
    if (on_line) {
      out.set(b->flag_name, Given::kCommandLine);
      continue;
    }
    const std::string value = b->is_flag ? (b->flag ? "true" : "false") : b->text;
    if (value != b->default_text) out.set(b->flag_name, Given::kConfig);
  }
  return out;
}

std::vector<std::string> OptionBinder::deprecated_names(
    const std::vector<std::string>& args) const {
  std::vector<std::string> out;
  for (const auto& b : bindings_)
    for (const std::string& a : b->aliases)
      if (b->option->count() > 0 && typed(args, a))
        out.push_back(
            fmt::format("{} is deprecated: it is now {} (same meaning)", a, b->flag_name));
  return out;
}

namespace {

// A table cell: pipes would end the cell.
std::string cell(std::string text) {
  std::string out;
  for (char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

}  // namespace

std::string options_markdown(const CLI::App& cli) {
  std::string out;
  for (const CLI::App* cmd : cli.get_subcommands([](const CLI::App*) { return true; })) {
    if (cmd->get_name() == "help-options") continue;
    // Groups in the order their first option appears.
    std::vector<std::string> groups;
    std::map<std::string, std::string> rows;
    for (const CLI::Option* o : cmd->get_options()) {
      if (o->get_lnames().empty() || o->get_lnames().front() == "help") continue;
      const std::string group = o->get_group();
      if (rows.find(group) == rows.end()) groups.push_back(group);
      std::string shown = o->get_default_str();
      if (o->get_expected_min() == 0) shown = "off";
      if (o->get_required()) shown = "required";
      const std::string name = "--" + o->get_lnames().front();
      rows[group] +=
          fmt::format("| `{}` | {} | {} |\n", name, shown.empty() ? "" : "`" + cell(shown) + "`",
                      cell(o->get_description()));
    }
    out += fmt::format("#### `woundphase {}`\n", cmd->get_name());
    for (const std::string& group : groups) {
      if (group != "Options") out += fmt::format("\n{}:\n", group);
      out += "\n| option | default | meaning |\n|---|---|---|\n" + rows[group];
    }
    out += "\n";
  }
  return out;
}

}  // namespace woundphase::app

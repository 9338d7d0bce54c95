// HelpFormatter and plain parser errors (help.h).
#include "help.h"

#include <fmt/format.h>

#include <algorithm>  // for find
#include <map>
#include <regex>
#include <sstream>
#include <vector>

#include "woundphase/suggest.h"

namespace woundphase::app {
namespace {

constexpr size_t kNameColumn = 24;  // option names, then their meaning
constexpr char kDataGroup[] = "Data";
constexpr char kModelGroup[] = "Model (metadata branch)";
constexpr char kImageGroup[] = "Images (image branches)";
constexpr char kFusionGroup[] = "Fusion";
constexpr char kOutputGroup[] = "Output";
constexpr char kOtherGroup[] = "Options";

bool among(const std::string& name, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (name == n) return true;
  return false;
}

std::string long_name(const CLI::Option* o) {
  return o->get_lnames().empty() ? "-" + o->get_snames().front() : "--" + o->get_lnames().front();
}

// Which help group an option of subcommand `cmd` belongs to.
std::string group_of(const std::string& cmd, const CLI::Option* o) {
  const std::string g = o->get_group();
  if (g.rfind("Image", 0) == 0) return kImageGroup;
  if (g.rfind("Fusion", 0) == 0) return kFusionGroup;
  const std::string n = o->get_lnames().empty() ? "" : o->get_lnames().front();
  if (among(n, {"out", "resume", "run", "alpha", "calibrate", "markdown"})) return kOutputGroup;
  if (!among(cmd, {"search", "train", "demo"})) return kOtherGroup;
  if (among(n, {"data", "schema", "modalities", "from-search", "combination", "cv-folds", "runs",
                "seed", "train-fraction", "data-percentage", "shuffle-labels", "patients"}))
    return kDataGroup;
  return kModelGroup;
}

// "  --name            meaning [default: x]" wrapped to kHelpWidth.
std::string option_line(const CLI::Option* o) {
  std::string name = long_name(o);
  for (const std::string& s : o->get_snames()) name += ", -" + s;
  std::string meaning = o->get_description();
  const std::string shown = o->get_default_str();
  if (o->get_required()) {
    meaning += " (required)";
  } else if (o->get_expected_min() > 0 && !shown.empty()) {
    meaning += " [default: " + shown + "]";
  }
  std::string out = "  " + name;
  if (out.size() + 1 >= kNameColumn) {
    out += "\n" + std::string(kNameColumn, ' ');
  } else {
    out += std::string(kNameColumn - out.size(), ' ');
  }
  return out + wrap(meaning, kHelpWidth - kNameColumn, kNameColumn) + "\n";
}

std::string section(const std::string& title, const std::vector<const CLI::Option*>& options) {
  if (options.empty()) return "";
  std::string out = "\n" + title + ":\n";
  for (const CLI::Option* o : options) out += option_line(o);
  return out;
}

std::string global_section(const CLI::App* root) {
  std::vector<const CLI::Option*> globals;
  for (const CLI::Option* o : root->get_options()) globals.push_back(o);
  return section("Global options (before or after the command)", globals);
}

}  // namespace

std::string wrap(const std::string& text, size_t width, size_t indent) {
  std::istringstream words(text);
  std::string out;
  std::string line;
  for (std::string w; words >> w;) {
    if (!line.empty() && line.size() + 1 + w.size() > width) {
      out += line + "\n" + std::string(indent, ' ');
      line.clear();
    }
    line += (line.empty() ? "" : " ") + w;
  }
  return out + line;
}

std::string HelpFormatter::make_help(const CLI::App* app, std::string name,
                                     CLI::AppFormatMode mode) const {
  (void)name;
  (void)mode;
  const CLI::App* root = app;
  while (root->get_parent() != nullptr) root = root->get_parent();
  if (app == root) {
    std::string out = app->get_description() + "\n";
    out += "usage: woundphase COMMAND [options]   (woundphase COMMAND --help: its options)\n";
    out += "\nCommands:\n";
    for (const CLI::App* sub : app->get_subcommands([](const CLI::App*) { return true; }))
      out += "  " + sub->get_name() +
             std::string(14 - std::min<size_t>(13, sub->get_name().size()), ' ') +
             wrap(sub->get_description(), kHelpWidth - 16, 16) + "\n";
    return out + global_section(root);
  }
  const std::string cmd = app->get_name();
  std::string out =
      wrap(fmt::format("woundphase {}: {}", cmd, app->get_description()), kHelpWidth, 2) + "\n";
  // The example first: what a new user copies.
  if (!app->get_footer().empty()) out += "\n" + app->get_footer() + "\n";
  out += fmt::format(
      "\nusage: woundphase {} [options]   (options may also come from --config FILE)\n", cmd);
  std::map<std::string, std::vector<const CLI::Option*>> groups;
  for (const CLI::Option* o : app->get_options()) {
    if (o->get_lnames().empty() || o->get_lnames().front() == "help") continue;
    groups[group_of(cmd, o)].push_back(o);
  }
  for (const char* g :
       {kDataGroup, kModelGroup, kImageGroup, kFusionGroup, kOutputGroup, kOtherGroup})
    out += section(g, groups[g]);
  return out + global_section(root);
}

std::string plain_parse_error(const CLI::ParseError& e, const CLI::App& cli) {
  const auto chosen = cli.get_subcommands();
  const CLI::App* cmd = chosen.empty() ? nullptr : chosen.front();
  std::vector<std::string> option_names;
  for (const CLI::Option* o : cli.get_options()) option_names.push_back(long_name(o));
  if (cmd != nullptr)
    for (const CLI::Option* o : cmd->get_options()) option_names.push_back(long_name(o));
  std::vector<std::string> commands;
  for (const CLI::App* sub : cli.get_subcommands([](const CLI::App*) { return true; }))
    commands.push_back(sub->get_name());
  const std::string what = e.what();
  const std::string help_hint =
      cmd == nullptr ? "woundphase --help" : "woundphase " + cmd->get_name() + " --help";

  const bool extras_error = dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr;
  const bool no_command = cmd == nullptr && dynamic_cast<const CLI::RequiredError*>(&e) != nullptr;
  if (extras_error || no_command) {
    std::vector<std::string> extras = cmd != nullptr ? cmd->remaining() : cli.remaining();
    if (extras.empty()) extras = cli.remaining();
    std::vector<std::string> parts;
    bool after_unknown_option = false;  // its value follows it
    for (const std::string& x : extras) {
      if (x.rfind("-", 0) == 0) {
        const std::string flag = x.substr(0, x.find('='));
        parts.push_back(fmt::format("unknown option {}{}", flag, did_you_mean(flag, option_names)));
        after_unknown_option = x.find('=') == std::string::npos;
      } else if (after_unknown_option) {
        after_unknown_option = false;
      } else if (cmd == nullptr) {
        parts.push_back(fmt::format("unknown command '{}'{} (commands: {})", x,
                                    did_you_mean(x, commands), fmt::join(commands, ", ")));
      } else {
        parts.push_back(
            fmt::format("unexpected argument '{}' (a value needs its option: --name "
                        "value)",
                        x));
      }
    }
    if (!parts.empty())
      return fmt::format("{}; {} lists the options", fmt::join(parts, "; "), help_hint);
  }
  std::smatch m;
  if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
    if (what.find("subcommand") != std::string::npos)
      return fmt::format("name a command: {} (woundphase --help)", fmt::join(commands, ", "));
    if (std::regex_search(what, m, std::regex("(--[A-Za-z0-9-]+)")) && cmd != nullptr)
      for (const CLI::Option* o : cmd->get_options())
        if (long_name(o) == m[1].str())
          return fmt::format("{} is required: {}", m[1].str(), o->get_description());
  }
  if (std::regex_search(what, m,
                        std::regex("^(--?[A-Za-z0-9-]+): Value (.*) not in range (.*) to (.*)$")))
    return fmt::format("{} must be in [{}, {}], got {}", m[1].str(), m[3].str(), m[4].str(),
                       m[2].str());
  if (std::regex_search(what, m,
                        std::regex("^(--?[A-Za-z0-9-]+): At Most ([0-9]+) required but "
                                   "received ([0-9]+)")))
    return fmt::format(
        "{} takes one value but was given {} (give it once; a list is one "
        "comma-separated value)",
        m[1].str(), m[3].str());
  if (std::regex_search(what, m, std::regex("Could not convert: (--?[A-Za-z0-9-]+) = (.*)$")))
    return fmt::format("{}: '{}' is not a valid value", m[1].str(), m[2].str());
  if (std::regex_search(what, m, std::regex("^(--?[A-Za-z0-9-]+): (.*)$")))
    return fmt::format("{}: {}; {} lists the options", m[1].str(), m[2].str(), help_hint);
  return fmt::format("{}; {} lists the options", what, help_hint);
}

}  // namespace woundphase::app

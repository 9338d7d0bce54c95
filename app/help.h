// What the user reads when asking for help or typing something wrong: each subcommand's help in
// 80 columns (one example first, options grouped, the global ones listed), and CLI11's parser
// errors in plain words with "did you mean".
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace woundphase::app {

inline constexpr size_t kHelpWidth = 80;

class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_help(const CLI::App* app, std::string name,
                        CLI::AppFormatMode mode) const override;
};

// The parse error `e` of `cli` in plain words (no "Run with --help" line).
std::string plain_parse_error(const CLI::ParseError& e, const CLI::App& cli);

// Wraps `text` to `width` columns, continuation lines indented by `indent` spaces.
std::string wrap(const std::string& text, size_t width, size_t indent);

}  // namespace woundphase::app

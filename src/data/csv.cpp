// CSV reading on top of libcsv (RFC 4180 parser, strict mode), adding what a user needs from an
// error: the file and the line.
#include <csv.h>  // for csv_parser (libcsv)
#include <fmt/format.h>

#include <algorithm>  // for count
#include <fstream>
#include <sstream>

#include "woundphase/dataset.h"

namespace woundphase {
namespace {

constexpr unsigned char kParserOptions = CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// Returns the 1-based line of the first byte that is not valid UTF-8, or 0 when all is valid.
long first_invalid_utf8_line(const std::string& text, size_t start) {
  long line = 1;
  size_t i = start;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') ++line;
    int extra = 0;
    if (c < 0x80) {
      extra = 0;
    } else if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
      extra = 1;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
    } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
      extra = 3;
    } else {
      return line;
    }
    if (i + extra >= text.size()) return line;  // a sequence cut off by the end of the file
    for (int k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return line;
    }
    i += 1 + extra;
  }
  return 0;
}

struct ParseState {
  const std::string* path = nullptr;
  std::vector<std::vector<std::string>> records;
  std::vector<long> record_lines;
  std::vector<std::string> current;
  long line = 1;          // line currently being fed to the parser
  long record_start = 0;  // line where the current record's first field was seen
};

void on_field(void* data, size_t len, void* user) {
  auto* s = static_cast<ParseState*>(user);
  if (s->current.empty()) s->record_start = s->line;
  s->current.emplace_back(data == nullptr ? "" : std::string(static_cast<char*>(data), len));
}

void on_record(int /*terminator*/, void* user) {
  auto* s = static_cast<ParseState*>(user);
  s->records.push_back(std::move(s->current));
  s->record_lines.push_back(s->record_start);
  s->current.clear();
}

}  // namespace

int CsvTable::column_index(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

CsvTable read_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open file for reading", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  if (in.bad()) throw InputError(fmt::format("{}: read error", path));

  const size_t start = text.compare(0, kUtf8Bom.size(), kUtf8Bom) == 0 ? kUtf8Bom.size() : 0;
  if (text.find_first_not_of(" \t\r\n", start) == std::string::npos)
    throw InputError(fmt::format("{}: the file is empty (expected a header line)", path));
  if (text.find('\0', start) != std::string::npos)
    throw InputError(fmt::format("{}: binary content (NUL byte); is this a CSV file?", path));
  if (long bad = first_invalid_utf8_line(text, start); bad > 0)
    throw InputError(
        fmt::format("{}:{}: not valid UTF-8 text (save the file as UTF-8)", path, bad));

  csv_parser parser{};
  if (csv_init(&parser, kParserOptions) != 0) throw std::runtime_error("libcsv: init failed");
  ParseState state;
  state.path = &path;
  // Feed one physical line at a time so the callbacks know the line number.
  size_t pos = start;
  bool failed = false;
  while (pos < text.size() && !failed) {
    size_t end = text.find('\n', pos);
    end = end == std::string::npos ? text.size() : end + 1;
    const size_t len = end - pos;
    if (csv_parse(&parser, text.data() + pos, len, on_field, on_record, &state) != len)
      failed = true;
    if (!failed) {
      ++state.line;
      pos = end;
    }
  }
  if (!failed && csv_fini(&parser, on_field, on_record, &state) != 0) failed = true;
  const int err = csv_error(&parser);
  csv_free(&parser);
  if (failed) {
    const long line =
        std::min(state.line, static_cast<long>(std::count(text.begin(), text.end(), '\n')) + 1);
    throw InputError(fmt::format("{}:{}: malformed CSV ({}); check quotes around fields", path,
                                 line, csv_strerror(err)));
  }

  CsvTable table;
  table.path = path;
  if (state.records.empty()) throw InputError(fmt::format("{}: no header line", path));
  table.header = std::move(state.records.front());
  for (auto& h : table.header) {
    // Header cells are names: surrounding whitespace is never meaningful.
    const auto b = h.find_first_not_of(" \t\r");
    const auto e = h.find_last_not_of(" \t\r");
    h = b == std::string::npos ? "" : h.substr(b, e - b + 1);
  }
  for (size_t i = 0; i < table.header.size(); ++i) {
    if (table.header[i].empty())
      throw InputError(
          fmt::format("{}:{}: column {} has an empty name", path, state.record_lines[0], i + 1));
    for (size_t j = 0; j < i; ++j)
      if (table.header[j] == table.header[i])
        throw InputError(fmt::format("{}:{}: duplicate column name '{}' (columns {} and {})", path,
                                     state.record_lines[0], table.header[i], j + 1, i + 1));
  }
  if (table.header.size() == 1) {
    for (const char delim : {';', '\t', '|'}) {
      if (table.header[0].find(delim) != std::string::npos)
        throw InputError(
            fmt::format("{}:{}: the header has a single column and contains '{}': woundphase reads "
                        "comma-separated files; convert the delimiter to ','",
                        path, state.record_lines[0],
                        delim == '\t' ? std::string("\\t") : std::string(1, delim)));
    }
  }
  for (size_t r = 1; r < state.records.size(); ++r) {
    auto& rec = state.records[r];
    const long line = state.record_lines[r];
    if (rec.size() != table.header.size()) {
      throw InputError(fmt::format("{}:{}: expected {} fields as in the header, found {}", path,
                                   line, table.header.size(), rec.size()));
    }
    table.rows.push_back(std::move(rec));
    table.line_of_row.push_back(line);
  }
  return table;
}

}  // namespace woundphase

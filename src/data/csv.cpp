// CSV reading on top of libcsv (RFC 4180 parser, strict mode), adding what a user needs from an
// error: the file and the line.
#include <csv.h>  // for csv_parser (libcsv)
#include <fmt/format.h>

#include <algorithm>  // for min
#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "woundphase/dataset.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

constexpr unsigned char kParserOptions = CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// A line ends at "\r\n", "\n" or a lone "\r" (old Mac files): true at the byte that ends it.
bool is_line_break(const std::string& text, size_t i) {
  return text[i] == '\n' || (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n'));
}

// Offset just past the line starting at `pos` (its line break included).
size_t line_end(const std::string& text, size_t pos) {
  while (pos < text.size() && !is_line_break(text, pos)) ++pos;
  return pos < text.size() ? pos + 1 : pos;
}

// 1-based line of the byte at `offset`.
long line_of_offset(const std::string& text, size_t offset) {
  long line = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i)
    if (is_line_break(text, i)) ++line;
  return line;
}

// Returns the 1-based line of the first byte that is not valid UTF-8, or 0 when all is valid.
// Overlong forms, UTF-16 surrogates and code points above U+10FFFF are invalid (RFC 3629).
long first_invalid_utf8_line(const std::string& text, size_t start) {
  long line = 1;
  size_t i = start;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (is_line_break(text, i)) ++line;
    int extra = 0;
    unsigned char low = 0x80;  // bounds of the second byte
    unsigned char high = 0xBF;
    if (c < 0x80) {
      extra = 0;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      if (c == 0xE0) low = 0xA0;   // overlong
      if (c == 0xED) high = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      if (c == 0xF0) low = 0x90;   // overlong
      if (c == 0xF4) high = 0x8F;  // above U+10FFFF
    } else {
      return line;
    }
    if (i + extra >= text.size()) return line;  // a sequence cut off by the end of the file
    for (int k = 1; k <= extra; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if (k == 1 ? (b < low || b > high) : (b & 0xC0) != 0x80) return line;
    }
    i += 1 + extra;
  }
  return 0;
}

// Names the encoding when the text starts with a UTF-16 or UTF-32 byte-order mark, else "".
const char* wide_encoding(const std::string& text) {
  auto starts = [&](std::string_view bom) { return text.compare(0, bom.size(), bom) == 0; };
  if (starts(std::string_view("\xFF\xFE\0\0", 4)) || starts(std::string_view("\0\0\xFE\xFF", 4)))
    return "UTF-32";
  if (starts("\xFF\xFE") || starts("\xFE\xFF")) return "UTF-16";
  return "";
}

// Called when a file does not parse as comma-separated: if its header line holds more
// semicolons, tabs or pipes than commas (outside quotes), the delimiter is the likely cause, and
// the message says so instead of blaming quotes or field counts.
void check_delimiter(const std::string& text, size_t start, const std::string& path) {
  size_t pos = text.find_first_not_of("\r\n", start);
  if (pos == std::string::npos) return;
  const long line = line_of_offset(text, pos);
  int commas = 0;
  std::array<int, 3> others{};
  constexpr std::array<char, 3> kOthers = {';', '\t', '|'};
  bool quoted = false;
  for (; pos < text.size() && (quoted || !is_line_break(text, pos)); ++pos) {
    const char c = text[pos];
    if (c == '"') quoted = !quoted;
    if (quoted) continue;
    if (c == ',') ++commas;
    for (size_t k = 0; k < kOthers.size(); ++k) others[k] += c == kOthers[k] ? 1 : 0;
  }
  for (size_t k = 0; k < kOthers.size(); ++k) {
    if (others[k] > commas)
      throw InputError(fmt::format(
          "{}:{}: the header line has {} '{}' and {} ',' outside quotes: woundphase reads "
          "comma-separated files; convert the delimiter to ','",
          path, line, others[k],
          kOthers[k] == '\t' ? std::string("\\t") : std::string(1, kOthers[k]), commas));
  }
}

struct ParseState {
  const std::string* path = nullptr;
  std::vector<std::vector<std::string>> records;
  std::vector<long> record_lines;
  std::vector<std::string> current;
  long line = 1;             // line currently being fed to the parser
  long record_start = 0;     // line where the current record's first field was seen
  long last_record_end = 0;  // line where the last complete record ended
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
  s->last_record_end = s->line;
}

}  // namespace

int CsvTable::column_index(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

CsvTable read_csv(const std::string& path) {
  // Only regular files: opening a FIFO would block forever, a folder reads as an empty file.
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw InputError(fmt::format("{}: cannot open file for reading ({})", path, ec.message()));
  if (fs::is_directory(status))
    throw InputError(fmt::format("{}: is a folder, not a CSV file", path));
  if (fs::exists(status) && !fs::is_regular_file(status))
    throw InputError(fmt::format(
        "{}: not a regular file (a pipe, socket or device); expected a CSV file", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open file for reading", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw InputError(fmt::format("{}: read error", path));
  return parse_csv_text(buffer.str(), path);
}

CsvTable parse_csv_text(const std::string& text, const std::string& path) {
  if (const char* wide = wide_encoding(text); *wide != '\0')
    throw InputError(fmt::format(
        "{}: the file is {} encoded (it starts with a {} byte-order mark); save it as UTF-8 CSV",
        path, wide, wide));
  const size_t start = text.compare(0, kUtf8Bom.size(), kUtf8Bom) == 0 ? kUtf8Bom.size() : 0;
  if (text.find_first_not_of(" \t\r\n", start) == std::string::npos)
    throw InputError(fmt::format("{}: the file is empty (expected a header line)", path));
  if (const size_t nul = text.find('\0', start); nul != std::string::npos)
    throw InputError(fmt::format(
        "{}:{}: binary content (NUL byte); is this a CSV file? (a UTF-16 file without a "
        "byte-order mark looks like this too: save it as UTF-8)",
        path, line_of_offset(text, nul)));
  if (long bad = first_invalid_utf8_line(text, start); bad > 0)
    throw InputError(
        fmt::format("{}:{}: not valid UTF-8 text (save the file as UTF-8)", path, bad));

  csv_parser parser{};
  if (csv_init(&parser, kParserOptions) != 0) throw std::runtime_error("libcsv: init failed");
  ParseState state;
  state.path = &path;
  // Feed one line at a time so the callbacks know the line number.
  size_t pos = start;
  bool failed = false;
  while (pos < text.size() && !failed) {
    const size_t end = line_end(text, pos);
    const size_t len = end - pos;
    if (csv_parse(&parser, text.data() + pos, len, on_field, on_record, &state) != len)
      failed = true;
    if (!failed) {
      ++state.line;
      pos = end;
    }
  }
  bool unclosed = false;
  if (!failed && csv_fini(&parser, on_field, on_record, &state) != 0) failed = unclosed = true;
  const int err = csv_error(&parser);
  csv_free(&parser);
  if (failed) check_delimiter(text, start, path);
  if (unclosed) {
    // Strict fini fails only when the text ends inside a quoted field.
    const long opened = state.current.empty() ? state.last_record_end + 1 : state.record_start;
    throw InputError(
        fmt::format("{}:{}: malformed CSV ({}): the file ends inside a quoted field of the record "
                    "starting at line {} (truncated file or a missing closing quote)",
                    path, opened, csv_strerror(err), opened));
  }
  if (failed) {
    const long line = std::min(state.line, line_of_offset(text, text.size()));
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
      check_delimiter(text, start, path);
      throw InputError(fmt::format("{}:{}: expected {} fields as in the header, found {}", path,
                                   line, table.header.size(), rec.size()));
    }
    table.rows.push_back(std::move(rec));
    table.line_of_row.push_back(line);
  }
  return table;
}

std::string csv_field(const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace woundphase

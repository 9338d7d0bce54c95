// The hostile-input corpus (tests/hostile/<case>/): each case is a study folder the CLI must
// handle with the exit code and message in its expect.txt, never a crash, a hang or an exit code
// above 2, and no results.csv when it refuses the input. Cases that cannot be committed as text
// (NUL bytes, UTF-16, 1 MB fields, folders, symlink loops, pipes) are made at test time from the
// valid baseline case; their folders hold only expect.txt. See tests/hostile/README.md.
#include <gtest/gtest.h>
#include <sys/stat.h>  // for mkfifo
#include <sys/wait.h>  // for WIFEXITED

#include <algorithm>  // for sort
#include <array>
#include <cstdio>  // for popen
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "test_paths.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

const char* kMetadata = "DataMaster_Processed_V12_WithMissing.csv";
// The corpus stores each case's metadata as metadata.csv (never under the study's file name, which
// is reserved for the real data) and the test copies it into a study folder with the real name.
const char* kCorpusFile = "metadata.csv";
// A run longer than this is a hang (the corpus' studies are tiny; a search takes < 5 s).
constexpr int kTimeoutSeconds = 120;
constexpr int kExitBadInput = 2;
constexpr size_t kLongFieldBytes = 1 << 20;
constexpr int kExtraColumns = 2000;

fs::path corpus_dir() { return fs::path(testing::source_dir()) / "tests" / "hostile"; }

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string baseline() { return slurp(corpus_dir() / "valid_baseline" / kCorpusFile); }

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) out.push_back(line);
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Offset of the start of 1-based line `line` in `text`.
size_t line_start(const std::string& text, int line) {
  size_t pos = 0;
  for (int l = 1; l < line; ++l) pos = text.find('\n', pos) + 1;
  return pos;
}

// UTF-16 LE with a byte-order mark (the baseline is BMP-only UTF-8).
std::string utf16le(const std::string& utf8) {
  std::string out = "\xFF\xFE";
  for (size_t i = 0; i < utf8.size();) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    unsigned code = c;
    int extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : 2;
    if (extra == 1) code = c & 0x1F;
    if (extra == 2) code = c & 0x0F;
    for (int k = 1; k <= extra; ++k) code = (code << 6) | (utf8[i + k] & 0x3F);
    out.push_back(static_cast<char>(code & 0xFF));
    out.push_back(static_cast<char>(code >> 8));
    i += 1 + extra;
  }
  return out;
}

// Replaces the `column`-th field (0-based) of a data line without quoted commas.
std::string with_field(const std::string& line, int column, const std::string& value) {
  size_t begin = 0;
  for (int c = 0; c < column; ++c) begin = line.find(',', begin) + 1;
  const size_t end = line.find(',', begin);
  return line.substr(0, begin) + value + line.substr(end);
}

// Makes the study for a case in `scratch` and returns the --data path.
using Maker = std::function<std::string(const fs::path& case_dir, const fs::path& scratch)>;

fs::path study(const fs::path& scratch) {
  fs::path dir = scratch / "data";
  fs::create_directories(dir);
  return dir;
}

std::string with_metadata(const fs::path& scratch, const std::string& bytes) {
  const fs::path dir = study(scratch);
  write(dir / kMetadata, bytes);
  return dir.string();
}

const std::map<std::string, Maker>& makers() {
  static const std::map<std::string, Maker> m = {
      {"nul_byte",
       [](const fs::path&, const fs::path& s) {
         std::string text = baseline();
         text.insert(line_start(text, 3) + 2, std::string(1, '\0'));
         return with_metadata(s, text);
       }},
      {"non_utf8_bytes",
       [](const fs::path&, const fs::path& s) {
         std::string text = baseline();
         text.insert(line_start(text, 4) + 1, "\xE9");  // Latin-1 e-acute
         return with_metadata(s, text);
       }},
      {"utf16_with_bom",
       [](const fs::path&, const fs::path& s) { return with_metadata(s, utf16le(baseline())); }},
      {"very_long_numeric_field",
       [](const fs::path&, const fs::path& s) {
         auto lines = split_lines(baseline());
         lines[1] = with_field(lines[1], 2, std::string(kLongFieldBytes, '9'));  // Age
         return with_metadata(s, join_lines(lines));
       }},
      {"very_long_text_field",
       [](const fs::path&, const fs::path& s) {
         auto lines = split_lines(baseline());
         // Line 5: its Location is not quoted.
         lines[4] = with_field(lines[4], 6, std::string(kLongFieldBytes, 'x'));
         return with_metadata(s, join_lines(lines));
       }},
      {"many_columns",
       [](const fs::path&, const fs::path& s) {
         auto lines = split_lines(baseline());
         for (int c = 0; c < kExtraColumns; ++c) lines[0] += ",Extra " + std::to_string(c);
         for (size_t r = 1; r < lines.size(); ++r)
           for (int c = 0; c < kExtraColumns; ++c)
             lines[r] += "," + std::to_string((r * 31 + c * 7) % 13);
         return with_metadata(s, join_lines(lines));
       }},
      {"metadata_is_directory",
       [](const fs::path&, const fs::path& s) {
         fs::create_directories(study(s) / kMetadata);
         return study(s).string();
       }},
      {"data_is_a_file",
       [](const fs::path&, const fs::path& s) {
         write(s / kMetadata, baseline());
         return (s / kMetadata).string();
       }},
      {"data_folder_missing",
       [](const fs::path&, const fs::path& s) { return (s / "no_such_study").string(); }},
      {"metadata_missing", [](const fs::path&, const fs::path& s) { return study(s).string(); }},
      {"metadata_symlink_loop",
       [](const fs::path&, const fs::path& s) {
         fs::create_symlink(kMetadata, study(s) / kMetadata);
         return study(s).string();
       }},
      {"data_symlink_loop",
       [](const fs::path&, const fs::path& s) {
         fs::create_symlink("loop", s / "loop");
         return (s / "loop").string();
       }},
      {"metadata_fifo",
       [](const fs::path&, const fs::path& s) {
         const fs::path fifo = study(s) / kMetadata;
         EXPECT_EQ(mkfifo(fifo.c_str(), 0600), 0);
         return study(s).string();
       }},
  };
  return m;
}

struct Expectation {
  int exit_code = -1;
  std::string message;  // required substring of the output
};

Expectation expectation(const fs::path& case_dir) {
  std::ifstream in(case_dir / "expect.txt");
  Expectation e;
  std::string code;
  std::getline(in, code);
  std::getline(in, e.message);
  e.exit_code = std::stoi(code);
  return e;
}

std::vector<std::string> case_names() {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(corpus_dir()))
    if (entry.is_directory()) out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// run_cli under `timeout`, so a hang fails the case (exit 124) instead of blocking the suite.
testing::CommandResult run_with_timeout(const std::string& args) {
  return testing::run_shell("timeout -k 5 " + std::to_string(kTimeoutSeconds) + " " +
                            testing::binary() + " " + args);
}

class Hostile : public ::testing::TestWithParam<std::string> {};

TEST_P(Hostile, ExitCodeMessageAndNoResults) {
  const std::string name = GetParam();
  const fs::path case_dir = corpus_dir() / name;
  const Expectation expect = expectation(case_dir);
  const fs::path scratch = testing::scratch_dir();
  const auto maker = makers().find(name);
  const std::string data = [&] {
    if (maker != makers().end()) return maker->second(case_dir, scratch);
    const fs::path study = scratch / "study";
    fs::create_directories(study);
    fs::copy_file(case_dir / kCorpusFile, study / kMetadata, fs::copy_options::overwrite_existing);
    return study.string();
  }();
  const fs::path out = scratch / "out";
  const auto r = run_with_timeout("search --data " + quoted(data) + " --out " +
                                  quoted(out.string()) + " --cv-folds 2 --trees 10 -v 0");
  // Never a signal (-1), a hang (124) or an internal error (1) on user input.
  EXPECT_GE(r.exit_code, 0) << "killed by a signal\n" << r.output;
  EXPECT_LE(r.exit_code, kExitBadInput) << r.output;
  EXPECT_EQ(r.exit_code, expect.exit_code) << r.output;
  EXPECT_NE(r.output.find(expect.message), std::string::npos)
      << "expected '" << expect.message << "' in:\n"
      << r.output.substr(0, 2000);
  if (r.exit_code == kExitBadInput) {
    EXPECT_FALSE(fs::exists(out / "results.csv"));
  }
  if (r.exit_code == 0) {
    EXPECT_TRUE(fs::exists(out / "results.csv"));
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, Hostile, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(HostileCorpus, EveryCaseIsComplete) {
  const auto names = case_names();
  EXPECT_GE(names.size(), 30U);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const fs::path dir = corpus_dir() / name;
    ASSERT_TRUE(fs::exists(dir / "expect.txt"));
    const Expectation e = expectation(dir);
    EXPECT_TRUE(e.exit_code == 0 || e.exit_code == kExitBadInput);
    EXPECT_FALSE(e.message.empty());
    // A case either ships its metadata file or is made at test time (or tests a missing one).
    const bool made = makers().count(name) > 0;
    EXPECT_NE(made, fs::exists(dir / kCorpusFile)) << "both or neither";
  }
  for (const auto& [name, maker] : makers()) EXPECT_TRUE(fs::is_directory(corpus_dir() / name));
}

}  // namespace
}  // namespace woundphase

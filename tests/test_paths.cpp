#include "test_paths.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>  // for getpid

#include <array>
#include <cstdio>
#include <cstdlib>  // for getenv
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace woundphase::testing {

std::string source_dir() { return WOUNDPHASE_SOURCE_DIR; }
std::string binary() { return WOUNDPHASE_BINARY; }

std::string real_data_dir() {
  fs::path dir = fs::path(source_dir()) / ".." / "shared" / "data" / "dfu";
  if (fs::exists(dir / "DataMaster_Processed_V12_WithMissing.csv"))
    return fs::canonical(dir).string();
  return "";
}

namespace {

constexpr char kKeepVariable[] = "WOUNDPHASE_KEEP_TEST_FILES";

// Removes this process's scratch root when the process ends (kept when WOUNDPHASE_KEEP_TEST_FILES
// is set, to look at a failed test's files).
struct ScratchRoot {
  fs::path path;
  ScratchRoot() : path(fs::temp_directory_path() / "woundphase_tests" / std::to_string(getpid())) {
    std::error_code ec;
    fs::remove_all(path, ec);  // a folder left by an earlier process with the same id
  }
  ~ScratchRoot() {
    if (std::getenv(kKeepVariable) != nullptr) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

const fs::path& root() {
  static const ScratchRoot scratch;
  return scratch.path;
}

}  // namespace

std::string scratch_root() {
  fs::create_directories(root());
  return root().string();
}

std::string scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "_" + info->name() : "scratch";
  fs::path dir = root() / name;
  // Emptied on the test's first call only: later calls in the same test return the same folder.
  static std::set<std::string> prepared;
  if (prepared.insert(name).second) fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string shared_dir(const std::string& name) {
  const fs::path dir = root() / "shared" / name;
  fs::create_directories(dir);
  return dir.string();
}

const std::string& cli_cohort(const std::string& name, const std::string& synth_args) {
  static std::map<std::string, std::string> written;
  const auto it = written.find(name);
  if (it != written.end()) return it->second;
  const std::string dir = shared_dir(name);
  const CommandResult r = run_cli("synth --out " + dir + " " + synth_args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return written.emplace(name, dir).first->second;
}

const std::string& cli_outputs(const std::string& name,
                               const std::function<std::string(const std::string& dir)>& args) {
  static std::map<std::string, std::string> ran;
  const auto it = ran.find(name);
  if (it != ran.end()) return it->second;
  const std::string dir = shared_dir(name);
  fs::remove_all(dir);
  const CommandResult r = run_cli(args(dir));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return ran.emplace(name, dir).first->second;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) out.push_back(line);
  return out;
}

CommandResult run_cli(const std::string& args) { return run_cli_env("", args); }

CommandResult run_shell(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

CommandResult run_cli_env(const std::string& env, const std::string& args) {
  return run_shell((env.empty() ? "" : "env " + env + " ") + binary() + " " + args);
}

bool vision_built() {
  return std::filesystem::exists(std::filesystem::path(binary()).parent_path() /
                                 "libwoundphase_vision.so");
}

bool tools_expected() {
#ifdef WOUNDPHASE_EXPECT_TOOLS
  return true;
#else
  return false;
#endif
}

::testing::TestPartResult::Type missing_tool_result() {
  return tools_expected() ? ::testing::TestPartResult::kFatalFailure
                          : ::testing::TestPartResult::kSkip;
}

// Records of a CSV text (quotes may wrap commas, quotes and line breaks; "" = a quote).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (quoted) {
      if (ch == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        fields.back() += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      fields.emplace_back();
    } else if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      continue;
    } else if (ch == '\n') {
      records.push_back(fields);
      fields.assign(1, "");
    } else {
      fields.back() += ch;
    }
  }
  if (fields.size() > 1 || !fields[0].empty()) records.push_back(fields);
  return records;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace woundphase::testing

#include "test_paths.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
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

std::string scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "_" + info->name() : "scratch";
  fs::path dir = fs::temp_directory_path() / "woundphase_tests" / name;
  // Emptied on the test's first call only: later calls in the same test return the same folder.
  static std::set<std::string> prepared;
  if (prepared.insert(name).second) fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
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

}  // namespace woundphase::testing

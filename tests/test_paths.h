// Paths the tests use: the source tree, the built binary, the shared real data, scratch folders.
#pragma once

#include <gtest/gtest.h>

#include <functional>  // for function
#include <string>
#include <vector>

namespace woundphase::testing {

std::string source_dir();
std::string binary();
// ../shared/data/dfu relative to the source tree (CI has it); empty if it is not there.
std::string real_data_dir();
// This process's scratch root, $TMPDIR/woundphase_tests/<pid>: test processes that run at the
// same time (ctest -j, several worktrees) never share a folder. Removed when the process ends,
// unless WOUNDPHASE_KEEP_TEST_FILES is set.
std::string scratch_root();
// A scratch folder unique to the calling test, under scratch_root(), emptied on the test's first
// call.
std::string scratch_dir();
// A folder under scratch_root() that the tests of this process share (a cohort written once):
// created, never emptied.
std::string shared_dir(const std::string& name);
// A synthetic study written once per process by the program, `woundphase synth --out DIR
// SYNTH_ARGS`, into shared_dir(name); its folder. A failed synth fails the calling test.
const std::string& cli_cohort(const std::string& name, const std::string& synth_args);
// The folder shared_dir(name), emptied, after `woundphase ARGS` ran in it once per process, where
// ARGS = args(folder) (a reference run several tests compare with). A failed run fails the test.
const std::string& cli_outputs(const std::string& name,
                               const std::function<std::string(const std::string& dir)>& args);

// A file's bytes ("" if it cannot be read), and a text's lines.
std::string slurp(const std::string& path);
// Whether the image networks library was built next to the binary (it needs libtorch).
bool vision_built();
std::vector<std::string> lines(const std::string& text);
// Records of a CSV text (quotes may wrap commas, quotes and line breaks; "" = a quote; CRLF or LF).
std::vector<std::vector<std::string>> parse_csv(const std::string& text);
// How many times `what` stands in `text` (overlapping ones too).
size_t occurrences(const std::string& text, const std::string& what);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Whether this build expects every tool the tests use: libtorch (the vision library), mpirun with
// an MPI build, chromium and /usr/bin/python3 with torch. `make test` configures with
// -DWOUNDPHASE_EXPECT_TOOLS=ON after its setup installed them all.
bool tools_expected();
// The result a test that lacks a tool reports: a skip, or a failure when tools_expected().
::testing::TestPartResult::Type missing_tool_result();

// Skips the test for a missing tool, or fails it where the build expects every tool (a CI machine
// that lost libtorch, mpirun or chromium must not pass green). Streams the reason like GTEST_SKIP:
//   if (!vision_built()) WOUNDPHASE_MISSING_TOOL() << "libwoundphase_vision.so not built";
// Skips for other reasons (the real data absent, a CUDA device present) stay GTEST_SKIP.
#define WOUNDPHASE_MISSING_TOOL()                                              \
  return ::testing::internal::AssertHelper(                                    \
             ::woundphase::testing::missing_tool_result(), __FILE__, __LINE__, \
             "missing tool (a failure with WOUNDPHASE_EXPECT_TOOLS)") = ::testing::Message()

// Runs a shell command line, stdout and stderr captured together.
CommandResult run_shell(const std::string& command);
// Runs the woundphase binary with the given argument string (shell-quoted by the caller).
CommandResult run_cli(const std::string& args);
// The same with environment assignments ("NAME=value ...") for the child process only.
CommandResult run_cli_env(const std::string& env, const std::string& args);

}  // namespace woundphase::testing

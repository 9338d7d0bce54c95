// What the user sees while a command runs: log lines by verbosity, a progress bar with ETA on a
// terminal (plain periodic lines otherwise), and a log file in the output folder at level 2.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "woundphase/search.h"

namespace spdlog {
class logger;
}

namespace woundphase::app {

// Verbosity as the predecessor: 0 errors and the final table; 1 one line per job; 2 also detail
// (epoch lines, parameter breakdowns); 3 the same and a progress bar with ETA (a higher level
// never shows less).
inline constexpr int kMaxVerbosity = 3;

class Reporter {
 public:
  explicit Reporter(int verbosity);
  // From now on, level-2 lines also go to `path` (appended; a resumed run continues its log).
  void log_to_file(const std::string& path);
  void operator()(const ProgressEvent& event);
  ProgressFn callback();
  // Ends a progress bar line, if one is drawn.
  void finish();
  // Jobs done (stored ones included) and planned, from the latest job event (any thread).
  int done() const { return done_; }
  int total() const { return total_; }

 private:
  void draw_bar(const ProgressEvent& event);
  int verbosity_;
  bool terminal_;
  bool bar_open_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_plain_;
  int first_done_ = -1;     // jobs already done (stored) when timing started, for a fair ETA
  ProgressEvent last_job_;  // the latest job event, redrawn with each step
  std::string step_;        // the current step inside the job, shown after the bar
  std::atomic<int> done_{0};
  std::atomic<int> total_{0};
};

// Installs the default logger (stderr, level by verbosity).
void configure_logging(int verbosity);

}  // namespace woundphase::app

#include "progress.h"

#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>  // for isatty

#include <atomic>
#include <cmath>  // for fmod
#include <cstdio>
#include <mutex>

namespace woundphase::app {
namespace {

constexpr int kBarWidth = 30;
constexpr auto kPlainInterval = std::chrono::seconds(10);  // between plain progress lines
constexpr const char* kPattern = "[%H:%M:%S] %^%v%$";

std::string duration_text(double seconds) {
  if (seconds < 60) return fmt::format("{:.0f}s", seconds);
  if (seconds < 3600) return fmt::format("{:.0f}m{:02.0f}s", seconds / 60, std::fmod(seconds, 60));
  return fmt::format("{:.0f}h{:02.0f}m", seconds / 3600, std::fmod(seconds / 60, 60));
}

// Whether a progress bar occupies the terminal's last line: a log line first clears it (the bar
// is redrawn with the next event), so bars and detail can share the terminal at verbosity 3.
std::atomic<bool> g_bar_on_screen{false};

class BarAwareSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    if (g_bar_on_screen.exchange(false)) std::fputs("\r\x1b[K", stderr);
    std::fwrite(formatted.data(), 1, formatted.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

void configure_logging(int verbosity) {
  auto sink = std::make_shared<BarAwareSink>();
  sink->set_pattern(kPattern);
  // Each level shows what the one below shows and more: 0 errors (the table goes to stdout),
  // 1 warnings and one line per job, 2 detail, 3 detail and the progress bar.
  sink->set_level(verbosity <= 0   ? spdlog::level::err
                  : verbosity == 1 ? spdlog::level::info
                                   : spdlog::level::debug);
  auto logger = std::make_shared<spdlog::logger>("woundphase", sink);
  logger->set_level(spdlog::level::debug);
  // Every line reaches the log file at once: an interrupted or killed search leaves its whole log.
  logger->flush_on(spdlog::level::debug);
  spdlog::set_default_logger(logger);
}

Reporter::Reporter(int verbosity)
    : verbosity_(verbosity),
      terminal_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_plain_(start_) {}

void Reporter::log_to_file(const std::string& path) {
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  file->set_pattern("[%Y-%m-%d %H:%M:%S] [%l] %v");
  file->set_level(spdlog::level::debug);  // the log file always gets level 2
  spdlog::default_logger()->sinks().push_back(file);
}

void Reporter::operator()(const ProgressEvent& event) {
  if (event.step) {
    // Steps inside a job (epochs, decoding) only move the bar: their detail is logged elsewhere.
    step_ = fmt::format("{} [{}/{}]", event.message, event.done, event.total);
    if (verbosity_ == kMaxVerbosity && terminal_) draw_bar(last_job_);
    return;
  }
  spdlog::info("{}", event.message);
  if (event.total <= 0) return;
  done_ = event.done;
  total_ = event.total;
  last_job_ = event;
  step_.clear();
  if (verbosity_ == kMaxVerbosity) draw_bar(event);
}

ProgressFn Reporter::callback() {
  return [this](const ProgressEvent& e) { (*this)(e); };
}

void Reporter::draw_bar(const ProgressEvent& event) {
  const auto now = std::chrono::steady_clock::now();
  if (event.total <= 0) {  // a step before the first job finished
    if (terminal_) {
      std::fprintf(stderr, "\r%s\x1b[K", step_.c_str());
      std::fflush(stderr);
      bar_open_ = true;
      g_bar_on_screen = true;
    }
    return;
  }
  if (first_done_ < 0) {
    first_done_ = event.done - 1;
    start_ = now;
  }
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int fresh = event.done - first_done_;
  const double eta = fresh > 0 ? elapsed / fresh * (event.total - event.done) : 0;
  const double share = static_cast<double>(event.done) / event.total;
  if (terminal_) {
    const int filled = static_cast<int>(share * kBarWidth);
    // \x1b[K clears what a longer previous line left behind.
    std::fprintf(stderr, "\r[%s%s] %d/%d jobs  %3.0f%%  elapsed %s  ETA %s  %s\x1b[K",
                 std::string(filled, '#').c_str(), std::string(kBarWidth - filled, ' ').c_str(),
                 event.done, event.total, 100 * share, duration_text(elapsed).c_str(),
                 fresh > 0 ? duration_text(eta).c_str() : "?", step_.c_str());
    std::fflush(stderr);
    bar_open_ = true;
    g_bar_on_screen = true;
    return;
  }
  // Not a terminal (a log, a CI job): a plain line now and then, and at the end.
  if (event.done == event.total || now - last_plain_ >= kPlainInterval) {
    std::fprintf(stderr, "progress: %d/%d jobs (%.0f%%), elapsed %s, ETA %s\n", event.done,
                 event.total, 100 * share, duration_text(elapsed).c_str(),
                 duration_text(eta).c_str());
    last_plain_ = now;
  }
}

void Reporter::finish() {
  if (!bar_open_) return;
  std::fputc('\n', stderr);
  bar_open_ = false;
}

}  // namespace woundphase::app

// The interrupt thread of interrupt.h: a signal handler wakes it through a pipe; it may lock, log
// and format freely.
#include "interrupt.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>  // for _exit, pipe, read, write

#include <csignal>  // for sigaction
#include <cstdio>   // for fputs, fflush
#include <mutex>
#include <thread>

#include "woundphase/store.h"  // for Store::write_lock

namespace woundphase::app {
namespace {

std::mutex& message_lock() {
  static std::mutex lock;
  return lock;
}

std::function<std::string()>& message_fn() {
  static std::function<std::string()> fn;
  return fn;
}

// The handler only writes the signal's number to this pipe (async-signal-safe); the watcher
// thread reads it and does the rest, where locking, formatting and logging are allowed. A
// handler, not sigwait: libraries start threads before main (OpenBLAS), and a thread that does
// not block the signal would take its default action.
int g_pipe[2] = {-1, -1};

extern "C" void on_signal(int signal) {
  const char c = static_cast<char>(signal);
  const ssize_t written = write(g_pipe[1], &c, 1);
  (void)written;  // nothing to do about a full pipe: one byte is enough
}

[[noreturn]] void wait_and_exit() {
  char c = 0;
  while (read(g_pipe[0], &c, 1) != 1) {
  }
  const int signal = static_cast<unsigned char>(c);
  // No store write is in flight once we hold the lock, and none begins after: the store on disk
  // holds exactly the jobs committed so far.
  const std::lock_guard<std::recursive_mutex> writing(Store::write_lock());
  std::string text = signal == SIGTERM ? "terminated" : "interrupted";
  {
    const std::lock_guard<std::mutex> lock(message_lock());
    if (message_fn()) {
      try {
        text += ": " + message_fn()();
      } catch (const std::exception& e) {
        text += fmt::format(" ({})", e.what());
      }
    }
  }
  // The log file records it; the terminal gets it once, below, even at verbosity 0.
  if (auto logger = spdlog::default_logger()) {
    const spdlog::details::log_msg msg(logger->name(), spdlog::level::warn, text);
    for (const auto& sink : logger->sinks())
      if (dynamic_cast<spdlog::sinks::basic_file_sink_mt*>(sink.get()) != nullptr) {
        sink->log(msg);
        sink->flush();
      }
  }
  std::fputs(("\n" + text + "\n").c_str(), stderr);
  std::fflush(stderr);
  std::fflush(stdout);
  _exit(kExitInterrupted);
}

}  // namespace

void install_interrupt_handler() {
  if (pipe(g_pipe) != 0) return;  // no pipe, no handler: the signals keep their default action
  for (int signal : {SIGINT, SIGTERM}) {
    struct sigaction current {};
    sigaction(signal, nullptr, &current);
    // A signal ignored at start stays ignored (a background job of a script ignores SIGINT).
    if (current.sa_handler == SIG_IGN) continue;
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(signal, &action, nullptr);
  }
  std::thread(wait_and_exit).detach();
}

void on_interrupt(std::function<std::string()> message) {
  const std::lock_guard<std::mutex> lock(message_lock());
  message_fn() = std::move(message);
}

std::string shell_command(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (i > 0) out += ' ';
    const bool plain = !a.empty() && a.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
                                         "OPQRSTUVWXYZ0123456789-_./=+,:@%") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

}  // namespace woundphase::app

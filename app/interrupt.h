// Ctrl-C and SIGTERM: the write in flight finishes, the user learns what is saved and how to go
// on, and the process exits 130 (the shell's code for an interrupt).
#pragma once

#include <functional>  // for function
#include <string>

namespace woundphase::app {

inline constexpr int kExitInterrupted = 130;

// Installs handlers for SIGINT and SIGTERM (unless ignored at start, as in a script's background
// job) and starts the thread that acts on them. Call at the start of main.
void install_interrupt_handler();

// What the handler prints after the write in flight finished (it holds Store::write_lock()
// while it prints and exits). Without one it prints "interrupted".
void on_interrupt(std::function<std::string()> message);

// The command line as the user can paste it again (arguments quoted for a POSIX shell).
std::string shell_command(int argc, char** argv);

}  // namespace woundphase::app

// The frame of a bench program's main(), shared by bench/vision (woundphase_vision_bench) and
// bench/gpu (woundphase_gpu_check, a vision-only build: it needs fmt and woundphase/core.h only).
#pragma once

#include <fmt/format.h>
#include <malloc.h>  // for mallopt

#include <exception>
#include <functional>  // for function
#include <map>
#include <string>

#include "woundphase/core.h"  // for InputError

namespace woundphase::bench {

// A bench command's flags: each with a value sets its field from the text (std::sto*: a bad number
// is an internal error), each switch sets its field to a fixed value.
class Flags {
 public:
  Flags& value(const std::string& flag, std::function<void(const std::string& text)> set) {
    values_[flag] = std::move(set);
    return *this;
  }
  Flags& add(const std::string& flag, int* field) {
    return value(flag, [field](const std::string& text) { *field = std::stoi(text); });
  }
  Flags& add(const std::string& flag, unsigned long long* field) {
    return value(flag, [field](const std::string& text) { *field = std::stoull(text); });
  }
  Flags& add(const std::string& flag, double* field) {
    return value(flag, [field](const std::string& text) { *field = std::stod(text); });
  }
  Flags& add(const std::string& flag, std::string* field) {
    return value(flag, [field](const std::string& text) { *field = text; });
  }
  Flags& add_switch(const std::string& flag, bool* field, bool to) {
    switches_[flag] = [field, to] { *field = to; };
    return *this;
  }

  // Applies argv[first], argv[first + 1], ...: false at a flag it does not know (the caller shows
  // its usage); InputError for a flag without its value.
  bool parse(int argc, char** argv, int first) const {
    for (int i = first; i < argc; ++i) {
      const std::string flag = argv[i];
      if (const auto s = switches_.find(flag); s != switches_.end()) {
        s->second();
        continue;
      }
      const auto v = values_.find(flag);
      if (v == values_.end()) return false;
      if (i + 1 >= argc) throw InputError(fmt::format("{} needs a value", flag));
      v->second(argv[++i]);
    }
    return true;
  }

 private:
  std::map<std::string, std::function<void(const std::string&)>> values_;
  std::map<std::string, std::function<void()>> switches_;
};

// Keeps freed memory mapped (glibc's trimming makes libtorch training many times slower:
// TOOLCHAIN.md pitfall 1), then runs `command(argv[1])`: the usage (its exit code) without a
// command; a bad input's message and exit code 2; any other error's message and exit code 1.
inline int bench_main(int argc, char** argv, const std::function<int()>& usage,
                      const std::function<int(const std::string& command)>& command) {
  constexpr int kNeverTrim = 0x7fffffff;
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, kNeverTrim);
  if (argc < 2) return usage();
  try {
    return command(argv[1]);
  } catch (const InputError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "internal error: {}\n", e.what());
    return 1;
  }
}

}  // namespace woundphase::bench

// The frame of a bench program's main(), shared by bench/vision (woundphase_vision_bench) and
// bench/gpu (woundphase_gpu_check, a vision-only build: it needs fmt and woundphase/core.h only).
#pragma once

#include <fmt/format.h>
#include <malloc.h>  // for mallopt

#include <exception>
#include <functional>  // for function
#include <string>

#include "woundphase/core.h"  // for InputError

namespace woundphase::bench {

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

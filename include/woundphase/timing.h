// Elapsed wall time, the one way every stage measures it (search jobs, branch and head training,
// tuning, synth, the CLI's summary line). Torch-free: the vision library uses it too.
#pragma once

#include <chrono>

namespace woundphase {

using Clock = std::chrono::steady_clock;

// Seconds on the steady clock since `start`.
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace woundphase

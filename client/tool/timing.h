// Timing helper for muke-tool's benchmarks.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

#include "absl/status/statusor.h"

namespace muke {

// Median wall time in seconds of `repeats` runs of `fn` (returning absl::Status), after one untimed warm-up
// run; the first error stops the measurement.
template <typename Fn>
absl::StatusOr<double> MedianSeconds(int64_t repeats, Fn fn) {
  absl::Status warmup = fn();
  if (!warmup.ok()) return warmup;
  std::vector<double> times;
  for (int64_t r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    absl::Status status = fn();
    if (!status.ok()) return status;
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace muke

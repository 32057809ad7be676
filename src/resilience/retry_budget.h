// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RetryBudget caps retries at a share of calls, so that a failing dependency
// sees at most (1 + ratio) times its normal load from retries instead of
// max_attempts times (a retry storm). Over a rolling window of `window`
// (10 buckets on the clock's monotonic time), a retry is allowed when, with
// it counted, retries <= ratio * calls + min_per_second * window_seconds
// where window_seconds = window / 1 s (fractional); the second term lets a
// process with little traffic still retry a few times.
//
// Internal: no API promise. Thread-safe (one mutex).

#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "resilience/rolling_counts.h"
#include "sluice/clock.h"

namespace sluice::resilience {

class RetryBudget {
 public:
  // REQUIRES: 0 <= ratio <= 1, min_per_second >= 0, window >= 10 us.
  RetryBudget(double ratio, int64_t min_per_second, std::chrono::nanoseconds window, Clock& clock);

  // Counts one call (its first attempt).
  void RecordCall();

  // Counts one retry and returns true if the budget allows it; false (and
  // counts nothing) otherwise.
  bool TryRetry();

  // Calls and retries in the window now.
  int64_t calls();
  int64_t retries();

 private:
  static constexpr int kBuckets = 10;

  int64_t NowNanos() const;

  const double ratio_;
  const double reserve_;  // min_per_second * window in seconds
  Clock& clock_;
  std::mutex mu_;
  RollingCounts<2> window_;  // guarded by mu_: calls, retries
};

}  // namespace sluice::resilience

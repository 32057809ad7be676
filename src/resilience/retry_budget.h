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
#include <vector>

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
  struct Bucket {
    int64_t index = -1;
    int64_t calls = 0;
    int64_t retries = 0;
  };
  static constexpr int kBuckets = 10;

  Bucket& Current(int64_t now_ns);  // REQUIRES: mu_ held
  void Sum(int64_t now_ns, int64_t& calls, int64_t& retries) const;  // REQUIRES: mu_ held

  const double ratio_;
  const double reserve_;  // min_per_second * window in seconds
  const int64_t bucket_ns_;
  Clock& clock_;
  std::mutex mu_;
  std::vector<Bucket> buckets_;  // guarded by mu_
};

}  // namespace sluice::resilience

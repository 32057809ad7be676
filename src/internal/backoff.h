// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Exponential backoff with full jitter, on an injected Clock and an injected
// random seed, for every retry loop in sluice (a remote read-modify-write that
// conflicted, a checkpoint save or load that failed, the resilience layer).
//
// Retry n (0-based) waits a uniformly random duration in [0, cap(n)], where
// cap(n) = min(max_delay, initial * multiplier^n). Full jitter spreads
// retrying clients over the whole window, so they do not retry in lockstep.
// The waits run on the clock's SleepFor(), so tests drive them with a
// SimulatedClock and a fixed seed and see the same delays every run.
//
// Internal: no API promise. A Backoff is thread-compatible (one per retry
// loop); RetryWithBackoff is thread-safe if `fn` is.
//
// Example:
//   Status s = RetryWithBackoff({.initial = 100ms, .max_attempts = 3, .seed = 42}, clock,
//                               [&] { return SaveOnce(); });

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>

#include "sluice/clock.h"
#include "sluice/result.h"
#include "sluice/status.h"

namespace sluice::internal {

struct BackoffOptions {
  // The cap of the first retry's wait. Default: 100 ms.
  std::chrono::nanoseconds initial{std::chrono::milliseconds(100)};
  // No wait is longer than this. Default: 10 s.
  std::chrono::nanoseconds max_delay{std::chrono::seconds(10)};
  // Growth of the cap per retry. Default: 2.
  double multiplier = 2.0;
  // Attempts in all, the first one included (so max_attempts - 1 waits).
  // Default: 3.
  int max_attempts = 3;
  // Seed of the jitter. Default: 0 (a fixed sequence; pass a per-process
  // random value to decorrelate processes).
  uint64_t seed = 0;

  // kInvalidArgument unless 0 < initial <= max_delay, multiplier >= 1 and
  // max_attempts >= 1.
  Status Validate() const;
};

class Backoff {
 public:
  // REQUIRES: options.Validate() is OK.
  Backoff(const BackoffOptions& options, Clock& clock);

  // The cap of retry `retry` (0-based): min(max_delay, initial * multiplier^retry).
  std::chrono::nanoseconds CapFor(int retry) const;

  // Draws the wait before the next retry (uniform in [0, CapFor(retries())])
  // and counts the retry.
  std::chrono::nanoseconds NextDelay();

  // True while fewer than max_attempts attempts were made, counting the first
  // attempt plus one per NextDelay()/Wait().
  bool CanRetry() const { return retries_ + 1 < options_.max_attempts; }

  // Sleeps NextDelay() on the clock and returns the wait.
  std::chrono::nanoseconds Wait();

  int retries() const { return retries_; }

  // Starts over (the jitter sequence goes on).
  void Reset() { retries_ = 0; }

 private:
  BackoffOptions options_;
  Clock& clock_;
  std::mt19937_64 rng_;
  int retries_ = 0;
};

// Whether a failed attempt is worth repeating: kUnavailable (nothing was
// applied) and kAborted (a conflict) are; everything else is final.
bool IsRetryable(const Status& status);

// Calls `fn` until it returns OK, returns a status `retryable` rejects, or
// options.max_attempts attempts were made; waits with Backoff between
// attempts. Returns the last status. kInvalidArgument for invalid options
// (then `fn` is not called).
Status RetryWithBackoff(const BackoffOptions& options, Clock& clock, const std::function<Status()>& fn,
                        const std::function<bool(const Status&)>& retryable = IsRetryable);

}  // namespace sluice::internal

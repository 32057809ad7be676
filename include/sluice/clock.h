// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A Clock tells the engine what time it is. Inject one through the Options
// structs; outside src/util/clock.cc nothing in sluice reads std::chrono clocks.
//
// Two kinds of time:
//   - monotonic time, for intervals inside one process (timeouts, backoff);
//   - wall time (nanoseconds since the Unix epoch), for anything persisted or
//     shared between processes: every rate-limit state is in wall time.
//
// Implementations must be thread-safe.
//
// Example:
//   sluice::Clock& clock = sluice::Clock::Real();
//   int64_t now = clock.NowNanos();

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "sluice/visibility.h"

namespace sluice {

class SLUICE_EXPORT Clock {
 public:
  using Monotonic = std::chrono::steady_clock::time_point;
  using Wall = std::chrono::system_clock::time_point;

  virtual ~Clock() = default;

  virtual Monotonic MonotonicNow() = 0;
  virtual Wall WallNow() = 0;
  // Blocks the calling thread for `d` of this clock's time (retry backoff,
  // blocking acquire). A simulated clock wakes the sleeper when advanced.
  virtual void SleepFor(std::chrono::nanoseconds d) = 0;

  // Wall time as integer nanoseconds since the Unix epoch: the unit of every
  // algorithm and stored state. Virtual so that a clock can serve it without
  // converting through time_point.
  virtual int64_t NowNanos();

  // The process-wide real clock. Never delete it.
  static Clock& Real();
};

// CachedClock amortises the cost of reading time: a background thread reads
// `source` every `resolution` and publishes it; readers pay one atomic load.
// Decisions then see time in steps of `resolution` (Default: 1 ms), which is
// exact enough for limits of whole seconds and makes a hot-key decision several
// times cheaper. Time never goes backwards through this clock.
//
// Thread-safe. The destructor stops the background thread promptly (it does
// not wait out a `resolution`). `source` must outlive the CachedClock. A
// `resolution` below 1 us is raised to 1 us. MonotonicNow() is cached the
// same way; SleepFor() is the source's SleepFor().
class SLUICE_EXPORT CachedClock final : public Clock {
 public:
  explicit CachedClock(std::chrono::nanoseconds resolution = std::chrono::milliseconds(1),
                       Clock& source = Clock::Real());
  ~CachedClock() override;
  CachedClock(const CachedClock&) = delete;
  CachedClock& operator=(const CachedClock&) = delete;

  Monotonic MonotonicNow() override;
  Wall WallNow() override;
  void SleepFor(std::chrono::nanoseconds d) override;
  int64_t NowNanos() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice

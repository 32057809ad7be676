// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// SimulatedClock is a Clock for tests: time stands still until the test moves
// it with Advance() or SetWall(), so tests of limits, expiry, backoff and
// timeouts are exact and never sleep.
//
// Wall time starts at `wall_ns` (default 2023-11-14T22:13:20Z); monotonic time
// starts at a fixed, arbitrary, non-zero point. Advance() moves both; SetWall()
// steps only wall time, forwards or backwards, as NTP can. SleepFor() blocks the
// calling thread until Advance() has moved monotonic time far enough, so a
// multi-threaded test can drive a sleeping thread deterministically: wait until
// sleepers() counts it, then advance.
//
// Thread-safe. No method returns an error. Destroying the clock while a thread
// is blocked in SleepFor() is a bug in the test.
//
// Example:
//   sluice::testing::SimulatedClock clock;
//   std::thread t([&] { clock.SleepFor(std::chrono::seconds(1)); });
//   while (clock.sleepers() == 0) std::this_thread::yield();
//   clock.Advance(std::chrono::seconds(1));  // wakes t
//   t.join();

#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "sluice/clock.h"

namespace sluice::testing {

class SimulatedClock final : public sluice::Clock {
 public:
  // Monotonic time at construction: 1000 s past the steady clock's epoch.
  static constexpr int64_t kInitialMonotonicNanos = 1'000'000'000'000;

  explicit SimulatedClock(int64_t wall_ns = 1'700'000'000'000'000'000);
  SimulatedClock(const SimulatedClock&) = delete;
  SimulatedClock& operator=(const SimulatedClock&) = delete;

  // Moves wall and monotonic time forward by `d` and wakes the sleepers whose
  // deadline has been reached. Both times saturate at INT64_MAX nanoseconds.
  // REQUIRES: d >= 0. A negative `d` is a test failure (ADD_FAILURE) and
  // leaves the clock unchanged: monotonic time never goes backwards.
  void Advance(std::chrono::nanoseconds d);

  // Sets wall time to `wall_ns` nanoseconds since the Unix epoch, earlier or
  // later than now. Monotonic time and sleepers are unaffected.
  void SetWall(int64_t wall_ns);

  int64_t NowNanos() override;
  Monotonic MonotonicNow() override;
  Wall WallNow() override;

  // Blocks until Advance() has moved monotonic time to at least
  // MonotonicNow() + d as read on entry. Returns at once when d <= 0.
  void SleepFor(std::chrono::nanoseconds d) override;

  // Returns the number of threads blocked in SleepFor() right now, so a test
  // can wait for a thread to be asleep before it advances the clock.
  size_t sleepers() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable wake_;  // Notified by Advance().
  size_t sleepers_ = 0;           // Guarded by mu_.
  // Written under mu_ (so that sleepers cannot miss an Advance), read without
  // it so that NowNanos() and MonotonicNow() are lock-free.
  std::atomic<int64_t> wall_ns_;
  std::atomic<int64_t> monotonic_ns_{kInitialMonotonicNanos};
};

}  // namespace sluice::testing

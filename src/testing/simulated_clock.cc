// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/testing/simulated_clock.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace sluice::testing {
namespace {

// Adds without wrapping: a test that advances by nanoseconds::max() gets the
// end of time, not a negative timestamp.
int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return sum;
}

}  // namespace

SimulatedClock::SimulatedClock(int64_t wall_ns) : wall_ns_(wall_ns) {}

void SimulatedClock::Advance(std::chrono::nanoseconds d) {
  if (d < std::chrono::nanoseconds::zero()) {
    ADD_FAILURE() << "SimulatedClock::Advance(" << d.count() << "ns): time cannot move backwards";
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    wall_ns_.store(SaturatingAdd(wall_ns_.load(std::memory_order_relaxed), d.count()),
                   std::memory_order_release);
    monotonic_ns_.store(SaturatingAdd(monotonic_ns_.load(std::memory_order_relaxed), d.count()),
                        std::memory_order_release);
  }
  // Every sleeper re-checks its own deadline; those not yet due wait again.
  wake_.notify_all();
}

void SimulatedClock::SetWall(int64_t wall_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  wall_ns_.store(wall_ns, std::memory_order_release);
}

int64_t SimulatedClock::NowNanos() { return wall_ns_.load(std::memory_order_acquire); }

Clock::Monotonic SimulatedClock::MonotonicNow() {
  return Monotonic(std::chrono::nanoseconds(monotonic_ns_.load(std::memory_order_acquire)));
}

Clock::Wall SimulatedClock::WallNow() {
  return Wall(std::chrono::duration_cast<Wall::duration>(std::chrono::nanoseconds(NowNanos())));
}

void SimulatedClock::SleepFor(std::chrono::nanoseconds d) {
  if (d <= std::chrono::nanoseconds::zero()) return;
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t deadline = SaturatingAdd(monotonic_ns_.load(std::memory_order_relaxed), d.count());
  ++sleepers_;
  wake_.wait(lock, [&] { return monotonic_ns_.load(std::memory_order_relaxed) >= deadline; });
  --sleepers_;
}

size_t SimulatedClock::sleepers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sleepers_;
}

}  // namespace sluice::testing

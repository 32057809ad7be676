// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/testing/simulated_clock.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

namespace sluice::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

constexpr int64_t kDefaultWall = 1'700'000'000'000'000'000;

// Spins (with yield) until `done()`, giving up after `limit` of real time so a
// broken clock fails the test instead of hanging it. Returns done().
template <typename Predicate>
bool SpinUntil(Predicate done, nanoseconds limit = seconds(30)) {
  const Clock::Monotonic give_up = Clock::Real().MonotonicNow() + limit;
  while (!done()) {
    if (Clock::Real().MonotonicNow() > give_up) return done();
    std::this_thread::yield();
  }
  return true;
}

int64_t WallNanos(SimulatedClock& clock) {
  return std::chrono::duration_cast<nanoseconds>(clock.WallNow().time_since_epoch()).count();
}

TEST(SimulatedClockTest, StartsWhereTold) {
  SimulatedClock clock;
  EXPECT_EQ(clock.NowNanos(), kDefaultWall);
  EXPECT_EQ(WallNanos(clock), kDefaultWall);
  EXPECT_EQ(clock.MonotonicNow().time_since_epoch(), nanoseconds(SimulatedClock::kInitialMonotonicNanos));
  EXPECT_EQ(clock.sleepers(), 0u);

  SimulatedClock other(42);
  EXPECT_EQ(other.NowNanos(), 42);
  EXPECT_EQ(WallNanos(other), 42);
}

TEST(SimulatedClockTest, StandsStillUntilAdvanced) {
  SimulatedClock clock;
  const Clock::Monotonic mono = clock.MonotonicNow();
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(clock.NowNanos(), kDefaultWall);
    EXPECT_EQ(clock.MonotonicNow(), mono);
  }
}

TEST(SimulatedClockTest, AdvanceMovesWallAndMonotonic) {
  SimulatedClock clock;
  const Clock::Monotonic mono = clock.MonotonicNow();
  clock.Advance(seconds(1));
  EXPECT_EQ(clock.NowNanos(), kDefaultWall + 1'000'000'000);
  EXPECT_EQ(clock.MonotonicNow(), mono + seconds(1));
  clock.Advance(nanoseconds(1));
  EXPECT_EQ(clock.NowNanos(), kDefaultWall + 1'000'000'001);
  EXPECT_EQ(WallNanos(clock), kDefaultWall + 1'000'000'001);
  EXPECT_EQ(clock.MonotonicNow(), mono + nanoseconds(1'000'000'001));
  clock.Advance(nanoseconds(0));
  EXPECT_EQ(clock.NowNanos(), kDefaultWall + 1'000'000'001);
}

TEST(SimulatedClockTest, SetWallStepsBackwardsAndForwardsWithoutMovingMonotonic) {
  SimulatedClock clock;
  const Clock::Monotonic mono = clock.MonotonicNow();
  clock.SetWall(kDefaultWall - 5'000'000'000);
  EXPECT_EQ(clock.NowNanos(), kDefaultWall - 5'000'000'000);
  EXPECT_EQ(WallNanos(clock), kDefaultWall - 5'000'000'000);
  EXPECT_EQ(clock.MonotonicNow(), mono);

  clock.Advance(seconds(2));  // Both move on from where they are.
  EXPECT_EQ(clock.NowNanos(), kDefaultWall - 3'000'000'000);
  EXPECT_EQ(clock.MonotonicNow(), mono + seconds(2));

  clock.SetWall(kDefaultWall + 3'600'000'000'000);
  EXPECT_EQ(clock.NowNanos(), kDefaultWall + 3'600'000'000'000);
  EXPECT_EQ(clock.MonotonicNow(), mono + seconds(2));
}

TEST(SimulatedClockTest, AdvanceSaturatesInsteadOfWrapping) {
  SimulatedClock clock;
  clock.Advance(nanoseconds::max());
  EXPECT_EQ(clock.NowNanos(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(clock.MonotonicNow().time_since_epoch().count(), std::numeric_limits<int64_t>::max());
  clock.Advance(seconds(1));
  EXPECT_EQ(clock.NowNanos(), std::numeric_limits<int64_t>::max());
}

TEST(SimulatedClockTest, NegativeAdvanceIsATestFailureAndChangesNothing) {
  SimulatedClock clock;
  const Clock::Monotonic mono = clock.MonotonicNow();
  EXPECT_NONFATAL_FAILURE(clock.Advance(seconds(-1)), "cannot move backwards");
  EXPECT_EQ(clock.NowNanos(), kDefaultWall);
  EXPECT_EQ(clock.MonotonicNow(), mono);
}

TEST(SimulatedClockTest, SleepForNonPositiveReturnsAtOnce) {
  SimulatedClock clock;
  clock.SleepFor(nanoseconds(0));
  clock.SleepFor(seconds(-1));
  EXPECT_EQ(clock.sleepers(), 0u);
  EXPECT_EQ(clock.NowNanos(), kDefaultWall);
}

TEST(SimulatedClockTest, SleeperWakesOnlyAfterEnoughAdvance) {
  SimulatedClock clock;
  const Clock::Monotonic start = clock.MonotonicNow();
  std::atomic<bool> woke{false};
  Clock::Monotonic woke_at{};
  std::thread sleeper([&] {
    clock.SleepFor(seconds(1));
    woke_at = clock.MonotonicNow();
    woke = true;
  });
  ASSERT_TRUE(SpinUntil([&] { return clock.sleepers() == 1; }));

  clock.Advance(milliseconds(999));
  // Not due: the thread must stay asleep. Give a wrongly woken thread plenty
  // of chances to show it.
  for (int i = 0; i < 1000; ++i) std::this_thread::yield();
  EXPECT_FALSE(woke);
  EXPECT_EQ(clock.sleepers(), 1u);

  clock.Advance(milliseconds(1));  // Exactly the deadline.
  sleeper.join();
  EXPECT_TRUE(woke);
  EXPECT_EQ(woke_at, start + seconds(1));
  EXPECT_EQ(clock.sleepers(), 0u);
}

TEST(SimulatedClockTest, SetWallDoesNotWakeSleepers) {
  SimulatedClock clock;
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    clock.SleepFor(seconds(1));
    woke = true;
  });
  ASSERT_TRUE(SpinUntil([&] { return clock.sleepers() == 1; }));
  clock.SetWall(kDefaultWall + 3'600'000'000'000);
  for (int i = 0; i < 1000; ++i) std::this_thread::yield();
  EXPECT_FALSE(woke);
  clock.Advance(seconds(1));
  sleeper.join();
  EXPECT_TRUE(woke);
}

TEST(SimulatedClockTest, SleepersWakeInDeadlineOrder) {
  SimulatedClock clock;
  constexpr int kThreads = 3;
  std::atomic<int> woken{0};
  std::atomic<bool> woke[kThreads] = {};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      clock.SleepFor(seconds(i + 1));
      woke[i] = true;
      ++woken;
    });
  }
  ASSERT_TRUE(SpinUntil([&] { return clock.sleepers() == kThreads; }));

  for (int round = 1; round <= kThreads; ++round) {
    clock.Advance(seconds(1));
    ASSERT_TRUE(SpinUntil([&] { return woken.load() == round; }));
    for (int i = 0; i < kThreads; ++i)
      EXPECT_EQ(woke[i].load(), i < round) << "round " << round << " thread " << i;
    EXPECT_TRUE(SpinUntil([&] { return clock.sleepers() == static_cast<size_t>(kThreads - round); }));
  }
  for (std::thread& t : threads) t.join();
}

TEST(SimulatedClockTest, OneLargeAdvanceWakesEveryone) {
  SimulatedClock clock;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&, i] { clock.SleepFor(milliseconds(10 * (i + 1))); });
  ASSERT_TRUE(SpinUntil([&] { return clock.sleepers() == 4; }));
  clock.Advance(seconds(1));
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(clock.sleepers(), 0u);
}

TEST(SimulatedClockTest, ConcurrentAdvancesAddUpAndReadersSeeMonotonicTime) {
  SimulatedClock clock;
  const Clock::Monotonic start = clock.MonotonicNow();
  constexpr int kWriters = 4;
  constexpr int kSteps = 10'000;
  std::atomic<bool> stop{false};
  std::atomic<bool> backwards{false};
  std::thread reader([&] {
    Clock::Monotonic prev = clock.MonotonicNow();
    int64_t prev_wall = clock.NowNanos();
    while (!stop) {
      const Clock::Monotonic now = clock.MonotonicNow();
      const int64_t wall = clock.NowNanos();
      if (now < prev || wall < prev_wall) backwards = true;
      prev = now;
      prev_wall = wall;
    }
  });
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&] {
      for (int s = 0; s < kSteps; ++s) clock.Advance(nanoseconds(3));
    });
  }
  for (std::thread& t : writers) t.join();
  stop = true;
  reader.join();
  EXPECT_FALSE(backwards);
  EXPECT_EQ(clock.MonotonicNow(), start + nanoseconds(3 * kWriters * kSteps));
  EXPECT_EQ(clock.NowNanos(), kDefaultWall + 3 * kWriters * kSteps);
}

}  // namespace
}  // namespace sluice::testing

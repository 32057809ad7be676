// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// These tests read real time, so they assert only orderings and generous
// bounds; waits spin with yield() until a condition holds, never sleep a fixed
// time and then look.

#include "sluice/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "sluice/testing/simulated_clock.h"

namespace sluice {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// Spins until `done()` or until `limit` of real time has passed. Returns done().
template <typename Predicate>
bool SpinUntil(Predicate done, std::chrono::nanoseconds limit = seconds(30)) {
  const Clock::Monotonic give_up = Clock::Real().MonotonicNow() + limit;
  while (!done()) {
    if (Clock::Real().MonotonicNow() > give_up) return done();
    std::this_thread::yield();
  }
  return true;
}

int64_t SystemNowNanos() {
  return std::chrono::duration_cast<nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST(RealClockTest, IsOneProcessWideInstance) { EXPECT_EQ(&Clock::Real(), &Clock::Real()); }

TEST(RealClockTest, MonotonicNeverGoesBackwards) {
  Clock& clock = Clock::Real();
  Clock::Monotonic prev = clock.MonotonicNow();
  for (int i = 0; i < 100'000; ++i) {
    const Clock::Monotonic now = clock.MonotonicNow();
    ASSERT_GE(now, prev);
    prev = now;
  }
}

TEST(RealClockTest, NowNanosIsSystemTime) {
  const int64_t before = SystemNowNanos();
  const int64_t now = Clock::Real().NowNanos();
  const int64_t after = SystemNowNanos();
  // system_clock may step between the reads; allow a second of slack for it.
  EXPECT_GE(now, before - 1'000'000'000);
  EXPECT_LE(now, after + 1'000'000'000);
  // Sanity: after 2020-01-01.
  EXPECT_GT(now, int64_t{1'577'836'800} * 1'000'000'000);
}

TEST(RealClockTest, WallNowAgreesWithNowNanos) {
  Clock& clock = Clock::Real();
  const int64_t a = clock.NowNanos();
  const int64_t wall = std::chrono::duration_cast<nanoseconds>(clock.WallNow().time_since_epoch()).count();
  const int64_t b = clock.NowNanos();
  EXPECT_GE(wall, a - 1'000'000'000);
  EXPECT_LE(wall, b + 1'000'000'000);
}

// The base-class NowNanos() converts WallNow(); a clock that only implements
// the pure virtuals gets it for free.
class FixedClock final : public Clock {
 public:
  Monotonic MonotonicNow() override { return Monotonic(seconds(5)); }
  Wall WallNow() override {
    return Wall(std::chrono::duration_cast<Wall::duration>(nanoseconds(123'456'789)));
  }
  void SleepFor(nanoseconds) override {}
};

TEST(ClockTest, DefaultNowNanosConvertsWallNow) {
  FixedClock clock;
  EXPECT_EQ(clock.NowNanos(), 123'456'789);
}

TEST(RealClockTest, SleepForNonPositiveReturnsAtOnce) {
  // Nothing to assert about time: a hang here would time the test out.
  Clock::Real().SleepFor(nanoseconds(0));
  Clock::Real().SleepFor(seconds(-3600));
}

TEST(RealClockTest, SleepForSleepsAtLeastTheDuration) {
  // The one real sleep in the suite: it is what is under test, and only the
  // lower bound, which cannot flake, is asserted.
  Clock& clock = Clock::Real();
  const Clock::Monotonic start = clock.MonotonicNow();
  clock.SleepFor(milliseconds(2));
  EXPECT_GE(clock.MonotonicNow() - start, milliseconds(2));
}

TEST(CachedClockTest, FirstReadIsValid) {
  const int64_t before = Clock::Real().NowNanos();
  const Clock::Monotonic mono_before = Clock::Real().MonotonicNow();
  CachedClock clock(seconds(3600));  // The thread will not refresh during the test.
  const int64_t after = Clock::Real().NowNanos();
  const Clock::Monotonic mono_after = Clock::Real().MonotonicNow();
  EXPECT_GE(clock.NowNanos(), before);
  EXPECT_LE(clock.NowNanos(), after);
  EXPECT_GE(clock.MonotonicNow(), mono_before);
  EXPECT_LE(clock.MonotonicNow(), mono_after);
  EXPECT_EQ(std::chrono::duration_cast<nanoseconds>(clock.WallNow().time_since_epoch()).count(),
            clock.NowNanos());
}

TEST(CachedClockTest, AdvancesAndNeverGoesBackwards) {
  CachedClock clock(std::chrono::microseconds(100));
  const int64_t first = clock.NowNanos();
  const Clock::Monotonic first_mono = clock.MonotonicNow();
  int64_t prev = first;
  Clock::Monotonic prev_mono = first_mono;
  bool monotonic_ok = true;
  const bool advanced = SpinUntil([&] {
    const int64_t now = clock.NowNanos();
    const Clock::Monotonic mono = clock.MonotonicNow();
    if (now < prev || mono < prev_mono) monotonic_ok = false;
    prev = now;
    prev_mono = mono;
    // Several refreshes, so that more than one publication is checked.
    return now >= first + 1'000'000 && mono >= first_mono + milliseconds(1);
  });
  EXPECT_TRUE(advanced);
  EXPECT_TRUE(monotonic_ok);
}

TEST(CachedClockTest, ReadersOnManyThreadsNeverSeeTimeGoBackwards) {
  CachedClock clock(std::chrono::microseconds(50));
  std::atomic<bool> backwards{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      int64_t prev = clock.NowNanos();
      for (int i = 0; i < 200'000; ++i) {
        const int64_t now = clock.NowNanos();
        if (now < prev) backwards = true;
        prev = now;
      }
    });
  }
  for (std::thread& t : readers) t.join();
  EXPECT_FALSE(backwards);
}

TEST(CachedClockTest, CatchesUpWithASimulatedSource) {
  testing::SimulatedClock sim;
  const int64_t start = sim.NowNanos();
  const Clock::Monotonic start_mono = sim.MonotonicNow();
  CachedClock clock(std::chrono::microseconds(100), sim);
  EXPECT_EQ(clock.NowNanos(), start);
  EXPECT_EQ(clock.MonotonicNow(), start_mono);

  sim.Advance(seconds(1));
  EXPECT_TRUE(SpinUntil([&] { return clock.NowNanos() == start + 1'000'000'000; }))
      << "cached " << clock.NowNanos() << ", source " << sim.NowNanos();
  EXPECT_TRUE(SpinUntil([&] { return clock.MonotonicNow() == start_mono + seconds(1); }));
}

TEST(CachedClockTest, HoldsWallTimeWhenTheSourceStepsBack) {
  testing::SimulatedClock sim;
  const int64_t start = sim.NowNanos();
  const Clock::Monotonic start_mono = sim.MonotonicNow();
  CachedClock clock(std::chrono::microseconds(100), sim);

  sim.SetWall(start - 10'000'000'000);  // 10 s back...
  sim.Advance(seconds(1));              // ...and 1 s on: still 9 s behind.
  // The cached monotonic time is published after the wall time read after it,
  // so once it shows the Advance, the stepped-back wall time has been seen.
  ASSERT_TRUE(SpinUntil([&] { return clock.MonotonicNow() == start_mono + seconds(1); }));
  EXPECT_EQ(clock.NowNanos(), start);

  sim.Advance(seconds(20));  // Now 11 s past the start: the clock moves again.
  EXPECT_TRUE(SpinUntil([&] { return clock.NowNanos() == start + 11'000'000'000; }))
      << "cached " << clock.NowNanos() << ", source " << sim.NowNanos();
}

TEST(CachedClockTest, SleepForUsesTheSource) {
  testing::SimulatedClock sim;
  CachedClock clock(std::chrono::microseconds(100), sim);
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    clock.SleepFor(seconds(5));
    woke = true;
  });
  ASSERT_TRUE(SpinUntil([&] { return sim.sleepers() == 1; }));
  EXPECT_FALSE(woke);
  sim.Advance(seconds(5));
  sleeper.join();
  EXPECT_TRUE(woke);
}

TEST(CachedClockTest, DestructorDoesNotWaitOutTheResolution) {
  const Clock::Monotonic start = Clock::Real().MonotonicNow();
  { CachedClock clock(std::chrono::hours(1)); }
  // Generous: only a destructor that waits for the hour-long tick fails this.
  EXPECT_LT(Clock::Real().MonotonicNow() - start, seconds(60));
}

TEST(CachedClockTest, NonPositiveResolutionStillWorks) {
  testing::SimulatedClock sim;
  CachedClock clock(nanoseconds(0), sim);
  sim.Advance(milliseconds(7));
  EXPECT_TRUE(SpinUntil([&] { return clock.NowNanos() == sim.NowNanos(); }));
  CachedClock negative(nanoseconds(-5), sim);
  EXPECT_EQ(negative.NowNanos(), sim.NowNanos());
}

}  // namespace
}  // namespace sluice

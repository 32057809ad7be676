// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "internal/backoff.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "sluice/testing/simulated_clock.h"

namespace sluice::internal {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST(BackoffTest, CapsGrowAndSaturate) {
  testing::SimulatedClock clock;
  Backoff b(
      {.initial = milliseconds(100), .max_delay = milliseconds(1600), .multiplier = 4, .max_attempts = 10},
      clock);
  EXPECT_EQ(b.CapFor(0), milliseconds(100));
  EXPECT_EQ(b.CapFor(1), milliseconds(400));
  EXPECT_EQ(b.CapFor(2), milliseconds(1600));
  EXPECT_EQ(b.CapFor(3), milliseconds(1600));
  EXPECT_EQ(b.CapFor(10'000), milliseconds(1600));  // no overflow
}

TEST(BackoffTest, FullJitterStaysWithinTheCapAndCoversIt) {
  testing::SimulatedClock clock;
  const BackoffOptions options{
      .initial = milliseconds(100), .max_delay = milliseconds(100), .max_attempts = 1'000'000};
  Backoff b(options, clock);
  nanoseconds lo = milliseconds(100), hi{0};
  for (int i = 0; i < 10'000; ++i) {
    const nanoseconds d = b.NextDelay();
    ASSERT_GE(d.count(), 0);
    ASSERT_LE(d, milliseconds(100));
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  // Full jitter: the draws span (nearly) all of [0, cap].
  EXPECT_LT(lo, milliseconds(1));
  EXPECT_GT(hi, milliseconds(99));
}

TEST(BackoffTest, SameSeedSameDelays) {
  testing::SimulatedClock clock;
  auto draw = [&](uint64_t seed) {
    Backoff b({.initial = milliseconds(10), .max_attempts = 20, .seed = seed}, clock);
    std::vector<int64_t> out;
    for (int i = 0; i < 8; ++i) out.push_back(b.NextDelay().count());
    return out;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
}

TEST(BackoffTest, CountsAttempts) {
  testing::SimulatedClock clock;
  Backoff b({.initial = milliseconds(1), .max_attempts = 3}, clock);
  EXPECT_TRUE(b.CanRetry());
  b.NextDelay();
  EXPECT_TRUE(b.CanRetry());
  b.NextDelay();
  EXPECT_FALSE(b.CanRetry());
  EXPECT_EQ(b.retries(), 2);
  b.Reset();
  EXPECT_TRUE(b.CanRetry());
  Backoff once({.initial = milliseconds(1), .max_attempts = 1}, clock);
  EXPECT_FALSE(once.CanRetry());
}

TEST(BackoffTest, RejectsInvalidOptions) {
  EXPECT_FALSE(BackoffOptions{.initial = nanoseconds(0)}.Validate().ok());
  EXPECT_FALSE((BackoffOptions{.initial = milliseconds(10), .max_delay = milliseconds(5)}.Validate().ok()));
  EXPECT_FALSE(BackoffOptions{.multiplier = 0.5}.Validate().ok());
  EXPECT_FALSE(BackoffOptions{.max_attempts = 0}.Validate().ok());
  EXPECT_TRUE(BackoffOptions{}.Validate().ok());
  testing::SimulatedClock clock;
  int calls = 0;
  Status s = RetryWithBackoff({.max_attempts = 0}, clock, [&] { return ++calls, Status::Ok(); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 0);
}

// The waits happen on the injected clock: the retrying thread sleeps until
// the test advances simulated time, and the total waited equals the draws.
TEST(BackoffTest, RetriesOnTheInjectedClock) {
  testing::SimulatedClock clock;
  std::atomic<int> calls{0};
  Status result;
  const BackoffOptions options{.initial = milliseconds(100),
                               .max_delay = milliseconds(1600),
                               .multiplier = 4,
                               .max_attempts = 3,
                               .seed = 1};
  std::thread worker([&] {
    result = RetryWithBackoff(
        options, clock, [&] { return calls.fetch_add(1) < 2 ? UnavailableError("down") : Status::Ok(); });
  });
  // Each wait is at most its cap; advancing by the cap always wakes it. After
  // wait k the worker makes attempt k + 2.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int k = 0;
  for (const auto cap : {milliseconds(100), milliseconds(400)}) {
    ++k;
    while (clock.sleepers() == 0 && calls.load() < k + 1) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the retry never slept";
      std::this_thread::yield();
    }
    if (calls.load() < k + 1) clock.Advance(cap);
    while (calls.load() < k + 1) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the wait did not end at its cap";
      std::this_thread::yield();
    }
  }
  worker.join();
  EXPECT_TRUE(result.ok()) << result.ToString();
  EXPECT_EQ(calls.load(), 3);
}

TEST(BackoffTest, StopsOnFinalErrorsAndAfterMaxAttempts) {
  testing::SimulatedClock clock;
  int calls = 0;
  Status s =
      RetryWithBackoff({.max_attempts = 5}, clock, [&] { return ++calls, InvalidArgumentError("bad"); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 1);
  // Zero-length waits (initial 1 ns, seed chosen freely) never block on the clock
  // for long; with max_attempts 1 there is no wait at all.
  calls = 0;
  s = RetryWithBackoff({.max_attempts = 1}, clock, [&] { return ++calls, AbortedError("conflict"); });
  EXPECT_EQ(s.code(), StatusCode::kAborted);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace sluice::internal

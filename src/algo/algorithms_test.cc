// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Property tests: many seeded random (time, cost) sequences per algorithm,
// checked against the promise each algorithm makes, plus exactness of
// retry_after and refill, and time stepping backwards.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <vector>

#include "algo/int_math.h"
#include "sluice/algorithms.h"

namespace sluice {
namespace {

using internal::int128;
using std::chrono::nanoseconds;
using std::chrono::seconds;

constexpr int64_t kT0 = 1'700'000'000'000'000'000;  // 2023-11-14T22:13:20Z
constexpr int64_t kSecond = 1'000'000'000;

Evaluation MustEval(const Policy& p, std::optional<LimiterState>& s, Operation op, int64_t cost, int64_t now) {
  Result<Evaluation> r = Evaluate(p, s, op, cost, now);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Evaluation{};
}

struct Admitted {
  int64_t t;
  int64_t cost;
};

// Random policies of every algorithm with small numbers, so limits are hit often.
Policy RandomPolicy(Algorithm a, std::mt19937_64& rng) {
  std::uniform_int_distribution<int64_t> limit(1, 20);
  std::uniform_int_distribution<int64_t> amount(1, 7);
  std::uniform_int_distribution<int64_t> interval_ms(1, 3000);
  const nanoseconds interval = std::chrono::milliseconds(interval_ms(rng)) + nanoseconds(rng() % 1000);
  switch (a) {
    case Algorithm::kTokenBucket: return Policy::TokenBucket(limit(rng), amount(rng), interval);
    case Algorithm::kGcra: return Policy::Gcra(limit(rng), amount(rng), interval);
    case Algorithm::kFixedWindow: return Policy::FixedWindow(limit(rng), interval);
    case Algorithm::kSlidingWindowLog: return Policy::SlidingWindowLog(limit(rng), interval);
    case Algorithm::kSlidingWindowCounter: return Policy::SlidingWindowCounter(limit(rng), interval);
  }
  return {};
}

// Runs a random sequence; returns what was admitted. Checks retry_after
// exactness on every denial and that remaining never exceeds the limit.
std::vector<Admitted> RunRandom(const Policy& p, std::mt19937_64& rng, int steps) {
  std::optional<LimiterState> state;
  std::vector<Admitted> admitted;
  int64_t now = kT0 + static_cast<int64_t>(rng() % (1000 * static_cast<uint64_t>(kSecond)));
  const int64_t max_step = std::max<int64_t>(2, p.interval.count() / std::max<int64_t>(1, p.limit) * 2);
  std::uniform_int_distribution<int64_t> cost_dist(0, std::min<int64_t>(p.limit, 4));
  for (int i = 0; i < steps; ++i) {
    // Mostly small steps (bursts), sometimes a long pause.
    if (rng() % 16 == 0) {
      now += static_cast<int64_t>(rng() % static_cast<uint64_t>(p.interval.count() * 3 + 1));
    } else {
      now += static_cast<int64_t>(rng() % static_cast<uint64_t>(max_step));
    }
    const int64_t cost = cost_dist(rng);
    std::optional<LimiterState> before = state;
    Evaluation ev = MustEval(p, state, Operation::kConsume, cost, now);
    EXPECT_LE(ev.decision.remaining, p.limit);
    EXPECT_GE(ev.decision.remaining, 0);
    if (ev.decision.allowed) {
      EXPECT_EQ(ev.decision.retry_after, nanoseconds(0));
      if (cost > 0) admitted.push_back({now, cost});
    } else {
      // retry_after is exact: one nanosecond earlier is still denied, at it admitted.
      const int64_t wait = ev.decision.retry_after.count();
      EXPECT_GT(wait, 0);
      std::optional<LimiterState> probe = before;
      EXPECT_FALSE(MustEval(p, probe, Operation::kPeek, cost, now + wait - 1).decision.allowed)
          << p.ToString() << " step " << i;
      probe = before;
      EXPECT_TRUE(MustEval(p, probe, Operation::kPeek, cost, now + wait).decision.allowed)
          << p.ToString() << " step " << i;
      probe = before;
      EXPECT_TRUE(MustEval(p, probe, Operation::kConsume, cost, now + wait).decision.allowed);
    }
    // Peek changes nothing and agrees with what consume would do.
    std::optional<LimiterState> peeked = state;
    MustEval(p, peeked, Operation::kPeek, cost, now);
    EXPECT_TRUE(peeked == state);
  }
  return admitted;
}

// Token bucket / GCRA: for all i <= j, admitted(i..j) <= limit + amount*(t_j - t_i)/interval.
// In O(n), with everything multiplied by `interval` (RELIABILITY.md 4.2).
void CheckBucketInvariant(const Policy& p, const std::vector<Admitted>& a) {
  const int128 interval = p.interval.count();
  int128 prefix = 0;
  int128 min_b = 0;
  bool have_b = false;
  for (const Admitted& x : a) {
    const int128 b = interval * prefix - int128{p.refill_amount} * x.t;
    min_b = have_b ? std::min(min_b, b) : b;
    have_b = true;
    prefix += x.cost;
    const int128 aj = interval * prefix - int128{p.refill_amount} * x.t;
    ASSERT_LE(aj - min_b, interval * p.limit) << p.ToString() << " over-admitted";
  }
}

void CheckFixedWindowInvariant(const Policy& p, const std::vector<Admitted>& a) {
  std::map<int64_t, int64_t> per_window;
  for (const Admitted& x : a) per_window[FixedWindowAt(p, x.t).start_ns] += x.cost;
  for (const auto& [start, sum] : per_window) ASSERT_LE(sum, p.limit) << p.ToString() << " window " << start;
}

void CheckSlidingInvariant(const Policy& p, const std::vector<Admitted>& a) {
  // Any window (t - W, t] ending at an admission holds at most `limit`.
  size_t lo = 0;
  int64_t sum = 0;
  for (size_t hi = 0; hi < a.size(); ++hi) {
    sum += a[hi].cost;
    while (a[lo].t <= a[hi].t - p.interval.count()) sum -= a[lo++].cost;
    ASSERT_LE(sum, p.limit) << p.ToString() << " at " << a[hi].t;
  }
}

void CheckCounterInvariant(const Policy& p, const std::vector<Admitted>& a) {
  std::map<int64_t, int64_t> per_window;
  for (const Admitted& x : a) per_window[x.t / p.interval.count()] += x.cost;
  for (const auto& [w, sum] : per_window) ASSERT_LE(sum, p.limit) << p.ToString();
  // The weighted estimate bounds any sliding window by twice the limit.
  CheckSlidingInvariant(Policy::SlidingWindowLog(std::min<int64_t>(2 * p.limit, kMaxSlidingLogLimit), p.interval),
                        a);
}

class AlgorithmPropertyTest : public ::testing::TestWithParam<Algorithm> {};

TEST_P(AlgorithmPropertyTest, NeverOverAdmitsAndRetryAfterIsExact) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    std::mt19937_64 rng(seed * 7919 + static_cast<uint64_t>(GetParam()));
    const Policy p = RandomPolicy(GetParam(), rng);
    ASSERT_TRUE(p.Validate().ok()) << p.ToString();
    const std::vector<Admitted> a = RunRandom(p, rng, 400);
    switch (GetParam()) {
      case Algorithm::kTokenBucket:
      case Algorithm::kGcra: CheckBucketInvariant(p, a); break;
      case Algorithm::kFixedWindow: CheckFixedWindowInvariant(p, a); break;
      case Algorithm::kSlidingWindowLog: CheckSlidingInvariant(p, a); break;
      case Algorithm::kSlidingWindowCounter: CheckCounterInvariant(p, a); break;
    }
    if (HasFatalFailure() || HasNonfatalFailure()) FAIL() << "seed " << seed;
  }
}

// A clock that steps backwards behaves as if time had stood still: every
// decision equals the one made at the running maximum of the times seen.
TEST_P(AlgorithmPropertyTest, BackwardsClockNeverCreatesTokens) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    std::mt19937_64 rng(seed * 104729 + static_cast<uint64_t>(GetParam()));
    const Policy p = RandomPolicy(GetParam(), rng);
    std::optional<LimiterState> jumpy, frozen;
    int64_t now = kT0;
    int64_t high = internal::kInt64Min;
    for (int i = 0; i < 300; ++i) {
      const int64_t step = static_cast<int64_t>(rng() % static_cast<uint64_t>(p.interval.count() / 2 + 2));
      now += (rng() % 4 == 0) ? -3 * step : step;  // a quarter of the steps go backwards
      high = std::max(high, now);
      const int64_t cost = static_cast<int64_t>(rng() % static_cast<uint64_t>(std::min<int64_t>(p.limit, 3) + 1));
      const Operation op = rng() % 10 == 0 ? Operation::kRefund : Operation::kConsume;
      const Evaluation a = MustEval(p, jumpy, op, cost, now);
      const Evaluation b = MustEval(p, frozen, op, cost, high);
      ASSERT_EQ(a.decision.allowed, b.decision.allowed) << p.ToString() << " seed " << seed << " step " << i;
      ASSERT_EQ(a.decision.remaining, b.decision.remaining) << p.ToString() << " seed " << seed;
      if (GetParam() != Algorithm::kFixedWindow) {
        // Fixed windows keep the true `now` for waits inside one window, which is
        // only ever longer; the others are exactly equal.
        ASSERT_EQ(a.decision.retry_after, b.decision.retry_after) << p.ToString() << " seed " << seed;
      } else {
        ASSERT_GE(a.decision.retry_after, b.decision.retry_after);
      }
    }
  }
}

TEST_P(AlgorithmPropertyTest, CostValidation) {
  std::mt19937_64 rng(1);
  const Policy p = RandomPolicy(GetParam(), rng);
  std::optional<LimiterState> s;
  EXPECT_EQ(Evaluate(p, s, Operation::kConsume, -1, kT0).status().code(), StatusCode::kInvalidArgument);
  Result<Evaluation> too_big = Evaluate(p, s, Operation::kConsume, p.limit + 1, kT0);
  EXPECT_EQ(too_big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.status().message().find("could never be admitted"), std::string_view::npos);
  EXPECT_EQ(Evaluate(p, s, Operation::kPeek, p.limit + 1, kT0).status().code(), StatusCode::kInvalidArgument);
  // A refund larger than the limit is fine: it clamps.
  EXPECT_TRUE(Evaluate(p, s, Operation::kRefund, p.limit + 100, kT0).ok());
  // Cost 0 is a peek that always succeeds.
  EXPECT_TRUE(MustEval(p, s, Operation::kConsume, 0, kT0).decision.allowed);
  EXPECT_EQ(MustEval(p, s, Operation::kConsume, 0, kT0).decision.remaining, p.limit);
}

TEST_P(AlgorithmPropertyTest, RefundAndResetRestoreCapacity) {
  std::mt19937_64 rng(3);
  const Policy p = RandomPolicy(GetParam(), rng);
  std::optional<LimiterState> s;
  EXPECT_TRUE(MustEval(p, s, Operation::kConsume, p.limit, kT0).decision.allowed);
  EXPECT_EQ(MustEval(p, s, Operation::kPeek, 0, kT0).decision.remaining, 0);
  EXPECT_FALSE(MustEval(p, s, Operation::kConsume, 1, kT0).decision.allowed);
  const Evaluation refunded = MustEval(p, s, Operation::kRefund, 1, kT0);
  EXPECT_TRUE(refunded.changed);
  EXPECT_EQ(refunded.decision.remaining, 1);
  EXPECT_TRUE(MustEval(p, s, Operation::kConsume, 1, kT0).decision.allowed);
  const Evaluation reset = MustEval(p, s, Operation::kReset, 0, kT0);
  EXPECT_EQ(reset.decision.remaining, p.limit);
  EXPECT_EQ(reset.decision.reset_after, nanoseconds(0));
  EXPECT_EQ(reset.expires_at_ns, kT0);
}

TEST_P(AlgorithmPropertyTest, ExpiryMeansFresh) {
  // At expires_at the state decides exactly like a fresh one.
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    std::mt19937_64 rng(seed);
    const Policy p = RandomPolicy(GetParam(), rng);
    std::optional<LimiterState> s;
    int64_t now = kT0;
    Evaluation ev;
    for (int i = 0; i < 10; ++i) {
      now += static_cast<int64_t>(rng() % 1000);
      ev = MustEval(p, s, Operation::kConsume, 1, now);
    }
    ASSERT_GE(ev.expires_at_ns, now);
    std::optional<LimiterState> fresh;
    std::optional<LimiterState> old = s;
    const Evaluation a = MustEval(p, old, Operation::kPeek, p.limit, ev.expires_at_ns);
    const Evaluation b = MustEval(p, fresh, Operation::kPeek, p.limit, ev.expires_at_ns);
    ASSERT_TRUE(a.decision.allowed) << p.ToString();
    ASSERT_EQ(a.decision.remaining, b.decision.remaining) << p.ToString();
  }
}

INSTANTIATE_TEST_SUITE_P(All, AlgorithmPropertyTest,
                         ::testing::Values(Algorithm::kTokenBucket, Algorithm::kGcra, Algorithm::kFixedWindow,
                                           Algorithm::kSlidingWindowLog, Algorithm::kSlidingWindowCounter),
                         [](const auto& param_info) { return std::string(AlgorithmName(param_info.param)); });

TEST(TokenBucketAlgorithm, RefillsExactlyAtAnyRate) {
  // 7 tokens per 3 seconds: token k is back at exactly ceil(k * 3s / 7).
  const Policy p = Policy::TokenBucket(7, 7, seconds(3));
  std::optional<LimiterState> s;
  ASSERT_TRUE(MustEval(p, s, Operation::kConsume, 7, kT0).decision.allowed);
  for (int64_t k = 1; k <= 7; ++k) {
    const int64_t at = kT0 + (k * 3 * kSecond + 6) / 7;
    std::optional<LimiterState> probe = s;
    EXPECT_EQ(MustEval(p, probe, Operation::kPeek, 0, at).decision.remaining, k);
    probe = s;
    EXPECT_EQ(MustEval(p, probe, Operation::kPeek, 0, at - 1).decision.remaining, k - 1);
  }
  std::optional<LimiterState> probe = s;
  EXPECT_EQ(MustEval(p, probe, Operation::kPeek, 0, kT0 + 100 * kSecond).decision.remaining, 7);
}

TEST(TokenBucketAlgorithm, RefillAccumulatesFractionsAcrossCalls) {
  // One token per second, polled every 300 ms: the fractions add up exactly.
  const Policy p = Policy::TokenBucket(5, 1, seconds(1));
  std::optional<LimiterState> s;
  ASSERT_TRUE(MustEval(p, s, Operation::kConsume, 5, kT0).decision.allowed);
  int64_t now = kT0;
  for (int i = 0; i < 10; ++i) {
    now += 300'000'000;
    MustEval(p, s, Operation::kConsume, 0, now);
  }
  EXPECT_EQ(MustEval(p, s, Operation::kPeek, 0, now).decision.remaining, 3);  // 3.0 s elapsed
}

TEST(TokenBucketAlgorithm, DecisionFields) {
  const Policy p = Policy::TokenBucket(10, 1, seconds(1));
  std::optional<LimiterState> s;
  Evaluation ev = MustEval(p, s, Operation::kConsume, 4, kT0);
  EXPECT_TRUE(ev.decision.allowed);
  EXPECT_EQ(ev.decision.limit, 10);
  EXPECT_EQ(ev.decision.remaining, 6);
  EXPECT_EQ(ev.decision.reset_after, seconds(4));
  EXPECT_EQ(ev.expires_at_ns, kT0 + 4 * kSecond);
  ev = MustEval(p, s, Operation::kConsume, 9, kT0);
  EXPECT_FALSE(ev.decision.allowed);
  EXPECT_EQ(ev.decision.remaining, 6);
  EXPECT_EQ(ev.decision.retry_after, seconds(3));
}

TEST(TokenBucketAlgorithm, HugeValuesSaturateInsteadOfOverflowing) {
  const Policy p = Policy::TokenBucket(1'000'000'000'000'000, 1'000'000'000'000'000, nanoseconds(1));
  std::optional<LimiterState> s;
  EXPECT_TRUE(MustEval(p, s, Operation::kConsume, 1'000'000'000'000'000, 0).decision.allowed);
  EXPECT_EQ(MustEval(p, s, Operation::kPeek, 0, internal::kInt64Max).decision.remaining, p.limit);
  const Policy slow = Policy::TokenBucket(1'000'000'000'000'000, 1, std::chrono::hours(24 * 36000));
  std::optional<LimiterState> t;
  const Evaluation ev = MustEval(slow, t, Operation::kConsume, 1'000'000'000'000'000, internal::kInt64Max - 5);
  EXPECT_TRUE(ev.decision.allowed);
  EXPECT_EQ(ev.expires_at_ns, internal::kInt64Max);
  EXPECT_GT(ev.decision.reset_after.count(), 0);
}

// ---- The end of int64 time -------------------------------------------------
// Instants are saturated at INT64_MAX ("not before the end of time"); waits are
// exact differences, saturated only when they do not fit.

constexpr int64_t kEnd = internal::kInt64Max;

TEST(EndOfTime, GcraKeepsItsDebtInsteadOfForgettingIt) {
  const Policy p = Policy::Gcra(10, 1, seconds(1));
  std::optional<LimiterState> s;
  const int64_t t = kEnd - 5 * kSecond;
  // Five units fit before the end of time; the rest would move the arrival
  // time past it and could never be admitted.
  int admitted = 0;
  for (int i = 0; i < 30; ++i) {
    const Evaluation ev = MustEval(p, s, Operation::kConsume, 1, t);
    if (ev.decision.allowed) {
      ++admitted;
    } else {
      EXPECT_EQ(ev.decision.retry_after, nanoseconds::max()) << i;
      EXPECT_EQ(ev.decision.remaining, 0);
      EXPECT_EQ(ev.decision.reset_after, seconds(5));
      EXPECT_EQ(ev.expires_at_ns, kEnd);
    }
  }
  EXPECT_EQ(admitted, 5);
  EXPECT_EQ(std::get<GcraState>(*s).tat_ns, kEnd);
  EXPECT_EQ(MustEval(p, s, Operation::kPeek, 0, t).decision.remaining, 0);
  const std::optional<LimiterState> at_t = s;
  // Time moving on to the very end forgets nothing.
  for (int64_t now : {t + 1, kEnd - 1, kEnd}) {
    const Evaluation ev = MustEval(p, s, Operation::kConsume, 1, now);
    EXPECT_FALSE(ev.decision.allowed) << now;
    EXPECT_EQ(ev.decision.remaining, 0);
    EXPECT_EQ(ev.decision.reset_after, nanoseconds(kEnd - now));
    EXPECT_EQ(ev.expires_at_ns, kEnd);
  }
  // A refund makes room again; a reset forgets the debt.
  std::optional<LimiterState> r = at_t;
  MustEval(p, r, Operation::kRefund, 3, t);
  EXPECT_EQ(MustEval(p, r, Operation::kPeek, 0, t).decision.remaining, 3);
  EXPECT_TRUE(MustEval(p, r, Operation::kConsume, 3, t).decision.allowed);
  EXPECT_FALSE(MustEval(p, r, Operation::kConsume, 1, t).decision.allowed);
  MustEval(p, r, Operation::kReset, 0, t);
  EXPECT_EQ(MustEval(p, r, Operation::kPeek, 0, t).decision.remaining, 5);
  // At the last nanosecond nothing fits before the end.
  std::optional<LimiterState> last;
  const Evaluation at_end = MustEval(p, last, Operation::kConsume, 1, kEnd);
  EXPECT_FALSE(at_end.decision.allowed);
  EXPECT_EQ(at_end.decision.remaining, 0);
  EXPECT_EQ(at_end.decision.retry_after, nanoseconds::max());
  // Far from the end the bound changes nothing.
  std::optional<LimiterState> early;
  EXPECT_EQ(MustEval(p, early, Operation::kConsume, 10, kT0).decision.remaining, 0);
  EXPECT_EQ(MustEval(p, early, Operation::kConsume, 1, kT0).decision.retry_after, seconds(1));
}

TEST(EndOfTime, FixedWindowsEndingAfterItReportExactWaits) {
  using namespace std::chrono;
  const auto days_ns = [](year_month_day d) {
    return int128{sys_days(d).time_since_epoch().count()} * 86'400 * kSecond;
  };
  struct Case {
    Policy policy;
    int128 end;  // of the window holding INT64_MAX (2262-04-11T23:47:16.854775807Z)
  };
  const int128 hour = int128{3600} * kSecond;
  const Case cases[] = {
      {Policy::FixedWindow(2, hours(1)), (int128{kEnd} / hour + 1) * hour},
      {Policy::FixedWindow(2, hours(24 * 365)), (int128{kEnd} / (8760 * hour) + 1) * 8760 * hour},
      {Policy::CalendarWindow(2, WindowAlignment::kCalendarDay), days_ns(year{2262} / April / 12)},
      {Policy::CalendarWindow(2, WindowAlignment::kCalendarWeek), days_ns(year{2262} / April / 14)},  // a Monday
      {Policy::CalendarWindow(2, WindowAlignment::kCalendarMonth), days_ns(year{2262} / May / 1)},
      {Policy::CalendarWindow(2, WindowAlignment::kCalendarYear), days_ns(year{2263} / January / 1)},
  };
  for (const Case& c : cases) {
    ASSERT_GT(c.end, int128{kEnd});
    std::optional<LimiterState> s;
    for (int64_t now : {kEnd - 10 * kSecond, kEnd - 1, kEnd}) {
      const nanoseconds left(static_cast<int64_t>(c.end - now));
      const Evaluation first = MustEval(c.policy, s, Operation::kConsume, 1, now);
      EXPECT_TRUE(first.decision.allowed) << c.policy.ToString() << " at " << now;
      EXPECT_EQ(first.decision.reset_after, left) << c.policy.ToString() << " at " << now;
      EXPECT_EQ(first.expires_at_ns, kEnd) << c.policy.ToString();
      MustEval(c.policy, s, Operation::kConsume, 1, now);
      const Evaluation denied = MustEval(c.policy, s, Operation::kConsume, 1, now);
      EXPECT_FALSE(denied.decision.allowed);
      EXPECT_EQ(denied.decision.retry_after, left) << c.policy.ToString() << " at " << now;
      EXPECT_EQ(denied.decision.reset_after, left);
      MustEval(c.policy, s, Operation::kReset, 0, now);
    }
    EXPECT_EQ(FixedWindowAt(c.policy, kEnd).end_ns, kEnd);  // the public bounds saturate
  }
}

TEST(EndOfTime, EveryAlgorithmSaturatesOnlyItsResults) {
  // Token bucket, sliding log and counter at the last nanosecond: their state
  // times never pass `now`, so they admit the full limit; expiries saturate.
  const Policy policies[] = {Policy::TokenBucket(4, 1, seconds(1)), Policy::SlidingWindowLog(4, seconds(3)),
                             Policy::SlidingWindowCounter(4, seconds(5))};
  for (const Policy& p : policies) {
    std::optional<LimiterState> s;
    EXPECT_TRUE(MustEval(p, s, Operation::kConsume, 4, kEnd).decision.allowed) << p.ToString();
    const Evaluation denied = MustEval(p, s, Operation::kConsume, 1, kEnd);
    EXPECT_FALSE(denied.decision.allowed) << p.ToString();
    EXPECT_GT(denied.decision.retry_after.count(), 0) << p.ToString();
    EXPECT_EQ(denied.expires_at_ns, kEnd) << p.ToString();
    EXPECT_EQ(ExpiresAt(p, *s), kEnd) << p.ToString();
  }
  std::optional<LimiterState> tb;
  const Policy p = Policy::TokenBucket(4, 1, seconds(1));
  MustEval(p, tb, Operation::kConsume, 4, kEnd - kSecond);
  const Evaluation ev = MustEval(p, tb, Operation::kConsume, 2, kEnd - kSecond);
  EXPECT_EQ(ev.decision.retry_after, seconds(2));  // exact, although it ends after INT64_MAX
  EXPECT_EQ(ev.decision.reset_after, seconds(4));
  EXPECT_EQ(ev.expires_at_ns, kEnd);
}

TEST(GcraAlgorithm, DecidesExactlyLikeTheTokenBucket) {
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    std::mt19937_64 rng(seed);
    const Policy tb = RandomPolicy(Algorithm::kTokenBucket, rng);
    const Policy gcra = Policy::Gcra(tb.limit, tb.refill_amount, tb.interval);
    std::optional<LimiterState> a, b;
    int64_t now = kT0;
    for (int i = 0; i < 300; ++i) {
      now += static_cast<int64_t>(rng() % static_cast<uint64_t>(tb.interval.count() / tb.limit + 1));
      const int64_t cost = static_cast<int64_t>(rng() % static_cast<uint64_t>(tb.limit + 1));
      const Decision x = MustEval(tb, a, Operation::kConsume, cost, now).decision;
      const Decision y = MustEval(gcra, b, Operation::kConsume, cost, now).decision;
      ASSERT_EQ(x, y) << tb.ToString() << " seed " << seed << " step " << i;
    }
  }
}

TEST(FixedWindowAlgorithm, EpochAligned) {
  const Policy p = Policy::FixedWindow(3, seconds(10));
  std::optional<LimiterState> s;
  const int64_t start = kT0 - kT0 % (10 * kSecond);
  EXPECT_TRUE(MustEval(p, s, Operation::kConsume, 3, start + 9 * kSecond).decision.allowed);
  const Evaluation denied = MustEval(p, s, Operation::kConsume, 1, start + 9 * kSecond);
  EXPECT_FALSE(denied.decision.allowed);
  EXPECT_EQ(denied.decision.retry_after, seconds(1));
  EXPECT_TRUE(MustEval(p, s, Operation::kConsume, 3, start + 10 * kSecond).decision.allowed);
}

int64_t Utc(int y, int mo, int d, int h = 0) {
  // Days from civil, independent of the implementation under test: count by loop.
  int64_t days = 0;
  for (int year = 1970; year < y; ++year) days += (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 366 : 365;
  static const int kMonth[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  for (int m = 1; m < mo; ++m) days += kMonth[m - 1] + ((m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 1 : 0);
  days += d - 1;
  return (days * 86400 + h * 3600) * kSecond;
}

TEST(FixedWindowAlgorithm, CalendarAlignedInUtc) {
  const Policy day = Policy::CalendarWindow(5, WindowAlignment::kCalendarDay);
  const Policy week = Policy::CalendarWindow(5, WindowAlignment::kCalendarWeek);
  const Policy month = Policy::CalendarWindow(5, WindowAlignment::kCalendarMonth);
  const Policy year = Policy::CalendarWindow(5, WindowAlignment::kCalendarYear);
  const int64_t t = Utc(2024, 2, 29, 13);  // a Thursday in a leap year
  EXPECT_EQ(FixedWindowAt(day, t).start_ns, Utc(2024, 2, 29));
  EXPECT_EQ(FixedWindowAt(day, t).end_ns, Utc(2024, 3, 1));
  EXPECT_EQ(FixedWindowAt(week, t).start_ns, Utc(2024, 2, 26));  // Monday
  EXPECT_EQ(FixedWindowAt(week, t).end_ns, Utc(2024, 3, 4));
  EXPECT_EQ(FixedWindowAt(month, t).start_ns, Utc(2024, 2, 1));
  EXPECT_EQ(FixedWindowAt(month, t).end_ns, Utc(2024, 3, 1));
  EXPECT_EQ(FixedWindowAt(month, Utc(2023, 12, 31, 23)).end_ns, Utc(2024, 1, 1));
  EXPECT_EQ(FixedWindowAt(year, t).start_ns, Utc(2024, 1, 1));
  EXPECT_EQ(FixedWindowAt(year, t).end_ns, Utc(2025, 1, 1));
  EXPECT_EQ(FixedWindowAt(week, Utc(1970, 1, 1)).start_ns, -3 * 86400 * kSecond);  // Monday 1969-12-29
  // Month windows: 31 days in January, the limit renews on the first.
  std::optional<LimiterState> s;
  EXPECT_TRUE(MustEval(month, s, Operation::kConsume, 5, Utc(2025, 1, 31, 23)).decision.allowed);
  const Evaluation denied = MustEval(month, s, Operation::kConsume, 1, Utc(2025, 1, 31, 23));
  EXPECT_EQ(denied.decision.retry_after, std::chrono::hours(1));
  EXPECT_TRUE(MustEval(month, s, Operation::kConsume, 5, Utc(2025, 2, 1)).decision.allowed);
}

TEST(SlidingWindowLogAlgorithm, ExactWindow) {
  const Policy p = Policy::SlidingWindowLog(2, seconds(10));
  std::optional<LimiterState> s;
  EXPECT_TRUE(MustEval(p, s, Operation::kConsume, 1, kT0).decision.allowed);
  EXPECT_TRUE(MustEval(p, s, Operation::kConsume, 1, kT0 + 5 * kSecond).decision.allowed);
  const Evaluation denied = MustEval(p, s, Operation::kConsume, 1, kT0 + 6 * kSecond);
  EXPECT_FALSE(denied.decision.allowed);
  EXPECT_EQ(denied.decision.retry_after, seconds(4));
  EXPECT_TRUE(MustEval(p, s, Operation::kConsume, 1, kT0 + 10 * kSecond).decision.allowed);
  EXPECT_EQ(std::get<SlidingWindowLogState>(*s).entries.size(), 2u);  // the first entry was pruned
}

TEST(SlidingWindowCounterAlgorithm, WeightsThePreviousWindow) {
  const Policy p = Policy::SlidingWindowCounter(10, seconds(10));
  const int64_t start = kT0 - kT0 % (10 * kSecond);
  std::optional<LimiterState> s;
  EXPECT_TRUE(MustEval(p, s, Operation::kConsume, 10, start + 5 * kSecond).decision.allowed);
  // 2.5 s into the next window the previous 10 count as ceil(10 * 0.75) = 8.
  Evaluation ev = MustEval(p, s, Operation::kPeek, 0, start + 12'500'000'000);
  EXPECT_EQ(ev.decision.remaining, 2);
  ev = MustEval(p, s, Operation::kConsume, 3, start + 12'500'000'000);
  EXPECT_FALSE(ev.decision.allowed);
  // Room for 3 when ceil(10 * (10 - e) / 10) <= 7, i.e. e >= 3 s.
  EXPECT_EQ(ev.decision.retry_after, nanoseconds(500'000'000));
}

TEST(Policy, ValidationNamesTheField) {
  EXPECT_NE(Policy::TokenBucket(0, 1, seconds(1)).Validate().message().find("limit"), std::string_view::npos);
  EXPECT_NE(Policy::TokenBucket(1, 0, seconds(1)).Validate().message().find("refill"), std::string_view::npos);
  EXPECT_NE(Policy::TokenBucket(1, 1, seconds(0)).Validate().message().find("interval"), std::string_view::npos);
  EXPECT_NE(Policy::SlidingWindowLog(kMaxSlidingLogLimit + 1, seconds(1)).Validate().message().find("cap"),
            std::string_view::npos);
  EXPECT_TRUE(Policy::CalendarWindow(1, WindowAlignment::kCalendarMonth).Validate().ok());
  Policy bad = Policy::TokenBucket(1, 1, seconds(1));
  bad.alignment = WindowAlignment::kCalendarDay;
  EXPECT_FALSE(bad.Validate().ok());
}

// A GCRA whose debt could run past int64 time would saturate and forget debt.
TEST(Policy, GcraBurstMustRefillWithinTheTimeRange) {
  const auto century = std::chrono::hours(24 * 36525);
  EXPECT_TRUE(Policy::Gcra(1, 1, century).Validate().ok());
  Status s = Policy::Gcra(1000, 1, century).Validate();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("full burst"), std::string_view::npos) << s.ToString();
  EXPECT_TRUE(Policy::Gcra(1000, 1000, century).Validate().ok());
}

TEST(Policy, FingerprintIsStable) {
  // Persisted in records: must never change for the same policy.
  EXPECT_EQ(Policy::TokenBucket(10, 1, seconds(1)).Fingerprint(), Policy::TokenBucket(10, 1, seconds(1)).Fingerprint());
  EXPECT_NE(Policy::TokenBucket(10, 1, seconds(1)).Fingerprint(), Policy::Gcra(10, 1, seconds(1)).Fingerprint());
  EXPECT_EQ(Policy::TokenBucket(10, 1, seconds(1)).Fingerprint(), 0xecf841d688679632ULL)
      << std::hex << Policy::TokenBucket(10, 1, seconds(1)).Fingerprint();
}

TEST(Policy, NamesRoundTrip) {
  for (Algorithm a : {Algorithm::kTokenBucket, Algorithm::kGcra, Algorithm::kFixedWindow,
                      Algorithm::kSlidingWindowLog, Algorithm::kSlidingWindowCounter}) {
    EXPECT_EQ(*ParseAlgorithm(AlgorithmName(a)), a);
  }
  EXPECT_FALSE(ParseAlgorithm("leaky").ok());
  EXPECT_EQ(*ParseWindowAlignment("month"), WindowAlignment::kCalendarMonth);
}

TEST(ValidateState, RejectsOutOfRange) {
  const Policy p = Policy::TokenBucket(10, 1, seconds(1));
  EXPECT_TRUE(ValidateState(p, TokenBucketState{10, 0, kT0}, kT0).ok());
  EXPECT_NE(ValidateState(p, TokenBucketState{11, 0, kT0}, kT0).message().find("exceeds capacity 10"),
            std::string_view::npos);
  EXPECT_FALSE(ValidateState(p, TokenBucketState{-1, 0, kT0}, kT0).ok());
  EXPECT_NE(ValidateState(p, TokenBucketState{1, 0, kT0 + 3600 * kSecond}, kT0).message().find("future"),
            std::string_view::npos);
  EXPECT_FALSE(ValidateState(p, GcraState{}, kT0).ok());
  const Policy log = Policy::SlidingWindowLog(3, seconds(1));
  EXPECT_FALSE(ValidateState(log, SlidingWindowLogState{{{kT0, 2}, {kT0 - 1, 1}}, kT0}, kT0).ok());
  EXPECT_FALSE(ValidateState(log, SlidingWindowLogState{{{kT0 - 1, 2}, {kT0, 2}}, kT0}, kT0).ok());
  EXPECT_TRUE(ValidateState(log, SlidingWindowLogState{{{kT0 - 1, 2}, {kT0, 1}}, kT0}, kT0).ok());
}

}  // namespace
}  // namespace sluice

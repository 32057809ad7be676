// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "resilience/retry_budget.h"

#include <gtest/gtest.h>

#include "sluice/testing/simulated_clock.h"

namespace sluice::resilience {
namespace {

using namespace std::chrono_literals;
using testing::SimulatedClock;

TEST(RetryBudgetTest, RetriesStayWithinTheRatioOfCalls) {
  SimulatedClock clock;
  RetryBudget budget(0.1, 0, 10s, clock);
  EXPECT_FALSE(budget.TryRetry()) << "no calls, no reserve";
  for (int i = 0; i < 100; ++i) budget.RecordCall();
  int allowed = 0;
  for (int i = 0; i < 50; ++i) allowed += budget.TryRetry() ? 1 : 0;
  EXPECT_EQ(allowed, 10);
  EXPECT_EQ(budget.retries(), 10);
  for (int i = 0; i < 9; ++i) budget.RecordCall();
  EXPECT_FALSE(budget.TryRetry()) << "11 retries > 0.1 * 109";
  budget.RecordCall();
  EXPECT_TRUE(budget.TryRetry()) << "11 retries <= 0.1 * 110";
}

TEST(RetryBudgetTest, ReservePerSecondLetsLightTrafficRetry) {
  SimulatedClock clock;
  RetryBudget budget(0.1, 2, 10s, clock);  // 2/s over 10 s: 20 retries whatever the traffic
  int allowed = 0;
  for (int i = 0; i < 50; ++i) allowed += budget.TryRetry() ? 1 : 0;
  EXPECT_EQ(allowed, 20);
}

TEST(RetryBudgetTest, OldCallsAndRetriesLeaveTheWindow) {
  SimulatedClock clock;
  RetryBudget budget(0.5, 0, 10s, clock);
  for (int i = 0; i < 10; ++i) budget.RecordCall();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(budget.TryRetry());
  EXPECT_FALSE(budget.TryRetry());
  clock.Advance(10s);
  EXPECT_EQ(budget.calls(), 0);
  EXPECT_EQ(budget.retries(), 0);
  EXPECT_FALSE(budget.TryRetry()) << "the old calls earn nothing any more";
  budget.RecordCall();
  budget.RecordCall();
  EXPECT_TRUE(budget.TryRetry());
  EXPECT_FALSE(budget.TryRetry());
}

TEST(RetryBudgetTest, ZeroRatioAndReserveNeverRetries) {
  SimulatedClock clock;
  RetryBudget budget(0.0, 0, 1s, clock);
  for (int i = 0; i < 1000; ++i) budget.RecordCall();
  EXPECT_FALSE(budget.TryRetry());
}

}  // namespace
}  // namespace sluice::resilience

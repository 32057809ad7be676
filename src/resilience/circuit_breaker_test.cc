// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/circuit_breaker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "resilience/resilience_test_util.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using resilience_test::RecordingMetrics;
using testing::SimulatedClock;

class CircuitBreakerTest : public ::testing::Test {
 protected:
  CircuitBreakerOptions Options() {
    CircuitBreakerOptions o;
    o.name = "b";
    o.clock = &clock_;
    o.minimum_calls = 10;
    o.failure_rate_threshold = 0.5;
    o.window = 10s;
    o.window_buckets = 10;
    o.open_duration = 1s;
    o.half_open_probes = 3;
    o.half_open_timeout = 5s;
    o.slow_call_duration = 100ms;
    o.observer.metrics = &metrics_;
    o.observer.logger = &Logger::Null();
    o.on_transition = [this](const BreakerTransition& t) { transitions_.push_back(t); };
    return o;
  }

  std::unique_ptr<CircuitBreaker> Make(CircuitBreakerOptions o) {
    auto b = CircuitBreaker::Create(std::move(o));
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return std::move(*b);
  }

  // Admits and records `n` calls with `outcome` and `latency`.
  static void Calls(CircuitBreaker& b, int n, CallOutcome outcome, std::chrono::nanoseconds latency = 1ms) {
    for (int i = 0; i < n; ++i) {
      BreakerPermit p = b.TryAcquire();
      ASSERT_TRUE(p.allowed) << "call " << i;
      b.Record(p, outcome, latency);
    }
  }

  void Open(CircuitBreaker& b) {
    Calls(b, 10, CallOutcome::kFailure);
    ASSERT_EQ(b.state(), BreakerState::kOpen);
  }

  SimulatedClock clock_;
  RecordingMetrics metrics_;
  std::vector<BreakerTransition> transitions_;
};

TEST_F(CircuitBreakerTest, ValidatesEveryOption) {
  struct Case {
    std::function<void(CircuitBreakerOptions&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& o) { o.name = ""; }, "name"},
      {[](auto& o) { o.failure_rate_threshold = 0; }, "failure_rate_threshold"},
      {[](auto& o) { o.failure_rate_threshold = 1.5; }, "failure_rate_threshold"},
      {[](auto& o) { o.slow_call_rate_threshold = 0; }, "slow_call_rate_threshold"},
      {[](auto& o) { o.slow_call_duration = 0ns; }, "slow_call_duration"},
      {[](auto& o) { o.window = 0ns; }, "window must"},
      {[](auto& o) { o.window_buckets = 0; }, "window_buckets"},
      {[](auto& o) { o.window_buckets = 1001; }, "window_buckets"},
      {[](auto& o) {
         o.window = 100ns;
         o.window_buckets = 10;
       },
       "at least 1us"},
      {[](auto& o) { o.minimum_calls = 0; }, "minimum_calls"},
      {[](auto& o) { o.open_duration = -1s; }, "open_duration"},
      {[](auto& o) { o.half_open_probes = 0; }, "half_open_probes"},
      {[](auto& o) { o.half_open_timeout = 0s; }, "half_open_timeout"},
      {[](auto& o) { o.mode = static_cast<BreakerMode>(9); }, "mode"},
  };
  for (const Case& c : cases) {
    CircuitBreakerOptions o = Options();
    c.change(o);
    auto b = CircuitBreaker::Create(o);
    ASSERT_FALSE(b.ok()) << c.message;
    EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(b.status().message().find(c.message), std::string_view::npos) << b.status().ToString();
  }
  EXPECT_TRUE(CircuitBreakerOptions{}.Validate().ok());
}

TEST_F(CircuitBreakerTest, NamesParse) {
  for (BreakerMode m : {BreakerMode::kNormal, BreakerMode::kForcedOpen, BreakerMode::kDisabled,
                        BreakerMode::kMetricsOnly}) {
    auto parsed = ParseBreakerMode(BreakerModeName(m));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, m);
  }
  EXPECT_EQ(ParseBreakerMode("sideways").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BreakerStateName(BreakerState::kHalfOpen), "half_open");
}

TEST_F(CircuitBreakerTest, NeedsMinimumCallsBeforeOpening) {
  auto b = Make(Options());
  Calls(*b, 9, CallOutcome::kFailure);
  EXPECT_EQ(b->state(), BreakerState::kClosed) << "9 failures < minimum_calls 10";
  Calls(*b, 1, CallOutcome::kFailure);
  EXPECT_EQ(b->state(), BreakerState::kOpen);
  EXPECT_FALSE(b->TryAcquire().allowed);
  ASSERT_EQ(transitions_.size(), 1u);
  EXPECT_EQ(transitions_[0].from, BreakerState::kClosed);
  EXPECT_EQ(transitions_[0].to, BreakerState::kOpen);
  EXPECT_TRUE(transitions_[0].enforced);
  EXPECT_NE(transitions_[0].reason.find("failure rate 1.00 >= 0.50 over 10 calls"), std::string::npos)
      << transitions_[0].reason;
}

TEST_F(CircuitBreakerTest, OpensExactlyAtFailureRateThreshold) {
  auto b = Make(Options());
  Calls(*b, 6, CallOutcome::kSuccess);
  Calls(*b, 4, CallOutcome::kFailure);
  EXPECT_EQ(b->state(), BreakerState::kClosed) << "4/10 < 0.5";
  Calls(*b, 1, CallOutcome::kFailure);
  EXPECT_EQ(b->state(), BreakerState::kClosed) << "5/11 < 0.5";
  Calls(*b, 1, CallOutcome::kFailure);
  EXPECT_EQ(b->state(), BreakerState::kOpen) << "6/12 >= 0.5";
}

TEST_F(CircuitBreakerTest, IgnoredOutcomesCountNowhere) {
  auto b = Make(Options());
  Calls(*b, 20, CallOutcome::kIgnored);
  Calls(*b, 9, CallOutcome::kFailure);
  EXPECT_EQ(b->state(), BreakerState::kClosed);
  EXPECT_EQ(b->window().calls, 9);
  EXPECT_EQ(b->counters().ignored, 20u);
}

TEST_F(CircuitBreakerTest, OpensOnSlowCallRate) {
  CircuitBreakerOptions o = Options();
  o.slow_call_rate_threshold = 0.8;
  auto b = Make(o);
  Calls(*b, 7, CallOutcome::kSuccess, 100ms);  // slow: at least slow_call_duration
  Calls(*b, 2, CallOutcome::kSuccess, 99ms);
  EXPECT_EQ(b->state(), BreakerState::kClosed);
  Calls(*b, 1, CallOutcome::kSuccess, 150ms);
  EXPECT_EQ(b->state(), BreakerState::kOpen) << "8/10 slow";
  EXPECT_NE(transitions_.back().reason.find("slow call rate"), std::string::npos) << transitions_.back().reason;
  EXPECT_EQ(b->counters().slow_calls, 8u);
}

TEST_F(CircuitBreakerTest, OldOutcomesLeaveTheWindow) {
  auto b = Make(Options());
  Calls(*b, 9, CallOutcome::kFailure);
  clock_.Advance(5s);
  EXPECT_EQ(b->window().failures, 9);
  clock_.Advance(5s);  // the 9 failures' bucket is now out of the 10 s window
  EXPECT_EQ(b->window().calls, 0);
  Calls(*b, 5, CallOutcome::kFailure);
  Calls(*b, 5, CallOutcome::kSuccess);
  EXPECT_EQ(b->state(), BreakerState::kOpen) << "5/10 in the current window";
}

TEST_F(CircuitBreakerTest, WindowSlidesBucketByBucket) {
  auto b = Make(Options());
  Calls(*b, 4, CallOutcome::kFailure);  // bucket 0
  clock_.Advance(1s);
  Calls(*b, 4, CallOutcome::kSuccess);  // bucket 1
  clock_.Advance(9s);                   // bucket 0 left, bucket 1 still in
  BreakerWindow w = b->window();
  EXPECT_EQ(w.calls, 4);
  EXPECT_EQ(w.failures, 0);
}

TEST_F(CircuitBreakerTest, OpenThenHalfOpenAfterOpenDuration) {
  auto b = Make(Options());
  Open(*b);
  EXPECT_EQ(b->open_remaining(), 1s);
  clock_.Advance(999ms);
  EXPECT_FALSE(b->TryAcquire().allowed);
  EXPECT_TRUE(b->rejecting());
  EXPECT_EQ(b->open_remaining(), 1ms);
  clock_.Advance(1ms);
  EXPECT_EQ(b->state(), BreakerState::kHalfOpen);
  EXPECT_FALSE(b->rejecting());
  BreakerPermit p1 = b->TryAcquire();
  BreakerPermit p2 = b->TryAcquire();
  BreakerPermit p3 = b->TryAcquire();
  EXPECT_TRUE(p1.allowed && p2.allowed && p3.allowed);
  EXPECT_TRUE(p1.probe && p2.probe && p3.probe);
  EXPECT_FALSE(b->TryAcquire().allowed) << "only 3 probes";
  EXPECT_TRUE(b->rejecting());
  b->Record(p1, CallOutcome::kSuccess, 1ms);
  b->Record(p2, CallOutcome::kSuccess, 1ms);
  EXPECT_EQ(b->state(), BreakerState::kHalfOpen);
  EXPECT_FALSE(b->TryAcquire().allowed) << "completed probes do not free slots";
  b->Record(p3, CallOutcome::kSuccess, 1ms);
  EXPECT_EQ(b->state(), BreakerState::kClosed);
  EXPECT_EQ(b->window().calls, 0) << "closing starts an empty window";
  ASSERT_EQ(transitions_.size(), 3u);
  EXPECT_EQ(transitions_[1].to, BreakerState::kHalfOpen);
  EXPECT_EQ(transitions_[2].to, BreakerState::kClosed);
  EXPECT_EQ(transitions_[2].reason, "probes succeeded");
}

TEST_F(CircuitBreakerTest, FailedProbeReopensForAFullOpenDuration) {
  auto b = Make(Options());
  Open(*b);
  clock_.Advance(1s);
  BreakerPermit p1 = b->TryAcquire();
  BreakerPermit p2 = b->TryAcquire();
  ASSERT_TRUE(p1.allowed && p2.allowed);
  b->Record(p1, CallOutcome::kFailure, 1ms);
  EXPECT_EQ(b->state(), BreakerState::kOpen);
  EXPECT_EQ(transitions_.back().reason, "probe failed");
  b->Record(p2, CallOutcome::kSuccess, 1ms);  // a probe of the previous half-open period
  EXPECT_EQ(b->state(), BreakerState::kOpen);
  clock_.Advance(999ms);
  EXPECT_FALSE(b->TryAcquire().allowed);
  clock_.Advance(1ms);
  EXPECT_TRUE(b->TryAcquire().allowed);
  EXPECT_EQ(b->counters().opened, 2u);
}

TEST_F(CircuitBreakerTest, SlowProbesReopen) {
  CircuitBreakerOptions o = Options();
  o.slow_call_rate_threshold = 0.5;
  auto b = Make(o);
  Open(*b);
  clock_.Advance(1s);
  std::vector<BreakerPermit> ps;
  for (int i = 0; i < 3; ++i) ps.push_back(b->TryAcquire());
  b->Record(ps[0], CallOutcome::kSuccess, 200ms);
  b->Record(ps[1], CallOutcome::kSuccess, 200ms);
  b->Record(ps[2], CallOutcome::kSuccess, 1ms);
  EXPECT_EQ(b->state(), BreakerState::kOpen) << "2/3 probes slow >= 0.5";
}

TEST_F(CircuitBreakerTest, IgnoredProbeFreesItsSlot) {
  auto b = Make(Options());
  Open(*b);
  clock_.Advance(1s);
  std::vector<BreakerPermit> ps;
  for (int i = 0; i < 3; ++i) ps.push_back(b->TryAcquire());
  EXPECT_FALSE(b->TryAcquire().allowed);
  b->Record(ps[0], CallOutcome::kIgnored, 0ns);
  BreakerPermit again = b->TryAcquire();
  EXPECT_TRUE(again.allowed && again.probe);
}

TEST_F(CircuitBreakerTest, HungProbesExpireHalfOpen) {
  auto b = Make(Options());
  Open(*b);
  clock_.Advance(1s);
  BreakerPermit p = b->TryAcquire();
  ASSERT_TRUE(p.allowed);
  clock_.Advance(4999ms);
  EXPECT_EQ(b->state(), BreakerState::kHalfOpen);
  clock_.Advance(1ms);
  EXPECT_EQ(b->state(), BreakerState::kOpen) << "a probe that never answers cannot hold half-open";
  EXPECT_NE(transitions_.back().reason.find("did not complete within 5s"), std::string::npos)
      << transitions_.back().reason;
  b->Record(p, CallOutcome::kSuccess, 5s);  // too late: ignored
  EXPECT_EQ(b->state(), BreakerState::kOpen);
}

TEST_F(CircuitBreakerTest, ProbeTimeoutRunsFromEachProbesAdmission) {
  auto b = Make(Options());
  Open(*b);
  clock_.Advance(1s);
  ASSERT_EQ(b->state(), BreakerState::kHalfOpen);
  clock_.Advance(10s);  // idle half-open: nothing is outstanding, nothing expires
  BreakerPermit p1 = b->TryAcquire();
  ASSERT_TRUE(p1.allowed);
  clock_.Advance(3s);
  BreakerPermit p2 = b->TryAcquire();
  ASSERT_TRUE(p2.allowed);
  b->Record(p1, CallOutcome::kSuccess, 3s);
  clock_.Advance(4s);  // p2 is 4 s old: still in time
  EXPECT_EQ(b->state(), BreakerState::kHalfOpen);
  BreakerPermit p3 = b->TryAcquire();
  ASSERT_TRUE(p3.allowed);
  b->Record(p2, CallOutcome::kSuccess, 4s);
  b->Record(p3, CallOutcome::kSuccess, 1ms);
  EXPECT_EQ(b->state(), BreakerState::kClosed);
}

TEST_F(CircuitBreakerTest, RecordsOfAnEarlierPeriodDoNotCount) {
  auto b = Make(Options());
  std::vector<BreakerPermit> early;
  for (int i = 0; i < 5; ++i) early.push_back(b->TryAcquire());
  Open(*b);
  clock_.Advance(1s);
  ASSERT_EQ(b->state(), BreakerState::kHalfOpen);
  for (const auto& p : early) b->Record(p, CallOutcome::kSuccess, 1ms);
  EXPECT_EQ(b->state(), BreakerState::kHalfOpen) << "closed-period calls are not probes";
  EXPECT_EQ(b->counters().successes, 5u);
}

TEST_F(CircuitBreakerTest, ForcedOpenRejectsEverything) {
  CircuitBreakerOptions o = Options();
  o.mode = BreakerMode::kForcedOpen;
  auto b = Make(o);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(b->TryAcquire().allowed);
  clock_.Advance(1h);
  EXPECT_FALSE(b->TryAcquire().allowed);
  EXPECT_TRUE(b->rejecting());
  EXPECT_EQ(b->gauge_value(), 3);
  EXPECT_EQ(b->counters().rejected, 6u);
  b->SetMode(BreakerMode::kNormal);
  EXPECT_TRUE(b->TryAcquire().allowed);
  ASSERT_EQ(transitions_.size(), 1u);
  EXPECT_EQ(transitions_[0].reason, "mode set to normal");
}

TEST_F(CircuitBreakerTest, DisabledAdmitsAndRecordsNothing) {
  CircuitBreakerOptions o = Options();
  o.mode = BreakerMode::kDisabled;
  auto b = Make(o);
  Calls(*b, 100, CallOutcome::kFailure);
  EXPECT_TRUE(b->TryAcquire().allowed);
  EXPECT_EQ(b->window().calls, 0);
  EXPECT_TRUE(transitions_.empty());
  EXPECT_EQ(b->gauge_value(), 4);
  b->Trip("manual");
  EXPECT_TRUE(b->TryAcquire().allowed) << "Trip has no effect when disabled";
}

TEST_F(CircuitBreakerTest, MetricsOnlyReportsButNeverRejects) {
  CircuitBreakerOptions o = Options();
  o.mode = BreakerMode::kMetricsOnly;
  auto b = Make(o);
  Calls(*b, 10, CallOutcome::kFailure);
  EXPECT_EQ(b->state(), BreakerState::kOpen);
  ASSERT_EQ(transitions_.size(), 1u);
  EXPECT_FALSE(transitions_[0].enforced);
  EXPECT_EQ(transitions_[0].mode, BreakerMode::kMetricsOnly);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(b->TryAcquire().allowed);
  EXPECT_FALSE(b->rejecting());
  EXPECT_EQ(b->gauge_value(), 1) << "the gauge shows what a normal breaker would be";
  clock_.Advance(1s);
  // Half-open: the first 3 are probes, the rest pass but are not probes.
  std::vector<BreakerPermit> ps;
  for (int i = 0; i < 5; ++i) ps.push_back(b->TryAcquire());
  for (const auto& p : ps) EXPECT_TRUE(p.allowed);
  EXPECT_TRUE(ps[2].probe);
  EXPECT_FALSE(ps[3].probe);
  for (const auto& p : ps) b->Record(p, CallOutcome::kSuccess, 1ms);
  EXPECT_EQ(b->state(), BreakerState::kClosed);
  EXPECT_EQ(metrics_.counter("sluice_circuit_breaker_transitions_total{breaker=b,from=closed,to=open}"), 1u);
  EXPECT_EQ(metrics_.counter("sluice_circuit_breaker_transitions_total{breaker=b,from=half_open,to=closed}"), 1u);
}

TEST_F(CircuitBreakerTest, TripOpensAndRestartsTheOpenPeriod) {
  auto b = Make(Options());
  b->Trip("health check failed");
  EXPECT_EQ(b->state(), BreakerState::kOpen);
  EXPECT_EQ(transitions_.back().reason, "health check failed");
  clock_.Advance(600ms);
  b->Trip("again");
  clock_.Advance(600ms);
  EXPECT_EQ(b->state(), BreakerState::kOpen) << "the second Trip restarted the 1 s";
  clock_.Advance(400ms);
  EXPECT_EQ(b->state(), BreakerState::kHalfOpen);
}

TEST_F(CircuitBreakerTest, ReportsMetricsAndGauge) {
  auto b = Make(Options());
  EXPECT_EQ(metrics_.gauge("sluice_circuit_breaker_state{breaker=b}"), 0);
  Open(*b);
  EXPECT_EQ(metrics_.gauge("sluice_circuit_breaker_state{breaker=b}"), 1);
  EXPECT_FALSE(b->TryAcquire().allowed);
  EXPECT_EQ(metrics_.counter("sluice_circuit_breaker_calls_total{breaker=b,outcome=failure}"), 10u);
  EXPECT_EQ(metrics_.counter("sluice_circuit_breaker_calls_total{breaker=b,outcome=rejected}"), 1u);
  clock_.Advance(1s);
  EXPECT_EQ(b->state(), BreakerState::kHalfOpen);
  EXPECT_EQ(metrics_.gauge("sluice_circuit_breaker_state{breaker=b}"), 2);
  b->SetMode(BreakerMode::kForcedOpen);
  EXPECT_EQ(metrics_.gauge("sluice_circuit_breaker_state{breaker=b}"), 3);
}

TEST_F(CircuitBreakerTest, RecordUnpermittedCompletesAProbe) {
  auto b = Make(Options());
  Open(*b);
  clock_.Advance(1s);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b->Allow());
  for (int i = 0; i < 3; ++i) b->RecordUnpermitted(CallOutcome::kSuccess, 1ms);
  EXPECT_EQ(b->state(), BreakerState::kClosed);
  b->RecordUnpermitted(CallOutcome::kFailure, 1ms);
  EXPECT_EQ(b->window().failures, 1);
}

TEST_F(CircuitBreakerTest, CallbackMayReadTheBreaker) {
  CircuitBreakerOptions o = Options();
  CircuitBreaker* self = nullptr;
  std::vector<BreakerState> seen;
  o.on_transition = [&](const BreakerTransition&) { seen.push_back(self->state()); };
  auto b = Make(o);
  self = b.get();
  Open(*b);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], BreakerState::kOpen);
}

TEST_F(CircuitBreakerTest, ConcurrentUseKeepsCountsConsistent) {
  CircuitBreakerOptions o = Options();
  o.on_transition = nullptr;
  auto b = Make(o);
  std::atomic<uint64_t> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        BreakerPermit p = b->TryAcquire();
        if (!p) continue;
        ++allowed;
        b->Record(p, (i + t) % 3 == 0 ? CallOutcome::kFailure : CallOutcome::kSuccess, 1ms);
      }
    });
  }
  for (auto& t : threads) t.join();
  const CircuitBreakerCounters c = b->counters();
  EXPECT_EQ(c.permitted, allowed.load());
  EXPECT_EQ(c.permitted + c.rejected, 8000u);
  EXPECT_EQ(c.successes + c.failures, c.permitted);
}

}  // namespace
}  // namespace sluice

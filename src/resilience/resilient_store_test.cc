// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/resilient_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "resilience/resilience_test_util.h"
#include "sluice/memory_store.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using resilience_test::Fault;
using resilience_test::FaultyStore;
using resilience_test::Ready;
using resilience_test::RecordingMetrics;
using resilience_test::WaitUntil;
using testing::SimulatedClock;

class ResilientStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { faulty_ = FaultyStore::Make(clock_); }
  // A hung call may still hold a worker of a store the test already dropped:
  // let it finish before the clock it reads goes away with the fixture.
  void TearDown() override {
    faulty_->Release();
    EXPECT_TRUE(WaitUntil([&] { return faulty_.use_count() == 1; })) << "a worker is still inside the store";
  }

  ResilientStoreOptions Options() {
    ResilientStoreOptions o;
    o.name = "t";
    o.clock = &clock_;
    o.observer.logger = &Logger::Null();
    o.observer.metrics = &metrics_;
    o.deadline = 50ms;
    o.workers = 2;
    o.max_queued = 4;
    o.retry.max_attempts = 3;
    o.retry.initial_backoff = 2ms;
    o.retry.max_backoff = 2ms;
    o.retry.budget_min_per_second = 100;
    o.breaker.minimum_calls = 1000;  // tests that want it to open lower this
    o.reconcile.automatic = false;
    return o;
  }

  std::shared_ptr<ResilientStore> Make(ResilientStoreOptions o) {
    auto s = NewResilientStore(faulty_, std::move(o));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : nullptr;
  }

  // A limiter decision straight on the memory store under the faulty one.
  Decision BaseConsume(std::string_view key, const Policy& p, int64_t cost = 1) {
    Result<Decision> d = faulty_->base().Decide(key, p, cost);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : Decision{};
  }

  template <typename F>
  static auto Async(F f) {
    return std::async(std::launch::async, std::move(f));
  }

  SimulatedClock clock_;
  RecordingMetrics metrics_;
  std::shared_ptr<FaultyStore> faulty_;
  const Policy window10_ = Policy::FixedWindow(10, std::chrono::minutes(1));
};

TEST_F(ResilientStoreTest, ValidatesOptions) {
  struct Case {
    std::function<void(ResilientStoreOptions&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& o) { o.deadline = 0ns; }, "deadline must be positive"},
      {[](auto& o) { o.health_deadline = -1ms; }, "health_deadline"},
      {[](auto& o) { o.workers = 0; }, "workers"},
      {[](auto& o) { o.workers = 1025; }, "workers"},
      {[](auto& o) { o.max_queued = 2'000'000; }, "max_queued"},
      {[](auto& o) { o.retry.max_attempts = 0; }, "retry.max_attempts"},
      {[](auto& o) { o.retry.max_attempts = 11; }, "retry.max_attempts"},
      {[](auto& o) { o.retry.initial_backoff = 0ns; }, "retry.initial_backoff"},
      {[](auto& o) { o.retry.max_backoff = 1ms; }, "retry.max_backoff"},
      {[](auto& o) { o.retry.backoff_multiplier = 0.5; }, "retry.backoff_multiplier"},
      {[](auto& o) { o.retry.budget_ratio = 1.5; }, "retry.budget_ratio"},
      {[](auto& o) { o.retry.budget_min_per_second = -1; }, "retry.budget_min_per_second"},
      {[](auto& o) { o.retry.budget_window = 1us; }, "retry.budget_window"},
      {[](auto& o) { o.breaker.failure_rate_threshold = 2; }, "failure_rate_threshold"},
      {[](auto& o) { o.fail_mode = static_cast<FailMode>(7); }, "fail_mode"},
      {[](auto& o) { o.fail_mode_overrides = {{"a", static_cast<FailMode>(7)}}; }, "fail_mode_overrides[0]"},
      {[](auto& o) { o.fail_mode_overrides = {{"a", FailMode::kOpen}, {"a", FailMode::kClosed}}; }, "twice"},
      {[](auto& o) { o.fallback.instances = 0; }, "fallback.instances"},
      {[](auto& o) { o.fallback.max_keys = 0; }, "fallback.max_keys"},
      {[](auto& o) { o.reconcile.max_keys = 0; }, "reconcile.max_keys"},
      {[](auto& o) { o.fallback.discover_instances = true; }, "fallback.instance_id"},
      {[](auto& o) {
         o.fallback.discover_instances = true;
         o.fallback.instance_id = "a";
         o.fallback.discovery_prefix = "";
       },
       "discovery_prefix"},
      {[](auto& o) {
         o.fallback.discover_instances = true;
         o.fallback.instance_id = "a";
         o.fallback.heartbeat_interval = o.fallback.heartbeat_ttl;
       },
       "heartbeat_interval"},
  };
  for (const Case& c : cases) {
    ResilientStoreOptions o = Options();
    c.change(o);
    auto s = NewResilientStore(faulty_, o);
    ASSERT_FALSE(s.ok()) << c.message;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find(c.message), std::string_view::npos) << s.status().ToString();
  }
  EXPECT_EQ(NewResilientStore(nullptr, Options()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ResilientStoreOptions{}.Validate().ok());
}

TEST_F(ResilientStoreTest, FailModeNamesParse) {
  for (FailMode m : {FailMode::kOpen, FailMode::kClosed, FailMode::kFallback, FailMode::kError}) {
    auto parsed = ParseFailMode(FailModeName(m));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, m);
  }
  EXPECT_EQ(ParseFailMode("maybe").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ResilientStoreTest, DefaultsComeFromTheBaseStore) {
  ResilientStoreOptions o;
  o.observer.logger = &Logger::Null();
  auto s = NewResilientStore(faulty_, o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->options().name, "memory");
  EXPECT_EQ(&(*s)->clock(), &clock_);
  EXPECT_EQ((*s)->breaker().options().name, "memory");
  EXPECT_EQ((*s)->options().deadline, 50ms);
}

TEST_F(ResilientStoreTest, HealthyStoreAnswersAsIs) {
  auto s = Make(Options());
  for (int i = 0; i < 3; ++i) {
    Result<Decision> d = s->Decide("k", window10_, 2);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_TRUE(d->allowed);
    EXPECT_FALSE(d->degraded);
    EXPECT_EQ(d->remaining, 10 - 2 * (i + 1));
  }
  ResilienceStats st = s->GetResilienceStats();
  EXPECT_EQ(st.decisions_store, 3u);
  EXPECT_EQ(st.attempts, 3u);
  EXPECT_EQ(st.in_flight, 0u);
  EXPECT_EQ(metrics_.counter("sluice_resilience_decisions_total{store=t,outcome=store}"), 3u);
  EXPECT_EQ(metrics_.observations("sluice_resilience_store_call_duration_seconds{store=t,call=decide}"), 3u);
  // A caller error from the store is returned as is, with no fail mode.
  Result<Decision> bad = s->Decide("k", window10_, 11);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Decide(DecideRequest{"k", nullptr}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ResilientStoreTest, RetriesUnavailableWithBackoff) {
  faulty_->Script({Fault::kUnavailable});
  auto s = Make(Options());
  auto f = Async([&] { return s->Decide("k", window10_); });
  ASSERT_TRUE(WaitUntil([&] { return s->GetResilienceStats().retries == 1; }));
  EXPECT_EQ(faulty_->calls(), 1);
  clock_.Advance(2ms);  // the backoff is at most initial_backoff
  ASSERT_TRUE(Ready(f));
  Result<Decision> d = f.get();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(d->allowed);
  EXPECT_FALSE(d->degraded);
  EXPECT_EQ(faulty_->calls(), 2);
  EXPECT_EQ(metrics_.counter("sluice_resilience_retries_total{store=t}"), 1u);
  EXPECT_EQ(metrics_.counter("sluice_resilience_store_errors_total{store=t,code=Unavailable}"), 1u);
}

TEST_F(ResilientStoreTest, StopsAfterMaxAttempts) {
  faulty_->SetDefault(Fault::kUnavailable);
  ResilientStoreOptions o = Options();
  o.fail_mode = FailMode::kError;
  auto s = Make(o);
  auto f = Async([&] { return s->Decide("k", window10_); });
  for (uint64_t retry = 1; retry <= 2; ++retry) {
    ASSERT_TRUE(WaitUntil([&] { return s->GetResilienceStats().retries == retry; }));
    clock_.Advance(2ms);
  }
  ASSERT_TRUE(Ready(f));
  Result<Decision> d = f.get();
  EXPECT_EQ(d.status().code(), StatusCode::kUnavailable) << d.status().ToString();
  EXPECT_EQ(faulty_->calls(), 3);
  EXPECT_EQ(s->GetResilienceStats().attempts_unavailable, 3u);
}

TEST_F(ResilientStoreTest, NeverRetriesAnUnknownOutcome) {
  ResilientStoreOptions o = Options();
  o.fail_mode = FailMode::kError;
  auto s = Make(o);
  for (Fault f : {Fault::kDeadline, Fault::kAppliedThenLost, Fault::kInternal}) {
    const int before = faulty_->calls();
    faulty_->Script({f});
    Result<Decision> d = s->Decide("k", window10_);
    EXPECT_FALSE(d.ok());
    EXPECT_EQ(faulty_->calls(), before + 1) << "one attempt only";
  }
  EXPECT_EQ(s->GetResilienceStats().retries, 0u);
  // The applied-then-lost consume was applied exactly once.
  EXPECT_EQ(BaseConsume("k", window10_).remaining, 8);
}

TEST_F(ResilientStoreTest, AnUnknownOutcomeGetsTheFailMode) {
  auto s = Make(Options());  // fail open
  faulty_->Script({Fault::kDeadline});
  Result<Decision> d = s->Decide("k", window10_, 4);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->allowed);
  EXPECT_TRUE(d->degraded);
  EXPECT_EQ(d->remaining, 6);
  EXPECT_EQ(faulty_->calls(), 1);
}

TEST_F(ResilientStoreTest, RetryBudgetLimitsRetries) {
  ResilientStoreOptions o = Options();
  o.retry.budget_ratio = 0.1;
  o.retry.budget_min_per_second = 0;
  auto s = Make(o);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->Decide("k" + std::to_string(i), window10_).ok());
  // 11 calls: one retry fits (1 <= 1.1).
  faulty_->Script({Fault::kUnavailable});
  auto f = Async([&] { return s->Decide("a", window10_); });
  ASSERT_TRUE(WaitUntil([&] { return s->GetResilienceStats().retries == 1; }));
  clock_.Advance(2ms);
  ASSERT_TRUE(Ready(f));
  EXPECT_FALSE(f.get()->degraded);
  // 12 calls: a second retry does not (2 > 1.2), so the fail mode answers.
  faulty_->Script({Fault::kUnavailable});
  Result<Decision> d = s->Decide("b", window10_);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->degraded);
  ResilienceStats st = s->GetResilienceStats();
  EXPECT_EQ(st.retries, 1u);
  EXPECT_EQ(st.retry_budget_exhausted, 1u);
  EXPECT_EQ(metrics_.counter("sluice_resilience_retry_budget_exhausted_total{store=t}"), 1u);
}

TEST_F(ResilientStoreTest, NoRetryThatCannotStartBeforeTheDeadline) {
  ResilientStoreOptions o = Options();
  o.deadline = 1us;
  o.retry.initial_backoff = 10ms;
  o.retry.max_backoff = 10ms;
  o.fail_mode = FailMode::kError;
  auto s = Make(o);
  faulty_->Script({Fault::kUnavailable});
  auto f = Async([&] { return s->Decide("k", window10_); });
  ASSERT_TRUE(Ready(f));
  EXPECT_EQ(f.get().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(faulty_->calls(), 1);
  EXPECT_EQ(s->GetResilienceStats().retries, 0u);
}

TEST_F(ResilientStoreTest, HungStoreIsAnsweredAtTheDeadline) {
  faulty_->SetDefault(Fault::kHang);
  auto s = Make(Options());
  auto f = Async([&] { return s->Decide("k", window10_, 3); });
  ASSERT_TRUE(WaitUntil([&] { return faulty_->hung() == 1; }));
  ASSERT_TRUE(WaitUntil([&] { return s->GetResilienceStats().pending_timers == 1; }));
  clock_.Advance(49ms);
  EXPECT_EQ(f.wait_for(20ms), std::future_status::timeout) << "answered before its deadline";
  clock_.Advance(1ms);
  ASSERT_TRUE(Ready(f));
  Result<Decision> d = f.get();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(d->allowed);
  EXPECT_TRUE(d->degraded);
  ResilienceStats st = s->GetResilienceStats();
  EXPECT_EQ(st.attempts_deadline_exceeded, 1u);
  EXPECT_EQ(st.decisions_fail_open, 1u);
  EXPECT_EQ(st.retries, 0u);
  EXPECT_EQ(st.busy_workers, 1u) << "the hung call still holds its worker";
  // The late answer is dropped.
  faulty_->Release();
  ASSERT_TRUE(WaitUntil([&] { return s->GetResilienceStats().busy_workers == 0; }));
  EXPECT_EQ(s->GetResilienceStats().decisions_store, 0u);
  EXPECT_EQ(faulty_->calls(), 1);
}

TEST_F(ResilientStoreTest, DeadlineHoldsOnTheRealClock) {
  auto hung = FaultyStore::Make(Clock::Real());
  hung->SetDefault(Fault::kHang);
  ResilientStoreOptions o = Options();
  o.clock = nullptr;  // the base's: Clock::Real()
  o.fail_mode = FailMode::kError;
  auto made = NewResilientStore(hung, o);
  ASSERT_TRUE(made.ok());
  auto s = *made;
  const auto start = std::chrono::steady_clock::now();
  Result<Decision> d = s->Decide("k", window10_);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(d.status().code(), StatusCode::kDeadlineExceeded) << d.status().ToString();
  EXPECT_GE(elapsed, 50ms);
  EXPECT_LT(elapsed, 2s) << "a generous upper bound; the deadline is 50 ms";
  hung->Release();
  ASSERT_TRUE(WaitUntil([&] { return s->GetResilienceStats().busy_workers == 0; }));
}

TEST_F(ResilientStoreTest, FullPoolFailsAtOnce) {
  faulty_->SetDefault(Fault::kHang);
  ResilientStoreOptions o = Options();
  o.workers = 1;
  o.max_queued = 1;
  o.fail_mode = FailMode::kError;
  auto s = Make(o);
  auto running = Async([&] { return s->Decide("a", window10_); });
  ASSERT_TRUE(WaitUntil([&] { return faulty_->hung() == 1; }));
  auto queued = Async([&] { return s->Decide("b", window10_); });
  ASSERT_TRUE(WaitUntil([&] { return s->GetResilienceStats().in_flight == 2; }));
  auto refused = Async([&] { return s->Decide("c", window10_); });
  ASSERT_TRUE(Ready(refused)) << "a full pool must not make the caller wait";
  Result<Decision> r = refused.get();
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
  EXPECT_EQ(s->GetResilienceStats().rejected_pool_full, 1u);
  EXPECT_EQ(metrics_.counter("sluice_resilience_rejected_total{store=t,reason=pool_full}"), 1u);
  // Both waiting calls end at their deadline; the queued one never reaches the store.
  clock_.Advance(50ms);
  ASSERT_TRUE(Ready(running));
  ASSERT_TRUE(Ready(queued));
  EXPECT_EQ(running.get().status().code(), StatusCode::kDeadlineExceeded);
  Result<Decision> q = queued.get();
  EXPECT_EQ(q.status().code(), StatusCode::kUnavailable) << "it never left the queue: nothing applied";
  EXPECT_NE(q.status().message().find("waited for a worker"), std::string_view::npos) << q.status().ToString();
  EXPECT_EQ(s->GetResilienceStats().queued, 0u) << "its queue slot is free again";
  faulty_->Release();
  ASSERT_TRUE(WaitUntil([&] { return s->GetResilienceStats().busy_workers == 0; }));
  faulty_->SetDefault(Fault::kPass);
  ASSERT_TRUE(s->Decide("d", window10_).ok());
  EXPECT_EQ(faulty_->calls(), 2) << "a, then d: b was dropped from the queue";
}

TEST_F(ResilientStoreTest, EachFailModeWhileTheBreakerIsOpen) {
  ResilientStoreOptions o = Options();
  o.breaker.mode = BreakerMode::kForcedOpen;
  o.fail_mode = FailMode::kOpen;
  o.fail_mode_overrides = {{"closed:", FailMode::kClosed}, {"fallback:", FailMode::kFallback},
                           {"error:", FailMode::kError}};
  auto s = Make(o);

  Result<Decision> open = s->Decide("open:k", window10_, 3);
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(open->allowed);
  EXPECT_TRUE(open->degraded);
  EXPECT_EQ(open->limit, 10);
  EXPECT_EQ(open->remaining, 7);

  Result<Decision> closed = s->Decide("closed:k", window10_);
  ASSERT_TRUE(closed.ok());
  EXPECT_FALSE(closed->allowed);
  EXPECT_TRUE(closed->degraded);
  EXPECT_EQ(closed->retry_after, 1s);

  Result<Decision> error = s->Decide("error:k", window10_);
  EXPECT_EQ(error.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(error.status().message().find("circuit breaker is open"), std::string_view::npos);

  int allowed = 0;
  for (int i = 0; i < 12; ++i) {
    Result<Decision> d = s->Decide("fallback:k", window10_);
    ASSERT_TRUE(d.ok());
    EXPECT_TRUE(d->degraded);
    allowed += d->allowed ? 1 : 0;
  }
  EXPECT_EQ(allowed, 10);

  // Refund and reset cannot be faked: they return the error in every mode.
  EXPECT_EQ(s->Decide(DecideRequest{"open:k", &window10_, 1, Operation::kRefund}).status().code(),
            StatusCode::kUnavailable);
  // A peek is answered but is no overshoot.
  Result<Decision> peek = s->Decide(DecideRequest{"open:k", &window10_, 1, Operation::kPeek});
  ASSERT_TRUE(peek.ok());
  EXPECT_TRUE(peek->allowed);

  EXPECT_EQ(faulty_->calls(), 0) << "an open breaker keeps calls off the store";
  ResilienceStats st = s->GetResilienceStats();
  EXPECT_EQ(st.decisions_fail_open, 2u);
  EXPECT_EQ(st.decisions_fail_closed, 1u);
  EXPECT_EQ(st.decisions_error, 2u);
  EXPECT_EQ(st.decisions_fallback, 12u);
  EXPECT_EQ(st.fallback_allowed, 10u);
  EXPECT_EQ(st.fallback_denied, 2u);
  EXPECT_EQ(st.overshoot_open, 3u);
  EXPECT_EQ(st.rejected_breaker_open, 17u);
  EXPECT_EQ(metrics_.counter("sluice_resilience_decisions_total{store=t,outcome=fail_closed}"), 1u);
  EXPECT_EQ(metrics_.counter("sluice_resilience_overshoot_units_total{store=t,mode=open}"), 3u);
  EXPECT_EQ(metrics_.counter("sluice_resilience_fallback_decisions_total{store=t,allowed=false}"), 2u);
}

TEST_F(ResilientStoreTest, LongestPrefixChoosesTheFailMode) {
  ResilientStoreOptions o = Options();
  o.fail_mode = FailMode::kOpen;
  o.fail_mode_overrides = {{"api:", FailMode::kFallback}, {"api:internal:", FailMode::kClosed},
                           {"billing:", FailMode::kError}};
  auto s = Make(o);
  EXPECT_EQ(s->FailModeFor("api:x"), FailMode::kFallback);
  EXPECT_EQ(s->FailModeFor("api:internal:x"), FailMode::kClosed);
  EXPECT_EQ(s->FailModeFor("api:internal"), FailMode::kFallback);
  EXPECT_EQ(s->FailModeFor("billing:1"), FailMode::kError);
  EXPECT_EQ(s->FailModeFor("other"), FailMode::kOpen);
  EXPECT_EQ(s->FailModeFor(""), FailMode::kOpen);
}

TEST_F(ResilientStoreTest, BreakerOpensOnFailuresAndKeepsCallsOff) {
  faulty_->SetDefault(Fault::kUnavailable);
  ResilientStoreOptions o = Options();
  o.retry.max_attempts = 1;
  o.breaker.minimum_calls = 4;
  auto s = Make(o);
  for (int i = 0; i < 6; ++i) {
    Result<Decision> d = s->Decide("k", window10_);
    ASSERT_TRUE(d.ok());
    EXPECT_TRUE(d->degraded);
  }
  EXPECT_EQ(faulty_->calls(), 4);
  EXPECT_EQ(s->breaker_state(), BreakerState::kOpen);
  ResilienceStats st = s->GetResilienceStats();
  EXPECT_EQ(st.rejected_breaker_open, 2u);
  EXPECT_EQ(st.breaker_state, BreakerState::kOpen);
  EXPECT_EQ(metrics_.gauge("sluice_circuit_breaker_state{breaker=t}"), 1);
  EXPECT_EQ(metrics_.counter("sluice_resilience_decisions_total{store=t,outcome=fail_open}"), 6u);
  // Recovery: after open_duration a probe reaches the store, and success closes.
  faulty_->SetDefault(Fault::kPass);
  clock_.Advance(1s);
  for (int i = 0; i < 3; ++i) {
    Result<Decision> d = s->Decide("k", window10_);
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(d->degraded);
  }
  EXPECT_EQ(s->breaker_state(), BreakerState::kClosed);
}

TEST_F(ResilientStoreTest, MetricsOnlyBreakerNeverKeepsCallsOff) {
  faulty_->SetDefault(Fault::kUnavailable);
  ResilientStoreOptions o = Options();
  o.retry.max_attempts = 1;
  o.breaker.minimum_calls = 4;
  o.breaker.mode = BreakerMode::kMetricsOnly;
  auto s = Make(o);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(s->Decide("k", window10_)->degraded);
  EXPECT_EQ(faulty_->calls(), 8) << "every call still reached the store";
  EXPECT_EQ(s->breaker_state(), BreakerState::kOpen) << "but the breaker says what it would do";
  EXPECT_EQ(s->GetResilienceStats().rejected_breaker_open, 0u);
}

TEST_F(ResilientStoreTest, HungProbeCountsAsFailure) {
  faulty_->SetDefault(Fault::kHang);
  ResilientStoreOptions o = Options();
  o.breaker.mode = BreakerMode::kNormal;
  auto s = Make(o);
  s->breaker().Trip("test");
  clock_.Advance(1s);
  auto f = Async([&] { return s->Decide("k", window10_); });
  ASSERT_TRUE(WaitUntil([&] { return faulty_->hung() == 1; }));
  clock_.Advance(50ms);
  ASSERT_TRUE(Ready(f));
  EXPECT_TRUE(f.get()->degraded);
  EXPECT_EQ(s->breaker_state(), BreakerState::kOpen) << "the probe's deadline reopened the breaker";
}

TEST_F(ResilientStoreTest, FallbackUsesThisInstancesShare) {
  ResilientStoreOptions o = Options();
  o.breaker.mode = BreakerMode::kForcedOpen;
  o.fail_mode = FailMode::kFallback;
  o.fallback.instances = 4;
  auto s = Make(o);
  int allowed = 0;
  for (int i = 0; i < 5; ++i) {
    Result<Decision> d = s->Decide("w", window10_);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->limit, 2) << "floor(10 / 4)";
    allowed += d->allowed ? 1 : 0;
  }
  EXPECT_EQ(allowed, 2);
  // A cost above the share is denied, not an error.
  Result<Decision> big = s->Decide("w2", window10_, 3);
  ASSERT_TRUE(big.ok());
  EXPECT_FALSE(big->allowed);
  EXPECT_TRUE(big->degraded);

  // Token bucket: capacity 100 -> 25; refill 10/s -> 10 per 4 s.
  const Policy bucket = Policy::TokenBucket(100, 10, 1s);
  ASSERT_TRUE(s->Decide("b", bucket, 25)->allowed);
  EXPECT_FALSE(s->Decide("b", bucket, 1)->allowed);
  clock_.Advance(2s);  // 5 tokens back
  EXPECT_TRUE(s->Decide("b", bucket, 5)->allowed);
  EXPECT_FALSE(s->Decide("b", bucket, 1)->allowed);

  // A limit below the instance count still gives each instance 1.
  const Policy tiny = Policy::FixedWindow(3, std::chrono::minutes(1));
  EXPECT_TRUE(s->Decide("t", tiny)->allowed);
  EXPECT_FALSE(s->Decide("t", tiny)->allowed);
}

TEST_F(ResilientStoreTest, ConcurrentFallbackNeverExceedsTheShare) {
  ResilientStoreOptions o = Options();
  o.breaker.mode = BreakerMode::kForcedOpen;
  o.fail_mode = FailMode::kFallback;
  o.fallback.instances = 3;
  auto s = Make(o);
  const Policy p = Policy::FixedWindow(100, std::chrono::minutes(1));
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        Result<Decision> d = s->Decide("hot", p);
        if (d.ok() && d->allowed) ++allowed;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 33) << "floor(100 / 3)";
  EXPECT_EQ(s->GetResilienceStats().debt_units, 33u);
}

class ReconcileTest : public ResilientStoreTest {
 protected:
  // A store in fallback with the breaker forced open, and `units` admitted
  // locally on `key`.
  std::shared_ptr<ResilientStore> WithDebt(std::string_view key, int units, ResilientStoreOptions o) {
    o.breaker.mode = BreakerMode::kForcedOpen;
    o.fail_mode = FailMode::kFallback;
    auto s = Make(std::move(o));
    for (int i = 0; i < units; ++i) {
      Result<Decision> d = s->Decide(key, window10_);
      EXPECT_TRUE(d.ok() && d->allowed && d->degraded);
    }
    return s;
  }
};

TEST_F(ReconcileTest, ChargesEachDebtExactlyOnce) {
  auto s = WithDebt("k", 3, Options());
  EXPECT_EQ(s->GetResilienceStats().debt_units, 3u);
  ReconcileResult skipped = s->Reconcile();
  EXPECT_EQ(skipped.entries, 0u) << "nothing is charged while the breaker rejects";
  EXPECT_EQ(s->GetResilienceStats().debt_units, 3u);

  s->breaker().SetMode(BreakerMode::kNormal);
  ReconcileResult r = s->Reconcile();
  EXPECT_EQ(r.entries, 1u);
  EXPECT_EQ(r.charged, 3u);
  EXPECT_EQ(r.over_limit + r.lost + r.expired + r.deferred, 0u);
  ReconcileResult again = s->Reconcile();
  EXPECT_EQ(again.entries, 0u);
  EXPECT_EQ(again.charged, 0u);
  EXPECT_EQ(BaseConsume("k", window10_).remaining, 6) << "3 charged once, then 1";
  ResilienceStats st = s->GetResilienceStats();
  EXPECT_EQ(st.reconcile_charged, 3u);
  EXPECT_EQ(st.debt_units, 0u);
  EXPECT_EQ(st.overshoot_fallback, 0u);
  EXPECT_EQ(metrics_.counter("sluice_resilience_reconcile_units_total{store=t,result=charged}"), 3u);
  EXPECT_EQ(metrics_.observations("sluice_resilience_store_call_duration_seconds{store=t,call=reconcile}"), 1u);
}

TEST_F(ReconcileTest, ChargesOnlyTheRoomLeftAndCountsTheRestAsOvershoot) {
  auto s = WithDebt("k", 5, Options());
  BaseConsume("k", window10_, 8);  // other instances used 8 of 10 meanwhile
  s->breaker().SetMode(BreakerMode::kNormal);
  ReconcileResult r = s->Reconcile();
  EXPECT_EQ(r.charged, 2u);
  EXPECT_EQ(r.over_limit, 3u);
  EXPECT_EQ(s->GetResilienceStats().overshoot_fallback, 3u);
  EXPECT_EQ(BaseConsume("k", window10_).allowed, false) << "the store is full";
}

TEST_F(ReconcileTest, UnknownOutcomeIsLostNotRetried) {
  auto s = WithDebt("k", 4, Options());
  s->breaker().SetMode(BreakerMode::kNormal);
  faulty_->Script({Fault::kAppliedThenLost});
  ReconcileResult r = s->Reconcile();
  EXPECT_EQ(r.lost, 4u);
  EXPECT_EQ(r.charged, 0u);
  EXPECT_EQ(faulty_->calls(), 1);
  ReconcileResult again = s->Reconcile();
  EXPECT_EQ(again.entries, 0u);
  EXPECT_EQ(faulty_->calls(), 1) << "a lost charge is never sent again";
  EXPECT_EQ(BaseConsume("k", window10_).remaining, 5) << "applied once by the lost call";
  EXPECT_EQ(s->GetResilienceStats().reconcile_lost, 4u);
}

TEST_F(ReconcileTest, UnavailableChargeIsDeferred) {
  ResilientStoreOptions o = Options();
  o.retry.max_attempts = 1;
  auto s = WithDebt("k", 4, o);
  s->breaker().SetMode(BreakerMode::kNormal);
  faulty_->Script({Fault::kUnavailable});
  ReconcileResult r = s->Reconcile();
  EXPECT_EQ(r.deferred, 4u);
  EXPECT_EQ(s->GetResilienceStats().debt_units, 4u);
  ReconcileResult again = s->Reconcile();
  EXPECT_EQ(again.charged, 4u);
  EXPECT_EQ(BaseConsume("k", window10_).remaining, 5);
}

TEST_F(ReconcileTest, DebtMapIsBounded) {
  ResilientStoreOptions o = Options();
  o.reconcile.max_keys = 2;
  auto s = WithDebt("a", 1, o);
  ASSERT_TRUE(s->Decide("b", window10_).ok());
  ASSERT_TRUE(s->Decide("c", window10_, 2).ok());
  ResilienceStats st = s->GetResilienceStats();
  EXPECT_EQ(st.debt_keys, 2u);
  EXPECT_EQ(st.reconcile_dropped, 2u);
  EXPECT_EQ(st.overshoot_fallback, 2u);
  EXPECT_EQ(metrics_.counter("sluice_resilience_reconcile_units_total{store=t,result=dropped}"), 2u);
}

TEST_F(ReconcileTest, DebtOfAPastWindowExpires) {
  auto s = WithDebt("k", 2, Options());
  clock_.Advance(std::chrono::minutes(1));
  s->breaker().SetMode(BreakerMode::kNormal);
  ReconcileResult r = s->Reconcile();
  EXPECT_EQ(r.expired, 2u);
  EXPECT_EQ(r.charged, 0u);
  EXPECT_EQ(faulty_->calls(), 0);
}

TEST_F(ReconcileTest, DisabledRecordsNoDebt) {
  ResilientStoreOptions o = Options();
  o.reconcile.enabled = false;
  auto s = WithDebt("k", 2, o);
  EXPECT_EQ(s->GetResilienceStats().debt_units, 0u);
}

TEST_F(ReconcileTest, RunsByItselfWhenTheStoreRecovers) {
  faulty_->SetDefault(Fault::kUnavailable);
  ResilientStoreOptions o = Options();
  o.fail_mode = FailMode::kFallback;
  o.retry.max_attempts = 1;
  o.breaker.minimum_calls = 2;
  o.breaker.half_open_probes = 1;
  o.reconcile.automatic = true;
  auto s = Make(o);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s->Decide("k", window10_)->degraded);
  ASSERT_EQ(s->breaker_state(), BreakerState::kOpen);
  EXPECT_EQ(s->GetResilienceStats().debt_units, 3u);
  faulty_->SetDefault(Fault::kPass);
  clock_.Advance(1s);
  Result<Decision> probe = s->Decide("k", window10_);
  ASSERT_TRUE(probe.ok());
  EXPECT_FALSE(probe->degraded);
  EXPECT_EQ(s->breaker_state(), BreakerState::kClosed);
  ASSERT_TRUE(WaitUntil([&] { return s->GetResilienceStats().reconcile_charged == 3; }));
  EXPECT_EQ(s->GetResilienceStats().debt_units, 0u);
  EXPECT_EQ(BaseConsume("k", window10_).remaining, 5) << "1 probe + 3 charged + 1";
}

TEST_F(ResilientStoreTest, DiscoversTheInstanceCountWhileHealthy) {
  auto options_for = [&](std::string id) {
    ResilientStoreOptions o = Options();
    o.fail_mode = FailMode::kFallback;
    o.fallback.discover_instances = true;
    o.fallback.instance_id = std::move(id);
    o.fallback.heartbeat_ttl = 10s;
    o.fallback.heartbeat_interval = 3s;
    return o;
  };
  auto heartbeats = [&] {
    int n = 0;
    EXPECT_TRUE(faulty_->base().Scan("sluice:instances:", [&](const Record&) { return ++n > 0; }).ok());
    return n;
  };
  auto a = Make(options_for("a"));
  EXPECT_EQ(a->Heartbeat().value_or(-1), 1);
  auto b = Make(options_for("b"));
  ASSERT_TRUE(WaitUntil([&] { return b->instances() == 2; })) << "b's first heartbeat runs at once";
  EXPECT_EQ(a->Heartbeat().value_or(-1), 2);
  EXPECT_EQ(a->instances(), 2);
  EXPECT_EQ(a->GetResilienceStats().instances, 2);
  EXPECT_EQ(metrics_.gauge("sluice_resilience_instances{store=t}"), 2);

  // During an outage the fallback uses the last count: half of 10 each.
  a->breaker().SetMode(BreakerMode::kForcedOpen);
  int allowed = 0;
  for (int i = 0; i < 8; ++i) allowed += a->Decide("k", window10_)->allowed ? 1 : 0;
  EXPECT_EQ(allowed, 5);
  EXPECT_EQ(a->Heartbeat().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(a->instances(), 2) << "a failed heartbeat keeps the last count";

  // b goes away; once its heartbeat expires, a counts itself alone.
  b.reset();
  EXPECT_EQ(heartbeats(), 2);
  clock_.Advance(11s);
  EXPECT_EQ(heartbeats(), 0);
  a->breaker().SetMode(BreakerMode::kNormal);
  EXPECT_EQ(a->Heartbeat().value_or(-1), 1);
  EXPECT_EQ(a->instances(), 1);
  EXPECT_GE(a->GetResilienceStats().heartbeat_failures, 1u);

  auto plain = Make(Options());
  EXPECT_EQ(plain->Heartbeat().status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(plain->instances(), 1);
}

TEST_F(ResilientStoreTest, HealthGoesThroughTheBreakerAndDeadline) {
  ResilientStoreOptions o = Options();
  o.health_deadline = 10ms;
  auto s = Make(o);
  EXPECT_TRUE(s->Health().ok());
  EXPECT_EQ(faulty_->calls(), 1);
  s->breaker().SetMode(BreakerMode::kForcedOpen);
  EXPECT_EQ(s->Health().code(), StatusCode::kUnavailable);
  EXPECT_EQ(faulty_->calls(), 1);
  s->breaker().SetMode(BreakerMode::kNormal);
  faulty_->SetDefault(Fault::kHang);
  auto f = Async([&] { return s->Health(); });
  ASSERT_TRUE(WaitUntil([&] { return faulty_->hung() == 1; }));
  clock_.Advance(10ms);
  ASSERT_TRUE(Ready(f));
  EXPECT_EQ(f.get().code(), StatusCode::kDeadlineExceeded);
}

TEST_F(ResilientStoreTest, BatchGivesEachRequestItsOwnFailMode) {
  ResilientStoreOptions o = Options();
  o.fail_mode_overrides = {{"closed:", FailMode::kClosed}, {"error:", FailMode::kError}};
  auto s = Make(o);
  std::vector<DecideRequest> reqs = {{"open:a", &window10_, 2}, {"closed:b", &window10_, 1},
                                     {"error:c", &window10_, 1}, {"x", nullptr, 1}};
  std::vector<Result<Decision>> healthy = s->DecideBatch(reqs);
  ASSERT_EQ(healthy.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(healthy[i].ok());
    EXPECT_FALSE(healthy[i]->degraded);
  }
  EXPECT_EQ(healthy[3].status().code(), StatusCode::kInvalidArgument);

  s->breaker().SetMode(BreakerMode::kForcedOpen);
  std::vector<Result<Decision>> failed = s->DecideBatch(reqs);
  ASSERT_TRUE(failed[0].ok());
  EXPECT_TRUE(failed[0]->allowed && failed[0]->degraded);
  ASSERT_TRUE(failed[1].ok());
  EXPECT_FALSE(failed[1]->allowed);
  EXPECT_EQ(failed[2].status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(failed[3].status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ResilientStoreTest, DecideAllTakesTheStrictestFailMode) {
  ResilientStoreOptions o = Options();
  o.fail_mode_overrides = {{"closed:", FailMode::kClosed}, {"fb:", FailMode::kFallback}};
  auto s = Make(o);
  std::vector<DecideRequest> mixed = {{"open:a", &window10_, 1}, {"closed:b", &window10_, 1}};
  Result<MultiDecision> healthy = s->DecideAll(mixed);
  ASSERT_TRUE(healthy.ok());
  EXPECT_TRUE(healthy->allowed);

  s->breaker().SetMode(BreakerMode::kForcedOpen);
  Result<MultiDecision> denied = s->DecideAll(mixed);
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->allowed);
  ASSERT_EQ(denied->decisions.size(), 2u);
  EXPECT_TRUE(denied->decisions[0].degraded);

  std::vector<DecideRequest> open_only = {{"open:a", &window10_, 2}, {"open:c", &window10_, 3}};
  Result<MultiDecision> allowed = s->DecideAll(open_only);
  ASSERT_TRUE(allowed.ok());
  EXPECT_TRUE(allowed->allowed);
  EXPECT_EQ(s->GetResilienceStats().overshoot_open, 5u);

  // Fallback: all or nothing on the local store, then debt for each key.
  const Policy two = Policy::FixedWindow(2, std::chrono::minutes(1));
  std::vector<DecideRequest> fb = {{"fb:a", &two, 1}, {"fb:b", &window10_, 1}};
  EXPECT_TRUE(s->DecideAll(fb)->allowed);
  EXPECT_TRUE(s->DecideAll(fb)->allowed);
  Result<MultiDecision> third = s->DecideAll(fb);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->allowed) << "fb:a is spent";
  EXPECT_EQ(s->GetResilienceStats().debt_units, 4u);
}

TEST_F(ResilientStoreTest, DecideAsyncAnswersByTheDeadline) {
  auto s = Make(Options());
  std::promise<Result<Decision>> healthy;
  s->DecideAsync(DecideRequest{"k", &window10_, 1}, [&](Result<Decision> r) { healthy.set_value(std::move(r)); });
  auto hf = healthy.get_future();
  ASSERT_TRUE(Ready(hf));
  EXPECT_FALSE(hf.get()->degraded);

  faulty_->SetDefault(Fault::kHang);
  std::promise<Result<Decision>> hung;
  {
    std::string key = "k";  // gone before the answer: the store copied it
    Policy p = window10_;
    s->DecideAsync(DecideRequest{key, &p, 1}, [&](Result<Decision> r) { hung.set_value(std::move(r)); });
  }
  auto f = hung.get_future();
  ASSERT_TRUE(WaitUntil([&] { return faulty_->hung() == 1; }));
  clock_.Advance(50ms);
  ASSERT_TRUE(Ready(f));
  Result<Decision> d = f.get();
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->degraded);
}

TEST_F(ResilientStoreTest, AsyncBaseIsCalledThroughDecideAsync) {
  ResilientStoreOptions o = Options();
  o.base_is_async = true;
  o.max_queued = 1;
  o.fail_mode = FailMode::kError;
  auto s = Make(o);
  Result<Decision> d = s->Decide("k", window10_);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(s->GetResilienceStats().busy_workers, 0u);
  EXPECT_EQ(faulty_->calls(), 1);
}

TEST_F(ResilientStoreTest, DataCallsGetDeadlineAndBreakerButNoFailMode) {
  auto s = Make(Options());
  ASSERT_TRUE(s->Put("a", "1").ok());
  ASSERT_TRUE(s->Put("b", "2").ok());
  Result<std::optional<Record>> got = s->Get("a");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(std::get<std::string>((*got)->value), "1");
  int seen = 0;
  ASSERT_TRUE(s->Scan("", [&](const Record&) { return ++seen < 10; }).ok());
  EXPECT_EQ(seen, 2);
  Result<std::optional<Record>> updated = s->AtomicUpdate("a", [](const Record*) { return Update::Put(std::string("3")); });
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(std::get<std::string>((*updated)->value), "3");
  ASSERT_TRUE(s->Delete("a").ok());
  EXPECT_FALSE(s->Get("a")->has_value());

  s->breaker().SetMode(BreakerMode::kForcedOpen);
  EXPECT_EQ(s->Get("b").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(s->Put("c", "3").code(), StatusCode::kUnavailable);
  EXPECT_EQ(s->Scan("", [](const Record&) { return true; }).code(), StatusCode::kUnavailable);

  s->breaker().SetMode(BreakerMode::kNormal);
  faulty_->Script({Fault::kHang});
  auto f = Async([&] { return s->Get("b"); });
  ASSERT_TRUE(WaitUntil([&] { return faulty_->hung() == 1; }));
  clock_.Advance(50ms);
  ASSERT_TRUE(Ready(f));
  EXPECT_EQ(f.get().status().code(), StatusCode::kDeadlineExceeded);
}

TEST_F(ResilientStoreTest, LateAnswerAfterTheStoreIsGoneIsSafe) {
  faulty_->SetDefault(Fault::kHang);
  auto s = Make(Options());
  auto f = Async([&] { return s->Decide("k", window10_); });
  ASSERT_TRUE(WaitUntil([&] { return faulty_->hung() == 1; }));
  clock_.Advance(50ms);
  ASSERT_TRUE(Ready(f));
  EXPECT_TRUE(f.get()->degraded);
  s.reset();  // the hung worker is left behind
  faulty_->Release();
  ASSERT_TRUE(WaitUntil([&] { return faulty_->returned() == 1; }));
  // The worker ends on its own; its late answer went nowhere.
  ASSERT_TRUE(WaitUntil([&] { return faulty_.use_count() == 1; }));
}

}  // namespace
}  // namespace sluice

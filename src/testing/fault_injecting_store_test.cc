// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/testing/fault_injecting_store.h"

#include <atomic>
#include <thread>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "sluice/memory_store.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class FaultInjectingStoreTest : public ::testing::Test {
 protected:
  FaultInjectingStoreTest() {
    auto created = MemoryStore::Create({.clock = &clock_, .shards = 4, .sweep_interval = seconds(0)});
    EXPECT_TRUE(created.ok());
    memory_ = std::shared_ptr<Store>(std::move(*created));
  }

  std::shared_ptr<FaultInjectingStore> Make(FaultInjectingStoreOptions options = {}) {
    if (options.clock == nullptr) options.clock = &clock_;
    return std::make_shared<FaultInjectingStore>(memory_, options);
  }

  // Units left for `key` as the wrapped store sees it, read without consuming.
  int64_t Remaining(std::string_view key) {
    auto d = memory_->Decide(DecideRequest{key, &policy_, 0, Operation::kConsume});
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? d->remaining : -1;
  }

  SimulatedClock clock_;
  std::shared_ptr<Store> memory_;
  Policy policy_ = Policy::FixedWindow(10, seconds(60));
};

TEST_F(FaultInjectingStoreTest, WithoutFaultsEveryCallPassesThroughAndIsCounted) {
  auto store = Make();
  ASSERT_TRUE(store->Decide("k", policy_).ok());
  ASSERT_TRUE(store->Put("bytes", "v").ok());
  auto got = store->Get("bytes");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(std::get<std::string>((*got)->value), "v");
  auto updated = store->AtomicUpdate("bytes", [](const Record*) { return Update::Put(std::string("w")); });
  ASSERT_TRUE(updated.ok());
  int seen = 0;
  ASSERT_TRUE(store->Scan("", [&](const Record&) { return ++seen, true; }).ok());
  EXPECT_EQ(seen, 2);
  ASSERT_TRUE(store->Delete("bytes").ok());
  EXPECT_TRUE(store->Health().ok());
  EXPECT_EQ(store->name(), memory_->name());
  EXPECT_EQ(Remaining("k"), 9);

  const FaultStats s = store->stats();
  EXPECT_EQ(s.total.calls, 7u);
  EXPECT_EQ(s.total.applied, 7u);
  EXPECT_EQ(s.total.faulted, 0u);
  EXPECT_EQ(s.total.failed_before, 0u);
  EXPECT_EQ(s.of(StoreCall::kDecide).calls, 1u);
  EXPECT_EQ(s.of(StoreCall::kPut).calls, 1u);
  EXPECT_EQ(s.of(StoreCall::kHealth).applied, 1u);
  EXPECT_EQ(s.decide_requests_applied, 1u);
  EXPECT_EQ(store->in_flight(), 0u);
}

TEST_F(FaultInjectingStoreTest, UnavailableFailsBeforeTheStoreAndAppliesNothing) {
  auto store = Make();
  store->FailNext(2, StatusCode::kUnavailable);
  EXPECT_EQ(store->Decide("k", policy_).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->Decide("k", policy_).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Remaining("k"), 10);
  ASSERT_TRUE(store->Decide("k", policy_).ok());  // the third call passes
  EXPECT_EQ(Remaining("k"), 9);
  const FaultStats s = store->stats();
  EXPECT_EQ(s.total.calls, 3u);
  EXPECT_EQ(s.total.failed_before, 2u);
  EXPECT_EQ(s.total.applied, 1u);
  EXPECT_EQ(s.decide_requests_applied, 1u);
}

TEST_F(FaultInjectingStoreTest, LostReplyIsAppliedThenReportedAsDeadlineExceeded) {
  auto store = Make();
  store->FailNext(1, StatusCode::kDeadlineExceeded);
  auto d = store->Decide("k", policy_);
  EXPECT_EQ(d.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(d.status().message().find("lost"), std::string::npos) << d.status().ToString();
  EXPECT_EQ(Remaining("k"), 9);  // charged although the caller saw an error
  const FaultStats s = store->stats();
  EXPECT_EQ(s.total.lost_replies, 1u);
  EXPECT_EQ(s.total.applied, 1u);
  EXPECT_EQ(s.decide_requests_lost, 1u);
  EXPECT_EQ(s.decide_units_admitted, 1);
  EXPECT_EQ(s.decide_units_admitted_lost, 1);
}

TEST_F(FaultInjectingStoreTest, TimeoutBeforeIsDeadlineExceededWithNothingApplied) {
  auto store = Make();
  store->InjectNext(1, Fault::TimeoutBefore());
  EXPECT_EQ(store->Decide("k", policy_).status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Remaining("k"), 10);
  EXPECT_EQ(store->stats().total.failed_before, 1u);
  EXPECT_EQ(store->stats().total.lost_replies, 0u);
}

TEST_F(FaultInjectingStoreTest, FailNextCountsOnlyTheCallsInItsMask) {
  auto store = Make();
  store->FailNext(1, StatusCode::kInternal, Mask(StoreCall::kGet));
  ASSERT_TRUE(store->Decide("k", policy_).ok());
  ASSERT_TRUE(store->Put("b", "v").ok());
  EXPECT_EQ(store->Get("b").status().code(), StatusCode::kInternal);
  EXPECT_TRUE(store->Get("b").ok());
}

TEST_F(FaultInjectingStoreTest, OutageFailsEveryKindOfCallUntilItEnds) {
  auto store = Make();
  store->SetOutage(true);
  const DecideRequest req{"k", &policy_, 1, Operation::kConsume};
  EXPECT_EQ(store->Decide(req).status().code(), StatusCode::kUnavailable);
  auto batch = store->DecideBatch(std::vector<DecideRequest>{req, req});
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(batch[1].status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->DecideAll(std::vector<DecideRequest>{req}).status().code(), StatusCode::kUnavailable);
  StatusCode async_code = StatusCode::kOk;
  store->DecideAsync(req, [&](Result<Decision> r) { async_code = r.status().code(); });
  EXPECT_EQ(async_code, StatusCode::kUnavailable);
  EXPECT_EQ(store->Get("b").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->Put("b", "v").code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->Delete("b").code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->Scan("", [](const Record&) { return true; }).code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->AtomicUpdate("b", [](const Record*) { return Update::Keep(); }).status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(store->Health().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(store->Flush().ok());  // never faulted
  EXPECT_EQ(Remaining("k"), 10);
  const FaultStats s = store->stats();
  EXPECT_EQ(s.total.calls, 10u);
  EXPECT_EQ(s.total.failed_before, 10u);
  EXPECT_EQ(s.total.applied, 0u);
  for (size_t i = 0; i < kStoreCallKinds; ++i) {
    EXPECT_EQ(s.by_call[i].failed_before, 1u) << StoreCallName(static_cast<StoreCall>(1u << i));
  }

  store->SetOutage(false);
  EXPECT_TRUE(store->Health().ok());
  EXPECT_TRUE(store->Decide(req).ok());
  EXPECT_EQ(Remaining("k"), 9);
}

TEST_F(FaultInjectingStoreTest, BatchAndAllFaultsApplyToTheWholeCallAndCountEveryRequest) {
  auto store = Make();
  const DecideRequest a{"a", &policy_, 1, Operation::kConsume};
  const DecideRequest b{"b", &policy_, 2, Operation::kConsume};
  store->FailNext(1, StatusCode::kDeadlineExceeded, Mask(StoreCall::kDecideBatch));
  auto batch = store->DecideBatch(std::vector<DecideRequest>{a, b});
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(batch[1].status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Remaining("a"), 9);
  EXPECT_EQ(Remaining("b"), 8);
  auto all = store->DecideAll(std::vector<DecideRequest>{a, b});
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->allowed);
  const FaultStats s = store->stats();
  EXPECT_EQ(s.decide_requests_applied, 4u);
  EXPECT_EQ(s.decide_requests_lost, 2u);
  EXPECT_EQ(s.decide_units_admitted, 6);
  EXPECT_EQ(s.decide_units_admitted_lost, 3);
  EXPECT_EQ(s.of(StoreCall::kDecideBatch).lost_replies, 1u);
  EXPECT_EQ(s.of(StoreCall::kDecideAll).applied, 1u);
}

TEST_F(FaultInjectingStoreTest, AsyncLostReplyIsAppliedAndReportedThroughTheCallback) {
  auto store = Make();
  store->FailNext(1, StatusCode::kDeadlineExceeded, Mask(StoreCall::kDecideAsync));
  StatusCode code = StatusCode::kOk;
  store->DecideAsync({"k", &policy_, 3, Operation::kConsume}, [&](Result<Decision> r) { code = r.status().code(); });
  EXPECT_EQ(code, StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Remaining("k"), 7);
  bool allowed = false;
  store->DecideAsync({"k", &policy_, 1, Operation::kConsume}, [&](Result<Decision> r) { allowed = r.ok() && r->allowed; });
  EXPECT_TRUE(allowed);
  EXPECT_EQ(store->in_flight(), 0u);
}

TEST_F(FaultInjectingStoreTest, LatencyAdvancesTheSimulatedClockWhenAsked) {
  auto store = Make({.advance = &clock_});
  store->SetLatency(milliseconds(50));
  const auto t0 = clock_.MonotonicNow();
  ASSERT_TRUE(store->Decide("k", policy_).ok());
  ASSERT_TRUE(store->Get("k").ok());
  EXPECT_EQ(clock_.MonotonicNow() - t0, milliseconds(100));
  store->SetLatency(milliseconds(0));
  ASSERT_TRUE(store->Decide("k", policy_).ok());
  EXPECT_EQ(clock_.MonotonicNow() - t0, milliseconds(100));
  const FaultStats s = store->stats();
  EXPECT_EQ(s.total.delayed, 2u);
  EXPECT_EQ(s.total.latency, milliseconds(100));
}

TEST_F(FaultInjectingStoreTest, LatencySleepsOnTheClockUntilTheTestAdvancesIt) {
  auto store = Make();
  store->SetLatency(milliseconds(30));
  std::atomic<bool> done{false};
  std::thread caller([&] {
    EXPECT_TRUE(store->Decide("k", policy_).ok());
    done = true;
  });
  const auto give_up = std::chrono::steady_clock::now() + seconds(10);
  while (clock_.sleepers() == 0 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  ASSERT_EQ(clock_.sleepers(), 1u);
  EXPECT_EQ(store->sleeping_now(), 1u);
  EXPECT_EQ(store->blocked_after(0), 1u);
  EXPECT_FALSE(done.load());
  EXPECT_EQ(Remaining("k"), 10);  // not applied while it waits
  clock_.Advance(milliseconds(29));
  EXPECT_FALSE(done.load());
  clock_.Advance(milliseconds(1));
  caller.join();
  EXPECT_TRUE(done.load());
  EXPECT_EQ(store->sleeping_now(), 0u);
  EXPECT_EQ(Remaining("k"), 9);
}

TEST_F(FaultInjectingStoreTest, HangBlocksUntilReleasedThenApplies) {
  auto store = Make();
  store->HangAll(true);
  Result<Decision> result = UnavailableError("not run");
  std::thread caller([&] { result = store->Decide("k", policy_); });
  ASSERT_TRUE(store->WaitForHung(1));
  EXPECT_EQ(store->hung_now(), 1u);
  EXPECT_EQ(store->in_flight(), 1u);
  EXPECT_EQ(store->blocked_after(0), 1u);  // call #1
  EXPECT_EQ(store->blocked_after(1), 0u);
  EXPECT_EQ(Remaining("k"), 10);
  store->ReleaseHangs();
  caller.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(Remaining("k"), 9);
  EXPECT_EQ(store->hung_now(), 0u);
  EXPECT_EQ(store->stats().total.hung, 1u);

  // Still hanging new calls until HangAll(false), which releases them too.
  std::thread second([&] { result = store->Decide("k", policy_); });
  ASSERT_TRUE(store->WaitForHung(1));
  store->HangAll(false);
  second.join();
  EXPECT_TRUE(result.ok());
  EXPECT_TRUE(store->Decide("k", policy_).ok());  // no hang any more
  EXPECT_EQ(store->stats().total.hung, 2u);
}

TEST_F(FaultInjectingStoreTest, HangThenFailAppliesNothing) {
  auto store = Make();
  store->InjectNext(1, Fault::Hang(Fault::Outcome::kFailBefore, StatusCode::kUnavailable));
  Result<Decision> result = Decision{};
  std::thread caller([&] { result = store->Decide("k", policy_); });
  ASSERT_TRUE(store->WaitForHung(1));
  store->ReleaseHangs();
  caller.join();
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Remaining("k"), 10);
}

TEST_F(FaultInjectingStoreTest, DestructorReleasesHangsAndWaitsForCallsToLeave) {
  auto store = Make();
  FaultInjectingStore* raw = store.get();
  store->HangAll(true);
  Result<Decision> result = UnavailableError("not run");
  std::thread caller([&] { result = raw->Decide("k", policy_); });
  ASSERT_TRUE(store->WaitForHung(1));
  store.reset();  // releases the hang and waits for the call to return
  caller.join();
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(Remaining("k"), 9);
}

TEST_F(FaultInjectingStoreTest, UnreleasedHangFailsTheTestAfterMaxHang) {
  auto store = Make({.max_hang = milliseconds(20)});
  store->InjectNext(1, Fault::Hang());
  bool ok = false;
  // The hang times out on real time and reports a failure, which this test expects.
  EXPECT_NONFATAL_FAILURE(ok = store->Decide("k", policy_).ok(), "nothing released it");
  EXPECT_TRUE(ok);
  EXPECT_EQ(store->stats().hangs_timed_out, 1u);
}

TEST_F(FaultInjectingStoreTest, ScheduleByCallNumberAndKind) {
  auto store = Make();
  store->SetSchedule({{.calls = kDecideCalls, .from_call = 3, .to_call = 5, .fault = Fault::Unavailable()}});
  std::vector<StatusCode> codes;
  for (int i = 0; i < 6; ++i) codes.push_back(store->Decide("k", policy_).status().code());
  EXPECT_EQ(codes, (std::vector<StatusCode>{StatusCode::kOk, StatusCode::kOk, StatusCode::kUnavailable,
                                            StatusCode::kUnavailable, StatusCode::kOk, StatusCode::kOk}));
  // Call 7 (a Get) would be out of the window anyway; a new schedule restarts numbering.
  store->SetSchedule({{.calls = Mask(StoreCall::kGet), .from_call = 1, .to_call = 3, .fault = Fault::Unavailable()}});
  EXPECT_TRUE(store->Decide("k", policy_).ok());                                  // #1, not a Get
  EXPECT_EQ(store->Get("k").status().code(), StatusCode::kUnavailable);          // #2
  EXPECT_TRUE(store->Get("k").ok());                                              // #3
}

TEST_F(FaultInjectingStoreTest, ScheduleByTimeWindowOnTheClock) {
  auto store = Make();
  store->SetSchedule({{.from_time = seconds(1), .to_time = seconds(2), .fault = Fault::LostReply()},
                      {.from_time = milliseconds(1500), .to_time = seconds(3), .fault = Fault::Unavailable()}});
  EXPECT_TRUE(store->Decide("k", policy_).ok());
  clock_.Advance(seconds(1));
  EXPECT_EQ(store->ScheduleElapsed(), seconds(1));
  EXPECT_EQ(store->Decide("k", policy_).status().code(), StatusCode::kDeadlineExceeded);  // applied
  clock_.Advance(milliseconds(600));  // both windows: the first rule's outcome wins
  EXPECT_EQ(store->Decide("k", policy_).status().code(), StatusCode::kDeadlineExceeded);  // applied
  clock_.Advance(milliseconds(500));  // 2.1 s: only the outage
  EXPECT_EQ(store->Decide("k", policy_).status().code(), StatusCode::kUnavailable);
  clock_.Advance(seconds(1));  // 3.1 s: nothing
  EXPECT_TRUE(store->Decide("k", policy_).ok());
  EXPECT_EQ(Remaining("k"), 6);
  EXPECT_EQ(store->stats().total.lost_replies, 2u);
}

TEST_F(FaultInjectingStoreTest, RulesCombineLatencyHangAndOutcome) {
  auto store = Make({.advance = &clock_});
  store->SetSchedule({{.fault = Fault::Latency(milliseconds(5))},
                      {.fault = Fault::Latency(milliseconds(7))},
                      {.fault = Fault::LostReply()},
                      {.fault = Fault::Unavailable()}});
  const auto t0 = clock_.MonotonicNow();
  EXPECT_EQ(store->Decide("k", policy_).status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(clock_.MonotonicNow() - t0, milliseconds(12));
  EXPECT_EQ(Remaining("k"), 9);
  // An outage control takes precedence over the schedule's outcome.
  store->SetOutage(true);
  EXPECT_EQ(store->Decide("k", policy_).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Remaining("k"), 9);
  store->ClearFaults();
  EXPECT_TRUE(store->Decide("k", policy_).ok());
  EXPECT_EQ(clock_.MonotonicNow() - t0, milliseconds(24));
}

TEST_F(FaultInjectingStoreTest, ConcurrentCallsAreCountedConsistently) {
  auto store = Make({.seed = 9});
  store->SetSchedule({{.calls = kDecideCalls, .probability = 0.2, .fault = Fault::Unavailable()},
                      {.calls = kDecideCalls, .probability = 0.2, .fault = Fault::LostReply()},
                      {.calls = Mask(StoreCall::kGet), .probability = 0.5, .fault = Fault::Error(StatusCode::kInternal)}});
  const Policy many = Policy::FixedWindow(1'000'000, seconds(60));
  std::atomic<int64_t> allowed_seen{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        auto d = store->Decide("k" + std::to_string(t), many);
        if (d.ok() && d->allowed) allowed_seen.fetch_add(1);
        (void)store->Get("k" + std::to_string(t));
        if (i % 50 == 0) (void)store->stats();
      }
    });
  }
  for (auto& th : threads) th.join();
  const FaultStats s = store->stats();
  EXPECT_EQ(s.total.calls, 4000u);
  EXPECT_EQ(s.of(StoreCall::kDecide).calls, 2000u);
  EXPECT_EQ(s.total.failed_before + s.total.applied, s.total.calls);
  // Every unit the store admitted either reached its caller or was lost.
  EXPECT_EQ(s.decide_units_admitted, allowed_seen.load() + s.decide_units_admitted_lost);
  int64_t consumed = 0;
  for (int t = 0; t < 4; ++t) {
    auto d = memory_->Decide(DecideRequest{"k" + std::to_string(t), &many, 0, Operation::kConsume});
    ASSERT_TRUE(d.ok());
    consumed += 1'000'000 - d->remaining;
  }
  EXPECT_EQ(consumed, s.decide_units_admitted);
  EXPECT_EQ(store->in_flight(), 0u);
}

// Runs 2000 decisions through an injector with a probabilistic schedule and
// returns its trace hash and the number of injected failures.
std::pair<uint64_t, uint64_t> RunProbabilistic(uint64_t seed) {
  SimulatedClock clock;
  auto memory = MemoryStore::Create({.clock = &clock, .shards = 1, .sweep_interval = seconds(0)});
  EXPECT_TRUE(memory.ok());
  FaultInjectingStore store(std::shared_ptr<Store>(std::move(*memory)), {.clock = &clock, .seed = seed});
  store.SetSchedule({{.calls = kDecideCalls, .probability = 0.25, .fault = Fault::Unavailable()},
                     {.calls = kDecideCalls, .probability = 0.1, .fault = Fault::LostReply()}});
  const Policy policy = Policy::TokenBucket(1'000'000, 1, seconds(1));
  for (int i = 0; i < 2000; ++i) {
    (void)store.Decide("k", policy);
    clock.Advance(milliseconds(1));
  }
  const FaultStats s = store.stats();
  EXPECT_EQ(s.total.calls, 2000u);
  EXPECT_EQ(s.total.failed_before + s.total.applied, 2000u);
  return {store.TraceHash(), s.total.failed_before * 1'000'000 + s.total.lost_replies};
}

TEST(FaultInjectingStoreSeedTest, ASeedReproducesARunAndProbabilitiesHold) {
  const auto a = RunProbabilistic(42);
  const auto b = RunProbabilistic(42);
  const auto c = RunProbabilistic(43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a.first, c.first);
  const uint64_t failed = a.second / 1'000'000;
  const uint64_t lost = a.second % 1'000'000;
  // Expected 500 failures (p = 0.25) and 150 lost replies (0.75 * 0.1 * 2000):
  // bounds at about 5 standard deviations.
  EXPECT_GT(failed, 400u);
  EXPECT_LT(failed, 600u);
  EXPECT_GT(lost, 90u);
  EXPECT_LT(lost, 210u);
}

TEST(RandomFaultScheduleTest, SameSeedSameScheduleAndWindowsInsideTheHorizon) {
  RandomFaultScheduleOptions options;
  options.horizon = seconds(20);
  options.max_outages = 3;
  options.max_hang_windows = 1;
  EXPECT_EQ(ToString(RandomFaultSchedule(5, options)), ToString(RandomFaultSchedule(5, options)));
  bool differs = false;
  int outages_seen = 0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const FaultSchedule s = RandomFaultSchedule(seed, options);
    differs = differs || ToString(s) != ToString(RandomFaultSchedule(seed + 1, options));
    for (const FaultRule& r : s) {
      if (r.to_time == std::chrono::nanoseconds::max()) {
        EXPECT_EQ(r.from_time.count(), 0);
        continue;
      }
      EXPECT_GE(r.from_time.count(), 0);
      EXPECT_LT(r.from_time, options.horizon);
      EXPECT_GT(r.to_time, r.from_time);
      if (r.calls == kAllCalls && r.fault.outcome == Fault::Outcome::kFailBefore) {
        ++outages_seen;
        EXPECT_LE(r.to_time - r.from_time, options.max_outage + milliseconds(1));
      }
    }
  }
  EXPECT_TRUE(differs);
  EXPECT_GT(outages_seen, 20);  // about 1.5 per schedule on average
  EXPECT_NE(ToString(RandomFaultSchedule(5, options)).find("Unavailable-before"), std::string::npos)
      << ToString(RandomFaultSchedule(5, options));
}

}  // namespace
}  // namespace sluice::testing

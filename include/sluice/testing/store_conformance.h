// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The conformance suite every Store must pass. It is value-parameterised by a
// factory; a backend's test file instantiates it once:
//
//   #include "sluice/testing/store_conformance.h"
//   INSTANTIATE_TEST_SUITE_P(Memory, StoreConformanceTest,
//       ::testing::Values(sluice::testing::StoreFactory{"memory", [](sluice::Clock& clock) {
//         return sluice::MemoryStore::Create({.clock = &clock});
//       }}));
//
// The factory receives a SimulatedClock the store must use for all time (remote
// stores: client-time mode), and must return an empty store. Include this
// header in exactly one file of a test binary: it defines the tests.

#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sluice/algorithms.h"
#include "sluice/store.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice::testing {

struct StoreFactory {
  std::string name;
  std::function<Result<std::unique_ptr<Store>>(Clock& clock)> make;
};

inline std::string PrintToString(const StoreFactory& f) { return f.name; }

class StoreConformanceTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Store>> made = GetParam().make(clock_);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    store_ = std::move(*made);
  }

  static std::vector<Policy> AllPolicies() {
    using std::chrono::seconds;
    return {Policy::TokenBucket(5, 2, seconds(1)),      Policy::Gcra(4, 3, seconds(2)),
            Policy::FixedWindow(6, seconds(10)),         Policy::CalendarWindow(3, WindowAlignment::kCalendarDay),
            Policy::SlidingWindowLog(5, seconds(3)),     Policy::SlidingWindowCounter(7, seconds(5))};
  }

  Decision MustDecide(std::string_view key, const Policy& p, int64_t cost = 1, Operation op = Operation::kConsume) {
    Result<Decision> d = store_->Decide(DecideRequest{key, &p, cost, op});
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : Decision{};
  }

  SimulatedClock clock_;
  std::unique_ptr<Store> store_;
};

// The store decides exactly as the pure algorithm does, for every algorithm and
// operation, over a seeded random sequence of (time, cost, op).
TEST_P(StoreConformanceTest, DecidesLikeTheAlgorithm) {
  for (const Policy& p : AllPolicies()) {
    std::mt19937_64 rng(p.Fingerprint());
    const std::string key = "conformance:" + std::string(AlgorithmName(p.algorithm)) + ":" +
                            std::to_string(p.Fingerprint());
    std::optional<LimiterState> model;
    for (int i = 0; i < 300; ++i) {
      clock_.Advance(std::chrono::nanoseconds(static_cast<int64_t>(rng() % 400'000'000)));
      const int64_t cost = static_cast<int64_t>(rng() % static_cast<uint64_t>(p.limit + 1));
      const uint64_t pick = rng() % 20;
      const Operation op = pick == 0 ? Operation::kReset
                           : pick < 3 ? Operation::kRefund
                           : pick < 5 ? Operation::kPeek
                                      : Operation::kConsume;
      Result<Evaluation> expected = Evaluate(p, model, op, cost, clock_.NowNanos());
      ASSERT_TRUE(expected.ok());
      const Decision got = MustDecide(key, p, cost, op);
      ASSERT_EQ(got, expected->decision) << p.ToString() << " step " << i << " op " << OperationName(op)
                                         << " cost " << cost << ": got " << ToString(got) << ", want "
                                         << ToString(expected->decision);
    }
  }
}

TEST_P(StoreConformanceTest, RejectsBadRequests) {
  const Policy p = Policy::TokenBucket(5, 1, std::chrono::seconds(1));
  EXPECT_EQ(store_->Decide(DecideRequest{"k", &p, 6, Operation::kConsume}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Decide(DecideRequest{"k", &p, -1, Operation::kConsume}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Decide(DecideRequest{"k", nullptr, 1, Operation::kConsume}).status().code(),
            StatusCode::kInvalidArgument);
  const Policy bad = Policy::TokenBucket(0, 1, std::chrono::seconds(1));
  EXPECT_EQ(store_->Decide("k", bad).status().code(), StatusCode::kInvalidArgument);
  // Nothing was charged by the rejected calls.
  EXPECT_EQ(MustDecide("k", p, 0).remaining, 5);
}

TEST_P(StoreConformanceTest, MultiLimitIsAllOrNothing) {
  const Policy per_second = Policy::TokenBucket(3, 3, std::chrono::seconds(1));
  const Policy per_day = Policy::FixedWindow(5, std::chrono::hours(24));
  // One hash tag, so the keys share a Redis Cluster slot, as StoreKey makes them.
  const DecideRequest both[] = {{"{user:1}:sec", &per_second, 1, Operation::kConsume},
                                {"{user:1}:day", &per_day, 1, Operation::kConsume}};
  for (int i = 0; i < 3; ++i) {
    Result<MultiDecision> m = store_->DecideAll(both);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_TRUE(m->allowed);
  }
  // The per-second limit is spent: the whole is denied and the day is not charged.
  Result<MultiDecision> denied = store_->DecideAll(both);
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->allowed);
  ASSERT_EQ(denied->decisions.size(), 2u);
  EXPECT_FALSE(denied->decisions[0].allowed);
  EXPECT_GT(denied->decisions[0].retry_after.count(), 0);
  EXPECT_TRUE(denied->decisions[1].allowed);
  EXPECT_FALSE(denied->Combined().allowed);
  EXPECT_EQ(MustDecide("{user:1}:day", per_day, 0).remaining, 2);
  // After a second both admit again; two more fit in the day, the third is denied by the day.
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_TRUE(store_->DecideAll(both)->allowed);
  EXPECT_TRUE(store_->DecideAll(both)->allowed);
  Result<MultiDecision> day_denied = store_->DecideAll(both);
  EXPECT_FALSE(day_denied->allowed);
  EXPECT_FALSE(day_denied->decisions[1].allowed);
  EXPECT_EQ(MustDecide("{user:1}:sec", per_second, 0).remaining, 1);
  // Duplicate keys are a caller error.
  const DecideRequest twice[] = {{"dup", &per_second, 1, Operation::kConsume},
                                 {"dup", &per_day, 1, Operation::kConsume}};
  EXPECT_EQ(store_->DecideAll(twice).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(StoreConformanceTest, BatchAndAsyncDecide) {
  const Policy p = Policy::FixedWindow(2, std::chrono::seconds(10));
  const DecideRequest reqs[] = {{"b:1", &p, 1, Operation::kConsume},
                                {"b:1", &p, 1, Operation::kConsume},
                                {"b:1", &p, 1, Operation::kConsume},
                                {"b:2", &p, 3, Operation::kConsume}};
  std::vector<Result<Decision>> out = store_->DecideBatch(reqs);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_TRUE(out[0]->allowed);
  EXPECT_TRUE(out[1]->allowed);
  EXPECT_FALSE(out[2]->allowed);
  EXPECT_EQ(out[3].status().code(), StatusCode::kInvalidArgument);
  std::atomic<int> called{0};
  store_->DecideAsync(DecideRequest{"b:3", &p, 1, Operation::kConsume}, [&](Result<Decision> d) {
    EXPECT_TRUE(d.ok() && d->allowed);
    called.fetch_add(1);
  });
  while (called.load() == 0) std::this_thread::yield();
}

TEST_P(StoreConformanceTest, ConcurrentDecidesNeverOverAdmit) {
  // The clock stands still: exactly `limit` of the attempts may pass.
  for (const Policy& p : {Policy::TokenBucket(1000, 1, std::chrono::hours(1)),
                          Policy::SlidingWindowLog(1000, std::chrono::hours(1)),
                          Policy::FixedWindow(1000, std::chrono::hours(1))}) {
    std::atomic<int64_t> admitted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 400; ++i) {
          Result<Decision> d = store_->Decide("hot:" + std::string(AlgorithmName(p.algorithm)), p);
          if (d.ok() && d->allowed) admitted.fetch_add(1);
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(admitted.load(), 1000) << p.ToString();
  }
}

TEST_P(StoreConformanceTest, AtomicUpdateUnderContention) {
  constexpr int kThreads = 8;
  constexpr int kIncrements = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        Result<std::optional<Record>> r = store_->AtomicUpdate("counter", [](const Record* current) {
          int64_t n = 0;
          if (current != nullptr) n = std::stoll(std::get<std::string>(current->value));
          return Update::Put(std::to_string(n + 1));
        });
        ASSERT_TRUE(r.ok()) << r.status().ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  Result<std::optional<Record>> final_value = store_->Get("counter");
  ASSERT_TRUE(final_value.ok() && final_value->has_value());
  EXPECT_EQ(std::get<std::string>((*final_value)->value), std::to_string(kThreads * kIncrements));
}

TEST_P(StoreConformanceTest, AtomicUpdateActionsAndFencing) {
  auto put = [](std::string v) { return [v](const Record*) { return Update::Put(v); }; };
  Result<std::optional<Record>> r = store_->AtomicUpdate("a", put("1"));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(std::get<std::string>((*r)->value), "1");
  r = store_->AtomicUpdate("a", [](const Record* current) {
    EXPECT_NE(current, nullptr);
    return Update::Keep();
  });
  ASSERT_TRUE(r.ok() && r->has_value());
  r = store_->AtomicUpdate("a", [](const Record*) { return Update::Delete(); });
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_FALSE(store_->Get("a")->has_value());
  // Fencing: a write with an older token than one already seen is rejected.
  EXPECT_TRUE(store_->AtomicUpdate("f", put("x"), UpdateOptions{.fencing_token = 7}).ok());
  EXPECT_TRUE(store_->AtomicUpdate("f", put("y"), UpdateOptions{.fencing_token = 7}).ok());
  Result<std::optional<Record>> stale = store_->AtomicUpdate("f", put("z"), UpdateOptions{.fencing_token = 6});
  EXPECT_EQ(stale.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(std::get<std::string>((*store_->Get("f"))->value), "y");
  EXPECT_TRUE(store_->AtomicUpdate("f", put("w"), UpdateOptions{.fencing_token = 9}).ok());
}

TEST_P(StoreConformanceTest, TtlExpiry) {
  ASSERT_TRUE(store_->Put("session", "v", std::chrono::seconds(10)).ok());
  ASSERT_TRUE(store_->Put("forever", "v").ok());
  Result<std::optional<Record>> r = store_->Get("session");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->expires_at_ns, clock_.NowNanos() + 10'000'000'000);
  clock_.Advance(std::chrono::nanoseconds(9'999'999'999));
  EXPECT_TRUE(store_->Get("session")->has_value());
  clock_.Advance(std::chrono::nanoseconds(1));
  EXPECT_FALSE(store_->Get("session")->has_value());
  EXPECT_TRUE(store_->Get("forever")->has_value());
  // A limiter key expires when its state is fresh again, and says when.
  const Policy p = Policy::TokenBucket(10, 1, std::chrono::seconds(1));
  MustDecide("limiter", p, 3);
  r = store_->Get("limiter");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->expires_at_ns, clock_.NowNanos() + 3'000'000'000);
  ASSERT_TRUE(std::holds_alternative<LimiterRecord>((*r)->value));
  EXPECT_EQ(std::get<LimiterRecord>((*r)->value).policy, p);
  clock_.Advance(std::chrono::seconds(3));
  EXPECT_FALSE(store_->Get("limiter")->has_value());
  // A put that expires in the past removes the key.
  ASSERT_TRUE(store_->Put(Record{"forever", std::string("v"), clock_.NowNanos() - 1}).ok());
  EXPECT_FALSE(store_->Get("forever")->has_value());
}

TEST_P(StoreConformanceTest, ScanByPrefix) {
  for (const char* k : {"a:1", "a:2", "ab:1", "b:1", "a:"}) ASSERT_TRUE(store_->Put(k, std::string("v") + k).ok());
  const Policy p = Policy::TokenBucket(5, 1, std::chrono::seconds(1));
  MustDecide("a:limiter", p, 2);
  std::vector<std::string> seen;
  ASSERT_TRUE(store_->Scan("a:", [&](const Record& r) {
                      seen.push_back(r.key);
                      return true;
                    }).ok());
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"a:", "a:1", "a:2", "a:limiter"}));
  int all = 0;
  ASSERT_TRUE(store_->Scan("", [&](const Record&) { return ++all, true; }).ok());
  EXPECT_EQ(all, 6);
  int stopped = 0;
  ASSERT_TRUE(store_->Scan("", [&](const Record&) { return ++stopped < 2; }).ok());
  EXPECT_EQ(stopped, 2);
  // Expired keys are not visited.
  ASSERT_TRUE(store_->Put("a:short", "v", std::chrono::seconds(1)).ok());
  clock_.Advance(std::chrono::seconds(2));
  seen.clear();
  ASSERT_TRUE(store_->Scan("a:", [&](const Record& r) { return seen.push_back(r.key), true; }).ok());
  EXPECT_EQ(seen.size(), 3u);  // a:, a:1, a:2 (the limiter refilled, a:short expired)
}

TEST_P(StoreConformanceTest, LargeAndOddKeys) {
  const std::string binary("\0\x01\xff{}:\n", 7);
  const std::vector<std::string> keys = {"",        binary,    "{",  "}",         ":",      "{user}:1",
                                         "user:1",  "user:10", "\xc3\x28", std::string(kMaxKeyBytes, 'k'),
                                         std::string(kMaxKeyBytes - 1, 'k') + "j", std::string(17, 'x'),
                                         std::string(16, 'x')};
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(store_->Put(keys[i], "value" + std::to_string(i)).ok()) << i;
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    Result<std::optional<Record>> r = store_->Get(keys[i]);
    ASSERT_TRUE(r.ok() && r->has_value()) << i;
    EXPECT_EQ((*r)->key, keys[i]);
    EXPECT_EQ(std::get<std::string>((*r)->value), "value" + std::to_string(i));
  }
  const std::string too_long(kMaxKeyBytes + 1, 'k');
  EXPECT_EQ(store_->Put(too_long, "v").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Get(too_long).status().code(), StatusCode::kInvalidArgument);
  const Policy p = Policy::FixedWindow(1, std::chrono::seconds(10));
  EXPECT_EQ(store_->Decide(too_long, p).status().code(), StatusCode::kInvalidArgument);
  // Limiter state under odd keys is kept apart per key.
  for (const std::string& k : {std::string(), binary, std::string("{"), std::string(300, '}')}) {
    EXPECT_TRUE(MustDecide("lim" + k, p).allowed);
    EXPECT_FALSE(MustDecide("lim" + k, p).allowed);
  }
  for (const std::string& k : keys) ASSERT_TRUE(store_->Delete(k).ok());
  EXPECT_TRUE(store_->Delete("never-existed").ok());
  EXPECT_FALSE(store_->Get("").value().has_value());
}

TEST_P(StoreConformanceTest, PutLimiterRecordValidatesAndRoundTrips) {
  const Policy p = Policy::TokenBucket(10, 1, std::chrono::seconds(1));
  const int64_t now = clock_.NowNanos();
  Record bad{"imported", LimiterRecord{p, TokenBucketState{11, 0, now}}, 0};
  Status s = store_->Put(bad);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("capacity"), std::string_view::npos) << s.ToString();
  EXPECT_FALSE(store_->Get("imported")->has_value());
  Record good{"imported", LimiterRecord{p, TokenBucketState{4, 0, now}}, 0};
  ASSERT_TRUE(store_->Put(good).ok());
  EXPECT_EQ(MustDecide("imported", p, 0).remaining, 4);
  Result<std::optional<Record>> back = store_->Get("imported");
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ(std::get<LimiterRecord>((*back)->value), std::get<LimiterRecord>(good.value));
  EXPECT_EQ((*back)->expires_at_ns, now + 6'000'000'000);
  // Every algorithm's state survives a Get/Put round trip.
  for (const Policy& policy : AllPolicies()) {
    const std::string key = "rt:" + std::string(AlgorithmName(policy.algorithm)) + std::to_string(policy.limit);
    MustDecide(key, policy, 2);
    Result<std::optional<Record>> got = store_->Get(key);
    ASSERT_TRUE(got.ok() && got->has_value()) << key;
    ASSERT_TRUE(store_->Delete(key).ok());
    ASSERT_TRUE(store_->Put(**got).ok());
    EXPECT_EQ(**store_->Get(key), **got) << key;
  }
}

TEST_P(StoreConformanceTest, StatsHealthFlush) {
  EXPECT_TRUE(store_->Health().ok());
  EXPECT_TRUE(store_->Flush().ok());
  const StoreStats before = store_->Stats();
  ASSERT_TRUE(store_->Put("s:1", "v").ok());
  EXPECT_TRUE(store_->Get("s:1")->has_value());
  EXPECT_FALSE(store_->Get("s:2")->has_value());
  const StoreStats after = store_->Stats();
  EXPECT_EQ(after.keys, before.keys + 1);
  EXPECT_GE(after.hits, before.hits + 1);
  EXPECT_GE(after.misses, before.misses + 1);
  EXPECT_FALSE(store_->name().empty());
}

// A key's fencing token travels with its record: Get and Scan return it, Put
// of a record raises it (so an import keeps it), and it lives exactly as long
// as the key's value (a deleted key's fence is gone, so fences never pile up).
TEST_P(StoreConformanceTest, FencingTokensTravelWithRecords) {
  auto put = [](std::string v) { return [v](const Record*) { return Update::Put(v); }; };
  ASSERT_TRUE(store_->AtomicUpdate("fence:a", put("x"), UpdateOptions{.fencing_token = 9}).ok());
  Result<std::optional<Record>> got = store_->Get("fence:a");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status().ToString();
  EXPECT_EQ((*got)->fencing_token, 9u);
  // A write without a token keeps the fence.
  ASSERT_TRUE(store_->AtomicUpdate("fence:a", put("y")).ok());
  EXPECT_EQ((**store_->Get("fence:a")).fencing_token, 9u);
  uint64_t scanned = 0;
  ASSERT_TRUE(store_->Scan("fence:", [&](const Record& r) {
    scanned = r.fencing_token;
    return true;
  }).ok());
  EXPECT_EQ(scanned, 9u);
  // Put (import) raises the fence; an older token is then refused.
  Record imported{"fence:b", std::string("v"), 0, 12};
  ASSERT_TRUE(store_->Put(imported).ok());
  EXPECT_EQ((**store_->Get("fence:b")).fencing_token, 12u);
  EXPECT_EQ(store_->AtomicUpdate("fence:b", put("old"), UpdateOptions{.fencing_token = 11}).status().code(),
            StatusCode::kFailedPrecondition);
  // Put never lowers a fence.
  imported.fencing_token = 3;
  ASSERT_TRUE(store_->Put(imported).ok());
  EXPECT_EQ((**store_->Get("fence:b")).fencing_token, 12u);
  // Deleting the key drops its fence.
  ASSERT_TRUE(store_->Delete("fence:b").ok());
  ASSERT_TRUE(store_->AtomicUpdate("fence:b", put("new"), UpdateOptions{.fencing_token = 1}).ok());
  EXPECT_EQ((**store_->Get("fence:b")).fencing_token, 1u);
}

// A clock that steps back is time standing still, for the store as a whole:
// a key that a later time saw expire stays expired, reads of what the store
// wrote never fail, and every store decides the same.
TEST_P(StoreConformanceTest, ClockSteppingBackIsTimeStandingStill) {
  const Policy p = Policy::TokenBucket(10, 1, std::chrono::seconds(1));
  EXPECT_EQ(MustDecide("still:a", p, 10).remaining, 0);
  const int64_t written = clock_.NowNanos();
  clock_.Advance(std::chrono::seconds(11));  // fresh again
  EXPECT_FALSE(store_->Get("still:a")->has_value());
  clock_.SetWall(written + 1'000'000'000);  // back by 10 s: inside the old debt
  const Decision d = MustDecide("still:a", p, 1);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 9);
  // Far back (an hour): reading back what the store wrote still works.
  ASSERT_TRUE(store_->Put("still:bytes", "v").ok());
  clock_.SetWall(written - 3'600'000'000'000);
  Result<std::optional<Record>> got = store_->Get("still:a");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(std::get<TokenBucketState>(std::get<LimiterRecord>((*got)->value).state).tokens, 9);
  int seen = 0;
  ASSERT_TRUE(store_->Scan("still:", [&](const Record&) {
    ++seen;
    return true;
  }).ok());
  EXPECT_EQ(seen, 2);
  ASSERT_TRUE(store_->AtomicUpdate("still:a", [](const Record* r) {
    EXPECT_NE(r, nullptr);
    return Update::Keep();
  }).ok());
}

// A calendar week that began before the epoch (1970-01-01 was a Thursday, so
// its week starts on Monday 1969-12-29) is stored and read back like any other.
TEST_P(StoreConformanceTest, CalendarWeekBeforeTheEpoch) {
  clock_.SetWall(int64_t{2} * 86'400 * 1'000'000'000);  // 1970-01-03
  const Policy p = Policy::CalendarWindow(5, WindowAlignment::kCalendarWeek);
  EXPECT_EQ(MustDecide("week:1970", p, 2).remaining, 3);
  Result<std::optional<Record>> got = store_->Get("week:1970");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(std::get<FixedWindowState>(std::get<LimiterRecord>((*got)->value).state).window_start_ns,
            int64_t{-3} * 86'400 * 1'000'000'000);
  ASSERT_TRUE(store_->Delete("week:1970").ok());
  ASSERT_TRUE(store_->Put(**got).ok());
  EXPECT_EQ(MustDecide("week:1970", p, 3).remaining, 0);
}

// A policy with parameters anywhere in their valid range, small or huge, so
// that the arithmetic meets 128-bit intermediates and saturation.
inline Policy RandomExtremePolicy(std::mt19937_64& rng) {
  auto pick = [&](std::initializer_list<int64_t> values) {
    std::vector<int64_t> v(values);
    return v[rng() % v.size()];
  };
  const int64_t limit = pick({1, 3, 7, 1000, 999'983, 1'000'000'000'000'000});
  const int64_t amount = pick({1, 2, 7, 1'000'000, 999'999'999'989, 1'000'000'000'000'000});
  const auto interval = std::chrono::nanoseconds(
      pick({1, 7, 1'000'000, 1'000'000'000, 86'400'000'000'000, 36'525LL * 86'400'000'000'000}));
  switch (rng() % 6) {
    case 0: return Policy::TokenBucket(limit, amount, interval);
    case 1: return Policy::Gcra(limit, amount, interval);
    case 2: return Policy::FixedWindow(limit, interval);
    case 3: return Policy::CalendarWindow(limit, static_cast<WindowAlignment>(1 + rng() % 4));
    case 4: return Policy::SlidingWindowLog(std::min<int64_t>(limit, 1000), interval);
    default: return Policy::SlidingWindowCounter(limit, interval);
  }
}

// The store decides exactly as the algorithm for random policies, costs,
// operations and times, from the epoch to the end of int64 time. Each seed
// gets a fresh store on its own clock, so time only moves forward within it.
TEST_P(StoreConformanceTest, DecidesLikeTheAlgorithmOnExtremeValues) {
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    std::mt19937_64 rng(seed);
    Policy p = RandomExtremePolicy(rng);
    while (!p.Validate().ok()) p = RandomExtremePolicy(rng);
    const int64_t starts[] = {0, 1'700'000'000'000'000'000, 9'000'000'000'000'000'000};
    SimulatedClock clock(starts[seed % 3] + static_cast<int64_t>(rng() % 1'000'000'000'000));
    Result<std::unique_ptr<Store>> made = GetParam().make(clock);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    Store& store = **made;
    const std::string key = "extreme:" + std::to_string(seed);
    std::optional<LimiterState> model;
    for (int step = 0; step < 40; ++step) {
      const int64_t jumps[] = {0, 1, 999, 1'000'000'007, p.interval.count() / 3, p.interval.count()};
      const int64_t jump = jumps[rng() % 6];
      if (clock.NowNanos() <= INT64_MAX - jump) clock.Advance(std::chrono::nanoseconds(jump));
      const uint64_t pick = rng() % 10;
      const Operation op = pick == 0  ? Operation::kReset
                           : pick < 2 ? Operation::kRefund
                           : pick < 4 ? Operation::kPeek
                                      : Operation::kConsume;
      const int64_t costs[] = {0, 1, p.limit / 2, p.limit};
      const int64_t cost = costs[rng() % 4];
      Result<Evaluation> want = Evaluate(p, model, op, cost, clock.NowNanos());
      ASSERT_TRUE(want.ok()) << want.status().ToString();
      Result<Decision> got = store.Decide(DecideRequest{key, &p, cost, op});
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_EQ(*got, want->decision) << p.ToString() << " seed " << seed << " step " << step << " "
                                      << OperationName(op) << " " << cost << " at " << clock.NowNanos()
                                      << ": got " << ToString(*got) << ", want " << ToString(want->decision);
    }
  }
}

// At the end of int64 time every store decides as the algorithm does (windows
// that end after INT64_MAX, a GCRA whose arrival time would pass it), and an
// expiry of INT64_MAX never passes, not even with the clock at INT64_MAX.
TEST_P(StoreConformanceTest, AgreesAtTheEndOfTime) {
  using std::chrono::hours;
  using std::chrono::seconds;
  constexpr int64_t kEnd = INT64_MAX;
  constexpr int64_t kSecond = 1'000'000'000;
  clock_.SetWall(kEnd - 5 * kSecond);
  ASSERT_TRUE(store_->Put(Record{"eot:forever", std::string("v"), kEnd}).ok());
  ASSERT_TRUE(store_->Put(Record{"eot:until-the-end", std::string("v"), kEnd - 1}).ok());
  std::vector<Policy> policies = AllPolicies();
  policies.push_back(Policy::Gcra(10, 1, seconds(1)));
  policies.push_back(Policy::Gcra(1000, 1'000'000'000'000'000, hours(24 * 36'525)));
  policies.push_back(Policy::TokenBucket(1'000'000'000'000'000, 1, hours(24 * 36'525)));
  policies.push_back(Policy::FixedWindow(3, hours(1)));
  policies.push_back(Policy::CalendarWindow(3, WindowAlignment::kCalendarYear));
  policies.push_back(Policy::SlidingWindowCounter(3, hours(24 * 36'525)));
  std::vector<std::optional<LimiterState>> models(policies.size());
  const int64_t times[] = {kEnd - 5 * kSecond, kEnd - 3 * kSecond, kEnd - kSecond - 1, kEnd - 1, kEnd, kEnd};
  for (int64_t t : times) {
    clock_.SetWall(t);
    for (size_t i = 0; i < policies.size(); ++i) {
      const Policy& p = policies[i];
      const std::pair<Operation, int64_t> steps[] = {
          {Operation::kConsume, 1}, {Operation::kConsume, p.limit / 2}, {Operation::kPeek, 1},
          {Operation::kConsume, 1}, {Operation::kRefund, 1},            {Operation::kConsume, p.limit}};
      for (const auto& [op, cost] : steps) {
        Result<Evaluation> want = Evaluate(p, models[i], op, cost, t);
        ASSERT_TRUE(want.ok()) << want.status().ToString();
        const Decision got = MustDecide("eot:" + std::to_string(i), p, cost, op);
        ASSERT_EQ(got, want->decision) << p.ToString() << " " << OperationName(op) << " " << cost << " at " << t
                                       << ": got " << ToString(got) << ", want " << ToString(want->decision);
      }
    }
  }
  // The clock is at INT64_MAX now.
  Result<std::optional<Record>> forever = store_->Get("eot:forever");
  ASSERT_TRUE(forever.ok()) << forever.status().ToString();
  ASSERT_TRUE(forever->has_value());
  EXPECT_EQ((*forever)->expires_at_ns, kEnd);
  EXPECT_FALSE(store_->Get("eot:until-the-end")->has_value());
  // Limiter keys still limiting at the end of time (their expiry saturated)
  // stay, too. A state that is fresh may be stored or not.
  for (size_t i = 0; i < policies.size(); ++i) {
    ASSERT_TRUE(models[i].has_value());
    std::optional<LimiterState> copy = models[i];
    if (Evaluate(policies[i], copy, Operation::kPeek, 0, kEnd)->decision.reset_after.count() == 0) continue;
    ASSERT_EQ(ExpiresAt(policies[i], *models[i]), kEnd);
    Result<std::optional<Record>> r = store_->Get("eot:" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->has_value()) << policies[i].ToString();
    EXPECT_EQ((*r)->expires_at_ns, kEnd) << policies[i].ToString();
  }
  std::vector<std::string> seen;
  ASSERT_TRUE(store_->Scan("eot:f", [&](const Record& r) { return seen.push_back(r.key), true; }).ok());
  EXPECT_EQ(seen, std::vector<std::string>{"eot:forever"});
}

// A decision that finds a key's state fresh again removes the key, and its
// fence with it, as deleting or expiring it does.
TEST_P(StoreConformanceTest, AFreshStateTakesItsFenceWithIt) {
  const Policy p = Policy::TokenBucket(10, 1, std::chrono::seconds(1));
  MustDecide("fenced:fresh", p, 3);
  Result<std::optional<Record>> fenced = store_->AtomicUpdate(
      "fenced:fresh",
      [](const Record* r) { return r != nullptr ? Update::Put(r->value, r->expires_at_ns) : Update::Keep(); },
      UpdateOptions{.fencing_token = 10});
  ASSERT_TRUE(fenced.ok() && fenced->has_value()) << fenced.status().ToString();
  EXPECT_EQ((*fenced)->fencing_token, 10u);
  clock_.Advance(std::chrono::seconds(3));  // fresh again
  EXPECT_EQ(MustDecide("fenced:fresh", p, 0, Operation::kPeek).remaining, 10);
  EXPECT_FALSE(store_->Get("fenced:fresh")->has_value());
  auto put = [](const Record*) { return Update::Put(std::string("after")); };
  Result<std::optional<Record>> later = store_->AtomicUpdate("fenced:fresh", put, UpdateOptions{.fencing_token = 5});
  ASSERT_TRUE(later.ok()) << later.status().ToString();
  EXPECT_EQ((**store_->Get("fenced:fresh")).fencing_token, 5u);
}

}  // namespace sluice::testing

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/memory_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "sluice/observability.h"
#include "sluice/resilient_store.h"
#include "sluice/store_wrapper.h"
#include "sluice/testing/simulated_clock.h"
#include "sluice/testing/store_conformance.h"

namespace sluice {
namespace {

using testing::SimulatedClock;
using testing::StoreConformanceTest;
using testing::StoreFactory;

Result<std::unique_ptr<Store>> MakeResilientMemoryStore(Clock& clock) {
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<MemoryStore> memory,
                          MemoryStore::Create({.clock = &clock, .sweep_interval = {}}));
  ResilientStoreOptions options;
  options.deadline = std::chrono::seconds(30);  // the tests move the clock only between calls
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<ResilientStore> resilient,
                          NewResilientStore(std::move(memory), std::move(options)));
  return std::unique_ptr<Store>(std::make_unique<StoreWrapper>(std::move(resilient)));
}

INSTANTIATE_TEST_SUITE_P(Memory, StoreConformanceTest,
                         ::testing::Values(StoreFactory{"memory",
                                                        [](Clock& clock) {
                                                          return MemoryStore::Create(
                                                              {.clock = &clock, .sweep_interval = {}});
                                                        }},
                                           StoreFactory{"memory_one_shard",
                                                        [](Clock& clock) {
                                                          return MemoryStore::Create(
                                                              {.clock = &clock, .shards = 1, .sweep_interval = {}});
                                                        }},
                                           // The resilience layer must be invisible while the store is healthy.
                                           StoreFactory{"resilient_memory", MakeResilientMemoryStore}),
                         [](const auto& param_info) { return param_info.param.name; });

std::unique_ptr<MemoryStore> MakeStore(SimulatedClock& clock, MemoryStoreOptions options = {}) {
  options.clock = &clock;
  Result<std::unique_ptr<MemoryStore>> store = MemoryStore::Create(options);
  EXPECT_TRUE(store.ok());
  return std::move(*store);
}

TEST(MemoryStore, RejectsBadOptions) {
  EXPECT_EQ(MemoryStore::Create({.shards = 0}).status().code(), StatusCode::kInvalidArgument);
}

TEST(MemoryStore, EvictsAtTheKeyCapAndCountsIt) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.shards = 1, .max_keys = 100, .sweep_interval = {}});
  const Policy p = Policy::TokenBucket(10, 1, std::chrono::seconds(1));
  for (int i = 0; i < 250; ++i) ASSERT_TRUE(store->Decide("k" + std::to_string(i), p).ok());
  const StoreStats stats = store->Stats();
  EXPECT_EQ(stats.keys, 100u);
  EXPECT_EQ(stats.evictions, 150u);
}

TEST(MemoryStore, SweeperRemovesExpiredKeys) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.sweep_interval = {}});
  const Policy p = Policy::TokenBucket(10, 1, std::chrono::seconds(1));
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(store->Decide("k" + std::to_string(i), p, 1 + i % 5).ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(store->Put("b" + std::to_string(i), "v", std::chrono::seconds(10)).ok());
  EXPECT_EQ(store->Stats().keys, 1100u);
  clock.Advance(std::chrono::seconds(3));  // buckets that lost 1..3 tokens are full again
  EXPECT_EQ(store->SweepExpired(), 600u);
  EXPECT_EQ(store->Stats().keys, 500u);
  EXPECT_EQ(store->Stats().expirations, 600u);
  clock.Advance(std::chrono::seconds(10));
  EXPECT_EQ(store->SweepExpired(), 500u);
  EXPECT_EQ(store->Stats().keys, 0u);
}

TEST(MemoryStore, BackgroundSweeperRuns) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.sweep_interval = std::chrono::milliseconds(1)});
  ASSERT_TRUE(store->Put("x", "v", std::chrono::seconds(1)).ok());
  clock.Advance(std::chrono::seconds(2));
  // The sweeper thread wakes on real time; wait for its effect, not for time.
  while (store->Stats().expirations == 0) std::this_thread::yield();
  EXPECT_EQ(store->Stats().keys, 0u);
}

TEST(MemoryStore, FreshStatesAreNotStored) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.sweep_interval = {}});
  const Policy p = Policy::TokenBucket(10, 1, std::chrono::seconds(1));
  ASSERT_TRUE(store->Decide("peeked", p, 0).ok());
  EXPECT_EQ(store->Stats().keys, 0u);
  ASSERT_TRUE(store->Decide("used", p, 1).ok());
  EXPECT_EQ(store->Stats().keys, 1u);
  ASSERT_TRUE(store->Decide(DecideRequest{"used", &p, 1, Operation::kRefund}).ok());
  EXPECT_EQ(store->Stats().keys, 0u);
}

TEST(MemoryStore, ManyKeysGrowAndShrink) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.shards = 4, .sweep_interval = {}});
  const Policy p = Policy::SlidingWindowLog(3, std::chrono::seconds(5));
  for (int i = 0; i < 20000; ++i) ASSERT_TRUE(store->Decide("key:" + std::to_string(i) + std::string(i % 40, 'x'), p).ok());
  EXPECT_EQ(store->Stats().keys, 20000u);
  for (int i = 0; i < 20000; i += 2) ASSERT_TRUE(store->Delete("key:" + std::to_string(i) + std::string(i % 40, 'x')).ok());
  for (int i = 0; i < 20000; ++i) {
    auto r = store->Get("key:" + std::to_string(i) + std::string(i % 40, 'x'));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->has_value(), i % 2 == 1) << i;
  }
  EXPECT_GT(store->Stats().memory_bytes, 0u);
}

// RELIABILITY.md T1: 64 threads on one key with the clock frozen, then moved
// on in deterministic steps. Each window admits exactly min(limit, attempts).
TEST(MemoryStore, HammerOneKeyAdmitsExactlyTheLimitPerWindow) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.sweep_interval = {}});
  constexpr int kThreads = 64;
  constexpr int kAttemptsPerThread = 200;  // per window
  constexpr int kWindows = 4;
  for (const Policy& p : {Policy::FixedWindow(1000, std::chrono::seconds(1)),
                          Policy::TokenBucket(1000, 1000, std::chrono::seconds(1)),
                          Policy::SlidingWindowCounter(1000, std::chrono::seconds(1))}) {
    std::atomic<int64_t> admitted{0};
    std::vector<int64_t> per_window(kWindows, 0);
    // The completion step runs on one thread while all others wait: it records
    // the window's count and moves the clock on by exactly one window.
    int window = 0;
    std::barrier sync(kThreads, [&]() noexcept {
      per_window[window++] = admitted.exchange(0);
      clock.Advance(std::chrono::seconds(1));
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int w = 0; w < kWindows; ++w) {
          for (int i = 0; i < kAttemptsPerThread; ++i) {
            Result<Decision> d = store->Decide("hammer", p);
            if (d.ok() && d->allowed) admitted.fetch_add(1, std::memory_order_relaxed);
          }
          sync.arrive_and_wait();
        }
      });
    }
    for (auto& t : threads) t.join();
    for (int w = 0; w < kWindows; ++w) {
      // At the very start of a window the sliding counter still weighs the
      // previous window fully: after a full window it admits nothing, after an
      // empty one the whole limit.
      const int64_t expected = p.algorithm == Algorithm::kSlidingWindowCounter && w % 2 == 1 ? 0 : 1000;
      EXPECT_EQ(per_window[w], expected) << p.ToString() << " window " << w;
    }
    ASSERT_TRUE(store->Delete("hammer").ok());
  }
}


// --- key cap -------------------------------------------------------------------

// max_keys is a promise about the whole store, not each shard: nothing is
// evicted below it, and the store never holds more.
TEST(MemoryStore, KeyCapIsForTheWholeStore) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.shards = 64, .max_keys = 1000, .sweep_interval = {}});
  const Policy p = Policy::TokenBucket(10, 1, std::chrono::hours(1));
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(store->Decide("user:" + std::to_string(i), p).ok());
  EXPECT_EQ(store->Stats().keys, 1000u);
  EXPECT_EQ(store->Stats().evictions, 0u);
  for (int i = 1000; i < 1500; ++i) {
    ASSERT_TRUE(store->Decide("user:" + std::to_string(i), p).ok());
    ASSERT_EQ(store->Stats().keys, 1000u) << i;
  }
  EXPECT_EQ(store->Stats().evictions, 500u);
  EXPECT_EQ(store->Stats().evictions_active, 500u);  // every key was still limiting someone
  // Bytes and imported records count against the same cap.
  ASSERT_TRUE(store->Put("bytes", "v").ok());
  ASSERT_TRUE(store->Put(Record{"imported", LimiterRecord{p, TokenBucketState{3, 0, clock.NowNanos()}}, 0}).ok());
  EXPECT_EQ(store->Stats().keys, 1000u);
}

TEST(MemoryStore, UsersBelowTheKeyCapAreNeverReadmitted) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.shards = 64, .max_keys = 1000, .sweep_interval = {}});
  const Policy p = Policy::TokenBucket(3, 1, std::chrono::hours(1));
  for (int i = 0; i < 900; ++i) {
    for (int j = 0; j < 3; ++j) ASSERT_TRUE(store->Decide("user:" + std::to_string(i), p)->allowed);
  }
  int readmitted = 0;
  for (int i = 0; i < 900; ++i) readmitted += store->Decide("user:" + std::to_string(i), p)->allowed ? 1 : 0;
  EXPECT_EQ(readmitted, 0);
  EXPECT_EQ(store->Stats().evictions, 0u);
}

// At the cap, keys whose state is already fresh go first (they limit nobody),
// even when they sit in another shard than the new key.
TEST(MemoryStore, EvictionPrefersFreshKeys) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.shards = 64, .max_keys = 100, .sweep_interval = {}});
  const Policy slow = Policy::TokenBucket(1, 1, std::chrono::hours(1));
  const Policy quick = Policy::TokenBucket(1, 1, std::chrono::seconds(1));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store->Decide("active:" + std::to_string(i), slow)->allowed);
  for (int i = 0; i < 90; ++i) ASSERT_TRUE(store->Decide("quick:" + std::to_string(i), quick)->allowed);
  clock.Advance(std::chrono::seconds(2));  // the quick keys are fresh, not yet swept
  for (int i = 10; i < 20; ++i) ASSERT_TRUE(store->Decide("active:" + std::to_string(i), slow)->allowed);
  const StoreStats stats = store->Stats();
  EXPECT_EQ(stats.keys, 100u);
  EXPECT_EQ(stats.evictions, 10u);
  EXPECT_EQ(stats.evictions_active, 0u);
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(store->Decide("active:" + std::to_string(i), slow)->allowed) << i;
}

TEST(MemoryStore, KeyCapHoldsUnderConcurrentInserts) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.shards = 8, .max_keys = 500, .sweep_interval = {}});
  const Policy p = Policy::FixedWindow(5, std::chrono::hours(1));
  constexpr int kThreads = 4;
  constexpr int kKeysPerThread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kKeysPerThread; ++i) {
        const std::string key = "t" + std::to_string(t) + ":" + std::to_string(i);
        if (i % 2 == 0) {
          Result<Decision> d = store->Decide(key, p);
          ASSERT_TRUE(d.ok()) << d.status().ToString();
        } else {
          ASSERT_TRUE(store->Put(key, "v").ok());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const StoreStats stats = store->Stats();
  EXPECT_EQ(stats.keys, 500u);
  EXPECT_EQ(stats.evictions, uint64_t{kThreads * kKeysPerThread - 500});
  size_t scanned = 0;
  ASSERT_TRUE(store->Scan("", [&](const Record&) {
    ++scanned;
    return true;
  }).ok());
  EXPECT_EQ(scanned, 500u);
}

// DecideAll inserting into a full store evicts like Decide does, also from
// the shards it holds locked itself.
TEST(MemoryStore, DecideAllRespectsTheKeyCap) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.shards = 4, .max_keys = 10, .sweep_interval = {}});
  const Policy p = Policy::TokenBucket(5, 1, std::chrono::hours(1));
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> keys;
    for (int i = 0; i < 4; ++i) keys.push_back("r" + std::to_string(round) + ":" + std::to_string(i));
    std::vector<DecideRequest> requests;
    for (const std::string& k : keys) requests.push_back(DecideRequest{k, &p});
    Result<MultiDecision> d = store->DecideAll(requests);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_TRUE(d->allowed);
    ASSERT_LE(store->Stats().keys, 10u);
  }
  EXPECT_EQ(store->Stats().keys, 10u);
  EXPECT_EQ(store->Stats().evictions, 70u);
}

// Evictions are reported through the observer: counted by state, and a
// warning for keys that were still limiting someone (at powers of two).
class CountingObserver final : public Logger, public MetricsSink {
 public:
  void Log(LogLevel level, std::string_view component, std::string_view message) override {
    if (level == LogLevel::kWarning && component == "memory" &&
        message.find("still limiting someone") != std::string_view::npos) {
      ++warnings;
    }
  }
  void Increment(std::string_view name, MetricLabels labels, uint64_t delta) override {
    if (name != "sluice_memory_evictions_total" || labels.size() != 1) return;
    (labels[0].second == "active" ? active : fresh) += delta;
  }
  void SetGauge(std::string_view, MetricLabels, double) override {}
  void Observe(std::string_view, MetricLabels, std::chrono::nanoseconds) override {}

  std::atomic<uint64_t> warnings{0}, active{0}, fresh{0};
};

TEST(MemoryStore, EvictionsAreReportedThroughTheObserver) {
  SimulatedClock clock;
  CountingObserver observer;
  auto store = MakeStore(clock, {.shards = 4, .max_keys = 100, .sweep_interval = {}, .observer = {&observer, &observer}});
  const Policy p = Policy::TokenBucket(10, 1, std::chrono::hours(1));
  for (int i = 0; i < 110; ++i) ASSERT_TRUE(store->Decide("user:" + std::to_string(i), p).ok());
  EXPECT_EQ(observer.active.load(), 10u);
  EXPECT_EQ(observer.fresh.load(), 0u);
  EXPECT_EQ(observer.warnings.load(), 4u);  // the 1st, 2nd, 4th and 8th
  // Keys that are fresh again go first, and are counted as such.
  clock.Advance(std::chrono::hours(2));
  for (int i = 200; i < 205; ++i) ASSERT_TRUE(store->Decide("user:" + std::to_string(i), p).ok());
  EXPECT_EQ(observer.active.load(), 10u);
  EXPECT_EQ(observer.fresh.load(), 5u);
  EXPECT_EQ(store->Stats().evictions_active, 10u);
}

// --- statistics ------------------------------------------------------------------

// Stats() costs O(shards), not O(keys): it adds up counters each shard keeps
// (bench/store_benchmark.cc BM_Stats/0 against BM_Stats/1000000 measures it).
// The memory estimate is kept up to date on every change: it grows with what
// keys hold on the heap and returns to the same figure when they are gone.
TEST(MemoryStore, MemoryBytesFollowsEveryChange) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.shards = 4, .sweep_interval = {}});
  const Policy log = Policy::SlidingWindowLog(1000, std::chrono::seconds(10));
  const Policy bucket = Policy::TokenBucket(10, 1, std::chrono::seconds(1));
  auto fill = [&] {
    for (int i = 0; i < 2000; ++i) {
      const std::string key = "key-long-enough-for-the-heap:" + std::to_string(i);
      switch (i % 4) {
        case 0:
          ASSERT_TRUE(store->Put(key, std::string(static_cast<size_t>(i % 300), 'x')).ok());
          ASSERT_TRUE(store->Put(key, std::string(static_cast<size_t>(i % 500), 'y')).ok());  // overwrite
          break;
        case 1:
          for (int j = 0; j < i % 20 + 1; ++j) {
            ASSERT_TRUE(store->Decide(key, log).ok());
            clock.Advance(std::chrono::microseconds(1));
          }
          break;
        case 2:
          ASSERT_TRUE(store->Decide("k" + std::to_string(i), bucket).ok());
          ASSERT_TRUE(store->Put("k" + std::to_string(i), "now bytes").ok());  // limiter -> bytes
          break;
        default:
          ASSERT_TRUE(store->Put(key, "bytes").ok());
          ASSERT_TRUE(store->Decide(key, log).ok());  // bytes -> log
      }
    }
  };
  auto clear = [&] {
    std::vector<std::string> keys;
    ASSERT_TRUE(store->Scan("", [&](const Record& r) {
      keys.push_back(r.key);
      return true;
    }).ok());
    for (const std::string& k : keys) ASSERT_TRUE(store->Delete(k).ok());
    ASSERT_EQ(store->Stats().keys, 0u);
  };
  const uint64_t empty = store->Stats().memory_bytes;
  fill();
  const uint64_t full = store->Stats().memory_bytes;
  // At least the bytes values and the heap keys are counted.
  EXPECT_GT(full, empty + 500 * 200 + 1500 * 30);
  EXPECT_LT(full, uint64_t{1} << 32);
  clear();
  const uint64_t cleared = store->Stats().memory_bytes;
  fill();
  EXPECT_EQ(store->Stats().memory_bytes, full);
  clear();
  EXPECT_EQ(store->Stats().memory_bytes, cleared);
}

// --- policy table ------------------------------------------------------------------

// Rule reloads create new policies all the time; the ids of policies no key
// uses any more are reused, so the table never runs out.
TEST(MemoryStore, PolicyTableReclaimsUnusedPolicies) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.shards = 16, .sweep_interval = {}});
  const Policy kept = Policy::Gcra(5, 1, std::chrono::hours(1000));  // outlives the test
  ASSERT_TRUE(store->Decide("kept", kept).ok());
  for (int i = 0; i < 200'000; ++i) {
    const Policy p = Policy::TokenBucket(10 + i, 1, std::chrono::seconds(1));
    const std::string key = "k" + std::to_string(i % 500);
    Result<Decision> d = store->Decide(key, p);
    ASSERT_TRUE(d.ok()) << i << ": " << d.status().ToString();
    if (i % 2 == 0) {
      ASSERT_TRUE(store->Delete(key).ok());
    } else {
      clock.Advance(std::chrono::milliseconds(200));  // older keys turn fresh and expire
    }
    if (i % 10'000 == 0) {
      Result<std::optional<Record>> got = store->Get(key);
      ASSERT_TRUE(got.ok());
      if (got->has_value()) {
        EXPECT_EQ(std::get<LimiterRecord>((**got).value).policy, p);
      }
    }
  }
  // The key that kept its policy all along still has it.
  Result<std::optional<Record>> got = store->Get("kept");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(std::get<LimiterRecord>((**got).value).policy, kept);
}

// A thread's cached policy id must not outlive the reuse of that id.
TEST(MemoryStore, ReusedPolicyIdIsNotTakenFromAStaleCache) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.shards = 4, .sweep_interval = {}});
  const Policy mine = Policy::TokenBucket(7, 1, std::chrono::seconds(1));
  ASSERT_TRUE(store->Decide("mine", mine).ok());
  ASSERT_TRUE(store->Delete("mine").ok());  // nothing uses `mine` now
  std::thread churn([&] {
    // Fills the table twice over; each policy stays in use by one of 30k keys
    // until a later round replaces it.
    for (int i = 0; i < 140'000; ++i) {
      const Policy p = Policy::FixedWindow(1 + i, std::chrono::hours(1));
      ASSERT_TRUE(store->Decide("churn:" + std::to_string(i % 30'000), p).ok()) << i;
    }
  });
  churn.join();
  ASSERT_TRUE(store->Decide("mine", mine).ok());  // this thread's cache still names the old id
  Result<std::optional<Record>> got = store->Get("mine");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(std::get<LimiterRecord>((**got).value).policy, mine);
}

TEST(MemoryStore, PolicyReuseUnderConcurrency) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.shards = 8, .sweep_interval = {}});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 40'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const Policy p = Policy::SlidingWindowCounter(1 + t * kPerThread + i, std::chrono::minutes(1));
        const std::string key = "t" + std::to_string(t) + ":" + std::to_string(i % 64);
        ASSERT_TRUE(store->Decide(key, p).ok()) << i;
        Result<std::optional<Record>> got = store->Get(key);
        ASSERT_TRUE(got.ok() && got->has_value());
        ASSERT_EQ(std::get<LimiterRecord>((**got).value).policy, p) << t << " " << i;
        if (i % 3 == 0) {
          ASSERT_TRUE(store->Delete(key).ok());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
}

// --- time -------------------------------------------------------------------------

// A clock that steps back is time standing still for the whole store: a key a
// later time saw expire and one nobody looked at decide the same.
TEST(MemoryStore, ClockSteppingBackIsTimeStandingStill) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.shards = 16, .sweep_interval = {}});
  const Policy p = Policy::TokenBucket(1, 1, std::chrono::seconds(1));
  const int64_t start = clock.NowNanos();
  ASSERT_TRUE(store->Decide("looked-at", p)->allowed);
  ASSERT_TRUE(store->Decide("left-alone", p)->allowed);
  ASSERT_TRUE(store->Put("bytes:looked-at", "v", std::chrono::seconds(1)).ok());
  ASSERT_TRUE(store->Put("bytes:left-alone", "v", std::chrono::seconds(1)).ok());
  clock.Advance(std::chrono::seconds(2));
  EXPECT_FALSE(store->Get("looked-at")->has_value());
  EXPECT_FALSE(store->Get("bytes:looked-at")->has_value());
  clock.SetWall(start);  // back by 2 s, before both expiries
  EXPECT_FALSE(store->Get("bytes:left-alone")->has_value());
  EXPECT_TRUE(store->Decide("looked-at", p)->allowed);
  EXPECT_TRUE(store->Decide("left-alone", p)->allowed);
  // Time stands still until the clock passes the latest time used.
  EXPECT_FALSE(store->Decide("left-alone", p)->allowed);
  clock.SetWall(start + 2'999'999'999);
  EXPECT_FALSE(store->Decide("left-alone", p)->allowed);
  clock.SetWall(start + 3'000'000'000);
  EXPECT_TRUE(store->Decide("left-alone", p)->allowed);
}

// --- fencing tokens ---------------------------------------------------------------

// A fence lives with its key: it is gone when the key is deleted or expires
// (an old token may then write again), so fences never pile up.
TEST(MemoryStore, FencesLiveAndDieWithTheirKeys) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.shards = 4, .sweep_interval = {}});
  auto put = [](std::string v, int64_t expires = 0) {
    return [v, expires](const Record*) { return Update::Put(v, expires); };
  };
  ASSERT_TRUE(store->AtomicUpdate("f", put("a"), UpdateOptions{.fencing_token = 5}).ok());
  Result<std::optional<Record>> got = store->Get("f");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((**got).fencing_token, 5u);
  Result<std::optional<Record>> updated = store->AtomicUpdate("f", put("b"), UpdateOptions{.fencing_token = 6});
  ASSERT_TRUE(updated.ok() && updated->has_value());
  EXPECT_EQ((**updated).fencing_token, 6u);
  EXPECT_EQ(store->AtomicUpdate("f", put("c"), UpdateOptions{.fencing_token = 5}).status().code(),
            StatusCode::kFailedPrecondition);
  // Deleted: the fence goes with the value.
  ASSERT_TRUE(store->AtomicUpdate("f", [](const Record*) { return Update::Delete(); },
                                  UpdateOptions{.fencing_token = 6}).ok());
  EXPECT_TRUE(store->AtomicUpdate("f", put("d"), UpdateOptions{.fencing_token = 1}).ok());
  // Expired: likewise.
  ASSERT_TRUE(store->AtomicUpdate("e", put("x", clock.NowNanos() + 1'000'000'000), UpdateOptions{.fencing_token = 9}).ok());
  clock.Advance(std::chrono::seconds(2));
  EXPECT_TRUE(store->AtomicUpdate("e", put("y"), UpdateOptions{.fencing_token = 2}).ok());
  EXPECT_EQ((**store->Get("e")).fencing_token, 2u);
  // Many fenced keys, then none: the fences' memory is returned with them.
  ASSERT_TRUE(store->Delete("e").ok());
  ASSERT_TRUE(store->Delete("f").ok());
  auto round = [&](uint64_t token) {
    for (int i = 0; i < 10'000; ++i) {
      EXPECT_TRUE(store->AtomicUpdate("fenced:" + std::to_string(i), put("v"), UpdateOptions{.fencing_token = token}).ok());
    }
    const uint64_t full = store->Stats().memory_bytes;
    for (int i = 0; i < 10'000; ++i) EXPECT_TRUE(store->Delete("fenced:" + std::to_string(i)).ok());
    return full;
  };
  const uint64_t full_unfenced = round(0);
  const uint64_t empty = store->Stats().memory_bytes;
  EXPECT_GT(round(3), full_unfenced + 10'000 * 8);
  EXPECT_EQ(store->Stats().memory_bytes, empty);
}

TEST(MemoryStore, PutCarriesAFence) {
  SimulatedClock clock;
  auto store = MakeStore(clock, {.sweep_interval = {}});
  const Policy p = Policy::TokenBucket(10, 1, std::chrono::seconds(1));
  Record r{"lim", LimiterRecord{p, TokenBucketState{4, 0, clock.NowNanos()}}, 0, 42};
  ASSERT_TRUE(store->Put(r).ok());
  Result<std::optional<Record>> got = store->Get("lim");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((**got).fencing_token, 42u);
  std::vector<Record> scanned;
  ASSERT_TRUE(store->Scan("", [&](const Record& rec) {
    scanned.push_back(rec);
    return true;
  }).ok());
  ASSERT_EQ(scanned.size(), 1u);
  EXPECT_EQ(scanned[0], **got);
  EXPECT_EQ(store->AtomicUpdate("lim", [](const Record*) { return Update::Keep(); }, UpdateOptions{.fencing_token = 41})
                .status()
                .code(),
            StatusCode::kFailedPrecondition);
  // Deciding keeps the fence while the key lives.
  ASSERT_TRUE(store->Decide("lim", p).ok());
  EXPECT_EQ((**store->Get("lim")).fencing_token, 42u);
}

}  // namespace
}  // namespace sluice

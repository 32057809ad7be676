// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/memory_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <thread>
#include <vector>

#include "sluice/testing/simulated_clock.h"
#include "sluice/testing/store_conformance.h"

namespace sluice {
namespace {

using testing::SimulatedClock;
using testing::StoreConformanceTest;
using testing::StoreFactory;

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
                                                        }}),
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

}  // namespace
}  // namespace sluice

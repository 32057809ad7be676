// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "redis/batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace sluice::redis {
namespace {

struct Item {
  int input = 0;
  int output = -1;
  int runs = 0;
};

// A lone caller is never held back: each of its calls is a batch of one.
TEST(Batcher, ALoneCallerRunsAloneAtOnce) {
  std::vector<size_t> sizes;
  Batcher<Item> batcher(4, 64, [&](std::span<Item* const> batch) {
    sizes.push_back(batch.size());
    for (Item* item : batch) item->output = item->input * 2;
  });
  for (int i = 0; i < 100; ++i) {
    Item item{i};
    batcher.Submit(&item);
    EXPECT_EQ(item.output, 2 * i);
  }
  EXPECT_EQ(sizes, std::vector<size_t>(100, 1));
}

// Under contention every item runs exactly once, before its Submit returns;
// batches respect max_batch; at most max_in_flight run at a time; and
// callers do share batches.
TEST(Batcher, ConcurrentCallersShareBatchesWithinTheLimits) {
  constexpr size_t kMaxInFlight = 2, kMaxBatch = 8;
  std::atomic<int> running{0}, most_running{0};
  std::atomic<size_t> largest{0};
  Batcher<Item> batcher(kMaxInFlight, kMaxBatch, [&](std::span<Item* const> batch) {
    const int now = running.fetch_add(1) + 1;
    int seen = most_running.load();
    while (now > seen && !most_running.compare_exchange_weak(seen, now)) {
    }
    size_t size = largest.load();
    while (batch.size() > size && !largest.compare_exchange_weak(size, batch.size())) {
    }
    for (Item* item : batch) {
      item->output = item->input * 2;
      ++item->runs;
    }
    std::this_thread::yield();  // widen the window for others to queue up
    running.fetch_sub(1);
  });
  constexpr int kThreads = 16, kCalls = 2000;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        Item item{t * kCalls + i};
        batcher.Submit(&item);
        if (item.output != 2 * item.input || item.runs != 1) wrong.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(most_running.load(), static_cast<int>(kMaxInFlight));
  EXPECT_LE(largest.load(), kMaxBatch);
  EXPECT_GT(largest.load(), 1u) << "16 callers never shared a batch";
}

}  // namespace
}  // namespace sluice::redis

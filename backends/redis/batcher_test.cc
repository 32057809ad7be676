// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "redis/batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <span>
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

// While one batch runs (max_in_flight 1), a queued caller gives up when its
// deadline passes (its item never runs), a caller finding max_queued items
// queued is turned away at once, and once the batch ends the others run.
TEST(Batcher, QueuedCallersGiveUpAtTheirDeadlineAndAFullQueueTurnsCallersAway) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first_running{false};
  Batcher<Item> batcher(1, 64, [&](std::span<Item* const> batch) {
    for (Item* item : batch) {
      ++item->runs;
      if (item->input == 0) {
        first_running = true;
        released.wait();  // holds the only batch slot
      }
    }
  });
  using Outcome = Batcher<Item>::Outcome;
  Item first{0};
  std::thread holder([&] { EXPECT_EQ(batcher.Submit(&first), Outcome::kRun); });
  const auto wait_limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!first_running && std::chrono::steady_clock::now() < wait_limit) std::this_thread::yield();
  ASSERT_TRUE(first_running);

  // Queued behind the running batch with a deadline 50 ms away.
  Item late{1};
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(batcher.Submit(&late, start + std::chrono::milliseconds(50), 0), Outcome::kTimedOut);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  EXPECT_EQ(late.runs, 0);

  // One caller queued (no deadline, no bound); with max_queued 1 the next is
  // turned away.
  Item queued{2};
  std::atomic<bool> queued_done{false};
  std::thread waiter([&] {
    EXPECT_EQ(batcher.Submit(&queued), Outcome::kRun);
    queued_done = true;
  });
  Item refused{3};
  Outcome outcome = Outcome::kRun;
  // The waiter may not be queued yet: retry (bounded) until it is.
  for (int i = 0; i < 100000 && outcome != Outcome::kQueueFull; ++i) {
    Item probe{3};
    outcome = batcher.Submit(&probe, std::chrono::steady_clock::now(), 1);
    if (outcome == Outcome::kQueueFull) refused = probe;
    ASSERT_NE(outcome, Outcome::kRun) << "a probe ran although the only batch slot was held";
    std::this_thread::yield();
  }
  EXPECT_EQ(outcome, Outcome::kQueueFull);
  EXPECT_EQ(refused.runs, 0);
  EXPECT_FALSE(queued_done);

  release.set_value();
  holder.join();
  waiter.join();
  EXPECT_EQ(first.runs, 1);
  EXPECT_EQ(queued.runs, 1);
}

// A group submitted at once runs in one batch (all of it or, past max_batch,
// in consecutive pieces), and shares batches with other callers' items.
TEST(Batcher, GroupsStayTogetherAndShareBatches) {
  constexpr size_t kMaxBatch = 8;
  std::mutex mu;
  std::vector<std::vector<int>> batches;  // inputs of each batch, in run order
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  Batcher<Item> batcher(1, kMaxBatch, [&](std::span<Item* const> batch) {
    std::vector<int> inputs;
    for (Item* item : batch) {
      inputs.push_back(item->input);
      item->output = item->input * 2;
      ++item->runs;
    }
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      first = batches.empty();
      batches.push_back(inputs);
    }
    if (first) opened.wait();  // hold the only batch slot while the others queue
  });
  auto wait_for_queued = [&](size_t n) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (batcher.queued_items() < n) {
      ASSERT_LT(std::chrono::steady_clock::now(), until) << "items never queued";
      std::this_thread::yield();
    }
  };
  auto group = [](int first, int n) {
    std::vector<Item> items;
    for (int i = 0; i < n; ++i) items.push_back(Item{first + i});
    return items;
  };
  auto submit = [&](std::vector<Item>& items) {
    std::vector<Item*> ptrs;
    for (Item& item : items) ptrs.push_back(&item);
    return std::async(std::launch::async, [&batcher, ptrs] {
      return batcher.Submit(std::span<Item* const>(ptrs)) == Batcher<Item>::Outcome::kRun;
    });
  };
  std::vector<Item> a = group(0, 1), b = group(10, 3), c = group(20, 1), d = group(30, 6), e = group(100, 20);
  auto fa = submit(a);
  {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {  // a runs (and holds the slot) before the others queue
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!batches.empty()) break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), until) << "the first batch never ran";
      std::this_thread::yield();
    }
  }
  auto fb = submit(b);
  wait_for_queued(3);
  auto fc = submit(c);
  wait_for_queued(4);
  auto fd = submit(d);
  wait_for_queued(10);
  auto fe = submit(e);
  wait_for_queued(30);
  gate.set_value();
  for (auto* f : {&fa, &fb, &fc, &fd, &fe}) {
    ASSERT_EQ(f->wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_TRUE(f->get());
  }
  // b and c share a batch; d (6 more would make 10) waits for the next; e,
  // larger than max_batch, runs alone in pieces of 8, 8 and 4.
  const std::vector<std::vector<int>> want = {
      {0},
      {10, 11, 12, 20},
      {30, 31, 32, 33, 34, 35},
      {100, 101, 102, 103, 104, 105, 106, 107},
      {108, 109, 110, 111, 112, 113, 114, 115},
      {116, 117, 118, 119},
  };
  EXPECT_EQ(batches, want);
  for (const auto* items : {&a, &b, &c, &d, &e}) {
    for (const Item& item : *items) {
      EXPECT_EQ(item.runs, 1);
      EXPECT_EQ(item.output, item.input * 2);
    }
  }
}

// A group counts each of its items against the queue bound; one larger than
// the bound is taken only when nothing else waits.
TEST(Batcher, AGroupCountsEachItemAgainstTheQueueBound) {
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  std::atomic<int> batches{0};
  Batcher<Item> batcher(1, 8, [&](std::span<Item* const> batch) {
    for (Item* item : batch) item->output = item->input;
    if (batches.fetch_add(1) == 0) opened.wait();  // the first batch holds the only slot
  });
  auto pointers = [](std::vector<Item>& items) {
    std::vector<Item*> ptrs;
    for (Item& item : items) ptrs.push_back(&item);
    return ptrs;
  };
  Item first{1}, second{2}, third{3};
  auto f1 = std::async(std::launch::async, [&] { return batcher.Submit(&first); });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (batches.load() == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "the first batch never ran";
    std::this_thread::yield();
  }
  auto f2 = std::async(std::launch::async, [&] { return batcher.Submit(&second, std::nullopt, 4); });
  auto f3 = std::async(std::launch::async, [&] { return batcher.Submit(&third, std::nullopt, 4); });
  while (batcher.queued_items() < 2) {
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "the singles never queued";
    std::this_thread::yield();
  }
  std::vector<Item> group(3);
  std::vector<Item*> group_ptrs = pointers(group);
  // 2 waiting + 3 > 4: turned away, nothing of it run.
  EXPECT_EQ(batcher.Submit(std::span<Item* const>(group_ptrs), std::nullopt, 4), Batcher<Item>::Outcome::kQueueFull);
  for (const Item& item : group) EXPECT_EQ(item.output, -1);
  gate.set_value();
  EXPECT_EQ(f1.get(), Batcher<Item>::Outcome::kRun);
  EXPECT_EQ(f2.get(), Batcher<Item>::Outcome::kRun);
  EXPECT_EQ(f3.get(), Batcher<Item>::Outcome::kRun);
  // With nothing waiting, a group larger than the bound still runs.
  std::vector<Item> big(6);
  for (int i = 0; i < 6; ++i) big[static_cast<size_t>(i)].input = 10 + i;
  std::vector<Item*> big_ptrs = pointers(big);
  EXPECT_EQ(batcher.Submit(std::span<Item* const>(big_ptrs), std::nullopt, 4), Batcher<Item>::Outcome::kRun);
  for (const Item& item : big) EXPECT_EQ(item.output, item.input);
}

}  // namespace
}  // namespace sluice::redis

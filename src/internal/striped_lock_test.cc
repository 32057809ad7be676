// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "internal/striped_lock.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace sluice::internal {
namespace {

TEST(StripedLocksTest, RoundsUpToAPowerOfTwo) {
  EXPECT_EQ(StripedLocks(0).size(), 1u);
  EXPECT_EQ(StripedLocks(1).size(), 1u);
  EXPECT_EQ(StripedLocks(100).size(), 128u);
  EXPECT_EQ(StripedLocks(256).size(), 256u);
}

TEST(StripedLocksTest, KeysSpreadOverStripes) {
  StripedLocks locks(64);
  std::vector<int> count(64);
  for (int i = 0; i < 64'000; ++i) {
    const size_t s = locks.StripeOf("user:" + std::to_string(i));
    ASSERT_LT(s, 64u);
    ++count[s];
  }
  // 1000 expected per stripe; a weak hash would leave some nearly empty.
  for (int c : count) {
    EXPECT_GT(c, 800);
    EXPECT_LT(c, 1200);
  }
  EXPECT_EQ(locks.StripeOf("same"), locks.StripeOf("same"));
}

TEST(StripedLocksTest, LockAllTakesEachStripeOnceInOrder) {
  StripedLocks locks(1);  // every key on one stripe: locking it twice would deadlock
  std::string_view keys[] = {"a", "b", "a", "c"};
  StripedLocks::MultiLock all = locks.LockAll(keys);
  EXPECT_EQ(all.stripes(), std::vector<size_t>{0});
  StripedLocks many(1024);
  std::vector<std::string> names;
  for (int i = 0; i < 50; ++i) names.push_back("k" + std::to_string(i));
  std::vector<std::string_view> views(names.begin(), names.end());
  StripedLocks::MultiLock held = many.LockAll(views);
  for (size_t i = 1; i < held.stripes().size(); ++i) EXPECT_LT(held.stripes()[i - 1], held.stripes()[i]);
}

TEST(StripedLocksTest, ReleasesOnDestructionAndMove) {
  StripedLocks locks(4);
  std::string_view keys[] = {"x", "y"};
  {
    StripedLocks::MultiLock a = locks.LockAll(keys);
    StripedLocks::MultiLock b = std::move(a);
    EXPECT_TRUE(a.stripes().empty());
  }
  // Released: locking again does not block.
  StripedLocks::MultiLock again = locks.LockAll(keys);
  EXPECT_FALSE(again.stripes().empty());
}

// Threads lock overlapping key sets in opposite orders: no deadlock, and the
// protected counters are exact.
TEST(StripedLocksTest, OverlappingMultiLocksExcludeAndNeverDeadlock) {
  StripedLocks locks(8);
  std::vector<std::string> names;
  for (int i = 0; i < 16; ++i) names.push_back("key" + std::to_string(i));
  std::vector<int64_t> counters(16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const size_t a = static_cast<size_t>(i + t) % 16, b = static_cast<size_t>(15 - (i * 7 + t) % 16);
        std::string_view keys[] = {names[a], names[b]};
        if (t % 2 == 1) std::swap(keys[0], keys[1]);
        if (i % 3 == 0) {
          std::unique_lock<std::mutex> one = locks.Lock(names[a]);
          ++counters[a];
          continue;
        }
        StripedLocks::MultiLock held = locks.LockAll(keys);
        ++counters[a];
        if (b != a) ++counters[b];
      }
    });
  }
  for (auto& t : threads) t.join();
  int64_t total = 0;
  for (int64_t c : counters) total += c;
  int64_t expected = 0;
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 2000; ++i) {
      const size_t a = static_cast<size_t>(i + t) % 16, b = static_cast<size_t>(15 - (i * 7 + t) % 16);
      expected += (i % 3 == 0 || a == b) ? 1 : 2;
    }
  }
  EXPECT_EQ(total, expected);
}

}  // namespace
}  // namespace sluice::internal

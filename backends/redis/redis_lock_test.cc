// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RedisLock against the real redis-server of CTest's redis_server fixture.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "redis/redis_test_env.h"
#include "sluice/backends/redis.h"
#include "sluice/memory_store.h"

namespace sluice::redis {
namespace {

using std::chrono::milliseconds;

std::string LockUri() { return testenv::RedisUri(); }

std::unique_ptr<Lock> MakeLock(const std::string& prefix) {
  Result<std::unique_ptr<Lock>> lock = CreateRedisLock({.uri = LockUri(), .key_prefix = prefix});
  EXPECT_TRUE(lock.ok()) << lock.status().ToString();
  return lock.ok() ? std::move(*lock) : nullptr;
}

TEST(RedisLock, GrantsReleasesAndFences) {
  if (LockUri().empty()) GTEST_SKIP() << "SLUICE_TEST_REDIS_DIR is not set";
  auto lock = MakeLock("lock-basic:");
  Result<std::optional<Lease>> first = lock->TryAcquire("import", milliseconds(10'000));
  ASSERT_TRUE(first.ok() && first->has_value()) << first.status().ToString();
  EXPECT_FALSE(lock->TryAcquire("import", milliseconds(10'000))->has_value());  // held
  EXPECT_TRUE(lock->TryAcquire("other {name}", milliseconds(10'000))->has_value());
  ASSERT_TRUE(lock->Extend(**first, milliseconds(20'000)).ok());
  ASSERT_TRUE(lock->Release(**first).ok());
  EXPECT_EQ(lock->Release(**first).code(), StatusCode::kFailedPrecondition);  // already gone
  Result<std::optional<Lease>> second = lock->TryAcquire("import", milliseconds(10'000));
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_GT((*second)->fencing_token, (*first)->fencing_token);
  EXPECT_EQ(lock->Extend(**first, milliseconds(1000)).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(lock->TryAcquire("x", milliseconds(0)).status().code(), StatusCode::kInvalidArgument);
}

// 10k contended acquisitions from 8 threads: never two holders at once, and
// fencing tokens strictly grow in grant order.
TEST(RedisLock, ContendedAcquisitionsNeverOverlap) {
  if (LockUri().empty()) GTEST_SKIP() << "SLUICE_TEST_REDIS_DIR is not set";
  auto lock = MakeLock("lock-contended:");
  constexpr int kThreads = 8;
  constexpr int kTotal = 10'000;
  std::atomic<int> granted{0};
  std::atomic<int> holders{0};
  std::atomic<int> overlaps{0};
  std::atomic<uint64_t> last_token{0};
  std::atomic<int> token_regressions{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (granted.load() < kTotal) {
        Result<std::optional<Lease>> lease = lock->TryAcquire("hot", milliseconds(30'000));
        ASSERT_TRUE(lease.ok()) << lease.status().ToString();
        if (!lease->has_value()) continue;
        if (holders.fetch_add(1) != 0) overlaps.fetch_add(1);
        if ((*lease)->fencing_token <= last_token.load()) token_regressions.fetch_add(1);
        last_token.store((*lease)->fencing_token);
        granted.fetch_add(1);
        holders.fetch_sub(1);
        ASSERT_TRUE(lock->Release(**lease).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GE(granted.load(), kTotal);
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(token_regressions.load(), 0);
}

// A holder whose lease expired (it paused past its TTL) has its late write
// rejected by the fencing token, because a newer holder already wrote.
TEST(RedisLock, StaleHolderIsFencedOff) {
  if (LockUri().empty()) GTEST_SKIP() << "SLUICE_TEST_REDIS_DIR is not set";
  auto lock = MakeLock("lock-fencing:");
  auto store = std::move(*MemoryStore::Create({.sweep_interval = {}}));
  Result<std::optional<Lease>> stale = lock->TryAcquire("config", milliseconds(1));
  ASSERT_TRUE(stale.ok() && stale->has_value());
  // Wait for the lease to lapse on the server: a newer holder gets it.
  std::optional<Lease> fresh;
  while (!fresh) {
    Result<std::optional<Lease>> r = lock->TryAcquire("config", milliseconds(30'000));
    ASSERT_TRUE(r.ok());
    fresh = std::move(*r);
  }
  ASSERT_GT(fresh->fencing_token, (*stale)->fencing_token);
  auto put = [](std::string v) { return [v](const Record*) { return Update::Put(v); }; };
  ASSERT_TRUE(store->AtomicUpdate("config", put("new"), {.fencing_token = fresh->fencing_token}).ok());
  Result<std::optional<Record>> late =
      store->AtomicUpdate("config", put("old"), {.fencing_token = (*stale)->fencing_token});
  EXPECT_EQ(late.status().code(), StatusCode::kFailedPrecondition) << late.status().ToString();
  EXPECT_EQ(std::get<std::string>((*store->Get("config"))->value), "new");
  EXPECT_EQ(lock->Release(**stale).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(lock->Release(*fresh).ok());
}

TEST(RedisLock, AcquireWaitsThenGivesUp) {
  if (LockUri().empty()) GTEST_SKIP() << "SLUICE_TEST_REDIS_DIR is not set";
  auto lock = MakeLock("lock-wait:");
  Result<Lease> held = lock->Acquire("r", milliseconds(30'000), milliseconds(100));
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  Result<Lease> blocked = lock->Acquire("r", milliseconds(30'000), milliseconds(20));
  EXPECT_EQ(blocked.status().code(), StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(lock->Release(*held).ok());
  EXPECT_TRUE(lock->Acquire("r", milliseconds(30'000), milliseconds(100)).ok());
}

}  // namespace
}  // namespace sluice::redis

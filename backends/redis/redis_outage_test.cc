// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RELIABILITY F9 and T9/T10 on a redis-server of the test's own: a hung
// server (SIGSTOP) makes calls fail after the command timeout instead of
// hanging, a stopped server fails calls at once, and the store reconnects by
// itself once the server is back.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "redis/own_server_for_test.h"
#include "sluice/backends/redis.h"

namespace sluice::redis {
namespace {

using testing::OwnServer;

TEST(RedisOutage, HungServerTimesOutAndARestartedServerIsReconnected) {
  const char* script = std::getenv("SLUICE_TEST_REDIS_SCRIPT");
  if (script == nullptr) GTEST_SKIP() << "run through ctest -L redis";
  OwnServer server(script);
  ASSERT_TRUE(server.Run("start"));
  // No reconnect backoff: the server is back at once below, and the first
  // call after it must reconnect (RedisResilience tests the backoff).
  auto store = CreateRedisStore({.uri = server.uri(),
                                 .key_prefix = "outage:",
                                 .command_timeout = std::chrono::milliseconds(300),
                                 .reconnect_backoff_initial = std::chrono::milliseconds(0)});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const Policy p = Policy::FixedWindow(1000, std::chrono::hours(1));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*store)->Decide("k", p).ok());

  // Hung: the call gives up after the command timeout; it was sent, so its
  // outcome is unknown.
  server.Pause();
  Result<Decision> hung = (*store)->Decide("k", p);
  EXPECT_EQ(hung.status().code(), StatusCode::kDeadlineExceeded) << hung.status().ToString();
  EXPECT_EQ((*store)->Health().code(), StatusCode::kDeadlineExceeded);
  server.Resume();
  Result<Decision> after = (*store)->Decide("k", p);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  // 3 decided before; the unknown one may or may not have run; this one did.
  EXPECT_TRUE(after->remaining == 1000 - 4 || after->remaining == 1000 - 5) << after->remaining;
  EXPECT_TRUE((*store)->Health().ok());

  // Gone: calls fail fast (the server is not there to take them).
  ASSERT_TRUE(server.Run("stop"));
  for (int i = 0; i < 3; ++i) {
    Result<Decision> down = (*store)->Decide("k", p);
    EXPECT_TRUE(down.status().code() == StatusCode::kUnavailable ||
                down.status().code() == StatusCode::kDeadlineExceeded)
        << down.status().ToString();
  }
  EXPECT_EQ((*store)->Health().code(), StatusCode::kUnavailable);

  // Back (empty: this server keeps nothing): the store reconnects by itself.
  ASSERT_TRUE(server.Run("start"));
  Result<Decision> back = (*store)->Decide("k", p);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->remaining, 999);
  EXPECT_TRUE((*store)->Health().ok());
}

}  // namespace
}  // namespace sluice::redis

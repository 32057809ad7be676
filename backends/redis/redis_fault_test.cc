// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RELIABILITY T16, indeterminate replies: a fault-injecting proxy between the
// store and a real redis-server cuts connections at random, some after a
// request reached the server (it ran, the reply is lost) and some before (it
// never ran). The store must report such calls as errors and never resend
// them, so the server's count is exactly the decisions that succeeded plus
// some of those whose outcome was reported unknown: nothing is counted twice.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "redis/redis_test_env.h"
#include "redis/tcp_proxy_for_test.h"
#include "sluice/backends/redis.h"

namespace sluice::redis {
namespace {

TEST(RedisFaults, CutConnectionsNeverCountADecisionTwice) {
  const std::string direct = testenv::RedisUri();
  if (direct.empty()) GTEST_SKIP() << "run through ctest -L redis";
  auto proxy = testing::TcpProxy::ToUnixSocket(direct.substr(std::string("unix://").size()));
  proxy->CutWithProbability(0.02);
  const std::string prefix = "faults" + std::to_string(std::random_device{}()) + ":";
  auto store = CreateRedisStore({.uri = proxy->uri(), .key_prefix = prefix});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  // Never denies: the window's count is the number of consumes that ran.
  const Policy p = Policy::FixedWindow(1'000'000'000, std::chrono::hours(24 * 365 * 100));
  std::atomic<int64_t> succeeded{0}, unknown{0}, not_sent{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 6; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 400; ++i) {
        Result<Decision> d = (*store)->Decide("k", p);
        if (d.ok()) {
          succeeded.fetch_add(1);
        } else if (d.status().code() == StatusCode::kDeadlineExceeded) {
          unknown.fetch_add(1);
        } else {
          EXPECT_EQ(d.status().code(), StatusCode::kUnavailable) << d.status().ToString();
          not_sent.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : callers) t.join();
  // Read the truth past the proxy.
  auto truth = CreateRedisStore({.uri = direct, .key_prefix = prefix});
  ASSERT_TRUE(truth.ok());
  Result<std::optional<Record>> r = (*truth)->Get("k");
  ASSERT_TRUE(r.ok() && r->has_value()) << r.status().ToString();
  const int64_t counted = std::get<FixedWindowState>(std::get<LimiterRecord>((*r)->value).state).count;
  EXPECT_GT(proxy->cuts(), 0) << "the proxy should have cut connections";
  EXPECT_GT(unknown.load(), 0) << "some outcomes should have been unknown";
  EXPECT_GE(counted, succeeded.load()) << "a decision reported as made was lost";
  EXPECT_LE(counted, succeeded.load() + unknown.load()) << "a decision was counted twice";
  std::printf("succeeded %lld, unknown %lld, not sent %lld, counted %lld, cuts %d\n",
              static_cast<long long>(succeeded.load()), static_cast<long long>(unknown.load()),
              static_cast<long long>(not_sent.load()), static_cast<long long>(counted), proxy->cuts());
}

}  // namespace
}  // namespace sluice::redis

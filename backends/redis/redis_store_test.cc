// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The store conformance suite against the real redis-server that CTest's
// redis_server fixture starts on a Unix socket.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "redis/redis_connection.h"
#include "redis/redis_test_env.h"
#include "sluice/backends/redis.h"
#include "sluice/observability.h"
#include "sluice/testing/simulated_clock.h"
#include "sluice/testing/store_conformance.h"

namespace sluice::redis {
namespace {

using testing::StoreConformanceTest;
using testing::StoreFactory;

using testenv::RedisUri;

// A token of this test run, so that runs against one server never share keys.
std::string RunId() {
  static const std::string id = std::to_string(std::random_device{}());
  return id;
}

// Every store gets its own key prefix, so each test starts empty.
Result<std::unique_ptr<Store>> MakeRedisStore(Clock& clock) {
  static std::atomic<int> counter{0};
  if (RedisUri().empty())
    return NotSupportedError("SLUICE_TEST_REDIS_DIR is not set (run through ctest -L redis)");
  return CreateRedisStore({.uri = RedisUri(),
                           .key_prefix = "conformance" + RunId() + "-" + std::to_string(counter.fetch_add(1)) + ":",
                           .time_source = TimeSource::kClient,
                           .clock = &clock});
}

// The same on the 3-master Cluster of the redis_cluster fixture.
Result<std::unique_ptr<Store>> MakeClusterStore(Clock& clock) {
  static std::atomic<int> counter{0};
  if (testenv::ClusterUri().empty()) {
    return NotSupportedError("SLUICE_TEST_REDIS_CLUSTER_DIR is not set (run through ctest -L redis)");
  }
  return CreateRedisStore({.uri = testenv::ClusterUri(),
                           .key_prefix = "cluster-conformance" + RunId() + "-" + std::to_string(counter.fetch_add(1)) + ":",
                           .time_source = TimeSource::kClient,
                           .clock = &clock});
}

// A plain connection to the test server, for commands the store never sends
// (FUNCTION FLUSH, CLIENT KILL, ACL, INFO).
class AdminConnection {
 public:
  AdminConnection() {
    Result<Endpoint> endpoint = Endpoint::Parse(RedisUri());
    if (endpoint.ok()) connection_ = Connection::Connect(io_, *endpoint, std::chrono::milliseconds(2000));
  }
  bool ok() const { return connection_.ok(); }
  Result<Reply> Call(std::vector<std::string> args) { return (*connection_)->Call(std::move(args)); }

 private:
  IoThread io_;
  Result<std::shared_ptr<Connection>> connection_ = UnavailableError("not connected");
};

INSTANTIATE_TEST_SUITE_P(Redis, StoreConformanceTest,
                         ::testing::Values(StoreFactory{"redis", MakeRedisStore},
                                           StoreFactory{"redis_cluster", MakeClusterStore}),
                         [](const auto& param_info) { return param_info.param.name; });

// The scripts' exactness on extreme values (bignum arithmetic, the end of
// int64 time) is checked by the conformance suite's
// DecidesLikeTheAlgorithmOnExtremeValues and AgreesAtTheEndOfTime above, on a
// standalone server and on the Cluster.

// DecideBatch runs many decisions in one batch script (the path automatic
// batching takes under load). With repeated keys, mixed algorithms and
// operations, it decides exactly as the C++ algorithms deciding one by one.
TEST(RedisStoreLua, BatchScriptEqualsDecidingOneByOne) {
  if (RedisUri().empty()) GTEST_SKIP() << "SLUICE_TEST_REDIS_DIR is not set";
  testing::SimulatedClock clock(1'700'000'000'000'000'000);
  auto store = CreateRedisStore({.uri = RedisUri(),
                                 .key_prefix = "batch" + std::to_string(std::random_device{}()) + ":",
                                 .time_source = TimeSource::kClient,
                                 .clock = &clock});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::vector<Policy> policies = {Policy::TokenBucket(10, 3, std::chrono::seconds(1)),
                                        Policy::Gcra(7, 1, std::chrono::milliseconds(300)),
                                        Policy::FixedWindow(12, std::chrono::seconds(2)),
                                        Policy::SlidingWindowLog(6, std::chrono::seconds(1)),
                                        Policy::SlidingWindowCounter(9, std::chrono::milliseconds(1500))};
  std::vector<std::string> keys;
  std::vector<std::optional<LimiterState>> models(policies.size() * 2);
  for (size_t i = 0; i < models.size(); ++i) keys.push_back("key" + std::to_string(i));
  std::mt19937_64 rng(42);
  for (int round = 0; round < 60; ++round) {
    clock.Advance(std::chrono::milliseconds(rng() % 400));
    std::vector<DecideRequest> batch;
    std::vector<size_t> which;
    for (size_t n = 1 + rng() % 40; n > 0; --n) {
      const size_t k = rng() % keys.size();
      const uint64_t pick = rng() % 10;
      const Operation op = pick == 0 ? Operation::kRefund : pick == 1 ? Operation::kPeek : Operation::kConsume;
      batch.push_back(DecideRequest{keys[k], &policies[k % policies.size()], static_cast<int64_t>(rng() % 3), op});
      which.push_back(k);
    }
    std::vector<Result<Decision>> got = (*store)->DecideBatch(batch);
    ASSERT_EQ(got.size(), batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      Result<Evaluation> want =
          Evaluate(*batch[i].policy, models[which[i]], batch[i].op, batch[i].cost, clock.NowNanos());
      ASSERT_TRUE(want.ok() && got[i].ok()) << got[i].status().ToString();
      ASSERT_EQ(*got[i], want->decision) << "round " << round << " request " << i << " key " << keys[which[i]];
    }
  }
}

TEST(RedisStoreLua, ServerTimeModeDecides) {
  if (RedisUri().empty()) GTEST_SKIP() << "SLUICE_TEST_REDIS_DIR is not set";
  auto store = CreateRedisStore({.uri = RedisUri(), .key_prefix = "server-time:"});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const Policy p = Policy::FixedWindow(3, std::chrono::hours(1));
  ASSERT_TRUE((*store)->Delete("k").ok());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE((*store)->Decide("k", p)->allowed);
  Result<Decision> denied = (*store)->Decide("k", p);
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->allowed);
  EXPECT_GT(denied->retry_after.count(), 0);
  EXPECT_LE(denied->retry_after, std::chrono::hours(1));
  // The record's expiry is on the server's clock, and Get reads it by that clock.
  Result<std::optional<Record>> r = (*store)->Get("k");
  ASSERT_TRUE(r.ok() && r->has_value()) << r.status().ToString();
  EXPECT_EQ(std::get<FixedWindowState>(std::get<LimiterRecord>((*r)->value).state).count, 3);
}

// RELIABILITY T15: the script cache is lost (SCRIPT FLUSH, restart, failover);
// decisions go on without errors and without counting twice. (Scripts only:
// the next test does the same for the function library.)
TEST(RedisStoreLua, SurvivesScriptFlush) {
  if (RedisUri().empty()) GTEST_SKIP() << "SLUICE_TEST_REDIS_DIR is not set";
  auto store = CreateRedisStore({.uri = RedisUri(), .key_prefix = "flush:", .use_functions = false});
  ASSERT_TRUE(store.ok());
  AdminConnection admin;
  ASSERT_TRUE(admin.ok());
  const Policy p = Policy::FixedWindow(1000, std::chrono::hours(1));
  ASSERT_TRUE((*store)->Delete("k").ok());
  for (int i = 0; i < 50; ++i) {
    if (i % 7 == 0) {
      ASSERT_TRUE(admin.Call({"SCRIPT", "FLUSH"}).ok());
    }
    Result<Decision> d = (*store)->Decide("k", p);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->remaining, 1000 - (i + 1));  // counted exactly once each
  }
}

TEST(RedisStore, BadUriIsInvalidArgument) {
  EXPECT_EQ(CreateRedisStore({.uri = "http://x"}).status().code(), StatusCode::kInvalidArgument);
}

TEST(RedisStore, UnreachableServerIsUnavailable) {
  EXPECT_EQ(CreateRedisStore({.uri = "unix:///nonexistent/sluice.sock"}).status().code(),
            StatusCode::kUnavailable);
}

// The store runs its decisions as a function library (FCALL), loads it when
// the server has lost it (FUNCTION FLUSH, restart, failover), and never counts
// a decision twice.
TEST(RedisStoreLua, FunctionLibrarySurvivesFunctionFlush) {
  if (RedisUri().empty()) GTEST_SKIP() << "SLUICE_TEST_REDIS_DIR is not set";
  AdminConnection admin;
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE(admin.Call({"FUNCTION", "FLUSH"}).ok());
  ASSERT_TRUE(admin.Call({"CONFIG", "RESETSTAT"}).ok());
  auto store = CreateRedisStore({.uri = RedisUri(), .key_prefix = "function-flush:"});
  ASSERT_TRUE(store.ok());
  const Policy p = Policy::FixedWindow(1000, std::chrono::hours(1));
  ASSERT_TRUE((*store)->Delete("k").ok());
  for (int i = 0; i < 50; ++i) {
    if (i % 7 == 3) {
      ASSERT_TRUE(admin.Call({"FUNCTION", "FLUSH"}).ok());
    }
    Result<Decision> d = (*store)->Decide("k", p);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->remaining, 1000 - (i + 1));  // counted exactly once each
  }
  Result<Reply> libraries = admin.Call({"FUNCTION", "LIST", "LIBRARYNAME", "sluice_*"});
  ASSERT_TRUE(libraries.ok());
  EXPECT_EQ(libraries->elements.size(), 1u) << libraries->ToString();
  // Every decision was an FCALL: 50, and one more for each time the library
  // was missing (at the start and after each of the 7 flushes).
  Result<Reply> stats = admin.Call({"INFO", "commandstats"});
  ASSERT_TRUE(stats.ok());
  const std::string field = "cmdstat_fcall:calls=";
  const size_t at = stats->str.find(field);
  ASSERT_NE(at, std::string::npos) << stats->str;
  EXPECT_EQ(std::stoll(stats->str.substr(at + field.size())), 50 + 1 + 7);
}

// Records what a store reports, for the degraded-path tests.
class RecordingObserver final : public Logger, public MetricsSink {
 public:
  void Log(LogLevel level, std::string_view component, std::string_view message) override {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(std::string(LogLevelName(level)) + " " + std::string(component) + ": " + std::string(message));
  }
  bool Enabled(LogLevel) const override { return true; }
  void Increment(std::string_view name, MetricLabels, uint64_t delta) override {
    std::lock_guard<std::mutex> lock(mu_);
    counters_[std::string(name)] += delta;
  }
  void SetGauge(std::string_view, MetricLabels, double) override {}
  void Observe(std::string_view, MetricLabels, std::chrono::nanoseconds) override {}

  uint64_t Counter(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    return counters_[name];
  }
  bool Logged(std::string_view needle) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& l : lines_) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
  std::map<std::string, uint64_t> counters_;
};

// Degraded paths are never silent: reloading the function library and
// reconnecting after the server dropped the connection are logged and counted.
TEST(RedisStore, ReportsReloadsAndReconnects) {
  if (RedisUri().empty()) GTEST_SKIP() << "SLUICE_TEST_REDIS_DIR is not set";
  AdminConnection admin;
  ASSERT_TRUE(admin.ok());
  RecordingObserver observer;
  auto store = CreateRedisStore({.uri = RedisUri(),
                                 .key_prefix = "observed" + RunId() + ":",
                                 .connections_per_node = 1,
                                 .observer = {&observer, &observer}});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const Policy p = Policy::FixedWindow(1000, std::chrono::hours(1));
  ASSERT_TRUE((*store)->Decide("k", p).ok());
  ASSERT_TRUE(admin.Call({"FUNCTION", "FLUSH"}).ok());
  ASSERT_TRUE((*store)->Decide("k", p).ok());
  EXPECT_GE(observer.Counter("sluice_redis_function_loads_total"), 1u);
  // Drop every client connection but the admin's; the next call reconnects
  // (the call that finds its connection dead may fail: it was sent).
  ASSERT_TRUE(admin.Call({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}).ok());
  Result<Decision> d = (*store)->Decide("k", p);
  for (int i = 0; i < 5 && !d.ok(); ++i) d = (*store)->Decide("k", p);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_GE(observer.Counter("sluice_redis_reconnects_total"), 1u);
  EXPECT_TRUE(observer.Logged("reconnect to"));
}

// A server that refuses FCALL (here an ACL user without it) makes the store
// fall back to EVALSHA, reported once as a warning and a counter.
TEST(RedisStore, ReportsTheFallbackToEvalsha) {
  if (RedisUri().empty()) GTEST_SKIP() << "SLUICE_TEST_REDIS_DIR is not set";
  AdminConnection admin;
  ASSERT_TRUE(admin.ok());
  // The library is gone and the default user loses FUNCTION (so FUNCTION
  // LOAD is refused) for this test.
  ASSERT_TRUE(admin.Call({"FUNCTION", "FLUSH"}).ok());
  ASSERT_TRUE(admin.Call({"ACL", "SETUSER", "default", "-function"}).ok());
  RecordingObserver observer;
  auto store = CreateRedisStore({.uri = RedisUri(),
                                 .key_prefix = "fallback" + RunId() + ":",
                                 .observer = {&observer, &observer}});
  Result<Decision> d = store.ok() ? (*store)->Decide("k", Policy::FixedWindow(10, std::chrono::hours(1)))
                                  : Result<Decision>(store.status());
  Result<Decision> again = store.ok() ? (*store)->Decide("k", Policy::FixedWindow(10, std::chrono::hours(1)))
                                      : Result<Decision>(store.status());
  ASSERT_TRUE(admin.Call({"ACL", "SETUSER", "default", "+function"}).ok());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->remaining, 8);
  EXPECT_EQ(observer.Counter("sluice_redis_function_fallbacks_total"), 1u);
  EXPECT_TRUE(observer.Logged("warning redis: decisions fall back from FCALL to EVALSHA"));
}

}  // namespace
}  // namespace sluice::redis

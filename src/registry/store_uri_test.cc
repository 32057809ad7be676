// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/store_uri.h"

#include <algorithm>
#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sluice/algorithms.h"
#include "sluice/status.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;

TEST(StoreUriTest, ParsesSchemeLocationAndQuery) {
  Result<StoreUri> uri = ParseStoreUri("rocksdb:/var/lib/x%20y?sync=periodic&sync_interval=50ms");
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  EXPECT_EQ(uri->scheme, "rocksdb");
  EXPECT_EQ(uri->location, "/var/lib/x y");
  ASSERT_EQ(uri->query.size(), 2u);
  EXPECT_EQ(uri->query[0].first, "sync");
  EXPECT_EQ(uri->query[1].second, "50ms");

  Result<StoreUri> redis = ParseStoreUri("redis://127.0.0.1:6379?prefix=rl:");
  ASSERT_TRUE(redis.ok()) << redis.status().ToString();
  EXPECT_EQ(redis->location, "127.0.0.1:6379");
  EXPECT_TRUE(IsRemoteStore(*redis));
  EXPECT_FALSE(IsInProcessStore(*redis));

  Result<StoreUri> memory = ParseStoreUri("memory:");
  ASSERT_TRUE(memory.ok()) << memory.status().ToString();
  EXPECT_TRUE(IsInProcessStore(*memory));
}

TEST(StoreUriTest, RejectsBadUrisNamingTheProblem) {
  struct Case {
    const char* uri;
    const char* message;
  } cases[] = {
      {"", "no scheme"},
      {"nowhere", "no scheme"},
      {"mysql://x", "unknown scheme \"mysql\""},
      {"memory:?shard=4", "unknown query key \"shard\""},
      {"memory:/tmp", "takes no location"},
      {"rocksdb:", "needs a directory"},
      {"redis://", "needs an address"},
      {"memory:?shards", "not key=value"},
      {"memory:?shards=1&shards=2", "given twice"},
      {"rocksdb:/tmp/%zz", "percent escape"},
  };
  for (const Case& c : cases) {
    Result<StoreUri> uri = ParseStoreUri(c.uri);
    ASSERT_FALSE(uri.ok()) << c.uri;
    EXPECT_EQ(uri.status().code(), StatusCode::kInvalidArgument) << c.uri;
    EXPECT_THAT(std::string(uri.status().message()), HasSubstr(c.message)) << c.uri;
  }
}

TEST(StoreUriTest, OpensAMemoryStoreThatDecides) {
  Result<std::unique_ptr<Store>> store = OpenStore("memory:?shards=4&max_keys=10&sweep_interval=0s");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const Policy policy = Policy::FixedWindow(2, std::chrono::seconds(60));
  EXPECT_TRUE((*store)->Decide("k", policy)->allowed);
  EXPECT_TRUE((*store)->Decide("k", policy)->allowed);
  EXPECT_FALSE((*store)->Decide("k", policy)->allowed);
}

TEST(StoreUriTest, BadValuesAreErrors) {
  EXPECT_THAT(std::string(OpenStore("memory:?shards=lots").status().message()), HasSubstr("shards=\"lots\""));
  EXPECT_THAT(std::string(OpenStore("memory:?sweep_interval=soon").status().message()),
              HasSubstr("sweep_interval"));
}

TEST(StoreUriTest, RedisTakesItsResilienceSettings) {
  Result<StoreUri> uri = ParseStoreUri(
      "redis://127.0.0.1:6379?reconnect_backoff=50ms&reconnect_backoff_max=2s&max_pending_commands=100"
      "&max_pending_bytes=65536&clock_skew_warning=500ms&health_timeout=200ms");
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  const std::vector<std::string> schemes = SupportedStoreSchemes();
  if (std::find(schemes.begin(), schemes.end(), "redis") == schemes.end()) GTEST_SKIP() << "built without Redis";
  // Bad values are refused before any connection is tried.
  EXPECT_THAT(std::string(OpenStore("redis://127.0.0.1:1?max_pending_commands=lots").status().message()),
              HasSubstr("max_pending_commands=\"lots\""));
  EXPECT_THAT(std::string(OpenStore("redis://127.0.0.1:1?health_timeout=soon").status().message()),
              HasSubstr("health_timeout"));
}

TEST(StoreUriTest, ListsWhatThisBuildSupports) {
  std::vector<std::string> schemes = SupportedStoreSchemes();
  EXPECT_EQ(schemes.front(), "memory");
#if 0  // rocksdb availability is checked by the daemon tests
  EXPECT_NE(std::find(schemes.begin(), schemes.end(), "rocksdb"), schemes.end());
#endif
}

}  // namespace
}  // namespace sluice

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The store conformance suite against the real redis-server that CTest's
// redis_server fixture starts on a Unix socket.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "sluice/backends/redis.h"
#include "sluice/testing/store_conformance.h"

namespace sluice::redis {
namespace {

using testing::StoreConformanceTest;
using testing::StoreFactory;

std::string RedisUri() {
  const char* dir = std::getenv("SLUICE_TEST_REDIS_DIR");
  return dir == nullptr ? "" : std::string("unix://") + dir + "/redis.sock";
}

// Every store gets its own key prefix, so each test starts empty.
Result<std::unique_ptr<Store>> MakeRedisStore(Clock& clock) {
  static std::atomic<int> counter{0};
  if (RedisUri().empty()) return NotSupportedError("SLUICE_TEST_REDIS_DIR is not set (run through ctest -L redis)");
  return CreateRedisStore({.uri = RedisUri(),
                           .key_prefix = "conformance" + std::to_string(counter.fetch_add(1)) + ":",
                           .clock = &clock});
}

INSTANTIATE_TEST_SUITE_P(Redis, StoreConformanceTest, ::testing::Values(StoreFactory{"redis", MakeRedisStore}),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(RedisStore, BadUriIsInvalidArgument) {
  EXPECT_EQ(CreateRedisStore({.uri = "http://x"}).status().code(), StatusCode::kInvalidArgument);
}

TEST(RedisStore, UnreachableServerIsUnavailable) {
  EXPECT_EQ(CreateRedisStore({.uri = "unix:///nonexistent/sluice.sock"}).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace sluice::redis

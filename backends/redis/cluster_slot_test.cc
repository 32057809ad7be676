// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "redis/cluster_slot.h"

#include <gtest/gtest.h>

#include "sluice/rate_limiter.h"

namespace sluice::redis {
namespace {

TEST(ClusterSlot, MatchesRedis) {
  EXPECT_EQ(Crc16("123456789"), 0x31C3);
  // CLUSTER KEYSLOT on Redis 7.0 (ECOSYSTEM.md).
  EXPECT_EQ(KeySlot("foo"), 12182);
  EXPECT_EQ(KeySlot("{user1}.a"), 8106);
  // Hash tags: the first '{', the next '}', non-empty in between.
  EXPECT_EQ(KeySlot("{user1}.b"), KeySlot("user1"));
  EXPECT_EQ(KeySlot("x{}y"), Crc16("x{}y") & 16383);          // empty tag: the whole key
  EXPECT_EQ(KeySlot("{{a}}"), KeySlot("{a"));                   // up to the first '}'
  EXPECT_EQ(KeySlot("a{b}c{d}"), KeySlot("b"));
  EXPECT_EQ(KeySlot("no-close{abc"), Crc16("no-close{abc") & 16383);
}

// Every limit on one user key lands in one slot, whatever the user key holds.
TEST(ClusterSlot, StoreKeysOfOneUserShareASlot) {
  for (const char* user : {"alice", "", "{evil}", "}{", "a:b", "%7B"}) {
    EXPECT_EQ(KeySlot(StoreKey("rl", "per-second", user)), KeySlot(StoreKey("rl", "per-day", user))) << user;
  }
  EXPECT_NE(KeySlot(StoreKey("rl", "api", "{evil}")), KeySlot("evil"));
}

}  // namespace
}  // namespace sluice::redis

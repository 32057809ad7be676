// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Against the real 3-master Redis Cluster of CTest's redis_cluster fixture
// (tests/integration/redis_cluster.sh): the groundwork for Cluster routing.

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "redis/cluster_slot.h"
#include "redis/redis_client.h"

namespace sluice::redis {
namespace {

std::vector<uint16_t> ClusterPorts() {
  std::vector<uint16_t> ports;
  const char* dir = std::getenv("SLUICE_TEST_REDIS_CLUSTER_DIR");
  if (dir == nullptr) return ports;
  std::ifstream in(std::string(dir) + "/ports");
  for (int p; in >> p;) ports.push_back(static_cast<uint16_t>(p));
  return ports;
}

// Our slot function agrees with the cluster's own for random keys, binary
// bytes and hash tags included.
TEST(RedisCluster, KeySlotMatchesTheServer) {
  const std::vector<uint16_t> ports = ClusterPorts();
  if (ports.size() != 3) GTEST_SKIP() << "needs the redis_cluster fixture (ctest -L redis)";
  Endpoint node;
  node.port = ports[0];
  RedisClient client(node, std::chrono::milliseconds(2000));
  std::mt19937_64 rng(7);
  const std::string alphabet = std::string("ab{}:%\0\xff", 8);
  std::vector<std::string> keys;
  std::vector<std::vector<std::string>> commands;
  for (int i = 0; i < 3000; ++i) {
    std::string key;
    for (size_t n = rng() % 12; n > 0; --n) key += alphabet[rng() % alphabet.size()];
    keys.push_back(key);
    commands.push_back({"CLUSTER", "KEYSLOT", key});
  }
  std::vector<Result<Reply>> slots = client.CallMany(commands, 2);
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(slots[i].ok()) << slots[i].status().ToString();
    ASSERT_EQ(slots[i]->integer, KeySlot(keys[i])) << "key #" << i;
  }
}

// The three masters serve all 16384 slots between them.
TEST(RedisCluster, MastersCoverEverySlot) {
  const std::vector<uint16_t> ports = ClusterPorts();
  if (ports.size() != 3) GTEST_SKIP() << "needs the redis_cluster fixture (ctest -L redis)";
  Endpoint node;
  node.port = ports[1];
  RedisClient client(node, std::chrono::milliseconds(2000));
  Result<Reply> ranges = client.Call({"CLUSTER", "SLOTS"});
  ASSERT_TRUE(ranges.ok() && ranges->type == Reply::Type::kArray) << ranges.status().ToString();
  int64_t covered = 0;
  for (const Reply& range : ranges->elements) {
    ASSERT_GE(range.elements.size(), 3u);
    covered += range.elements[1].integer - range.elements[0].integer + 1;
  }
  EXPECT_EQ(covered, kClusterSlots);
  EXPECT_EQ(ranges->elements.size(), 3u);
}

}  // namespace
}  // namespace sluice::redis

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Where the Redis servers of CTest's fixtures are, from the environment that
// backends/redis/CMakeLists.txt gives the test binary. Empty when a test runs
// outside ctest (it then skips).

#pragma once

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace sluice::redis::testenv {

// The standalone server (redis_server fixture): "unix:///.../redis.sock".
inline std::string RedisUri() {
  const char* dir = std::getenv("SLUICE_TEST_REDIS_DIR");
  return dir == nullptr ? "" : std::string("unix://") + dir + "/redis.sock";
}

// The 3-master Cluster's client ports (redis_cluster fixture).
inline std::vector<uint16_t> ClusterPorts() {
  std::vector<uint16_t> ports;
  const char* dir = std::getenv("SLUICE_TEST_REDIS_CLUSTER_DIR");
  if (dir == nullptr) return ports;
  std::ifstream in(std::string(dir) + "/ports");
  for (int p; in >> p;) ports.push_back(static_cast<uint16_t>(p));
  return ports;
}

// The Cluster as a store URI with one seed node: the store finds the other
// masters in the slot map.
inline std::string ClusterUri() {
  const std::vector<uint16_t> ports = ClusterPorts();
  return ports.empty() ? "" : "redis+cluster://127.0.0.1:" + std::to_string(ports[0]);
}

}  // namespace sluice::redis::testenv

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Several processes, each with many threads, decide on one key of a real
// Redis at once. Every decision falls in one (century-long) window, so the
// processes together must admit exactly the limit: never more (the script is
// atomic on the server), never fewer (no lost or failed decisions).

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sluice/backends/redis.h"

namespace sluice::redis {
namespace {

class RedisStressTest : public ::testing::TestWithParam<Algorithm> {};

TEST_P(RedisStressTest, ProcessesTogetherAdmitExactlyTheLimit) {
  const char* dir = std::getenv("SLUICE_TEST_REDIS_DIR");
  const char* worker = std::getenv("SLUICE_TEST_STRESS_WORKER");
  if (dir == nullptr || worker == nullptr) GTEST_SKIP() << "run through ctest -L redis";
  const std::string uri = std::string("unix://") + dir + "/redis.sock";
  constexpr int kProcesses = 4;
  constexpr int kThreads = 8;
  constexpr int kAttempts = 60;  // 1920 attempts in all
  const int64_t limit = GetParam() == Algorithm::kSlidingWindowLog ? 700 : 1000;
  const std::string key = "stress-" + std::string(AlgorithmName(GetParam()));
  auto store = CreateRedisStore({.uri = uri, .key_prefix = "stress:"});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Delete(key).ok());

  std::vector<FILE*> running;
  for (int p = 0; p < kProcesses; ++p) {
    const std::string cmd = std::string(worker) + " '" + uri + "' " + std::string(AlgorithmName(GetParam())) +
                            " " + std::to_string(limit) + " " + key + " " + std::to_string(kThreads) + " " +
                            std::to_string(kAttempts);
    FILE* f = popen(cmd.c_str(), "r");
    ASSERT_NE(f, nullptr) << cmd;
    running.push_back(f);
  }
  long long admitted = 0, errors = 0;
  for (FILE* f : running) {
    long long a = 0, e = 0;
    EXPECT_EQ(std::fscanf(f, "%lld %lld", &a, &e), 2);
    EXPECT_EQ(pclose(f), 0);
    admitted += a;
    errors += e;
  }
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(admitted, limit) << "over- or under-admission across processes";
}

INSTANTIATE_TEST_SUITE_P(All, RedisStressTest,
                         ::testing::Values(Algorithm::kTokenBucket, Algorithm::kGcra, Algorithm::kFixedWindow,
                                           Algorithm::kSlidingWindowLog, Algorithm::kSlidingWindowCounter),
                         [](const auto& param_info) { return std::string(AlgorithmName(param_info.param)); });

}  // namespace
}  // namespace sluice::redis

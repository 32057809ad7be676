// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Several processes, each with many threads, decide on one key of a real
// Redis at once. With one century-long window, the processes together must
// admit exactly the limit: never more (the script is atomic on the server),
// never fewer (no lost or failed decisions). With many 200 ms windows, no
// window on the server's clock admits more than the limit.

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "redis/redis_test_env.h"
#include "sluice/backends/redis.h"

namespace sluice::redis {
namespace {

class RedisStressTest : public ::testing::TestWithParam<Algorithm> {};

TEST_P(RedisStressTest, ProcessesTogetherAdmitExactlyTheLimit) {
  const char* worker = std::getenv("SLUICE_TEST_STRESS_WORKER");
  const std::string uri = testenv::RedisUri();
  if (uri.empty() || worker == nullptr) GTEST_SKIP() << "run through ctest -L redis";
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

// Many short windows on the server's clock: 4 processes x 8 threads decide
// on one key with 200 ms fixed windows for a second or more. Each admitted
// decision is placed in its window by the server's clock (see the worker);
// no window admits more than the limit, and the load fills windows to it.
TEST(RedisStressWindows, NoServerClockWindowAdmitsMoreThanTheLimit) {
  const char* worker = std::getenv("SLUICE_TEST_STRESS_WORKER");
  const std::string uri = testenv::RedisUri();
  if (uri.empty() || worker == nullptr) GTEST_SKIP() << "run through ctest -L redis";
  constexpr int64_t kLimit = 40;
  const std::string key = "stress-windows-" + std::to_string(std::random_device{}());
  std::vector<FILE*> running;
  for (int p = 0; p < 4; ++p) {
    const std::string cmd = std::string(worker) + " '" + uri + "' fixed_window " + std::to_string(kLimit) + " " +
                            key + " 8 800 200";
    FILE* f = popen(cmd.c_str(), "r");
    ASSERT_NE(f, nullptr) << cmd;
    running.push_back(f);
  }
  std::map<int64_t, int64_t> per_window;
  long long admitted = 0, errors = 0;
  for (FILE* f : running) {
    long long a = 0, e = 0;
    EXPECT_EQ(std::fscanf(f, "%lld %lld", &a, &e), 2);
    for (long long w = 0; std::fscanf(f, "%lld", &w) == 1;) ++per_window[w];
    EXPECT_EQ(pclose(f), 0);
    admitted += a;
    errors += e;
  }
  EXPECT_EQ(errors, 0);
  // Decisions that took longer than a window cannot be placed; they must stay
  // rare, or the check below would prove little.
  const int64_t unplaced = per_window.count(-1) != 0 ? per_window[-1] : 0;
  per_window.erase(-1);
  EXPECT_LE(unplaced * 20, admitted) << unplaced << " of " << admitted << " admitted decisions could not be placed";
  int64_t counted = 0, full = 0;
  for (const auto& [window, n] : per_window) {
    EXPECT_LE(n, kLimit) << "window " << window << " admitted " << n;
    counted += n;
    full += n == kLimit;
  }
  EXPECT_EQ(counted + unplaced, admitted);
  EXPECT_GE(per_window.size(), 5u) << "the test should span many windows";
  EXPECT_GE(full, 2) << "the load should fill windows to the limit";
}

INSTANTIATE_TEST_SUITE_P(All, RedisStressTest,
                         ::testing::Values(Algorithm::kTokenBucket, Algorithm::kGcra, Algorithm::kFixedWindow,
                                           Algorithm::kSlidingWindowLog, Algorithm::kSlidingWindowCounter),
                         [](const auto& param_info) { return std::string(AlgorithmName(param_info.param)); });

}  // namespace
}  // namespace sluice::redis

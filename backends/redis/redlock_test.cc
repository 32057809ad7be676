// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Redlock over the five independent redis-servers of CTest's redlock_servers
// fixture; tests stop and restart some of them.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sluice/backends/redis.h"

namespace sluice::redis {
namespace {

using std::chrono::milliseconds;

std::vector<std::string> ServerDirs() {
  std::vector<std::string> dirs;
  const char* env = std::getenv("SLUICE_TEST_REDLOCK_DIRS");
  if (env == nullptr) return dirs;
  std::stringstream in(env);
  for (std::string dir; std::getline(in, dir, ',');) dirs.push_back(dir);
  return dirs;
}

// Starts or stops one server with the fixture's script (restarts come back
// empty: no persistence, so fence counters restart at zero).
void Server(const std::string& action, const std::string& dir) {
  const std::string cmd = "bash '" + std::string(std::getenv("SLUICE_TEST_REDIS_SCRIPT")) + "' " + action +
                          " '" + dir + "' >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

class RedlockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dirs_ = ServerDirs();
    if (dirs_.size() != 5 || std::getenv("SLUICE_TEST_REDIS_SCRIPT") == nullptr) {
      GTEST_SKIP() << "needs the redlock_servers fixture (ctest -L redis)";
    }
    RedlockOptions options;
    for (const std::string& dir : dirs_) options.uris.push_back("unix://" + dir + "/redis.sock");
    options.key_prefix =
        std::string("redlock-") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ":";
    options.server_timeout = milliseconds(200);
    Result<std::unique_ptr<Lock>> lock = CreateRedlock(options);
    ASSERT_TRUE(lock.ok()) << lock.status().ToString();
    lock_ = std::move(*lock);
  }

  void TearDown() override {
    for (const std::string& dir : stopped_) Server("start", dir);
  }

  void Stop(size_t i) {
    Server("stop", dirs_[i]);
    stopped_.push_back(dirs_[i]);
  }

  void Restart(size_t i) {
    Server("start", dirs_[i]);
    std::erase(stopped_, dirs_[i]);
  }

  std::vector<std::string> dirs_;
  std::vector<std::string> stopped_;
  std::unique_ptr<Lock> lock_;
};

TEST_F(RedlockTest, MajorityGrantsAndTokensGrow) {
  Result<std::optional<Lease>> a = lock_->TryAcquire("job", milliseconds(10'000));
  ASSERT_TRUE(a.ok() && a->has_value()) << a.status().ToString();
  EXPECT_FALSE(lock_->TryAcquire("job", milliseconds(10'000))->has_value());
  ASSERT_TRUE(lock_->Extend(**a, milliseconds(10'000)).ok());
  ASSERT_TRUE(lock_->Release(**a).ok());
  Result<std::optional<Lease>> b = lock_->TryAcquire("job", milliseconds(10'000));
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_GT((*b)->fencing_token, (*a)->fencing_token);
  ASSERT_TRUE(lock_->Release(**b).ok());
}

// Two of five down: still a majority. Three down: kUnavailable. Restarted
// servers come back empty, yet fencing tokens keep growing.
TEST_F(RedlockTest, ToleratesAMinorityAndRestarts) {
  uint64_t last = 0;
  auto grant = [&] {
    Result<std::optional<Lease>> lease = lock_->TryAcquire("r", milliseconds(10'000));
    EXPECT_TRUE(lease.ok() && lease->has_value()) << lease.status().ToString();
    if (!lease.ok() || !lease->has_value()) return;
    EXPECT_GT((*lease)->fencing_token, last);
    last = (*lease)->fencing_token;
    EXPECT_TRUE(lock_->Release(**lease).ok());
  };
  grant();
  Stop(0);
  Stop(1);
  grant();
  grant();
  Stop(2);
  Result<std::optional<Lease>> none = lock_->TryAcquire("r", milliseconds(10'000));
  EXPECT_EQ(none.status().code(), StatusCode::kUnavailable) << none.status().ToString();
  Restart(0);
  Restart(1);
  Restart(2);
  // The restarted three form a majority of empty servers only with one of the
  // two survivors, whose raised counter keeps the token growing.
  for (int i = 0; i < 5; ++i) grant();
}

TEST_F(RedlockTest, ContendedGrantsNeverOverlap) {
  constexpr int kThreads = 4;
  constexpr int kTotal = 600;
  std::atomic<int> granted{0}, holders{0}, overlaps{0};
  std::atomic<uint64_t> last{0};
  std::atomic<int> regressions{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (granted.load() < kTotal) {
        Result<std::optional<Lease>> lease = lock_->TryAcquire("hot", milliseconds(30'000));
        ASSERT_TRUE(lease.ok()) << lease.status().ToString();
        if (!lease->has_value()) continue;
        if (holders.fetch_add(1) != 0) overlaps.fetch_add(1);
        if ((*lease)->fencing_token <= last.load()) regressions.fetch_add(1);
        last.store((*lease)->fencing_token);
        granted.fetch_add(1);
        holders.fetch_sub(1);
        ASSERT_TRUE(lock_->Release(**lease).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(regressions.load(), 0);
}

TEST(Redlock, BadOptions) {
  EXPECT_EQ(CreateRedlock({}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateRedlock({.uris = {"http://x"}}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice::redis

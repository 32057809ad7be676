// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Acknowledged decisions survive a crash: a worker process decides in
// every-write mode and reports each acknowledged decision; the test kills it
// with SIGKILL at a random point (after a random number of acknowledgements,
// zero included, so also while it opens), reopens the store and checks that
// every key holds at least the decisions acknowledged for it, and at most one
// more per worker thread (decisions in flight). Cycles accumulate on one
// database. SLUICE_TEST_ROCKSDB_CRASH_CYCLES sets the cycle count (CTest: 20).

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <string>

#include "rocksdb_test_util.h"
#include "sluice/backends/rocksdb.h"

namespace sluice::rocksdb {
namespace {

constexpr int kThreads = 4;
constexpr int kKeys = 16;

struct Worker {
  pid_t pid = -1;
  int out = -1;  // read end of the worker's stdout
};

Worker Spawn(const std::string& binary, const std::string& path) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  const std::string threads = std::to_string(kThreads), keys = std::to_string(kKeys);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(binary.c_str(), binary.c_str(), path.c_str(), threads.c_str(), keys.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

TEST(RocksDbCrashTest, NoAcknowledgedDecisionIsLost) {
  const char* binary = std::getenv("SLUICE_TEST_ROCKSDB_CRASH_WORKER");
  if (binary == nullptr || *binary == '\0') GTEST_SKIP() << "SLUICE_TEST_ROCKSDB_CRASH_WORKER is not set";
  const char* cycles_env = std::getenv("SLUICE_TEST_ROCKSDB_CRASH_CYCLES");
  const int cycles = cycles_env != nullptr ? std::max(1, std::atoi(cycles_env)) : 20;
  const std::string path = testing_util::NewTestPath("crash");
  const Policy policy = Policy::FixedWindow(1'000'000'000'000, std::chrono::hours(24 * 365 * 50));
  std::map<std::string, int64_t> acked;
  std::mt19937_64 rng(20261201);
  int64_t total_acked = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    // Kill after this many acknowledgements (0: right after the start).
    const int kill_after = static_cast<int>(rng() % 400);
    Worker w = Spawn(binary, path);
    ASSERT_GT(w.pid, 0);
    std::string pending;
    int seen = 0;
    char buf[4096];
    bool killed = false;
    while (!killed) {
      if (seen >= kill_after) {
        kill(w.pid, SIGKILL);
        killed = true;
        break;
      }
      pollfd p{w.out, POLLIN, 0};
      const int ready = poll(&p, 1, 30'000);
      ASSERT_GT(ready, 0) << "cycle " << cycle << ": the worker sent nothing for 30 s";
      const ssize_t n = read(w.out, buf, sizeof(buf));
      if (n <= 0) break;  // the worker died by itself
      pending.append(buf, static_cast<size_t>(n));
      for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
        ++acked[pending.substr(0, nl)];
        ++seen;
        pending.erase(0, nl + 1);
      }
    }
    // Acknowledgements already in the pipe were made before the kill.
    for (ssize_t n; (n = read(w.out, buf, sizeof(buf))) > 0;) pending.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      ++acked[pending.substr(0, nl)];
      pending.erase(0, nl + 1);
    }
    close(w.out);
    int status = 0;
    ASSERT_EQ(waitpid(w.pid, &status, 0), w.pid);
    ASSERT_TRUE(killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "cycle " << cycle << ": the worker exited by itself (status " << status << ")";
    // Reopen and compare.
    auto store = CreateRocksDbStore({.path = path, .sync = SyncMode::kEveryWrite});
    ASSERT_TRUE(store.ok()) << "cycle " << cycle << ": " << store.status().ToString();
    total_acked = 0;
    for (int k = 0; k < kKeys; ++k) {
      const std::string key = "crash:" + std::to_string(k);
      Result<std::optional<Record>> r = (*store)->Get(key);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      const int64_t on_disk =
          r->has_value() ? std::get<FixedWindowState>(std::get<LimiterRecord>((**r).value).state).count : 0;
      const int64_t want = acked[key];
      total_acked += want;
      ASSERT_GE(on_disk, want) << "cycle " << cycle << " key " << key << ": acknowledged decisions were lost";
      ASSERT_LE(on_disk, want + kThreads) << "cycle " << cycle << " key " << key;
      // Carry what is on disk forward (unacknowledged decisions that landed count too).
      acked[key] = on_disk;
    }
    EXPECT_EQ((*store)->Decide(DecideRequest{"crash:0", &policy, 0, Operation::kPeek}).status().code(),
              StatusCode::kOk);
  }
  EXPECT_GT(total_acked, 0);
  RecordProperty("cycles", cycles);
}

}  // namespace
}  // namespace sluice::rocksdb

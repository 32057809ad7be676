// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RELIABILITY F1: a lock holder is paused (SIGSTOP) past its lease; another
// process takes the lock and writes; when the paused holder resumes, its late
// write is rejected by the fencing token.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sluice/backends/redis.h"

namespace sluice::redis {
namespace {

struct Child {
  pid_t pid = -1;
  FILE* in = nullptr;   // the child's stdin
  FILE* out = nullptr;  // the child's stdout
};

Child Spawn(const std::vector<std::string>& argv) {
  // Everything the child needs is prepared before fork(): this process has
  // threads, so the child may only make async-signal-safe calls until exec.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    close(to_child[1]);
    close(from_child[0]);
    execv(args[0], args.data());
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  return {pid, fdopen(to_child[1], "w"), fdopen(from_child[0], "r")};
}

std::string ReadLine(FILE* f) {
  char buf[256];
  if (std::fgets(buf, sizeof(buf), f) == nullptr) return "";
  std::string s(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

TEST(RedisLockProcess, PausedHolderIsFencedOff) {
  const char* dir = std::getenv("SLUICE_TEST_REDIS_DIR");
  const char* worker = std::getenv("SLUICE_TEST_LOCK_HOLDER_WORKER");
  if (dir == nullptr || worker == nullptr) GTEST_SKIP() << "run through ctest -L redis";
  const std::string uri = std::string("unix://") + dir + "/redis.sock";
  auto lock = CreateRedisLock({.uri = uri, .key_prefix = "lock-process:"});
  auto store = CreateRedisStore({.uri = uri, .key_prefix = "lock-process:"});
  ASSERT_TRUE(lock.ok() && store.ok());
  ASSERT_TRUE((*store)->Delete("resource-data").ok());

  Child holder = Spawn({worker, uri, "paused-job", "200", "resource-data"});
  ASSERT_GT(holder.pid, 0);
  const std::string token_line = ReadLine(holder.out);
  ASSERT_FALSE(token_line.empty()) << "the holder did not get the lock";
  const uint64_t paused_token = std::stoull(token_line);
  ASSERT_EQ(kill(holder.pid, SIGSTOP), 0);

  // The lease lapses on the server while the holder is stopped; this process
  // gets the lock (waiting on the lock itself, not on a timer) and writes.
  Result<Lease> lease =
      (*lock)->Acquire("paused-job", std::chrono::milliseconds(30'000), std::chrono::seconds(10));
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  ASSERT_GT(lease->fencing_token, paused_token);
  ASSERT_TRUE((*store)
                  ->AtomicUpdate("resource-data",
                                 [](const Record*) { return Update::Put(std::string("current")); },
                                 {.fencing_token = lease->fencing_token})
                  .ok());

  ASSERT_EQ(kill(holder.pid, SIGCONT), 0);
  std::fputs("write\n", holder.in);
  std::fflush(holder.in);
  EXPECT_EQ(ReadLine(holder.out), "FailedPrecondition");
  int status = 0;
  waitpid(holder.pid, &status, 0);
  std::fclose(holder.in);
  std::fclose(holder.out);
  Result<std::optional<Record>> data = (*store)->Get("resource-data");
  ASSERT_TRUE(data.ok() && data->has_value());
  EXPECT_EQ(std::get<std::string>((*data)->value), "current");
  EXPECT_TRUE((*lock)->Release(*lease).ok());
}

}  // namespace
}  // namespace sluice::redis

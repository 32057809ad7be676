// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// OwnServer: a throwaway redis-server that one test starts, pauses
// (SIGSTOP), resumes and stops, through the fixtures' script
// (SLUICE_TEST_REDIS_SCRIPT; tests skip without it). It listens on a Unix
// socket in its own directory, so stopping or pausing it never disturbs the
// shared fixture servers. The destructor resumes and stops it, whatever the
// test did.
//
// Test-only. Not thread-safe: one test thread drives it.

#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace sluice::redis::testing {

class OwnServer {
 public:
  // `name` tells apart the servers of one process.
  explicit OwnServer(std::string script, const std::string& name = "outage")
      : script_(std::move(script)), dir_("/tmp/sluice-" + name + "-" + std::to_string(getpid())) {}
  ~OwnServer() {
    Resume();
    Run("stop");
  }
  OwnServer(const OwnServer&) = delete;
  OwnServer& operator=(const OwnServer&) = delete;

  // `action`: "start" or "stop". False if the script failed.
  bool Run(const std::string& action) {
    const std::string cmd = "bash '" + script_ + "' " + action + " '" + dir_ + "' >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
  }
  // SIGSTOP: the server keeps its connections and accepts new ones (the
  // kernel does), but answers nothing until Resume().
  void Pause() {
    pid_ = Pid();
    ASSERT_GT(pid_, 0);
    ASSERT_EQ(kill(pid_, SIGSTOP), 0);
  }
  void Resume() {
    if (pid_ > 0) kill(pid_, SIGCONT);
    pid_ = 0;
  }
  std::string socket_path() const { return dir_ + "/redis.sock"; }
  std::string uri() const { return "unix://" + socket_path(); }

 private:
  pid_t Pid() const {
    std::ifstream in(dir_ + "/redis.pid");
    pid_t pid = 0;
    in >> pid;
    return pid;
  }
  const std::string script_;
  const std::string dir_;
  pid_t pid_ = 0;
};

}  // namespace sluice::redis::testing

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A lock holder in its own process, for redis_lock_process_test.cc:
//   sluice_redis_lock_holder_worker URI RESOURCE TTL_MS KEY
// Acquires RESOURCE, prints its fencing token, waits for a line on stdin
// (the test pauses the process with SIGSTOP meanwhile), then writes KEY with
// its token and prints the outcome's status code name.

#include <cstdio>
#include <iostream>
#include <string>

#include "sluice/backends/redis.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s URI RESOURCE TTL_MS KEY\n", argv[0]);
    return 2;
  }
  const std::string uri = argv[1];
  auto lock = sluice::redis::CreateRedisLock({.uri = uri, .key_prefix = "lock-process:"});
  auto store = sluice::redis::CreateRedisStore({.uri = uri, .key_prefix = "lock-process:"});
  if (!lock.ok() || !store.ok()) return 1;
  auto lease =
      (*lock)->Acquire(argv[2], std::chrono::milliseconds(std::stoi(argv[3])), std::chrono::seconds(5));
  if (!lease.ok()) return 1;
  std::printf("%llu\n", static_cast<unsigned long long>(lease->fencing_token));
  std::fflush(stdout);
  std::string line;
  std::getline(std::cin, line);  // paused here by the test
  auto written = (*store)->AtomicUpdate(
      argv[4],
      [](const sluice::Record*) { return sluice::Update::Put(std::string("from the paused holder")); },
      {.fencing_token = lease->fencing_token});
  std::printf("%s\n", std::string(sluice::StatusCodeName(written.status().code())).c_str());
  return 0;
}

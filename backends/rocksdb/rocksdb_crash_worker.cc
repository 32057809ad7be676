// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The process the RocksDB crash test kills. Usage:
//   sluice_rocksdb_crash_worker <path> <threads> <keys>
// Opens a RocksDbStore at <path> in every-write mode and, from <threads>
// threads, consumes one unit at a time from keys "crash:<n>" (n < <keys>)
// under a fixed window that never fills or ends during the test. After each
// decision is acknowledged (OK and allowed), writes the key and a newline to
// stdout with one write(2), so an acknowledgement the parent reads was
// made after the store returned. Runs until killed; exits 2 on any error.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "sluice/backends/rocksdb.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <path> <threads> <keys>\n", argv[0]);
    return 2;
  }
  const int threads = std::atoi(argv[2]);
  const int keys = std::atoi(argv[3]);
  auto store =
      sluice::rocksdb::CreateRocksDbStore({.path = argv[1], .sync = sluice::rocksdb::SyncMode::kEveryWrite});
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 2;
  }
  const sluice::Policy policy =
      sluice::Policy::FixedWindow(1'000'000'000'000, std::chrono::hours(24 * 365 * 50));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (uint64_t i = static_cast<uint64_t>(t);; i += static_cast<uint64_t>(threads)) {
        const std::string key = "crash:" + std::to_string(i % static_cast<uint64_t>(keys));
        sluice::Result<sluice::Decision> d = (*store)->Decide(key, policy);
        if (!d.ok() || !d->allowed) {
          std::fprintf(stderr, "decide %s: %s\n", key.c_str(),
                       d.ok() ? "denied" : d.status().ToString().c_str());
          std::_Exit(2);
        }
        const std::string line = key + "\n";
        if (write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
          std::_Exit(2);
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RocksDbStore decisions per second beside a plain RocksDB loop, in one run on
// one machine:
//   BM_RocksDbStoreDecide/<mode>/threads:N  RocksDbStore::Decide (token bucket,
//                                           consume 1) in sync mode none,
//                                           every_write or periodic (100 ms),
//                                           with 1, 2 and 32 caller threads;
//   BM_PlainGetPut/<sync>/threads:N         the same work done by hand on a plain
//                                           RocksDB database with default options:
//                                           Get a counter, Put it back plus one
//                                           (sync 0: WriteOptions default; sync 1:
//                                           WriteOptions::sync, the every-write peer);
//   BM_Fsync                                one 100-byte append plus fdatasync in
//                                           the same directory (what every-write
//                                           group commit amortises).
// Each thread works on its own 4096 keys, round robin. items_per_second is the
// total over all threads in wall-clock time. Databases live under $TMPDIR
// (default /tmp) and are removed afterwards.

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "sluice/backends/rocksdb.h"

namespace {

constexpr int kKeysPerThread = 4096;

std::string TempDir(const char* name) {
  const char* tmp = getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + name + "-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) abort();
  return pattern;
}

std::vector<std::string> ThreadKeys(int thread) {
  std::vector<std::string> keys;
  for (int i = 0; i < kKeysPerThread; ++i)
    keys.push_back("t" + std::to_string(thread) + ":" + std::to_string(i));
  return keys;
}

// Shared between the threads of one benchmark run; set up by thread 0 before
// the timed loop (the loop starts with a barrier).
std::unique_ptr<sluice::rocksdb::RocksDbStore> g_store;
std::string g_dir;

void BM_RocksDbStoreDecide(benchmark::State& state) {
  const auto mode = static_cast<sluice::rocksdb::SyncMode>(state.range(0));
  if (state.thread_index() == 0) {
    g_dir = TempDir("sluice-bench-store");
    auto made = sluice::rocksdb::CreateRocksDbStore({.path = g_dir + "/db", .sync = mode});
    if (!made.ok()) {
      state.SkipWithError(made.status().ToString().c_str());
    } else {
      g_store = std::move(*made);
    }
  }
  const sluice::Policy policy =
      sluice::Policy::TokenBucket(1'000'000'000, 1'000'000'000, std::chrono::seconds(1));
  const std::vector<std::string> keys = ThreadKeys(state.thread_index());
  size_t i = 0;
  int64_t denied = 0;
  for (auto _ : state) {
    sluice::Result<sluice::Decision> d = g_store->Decide(keys[i++ % keys.size()], policy);
    if (!d.ok()) {
      state.SkipWithError(d.status().ToString().c_str());
      break;
    }
    denied += d->allowed ? 0 : 1;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["denied"] = static_cast<double>(denied);
  if (state.thread_index() == 0) {
    state.SetLabel(std::string(sluice::rocksdb::SyncModeName(mode)));
    g_store.reset();
    std::filesystem::remove_all(g_dir);
  }
}
BENCHMARK(BM_RocksDbStoreDecide)
    ->ArgName("mode")
    ->Arg(static_cast<int>(sluice::rocksdb::SyncMode::kNone))
    ->Arg(static_cast<int>(sluice::rocksdb::SyncMode::kEveryWrite))
    ->Arg(static_cast<int>(sluice::rocksdb::SyncMode::kPeriodic))
    ->Threads(1)
    ->Threads(2)
    ->Threads(32)
    ->UseRealTime()
    ->MinTime(1.0);

std::unique_ptr<rocksdb::DB> g_plain;

void BM_PlainGetPut(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_dir = TempDir("sluice-bench-plain");
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(o, g_dir, &raw);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    g_plain.reset(raw);
  }
  rocksdb::WriteOptions wo;
  wo.sync = state.range(0) != 0;
  const std::vector<std::string> keys = ThreadKeys(state.thread_index());
  size_t i = 0;
  std::string value;
  for (auto _ : state) {
    const std::string& key = keys[i++ % keys.size()];
    uint64_t n = 0;
    if (g_plain->Get(rocksdb::ReadOptions(), key, &value).ok() && value.size() == sizeof(n)) {
      std::memcpy(&n, value.data(), sizeof(n));
    }
    ++n;
    rocksdb::Status s = g_plain->Put(wo, key, rocksdb::Slice(reinterpret_cast<const char*>(&n), sizeof(n)));
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    g_plain.reset();
    std::filesystem::remove_all(g_dir);
  }
}
BENCHMARK(BM_PlainGetPut)
    ->ArgName("sync")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(2)
    ->Threads(32)
    ->UseRealTime()
    ->MinTime(1.0);

void BM_Fsync(benchmark::State& state) {
  const std::string dir = TempDir("sluice-bench-fsync");
  const int fd = open((dir + "/f").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const std::string line(100, 'x');
  for (auto _ : state) {
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()) || fdatasync(fd) != 0) {
      state.SkipWithError("write or fdatasync failed");
      break;
    }
  }
  close(fd);
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Fsync)->UseRealTime()->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();

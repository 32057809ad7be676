// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Checkpoint and restore of N token-bucket keys held in a MemoryStore, into a
// directory on the real file system (under the working directory, so on disk
// rather than tmpfs): the whole CreateCheckpoint() (scan, encode, write,
// fsync, rename, directory fsync, manifest) and the whole RestoreLatest()
// (read, verify, decode, Put into an empty store). Counters: bytes on disk and
// entries. With sluice::zstd built, the *Zstd variants compress.

#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "sluice/checkpoint.h"
#include "sluice/memory_store.h"
#ifdef SLUICE_BENCH_WITH_ZSTD
#include "sluice/zstd.h"
#endif

namespace {

// One store per key count, filled once: each key consumed 1..5 tokens of a
// bucket of 100 refilled over a day (so no key expires while the benchmarks
// run), at the real clock (so timestamps differ per key).
std::shared_ptr<sluice::Store> FilledStore(int64_t n) {
  static std::map<int64_t, std::shared_ptr<sluice::Store>> stores;
  auto& store = stores[n];
  if (store == nullptr) {
    store = std::move(*sluice::MemoryStore::Create({.sweep_interval = std::chrono::nanoseconds(0)}));
    const sluice::Policy policy = sluice::Policy::TokenBucket(100, 100, std::chrono::hours(24));
    for (int64_t i = 0; i < n; ++i) {
      if (!store->Decide("user:" + std::to_string(i), policy, 1 + i % 5).ok()) std::abort();
    }
  }
  return store;
}

std::string TempDir() {
  std::string tmpl = "./sluice_checkpoint_bench_XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

void RemoveTree(const std::string& dir) {
  sluice::FileSystem& fs = sluice::FileSystem::Default();
  auto names = fs.ListDirectory(dir);
  if (names.ok()) {
    for (const auto& name : *names) fs.Remove(sluice::JoinPath(dir, name)).IgnoreError();  // cleanup
  }
  fs.Remove(dir).IgnoreError();  // cleanup
}

std::shared_ptr<const sluice::Compression> Compression(bool zstd) {
#ifdef SLUICE_BENCH_WITH_ZSTD
  if (zstd) return std::move(*sluice::zstd::Create({}));
#endif
  (void)zstd;
  return nullptr;
}

sluice::CheckpointOptions Options(const std::string& dir, bool zstd) {
  sluice::CheckpointOptions options;
  options.directory = dir;
  options.interval = std::chrono::nanoseconds(0);
  options.retain = 1;
  options.compression = Compression(zstd);
  options.observer.logger = &sluice::Logger::Null();
  return options;
}

void Checkpoint(benchmark::State& state, bool zstd) {
  auto store = FilledStore(state.range(0));
  const std::string dir = TempDir();
  auto coordinator = sluice::CheckpointCoordinator::Create(store, Options(dir, zstd));
  if (!coordinator.ok()) {
    state.SkipWithError(coordinator.status().ToString().c_str());
    return;
  }
  sluice::CheckpointInfo info;
  for (auto _ : state) {
    auto r = (*coordinator)->CreateCheckpoint();
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
    info = *r;
  }
  state.counters["bytes_on_disk"] = static_cast<double>(info.size_bytes);
  state.counters["entries"] = static_cast<double>(info.entries);
  coordinator->reset();
  RemoveTree(dir);
}

void Restore(benchmark::State& state, bool zstd) {
  auto source = FilledStore(state.range(0));
  const std::string dir = TempDir();
  uint64_t bytes = 0;
  {
    auto writer = sluice::CheckpointCoordinator::Create(source, Options(dir, zstd));
    auto info = writer.ok() ? (*writer)->CreateCheckpoint() : sluice::Result<sluice::CheckpointInfo>(writer.status());
    if (!info.ok()) {
      state.SkipWithError(info.status().ToString().c_str());
      return;
    }
    bytes = info->size_bytes;
  }
  uint64_t restored = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::shared_ptr<sluice::Store> target =
        std::move(*sluice::MemoryStore::Create({.sweep_interval = std::chrono::nanoseconds(0)}));
    auto reader = sluice::CheckpointCoordinator::Create(target, Options(dir, zstd));
    state.ResumeTiming();
    auto report = (*reader)->RestoreLatest();
    if (!report.ok()) {
      state.SkipWithError(report.status().ToString().c_str());
      break;
    }
    restored = report->restored;
    state.PauseTiming();
    reader->reset();
    target.reset();
    state.ResumeTiming();
  }
  state.counters["bytes_on_disk"] = static_cast<double>(bytes);
  state.counters["entries"] = static_cast<double>(restored);
  RemoveTree(dir);
}

void BM_Checkpoint(benchmark::State& state) { Checkpoint(state, false); }
void BM_Restore(benchmark::State& state) { Restore(state, false); }
BENCHMARK(BM_Checkpoint)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Restore)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond)->UseRealTime();

#ifdef SLUICE_BENCH_WITH_ZSTD
void BM_CheckpointZstd(benchmark::State& state) { Checkpoint(state, true); }
void BM_RestoreZstd(benchmark::State& state) { Restore(state, true); }
BENCHMARK(BM_CheckpointZstd)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_RestoreZstd)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif

}  // namespace

BENCHMARK_MAIN();

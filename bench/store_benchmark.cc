// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// MemoryStore::Decide (consume 1) for each of the five algorithms:
//   BM_HotKey/<algo>/<clock>/threads:N   one key, 1 and 2 threads, with the real
//                                        clock and with a CachedClock (1 ms);
//   BM_RandomKeys/<algo>/<keys>          100k or 1M prefilled keys, picked
//                                        uniformly at random, one thread;
//   BM_KeyPick/<keys>                    the random pick alone (harness cost);
//   BM_MemoryPerKey/token_bucket/1000000 fills 1M token-bucket keys; counters
//                                        bytes_per_key (Stats().memory_bytes)
//                                        and rss_bytes_per_key (/proc/self/statm).
// Every decision reports through the `allowed` counter (admitted fraction):
// the policies are fixed, so a hot key spends most calls on the deny path.
// Stores run with sweep_interval = 0 (no sweeper thread). Keys are built before
// the timed loops; Decide takes a string_view, so the loops allocate nothing.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "sluice/algorithms.h"
#include "sluice/clock.h"
#include "sluice/memory_store.h"
#include "sluice/store.h"

namespace {

using namespace std::chrono_literals;

struct AlgoCase {
  const char* name;
  sluice::Policy policy;
};

// The sliding log keeps one entry per admitted request inside its window, so
// it gets a small limit and a short window to keep each log small.
const std::array<AlgoCase, 5>& Algos() {
  static const std::array<AlgoCase, 5> algos = {{
      {"token_bucket", sluice::Policy::TokenBucket(1'000'000, 1'000'000, 1s)},
      {"gcra", sluice::Policy::Gcra(1'000'000, 1'000'000, 1s)},
      {"fixed_window", sluice::Policy::FixedWindow(1'000'000'000, 1min)},
      {"sliding_window_log", sluice::Policy::SlidingWindowLog(100, 1ms)},
      {"sliding_window_counter", sluice::Policy::SlidingWindowCounter(1'000'000'000, 1min)},
  }};
  return algos;
}

std::unique_ptr<sluice::MemoryStore> NewStore(sluice::Clock* clock = nullptr) {
  sluice::MemoryStoreOptions options;
  options.clock = clock;  // nullptr: Clock::Real()
  options.sweep_interval = std::chrono::nanoseconds(0);
  auto store = sluice::MemoryStore::Create(options);
  if (!store.ok()) {
    std::fprintf(stderr, "MemoryStore::Create: %s\n", store.status().ToString().c_str());
    std::abort();
  }
  return std::move(store).value();
}

sluice::CachedClock& AmortisedClock() {
  static sluice::CachedClock clock(1ms);
  return clock;
}

constexpr size_t kMaxKeys = 1'000'000;

// "user:1000000" ... "user:1999999": 12 bytes, as short user ids are.
const std::vector<std::string>& Keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    k.reserve(kMaxKeys);
    for (size_t i = 0; i < kMaxKeys; ++i) k.push_back("user:" + std::to_string(kMaxKeys + i));
    return k;
  }();
  return keys;
}

uint64_t XorShift(uint64_t& x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

// A uniform index below n (n < 2^32) without a division (Lemire's multiply-shift).
size_t Below(uint64_t random, size_t n) { return static_cast<size_t>(((random >> 32) * n) >> 32); }

// Picks the key of the next iteration and prefetches it. The key vector (32 MB
// for 1M keys) is the harness's, not the store's: a server has the key it
// decides on in cache, just parsed. Without this, fetching the key would add one
// dependent cache miss (about 140 ns here) before the store even hashes it.
size_t PickAhead(const std::vector<std::string>& keys, uint64_t& rng, size_t n) {
  const size_t i = Below(XorShift(rng), n);
  __builtin_prefetch(&keys[i]);  // short keys live inside the std::string (SSO)
  return i;
}

int64_t RssBytes() {
  long pages_total = 0;
  long pages_resident = 0;
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  const int n = std::fscanf(f, "%ld %ld", &pages_total, &pages_resident);
  std::fclose(f);
  if (n != 2) return -1;
  return static_cast<int64_t>(pages_resident) * sysconf(_SC_PAGESIZE);
}

// Gives freed heap back to the system so that an RSS delta measures new memory.
void TrimHeap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

void SetAllowedCounter(benchmark::State& state, int64_t allowed) {
  state.counters["allowed"] = benchmark::Counter(static_cast<double>(allowed), benchmark::Counter::kAvgIterations);
}

// --- one hot key ---------------------------------------------------------------

// The store of the current run, shared by its threads. Thread 0 creates it
// before the timed loop and drops it after; the loop's start and end are
// barriers across the run's threads.
std::unique_ptr<sluice::MemoryStore> hot_store;

void BM_HotKey(benchmark::State& state, const sluice::Policy& policy, bool cached_clock) {
  if (state.thread_index() == 0) hot_store = NewStore(cached_clock ? &AmortisedClock() : nullptr);
  constexpr std::string_view kKey = "user:1000042";
  int64_t allowed = 0;
  for (auto _ : state) {
    sluice::Result<sluice::Decision> d = hot_store->Decide(kKey, policy);
    if (!d.ok()) {
      state.SkipWithError(d.status().ToString().c_str());
      break;
    }
    allowed += d->allowed ? 1 : 0;
  }
  SetAllowedCounter(state, allowed);
  if (state.thread_index() == 0) hot_store.reset();
}

// --- uniformly random keys -------------------------------------------------------

// Prefilling a million keys takes a while, and the library calls a benchmark
// function several times (to size the iteration count, and per repetition): keep
// the prefilled store of the current (algorithm, keys) case between calls.
struct RandomKeysFixture {
  std::optional<sluice::Policy> policy;
  size_t keys = 0;
  std::unique_ptr<sluice::MemoryStore> store;
};
RandomKeysFixture random_fixture;

void BM_RandomKeys(benchmark::State& state, const sluice::Policy& policy, size_t n) {
  const std::vector<std::string>& keys = Keys();
  if (random_fixture.policy != policy || random_fixture.keys != n) {
    random_fixture.store.reset();
    random_fixture.store = NewStore();
    random_fixture.policy = policy;
    random_fixture.keys = n;
    for (size_t i = 0; i < n; ++i) {
      if (!random_fixture.store->Decide(keys[i], policy).ok()) std::abort();
    }
  }
  sluice::Store& store = *random_fixture.store;
  uint64_t rng = 0x9E3779B97F4A7C15ULL;
  size_t next = Below(XorShift(rng), n);
  int64_t allowed = 0;
  for (auto _ : state) {
    const std::string& key = keys[next];
    next = PickAhead(keys, rng, n);
    sluice::Result<sluice::Decision> d = store.Decide(key, policy);
    if (!d.ok()) {
      state.SkipWithError(d.status().ToString().c_str());
      break;
    }
    allowed += d->allowed ? 1 : 0;
  }
  SetAllowedCounter(state, allowed);
  state.counters["keys"] = static_cast<double>(store.Stats().keys);
}

// The harness alone: pick keys as BM_RandomKeys does and read each one's last byte.
void BM_KeyPick(benchmark::State& state, size_t n) {
  const std::vector<std::string>& keys = Keys();
  uint64_t rng = 0x9E3779B97F4A7C15ULL;
  size_t next = Below(XorShift(rng), n);
  for (auto _ : state) {
    const std::string& key = keys[next];
    next = PickAhead(keys, rng, n);
    benchmark::DoNotOptimize(key.data()[key.size() - 1]);
  }
}

// --- memory per key ------------------------------------------------------------

// Time is the fill (1M first decisions, i.e. inserts); the counters are the point.
void BM_MemoryPerKey(benchmark::State& state, const sluice::Policy& policy, size_t n) {
  random_fixture = RandomKeysFixture{};  // nothing else held while measuring
  const std::vector<std::string>& keys = Keys();
  double bytes_per_key = 0;
  double rss_per_key = 0;
  double live_keys = 0;
  for (auto _ : state) {
    state.PauseTiming();
    TrimHeap();
    const int64_t rss_before = RssBytes();
    state.ResumeTiming();

    std::unique_ptr<sluice::MemoryStore> store = NewStore();
    for (size_t i = 0; i < n; ++i) {
      if (!store->Decide(keys[i], policy).ok()) std::abort();
    }

    state.PauseTiming();
    const int64_t rss_after = RssBytes();
    const sluice::StoreStats stats = store->Stats();
    live_keys = static_cast<double>(stats.keys);
    bytes_per_key = static_cast<double>(stats.memory_bytes) / static_cast<double>(n);
    rss_per_key = static_cast<double>(rss_after - rss_before) / static_cast<double>(n);
    store.reset();
    state.ResumeTiming();
  }
  state.counters["bytes_per_key"] = bytes_per_key;
  state.counters["rss_bytes_per_key"] = rss_per_key;
  state.counters["keys"] = live_keys;
}

// --- statistics ------------------------------------------------------------------

// Stats() is what a metrics scrape calls every few seconds: its cost should
// follow the number of shards, not of keys (compare /0 with /1000000).
void BM_Stats(benchmark::State& state, size_t n) {
  std::unique_ptr<sluice::MemoryStore> store = NewStore();
  const std::vector<std::string>& keys = Keys();
  const sluice::Policy policy = Algos()[0].policy;
  for (size_t i = 0; i < n; ++i) {
    if (!store->Decide(keys[i], policy).ok()) std::abort();
  }
  for (auto _ : state) benchmark::DoNotOptimize(store->Stats());
  state.counters["keys"] = static_cast<double>(store->Stats().keys);
}

void RegisterAll() {
  for (const AlgoCase& algo : Algos()) {
    for (const bool cached : {false, true}) {
      const std::string name = std::string("BM_HotKey/") + algo.name + (cached ? "/cached_clock" : "/real_clock");
      benchmark::RegisterBenchmark(name.c_str(), BM_HotKey, algo.policy, cached)
          ->Threads(1)
          ->Threads(2)
          ->UseRealTime();
    }
  }
  for (const AlgoCase& algo : Algos()) {
    for (const size_t n : {size_t{100'000}, size_t{1'000'000}}) {
      const std::string name = std::string("BM_RandomKeys/") + algo.name + "/" + std::to_string(n);
      benchmark::RegisterBenchmark(name.c_str(), BM_RandomKeys, algo.policy, n);
    }
  }
  for (const size_t n : {size_t{100'000}, size_t{1'000'000}}) {
    benchmark::RegisterBenchmark(("BM_KeyPick/" + std::to_string(n)).c_str(), BM_KeyPick, n);
  }
  for (const size_t n : {size_t{0}, size_t{1'000'000}}) {
    benchmark::RegisterBenchmark(("BM_Stats/" + std::to_string(n)).c_str(), BM_Stats, n);
  }
  const AlgoCase& token_bucket = Algos()[0];
  benchmark::RegisterBenchmark("BM_MemoryPerKey/token_bucket/1000000", BM_MemoryPerKey, token_bucket.policy,
                               kMaxKeys)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

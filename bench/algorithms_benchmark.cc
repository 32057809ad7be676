// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The pure arithmetic: sluice::Evaluate(kConsume, cost 1) on one state, for
// each of the five algorithms. No store, no lock, no clock: time advances by a
// fixed step per call. Policies are sized so that every call is admitted (the
// `allowed` counter is the admitted fraction), so this is the allow path.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <optional>

#include "sluice/algorithms.h"

namespace {

using namespace std::chrono_literals;

constexpr int64_t kStartNs = 1'700'000'000'000'000'000;  // 2023-11-14, a plain epoch-aligned start
constexpr int64_t kStepNs = 2'000;                       // 2 us between calls

void BM_Evaluate(benchmark::State& state, const sluice::Policy& policy) {
  std::optional<sluice::LimiterState> limiter_state;
  int64_t now = kStartNs;
  int64_t allowed = 0;
  for (auto _ : state) {
    now += kStepNs;
    sluice::Result<sluice::Evaluation> ev =
        sluice::Evaluate(policy, limiter_state, sluice::Operation::kConsume, 1, now);
    if (!ev.ok()) {
      state.SkipWithError(ev.status().ToString().c_str());
      break;
    }
    allowed += ev->decision.allowed ? 1 : 0;
  }
  state.counters["allowed"] = benchmark::Counter(static_cast<double>(allowed), benchmark::Counter::kAvgIterations);
}

// Token bucket and GCRA refill 1 per us (2 per step); the windows admit 1e9 per
// minute; the log keeps at most 50 entries (100 us window / 2 us step) under
// its limit of 100.
BENCHMARK_CAPTURE(BM_Evaluate, token_bucket, sluice::Policy::TokenBucket(1'000'000, 1'000'000, 1s));
BENCHMARK_CAPTURE(BM_Evaluate, gcra, sluice::Policy::Gcra(1'000'000, 1'000'000, 1s));
BENCHMARK_CAPTURE(BM_Evaluate, fixed_window, sluice::Policy::FixedWindow(1'000'000'000, 1min));
BENCHMARK_CAPTURE(BM_Evaluate, sliding_window_log, sluice::Policy::SlidingWindowLog(100, 100us));
BENCHMARK_CAPTURE(BM_Evaluate, sliding_window_counter, sluice::Policy::SlidingWindowCounter(1'000'000'000, 1min));

}  // namespace

BENCHMARK_MAIN();

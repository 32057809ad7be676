// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// One process of the multi-process stress tests (redis_stress_test.cc):
//   sluice_redis_stress_worker URI ALGORITHM LIMIT KEY THREADS ATTEMPTS [WINDOW_MS]
// Decides ATTEMPTS times per thread on KEY and prints "admitted errors".
// Without WINDOW_MS, windows and refill periods are a century long, so every
// decision of the test falls in one window whatever the server's clock says.
// With WINDOW_MS (fixed_window only) the windows are that short, the worker
// decides for at least six of them, and it also prints, for each admitted
// decision, the index of its window on the server's clock (one per line),
// recovered from the decision itself, or -1 when the call took too long to
// tell.

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "sluice/backends/redis.h"
#include "sluice/clock.h"

int main(int argc, char** argv) {
  if (argc != 7 && argc != 8) {
    std::fprintf(stderr, "usage: %s URI ALGORITHM LIMIT KEY THREADS ATTEMPTS [WINDOW_MS]\n", argv[0]);
    return 2;
  }
  const std::string uri = argv[1];
  auto algorithm = sluice::ParseAlgorithm(argv[2]);
  const int64_t limit = std::stoll(argv[3]);
  const std::string key = argv[4];
  const int threads = std::stoi(argv[5]);
  const int attempts = std::stoi(argv[6]);
  const int64_t window_ms = argc == 8 ? std::stoll(argv[7]) : 0;
  if (!algorithm.ok() || (window_ms > 0 && *algorithm != sluice::Algorithm::kFixedWindow)) return 2;
  const auto century = std::chrono::hours(24 * 36525);
  sluice::Policy policy;
  switch (*algorithm) {
    // The whole burst comes back only after a century.
    case sluice::Algorithm::kTokenBucket:
      policy = sluice::Policy::TokenBucket(limit, 1, century);
      break;
    case sluice::Algorithm::kGcra:
      policy = sluice::Policy::Gcra(limit, limit, century);
      break;
    case sluice::Algorithm::kFixedWindow:
      policy = sluice::Policy::FixedWindow(limit, century);
      break;
    case sluice::Algorithm::kSlidingWindowLog:
      policy = sluice::Policy::SlidingWindowLog(limit, century);
      break;
    case sluice::Algorithm::kSlidingWindowCounter:
      policy = sluice::Policy::SlidingWindowCounter(limit, century);
      break;
  }
  if (window_ms > 0) policy = sluice::Policy::FixedWindow(limit, std::chrono::milliseconds(window_ms));
  auto store = sluice::redis::CreateRedisStore({.uri = uri, .key_prefix = "stress:"});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  std::atomic<int64_t> admitted{0}, errors{0};
  std::vector<std::vector<int64_t>> windows(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      // With windows, also keep going for six window lengths, so that a fast
      // machine still spans many windows.
      const int64_t run_until = sluice::Clock::Real().NowNanos() + 6 * window_ms * 1'000'000;
      for (int i = 0; i < attempts || (window_ms > 0 && sluice::Clock::Real().NowNanos() < run_until); ++i) {
        // Redis runs on this host, so its TIME lies between these two reads
        // of the same clock.
        const int64_t before = sluice::Clock::Real().NowNanos();
        auto d = (*store)->Decide(key, policy);
        const int64_t after = sluice::Clock::Real().NowNanos();
        if (!d.ok()) {
          errors.fetch_add(1);
          continue;
        }
        if (!d->allowed) continue;
        admitted.fetch_add(1);
        if (window_ms == 0) continue;
        // An admitted decision's reset_after runs to the end of its window,
        // an exact multiple of the window length on the server's clock, and
        // that end lies in [before, after] + reset_after. When exactly one
        // multiple fits, that window is it; a call so slow that two fit
        // (sanitizer builds) cannot be placed and is reported as -1.
        const int64_t w = window_ms * 1'000'000;
        const int64_t end = (before + d->reset_after.count() + w - 1) / w * w;
        const bool placed = end <= after + d->reset_after.count() && end + w > after + d->reset_after.count();
        windows[static_cast<size_t>(t)].push_back(placed ? end / w - 1 : -1);
      }
    });
  }
  for (auto& w : workers) w.join();
  std::printf("%lld %lld\n", static_cast<long long>(admitted.load()), static_cast<long long>(errors.load()));
  for (const auto& per_thread : windows) {
    for (int64_t index : per_thread) std::printf("%lld\n", static_cast<long long>(index));
  }
  return 0;
}

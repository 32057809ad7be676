// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// One process of the multi-process stress test (redis_stress_test.cc):
//   sluice_redis_stress_worker URI ALGORITHM LIMIT KEY THREADS ATTEMPTS
// Decides ATTEMPTS times per thread on KEY and prints "admitted errors".
// Windows and refill periods are a century long, so every decision of the
// test falls in one window whatever the server's clock says.

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "sluice/backends/redis.h"

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s URI ALGORITHM LIMIT KEY THREADS ATTEMPTS\n", argv[0]);
    return 2;
  }
  const std::string uri = argv[1];
  auto algorithm = sluice::ParseAlgorithm(argv[2]);
  const int64_t limit = std::stoll(argv[3]);
  const std::string key = argv[4];
  const int threads = std::stoi(argv[5]);
  const int attempts = std::stoi(argv[6]);
  if (!algorithm.ok()) return 2;
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
  auto store = sluice::redis::CreateRedisStore({.uri = uri, .key_prefix = "stress:"});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  std::atomic<int64_t> admitted{0}, errors{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < attempts; ++i) {
        auto d = (*store)->Decide(key, policy);
        if (!d.ok()) {
          errors.fetch_add(1);
        } else if (d->allowed) {
          admitted.fetch_add(1);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  std::printf("%lld %lld\n", static_cast<long long>(admitted.load()), static_cast<long long>(errors.load()));
  return 0;
}

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// sluice_redis_load: decisions per second and latency percentiles of a
// RedisStore under N concurrent callers in one process.
//
//   sluice_redis_load --uri redis://127.0.0.1:6379 --callers 50 --seconds 5
//                     [--keys 100000] [--algorithm token_bucket]
//
// Prints one JSON object: {"callers", "decisions", "seconds",
// "decisions_per_second", "p50_us", "p99_us", "errors"}.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sluice/backends/redis.h"

int main(int argc, char** argv) {
  std::string uri = "redis://127.0.0.1:6379";
  std::string algorithm = "token_bucket";
  int callers = 1;
  double seconds = 5;
  int keys = 100000;
  int max_batch = 64, in_flight = 4;
  bool functions = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--uri") uri = value;
    else if (flag == "--callers") callers = std::stoi(value);
    else if (flag == "--seconds") seconds = std::stod(value);
    else if (flag == "--keys") keys = std::stoi(value);
    else if (flag == "--algorithm") algorithm = value;
    else if (flag == "--max-batch") max_batch = std::stoi(value);
    else if (flag == "--in-flight") in_flight = std::stoi(value);
    else if (flag == "--functions") functions = value == "on";
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  auto store = sluice::redis::CreateRedisStore(
      {.uri = uri, .key_prefix = "bench:", .max_batch = max_batch, .max_batches_in_flight = in_flight,
       .use_functions = functions});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  auto parsed = sluice::ParseAlgorithm(algorithm);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", parsed.status().ToString().c_str());
    return 2;
  }
  sluice::Policy policy;
  switch (*parsed) {
    case sluice::Algorithm::kTokenBucket: policy = sluice::Policy::TokenBucket(1000, 100, std::chrono::seconds(1)); break;
    case sluice::Algorithm::kGcra: policy = sluice::Policy::Gcra(1000, 100, std::chrono::seconds(1)); break;
    case sluice::Algorithm::kFixedWindow: policy = sluice::Policy::FixedWindow(1000, std::chrono::seconds(1)); break;
    case sluice::Algorithm::kSlidingWindowLog: policy = sluice::Policy::SlidingWindowLog(100, std::chrono::seconds(1)); break;
    case sluice::Algorithm::kSlidingWindowCounter:
      policy = sluice::Policy::SlidingWindowCounter(1000, std::chrono::seconds(1));
      break;
  }
  std::atomic<bool> stop{false};
  std::atomic<int64_t> errors{0};
  std::vector<std::vector<int64_t>> latencies(callers);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937_64 rng(c + 1);
      latencies[c].reserve(1 << 16);
      while (!stop.load(std::memory_order_relaxed)) {
        const std::string key = "user:" + std::to_string(rng() % static_cast<uint64_t>(keys));
        const auto t0 = std::chrono::steady_clock::now();
        auto d = (*store)->Decide(key, policy);
        const auto t1 = std::chrono::steady_clock::now();
        if (!d.ok()) errors.fetch_add(1);
        latencies[c].push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<int64_t> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all.empty() ? 0.0 : static_cast<double>(all[static_cast<size_t>(p * static_cast<double>(all.size() - 1))]) / 1000.0; };
  std::printf(
      "{\"algorithm\": \"%s\", \"callers\": %d, \"decisions\": %zu, \"seconds\": %.2f, \"decisions_per_second\": %.0f, "
      "\"p50_us\": %.1f, \"p99_us\": %.1f, \"errors\": %lld}\n",
      algorithm.c_str(), callers, all.size(), elapsed, static_cast<double>(all.size()) / elapsed, pct(0.5), pct(0.99),
      static_cast<long long>(errors.load()));
  return errors.load() == 0 ? 0 : 1;
}

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RollingCounts: N counters summed over a rolling window of time, kept in
// `buckets` equal buckets of `bucket_ns` each. A bucket is reused (zeroed)
// when time reaches it again, so adding and summing cost O(buckets) at most
// and memory is fixed. Times are monotonic nanoseconds from the caller's
// injected clock. The retry budget and the circuit breaker both count with it.
//
// Internal: no API promise. Thread-compatible: the owner locks.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice::resilience {

template <size_t N>
class RollingCounts {
 public:
  using Counts = std::array<int64_t, N>;

  // REQUIRES: buckets >= 1, bucket_ns >= 1.
  RollingCounts(int buckets, int64_t bucket_ns) : bucket_ns_(bucket_ns), buckets_(static_cast<size_t>(buckets)) {}

  // Adds `deltas` to the bucket of `now_ns`.
  void Add(int64_t now_ns, const Counts& deltas) {
    const int64_t index = now_ns / bucket_ns_;
    Bucket& b = buckets_[static_cast<size_t>(index % static_cast<int64_t>(buckets_.size()))];
    if (b.index != index) b = Bucket{index, {}};
    for (size_t i = 0; i < N; ++i) b.counts[i] += deltas[i];
  }

  // The sums over the buckets of the window that ends with `now_ns`'s.
  Counts Sum(int64_t now_ns) const {
    const int64_t index = now_ns / bucket_ns_;
    const int64_t oldest = index - static_cast<int64_t>(buckets_.size()) + 1;
    Counts sum{};
    for (const Bucket& b : buckets_) {
      if (b.index < oldest || b.index > index) continue;
      for (size_t i = 0; i < N; ++i) sum[i] += b.counts[i];
    }
    return sum;
  }

  void Clear() {
    for (Bucket& b : buckets_) b = Bucket{};
  }

 private:
  struct Bucket {
    int64_t index = -1;
    Counts counts{};
  };

  const int64_t bucket_ns_;
  std::vector<Bucket> buckets_;
};

}  // namespace sluice::resilience

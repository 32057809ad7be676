// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "resilience/retry_budget.h"

#include <algorithm>

namespace sluice::resilience {

RetryBudget::RetryBudget(double ratio, int64_t min_per_second, std::chrono::nanoseconds window, Clock& clock)
    : ratio_(ratio),
      reserve_(static_cast<double>(min_per_second) * std::chrono::duration<double>(window).count()),
      bucket_ns_(std::max<int64_t>(1, window.count() / kBuckets)),
      clock_(clock),
      buckets_(kBuckets) {}

RetryBudget::Bucket& RetryBudget::Current(int64_t now_ns) {
  const int64_t index = now_ns / bucket_ns_;
  Bucket& b = buckets_[static_cast<size_t>(index % kBuckets)];
  if (b.index != index) b = Bucket{index, 0, 0};
  return b;
}

void RetryBudget::Sum(int64_t now_ns, int64_t& calls, int64_t& retries) const {
  const int64_t index = now_ns / bucket_ns_;
  calls = retries = 0;
  for (const Bucket& b : buckets_) {
    if (b.index > index - kBuckets && b.index <= index) {
      calls += b.calls;
      retries += b.retries;
    }
  }
}

void RetryBudget::RecordCall() {
  const int64_t now = clock_.MonotonicNow().time_since_epoch().count();
  std::lock_guard lock(mu_);
  ++Current(now).calls;
}

bool RetryBudget::TryRetry() {
  const int64_t now = clock_.MonotonicNow().time_since_epoch().count();
  std::lock_guard lock(mu_);
  int64_t calls = 0;
  int64_t retries = 0;
  Sum(now, calls, retries);
  if (static_cast<double>(retries) + 1.0 > ratio_ * static_cast<double>(calls) + reserve_) return false;
  ++Current(now).retries;
  return true;
}

int64_t RetryBudget::calls() {
  const int64_t now = clock_.MonotonicNow().time_since_epoch().count();
  std::lock_guard lock(mu_);
  int64_t calls = 0;
  int64_t retries = 0;
  Sum(now, calls, retries);
  return calls;
}

int64_t RetryBudget::retries() {
  const int64_t now = clock_.MonotonicNow().time_since_epoch().count();
  std::lock_guard lock(mu_);
  int64_t calls = 0;
  int64_t retries = 0;
  Sum(now, calls, retries);
  return retries;
}

}  // namespace sluice::resilience

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "resilience/retry_budget.h"

#include <algorithm>

namespace sluice::resilience {

RetryBudget::RetryBudget(double ratio, int64_t min_per_second, std::chrono::nanoseconds window, Clock& clock)
    : ratio_(ratio),
      reserve_(static_cast<double>(min_per_second) * std::chrono::duration<double>(window).count()),
      clock_(clock),
      window_(kBuckets, std::max<int64_t>(1, window.count() / kBuckets)) {}

int64_t RetryBudget::NowNanos() const { return clock_.MonotonicNow().time_since_epoch().count(); }

void RetryBudget::RecordCall() {
  const int64_t now = NowNanos();
  std::lock_guard lock(mu_);
  window_.Add(now, {1, 0});
}

bool RetryBudget::TryRetry() {
  const int64_t now = NowNanos();
  std::lock_guard lock(mu_);
  const auto [calls, retries] = window_.Sum(now);
  if (static_cast<double>(retries) + 1.0 > ratio_ * static_cast<double>(calls) + reserve_) return false;
  window_.Add(now, {0, 1});
  return true;
}

int64_t RetryBudget::calls() {
  const int64_t now = NowNanos();
  std::lock_guard lock(mu_);
  return window_.Sum(now)[0];
}

int64_t RetryBudget::retries() {
  const int64_t now = NowNanos();
  std::lock_guard lock(mu_);
  return window_.Sum(now)[1];
}

}  // namespace sluice::resilience

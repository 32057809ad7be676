// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/lock.h"

#include <algorithm>
#include <random>
#include <string>

namespace sluice {

Result<Lease> Lock::Acquire(std::string_view resource, std::chrono::milliseconds ttl,
                            std::chrono::milliseconds wait, Clock& clock) {
  const Clock::Monotonic deadline = clock.MonotonicNow() + wait;
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::chrono::microseconds backoff(200);
  for (;;) {
    SLUICE_ASSIGN_OR_RETURN(std::optional<Lease> lease, TryAcquire(resource, ttl));
    if (lease.has_value()) return std::move(*lease);
    const auto now = clock.MonotonicNow();
    if (now >= deadline) {
      return DeadlineExceededError("lock \"" + std::string(resource) + "\" still held after " +
                                   std::to_string(wait.count()) + "ms");
    }
    // Full jitter, so contenders do not retry in lockstep.
    const auto sleep = std::chrono::microseconds(rng() % static_cast<uint64_t>(backoff.count() + 1));
    clock.SleepFor(std::min<std::chrono::nanoseconds>(sleep, deadline - now));
    backoff = std::min(backoff * 2, std::chrono::microseconds(50'000));
  }
}

}  // namespace sluice

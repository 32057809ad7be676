// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// When a stored key counts as expired, and when a limiter state is fresh again.
// Every store asks these functions, so all of them agree, also at the edges of
// int64 time.
//
// An expiry is int64 nanoseconds since the Unix epoch, with two special values:
//   0          never expires (no TTL);
//   INT64_MAX  the end of time: instants computed past INT64_MAX are saturated
//              to it, so it means "not before the end of time" and never
//              passes, not even with the clock at exactly INT64_MAX.
// Any other expiry has passed once `now_ns` reaches it.
//
// A limiter state's expiry (Evaluation::expires_at_ns, sluice::ExpiresAt) is
// always an instant, 0 included (the epoch): IsFreshAt() says whether the state
// is as good as absent, so its key may be deleted. INT64_MAX never passes there
// either.
//
// Internal: no API promise. Pure; thread-safe.
//
// Example:
//   if (internal::IsExpired(entry.expires_at_ns, clock.NowNanos())) Remove(entry);

#pragma once

#include <cstdint>
#include <limits>

namespace sluice::internal {

// The expiry meaning "not before the end of time" (never passes).
inline constexpr int64_t kEndOfTimeNs = std::numeric_limits<int64_t>::max();

// True if a stored key with this expiry (0 = none) has expired at `now_ns`.
inline constexpr bool IsExpired(int64_t expires_at_ns, int64_t now_ns) {
  return expires_at_ns != 0 && expires_at_ns != kEndOfTimeNs && expires_at_ns <= now_ns;
}

// True if a limiter state that becomes fresh at `fresh_at_ns` (an instant, never
// "none") is fresh at `now_ns`.
inline constexpr bool IsFreshAt(int64_t fresh_at_ns, int64_t now_ns) {
  return fresh_at_ns != kEndOfTimeNs && fresh_at_ns <= now_ns;
}

}  // namespace sluice::internal

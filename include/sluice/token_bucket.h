// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// TokenBucket is a standalone, in-process token bucket for one resource (no
// key, no store): the object other libraries call "a rate limiter". It holds
// up to `capacity` tokens and refills continuously at `refill_amount` tokens
// per `refill_interval`; a request for n tokens is granted all or nothing.
// Refill is exact integer arithmetic (sluice::Evaluate with a token bucket
// Policy), so a bucket never drifts and its state serializes exactly.
//
// Its state can be saved and restored as JSON with the fields of the
// JavaScript TokenBucket it replaces (toJSON/fromJSON), for crash recovery,
// migration between processes, backups and monitoring:
//
//   {
//     "version": 1,                       // state format version; FromJson reads 1
//     "capacity": 1000,                   // integer
//     "tokens": 700,                      // whole tokens available at `timestamp`
//     "refillRate": 100,                  // tokens per second: an integer if exact,
//                                         // otherwise a decimal number (e.g. 0.5)
//     "lastRefill": 1704067200000,        // epoch milliseconds the state refers to
//     "timestamp": 1704067200000,         // epoch milliseconds of serialization
//     "metadata": {"serializedAt": "2024-01-01T00:00:00.000Z", "className": "TokenBucket"},
//     "refillAmount": 100,                // sluice extras, so that restores are exact:
//     "refillIntervalNs": 1000000000,     //   the rate as an integer ratio,
//     "remainder": 0,                     //   sub-token refill progress (one token =
//                                         //   refillIntervalNs units; each ns adds
//                                         //   refillAmount units),
//     "lastRefillNs": 1704067200000000000 //   and lastRefill in nanoseconds
//   }
//
// FromJson also accepts the JavaScript TokenBucket's own output, which lacks
// the extras: then refillRate is taken as the rate (a fractional rate to 6
// decimal places), fractional tokens are rounded down, and the refill progress
// starts at zero at lastRefill. Unknown members are ignored, as the JavaScript class does.
//
// Thread-safety: a TokenBucket is safe for concurrent use from many threads
// (one mutex). Moving from a bucket while another thread uses it is a bug.
//
// Errors: Create, FromJson and TryConsume return kInvalidArgument with a
// message naming the argument or field. Allow never fails: it returns false.
//
// Example:
//   SLUICE_ASSIGN_OR_RETURN(sluice::TokenBucket bucket, sluice::TokenBucket::Create(1000, 100));
//   if (!bucket.Allow(300)) return TooManyRequests();
//   WriteFile("limiter-state.json", bucket.ToJson(/*pretty=*/true));
//   ...
//   SLUICE_ASSIGN_OR_RETURN(sluice::TokenBucket restored,
//                           sluice::TokenBucket::FromJson(ReadFile("limiter-state.json")));
//   restored.Available();  // 700, plus whatever refilled since

#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/algorithms.h"
#include "sluice/clock.h"
#include "sluice/decision.h"
#include "sluice/result.h"
#include "sluice/visibility.h"

namespace sluice {

class SLUICE_EXPORT TokenBucket {
 public:
  // The state format version ToJson writes and FromJson reads.
  static constexpr int64_t kStateVersion = 1;

  // Creates a full bucket of `capacity` tokens refilling `refill_per_second`
  // tokens per second. `clock` must outlive the bucket. Default: Clock::Real().
  // Returns kInvalidArgument unless capacity > 0 and refill_per_second > 0
  // (each at most 10^15).
  static Result<TokenBucket> Create(int64_t capacity, int64_t refill_per_second, Clock* clock = nullptr);

  // Creates a full bucket refilling `refill_amount` tokens per `refill_interval`
  // (continuously: a bucket of 1 token per 3 s gains a third of a token per
  // second). Returns kInvalidArgument unless all three are positive and within
  // Policy::Validate's bounds.
  static Result<TokenBucket> Create(int64_t capacity, int64_t refill_amount, std::chrono::nanoseconds refill_interval,
                                    Clock* clock = nullptr);

  // Restores a bucket from ToJson's output or the JavaScript class's (see the file
  // comment). Validates before it builds anything: required fields (capacity,
  // tokens, refillRate, lastRefill), types, ranges (positive capacity and rate,
  // 0 <= tokens <= capacity, lastRefill not negative and not more than 5
  // minutes ahead of `clock`), version 1 if given, and className "TokenBucket"
  // if given. Returns kInvalidArgument naming the field, e.g.
  // "TokenBucket.tokens: 1200 exceeds capacity 1000" or
  // "unsupported TokenBucket state version 2; this build reads 1".
  static Result<TokenBucket> FromJson(std::string_view json, Clock* clock = nullptr);

  TokenBucket(TokenBucket&& other) noexcept;
  TokenBucket& operator=(TokenBucket&& other) noexcept;
  TokenBucket(const TokenBucket&) = delete;  // use Clone()
  TokenBucket& operator=(const TokenBucket&) = delete;
  ~TokenBucket() = default;

  // Takes `n` tokens if they are all available now; returns whether it did.
  // Returns false (and takes nothing) for n <= 0 or n > capacity.
  bool Allow(int64_t n = 1);

  // Like Allow, but returns the full Decision (remaining, retry_after,
  // reset_after). A denial is an OK result with allowed == false. Returns
  // kInvalidArgument for n <= 0, and for n > capacity (it could never be granted).
  Result<Decision> TryConsume(int64_t n = 1);

  // Returns the number of whole tokens available now. Changes nothing.
  int64_t Available() const;

  // Returns the state as of now in the JSON form above; compact unless `pretty`
  // (two-space indentation). Changes nothing.
  std::string ToJson(bool pretty = false) const;

  // Returns an independent copy with the same state and clock.
  TokenBucket Clone() const;

  int64_t capacity() const { return policy_.limit; }
  int64_t refill_amount() const { return policy_.refill_amount; }
  std::chrono::nanoseconds refill_interval() const { return policy_.interval; }
  // The token bucket Policy this bucket evaluates.
  const Policy& policy() const { return policy_; }

 private:
  TokenBucket(const Policy& policy, const TokenBucketState& state, Clock* clock)
      : policy_(policy), state_(state), clock_(clock) {}

  // The state refilled up to now. REQUIRES: mu_ held.
  TokenBucketState StateNowLocked(int64_t now_ns) const;

  Policy policy_;  // Immutable after construction (moves aside).
  mutable std::mutex mu_;
  std::optional<LimiterState> state_;  // Guarded by mu_; always a TokenBucketState.
  Clock* clock_ = nullptr;             // Not owned; never null.
};

}  // namespace sluice

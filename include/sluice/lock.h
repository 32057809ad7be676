// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A Lock grants leases on named resources for cold paths (import, migration,
// config replacement), never the decision hot path. A lease expires by itself
// after its TTL, so a lock alone cannot guarantee mutual exclusion (a holder
// may pause past its TTL): every lease carries a fencing token, a number that
// only grows per resource, and writes made under the lease carry it
// (UpdateOptions::fencing_token), so a store rejects a holder whose lease was
// superseded.
//
// Thread-safety: implementations are safe for concurrent use.
//
// Example:
//   SLUICE_ASSIGN_OR_RETURN(sluice::Lease lease, lock.Acquire("import", 10s, 2s));
//   SLUICE_RETURN_IF_ERROR(store.AtomicUpdate(key, fn, {.fencing_token = lease.fencing_token}).status());
//   lock.Release(lease).IgnoreError();  // it expires anyway

#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/clock.h"
#include "sluice/result.h"
#include "sluice/visibility.h"

namespace sluice {

struct Lease {
  std::string resource;
  std::string owner_token;     // random; proves ownership to Release / Extend
  uint64_t fencing_token = 0;  // grows with every grant on this resource
  // Until when (this process's monotonic clock) the lease is certainly still
  // held: the TTL minus the time the grant took and a drift allowance.
  Clock::Monotonic valid_until{};
};

class SLUICE_EXPORT Lock {
 public:
  virtual ~Lock() = default;

  // One attempt. nullopt when another holder has the resource.
  virtual Result<std::optional<Lease>> TryAcquire(std::string_view resource, std::chrono::milliseconds ttl) = 0;

  // Gives the resource up. kFailedPrecondition if the lease was already lost
  // (expired, or taken over): the caller's critical section was not exclusive.
  virtual Status Release(const Lease& lease) = 0;

  // Extends a lease still held to `ttl` from now. kFailedPrecondition if lost.
  virtual Status Extend(Lease& lease, std::chrono::milliseconds ttl) = 0;

  // Retries TryAcquire with jittered backoff (on `clock`) until it succeeds or
  // `wait` has passed (kDeadlineExceeded).
  Result<Lease> Acquire(std::string_view resource, std::chrono::milliseconds ttl, std::chrono::milliseconds wait,
                        Clock& clock = Clock::Real());
};

}  // namespace sluice

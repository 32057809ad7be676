// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// What RedisLock and Redlock share: the per-server scripts, the key layout
// (the lock and its fence counter in one Cluster hash tag) and lease validity.

#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "redis/redis_client.h"
#include "sluice/lock.h"
#include "sluice/result.h"
#include "sluice/status.h"

namespace sluice::redis {

// KEYS: lock, fence counter. ARGV: owner token, TTL ms. Returns the new
// fencing token, or 0 when the lock is held. The counter never expires, so
// tokens only grow.
inline constexpr std::string_view kLockAcquireScript = R"lua(
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
)lua";

// KEYS: lock. ARGV: owner token. Deletes only the owner's lock.
inline constexpr std::string_view kLockReleaseScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

// KEYS: lock. ARGV: owner token, TTL ms. Extends only the owner's lock.
inline constexpr std::string_view kLockExtendScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
)lua";

// {lock key, fence key}: the resource inside a hash tag, with '{' and '}'
// escaped so that no name can close the tag early.
inline std::vector<std::string> LockKeys(std::string_view prefix, std::string_view resource) {
  std::string tagged = std::string(prefix) + "{";
  for (char c : resource) {
    if (c == '%') {
      tagged += "%25";
    } else if (c == '{') {
      tagged += "%7B";
    } else if (c == '}') {
      tagged += "%7D";
    } else {
      tagged += c;
    }
  }
  tagged += "}";
  return {tagged, tagged + ":fence"};
}

// The part of a TTL a holder can count on: minus a drift allowance.
inline std::chrono::nanoseconds LeaseValidity(std::chrono::milliseconds ttl, double drift_factor) {
  const auto drift =
      std::chrono::duration_cast<std::chrono::nanoseconds>(ttl * drift_factor) + std::chrono::milliseconds(2);
  return std::max(std::chrono::nanoseconds(0), std::chrono::nanoseconds(ttl) - drift);
}

// A lease for `resource` with a fresh owner token, before any server granted
// it. kInvalidArgument for a TTL below 1 ms.
inline Result<Lease> NewLease(std::string_view resource, std::chrono::milliseconds ttl, RandomTokens& tokens) {
  if (ttl.count() < 1) return InvalidArgumentError("lock TTL must be at least 1 ms");
  Lease lease;
  lease.resource = std::string(resource);
  lease.owner_token = tokens.Next(2);
  return lease;
}

inline Status LeaseLost(const Lease& lease) {
  return FailedPreconditionError("lock \"" + lease.resource + "\" with fencing token " +
                                 std::to_string(lease.fencing_token) +
                                 " was no longer held (expired or taken over)");
}

}  // namespace sluice::redis

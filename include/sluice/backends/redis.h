// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RedisStore: sluice state shared by many processes and machines through a
// Redis server (component sluice::redis, built with -DSLUICE_WITH_REDIS=ON).
//
// Each sluice key is one Redis hash under `key_prefix` + key, holding the
// record's kind, policy, state fields as decimal integers, its exact expiry
// and a write version (docs/redis_format.md). Every key carries a Redis TTL,
// so nothing outlives its state.
//
// This version decides in client-time mode: the time of every decision and
// expiry comes from `clock`, and each operation is an exact read-modify-write
// (the C++ algorithm) committed by a compare-and-set script; a conflicting
// writer makes it retry. TODO(issue 3): one-round-trip Lua decisions on the
// server's TIME, Cluster routing, locks.
//
// Thread-safety: the store is safe for concurrent use; it pipelines all
// callers over one connection and reconnects after a failure.
//
// Errors: kUnavailable when Redis cannot be reached before anything was sent;
// kDeadlineExceeded when the connection failed after a write was sent (the
// outcome is unknown); kAborted when a read-modify-write kept conflicting
// `max_attempts` times.
//
// Example:
//   SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<sluice::Store> store,
//       sluice::redis::CreateRedisStore({.uri = "redis://127.0.0.1:6379"}));

#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "sluice/clock.h"
#include "sluice/result.h"
#include "sluice/store.h"
#include "sluice/visibility.h"

namespace sluice::redis {

struct RedisStoreOptions {
  // "redis://host[:port]" or "unix:///path/redis.sock". Required.
  std::string uri;
  // Prepended to every Redis key this store reads or writes. Default: "sluice:".
  std::string key_prefix = "sluice:";
  // The time of decisions and expiries. Default: Clock::Real().
  Clock* clock = nullptr;
  // Default: 2 s.
  std::chrono::milliseconds connect_timeout{2000};
  // Conflicting read-modify-writes retried before kAborted. Default: 1000.
  int max_attempts = 1000;
};

// Connects and returns the store. kInvalidArgument for a bad URI,
// kUnavailable if the server cannot be reached.
SLUICE_EXPORT Result<std::unique_ptr<Store>> CreateRedisStore(const RedisStoreOptions& options);

}  // namespace sluice::redis

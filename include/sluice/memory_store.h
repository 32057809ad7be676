// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// MemoryStore keeps state in this process: the fastest store and the default
// inside one process. Keys are spread over shards, each a compact open-addressing
// table under its own mutex, so decisions on different keys rarely contend.
//
// Expiry: a read of an expired key finds nothing and drops it (lazy expiry); a
// background sweeper thread removes the rest every `sweep_interval`.
// Capacity: with `max_keys` set, inserting a new key into a full store evicts
// the key that expires soonest among a small random sample of its shard (for
// limiter state that is the key closest to being fresh anyway), counted in
// Stats().evictions.
//
// Thread-safe. Decisions on one key are linearizable. DecideAll locks the
// shards of all its keys in a fixed order, so it cannot deadlock.
//
// Example:
//   auto store = sluice::MemoryStore::Create({.max_keys = 1'000'000});
//   auto policy = sluice::Policy::TokenBucket(100, 10, std::chrono::seconds(1));
//   sluice::Result<sluice::Decision> d = (*store)->Decide("user:42", policy);

#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "sluice/clock.h"
#include "sluice/result.h"
#include "sluice/store.h"
#include "sluice/visibility.h"

namespace sluice {

struct MemoryStoreOptions {
  // Where time comes from. Default: Clock::Real().
  Clock* clock = nullptr;
  // Number of shards, rounded up to a power of two. Default: 64.
  size_t shards = 64;
  // The most keys the store holds; 0 = unbounded. Default: 0.
  size_t max_keys = 0;
  // How often the sweeper removes expired keys; 0 disables the thread (expired
  // keys are then dropped when touched or by SweepExpired()). Default: 1 s.
  std::chrono::nanoseconds sweep_interval = std::chrono::seconds(1);
};

class SLUICE_EXPORT MemoryStore : public Store {
 public:
  // Returns kInvalidArgument if `options.shards` is 0.
  static Result<std::unique_ptr<MemoryStore>> Create(MemoryStoreOptions options = {});

  // Removes every expired key now; returns how many were removed.
  virtual size_t SweepExpired() = 0;

 protected:
  MemoryStore() = default;
};

}  // namespace sluice

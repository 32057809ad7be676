// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// MemoryStore keeps state in this process: the fastest store and the default
// inside one process. Keys are spread over shards, each a compact open-addressing
// table under its own mutex, so decisions on different keys rarely contend.
//
// Expiry: a read of an expired key finds nothing and drops it (lazy expiry); a
// background sweeper thread removes the rest every `sweep_interval`.
//
// Time: the store's "now" is the clock, but never earlier than a time the store
// has already used (one atomic maximum for the whole store). A clock that
// steps back is time standing still: nothing refills and nothing expires until
// the clock passes the latest time used, and a key that a later time saw
// expire stays expired. Remote stores that trust the client's clock behave the
// same.
//
// Capacity: with `max_keys` set, the store as a whole never holds more than
// `max_keys` keys and never evicts while it holds fewer. Inserting a new key
// into a full store evicts one key, preferring one whose state is already
// fresh (it limits nobody): a few random keys of the new key's shard are
// sampled first and, if none of them is fresh, keys of other shards too; among
// the sampled keys the one expiring soonest goes. Every eviction is counted in
// Stats().evictions; an eviction of a key that was still limiting someone also
// in Stats().evictions_active, because its user may be admitted again early.
// Size `max_keys` so that evictions_active stays at zero.
//
// Fencing: a key's fence (the largest UpdateOptions::fencing_token that wrote
// it, Record::fencing_token) is kept with the key's value, in a side table
// that holds only keys written with a token. Deleting the key, or its expiry or
// eviction, drops the fence with the value, so fences never outgrow the keys;
// the price is that after that, a writer holding an older token may write the
// key again. Give keys written under a lock a TTL longer than the lock's lease.
//
// Policies: each distinct policy in use takes an entry in a table of at most
// 65,535; entries no key uses any more are reused, so policies may change
// without limit as long as fewer than 65,535 are in use at once (otherwise
// kResourceExhausted).
//
// Stats() costs O(shards), not O(keys): its figures, memory_bytes included,
// are kept up to date per shard as keys change.
//
// Thread-safe. Decisions on one key are linearizable. DecideAll locks the
// shards of all its keys in a fixed order, so it cannot deadlock.
//
// Errors: kInvalidArgument for bad keys, policies, costs and records;
// kFailedPrecondition for a write fenced by an older token; kResourceExhausted
// when 65,535 policies are in use at once, or when a full store found no key
// it could evict (only while other threads hold every shard that has keys).
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
#include "sluice/observability.h"
#include "sluice/result.h"
#include "sluice/store.h"
#include "sluice/visibility.h"

namespace sluice {

struct MemoryStoreOptions {
  // Where time comes from. Default: Clock::Real().
  Clock* clock = nullptr;
  // Number of shards, rounded up to a power of two. Default: 64.
  size_t shards = 64;
  // The most keys the whole store holds (limiter and bytes keys alike);
  // 0 = unbounded. Default: 0.
  size_t max_keys = 0;
  // How often the sweeper removes expired keys; 0 disables the thread (expired
  // keys are then dropped when touched or by SweepExpired()). Default: 1 s.
  std::chrono::nanoseconds sweep_interval = std::chrono::seconds(1);
  // Where evictions are reported: the counter
  // sluice_memory_evictions_total{state="fresh"|"active"}, and a warning when
  // a key that still limited someone is evicted (the 1st, 2nd, 4th, 8th, ...
  // time, so a full store does not flood the log). Default: warnings to
  // stderr, no metrics.
  Observer observer{};
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

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// A Store keeps keyed state and decides rate limits where that state lives.
// MemoryStore (in process) implements it in the core; RocksDB, Redis and
// PostgreSQL stores implement it as optional components. Every implementation
// passes one conformance suite (sluice/testing/store_conformance.h).
//
// Two kinds of value share a store:
//   - limiter state (a Policy and its LimiterState), written only by the
//     Decide* calls and by import (Put of a LimiterRecord);
//   - opaque bytes, for general keyed state with TTL (windowed aggregates,
//     session state): Get / Put / Delete / Scan / AtomicUpdate.
// Every record may carry an absolute expiry (wall nanoseconds; 0 = never).
// Limiter records always carry one: the time their state becomes fresh again.
//
// Keys are arbitrary bytes (empty, binary, any length up to kMaxKeyBytes).
//
// Thread-safety: every Store is safe for concurrent use from many threads.
// Remote stores complete calls asynchronously; the synchronous calls wait, the
// *Async and *Batch calls let a store share round trips between callers, and
// their defaults here run the synchronous call, so callers never change when a
// store gains a faster path.
//
// Errors: kInvalidArgument for bad keys, policies or costs; kUnavailable when
// the backend could not be reached and nothing was applied (safe to retry);
// kDeadlineExceeded when the outcome is unknown; kAborted when an atomic
// update kept conflicting; kResourceExhausted when a configured cap is hit.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/algorithms.h"
#include "sluice/clock.h"
#include "sluice/decision.h"
#include "sluice/result.h"
#include "sluice/visibility.h"

namespace sluice {

// Keys longer than this are kInvalidArgument in every store.
inline constexpr size_t kMaxKeyBytes = 8192;

// A limiter's stored value: the policy it was made under and its state.
struct LimiterRecord {
  Policy policy;
  LimiterState state;
  friend bool operator==(const LimiterRecord&, const LimiterRecord&) = default;
};

// A stored value: opaque bytes or limiter state.
using Value = std::variant<std::string, LimiterRecord>;

struct Record {
  std::string key;
  Value value;
  int64_t expires_at_ns = 0;  // absolute wall time; 0 = never expires
  // The largest fencing token (UpdateOptions::fencing_token) that wrote this
  // key, 0 if none did. Carried by Get, Scan, export and import, so a key's
  // fence survives backup, restore and migration; Put of a record with a token
  // raises the key's fence to it. A fence lives as long as its key's value.
  uint64_t fencing_token = 0;
  friend bool operator==(const Record&, const Record&) = default;
};

// One decision to make. The referenced key and policy need only live until
// the call that receives the request returns.
struct DecideRequest {
  std::string_view key;
  const Policy* policy = nullptr;  // required
  int64_t cost = 1;
  Operation op = Operation::kConsume;
};

// The answer to several limits decided all or nothing.
struct SLUICE_EXPORT MultiDecision {
  // True when every limit admitted its cost; only then was anything charged.
  bool allowed = false;
  // One per request, in request order, as each limit evaluated it. When the
  // whole is denied, nothing was charged: a decision with allowed == true here
  // means "this limit alone would have admitted it".
  std::vector<Decision> decisions;

  // The most restrictive view: allowed overall, the smallest remaining (with
  // its limit), the longest reset_after and retry_after.
  Decision Combined() const;
};

// What an AtomicUpdate function returns.
struct Update {
  enum class Action : uint8_t { kKeep, kPut, kDelete };
  Action action = Action::kKeep;
  Value value;                // for kPut
  int64_t expires_at_ns = 0;  // for kPut; 0 = never

  static Update Keep() { return {}; }
  static Update Delete() { return {Action::kDelete, {}, 0}; }
  static Update Put(Value value, int64_t expires_at_ns = 0) { return {Action::kPut, std::move(value), expires_at_ns}; }
};

// Receives the current record (nullptr if absent or expired) and says what to
// store. It may be called more than once (remote stores retry on conflict), so
// it must have no side effects beyond its return value; it must not call into
// the same store.
using UpdateFn = std::function<Update(const Record* current)>;

struct UpdateOptions {
  // When non-zero, the write carries this fencing token (from a Lock lease); a
  // store rejects it with kFailedPrecondition if a larger token already wrote
  // this key. Default: 0 (no fencing).
  uint64_t fencing_token = 0;
};

// Called for each record of a scan, without store locks held. Return false to stop.
using ScanVisitor = std::function<bool(const Record& record)>;

struct StoreStats {
  uint64_t keys = 0;            // live keys (may include not yet swept expired ones)
  uint64_t hits = 0;            // reads and decisions that found the key
  uint64_t misses = 0;          // ... that did not
  uint64_t decisions = 0;       // Decide* operations applied
  uint64_t evictions = 0;       // keys dropped to respect a key cap
  // ... of which the state was not yet fresh: each one may let its user be
  // admitted again before the limit allowed it (a silent over-admission).
  uint64_t evictions_active = 0;
  uint64_t expirations = 0;     // keys dropped because they expired
  uint64_t memory_bytes = 0;    // estimate of memory held by records
};

class SLUICE_EXPORT Store {
 public:
  virtual ~Store() = default;

  // A short name for logs and metrics: "memory", "redis", ...
  virtual std::string_view name() const = 0;

  // The clock this store computes time with (the server's clock stands behind
  // remote stores in server-time mode; this is then the client's estimate).
  virtual Clock& clock() const = 0;

  // Applies one operation to `key`'s limiter state atomically.
  virtual Result<Decision> Decide(const DecideRequest& request) = 0;

  // Convenience: consume `cost` units.
  Result<Decision> Decide(std::string_view key, const Policy& policy, int64_t cost = 1) {
    return Decide(DecideRequest{key, &policy, cost, Operation::kConsume});
  }

  // Several independent decisions. A remote store sends them in one round trip.
  // Default: Decide() for each.
  virtual std::vector<Result<Decision>> DecideBatch(std::span<const DecideRequest> requests);

  // Decides several limits all or nothing: if any consume would be denied,
  // nothing is charged. Keys must be distinct (kInvalidArgument otherwise).
  virtual Result<MultiDecision> DecideAll(std::span<const DecideRequest> requests) = 0;

  // Starts a decision and calls `done` with its result, possibly on another
  // thread and possibly before DecideAsync returns. Default: calls Decide inline.
  virtual void DecideAsync(const DecideRequest& request, std::function<void(Result<Decision>)> done);

  // Reads, transforms and writes `key` atomically with respect to every other
  // call on this key. Returns the record as stored afterwards (nullopt if absent).
  virtual Result<std::optional<Record>> AtomicUpdate(std::string_view key, const UpdateFn& fn,
                                                     const UpdateOptions& options = {}) = 0;

  // The record under `key`, or nullopt if absent or expired.
  virtual Result<std::optional<Record>> Get(std::string_view key) = 0;

  // Stores `record` (replacing any value). A limiter record is validated
  // against its policy first (kInvalidArgument). An expiry in the past deletes.
  virtual Status Put(const Record& record) = 0;

  // Convenience: stores bytes that expire `ttl` from now (0 = never).
  Status Put(std::string_view key, std::string bytes, std::chrono::nanoseconds ttl = std::chrono::nanoseconds(0));

  // Removes `key`. Deleting an absent key is OK.
  virtual Status Delete(std::string_view key) = 0;

  // Visits every live record whose key starts with `prefix` (all for ""), in no
  // particular order. Records written during the scan may or may not be seen.
  virtual Status Scan(std::string_view prefix, const ScanVisitor& visit) = 0;

  // Makes every completed write durable (no-op for memory).
  virtual Status Flush() = 0;

  virtual StoreStats Stats() const = 0;

  // OK when the store can serve; otherwise why not (kUnavailable, ...).
  virtual Status Health() = 0;
};

// Checks a key against kMaxKeyBytes. kInvalidArgument if too long.
SLUICE_EXPORT Status ValidateKey(std::string_view key);

}  // namespace sluice

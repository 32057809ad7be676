// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RateLimiter decides whether a keyed request may proceed under one Policy. It
// owns no state: per-key state lives in the Store passed through the options,
// under a namespaced key (see StoreKey) so limiters sharing a store never see
// each other's keys.
//
// LimiterFactory and KeyedLimiter are the configuration-driven way in: a
// LimiterConfig {policy, id, limit, rate: {interval: "1 minute", amount}} (in
// C++ or as JSON) builds a factory, Create("user-123") a limiter for one key,
// Consume() a decision.
//
// Thread-safety: RateLimiter, LimiterFactory and KeyedLimiter are safe for
// concurrent use without external synchronisation.
//
// Errors: a denial is a Decision with allowed == false. A non-OK result means
// the request was malformed (kInvalidArgument: cost < 0, cost above the limit,
// key too long) or the store failed (its code says whether to retry).
//
// Example:
//   auto store = std::shared_ptr<sluice::Store>(*sluice::MemoryStore::Create());
//   SLUICE_ASSIGN_OR_RETURN(auto factory, sluice::LimiterFactory::Create(
//       {.policy = "token_bucket", .id = "api", .limit = 100,
//        .rate = {.interval = "1 minute", .amount = 100}}, store));
//   sluice::KeyedLimiter user = factory->Create("user-123");
//   SLUICE_ASSIGN_OR_RETURN(sluice::Decision d, user.Consume());
//   if (!d.allowed) return TooManyRequests(d.retry_after);

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sluice/algorithms.h"
#include "sluice/decision.h"
#include "sluice/result.h"
#include "sluice/state_export.h"
#include "sluice/store.h"
#include "sluice/visibility.h"

namespace sluice {

// The store key for (`prefix`, `id`, `key`): "prefix:id:{key}" with '%', ':',
// '{' and '}' in each part written as %25, %3A, %7B and %7D (an empty key is
// written as a lone "%"). The encoding is injective, so no choice of user keys
// makes two limiters share state. The user key is the Redis Cluster hash tag:
// every limit on one user key lives in one hash slot (so several limits on it
// are decided in one script), and no user part can choose another slot.
SLUICE_EXPORT std::string StoreKey(std::string_view prefix, std::string_view id, std::string_view key);

struct RateLimiterOptions {
  // Where per-key state is kept. Required.
  std::shared_ptr<Store> store;
  // The limit. Required; must pass Policy::Validate().
  Policy policy;
  // Names this limiter inside the store; limiters with different names never
  // share state. Default: "default".
  std::string name = "default";
  // First part of every store key. Default: "rl".
  std::string prefix = "rl";
  // Shadow mode: decide and charge as usual, but admit what would have been
  // denied, marking it Decision::shadow_denied. Default: false.
  bool shadow_mode = false;
};

// The shortest wait RateLimiter::Acquire sleeps between two decisions.
inline constexpr std::chrono::nanoseconds kMinAcquireWait = std::chrono::milliseconds(1);

class SLUICE_EXPORT RateLimiter {
 public:
  // Returns kInvalidArgument if the store is null or the policy is invalid.
  static Result<std::unique_ptr<RateLimiter>> Create(RateLimiterOptions options);

  // Tries to take `cost` units from `key` without blocking.
  Result<Decision> TryAcquire(std::string_view key, int64_t cost = 1);

  // Takes `cost` units, waiting (on the store's clock) while the wait the
  // limiter predicts still fits in what is left of `max_wait`. Returns the last
  // decision: denied if the units did not fit within `max_wait`. Other callers
  // may take the units first, so a wait can end denied. A denial that names no
  // wait (retry_after 0, e.g. from a store that cannot predict one) is retried
  // after kMinAcquireWait; every wait counts against `max_wait`, so Acquire
  // returns after at most `max_wait` plus one decision. With `max_wait` 0 it
  // decides once, like TryAcquire. kInvalidArgument if `max_wait` < 0.
  Result<Decision> Acquire(std::string_view key, int64_t cost, std::chrono::nanoseconds max_wait);

  // Would `cost` units fit now? Changes nothing.
  Result<Decision> Peek(std::string_view key, int64_t cost = 0);

  // How long until `cost` units fit (0 if they fit now), without taking them.
  Result<std::chrono::nanoseconds> Reserve(std::string_view key, int64_t cost = 1);

  // Gives `units` back to `key` (never beyond the limit), e.g. after the
  // guarded work was cancelled.
  Result<Decision> Refund(std::string_view key, int64_t units);

  // Forgets `key`'s usage.
  Status Reset(std::string_view key);

  const Policy& policy() const { return options_.policy; }
  const std::string& name() const { return options_.name; }
  Store& store() const { return *options_.store; }

  // The store key this limiter uses for `key`.
  std::string StoreKeyFor(std::string_view key) const;

 private:
  friend Result<MultiDecision> TryAcquireAll(std::span<RateLimiter* const>, std::string_view, int64_t);
  explicit RateLimiter(RateLimiterOptions options) : options_(std::move(options)) {}
  Result<Decision> Run(std::string_view key, int64_t cost, Operation op);

  RateLimiterOptions options_;
};

// Takes `cost` units for `key` from every limiter, or from none: if any would
// deny, nothing is charged. All limiters must share one store
// (kInvalidArgument otherwise). Per-second AND per-day, user AND org.
//
// A limiter in shadow mode never denies here: when it alone would deny, it is
// left out (charged nothing), its decision is allowed with shadow_denied set,
// and the other limiters are decided all or nothing without it (one more store
// call per such round). When the call is admitted, shadow limiters that had
// room are charged like the rest.
SLUICE_EXPORT Result<MultiDecision> TryAcquireAll(std::span<RateLimiter* const> limiters, std::string_view key,
                                                  int64_t cost = 1);

// A limiter described by plain fields (or JSON): which algorithm, its limit
// and refill rate, and the names that namespace its keys in the store.
struct SLUICE_EXPORT LimiterConfig {
  // "token_bucket", "gcra", "fixed_window", "sliding_window" (the weighted
  // counter), "sliding_window_log" or "sliding_window_counter".
  std::string policy;
  // Namespaces this factory's keys. Required, non-empty.
  std::string id;
  // Capacity (token bucket, GCRA) or units per window.
  int64_t limit = 0;
  struct Rate {
    // A duration as ParseDuration reads it: "1 minute", "90s", "1h30m".
    std::string interval;
    // Token bucket / GCRA: units refilled per interval. Windows: 0 or `limit`.
    int64_t amount = 0;
  } rate;
  // Fixed window only: "epoch" (default), "day", "week", "month" or "year".
  std::string alignment = "epoch";
  // See RateLimiterOptions.
  std::string prefix = "rl";
  bool shadow_mode = false;

  // The Policy this config describes; kInvalidArgument naming the bad field.
  Result<Policy> ToPolicy() const;

  // Parses the JSON form:
  //   {"policy": "token_bucket", "id": "api", "limit": 100,
  //    "rate": {"interval": "1 minute", "amount": 100}}
  // plus the optional "alignment", "prefix" and "shadowMode". Unknown fields,
  // wrong types and invalid values are kInvalidArgument naming the field.
  static Result<LimiterConfig> FromJson(std::string_view json);
};

class KeyedLimiter;

class SLUICE_EXPORT LimiterFactory {
 public:
  // Returns kInvalidArgument if the config is invalid or the store null.
  static Result<std::unique_ptr<LimiterFactory>> Create(const LimiterConfig& config, std::shared_ptr<Store> store);

  // A limiter for one key (cheap; holds the key and a reference to this factory).
  // REQUIRES: this factory outlives the returned limiter.
  KeyedLimiter Create(std::string_view key) const;

  RateLimiter& limiter() const { return *limiter_; }

 private:
  explicit LimiterFactory(std::unique_ptr<RateLimiter> limiter) : limiter_(std::move(limiter)) {}
  std::unique_ptr<RateLimiter> limiter_;
};

// A RateLimiter bound to one key.
class SLUICE_EXPORT KeyedLimiter {
 public:
  KeyedLimiter(RateLimiter& limiter, std::string key) : limiter_(&limiter), key_(std::move(key)) {}

  Result<Decision> Consume(int64_t cost = 1) { return limiter_->TryAcquire(key_, cost); }
  Result<Decision> Acquire(int64_t cost, std::chrono::nanoseconds max_wait) {
    return limiter_->Acquire(key_, cost, max_wait);
  }
  Result<Decision> Peek(int64_t cost = 0) { return limiter_->Peek(key_, cost); }
  Result<std::chrono::nanoseconds> Reserve(int64_t cost = 1) { return limiter_->Reserve(key_, cost); }
  Result<Decision> Refund(int64_t units) { return limiter_->Refund(key_, units); }
  Status Reset() { return limiter_->Reset(key_); }

  const std::string& key() const { return key_; }

 private:
  RateLimiter* limiter_;
  std::string key_;
};

// ---- Configuration and state, saved and restored ------------------------------
// A limiter's configuration as JSON (no state), and the complete state of all
// its keys through the streaming export format (sluice/state_export.h), for
// backup, restore and migration between stores: memory, Redis, RocksDB alike.

// The JSON form of `config` that LimiterConfig::FromJson reads back: every
// field, e.g. {"policy":"token_bucket","id":"api","limit":100,"rate":
// {"interval":"1 minute","amount":100},"alignment":"epoch","prefix":"rl",
// "shadowMode":false}. It carries configuration only, no state.
SLUICE_EXPORT std::string LimiterConfigToJson(const LimiterConfig& config, bool pretty = false);

// The store key prefix every key of `limiter` starts with ("rl:api:{"), and
// that no other limiter's keys start with.
SLUICE_EXPORT std::string LimiterKeyPrefix(const RateLimiter& limiter);

// Exports the state of every key of `limiter` (its policy, state, expiry and
// fencing token per key) to `sink`, one record at a time.
SLUICE_EXPORT Result<ExportReport> ExportLimiterState(const RateLimiter& limiter, WritableFile& sink,
                                                      const ExportOptions& options = {});

// Imports into `limiter`'s store the records of `limiter`'s keys from a
// stream (others are skipped and counted), validated as ImportStore does.
// `limiter.policy()` is the current policy of every key: records made under
// another policy follow `options.policy_change` (default: proportional).
// `options.key_prefix` and `options.current_policies` are set by this call.
SLUICE_EXPORT Result<ImportReport> ImportLimiterState(const RateLimiter& limiter, const SourceOpener& open_source,
                                                      ImportOptions options = {});

}  // namespace sluice

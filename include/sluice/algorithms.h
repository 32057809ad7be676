// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The rate-limiting algorithms: plain value types for a Policy and each
// algorithm's state, and pure functions that apply an operation to a state at a
// given time. They read no clock, take no locks and do no I/O, so every store
// (in process, Redis, PostgreSQL) runs exactly this arithmetic, and tests drive
// it with plain numbers.
//
// Time is int64 nanoseconds since the Unix epoch (wall time). Amounts are int64
// units. All arithmetic is exact integer arithmetic with 128-bit intermediates;
// there is no floating point in any state.
//
// The representable range ends at INT64_MAX (2262-04-11T23:47:16.854775807Z),
// and only results saturate there:
//   - an instant computed past INT64_MAX (an expiry, a window's end) is
//     reported as INT64_MAX, meaning "not before the end of time": an expiry of
//     INT64_MAX never passes, not even with the clock at INT64_MAX;
//   - a duration (retry_after, reset_after) is the exact difference, also when
//     it ends after INT64_MAX, and saturates at INT64_MAX ns only if it does
//     not fit;
//   - state times never saturate. A GCRA consume that would move its
//     theoretical arrival time past INT64_MAX is denied with retry_after =
//     nanoseconds::max() (it could only fit after the end of time), and its
//     `remaining` counts only what fits before it; so near the end a GCRA
//     admits less than its burst, never more.
//
// Time that steps backwards is treated as time standing still: each state
// remembers the latest time it saw, and an earlier `now` is raised to it. So a
// clock stepping back never creates tokens.
//
// Thread-safety: all functions are pure; a state value must not be mutated from
// two threads at once (stores serialise access per key).
//
// Example:
//   sluice::Policy p = sluice::Policy::TokenBucket(10, 1, std::chrono::seconds(1));
//   std::optional<sluice::LimiterState> state;  // a key never seen
//   auto eval = sluice::Evaluate(p, state, sluice::Operation::kConsume, 3, now_ns);
//   if (eval.ok() && eval->decision.allowed) { /* persist *state */ }

#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/decision.h"
#include "sluice/result.h"
#include "sluice/visibility.h"

namespace sluice {

// Persisted in state records: do not change the values of existing entries.
enum class Algorithm : uint8_t {
  kTokenBucket = 1,           // capacity + continuous refill of `refill_amount` per `interval`
  kGcra = 2,                  // generic cell rate: burst + `refill_amount` per `interval`
  kFixedWindow = 3,           // `limit` per window, windows aligned to the epoch or the calendar
  kSlidingWindowLog = 4,      // exact: `limit` in any window of length `interval`
  kSlidingWindowCounter = 5,  // two aligned windows, the previous one weighted
};

// "token_bucket", "gcra", "fixed_window", "sliding_window_log", "sliding_window_counter".
SLUICE_EXPORT std::string_view AlgorithmName(Algorithm algorithm);
// Reverse of AlgorithmName; also accepts "sliding_window" for the counter.
SLUICE_EXPORT Result<Algorithm> ParseAlgorithm(std::string_view name);

// How a fixed window's boundaries are placed. Calendar windows are in UTC; a
// week starts on Monday (ISO 8601). Persisted: do not change existing values.
enum class WindowAlignment : uint8_t {
  kEpoch = 0,  // windows of `interval` starting at multiples of `interval` since the epoch
  kCalendarDay = 1,
  kCalendarWeek = 2,
  kCalendarMonth = 3,
  kCalendarYear = 4,
};

SLUICE_EXPORT std::string_view WindowAlignmentName(WindowAlignment alignment);
SLUICE_EXPORT Result<WindowAlignment> ParseWindowAlignment(std::string_view name);

// The largest `limit` a sliding window log accepts: the log keeps one entry per
// admitted request (merged when they share a timestamp), so this caps its size.
inline constexpr int64_t kMaxSlidingLogLimit = 100'000;

// What a limit is. A plain value; compare with ==.
struct SLUICE_EXPORT Policy {
  Algorithm algorithm = Algorithm::kTokenBucket;
  // Token bucket: capacity. GCRA: burst. Windows: units admitted per window.
  int64_t limit = 0;
  // Token bucket and GCRA: units added per `interval`. Unused by windows (0).
  int64_t refill_amount = 0;
  // Token bucket and GCRA: the refill interval. Windows: the window length
  // (ignored by calendar-aligned fixed windows).
  std::chrono::nanoseconds interval{0};
  // Fixed window only.
  WindowAlignment alignment = WindowAlignment::kEpoch;

  static Policy TokenBucket(int64_t capacity, int64_t refill_amount, std::chrono::nanoseconds interval);
  static Policy Gcra(int64_t burst, int64_t amount, std::chrono::nanoseconds period);
  static Policy FixedWindow(int64_t limit, std::chrono::nanoseconds window);
  static Policy CalendarWindow(int64_t limit, WindowAlignment alignment);
  static Policy SlidingWindowLog(int64_t limit, std::chrono::nanoseconds window);
  static Policy SlidingWindowCounter(int64_t limit, std::chrono::nanoseconds window);

  // OK if the policy can be used; kInvalidArgument saying which field is wrong.
  Status Validate() const;
  // A stable 64-bit hash of the fields (FNV-1a); the same across processes and
  // versions, so stored states can name the policy they were made under.
  uint64_t Fingerprint() const;
  // "token_bucket(limit=10, refill=1/1s)".
  std::string ToString() const;

  friend bool operator==(const Policy&, const Policy&) = default;
};

// Token bucket. `remainder` is the part of a token refilled so far, in units
// where one token is `interval.count()` units and each elapsed nanosecond adds
// `refill_amount` units; so 0 <= remainder < interval.count().
struct TokenBucketState {
  int64_t tokens = 0;
  int64_t remainder = 0;
  int64_t updated_ns = 0;  // latest time seen
  friend bool operator==(const TokenBucketState&, const TokenBucketState&) = default;
};

// GCRA. The theoretical arrival time is tat_ns + tat_frac / refill_amount
// nanoseconds (0 <= tat_frac < refill_amount); `updated_ns` is the latest time seen.
struct GcraState {
  int64_t tat_ns = 0;
  int64_t tat_frac = 0;
  int64_t updated_ns = 0;
  friend bool operator==(const GcraState&, const GcraState&) = default;
};

// A time before `window_start_ns` counts in this window (time standing still).
struct FixedWindowState {
  int64_t window_start_ns = 0;
  int64_t count = 0;
  friend bool operator==(const FixedWindowState&, const FixedWindowState&) = default;
};

struct LogEntry {
  int64_t time_ns = 0;
  int64_t cost = 0;
  friend bool operator==(const LogEntry&, const LogEntry&) = default;
};

// Entries are in time order; entries at one time are merged.
struct SlidingWindowLogState {
  std::vector<LogEntry> entries;
  int64_t updated_ns = 0;
  friend bool operator==(const SlidingWindowLogState&, const SlidingWindowLogState&) = default;
};

struct SlidingWindowCounterState {
  int64_t window_start_ns = 0;  // start of the current aligned window
  int64_t current = 0;          // units admitted in the current window
  int64_t previous = 0;         // units admitted in the window before it
  int64_t updated_ns = 0;
  friend bool operator==(const SlidingWindowCounterState&, const SlidingWindowCounterState&) = default;
};

// One key's state. The alternative's index + 1 is its Algorithm value.
using LimiterState = std::variant<TokenBucketState, GcraState, FixedWindowState, SlidingWindowLogState,
                                  SlidingWindowCounterState>;

SLUICE_EXPORT Algorithm AlgorithmOf(const LimiterState& state);

// The state of a key that was never used (a full bucket, an empty window).
SLUICE_EXPORT LimiterState FreshState(const Policy& policy, int64_t now_ns);

// Checks a state against a policy: right algorithm, fields in range (tokens
// within capacity, no negatives, sorted log within the cap, no time more than
// `max_future` after `now_ns`). kInvalidArgument names the field.
SLUICE_EXPORT Status ValidateState(const Policy& policy, const LimiterState& state, int64_t now_ns,
                                   std::chrono::nanoseconds max_future = std::chrono::minutes(5));

enum class Operation : uint8_t {
  kConsume = 0,  // take `cost` units if they fit (all or nothing)
  kPeek = 1,     // would `cost` units fit? changes nothing; retry_after says how long until they do
  kRefund = 2,   // give `cost` units back (never beyond the limit)
  kReset = 3,    // forget the key's usage
};

SLUICE_EXPORT std::string_view OperationName(Operation op);

struct Evaluation {
  Decision decision;
  // True if the state changed and must be stored.
  bool changed = false;
  // When the state becomes indistinguishable from a fresh one: the TTL a store
  // gives the key. After it the key may be deleted without changing any
  // decision. INT64_MAX means not before the end of time (never).
  int64_t expires_at_ns = 0;
};

// Applies `op` with `cost` to `state` at `now_ns`. An empty `state`, or one of
// a different algorithm than `policy`, starts fresh. On return `state` holds
// the new state (also when nothing changed).
//
// Errors (kInvalidArgument): invalid policy; cost < 0; for kConsume and kPeek a
// cost larger than the policy can ever grant (it would be denied forever).
SLUICE_EXPORT Result<Evaluation> Evaluate(const Policy& policy, std::optional<LimiterState>& state, Operation op,
                                          int64_t cost, int64_t now_ns);

// When `state` (last written under `policy`) becomes indistinguishable from a
// fresh state. Stores derive a limiter key's expiry from this instead of
// storing it.
SLUICE_EXPORT int64_t ExpiresAt(const Policy& policy, const LimiterState& state);

// The start and end of the fixed window containing `now_ns`
// (calendar-aligned windows are computed in UTC). An end after INT64_MAX is
// reported as INT64_MAX.
struct WindowBounds {
  int64_t start_ns = 0;
  int64_t end_ns = 0;
};
SLUICE_EXPORT WindowBounds FixedWindowAt(const Policy& policy, int64_t now_ns);

}  // namespace sluice

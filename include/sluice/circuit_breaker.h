// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// CircuitBreaker stops calls to a failing dependency for a while, so callers
// get an answer at once instead of each waiting out a dead server, and the
// server gets room to recover.
//
// State machine (mode kNormal):
//   closed    Calls pass. Each completed call's outcome and latency go into a
//             rolling window of `window`, kept as `window_buckets` buckets of
//             window / window_buckets each on the injected clock's monotonic
//             time. Once the window holds at least `minimum_calls` calls, the
//             breaker opens when failures / calls >= failure_rate_threshold
//             or slow calls / calls >= slow_call_rate_threshold (a call is
//             slow when it took at least `slow_call_duration`, whatever its
//             outcome).
//   open      Calls are rejected at once. After `open_duration` the next
//             TryAcquire() moves the breaker to half-open.
//   half-open At most `half_open_probes` calls (probes) are admitted; the rest
//             are rejected at once. A failed probe reopens the breaker at
//             once. When every probe has completed successfully, the breaker
//             closes with an empty window, unless slow probes / probes >=
//             slow_call_rate_threshold, which reopens it. A probe admitted but
//             not recorded within `half_open_timeout` counts as failed (a
//             probe that hangs cannot keep the breaker half-open forever).
//
// Modes, set in the options or at run time with SetMode():
//   kNormal       the state machine above.
//   kForcedOpen   every call is rejected; nothing is recorded.
//   kDisabled     every call passes; nothing is recorded.
//   kMetricsOnly  every call passes; outcomes are recorded and the state
//                 machine runs as in kNormal, so its transitions are reported
//                 (callbacks, logs, metrics, with enforced == false) and state()
//                 tells what a kNormal breaker would be doing, but nothing is
//                 ever rejected. Use it to tune thresholds on live traffic.
// Changing the mode resets the state machine to closed with an empty window.
//
// Outcomes: the caller decides what is a failure. A call whose outcome says
// nothing about the dependency's health (a caller error) should be recorded as
// kIgnored: it frees its probe slot and counts nowhere.
//
// Reporting: each transition (from, to, reason) goes to the on_transition
// callback, to the logger (warning when opening, info otherwise, component
// "circuit_breaker") and to the metrics:
//   sluice_circuit_breaker_state{breaker}            gauge: 0 closed, 1 open,
//                                                     2 half-open, 3 forced
//                                                     open, 4 disabled (in
//                                                     kMetricsOnly: the state
//                                                     machine's 0..2)
//   sluice_circuit_breaker_transitions_total{breaker,from,to}
//   sluice_circuit_breaker_calls_total{breaker,outcome}  outcome: success,
//                                                     failure, slow, ignored,
//                                                     rejected
// The callback runs on the thread whose call caused the transition, after the
// breaker's lock is released, one transition at a time in order; it may read
// the breaker but must not block for long.
//
// Thread-safety: thread-safe. TryAcquire() and Record() take one short mutex.
//
// Errors: Create() returns kInvalidArgument naming the bad option.
//
// Example:
//   SLUICE_ASSIGN_OR_RETURN(auto breaker, sluice::CircuitBreaker::Create({.name = "redis"}));
//   sluice::BreakerPermit permit = breaker->TryAcquire();
//   if (!permit) return FallbackAnswer();
//   auto start = clock.MonotonicNow();
//   Status s = CallServer();
//   breaker->Record(permit, s.ok() ? sluice::CallOutcome::kSuccess : sluice::CallOutcome::kFailure,
//                   clock.MonotonicNow() - start);

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "sluice/clock.h"
#include "sluice/observability.h"
#include "sluice/result.h"
#include "sluice/status.h"
#include "sluice/visibility.h"

namespace sluice {

// The state machine's state.
enum class BreakerState : uint8_t {
  kClosed = 0,
  kOpen = 1,
  kHalfOpen = 2,
};

enum class BreakerMode : uint8_t {
  kNormal = 0,
  kForcedOpen = 1,
  kDisabled = 2,
  kMetricsOnly = 3,
};

// "closed", "open", "half_open".
SLUICE_EXPORT std::string_view BreakerStateName(BreakerState state);
// "normal", "forced_open", "disabled", "metrics_only".
SLUICE_EXPORT std::string_view BreakerModeName(BreakerMode mode);
// Reverse of BreakerModeName; kInvalidArgument for any other name.
SLUICE_EXPORT Result<BreakerMode> ParseBreakerMode(std::string_view name);

enum class CallOutcome : uint8_t {
  kSuccess = 0,
  kFailure = 1,
  kIgnored = 2,  // says nothing about the dependency; frees a probe slot only
};

// One change of state (or of mode).
struct BreakerTransition {
  BreakerState from = BreakerState::kClosed;
  BreakerState to = BreakerState::kClosed;
  // The mode in force after the transition.
  BreakerMode mode = BreakerMode::kNormal;
  // False in kMetricsOnly: the transition was only recorded.
  bool enforced = true;
  // Why, for logs: "failure rate 0.60 >= 0.50 over 20 calls",
  // "open for 1s", "probe failed", "probes succeeded", "mode set to disabled".
  std::string reason;
};

struct SLUICE_EXPORT CircuitBreakerOptions {
  // Names the breaker in logs and in the metrics' `breaker` label. Default: "store".
  std::string name = "store";
  // Where time comes from (monotonic time only). Default: Clock::Real().
  Clock* clock = nullptr;
  // Default: kNormal.
  BreakerMode mode = BreakerMode::kNormal;
  // Opens when failures / calls >= this, in (0, 1]. Default: 0.5.
  double failure_rate_threshold = 0.5;
  // Opens when slow calls / calls >= this, in (0, 1]. Default: 1.0 (only when
  // every call in the window was slow).
  double slow_call_rate_threshold = 1.0;
  // A call that took at least this long is slow; > 0. Default: 100 ms.
  std::chrono::nanoseconds slow_call_duration = std::chrono::milliseconds(100);
  // Length of the rolling window; > 0. Default: 10 s.
  std::chrono::nanoseconds window = std::chrono::seconds(10);
  // Buckets the window is kept in, in [1, 1000]; window / window_buckets must
  // be at least 1 us. Outcomes leave the window one bucket at a time.
  // Default: 10.
  int window_buckets = 10;
  // Calls the window must hold before the rates may open the breaker; >= 1.
  // Default: 20.
  int64_t minimum_calls = 20;
  // Time spent open before half-open; > 0. Default: 1 s.
  std::chrono::nanoseconds open_duration = std::chrono::seconds(1);
  // Probes admitted in half-open, in [1, 10000]. Default: 3.
  int half_open_probes = 3;
  // A probe not recorded within this counts as failed; > 0. Default: 5 s.
  std::chrono::nanoseconds half_open_timeout = std::chrono::seconds(5);
  // Called on every transition (see the file comment). Default: none.
  std::function<void(const BreakerTransition&)> on_transition{};
  // Where transitions are logged and counted. Default: warnings to stderr, no metrics.
  Observer observer{};

  // kInvalidArgument naming the first bad field.
  Status Validate() const;
};

// Permission for one call. Pass it back to Record() exactly once.
struct BreakerPermit {
  bool allowed = false;
  // Internal: which closed/half-open period admitted the call, and whether it
  // is a probe; a record from an earlier period does not count in the current one.
  uint64_t generation = 0;
  bool probe = false;
  // Monotonic admission time.
  Clock::Monotonic admitted_at{};

  explicit operator bool() const { return allowed; }
};

// Counts since creation (a mode change does not reset them).
struct CircuitBreakerCounters {
  uint64_t permitted = 0;    // TryAcquire() said yes
  uint64_t rejected = 0;     // ... said no
  uint64_t successes = 0;    // recorded kSuccess
  uint64_t failures = 0;     // recorded kFailure, and probes timed out
  uint64_t slow_calls = 0;   // recorded calls at least slow_call_duration long
  uint64_t ignored = 0;      // recorded kIgnored
  uint64_t transitions = 0;  // state changes, mode changes included
  uint64_t opened = 0;       // transitions to open
};

// What the rolling window holds now.
struct BreakerWindow {
  int64_t calls = 0;
  int64_t failures = 0;
  int64_t slow_calls = 0;
};

class SLUICE_EXPORT CircuitBreaker {
 public:
  // kInvalidArgument if the options are invalid.
  static Result<std::unique_ptr<CircuitBreaker>> Create(CircuitBreakerOptions options);

  ~CircuitBreaker();
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // May a call go ahead now? Moves open to half-open once open_duration has
  // passed. A permit with allowed == true must be passed to Record().
  BreakerPermit TryAcquire();

  // Convenience: TryAcquire().allowed, for callers that only need to know
  // (the call must then be recorded with RecordUnpermitted()).
  bool Allow() { return TryAcquire().allowed; }

  // Records the outcome of a call admitted with `permit`. Ignores a permit
  // that was not allowed, and a permit whose half-open probe already timed out.
  void Record(const BreakerPermit& permit, CallOutcome outcome, std::chrono::nanoseconds latency);

  // Records an outcome that came with no permit (after Allow()), against the
  // current period: in half-open it completes one outstanding probe.
  void RecordUnpermitted(CallOutcome outcome, std::chrono::nanoseconds latency);

  // The state machine's state (in kForcedOpen and kDisabled: as it was
  // reset to, kClosed). Moves open to half-open if open_duration has passed.
  BreakerState state();
  BreakerMode mode() const;
  // Whether TryAcquire() would reject a call now (open, half-open with every
  // probe taken, or forced open; never in kDisabled or kMetricsOnly).
  bool rejecting();

  // Changes the mode; resets the state machine to closed with an empty window
  // and reports the change as a transition.
  void SetMode(BreakerMode mode);

  // Opens (or keeps open) the breaker now, as if the rates had tripped it,
  // e.g. after a failed health check. No effect in kDisabled and kForcedOpen.
  void Trip(std::string_view reason);

  // Time left before an open breaker admits probes; 0 unless open.
  std::chrono::nanoseconds open_remaining();

  CircuitBreakerCounters counters() const;
  BreakerWindow window();
  const CircuitBreakerOptions& options() const;

  // The gauge value of sluice_circuit_breaker_state (see the file comment).
  int gauge_value();

 private:
  struct Impl;
  explicit CircuitBreaker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice

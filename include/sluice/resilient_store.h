// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// ResilientStore wraps a store that can fail or hang (Redis, PostgreSQL, any
// remote Store) and keeps answering within a deadline whatever the store does:
//
//   - Deadline. Every call to the wrapped store runs on a small pool of worker
//     threads owned by the ResilientStore (or, with base_is_async, through the
//     store's own DecideAsync), and its caller waits at most `deadline`, even
//     when the store never answers. Then the call is kDeadlineExceeded and the
//     fail mode answers. A late answer is dropped; the call's key, policy and
//     arguments were copied, so nothing the caller owned is touched after the
//     caller has its answer.
//   - Bounded work. At most `workers` calls run and `max_queued` wait for a
//     worker; past that a call fails at once with kResourceExhausted (then the
//     fail mode answers). Nothing queues without bound during an outage.
//   - Retries. Only an attempt that failed with kUnavailable (the store says
//     nothing was applied) is retried, never one with an unknown outcome
//     (kDeadlineExceeded, a lost answer); at most retry.max_attempts attempts
//     per call, with exponential backoff and full jitter (seeded), all inside
//     the call's one deadline, and only while the retry budget allows: retries
//     stay below retry.budget_ratio of calls over retry.budget_window, plus
//     retry.budget_min_per_second so that light traffic can still retry.
//   - Circuit breaker (sluice/circuit_breaker.h). Each attempt's outcome and
//     latency feed it; while it rejects, calls do not reach the store and the
//     fail mode answers at once. A call that hit its deadline counts as a
//     failure with the deadline as its latency. Failures are kUnavailable,
//     kDeadlineExceeded, kResourceExhausted, kInternal, kDataLoss and
//     kAborted; caller errors (kInvalidArgument, kFailedPrecondition,
//     kNotFound, kNotSupported, kAlreadyExists) count as successes of the
//     store (it answered) and are returned as they are.
//   - Fail modes, per limiter (by longest matching key prefix, else the
//     default) when a decision cannot come from the store:
//       kOpen      allow; Decision::degraded = true, limit = the policy's
//                  limit, remaining = max(0, limit - cost).
//       kClosed    deny; degraded = true, remaining = 0, retry_after = the
//                  breaker's open_duration.
//       kFallback  decide on a local MemoryStore owned by this ResilientStore,
//                  under the policy scaled to this instance's share (below);
//                  degraded = true.
//       kError     return the store's error (kUnavailable, kDeadlineExceeded,
//                  kResourceExhausted).
//     Fail modes answer kConsume and kPeek. kRefund and kReset change state
//     that cannot be faked: when the store fails they return its error in
//     every mode. A caller error from the store is returned as is.
//   - Fallback share. With n instances (fallback.instances, or the count
//     discovered through the store: fallback.discover_instances), the local
//     policy is the configured one with limit floor(limit / n) (at least 1);
//     for token bucket and GCRA the refill interval is multiplied by n, so the
//     local refill rate is exactly 1/n of the configured one. So n instances
//     together admit at most the configured limit while the store is down,
//     except that a limit below n still gives each instance 1. A cost above
//     the local limit is denied (degraded), not an error. Each instance's local
//     state starts empty, and is lost on restart.
//   - Reconciliation. Units admitted locally under kFallback for a call the
//     store provably did not run (kUnavailable, the breaker open, no free
//     worker) are recorded per (key, policy) as debt, in a map of at most
//     reconcile.max_keys entries (admissions for further keys are counted as
//     dropped). Units admitted for a call that reached its deadline are not:
//     the store may still apply that call (a paused server works through its
//     queue when it resumes), so they are counted as lost instead. Reconcile()
//     charges each debt to the store with kConsume of min(debt, limit); when
//     that is denied it charges what the store still had (the decision's
//     `remaining`). Each debt is taken out of the map before it is charged,
//     and is charged at most once: a charge with an unknown outcome
//     (kDeadlineExceeded) is dropped and counted as lost, never retried; only
//     a kUnavailable charge (provably not applied) or a breaker rejection puts
//     the debt back for a later pass. A debt older than the policy's horizon
//     (the window length for windows; the time to refill `limit` units for
//     token bucket and GCRA) is dropped as expired: the store would have
//     forgotten it by now. With reconcile.automatic, a background thread runs
//     Reconcile() when the breaker closes again and after the first successful
//     store decision following a degraded one.
//   - Overshoot: units possibly admitted beyond the configured limit because
//     of degradation. Under kOpen, every unit admitted by the fail mode (kConsume
//     only). Under kFallback, the units reconciliation could not charge because
//     the store had no room left for them (result "over_limit"), plus lost
//     and dropped debt (each may or may not have been beyond the limit).
//
// Time: deadlines and backoff delays are timers on the injected clock's
// monotonic time, read by one timer thread; no thread of the store sleeps in
// Clock::SleepFor(). With Clock::Real() the timer thread waits exactly until
// the next timer; with any other clock it re-reads the clock at least every
// millisecond of real time, so advancing a SimulatedClock past a deadline
// answers the waiting call within about a millisecond. A test should advance
// the clock only after the call is in flight (GetResilienceStats().in_flight)
// and has left the queue for a worker (GetResilienceStats().queued == 0);
// time moved while a call waits for a worker counts against its deadline.
//
// Calls: Decide, DecideBatch, DecideAll and DecideAsync get the deadline,
// retries, breaker and fail mode. Get, Put, Delete, AtomicUpdate, Scan and
// Health get the deadline, retries (kUnavailable only) and breaker, and return
// errors (no fail mode for data calls). Scan collects the records on a worker
// and visits them on the caller's thread once the scan is complete (so a
// scan's records are held in memory at once). Flush and Stats() are passed
// through unchanged (a flush may legitimately take long). DecideBatch is one
// call with one deadline; when it fails as a whole, each request gets its own
// limiter's fail mode; a request that failed alone within an answered batch
// also gets its fail mode (no retry). DecideAll takes the strictest fail mode
// of its keys (kError > kClosed > kFallback > kOpen).
//
// Health(): the store's Health() under the deadline, through the breaker (an
// open breaker answers kUnavailable without asking the store; in half-open it
// is a probe), so a readiness check both reports and drives recovery.
//
// Metrics (labels: store = options.name), through options.observer:
//   sluice_resilience_decisions_total{store,outcome}   outcome: store,
//       fallback, fail_open, fail_closed, error
//   sluice_resilience_store_call_duration_seconds{store,call}  Observe() per
//       attempt that answered (call: decide, decide_batch, decide_all, get,
//       put, delete, atomic_update, scan, health)
//   sluice_resilience_store_errors_total{store,code}   attempts that failed,
//       by status code name (DeadlineExceeded for calls past their deadline)
//   sluice_resilience_rejected_total{store,reason}     reason: breaker_open,
//       pool_full
//   sluice_resilience_retries_total{store}
//   sluice_resilience_retry_budget_exhausted_total{store}
//   sluice_resilience_fallback_decisions_total{store,allowed}  allowed: true, false
//   sluice_resilience_reconcile_units_total{store,result}  result: charged,
//       over_limit, lost, expired, dropped
//   sluice_resilience_overshoot_units_total{store,mode}  mode: open, fallback
//   sluice_resilience_instances{store}  gauge: the instance count in use
//   sluice_resilience_heartbeat_failures_total{store}
//   sluice_circuit_breaker_* with breaker = options.name (see circuit_breaker.h)
//
// Destruction: answers every call still waiting (kDeadlineExceeded for an
// attempt in progress, kUnavailable otherwise), then waits up to 200 ms of
// real time for store calls running on workers. A worker still inside a hung
// store call after that is left to finish on its own: it keeps what it uses
// (the wrapped store, the call's copies) alive and drops its late answer.
// The injected clock must outlive such a worker.
//
// Thread-safety: thread-safe, as every Store.
//
// Errors: NewResilientStore returns kInvalidArgument naming a bad option. Calls
// return what the fail mode says (above), or the store's error.
//
// Example:
//   sluice::ResilientStoreOptions options;
//   options.deadline = std::chrono::milliseconds(50);
//   options.fail_mode = sluice::FailMode::kFallback;
//   options.fallback.instances = 4;
//   options.fail_mode_overrides = {{"billing:", sluice::FailMode::kClosed}};
//   SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<sluice::ResilientStore> store,
//                           sluice::NewResilientStore(redis, std::move(options)));
//   // Use `store` wherever a Store goes (RateLimiterOptions::store, ...).

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/circuit_breaker.h"
#include "sluice/clock.h"
#include "sluice/observability.h"
#include "sluice/result.h"
#include "sluice/store.h"
#include "sluice/store_wrapper.h"
#include "sluice/visibility.h"

namespace sluice {

// What a decision is when the store cannot make it (see the file comment).
enum class FailMode : uint8_t {
  kOpen = 0,
  kClosed = 1,
  kFallback = 2,
  kError = 3,
};

// "open", "closed", "fallback", "error".
SLUICE_EXPORT std::string_view FailModeName(FailMode mode);
// Reverse of FailModeName; kInvalidArgument for any other name.
SLUICE_EXPORT Result<FailMode> ParseFailMode(std::string_view name);

struct SLUICE_EXPORT RetryOptions {
  // Attempts per call in all, the first included, in [1, 10]; 1 disables
  // retries. Default: 2.
  int max_attempts = 2;
  // Cap of the first retry's wait (full jitter: uniform in [0, cap]); > 0.
  // Default: 2 ms.
  std::chrono::nanoseconds initial_backoff = std::chrono::milliseconds(2);
  // No wait is longer than this; >= initial_backoff. Default: 20 ms.
  std::chrono::nanoseconds max_backoff = std::chrono::milliseconds(20);
  // Growth of the cap per retry; >= 1. Default: 2.
  double backoff_multiplier = 2.0;
  // Retries may be at most this share of calls over budget_window, in [0, 1].
  // Default: 0.1.
  double budget_ratio = 0.1;
  // ... plus this many retries per second of budget_window whatever the
  // traffic; >= 0. Default: 10.
  int64_t budget_min_per_second = 10;
  // The budget's rolling window (kept in 10 buckets); >= 10 us. Default: 10 s.
  std::chrono::nanoseconds budget_window = std::chrono::seconds(10);

  // kInvalidArgument naming the first bad field.
  Status Validate() const;
};

struct SLUICE_EXPORT FallbackOptions {
  // How many instances share each limit while the store is down: the local
  // limit is floor(limit / instances), at least 1; >= 1. Default: 1 (one
  // instance keeps the whole limit locally).
  int64_t instances = 1;
  // Keys the local store holds (MemoryStoreOptions::max_keys); >= 1.
  // Default: 100,000.
  size_t max_keys = 100'000;

  // Discover the instance count through the store while it is healthy: each
  // instance keeps a heartbeat key `discovery_prefix + instance_id` (opaque,
  // with a TTL of heartbeat_ttl), rewrites it every heartbeat_interval, and
  // counts the live keys under the prefix with Scan. The count last
  // discovered replaces `instances`; until a heartbeat has succeeded,
  // `instances` applies. During an outage heartbeats fail and the last count
  // stays. Default: false.
  bool discover_instances = false;
  // This instance's name, unique among those sharing the store (host:port, a
  // pod name); required with discover_instances. Default: none.
  std::string instance_id{};
  // Non-empty. Default: "sluice:instances:".
  std::string discovery_prefix = "sluice:instances:";
  // > 0. Default: 10 s.
  std::chrono::nanoseconds heartbeat_ttl = std::chrono::seconds(10);
  // > 0 and < heartbeat_ttl. Default: 3 s.
  std::chrono::nanoseconds heartbeat_interval = std::chrono::seconds(3);

  Status Validate() const;
};

struct SLUICE_EXPORT ReconcileOptions {
  // Record local admissions as debt and charge them back. Default: true.
  bool enabled = true;
  // Run Reconcile() in the background when the store recovers. Default: true.
  bool automatic = true;
  // Debt entries kept at most ((key, policy) pairs); admissions for further
  // keys are not recorded and are counted as dropped; >= 1. Default: 10,000.
  size_t max_keys = 10'000;

  Status Validate() const;
};

// Routes limiters to fail modes by key prefix.
struct FailModeRule {
  std::string prefix;  // matched against DecideRequest::key
  FailMode mode = FailMode::kOpen;
};

struct SLUICE_EXPORT ResilientStoreOptions {
  // Names the store in metrics and logs (label `store`). Default: the base
  // store's name().
  std::string name{};
  // Where time comes from (deadlines, backoff, breaker, budget). Default: the
  // base store's clock().
  Clock* clock = nullptr;
  // Logs and metrics. Default: warnings to stderr, no metrics.
  Observer observer{};
  // Seed of the backoff jitter. Default: 0 (a fixed sequence; give each
  // process its own to decorrelate them).
  uint64_t seed = 0;

  // Longest time a caller waits for one call, retries and backoff included;
  // > 0. Default: 50 ms.
  std::chrono::nanoseconds deadline = std::chrono::milliseconds(50);
  // Deadline of Health(); 0 = `deadline`; >= 0. Default: 0.
  std::chrono::nanoseconds health_deadline{0};
  // Worker threads calling the store, in [1, 1024]. Default: 4.
  int workers = 4;
  // Calls that may wait for a worker beyond those running (with
  // base_is_async: calls in flight in all), in [0, 1,000,000]. Default: 64.
  size_t max_queued = 64;
  // Call the base's DecideAsync directly instead of running Decide on a
  // worker. Only for stores whose DecideAsync never blocks the calling
  // thread (a remote store with its own I/O thread); the deadline is enforced
  // the same way, and at most max_queued decisions are in flight. Other calls
  // use the workers. Default: false.
  bool base_is_async = false;

  RetryOptions retry{};
  // The breaker. `name`, `clock` and `observer` left at their defaults are
  // taken from these options. Default: CircuitBreakerOptions's defaults.
  CircuitBreakerOptions breaker{};

  // Default fail mode. Default: kOpen.
  FailMode fail_mode = FailMode::kOpen;
  // Per-limiter fail modes: the rule with the longest prefix of the request's
  // key wins; keys no rule matches get `fail_mode`. Prefixes must be distinct.
  // Default: none.
  std::vector<FailModeRule> fail_mode_overrides{};
  FallbackOptions fallback{};
  ReconcileOptions reconcile{};

  // kInvalidArgument naming the first bad field.
  Status Validate() const;
};

// A snapshot of what the store has done, for tests, the daemon and /readyz.
struct ResilienceStats {
  // Decisions by how they were made.
  uint64_t decisions_store = 0;
  uint64_t decisions_fallback = 0;
  uint64_t decisions_fail_open = 0;
  uint64_t decisions_fail_closed = 0;
  uint64_t decisions_error = 0;
  // Attempts that reached the store, and how they failed.
  uint64_t attempts = 0;
  uint64_t attempts_unavailable = 0;
  uint64_t attempts_deadline_exceeded = 0;  // calls past their deadline
  uint64_t attempts_other_errors = 0;       // other failure codes
  uint64_t retries = 0;
  uint64_t retry_budget_exhausted = 0;
  // Calls that did not reach the store.
  uint64_t rejected_breaker_open = 0;
  uint64_t rejected_pool_full = 0;
  // Fallback decisions by answer.
  uint64_t fallback_allowed = 0;
  uint64_t fallback_denied = 0;
  // Reconciliation, in units.
  uint64_t reconcile_charged = 0;
  uint64_t reconcile_over_limit = 0;
  uint64_t reconcile_lost = 0;
  uint64_t reconcile_expired = 0;
  uint64_t reconcile_dropped = 0;
  uint64_t reconcile_passes = 0;
  // Debt not yet settled: entries waiting for a pass, and units waiting or
  // taken by a running pass. At any snapshot, the units admitted locally
  // equal charged + over_limit + lost + expired + dropped + debt_units.
  uint64_t debt_keys = 0;
  uint64_t debt_units = 0;
  // Overshoot in units (see the file comment).
  uint64_t overshoot_open = 0;
  uint64_t overshoot_fallback = 0;
  // The instance count the fallback uses (configured or discovered), and
  // heartbeats that failed.
  int64_t instances = 1;
  uint64_t heartbeat_failures = 0;
  // Now: calls started and not yet answered (each holds one deadline timer),
  // calls running on workers (hung ones included), and timers pending
  // (deadlines, backoffs, and with instance discovery one heartbeat timer).
  uint64_t in_flight = 0;
  uint64_t busy_workers = 0;
  uint64_t pending_timers = 0;
  // Store calls submitted to the workers and not yet picked up by one
  // (including calls already answered by their deadline, which a worker will
  // skip). A test driving a simulated clock should let these start before it
  // moves time.
  uint64_t queued = 0;
  // 1 while a Reconcile() pass runs (its charges are calls in flight; the
  // debt it took counts in debt_units until each entry is settled).
  uint64_t reconcile_running = 0;
  BreakerState breaker_state = BreakerState::kClosed;
  BreakerMode breaker_mode = BreakerMode::kNormal;
};

// What one Reconcile() pass did, in units (and debt entries examined).
struct ReconcileResult {
  uint64_t entries = 0;
  uint64_t charged = 0;
  uint64_t over_limit = 0;
  uint64_t lost = 0;
  uint64_t expired = 0;
  uint64_t deferred = 0;  // put back for a later pass (store unavailable)
};

class SLUICE_EXPORT ResilientStore : public StoreWrapper {
 public:
  ~ResilientStore() override;
  ResilientStore(const ResilientStore&) = delete;
  ResilientStore& operator=(const ResilientStore&) = delete;

  Clock& clock() const override;
  using Store::Decide;
  Result<Decision> Decide(const DecideRequest& request) override;
  std::vector<Result<Decision>> DecideBatch(std::span<const DecideRequest> requests) override;
  Result<MultiDecision> DecideAll(std::span<const DecideRequest> requests) override;
  // `done` is called exactly once, by the deadline: possibly on this thread,
  // a worker, the store's own thread or the timer thread. It should return
  // quickly: on the timer thread it delays other calls' deadlines.
  void DecideAsync(const DecideRequest& request, std::function<void(Result<Decision>)> done) override;
  Result<std::optional<Record>> AtomicUpdate(std::string_view key, const UpdateFn& fn,
                                             const UpdateOptions& options = {}) override;
  Result<std::optional<Record>> Get(std::string_view key) override;
  using Store::Put;
  Status Put(const Record& record) override;
  Status Delete(std::string_view key) override;
  Status Scan(std::string_view prefix, const ScanVisitor& visit) override;
  Status Health() override;

  // The fail mode that applies to `key`.
  FailMode FailModeFor(std::string_view key) const;

  // The breaker, e.g. to force it open or read its state for /readyz.
  CircuitBreaker& breaker() const;
  BreakerState breaker_state() const;

  // Charges recorded debt to the store now (see the file comment). Safe to
  // call at any time and concurrently with everything else; passes do not
  // overlap (a second caller waits for the first pass). Skips the charges
  // while the breaker rejects (the debt stays).
  ReconcileResult Reconcile();

  // With fallback.discover_instances: writes this instance's heartbeat and
  // counts the live ones now (the background thread does the same every
  // heartbeat_interval). Returns the count, which the fallback then uses; an
  // error (and the count stays) when the store failed. kFailedPrecondition
  // without discover_instances.
  Result<int64_t> Heartbeat();

  // The instance count the fallback divides limits by now.
  int64_t instances() const;

  ResilienceStats GetResilienceStats() const;

  const ResilientStoreOptions& options() const;

 private:
  struct Impl;
  friend SLUICE_EXPORT Result<std::shared_ptr<ResilientStore>> NewResilientStore(std::shared_ptr<Store>,
                                                                                 ResilientStoreOptions);
  ResilientStore(std::shared_ptr<Store> base, std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Wraps `base`. kInvalidArgument if base is null or the options are invalid.
SLUICE_EXPORT Result<std::shared_ptr<ResilientStore>> NewResilientStore(std::shared_ptr<Store> base,
                                                                        ResilientStoreOptions options);

}  // namespace sluice

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// How a call runs: Run() arms a deadline timer on the executor and starts the
// first attempt. An attempt takes a breaker permit and runs the store call on
// a worker (or through the base's DecideAsync). Whichever comes first answers
// the call: the attempt's result (possibly after retries scheduled as timers)
// or the deadline timer; the `finished` flag under the call's mutex decides,
// and the loser does nothing. Each call owns copies of everything its store
// call reads, so a late answer touches only the call's own shared state.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "internal/backoff.h"
#include "resilience/executor.h"
#include "resilience/retry_budget.h"
#include "sluice/duration.h"
#include "sluice/memory_store.h"
#include "sluice/resilient_store.h"

namespace sluice {

std::string_view FailModeName(FailMode mode) {
  switch (mode) {
    case FailMode::kOpen:
      return "open";
    case FailMode::kClosed:
      return "closed";
    case FailMode::kFallback:
      return "fallback";
    case FailMode::kError:
      return "error";
  }
  return "unknown";
}

Result<FailMode> ParseFailMode(std::string_view name) {
  for (FailMode m : {FailMode::kOpen, FailMode::kClosed, FailMode::kFallback, FailMode::kError}) {
    if (FailModeName(m) == name) return m;
  }
  return InvalidArgumentError("unknown fail mode \"" + std::string(name) +
                              "\" (expected open, closed, fallback or error)");
}

Status RetryOptions::Validate() const {
  auto bad = [](std::string_view what) { return InvalidArgumentError("resilient store: retry." + std::string(what)); };
  if (max_attempts < 1 || max_attempts > 10) return bad("max_attempts must be in [1, 10]");
  if (initial_backoff.count() <= 0) return bad("initial_backoff must be positive");
  if (max_backoff < initial_backoff) return bad("max_backoff must be at least initial_backoff");
  if (!(backoff_multiplier >= 1.0) || !std::isfinite(backoff_multiplier)) {
    return bad("backoff_multiplier must be a finite number >= 1");
  }
  if (!(budget_ratio >= 0.0 && budget_ratio <= 1.0)) return bad("budget_ratio must be in [0, 1]");
  if (budget_min_per_second < 0) return bad("budget_min_per_second must not be negative");
  if (budget_window < std::chrono::microseconds(10)) return bad("budget_window must be at least 10us");
  return Status::Ok();
}

Status FallbackOptions::Validate() const {
  if (instances < 1) return InvalidArgumentError("resilient store: fallback.instances must be at least 1");
  if (max_keys < 1) return InvalidArgumentError("resilient store: fallback.max_keys must be at least 1");
  if (discover_instances) {
    if (instance_id.empty()) {
      return InvalidArgumentError("resilient store: fallback.instance_id is required with discover_instances");
    }
    if (discovery_prefix.empty()) return InvalidArgumentError("resilient store: fallback.discovery_prefix is empty");
    if (discovery_prefix.size() + instance_id.size() > kMaxKeyBytes) {
      return InvalidArgumentError("resilient store: fallback.discovery_prefix + instance_id is longer than " +
                                  std::to_string(kMaxKeyBytes) + " bytes");
    }
    if (heartbeat_ttl.count() <= 0) return InvalidArgumentError("resilient store: fallback.heartbeat_ttl must be positive");
    if (heartbeat_interval.count() <= 0 || heartbeat_interval >= heartbeat_ttl) {
      return InvalidArgumentError(
          "resilient store: fallback.heartbeat_interval must be positive and shorter than heartbeat_ttl");
    }
  }
  return Status::Ok();
}

Status ReconcileOptions::Validate() const {
  if (max_keys < 1) return InvalidArgumentError("resilient store: reconcile.max_keys must be at least 1");
  return Status::Ok();
}

namespace {

bool ValidFailMode(FailMode m) { return static_cast<uint8_t>(m) <= static_cast<uint8_t>(FailMode::kError); }

}  // namespace

Status ResilientStoreOptions::Validate() const {
  auto bad = [](std::string_view what) { return InvalidArgumentError("resilient store: " + std::string(what)); };
  if (deadline.count() <= 0) return bad("deadline must be positive");
  if (health_deadline.count() < 0) return bad("health_deadline must not be negative");
  if (workers < 1 || workers > 1024) return bad("workers must be in [1, 1024]");
  if (max_queued > 1'000'000) return bad("max_queued must be at most 1000000");
  SLUICE_RETURN_IF_ERROR(retry.Validate());
  SLUICE_RETURN_IF_ERROR(breaker.Validate().WithContext("resilient store"));
  if (!ValidFailMode(fail_mode)) return bad("fail_mode is not a known mode");
  for (size_t i = 0; i < fail_mode_overrides.size(); ++i) {
    if (!ValidFailMode(fail_mode_overrides[i].mode)) {
      return bad("fail_mode_overrides[" + std::to_string(i) + "].mode is not a known mode");
    }
    for (size_t j = 0; j < i; ++j) {
      if (fail_mode_overrides[j].prefix == fail_mode_overrides[i].prefix) {
        return bad("fail_mode_overrides has the prefix \"" + fail_mode_overrides[i].prefix + "\" twice");
      }
    }
  }
  SLUICE_RETURN_IF_ERROR(fallback.Validate());
  SLUICE_RETURN_IF_ERROR(reconcile.Validate());
  return Status::Ok();
}

namespace {

using resilience::Executor;
using resilience::RetryBudget;

// What a store call's status says about the store.
enum class ErrorClass : uint8_t {
  kOk,
  kCaller,   // the store answered: the request was wrong (returned as is)
  kFailure,  // the store failed: breaker failure, fail mode
};

ErrorClass Classify(const Status& s) {
  if (s.ok()) return ErrorClass::kOk;
  switch (s.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kResourceExhausted:
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
    case StatusCode::kAborted:
      return ErrorClass::kFailure;
    default:
      return ErrorClass::kCaller;
  }
}

// Strictness order for DecideAll: error > closed > fallback > open.
int Strictness(FailMode m) {
  switch (m) {
    case FailMode::kOpen:
      return 0;
    case FailMode::kFallback:
      return 1;
    case FailMode::kClosed:
      return 2;
    case FailMode::kError:
      return 3;
  }
  return 3;
}

// This instance's share of `p` (see the header).
Policy ScalePolicy(const Policy& p, int64_t n) {
  if (n <= 1) return p;
  Policy s = p;
  s.limit = std::max<int64_t>(1, p.limit / n);
  if (p.algorithm == Algorithm::kTokenBucket || p.algorithm == Algorithm::kGcra) {
    Policy by_interval = s;
    if (p.interval.count() <= std::numeric_limits<int64_t>::max() / n) {
      by_interval.interval = p.interval * n;
      if (by_interval.Validate().ok()) return by_interval;
    }
    // The interval would leave the valid range: scale the refill amount instead.
    s.refill_amount = std::max<int64_t>(1, p.refill_amount / n);
    if (s.Validate().ok()) return s;
    s.refill_amount = p.refill_amount;
  }
  return s;
}

struct Debt {
  std::string key;
  Policy policy;
  int64_t units = 0;
  int64_t first_ns = 0;
  int64_t last_ns = 0;
};

// Whether the store would have forgotten this debt by `now_ns`.
bool DebtExpired(const Debt& d, int64_t now_ns) {
  switch (d.policy.algorithm) {
    case Algorithm::kFixedWindow:
      return FixedWindowAt(d.policy, d.first_ns).end_ns <= now_ns;
    case Algorithm::kSlidingWindowLog:
    case Algorithm::kSlidingWindowCounter:
      return static_cast<double>(d.last_ns) + static_cast<double>(d.policy.interval.count()) <=
             static_cast<double>(now_ns);
    case Algorithm::kTokenBucket:
    case Algorithm::kGcra: {
      const double horizon = static_cast<double>(d.policy.limit) * static_cast<double>(d.policy.interval.count()) /
                             static_cast<double>(std::max<int64_t>(1, d.policy.refill_amount));
      return static_cast<double>(d.last_ns) + horizon <= static_cast<double>(now_ns);
    }
  }
  return false;
}

std::string DebtMapKey(std::string_view key, const Policy& policy) {
  const uint64_t fp = policy.Fingerprint();
  std::string out(reinterpret_cast<const char*>(&fp), sizeof(fp));
  out.append(key);
  return out;
}

Decision OpenDecision(const Policy& policy, int64_t cost) {
  Decision d;
  d.allowed = true;
  d.limit = policy.limit;
  d.remaining = std::max<int64_t>(0, policy.limit - std::max<int64_t>(0, cost));
  d.degraded = true;
  return d;
}

Decision ClosedDecision(const Policy& policy, std::chrono::nanoseconds retry_after) {
  Decision d;
  d.allowed = false;
  d.limit = policy.limit;
  d.remaining = 0;
  d.retry_after = retry_after;
  d.degraded = true;
  return d;
}

}  // namespace

namespace resilience {

struct Counters {
  std::atomic<uint64_t> decisions_store{0};
  std::atomic<uint64_t> decisions_fallback{0};
  std::atomic<uint64_t> decisions_fail_open{0};
  std::atomic<uint64_t> decisions_fail_closed{0};
  std::atomic<uint64_t> decisions_error{0};
  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> attempts_unavailable{0};
  std::atomic<uint64_t> attempts_deadline_exceeded{0};
  std::atomic<uint64_t> attempts_other_errors{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> retry_budget_exhausted{0};
  std::atomic<uint64_t> rejected_breaker_open{0};
  std::atomic<uint64_t> rejected_pool_full{0};
  std::atomic<uint64_t> fallback_allowed{0};
  std::atomic<uint64_t> fallback_denied{0};
  std::atomic<uint64_t> reconcile_charged{0};
  std::atomic<uint64_t> reconcile_over_limit{0};
  std::atomic<uint64_t> reconcile_lost{0};
  std::atomic<uint64_t> reconcile_expired{0};
  std::atomic<uint64_t> reconcile_dropped{0};
  std::atomic<uint64_t> reconcile_passes{0};
  std::atomic<uint64_t> overshoot_open{0};
  std::atomic<uint64_t> overshoot_fallback{0};
  std::atomic<uint64_t> in_flight{0};
};

// One call to the wrapped store, with its retries.
template <typename T>
struct Call {
  std::mutex mu;
  bool finished = false;  // guarded by mu; set once, by whoever answers
  // The store call, run on a worker; or, when set, `start_async`, which must
  // call its callback exactly once without blocking.
  std::function<Result<T>(Store&)> op;
  std::function<void(Store&, std::function<void(Result<T>)>)> start_async;
  std::function<void(Result<T>)> done;
  std::string_view name;  // metric label; a literal
  uint64_t id = 0;
  Clock::Monotonic deadline_at{};
  std::chrono::nanoseconds deadline{0};
  std::optional<Executor::TimerId> deadline_timer;  // guarded by mu
  // The current attempt, guarded by mu.
  int attempts = 0;
  uint64_t seq = 0;
  bool attempt_open = false;
  uint64_t queued_task = 0;  // the attempt's task while it may wait for a worker
  BreakerPermit permit;
  Clock::Monotonic attempt_start{};
  std::optional<internal::Backoff> backoff;
};

}  // namespace resilience

using resilience::Call;
using resilience::Counters;

struct ResilientStore::Impl : std::enable_shared_from_this<ResilientStore::Impl> {
  ResilientStoreOptions o;
  std::shared_ptr<Store> base;
  Clock* clock = nullptr;
  std::vector<FailModeRule> rules;  // longest prefix first
  std::unique_ptr<CircuitBreaker> breaker;
  std::unique_ptr<RetryBudget> budget;
  std::unique_ptr<MemoryStore> local;
  std::unique_ptr<Executor> executor;
  Counters c;
  std::atomic<uint64_t> next_call_id{0};
  std::atomic<size_t> async_in_flight{0};
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> reconcile_running{0};  // passes running (0 or 1)
  std::atomic<int64_t> discovered_instances{0};  // 0 until a heartbeat succeeded
  std::atomic<uint64_t> heartbeat_failures{0};

  std::mutex debt_mu;
  std::unordered_map<std::string, Debt> debts;  // guarded by debt_mu
  uint64_t debt_in_pass = 0;                    // guarded by debt_mu: units a pass took, not yet settled
  std::atomic<bool> debt_pending{false};
  std::mutex reconcile_mu;  // one pass at a time

  std::mutex rt_mu;
  std::condition_variable rt_cv;
  bool rt_wanted = false;  // guarded by rt_mu
  bool hb_wanted = false;  // guarded by rt_mu
  bool rt_stop = false;    // guarded by rt_mu
  std::thread reconcile_thread;
  std::once_flag shutdown_once;

  // ---- metrics -------------------------------------------------------------

  void Count(std::string_view metric, std::string_view label, std::string_view value, uint64_t delta = 1) {
    if (delta == 0) return;
    const MetricLabel labels[] = {{"store", o.name}, {label, value}};
    o.observer.sink().Increment(metric, labels, delta);
  }
  void Count(std::string_view metric, uint64_t delta = 1) {
    if (delta == 0) return;
    const MetricLabel labels[] = {{"store", o.name}};
    o.observer.sink().Increment(metric, labels, delta);
  }
  void CountDecision(std::string_view outcome, std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.fetch_add(n, std::memory_order_relaxed);
    Count("sluice_resilience_decisions_total", "outcome", outcome, n);
  }

  // ---- calls ---------------------------------------------------------------

  template <typename T>
  void Run(std::shared_ptr<Call<T>> call, std::chrono::nanoseconds deadline) {
    c.in_flight.fetch_add(1, std::memory_order_relaxed);
    call->id = next_call_id.fetch_add(1, std::memory_order_relaxed);
    call->deadline = deadline;
    call->deadline_at = clock->MonotonicNow() + deadline;
    budget->RecordCall();
    Executor::TimerId tid;
    auto self = shared_from_this();
    bool armed = false;
    {
      // Held so that the timer cannot answer before its id is recorded.
      std::lock_guard lock(call->mu);
      armed = executor->AddTimer(call->deadline_at, [self, call] { self->OnDeadline(call); }, &tid);
      if (armed) call->deadline_timer = tid;
    }
    if (!armed) {
      Finish(call, Result<T>(UnavailableError(std::string(call->name) + ": the resilient store is shut down")));
      return;
    }
    StartAttempt(call);
  }

  template <typename T>
  void StartAttempt(std::shared_ptr<Call<T>> call) {
    {
      std::lock_guard lock(call->mu);
      if (call->finished) return;
    }
    if (stopping.load(std::memory_order_relaxed)) {
      Finish(call, Result<T>(UnavailableError(std::string(call->name) + ": the resilient store is shut down")));
      return;
    }
    BreakerPermit permit = breaker->TryAcquire();
    if (!permit) {
      c.rejected_breaker_open.fetch_add(1, std::memory_order_relaxed);
      Count("sluice_resilience_rejected_total", "reason", "breaker_open");
      Finish(call, Result<T>(UnavailableError("store \"" + o.name + "\": circuit breaker is open")));
      return;
    }
    uint64_t seq = 0;
    {
      std::lock_guard lock(call->mu);
      if (call->finished) {
        seq = 0;
      } else {
        ++call->attempts;
        seq = ++call->seq;
        call->permit = permit;
        call->attempt_open = true;
        call->attempt_start = clock->MonotonicNow();
      }
    }
    if (seq == 0) {
      breaker->Record(permit, CallOutcome::kIgnored, std::chrono::nanoseconds(0));
      return;
    }
    c.attempts.fetch_add(1, std::memory_order_relaxed);
    auto self = shared_from_this();
    bool started = false;
    if (call->start_async) {
      if (async_in_flight.fetch_add(1) < std::max<size_t>(1, o.max_queued)) {
        started = true;
        call->start_async(*base, [self, call, seq](Result<T> r) {
          self->async_in_flight.fetch_sub(1);
          self->OnAttemptDone(call, seq, std::move(r));
        });
      } else {
        async_in_flight.fetch_sub(1);
      }
    } else {
      const uint64_t task = executor->Submit([self, call, seq] { self->RunAttempt(call, seq); });
      started = task != 0;
      if (started) {
        std::lock_guard lock(call->mu);
        // If a worker took it already, the id is stale and Cancel() finds nothing.
        if (call->seq == seq && call->attempt_open) call->queued_task = task;
      }
    }
    if (!started) {
      BreakerPermit p;
      {
        std::lock_guard lock(call->mu);
        if (call->seq == seq && call->attempt_open) {
          call->attempt_open = false;
          p = call->permit;
        }
      }
      breaker->Record(p, CallOutcome::kIgnored, std::chrono::nanoseconds(0));
      c.rejected_pool_full.fetch_add(1, std::memory_order_relaxed);
      Count("sluice_resilience_rejected_total", "reason", "pool_full");
      Finish(call, Result<T>(ResourceExhaustedError(
                       "store \"" + o.name + "\": every worker is busy and " + std::to_string(o.max_queued) +
                       " calls are waiting (the store is slow or hung)")));
    }
  }

  template <typename T>
  void RunAttempt(const std::shared_ptr<Call<T>>& call, uint64_t seq) {
    {
      std::lock_guard lock(call->mu);
      // Answered while it waited for a worker (deadline): do not send it.
      if (call->finished || call->seq != seq) return;
      call->queued_task = 0;
    }
    Result<T> r = call->op(*base);
    OnAttemptDone(call, seq, std::move(r));
  }

  template <typename T>
  void OnAttemptDone(const std::shared_ptr<Call<T>>& call, uint64_t seq, Result<T> r) {
    const Clock::Monotonic now = clock->MonotonicNow();
    const Status status = r.ok() ? Status::Ok() : r.status();
    const ErrorClass cls = Classify(status);
    BreakerPermit permit;
    std::chrono::nanoseconds latency{0};
    std::chrono::nanoseconds delay{0};
    bool retry = false;
    bool budget_refused = false;
    {
      std::lock_guard lock(call->mu);
      // Late: the deadline answered already (and counted the failure).
      if (call->finished || call->seq != seq || !call->attempt_open) return;
      call->attempt_open = false;
      permit = call->permit;
      latency = std::chrono::duration_cast<std::chrono::nanoseconds>(now - call->attempt_start);
      if (status.code() == StatusCode::kUnavailable && call->attempts < o.retry.max_attempts) {
        if (!call->backoff.has_value()) {
          internal::BackoffOptions bo;
          bo.initial = o.retry.initial_backoff;
          bo.max_delay = o.retry.max_backoff;
          bo.multiplier = o.retry.backoff_multiplier;
          bo.max_attempts = o.retry.max_attempts;
          bo.seed = o.seed ^ (call->id * 0x9E3779B97F4A7C15ull);
          call->backoff.emplace(bo, *clock);
        }
        delay = call->backoff->NextDelay();
        // Only if the next attempt can start before the deadline.
        if (now + delay < call->deadline_at) {
          retry = budget->TryRetry();
          budget_refused = !retry;
        }
      }
      if (!retry) call->finished = true;
    }
    breaker->Record(permit, cls == ErrorClass::kFailure ? CallOutcome::kFailure : CallOutcome::kSuccess, latency);
    {
      const MetricLabel labels[] = {{"store", o.name}, {"call", call->name}};
      o.observer.sink().Observe("sluice_resilience_store_call_duration_seconds", labels, latency);
    }
    if (cls == ErrorClass::kFailure) {
      (status.code() == StatusCode::kUnavailable ? c.attempts_unavailable : c.attempts_other_errors)
          .fetch_add(1, std::memory_order_relaxed);
      Count("sluice_resilience_store_errors_total", "code", StatusCodeName(status.code()));
    }
    if (budget_refused) {
      c.retry_budget_exhausted.fetch_add(1, std::memory_order_relaxed);
      Count("sluice_resilience_retry_budget_exhausted_total");
    }
    if (retry) {
      c.retries.fetch_add(1, std::memory_order_relaxed);
      Count("sluice_resilience_retries_total");
      auto self = shared_from_this();
      if (!executor->AddTimer(now + delay, [self, call] { self->StartAttempt(call); })) {
        Finish(call, Result<T>(UnavailableError(std::string(call->name) + ": the resilient store is shut down")));
      }
      return;
    }
    Deliver(call, std::move(r));
  }

  template <typename T>
  void OnDeadline(const std::shared_ptr<Call<T>>& call) {
    const Clock::Monotonic now = clock->MonotonicNow();
    BreakerPermit permit;
    bool attempt_open = false;
    uint64_t queued_task = 0;
    std::chrono::nanoseconds latency{0};
    {
      std::lock_guard lock(call->mu);
      if (call->finished) return;
      call->finished = true;
      call->deadline_timer.reset();  // it is running: nothing to cancel
      if (call->attempt_open) {
        call->attempt_open = false;
        attempt_open = true;
        permit = call->permit;
        latency = std::chrono::duration_cast<std::chrono::nanoseconds>(now - call->attempt_start);
        queued_task = call->queued_task;
        call->queued_task = 0;
      }
    }
    // Still waiting for a worker: take it out of the queue. It never reached
    // the store, so nothing was applied.
    const bool never_sent = queued_task != 0 && executor->Cancel(queued_task);
    if (never_sent) {
      breaker->Record(permit, CallOutcome::kFailure, latency);
      c.attempts_deadline_exceeded.fetch_add(1, std::memory_order_relaxed);
      Count("sluice_resilience_store_errors_total", "code", StatusCodeName(StatusCode::kDeadlineExceeded));
      Deliver(call, Result<T>(UnavailableError("store \"" + o.name + "\": " + std::string(call->name) +
                                               " waited for a worker past its deadline of " +
                                               FormatDuration(call->deadline) +
                                               " (every worker busy; nothing applied)")));
    } else if (attempt_open) {
      breaker->Record(permit, CallOutcome::kFailure, latency);
      c.attempts_deadline_exceeded.fetch_add(1, std::memory_order_relaxed);
      Count("sluice_resilience_store_errors_total", "code", StatusCodeName(StatusCode::kDeadlineExceeded));
      Deliver(call, Result<T>(DeadlineExceededError("store \"" + o.name + "\": no answer to " +
                                                    std::string(call->name) + " within " +
                                                    FormatDuration(call->deadline) + " (outcome unknown)")));
    } else {
      // Between attempts (or before the first): nothing was applied.
      Deliver(call, Result<T>(UnavailableError("store \"" + o.name + "\": " + std::string(call->name) +
                                               " did not complete within " + FormatDuration(call->deadline) +
                                               " (no attempt was running; nothing applied)")));
    }
  }

  // Answers a call that nobody answered yet.
  template <typename T>
  void Finish(const std::shared_ptr<Call<T>>& call, Result<T> r) {
    {
      std::lock_guard lock(call->mu);
      if (call->finished) return;
      call->finished = true;
    }
    Deliver(call, std::move(r));
  }

  // REQUIRES: the caller set call->finished.
  template <typename T>
  void Deliver(const std::shared_ptr<Call<T>>& call, Result<T> r) {
    std::optional<Executor::TimerId> timer;
    {
      std::lock_guard lock(call->mu);
      timer.swap(call->deadline_timer);
    }
    if (timer.has_value()) executor->CancelTimer(*timer);
    c.in_flight.fetch_sub(1, std::memory_order_relaxed);
    auto done = std::move(call->done);
    call->done = nullptr;
    done(std::move(r));
  }

  template <typename T>
  Result<T> RunSync(std::shared_ptr<Call<T>> call, std::chrono::nanoseconds deadline) {
    struct Waiter {
      std::mutex mu;
      std::condition_variable cv;
      std::optional<Result<T>> r;
    };
    auto w = std::make_shared<Waiter>();
    call->done = [w](Result<T> r) {
      {
        std::lock_guard lock(w->mu);
        w->r.emplace(std::move(r));
      }
      w->cv.notify_all();
    };
    Run(std::move(call), deadline);
    std::unique_lock lock(w->mu);
    // Bounded: the deadline timer answers every call.
    w->cv.wait(lock, [&] { return w->r.has_value(); });
    return std::move(*w->r);
  }

  template <typename T>
  Result<T> RunOp(std::string_view name, std::function<Result<T>(Store&)> op) {
    auto call = std::make_shared<Call<T>>();
    call->name = name;
    call->op = std::move(op);
    return RunSync(std::move(call), o.deadline);
  }

  // ---- decisions -----------------------------------------------------------

  FailMode ModeFor(std::string_view key) const {
    for (const FailModeRule& rule : rules) {
      if (key.substr(0, rule.prefix.size()) == rule.prefix) return rule.mode;
    }
    return o.fail_mode;
  }

  void NoteStoreDecision(uint64_t n) {
    CountDecision("store", c.decisions_store, n);
    if (o.reconcile.enabled && o.reconcile.automatic && debt_pending.load(std::memory_order_relaxed)) {
      WakeReconciler();
    }
  }

  void WakeReconciler() {
    {
      std::lock_guard lock(rt_mu);
      if (rt_wanted || rt_stop) return;
      rt_wanted = true;
    }
    rt_cv.notify_one();
  }

  void AddDebt(std::string_view key, const Policy& policy, int64_t units) {
    if (!o.reconcile.enabled || units <= 0) return;
    const int64_t now = clock->NowNanos();
    std::string mk = DebtMapKey(key, policy);
    uint64_t dropped = 0;
    uint64_t expired = 0;
    {
      std::lock_guard lock(debt_mu);
      auto it = debts.find(mk);
      if (it == debts.end()) {
        if (debts.size() >= o.reconcile.max_keys) {
          dropped = static_cast<uint64_t>(units);
        } else {
          debts.emplace(std::move(mk), Debt{std::string(key), policy, units, now, now});
        }
      } else {
        Debt& d = it->second;
        if (DebtExpired(d, now)) {
          expired = static_cast<uint64_t>(d.units);
          d.units = 0;
          d.first_ns = now;
        }
        d.units += units;
        d.last_ns = now;
      }
      debt_pending.store(true, std::memory_order_relaxed);
      c.reconcile_dropped.fetch_add(dropped, std::memory_order_relaxed);
      c.overshoot_fallback.fetch_add(dropped, std::memory_order_relaxed);
      c.reconcile_expired.fetch_add(expired, std::memory_order_relaxed);
    }
    Count("sluice_resilience_reconcile_units_total", "result", "dropped", dropped);
    Count("sluice_resilience_overshoot_units_total", "mode", "fallback", dropped);
    Count("sluice_resilience_reconcile_units_total", "result", "expired", expired);
  }

  // Puts a debt that could not be charged back for a later pass; returns
  // the units dropped because the map is full. REQUIRES: debt_mu held.
  uint64_t RestoreDebtLocked(Debt d) {
    std::string mk = DebtMapKey(d.key, d.policy);
    uint64_t dropped = 0;
    auto it = debts.find(mk);
    if (it != debts.end()) {
      it->second.units += d.units;
      it->second.first_ns = std::min(it->second.first_ns, d.first_ns);
      it->second.last_ns = std::max(it->second.last_ns, d.last_ns);
    } else if (debts.size() >= o.reconcile.max_keys) {
      dropped = static_cast<uint64_t>(d.units);
      c.reconcile_dropped.fetch_add(dropped, std::memory_order_relaxed);
      c.overshoot_fallback.fetch_add(dropped, std::memory_order_relaxed);
    } else {
      debts.emplace(std::move(mk), std::move(d));
    }
    debt_pending.store(true, std::memory_order_relaxed);
    return dropped;
  }

  // Units admitted locally for a call the store failed with `why`. Only a
  // call that provably did not run becomes debt: one that hit its deadline
  // may yet be applied by the store (a paused server works through its
  // queue when it resumes), so charging it again would count it twice. Its
  // units are counted as lost instead (an undercount of at most the calls in
  // flight when the store went away, never a double count).
  void RecordLocalAdmission(std::string_view key, const Policy& policy, int64_t cost, const Status& why) {
    if (why.code() != StatusCode::kDeadlineExceeded) return AddDebt(key, policy, cost);
    if (!o.reconcile.enabled || cost <= 0) return;
    c.reconcile_lost.fetch_add(static_cast<uint64_t>(cost), std::memory_order_relaxed);
    Count("sluice_resilience_reconcile_units_total", "result", "lost", static_cast<uint64_t>(cost));
  }

  Result<Decision> Fallback(std::string_view key, const Policy& policy, int64_t cost, Operation op,
                            const Status& why) {
    const Policy local_policy = ScalePolicy(policy, Instances());
    Decision d;
    if (cost > local_policy.limit && (op == Operation::kConsume || op == Operation::kPeek)) {
      d.allowed = false;
      d.limit = local_policy.limit;
      d.degraded = true;
    } else {
      Result<Decision> r = local->Decide(DecideRequest{key, &local_policy, cost, op});
      if (!r.ok()) {
        CountDecision("error", c.decisions_error);
        return r;
      }
      d = *r;
      d.degraded = true;
    }
    CountDecision("fallback", c.decisions_fallback);
    if (d.allowed) {
      c.fallback_allowed.fetch_add(1, std::memory_order_relaxed);
      Count("sluice_resilience_fallback_decisions_total", "allowed", "true");
      if (op == Operation::kConsume) RecordLocalAdmission(key, policy, cost, why);
    } else {
      c.fallback_denied.fetch_add(1, std::memory_order_relaxed);
      Count("sluice_resilience_fallback_decisions_total", "allowed", "false");
    }
    return d;
  }

  // The answer of `mode` for one decision the store could not make.
  Result<Decision> FailDecision(std::string_view key, const Policy& policy, int64_t cost, Operation op,
                                FailMode mode, const Status& status) {
    if (op == Operation::kRefund || op == Operation::kReset || mode == FailMode::kError) {
      CountDecision("error", c.decisions_error);
      return status;
    }
    switch (mode) {
      case FailMode::kOpen:
        CountDecision("fail_open", c.decisions_fail_open);
        if (op == Operation::kConsume && cost > 0) {
          c.overshoot_open.fetch_add(static_cast<uint64_t>(cost), std::memory_order_relaxed);
          Count("sluice_resilience_overshoot_units_total", "mode", "open", static_cast<uint64_t>(cost));
        }
        return OpenDecision(policy, cost);
      case FailMode::kClosed:
        CountDecision("fail_closed", c.decisions_fail_closed);
        return ClosedDecision(policy, breaker->options().open_duration);
      case FailMode::kFallback:
        return Fallback(key, policy, cost, op, status);
      case FailMode::kError:
        break;
    }
    CountDecision("error", c.decisions_error);
    return status;
  }

  Result<Decision> Resolve(std::string_view key, const Policy& policy, int64_t cost, Operation op, FailMode mode,
                           Result<Decision> r) {
    if (r.ok()) {
      NoteStoreDecision(1);
      return r;
    }
    if (Classify(r.status()) != ErrorClass::kFailure) {
      CountDecision("error", c.decisions_error);
      return r;
    }
    return FailDecision(key, policy, cost, op, mode, r.status());
  }

  struct DecideCopy {
    std::string key;
    Policy policy;
    int64_t cost = 1;
    Operation op = Operation::kConsume;
    DecideRequest request() const { return DecideRequest{key, &policy, cost, op}; }
  };

  std::shared_ptr<Call<Decision>> DecideCall(std::shared_ptr<const DecideCopy> copy) {
    auto call = std::make_shared<Call<Decision>>();
    call->name = "decide";
    if (o.base_is_async) {
      call->start_async = [copy](Store& s, std::function<void(Result<Decision>)> cb) {
        s.DecideAsync(copy->request(), std::move(cb));
      };
    } else {
      call->op = [copy](Store& s) { return s.Decide(copy->request()); };
    }
    return call;
  }

  // ---- reconciliation ------------------------------------------------------

  Result<Decision> Charge(const Debt& d, int64_t units) {
    auto copy = std::make_shared<DecideCopy>(DecideCopy{d.key, d.policy, units, Operation::kConsume});
    auto call = std::make_shared<Call<Decision>>();
    call->name = "reconcile";
    call->op = [copy](Store& s) { return s.Decide(copy->request()); };
    return RunSync(std::move(call), o.deadline);
  }

  static bool NothingApplied(const Status& s) {
    return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kResourceExhausted;
  }

  // Counts the outcome of one debt taken by a pass (and puts a deferred one
  // back), in one step under debt_mu, so that a snapshot never sees a unit
  // both owed and settled, or neither.
  void SettleDebt(uint64_t units, const ReconcileResult& r, std::optional<Debt> deferred) {
    uint64_t dropped = 0;
    {
      std::lock_guard lock(debt_mu);
      debt_in_pass -= units;
      c.reconcile_charged.fetch_add(r.charged, std::memory_order_relaxed);
      c.reconcile_over_limit.fetch_add(r.over_limit, std::memory_order_relaxed);
      c.reconcile_lost.fetch_add(r.lost, std::memory_order_relaxed);
      c.reconcile_expired.fetch_add(r.expired, std::memory_order_relaxed);
      c.overshoot_fallback.fetch_add(r.over_limit + r.lost, std::memory_order_relaxed);
      if (deferred.has_value()) dropped = RestoreDebtLocked(std::move(*deferred));
    }
    Count("sluice_resilience_reconcile_units_total", "result", "charged", r.charged);
    Count("sluice_resilience_reconcile_units_total", "result", "over_limit", r.over_limit);
    Count("sluice_resilience_reconcile_units_total", "result", "lost", r.lost);
    Count("sluice_resilience_reconcile_units_total", "result", "expired", r.expired);
    Count("sluice_resilience_overshoot_units_total", "mode", "fallback", r.over_limit + r.lost + dropped);
    Count("sluice_resilience_reconcile_units_total", "result", "dropped", dropped);
  }

  // What charging one debt did. Never sends a charge twice.
  ReconcileResult ChargeDebt(const Debt& d, int64_t now, bool& defer) {
    ReconcileResult res;
    defer = false;
    const auto units = static_cast<uint64_t>(std::max<int64_t>(0, d.units));
    if (units == 0) return res;
    if (DebtExpired(d, now)) {
      res.expired = units;
      return res;
    }
    const int64_t charge = std::min(d.units, d.policy.limit);
    const auto beyond = static_cast<uint64_t>(d.units - charge);  // more than the limit: never chargeable
    Result<Decision> r = Charge(d, charge);
    if (!r.ok()) {
      if (NothingApplied(r.status())) {
        res.deferred = units;
        defer = true;
      } else {
        res.lost = static_cast<uint64_t>(charge);
        res.over_limit = beyond;
      }
      return res;
    }
    if (r->allowed) {
      res.charged = static_cast<uint64_t>(charge);
      res.over_limit = beyond;
      return res;
    }
    // The store had less room than the debt: charge what it had.
    const int64_t room = std::min(r->remaining, charge);
    if (room <= 0) {
      res.over_limit = units;
      return res;
    }
    Result<Decision> r2 = Charge(d, room);
    if (r2.ok() && r2->allowed) {
      res.charged = static_cast<uint64_t>(room);
      res.over_limit = units - static_cast<uint64_t>(room);
    } else if (!r2.ok() && !NothingApplied(r2.status())) {
      res.lost = static_cast<uint64_t>(room);
      res.over_limit = units - static_cast<uint64_t>(room);
    } else {
      res.over_limit = units;
    }
    return res;
  }

  ReconcileResult Reconcile() {
    std::lock_guard pass(reconcile_mu);
    ReconcileResult total;
    if (breaker->rejecting()) return total;
    reconcile_running.fetch_add(1, std::memory_order_relaxed);
    std::unordered_map<std::string, Debt> taken;
    {
      std::lock_guard lock(debt_mu);
      taken.swap(debts);
      for (const auto& [mk, d] : taken) debt_in_pass += static_cast<uint64_t>(std::max<int64_t>(0, d.units));
      debt_pending.store(false, std::memory_order_relaxed);
    }
    c.reconcile_passes.fetch_add(1, std::memory_order_relaxed);
    const int64_t now = clock->NowNanos();
    for (auto& [mk, d] : taken) {
      ++total.entries;
      const auto units = static_cast<uint64_t>(std::max<int64_t>(0, d.units));
      bool defer = false;
      const ReconcileResult r = ChargeDebt(d, now, defer);
      total.charged += r.charged;
      total.over_limit += r.over_limit;
      total.lost += r.lost;
      total.expired += r.expired;
      total.deferred += r.deferred;
      std::optional<Debt> deferred;
      if (defer) deferred = std::move(d);
      SettleDebt(units, r, std::move(deferred));
    }
    reconcile_running.fetch_sub(1, std::memory_order_relaxed);
    if (total.entries > 0) {
      Logger& log = o.observer.log();
      const LogLevel level = total.lost + total.over_limit > 0 ? LogLevel::kWarning : LogLevel::kInfo;
      if (log.Enabled(level)) {
        log.Log(level, "resilience",
                "store \"" + o.name + "\": reconciled " + std::to_string(total.entries) + " debts: " +
                    std::to_string(total.charged) + " units charged, " + std::to_string(total.over_limit) +
                    " over the limit, " + std::to_string(total.lost) + " lost, " + std::to_string(total.expired) +
                    " expired, " + std::to_string(total.deferred) + " deferred");
      }
    }
    return total;
  }

  int64_t Instances() const {
    const int64_t d = discovered_instances.load(std::memory_order_relaxed);
    return d > 0 ? d : o.fallback.instances;
  }

  // Writes this instance's heartbeat and counts the live ones.
  Result<int64_t> Heartbeat() {
    const FallbackOptions& f = o.fallback;
    Record beat;
    beat.key = f.discovery_prefix + f.instance_id;
    beat.value = std::string();
    beat.expires_at_ns = clock->NowNanos() + f.heartbeat_ttl.count();
    Result<bool> written = RunOp<bool>("put", [beat](Store& s) -> Result<bool> {
      SLUICE_RETURN_IF_ERROR(s.Put(beat));
      return true;
    });
    Status put = written.ok() ? Status::Ok() : written.status();
    int64_t count = 0;
    if (put.ok()) {
      Result<int64_t> counted =
          RunOp<int64_t>("scan", [prefix = f.discovery_prefix](Store& s) -> Result<int64_t> {
            int64_t n = 0;
            SLUICE_RETURN_IF_ERROR(s.Scan(prefix, [&](const Record&) {
              ++n;
              return true;
            }));
            return n;
          });
      if (counted.ok()) {
        count = *counted;
      } else {
        put = counted.status();
      }
    }
    if (!put.ok() || count < 1) {
      heartbeat_failures.fetch_add(1, std::memory_order_relaxed);
      Count("sluice_resilience_heartbeat_failures_total");
      if (put.ok()) put = InternalError("heartbeat: the scan did not find this instance's own heartbeat");
      return put.WithContext("store \"" + o.name + "\": instance heartbeat");
    }
    const int64_t before = discovered_instances.exchange(count, std::memory_order_relaxed);
    const MetricLabel labels[] = {{"store", o.name}};
    o.observer.sink().SetGauge("sluice_resilience_instances", labels, static_cast<double>(count));
    if (before != count) {
      Logger& log = o.observer.log();
      if (log.Enabled(LogLevel::kInfo)) {
        log.Log(LogLevel::kInfo, "resilience",
                "store \"" + o.name + "\": " + std::to_string(count) +
                    " instances share each limit in fallback (was " +
                    std::to_string(before > 0 ? before : o.fallback.instances) + ")");
      }
    }
    return count;
  }

  // Asks the maintenance thread for a heartbeat every heartbeat_interval.
  void ScheduleHeartbeat() {
    auto self = shared_from_this();
    (void)executor->AddTimer(clock->MonotonicNow() + o.fallback.heartbeat_interval, [self] {
      {
        std::lock_guard lock(self->rt_mu);
        self->hb_wanted = true;
      }
      self->rt_cv.notify_one();
      self->ScheduleHeartbeat();
    });
  }

  // The maintenance thread: reconciliation and heartbeats, which call the
  // store and so must not run on the timer thread or a worker.
  void MaintenanceLoop() {
    for (;;) {
      bool reconcile = false;
      bool heartbeat = false;
      {
        std::unique_lock lock(rt_mu);
        rt_cv.wait(lock, [&] { return rt_stop || rt_wanted || hb_wanted; });
        if (rt_stop) return;
        reconcile = rt_wanted;
        heartbeat = hb_wanted;
        rt_wanted = hb_wanted = false;
      }
      if (heartbeat) (void)Heartbeat();
      if (reconcile) (void)Reconcile();
    }
  }

  void OnTransition(const BreakerTransition& t) {
    if (t.to == BreakerState::kClosed && t.from != BreakerState::kClosed && o.reconcile.enabled &&
        o.reconcile.automatic && debt_pending.load(std::memory_order_relaxed)) {
      WakeReconciler();
    }
  }

  void Shutdown() {
    std::call_once(shutdown_once, [this] {
      stopping.store(true);
      executor->Stop();
      {
        std::lock_guard lock(rt_mu);
        rt_stop = true;
      }
      rt_cv.notify_all();
      if (reconcile_thread.joinable()) reconcile_thread.join();
    });
  }
};

// ---- ResilientStore --------------------------------------------------------

ResilientStore::ResilientStore(std::shared_ptr<Store> base, std::shared_ptr<Impl> impl)
    : StoreWrapper(std::move(base)), impl_(std::move(impl)) {}

ResilientStore::~ResilientStore() { impl_->Shutdown(); }

Clock& ResilientStore::clock() const { return *impl_->clock; }

Result<Decision> ResilientStore::Decide(const DecideRequest& request) {
  Impl& m = *impl_;
  if (request.policy == nullptr) return InvalidArgumentError("Decide: the request has no policy");
  auto copy = std::make_shared<const Impl::DecideCopy>(
      Impl::DecideCopy{std::string(request.key), *request.policy, request.cost, request.op});
  const FailMode mode = m.ModeFor(copy->key);
  Result<Decision> r = m.RunSync(m.DecideCall(copy), m.o.deadline);
  return m.Resolve(copy->key, copy->policy, copy->cost, copy->op, mode, std::move(r));
}

void ResilientStore::DecideAsync(const DecideRequest& request, std::function<void(Result<Decision>)> done) {
  if (request.policy == nullptr) {
    done(InvalidArgumentError("DecideAsync: the request has no policy"));
    return;
  }
  auto copy = std::make_shared<const Impl::DecideCopy>(
      Impl::DecideCopy{std::string(request.key), *request.policy, request.cost, request.op});
  const FailMode mode = impl_->ModeFor(copy->key);
  auto call = impl_->DecideCall(copy);
  Impl* m = impl_.get();
  // The Impl outlives every call it runs: each call's tasks and timers hold it.
  call->done = [m, copy, mode, done = std::move(done)](Result<Decision> r) {
    done(m->Resolve(copy->key, copy->policy, copy->cost, copy->op, mode, std::move(r)));
  };
  m->Run(std::move(call), m->o.deadline);
}

std::vector<Result<Decision>> ResilientStore::DecideBatch(std::span<const DecideRequest> requests) {
  Impl& m = *impl_;
  std::vector<Result<Decision>> out(requests.size(), Result<Decision>(InternalError("not decided")));
  auto copies = std::make_shared<std::vector<Impl::DecideCopy>>();
  std::vector<size_t> index;  // copies[i] answers out[index[i]]
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].policy == nullptr) {
      out[i] = InvalidArgumentError("DecideBatch: request " + std::to_string(i) + " has no policy");
      continue;
    }
    copies->push_back(
        Impl::DecideCopy{std::string(requests[i].key), *requests[i].policy, requests[i].cost, requests[i].op});
    index.push_back(i);
  }
  if (copies->empty()) return out;
  auto call = std::make_shared<Call<std::vector<Result<Decision>>>>();
  call->name = "decide_batch";
  call->op = [copies](Store& s) -> Result<std::vector<Result<Decision>>> {
    std::vector<DecideRequest> reqs;
    reqs.reserve(copies->size());
    for (const auto& c : *copies) reqs.push_back(c.request());
    std::vector<Result<Decision>> rs = s.DecideBatch(reqs);
    if (rs.size() != reqs.size()) {
      return InternalError("DecideBatch: the store answered " + std::to_string(rs.size()) + " of " +
                           std::to_string(reqs.size()) + " requests");
    }
    // A batch whose every request failed alike failed as a whole (so an
    // unavailable store is retried and counted once).
    const bool all_same_failure = std::all_of(rs.begin(), rs.end(), [&](const Result<Decision>& r) {
      return !r.ok() && Classify(r.status()) == ErrorClass::kFailure && r.status().code() == rs[0].status().code();
    });
    if (all_same_failure) return rs[0].status();
    return rs;
  };
  Result<std::vector<Result<Decision>>> r = m.RunSync(std::move(call), m.o.deadline);
  for (size_t i = 0; i < copies->size(); ++i) {
    const Impl::DecideCopy& c = (*copies)[i];
    const FailMode mode = m.ModeFor(c.key);
    out[index[i]] = m.Resolve(c.key, c.policy, c.cost, c.op, mode,
                              r.ok() ? std::move((*r)[i]) : Result<Decision>(r.status()));
  }
  return out;
}

Result<MultiDecision> ResilientStore::DecideAll(std::span<const DecideRequest> requests) {
  Impl& m = *impl_;
  auto copies = std::make_shared<std::vector<Impl::DecideCopy>>();
  FailMode mode = FailMode::kOpen;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].policy == nullptr) {
      return InvalidArgumentError("DecideAll: request " + std::to_string(i) + " has no policy");
    }
    copies->push_back(
        Impl::DecideCopy{std::string(requests[i].key), *requests[i].policy, requests[i].cost, requests[i].op});
    const FailMode km = m.ModeFor(copies->back().key);
    if (i == 0 || Strictness(km) > Strictness(mode)) mode = km;
  }
  auto call = std::make_shared<Call<MultiDecision>>();
  call->name = "decide_all";
  call->op = [copies](Store& s) -> Result<MultiDecision> {
    std::vector<DecideRequest> reqs;
    reqs.reserve(copies->size());
    for (const auto& c : *copies) reqs.push_back(c.request());
    return s.DecideAll(reqs);
  };
  Result<MultiDecision> r = m.RunSync(std::move(call), m.o.deadline);
  const uint64_t n = std::max<uint64_t>(1, copies->size());
  if (r.ok()) {
    m.NoteStoreDecision(n);
    return r;
  }
  if (Classify(r.status()) != ErrorClass::kFailure) {
    m.CountDecision("error", m.c.decisions_error, n);
    return r;
  }
  const bool changes_state = std::any_of(copies->begin(), copies->end(), [](const Impl::DecideCopy& c) {
    return c.op == Operation::kRefund || c.op == Operation::kReset;
  });
  if (mode == FailMode::kError || changes_state) {
    m.CountDecision("error", m.c.decisions_error, n);
    return r;
  }
  MultiDecision md;
  switch (mode) {
    case FailMode::kOpen: {
      md.allowed = true;
      uint64_t units = 0;
      for (const auto& c : *copies) {
        md.decisions.push_back(OpenDecision(c.policy, c.cost));
        if (c.op == Operation::kConsume && c.cost > 0) units += static_cast<uint64_t>(c.cost);
      }
      m.CountDecision("fail_open", m.c.decisions_fail_open, n);
      m.c.overshoot_open.fetch_add(units, std::memory_order_relaxed);
      m.Count("sluice_resilience_overshoot_units_total", "mode", "open", units);
      return md;
    }
    case FailMode::kClosed: {
      for (const auto& c : *copies) md.decisions.push_back(ClosedDecision(c.policy, m.breaker->options().open_duration));
      m.CountDecision("fail_closed", m.c.decisions_fail_closed, n);
      return md;
    }
    case FailMode::kFallback: {
      std::vector<Policy> scaled;
      scaled.reserve(copies->size());
      bool too_big = false;
      for (const auto& c : *copies) {
        scaled.push_back(ScalePolicy(c.policy, m.Instances()));
        if (c.cost > scaled.back().limit && (c.op == Operation::kConsume || c.op == Operation::kPeek)) {
          too_big = true;
        }
      }
      if (too_big) {
        for (size_t i = 0; i < copies->size(); ++i) {
          Decision d;
          d.limit = scaled[i].limit;
          d.allowed = (*copies)[i].cost <= scaled[i].limit;
          d.degraded = true;
          md.decisions.push_back(d);
        }
      } else {
        std::vector<DecideRequest> reqs;
        for (size_t i = 0; i < copies->size(); ++i) {
          reqs.push_back(DecideRequest{(*copies)[i].key, &scaled[i], (*copies)[i].cost, (*copies)[i].op});
        }
        Result<MultiDecision> local = m.local->DecideAll(reqs);
        if (!local.ok()) {
          m.CountDecision("error", m.c.decisions_error, n);
          return local;
        }
        md = std::move(*local);
        for (Decision& d : md.decisions) d.degraded = true;
      }
      m.CountDecision("fallback", m.c.decisions_fallback, n);
      if (md.allowed) {
        m.c.fallback_allowed.fetch_add(n, std::memory_order_relaxed);
        m.Count("sluice_resilience_fallback_decisions_total", "allowed", "true", n);
        for (const auto& c : *copies) {
          if (c.op == Operation::kConsume) m.RecordLocalAdmission(c.key, c.policy, c.cost, r.status());
        }
      } else {
        m.c.fallback_denied.fetch_add(n, std::memory_order_relaxed);
        m.Count("sluice_resilience_fallback_decisions_total", "allowed", "false", n);
      }
      return md;
    }
    case FailMode::kError:
      break;
  }
  return r;
}

Result<std::optional<Record>> ResilientStore::AtomicUpdate(std::string_view key, const UpdateFn& fn,
                                                           const UpdateOptions& options) {
  return impl_->RunOp<std::optional<Record>>(
      "atomic_update", [key = std::string(key), fn, options](Store& s) { return s.AtomicUpdate(key, fn, options); });
}

Result<std::optional<Record>> ResilientStore::Get(std::string_view key) {
  return impl_->RunOp<std::optional<Record>>("get", [key = std::string(key)](Store& s) { return s.Get(key); });
}

Status ResilientStore::Put(const Record& record) {
  Result<bool> r = impl_->RunOp<bool>("put", [record](Store& s) -> Result<bool> {
    SLUICE_RETURN_IF_ERROR(s.Put(record));
    return true;
  });
  return r.ok() ? Status::Ok() : r.status();
}

Status ResilientStore::Delete(std::string_view key) {
  Result<bool> r = impl_->RunOp<bool>("delete", [key = std::string(key)](Store& s) -> Result<bool> {
    SLUICE_RETURN_IF_ERROR(s.Delete(key));
    return true;
  });
  return r.ok() ? Status::Ok() : r.status();
}

Status ResilientStore::Scan(std::string_view prefix, const ScanVisitor& visit) {
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  Result<std::vector<Record>> r = impl_->RunOp<std::vector<Record>>(
      "scan", [prefix = std::string(prefix), cancelled](Store& s) -> Result<std::vector<Record>> {
        std::vector<Record> out;
        SLUICE_RETURN_IF_ERROR(s.Scan(prefix, [&](const Record& rec) {
          if (cancelled->load(std::memory_order_relaxed)) return false;
          out.push_back(rec);
          return true;
        }));
        return out;
      });
  cancelled->store(true, std::memory_order_relaxed);  // a scan still running past its deadline stops
  if (!r.ok()) return r.status();
  for (const Record& rec : *r) {
    if (!visit(rec)) break;
  }
  return Status::Ok();
}

Status ResilientStore::Health() {
  Impl& m = *impl_;
  auto call = std::make_shared<Call<bool>>();
  call->name = "health";
  call->op = [](Store& s) -> Result<bool> {
    SLUICE_RETURN_IF_ERROR(s.Health());
    return true;
  };
  Result<bool> r =
      m.RunSync(std::move(call), m.o.health_deadline.count() > 0 ? m.o.health_deadline : m.o.deadline);
  return r.ok() ? Status::Ok() : r.status();
}

FailMode ResilientStore::FailModeFor(std::string_view key) const { return impl_->ModeFor(key); }

CircuitBreaker& ResilientStore::breaker() const { return *impl_->breaker; }

BreakerState ResilientStore::breaker_state() const { return impl_->breaker->state(); }

ReconcileResult ResilientStore::Reconcile() { return impl_->Reconcile(); }

Result<int64_t> ResilientStore::Heartbeat() {
  if (!impl_->o.fallback.discover_instances) {
    return FailedPreconditionError("Heartbeat: fallback.discover_instances is off");
  }
  return impl_->Heartbeat();
}

int64_t ResilientStore::instances() const { return impl_->Instances(); }

ResilienceStats ResilientStore::GetResilienceStats() const {
  Impl& m = *impl_;
  const Counters& c = m.c;
  auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  ResilienceStats s;
  s.decisions_store = ld(c.decisions_store);
  s.decisions_fallback = ld(c.decisions_fallback);
  s.decisions_fail_open = ld(c.decisions_fail_open);
  s.decisions_fail_closed = ld(c.decisions_fail_closed);
  s.decisions_error = ld(c.decisions_error);
  s.attempts = ld(c.attempts);
  s.attempts_unavailable = ld(c.attempts_unavailable);
  s.attempts_deadline_exceeded = ld(c.attempts_deadline_exceeded);
  s.attempts_other_errors = ld(c.attempts_other_errors);
  s.retries = ld(c.retries);
  s.retry_budget_exhausted = ld(c.retry_budget_exhausted);
  s.rejected_breaker_open = ld(c.rejected_breaker_open);
  s.rejected_pool_full = ld(c.rejected_pool_full);
  s.fallback_allowed = ld(c.fallback_allowed);
  s.fallback_denied = ld(c.fallback_denied);
  s.reconcile_passes = ld(c.reconcile_passes);
  s.overshoot_open = ld(c.overshoot_open);
  s.instances = m.Instances();
  s.heartbeat_failures = m.heartbeat_failures.load(std::memory_order_relaxed);
  s.in_flight = ld(c.in_flight);
  s.reconcile_running = ld(m.reconcile_running);
  {
    // Debt and its outcomes change together under debt_mu: read them together.
    std::lock_guard lock(m.debt_mu);
    s.reconcile_charged = ld(c.reconcile_charged);
    s.reconcile_over_limit = ld(c.reconcile_over_limit);
    s.reconcile_lost = ld(c.reconcile_lost);
    s.reconcile_expired = ld(c.reconcile_expired);
    s.reconcile_dropped = ld(c.reconcile_dropped);
    s.overshoot_fallback = ld(c.overshoot_fallback);
    s.debt_keys = m.debts.size();
    s.debt_units = m.debt_in_pass;
    for (const auto& [k, d] : m.debts) s.debt_units += static_cast<uint64_t>(std::max<int64_t>(0, d.units));
  }
  s.busy_workers = m.executor->busy_workers() + m.async_in_flight.load(std::memory_order_relaxed);
  s.pending_timers = m.executor->pending_timers();
  s.queued = m.executor->queued();
  s.breaker_state = m.breaker->state();
  s.breaker_mode = m.breaker->mode();
  return s;
}

const ResilientStoreOptions& ResilientStore::options() const { return impl_->o; }

Result<std::shared_ptr<ResilientStore>> NewResilientStore(std::shared_ptr<Store> base,
                                                          ResilientStoreOptions options) {
  if (base == nullptr) return InvalidArgumentError("resilient store: the base store is null");
  if (options.name.empty()) options.name = std::string(base->name());
  if (options.clock == nullptr) options.clock = &base->clock();
  CircuitBreakerOptions& b = options.breaker;
  if (b.name == CircuitBreakerOptions{}.name) b.name = options.name;
  if (b.clock == nullptr) b.clock = options.clock;
  if (b.observer.logger == nullptr) b.observer.logger = options.observer.logger;
  if (b.observer.metrics == nullptr) b.observer.metrics = options.observer.metrics;
  SLUICE_RETURN_IF_ERROR(options.Validate());

  auto impl = std::make_shared<ResilientStore::Impl>();
  impl->o = std::move(options);
  impl->base = base;
  impl->clock = impl->o.clock;
  impl->rules = impl->o.fail_mode_overrides;
  std::stable_sort(impl->rules.begin(), impl->rules.end(),
                   [](const FailModeRule& a, const FailModeRule& b2) { return a.prefix.size() > b2.prefix.size(); });

  CircuitBreakerOptions bo = impl->o.breaker;
  ResilientStore::Impl* raw = impl.get();
  bo.on_transition = [raw, user = impl->o.breaker.on_transition](const BreakerTransition& t) {
    raw->OnTransition(t);
    if (user) user(t);
  };
  SLUICE_ASSIGN_OR_RETURN(impl->breaker, CircuitBreaker::Create(std::move(bo)));
  impl->budget = std::make_unique<RetryBudget>(impl->o.retry.budget_ratio, impl->o.retry.budget_min_per_second,
                                               impl->o.retry.budget_window, *impl->clock);
  MemoryStoreOptions mo;
  mo.clock = impl->clock;
  mo.max_keys = impl->o.fallback.max_keys;
  mo.observer = impl->o.observer;
  SLUICE_ASSIGN_OR_RETURN(impl->local, MemoryStore::Create(mo));
  impl->executor = std::make_unique<Executor>(*impl->clock, impl->o.workers, impl->o.max_queued);
  const bool discover = impl->o.fallback.discover_instances;
  if ((impl->o.reconcile.enabled && impl->o.reconcile.automatic) || discover) {
    impl->reconcile_thread = std::thread([raw] { raw->MaintenanceLoop(); });
  }
  if (discover) {
    {
      std::lock_guard lock(impl->rt_mu);
      impl->hb_wanted = true;  // a first heartbeat at once
    }
    impl->rt_cv.notify_one();
    impl->ScheduleHeartbeat();
  }
  return std::shared_ptr<ResilientStore>(new ResilientStore(std::move(base), std::move(impl)));
}

}  // namespace sluice

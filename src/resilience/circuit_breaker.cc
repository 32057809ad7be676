// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/circuit_breaker.h"

#include <cstdio>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "resilience/rolling_counts.h"
#include "sluice/duration.h"

namespace sluice {
namespace {

std::string FormatRate(std::string_view what, int64_t part, int64_t calls, double threshold) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "%.*s rate %.2f >= %.2f over %lld calls", static_cast<int>(what.size()), what.data(),
                static_cast<double>(part) / static_cast<double>(calls), threshold, static_cast<long long>(calls));
  return buf;
}

thread_local bool t_delivering = false;

}  // namespace

std::string_view BreakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

std::string_view BreakerModeName(BreakerMode mode) {
  switch (mode) {
    case BreakerMode::kNormal:
      return "normal";
    case BreakerMode::kForcedOpen:
      return "forced_open";
    case BreakerMode::kDisabled:
      return "disabled";
    case BreakerMode::kMetricsOnly:
      return "metrics_only";
  }
  return "unknown";
}

Result<BreakerMode> ParseBreakerMode(std::string_view name) {
  for (BreakerMode m : {BreakerMode::kNormal, BreakerMode::kForcedOpen, BreakerMode::kDisabled,
                        BreakerMode::kMetricsOnly}) {
    if (BreakerModeName(m) == name) return m;
  }
  return InvalidArgumentError("unknown circuit breaker mode \"" + std::string(name) +
                              "\" (expected normal, forced_open, disabled or metrics_only)");
}

Status CircuitBreakerOptions::Validate() const {
  auto bad = [](std::string_view what) { return InvalidArgumentError("circuit breaker: " + std::string(what)); };
  if (name.empty()) return bad("name must not be empty");
  if (static_cast<int>(mode) > 3) return bad("mode is not a known mode");
  if (!(failure_rate_threshold > 0.0 && failure_rate_threshold <= 1.0)) {
    return bad("failure_rate_threshold must be in (0, 1]");
  }
  if (!(slow_call_rate_threshold > 0.0 && slow_call_rate_threshold <= 1.0)) {
    return bad("slow_call_rate_threshold must be in (0, 1]");
  }
  if (slow_call_duration.count() <= 0) return bad("slow_call_duration must be positive");
  if (window.count() <= 0) return bad("window must be positive");
  if (window_buckets < 1 || window_buckets > 1000) return bad("window_buckets must be in [1, 1000]");
  if (window / window_buckets < std::chrono::microseconds(1)) {
    return bad("window / window_buckets must be at least 1us");
  }
  if (minimum_calls < 1) return bad("minimum_calls must be at least 1");
  if (open_duration.count() <= 0) return bad("open_duration must be positive");
  if (half_open_probes < 1 || half_open_probes > 10'000) return bad("half_open_probes must be in [1, 10000]");
  if (half_open_timeout.count() <= 0) return bad("half_open_timeout must be positive");
  return Status::Ok();
}

struct CircuitBreaker::Impl {
  explicit Impl(CircuitBreakerOptions opts)
      : o(std::move(opts)),
        clock(o.clock != nullptr ? o.clock : &Clock::Real()),
        mode(o.mode),
        window_counts(o.window_buckets, (o.window / o.window_buckets).count()) {}

  CircuitBreakerOptions o;
  Clock* clock;

  mutable std::mutex mu;
  BreakerMode mode;                     // guarded by mu
  BreakerState state = BreakerState::kClosed;  // guarded by mu
  uint64_t generation = 1;              // guarded by mu; bumped on every state change
  Clock::Monotonic opened_at{};         // guarded by mu
  int probes_taken = 0;                 // guarded by mu
  int probes_done = 0;                  // guarded by mu
  int probes_slow = 0;                  // guarded by mu
  std::multiset<Clock::Monotonic> outstanding;  // guarded by mu; admission times of unrecorded probes
  resilience::RollingCounts<3> window_counts;  // guarded by mu: calls, failures, slow calls
  CircuitBreakerCounters counters;      // guarded by mu
  std::deque<BreakerTransition> pending;  // guarded by mu; transitions not yet reported

  std::mutex deliver_mu;  // one reporter at a time, so reports keep their order

  static int64_t Nanos(Clock::Monotonic t) { return t.time_since_epoch().count(); }

  void ClearWindow() { window_counts.Clear(); }

  BreakerWindow SumWindow(Clock::Monotonic now) const {
    const auto [calls, failures, slow] = window_counts.Sum(Nanos(now));
    BreakerWindow w;
    w.calls = calls;
    w.failures = failures;
    w.slow_calls = slow;
    return w;
  }

  // Changes state; the caller holds mu.
  void Transition(BreakerState to, std::string reason, Clock::Monotonic now) {
    const BreakerState from = state;
    state = to;
    ++generation;
    ++counters.transitions;
    if (to == BreakerState::kOpen) {
      ++counters.opened;
      opened_at = now;
    }
    if (to == BreakerState::kHalfOpen) {
      probes_taken = probes_done = probes_slow = 0;
    }
    outstanding.clear();
    if (to == BreakerState::kClosed) ClearWindow();
    pending.push_back(BreakerTransition{from, to, mode, mode != BreakerMode::kMetricsOnly, std::move(reason)});
  }

  bool Tracking() const { return mode == BreakerMode::kNormal || mode == BreakerMode::kMetricsOnly; }

  // Applies what the passing of time does: open -> half-open after
  // open_duration; half-open -> open when a probe admitted half_open_timeout
  // ago or earlier is still unrecorded.
  void Advance(Clock::Monotonic now) {
    if (!Tracking()) return;
    if (state == BreakerState::kOpen && now - opened_at >= o.open_duration) {
      Transition(BreakerState::kHalfOpen, "open for " + FormatDuration(o.open_duration), now);
    } else if (state == BreakerState::kHalfOpen && !outstanding.empty() &&
               now - *outstanding.begin() >= o.half_open_timeout) {
      counters.failures += outstanding.size();
      Transition(BreakerState::kOpen,
                 "probes did not complete within " + FormatDuration(o.half_open_timeout), now);
    }
  }

  void MaybeTrip(Clock::Monotonic now) {
    const BreakerWindow w = SumWindow(now);
    if (w.calls < o.minimum_calls) return;
    if (static_cast<double>(w.failures) >= o.failure_rate_threshold * static_cast<double>(w.calls)) {
      Transition(BreakerState::kOpen, FormatRate("failure", w.failures, w.calls, o.failure_rate_threshold), now);
    } else if (static_cast<double>(w.slow_calls) >= o.slow_call_rate_threshold * static_cast<double>(w.calls)) {
      Transition(BreakerState::kOpen, FormatRate("slow call", w.slow_calls, w.calls, o.slow_call_rate_threshold),
                 now);
    }
  }

  // The caller holds mu.
  void RecordLocked(uint64_t gen, bool probe, Clock::Monotonic admitted_at, CallOutcome outcome,
                    std::chrono::nanoseconds latency, Clock::Monotonic now) {
    const bool slow = outcome != CallOutcome::kIgnored && latency >= o.slow_call_duration;
    switch (outcome) {
      case CallOutcome::kSuccess:
        ++counters.successes;
        break;
      case CallOutcome::kFailure:
        ++counters.failures;
        break;
      case CallOutcome::kIgnored:
        ++counters.ignored;
        break;
    }
    if (slow) ++counters.slow_calls;
    if (!Tracking()) return;
    Advance(now);
    if (gen != generation) return;  // admitted in an earlier period
    if (state == BreakerState::kHalfOpen) {
      if (!probe) return;
      auto it = outstanding.find(admitted_at);
      if (it != outstanding.end()) outstanding.erase(it);
      if (outcome == CallOutcome::kIgnored) {
        --probes_taken;
        return;
      }
      if (outcome == CallOutcome::kFailure) {
        Transition(BreakerState::kOpen, "probe failed", now);
        return;
      }
      ++probes_done;
      if (slow) ++probes_slow;
      if (probes_done >= o.half_open_probes) {
        if (static_cast<double>(probes_slow) >= o.slow_call_rate_threshold * static_cast<double>(probes_done)) {
          Transition(BreakerState::kOpen, FormatRate("probe slow call", probes_slow, probes_done,
                                                     o.slow_call_rate_threshold),
                     now);
        } else {
          Transition(BreakerState::kClosed, "probes succeeded", now);
        }
      }
      return;
    }
    if (state != BreakerState::kClosed || outcome == CallOutcome::kIgnored) return;
    window_counts.Add(Nanos(now), {1, outcome == CallOutcome::kFailure ? 1 : 0, slow ? 1 : 0});
    MaybeTrip(now);
  }

  int GaugeLocked() const {
    if (mode == BreakerMode::kForcedOpen) return 3;
    if (mode == BreakerMode::kDisabled) return 4;
    return static_cast<int>(state);
  }

  void Emit(const BreakerTransition& t, int gauge) {
    const MetricLabel breaker_label{"breaker", o.name};
    const MetricLabel labels[] = {breaker_label, {"from", BreakerStateName(t.from)}, {"to", BreakerStateName(t.to)}};
    o.observer.sink().Increment("sluice_circuit_breaker_transitions_total", labels);
    const MetricLabel gauge_labels[] = {breaker_label};
    o.observer.sink().SetGauge("sluice_circuit_breaker_state", gauge_labels, gauge);
    Logger& log = o.observer.log();
    const LogLevel level = t.to == BreakerState::kOpen && t.enforced ? LogLevel::kWarning : LogLevel::kInfo;
    if (log.Enabled(level)) {
      std::string msg = "breaker \"" + o.name + "\" " + std::string(BreakerStateName(t.from)) + " -> " +
                        std::string(BreakerStateName(t.to)) + " (" + t.reason + ")";
      if (!t.enforced) msg += " [metrics only: not enforced]";
      if (t.mode != BreakerMode::kNormal && t.mode != BreakerMode::kMetricsOnly) {
        msg += " [mode " + std::string(BreakerModeName(t.mode)) + "]";
      }
      log.Log(level, "circuit_breaker", msg);
    }
    if (o.on_transition) o.on_transition(t);
  }

  // Reports pending transitions, in order. Called without mu held.
  void Deliver() {
    if (t_delivering) return;  // a callback caused this one; the outer loop reports it
    std::lock_guard deliver(deliver_mu);
    t_delivering = true;
    for (;;) {
      BreakerTransition t;
      int gauge = 0;
      {
        std::lock_guard lock(mu);
        if (pending.empty()) break;
        t = std::move(pending.front());
        pending.pop_front();
        gauge = pending.empty() ? GaugeLocked() : static_cast<int>(t.to);
      }
      Emit(t, gauge);
    }
    t_delivering = false;
  }

  void CountCall(std::string_view outcome) {
    const MetricLabel labels[] = {{"breaker", o.name}, {"outcome", outcome}};
    o.observer.sink().Increment("sluice_circuit_breaker_calls_total", labels);
  }
};

Result<std::unique_ptr<CircuitBreaker>> CircuitBreaker::Create(CircuitBreakerOptions options) {
  SLUICE_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>(std::move(options));
  const MetricLabel labels[] = {{"breaker", impl->o.name}};
  impl->o.observer.sink().SetGauge("sluice_circuit_breaker_state", labels, impl->GaugeLocked());
  return std::unique_ptr<CircuitBreaker>(new CircuitBreaker(std::move(impl)));
}

CircuitBreaker::CircuitBreaker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CircuitBreaker::~CircuitBreaker() = default;

BreakerPermit CircuitBreaker::TryAcquire() {
  BreakerPermit permit;
  Impl& m = *impl_;
  const Clock::Monotonic now = m.clock->MonotonicNow();
  bool transitions = false;
  {
    std::lock_guard lock(m.mu);
    const uint64_t before = m.counters.transitions;
    m.Advance(now);
    permit.generation = m.generation;
    permit.admitted_at = now;
    switch (m.mode) {
      case BreakerMode::kForcedOpen:
        permit.allowed = false;
        break;
      case BreakerMode::kDisabled:
        permit.allowed = true;
        break;
      case BreakerMode::kNormal:
      case BreakerMode::kMetricsOnly:
        if (m.state == BreakerState::kClosed) {
          permit.allowed = true;
        } else if (m.state == BreakerState::kHalfOpen && m.probes_taken < m.o.half_open_probes) {
          permit.allowed = true;
          permit.probe = true;
          ++m.probes_taken;
          m.outstanding.insert(now);
        } else {
          permit.allowed = m.mode == BreakerMode::kMetricsOnly;
        }
        break;
    }
    if (permit.allowed) {
      ++m.counters.permitted;
    } else {
      ++m.counters.rejected;
    }
    transitions = m.counters.transitions != before;
  }
  if (!permit.allowed) m.CountCall("rejected");
  if (transitions) m.Deliver();
  return permit;
}

void CircuitBreaker::Record(const BreakerPermit& permit, CallOutcome outcome, std::chrono::nanoseconds latency) {
  if (!permit.allowed) return;
  Impl& m = *impl_;
  const Clock::Monotonic now = m.clock->MonotonicNow();
  bool transitions = false;
  {
    std::lock_guard lock(m.mu);
    const uint64_t before = m.counters.transitions;
    m.RecordLocked(permit.generation, permit.probe, permit.admitted_at, outcome, latency, now);
    transitions = m.counters.transitions != before;
  }
  m.CountCall(outcome == CallOutcome::kSuccess ? "success" : outcome == CallOutcome::kFailure ? "failure" : "ignored");
  if (outcome != CallOutcome::kIgnored && latency >= m.o.slow_call_duration) m.CountCall("slow");
  if (transitions) m.Deliver();
}

void CircuitBreaker::RecordUnpermitted(CallOutcome outcome, std::chrono::nanoseconds latency) {
  Impl& m = *impl_;
  BreakerPermit permit;
  permit.allowed = true;
  {
    std::lock_guard lock(m.mu);
    m.Advance(m.clock->MonotonicNow());
    permit.generation = m.generation;
    permit.probe = m.state == BreakerState::kHalfOpen && !m.outstanding.empty();
    if (permit.probe) permit.admitted_at = *m.outstanding.begin();
  }
  Record(permit, outcome, latency);
}

BreakerState CircuitBreaker::state() {
  Impl& m = *impl_;
  const Clock::Monotonic now = m.clock->MonotonicNow();
  BreakerState s;
  bool transitions = false;
  {
    std::lock_guard lock(m.mu);
    const uint64_t before = m.counters.transitions;
    m.Advance(now);
    s = m.state;
    transitions = m.counters.transitions != before;
  }
  if (transitions) m.Deliver();
  return s;
}

BreakerMode CircuitBreaker::mode() const {
  std::lock_guard lock(impl_->mu);
  return impl_->mode;
}

bool CircuitBreaker::rejecting() {
  Impl& m = *impl_;
  const Clock::Monotonic now = m.clock->MonotonicNow();
  bool rejecting = false;
  bool transitions = false;
  {
    std::lock_guard lock(m.mu);
    const uint64_t before = m.counters.transitions;
    m.Advance(now);
    if (m.mode == BreakerMode::kForcedOpen) {
      rejecting = true;
    } else if (m.mode == BreakerMode::kNormal) {
      rejecting = m.state == BreakerState::kOpen ||
                  (m.state == BreakerState::kHalfOpen && m.probes_taken >= m.o.half_open_probes);
    }
    transitions = m.counters.transitions != before;
  }
  if (transitions) m.Deliver();
  return rejecting;
}

void CircuitBreaker::SetMode(BreakerMode mode) {
  Impl& m = *impl_;
  const Clock::Monotonic now = m.clock->MonotonicNow();
  {
    std::lock_guard lock(m.mu);
    if (m.mode == mode) return;
    m.mode = mode;
    const BreakerState from = m.state;
    m.state = BreakerState::kClosed;
    ++m.generation;
    ++m.counters.transitions;
    m.probes_taken = m.probes_done = m.probes_slow = 0;
    m.outstanding.clear();
    m.ClearWindow();
    (void)now;
    m.pending.push_back(BreakerTransition{from, BreakerState::kClosed, mode, mode != BreakerMode::kMetricsOnly,
                                          "mode set to " + std::string(BreakerModeName(mode))});
  }
  m.Deliver();
}

void CircuitBreaker::Trip(std::string_view reason) {
  Impl& m = *impl_;
  const Clock::Monotonic now = m.clock->MonotonicNow();
  bool transitions = false;
  {
    std::lock_guard lock(m.mu);
    if (!m.Tracking()) return;
    const uint64_t before = m.counters.transitions;
    m.Advance(now);
    if (m.state == BreakerState::kOpen) {
      m.opened_at = now;  // stays open, for a full open_duration from now
    } else {
      m.Transition(BreakerState::kOpen, std::string(reason), now);
    }
    transitions = m.counters.transitions != before;
  }
  if (transitions) m.Deliver();
}

std::chrono::nanoseconds CircuitBreaker::open_remaining() {
  Impl& m = *impl_;
  const Clock::Monotonic now = m.clock->MonotonicNow();
  std::lock_guard lock(m.mu);
  if (!m.Tracking() || m.state != BreakerState::kOpen) return std::chrono::nanoseconds(0);
  const auto left = m.o.open_duration - (now - m.opened_at);
  return left.count() > 0 ? std::chrono::duration_cast<std::chrono::nanoseconds>(left) : std::chrono::nanoseconds(0);
}

CircuitBreakerCounters CircuitBreaker::counters() const {
  std::lock_guard lock(impl_->mu);
  return impl_->counters;
}

BreakerWindow CircuitBreaker::window() {
  Impl& m = *impl_;
  const Clock::Monotonic now = m.clock->MonotonicNow();
  std::lock_guard lock(m.mu);
  return m.SumWindow(now);
}

const CircuitBreakerOptions& CircuitBreaker::options() const { return impl_->o; }

int CircuitBreaker::gauge_value() {
  Impl& m = *impl_;
  (void)state();  // applies the passing of time
  std::lock_guard lock(m.mu);
  return m.GaugeLocked();
}

}  // namespace sluice

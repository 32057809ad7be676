// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Seeded simulation of ResilientStore over a FaultInjectingStore over a
// MemoryStore, on a SimulatedClock. Each seed draws a fault schedule
// (outages, latency spikes, hangs, lost replies, timeouts, sporadic errors)
// and a stream of decisions on keys of every fail mode, runs them, and checks
// invariants after every decision and at the end:
//   - no call is answered later than its deadline plus one simulation step of
//     simulated time (and every call within a generous bound of real time);
//   - every degraded decision follows its key's fail mode;
//   - the breaker moves only along legal transitions, is not closed after a
//     sustained outage with enough calls, and is closed again after recovery,
//     the open duration and successful probes;
//   - a fallback admits at most its share per window;
//   - reconciliation never double-counts: units the store admitted equal the
//     units callers saw it admit, plus charged-back units, plus units whose
//     outcome was unknown; debt is conserved.
//
// The driver (the test thread) issues one operation at a time on a caller
// thread and advances the simulated clock in steps while that operation is
// blocked on simulated time (a worker sleeping or hanging in the injector, a
// backoff or deadline timer). ResilientStore's timers run on their own thread,
// so the interleaving is not exactly reproducible, but every invariant holds
// for every interleaving; a failing seed prints itself and its schedule.
//
// Environment:
//   SLUICE_SIM_SEEDS=n        seeds to run (default 200; 40 under sanitizers)
//   SLUICE_SIM_DECISIONS=n    decisions per seed (default 150)
//   SLUICE_SIM_SEED=s         run only seed s (to replay a failure)
//   SLUICE_SIM_MAX_FAILURES=n stop after n failing seeds (default 5)
//   SLUICE_SIM_VERBOSE=1      print every decision

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "sluice/circuit_breaker.h"
#include "sluice/memory_store.h"
#include "sluice/resilient_store.h"
#include "sluice/testing/fault_injecting_store.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using testing::Fault;
using testing::FaultInjectingStore;
using testing::FaultRule;
using testing::FaultSchedule;
using testing::SimulatedClock;

// Sanitizers slow the stack down several times: fewer seeds by default, and
// a longer real-time stall before the driver moves time on its own.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int64_t kDefaultSeeds = 40;
constexpr std::chrono::milliseconds kStall{100};
#else
constexpr int64_t kDefaultSeeds = 200;
constexpr std::chrono::milliseconds kStall{20};
#endif

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  return end != nullptr && *end == '\0' ? n : fallback;
}

// Runs one job at a time on its own thread, so that the test thread can move
// simulated time while the job waits on it.
class CallerThread {
 public:
  CallerThread() : thread_([this] { Loop(); }) {}
  ~CallerThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void Post(std::function<void()> job) {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = std::move(job);
    done_ = false;
    cv_.notify_all();
  }

  bool WaitDone(nanoseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return done_; });
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || job_ != nullptr; });
      if (job_ == nullptr) return;
      std::function<void()> job = std::move(job_);
      job_ = nullptr;
      lock.unlock();
      job();
      lock.lock();
      done_ = true;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;  // guarded by mu_
  bool done_ = true;           // guarded by mu_
  bool stop_ = false;          // guarded by mu_
  std::thread thread_;
};

// What one decision returned and when.
struct Outcome {
  Result<Decision> result = InternalError("not run");
  nanoseconds sim_elapsed{0};       // simulated time from the call to its answer
  int64_t start_wall_ns = 0;        // simulated wall time at the call
  int64_t end_wall_ns = 0;          // ... and at its answer
  double real_ms = 0;               // real time the call took
  bool answered = false;            // false: the call never returned
};

struct HarnessOptions {
  uint64_t seed = 1;
  nanoseconds step = milliseconds(2);  // simulated time per driver step
  ResilientStoreOptions store;
};

// Builds the stack and drives simulated time. Violations are collected as
// text, so that a seed reports every broken invariant with its context.
class Harness {
 public:
  explicit Harness(HarnessOptions options) : options_(std::move(options)) {
    auto memory = MemoryStore::Create({.clock = &clock_, .shards = 4, .sweep_interval = seconds(0)});
    EXPECT_TRUE(memory.ok());
    memory_ = std::shared_ptr<Store>(std::move(*memory));
    faulty_ = std::make_shared<FaultInjectingStore>(
        memory_, testing::FaultInjectingStoreOptions{.clock = &clock_, .seed = options_.seed});
    ResilientStoreOptions o = options_.store;
    o.clock = &clock_;
    o.seed = options_.seed;
    o.observer = Observer{.logger = &Logger::Null()};  // thousands of breaker transitions
    o.breaker.on_transition = [this](const BreakerTransition& t) {
      const nanoseconds at = clock_.MonotonicNow() - start_;
      std::lock_guard<std::mutex> lock(transitions_mu_);
      transitions_.push_back(t);
      transition_log_ += "  t=" + std::to_string(at.count() / 1'000'000) + "ms " +
                         std::string(BreakerStateName(t.from)) + " -> " + std::string(BreakerStateName(t.to)) +
                         " (" + t.reason + ")\n";
    };
    auto store = NewResilientStore(faulty_, o);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (store.ok()) store_ = *store;
    start_ = clock_.MonotonicNow();
  }

  ~Harness() {
    Drain();
    store_.reset();
  }

  bool ok() const { return store_ != nullptr; }
  SimulatedClock& clock() { return clock_; }
  FaultInjectingStore& faulty() { return *faulty_; }
  ResilientStore& store() { return *store_; }
  Store& memory() { return *memory_; }
  const ResilientStoreOptions& options() const { return store_->options(); }
  nanoseconds step() const { return options_.step; }
  nanoseconds SimNow() { return clock_.MonotonicNow() - start_; }

  void Violation(const std::string& what) {
    if (violations_.size() < 50) {
      violations_.push_back("t=" + std::to_string(SimNow().count() / 1'000'000) + "ms: " + what);
    } else {
      ++dropped_violations_;
    }
  }
  const std::vector<std::string>& violations() const { return violations_; }
  size_t dropped_violations() const { return dropped_violations_; }

  std::string transition_log() {
    std::lock_guard<std::mutex> lock(transitions_mu_);
    return transition_log_;
  }

  std::vector<BreakerTransition> transitions() {
    std::lock_guard<std::mutex> lock(transitions_mu_);
    return transitions_;
  }

  // True when nothing can make progress without simulated time moving: every
  // busy worker is sleeping or hanging in the injector and no queued call
  // can start; and, with `need_call`, the current operation's call waits on
  // time: for a backoff timer, in the injector (sleeping or hanging), or for
  // a worker. A heuristic (the counts are read one after another); a wrong
  // answer moves time a step early, which the invariants allow for.
  bool Blocked(bool need_call = true) {
    const ResilienceStats s = store_->GetResilienceStats();
    const size_t inside = faulty_->in_flight();
    const size_t blocked = faulty_->hung_now() + faulty_->sleeping_now();
    if (s.busy_workers != inside || inside != blocked) return false;
    const bool workers_free = s.busy_workers < static_cast<uint64_t>(store_->options().workers);
    if (s.queued > 0 && workers_free) return false;
    if (!need_call) return true;
    if (s.in_flight == 0) return false;
    return s.pending_timers > s.in_flight || faulty_->blocked_after(op_seq_) > 0 || s.queued > 0;
  }

  // Advances the clock by `d` in driver steps, letting blocked work move.
  void AdvanceBy(nanoseconds d) {
    while (d.count() > 0) {
      const nanoseconds s = std::min(d, options_.step);
      clock_.Advance(s);
      d -= s;
      Settle();
    }
  }

  // Runs `job` on the caller thread, moving simulated time while it is
  // blocked. With `deadline`, time stops moving once the call is past its
  // deadline plus one step: the call must then be answered without more
  // simulated time. Returns false if the job did not finish.
  bool RunOp(const std::function<void()>& job, std::optional<nanoseconds> deadline, const std::string& what,
             nanoseconds max_sim = seconds(30)) {
    const auto start = clock_.MonotonicNow();
    const auto real_start = std::chrono::steady_clock::now();
    // A decision waits only for its own calls; Reconcile() may also wait for
    // a background pass whose calls started earlier.
    op_seq_ = deadline.has_value() ? faulty_->stats().total.calls : 0;
    last_snapshot_ = Snapshot();
    last_change_ = std::chrono::steady_clock::now();
    caller_.Post(job);
    caller_busy_ = true;
    struct Idle {
      bool& busy;
      ~Idle() { busy = false; }
    } idle{caller_busy_};
    for (;;) {
      if (caller_.WaitDone(std::chrono::microseconds(50))) return true;
      const nanoseconds elapsed = clock_.MonotonicNow() - start;
      if (deadline.has_value() && elapsed >= *deadline + options_.step) {
        if (caller_.WaitDone(seconds(5))) return true;
        Violation(what + ": not answered " + std::to_string(elapsed.count() / 1000) +
                  "us of simulated time after it started (deadline " + std::to_string(deadline->count() / 1000) +
                  "us) and 5 s of real time with the clock standing still (" + StateString() + ")");
        return Unstick();
      }
      if (elapsed > max_sim || std::chrono::steady_clock::now() - real_start > seconds(20)) {
        Violation(what + ": still running after " + std::to_string(elapsed.count() / 1'000'000) +
                  "ms of simulated time (" + StateString() + ")");
        return Unstick();
      }
      // Liveness: if the stack looks busy but nothing has changed for kStall
      // of real time, it waits on time in a way Blocked() does not recognise
      // (or this thread was descheduled); move time anyway (the deadline
      // rule above still holds time at the deadline).
      const auto snapshot = Snapshot();
      if (snapshot != last_snapshot_) {
        last_snapshot_ = snapshot;
        last_change_ = std::chrono::steady_clock::now();
      }
      const bool stalled = std::chrono::steady_clock::now() - last_change_ > kStall;
      if (!Blocked() && !stalled) continue;
      if (stalled) {
        if (verbose_) std::printf("  forced step during %s: %s\n", what.c_str(), StateString().c_str());
        ++forced_steps_;
        last_change_ = std::chrono::steady_clock::now();
      }
      clock_.Advance(options_.step);
      const bool crossed = deadline.has_value() && clock_.MonotonicNow() - start >= *deadline;
      Settle(crossed);
    }
  }

  // Steps taken because the stack stalled without looking blocked.
  uint64_t forced_steps() const { return forced_steps_; }

  // What the stack is doing now, for a violation's message.
  std::string StateString() {
    const ResilienceStats s = store_->GetResilienceStats();
    return "in_flight " + std::to_string(s.in_flight) + ", queued " + std::to_string(s.queued) + ", busy_workers " +
           std::to_string(s.busy_workers) + ", pending_timers " + std::to_string(s.pending_timers) +
           "; in the injector " + std::to_string(faulty_->in_flight()) + " (hung " +
           std::to_string(faulty_->hung_now()) + ", sleeping " + std::to_string(faulty_->sleeping_now()) + ")";
  }

  // A decision through the resilient store, with its timing.
  Outcome Decide(const std::string& key, const Policy& policy, int64_t cost = 1) {
    Outcome out;
    const auto start = clock_.MonotonicNow();
    out.start_wall_ns = clock_.NowNanos();
    const auto real_start = std::chrono::steady_clock::now();
    out.answered = RunOp(
        [&] {
          out.result = store_->Decide(DecideRequest{key, &policy, cost, Operation::kConsume});
          out.sim_elapsed = clock_.MonotonicNow() - start;
          out.end_wall_ns = clock_.NowNanos();
        },
        options().deadline, "Decide(" + key + ")");
    out.real_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - real_start).count();
    return out;
  }

  ReconcileResult Reconcile() {
    ReconcileResult r;
    RunOp([&] { r = store_->Reconcile(); }, std::nullopt, "Reconcile()");
    return r;
  }

  // Ends every fault and lets every call still inside the stack, and any
  // reconcile pass settling its charges, finish.
  void Drain() {
    if (store_ == nullptr) return;
    faulty_->ClearFaults();
    const auto give_up = std::chrono::steady_clock::now() + seconds(10);
    ResilienceStats s;
    while (std::chrono::steady_clock::now() < give_up) {
      s = store_->GetResilienceStats();
      if (faulty_->in_flight() == 0 && s.busy_workers == 0 && s.in_flight == 0 && s.reconcile_running == 0) return;
      if (Blocked(/*need_call=*/false)) {
        clock_.Advance(options_.step);
        Settle(true);
      } else {
        std::this_thread::yield();
      }
    }
    Violation("calls still in flight after draining for 10 s of real time: " + StateString());
  }

 private:
  // After time moved: when a timer may have come due (a backoff is pending,
  // or a deadline was crossed), give the timer thread, which reads the clock
  // every millisecond of real time, the chance to run it before time moves
  // on. Waits for a change of state, at most 1.5 ms of real time.
  void Settle(bool crossed_deadline = false) {
    const ResilienceStats s = store_->GetResilienceStats();
    if (!crossed_deadline && s.pending_timers <= s.in_flight) return;
    const auto snapshot = std::make_tuple(s.busy_workers, s.pending_timers, s.in_flight, faulty_->in_flight());
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(1500);
    while (std::chrono::steady_clock::now() < until) {
      if (caller_.WaitDone(std::chrono::microseconds(50)) && caller_busy_) return;
      const ResilienceStats t = store_->GetResilienceStats();
      if (std::make_tuple(t.busy_workers, t.pending_timers, t.in_flight, faulty_->in_flight()) != snapshot) return;
    }
  }

  // A call hangs for good: end every fault and move time far ahead so that
  // the call returns before the harness goes away.
  bool Unstick() {
    faulty_->ClearFaults();
    for (int i = 0; i < 200; ++i) {
      clock_.Advance(seconds(1));
      if (caller_.WaitDone(milliseconds(10))) return false;
    }
    ADD_FAILURE() << "a call through ResilientStore never returned, even with every fault cleared; aborting";
    std::abort();
  }

  HarnessOptions options_;
  SimulatedClock clock_;
  std::shared_ptr<Store> memory_;
  std::shared_ptr<FaultInjectingStore> faulty_;
  std::shared_ptr<ResilientStore> store_;
  Clock::Monotonic start_;
  CallerThread caller_;
  bool caller_busy_ = false;  // a job of RunOp() is on the caller thread
  uint64_t op_seq_ = 0;       // injector calls that cannot be the current operation's
  using StateTuple = std::tuple<uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, size_t, uint64_t>;
  StateTuple last_snapshot_{};
  std::chrono::steady_clock::time_point last_change_{};
  uint64_t forced_steps_ = 0;
  const bool verbose_ = EnvInt("SLUICE_SIM_VERBOSE", 0) != 0;

  StateTuple Snapshot() {
    const ResilienceStats s = store_->GetResilienceStats();
    return {s.in_flight, s.queued, s.busy_workers, s.pending_timers, s.attempts, faulty_->in_flight(),
            faulty_->stats().total.calls};
  }
  std::mutex transitions_mu_;
  std::vector<BreakerTransition> transitions_;  // guarded by transitions_mu_
  std::string transition_log_;                  // guarded by transitions_mu_
  std::vector<std::string> violations_;
  size_t dropped_violations_ = 0;
};

bool LegalTransition(BreakerState from, BreakerState to) {
  return (from == BreakerState::kClosed && to == BreakerState::kOpen) ||
         (from == BreakerState::kOpen && to == BreakerState::kHalfOpen) ||
         (from == BreakerState::kHalfOpen && (to == BreakerState::kOpen || to == BreakerState::kClosed));
}

// Options shared by the simulations: a short window and open duration so
// that a few seconds of simulated time see the breaker cycle.
ResilientStoreOptions SimStoreOptions() {
  ResilientStoreOptions o;
  o.name = "sim";
  o.deadline = milliseconds(50);
  o.workers = 4;
  o.max_queued = 8;
  o.retry.max_attempts = 3;
  o.retry.initial_backoff = milliseconds(2);
  o.retry.max_backoff = milliseconds(16);
  o.retry.budget_window = seconds(2);
  o.breaker.window = milliseconds(500);
  o.breaker.window_buckets = 10;
  o.breaker.minimum_calls = 8;
  o.breaker.failure_rate_threshold = 0.5;
  o.breaker.slow_call_duration = milliseconds(40);
  o.breaker.slow_call_rate_threshold = 1.0;
  o.breaker.open_duration = milliseconds(300);
  o.breaker.half_open_probes = 3;
  o.breaker.half_open_timeout = milliseconds(150);
  o.fail_mode_overrides = {{"o:", FailMode::kOpen},
                           {"c:", FailMode::kClosed},
                           {"f:", FailMode::kFallback},
                           {"e:", FailMode::kError}};
  return o;
}

// The time windows in which every call fails (outage rules of a schedule).
std::vector<std::pair<nanoseconds, nanoseconds>> Outages(const FaultSchedule& schedule) {
  std::vector<std::pair<nanoseconds, nanoseconds>> out;
  for (const FaultRule& r : schedule) {
    if (r.calls == testing::kAllCalls && r.probability >= 1.0 && r.fault.outcome == Fault::Outcome::kFailBefore &&
        r.to_time != nanoseconds::max()) {
      out.emplace_back(r.from_time, r.to_time);
    }
  }
  return out;
}

// True if [from, to) lies inside one outage window.
bool InsideOutage(const std::vector<std::pair<nanoseconds, nanoseconds>>& outages, nanoseconds from, nanoseconds to) {
  for (const auto& [a, b] : outages) {
    if (a <= from && to <= b) return true;
  }
  return false;
}

bool InsideAnyWindow(const FaultSchedule& schedule, nanoseconds t, bool hangs_only) {
  for (const FaultRule& r : schedule) {
    if (hangs_only && !r.fault.hang) continue;
    if (r.to_time != nanoseconds::max() && r.from_time <= t && t < r.to_time) return true;
  }
  return false;
}

struct SeedReport {
  uint64_t seed = 0;
  std::vector<std::string> violations;
  size_t dropped = 0;
  std::string schedule;
  std::string summary;
  size_t transitions = 0;
  std::string transition_log;
  // What the run exercised, so that the test notices when the schedules stop
  // provoking what the invariants are about.
  uint64_t outage_checks = 0;     // breaker checked during a sustained outage
  uint64_t fallback_allowed = 0;  // units admitted by a fallback
  uint64_t charged = 0;           // units charged back
  uint64_t lost_replies = 0;      // replies the injector lost
  uint64_t hung = 0;              // calls that hung
  uint64_t past_deadline = 0;     // calls answered by their deadline
  uint64_t forced_steps = 0;      // driver steps taken on a stall (see RunOp)
};

// One seeded run. Returns what went wrong (nothing when every invariant held).
SeedReport RunSeed(uint64_t seed, int decisions) {
  SeedReport report;
  report.seed = seed;
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ull + 17);
  auto below = [&rng](uint64_t n) { return n == 0 ? 0 : rng() % n; };

  HarnessOptions hopt;
  hopt.seed = seed;
  hopt.store = SimStoreOptions();
  const FailMode modes[] = {FailMode::kOpen, FailMode::kClosed, FailMode::kFallback, FailMode::kError};
  hopt.store.fail_mode = modes[below(4)];
  const int64_t instances_choice[] = {1, 2, 4};
  hopt.store.fallback.instances = instances_choice[below(3)];
  hopt.store.reconcile.automatic = (seed % 2) == 1;
  Harness h(hopt);
  if (!h.ok()) {
    report.violations.push_back("NewResilientStore failed");
    return report;
  }
  const ResilientStoreOptions& o = h.options();

  // Traffic: a decision every 2..40 ms on one of 10 keys, two per fail mode
  // (d: keys take the default mode). Faults span the traffic's duration.
  const nanoseconds mean_gap = milliseconds(21);
  const nanoseconds horizon = mean_gap * decisions;
  testing::RandomFaultScheduleOptions fopt;
  fopt.horizon = horizon;
  fopt.max_outages = 2;
  fopt.max_outage = horizon / 2;
  fopt.max_latency_spikes = 2;
  fopt.max_spike = milliseconds(500);
  fopt.max_spike_latency = milliseconds(120);
  fopt.max_hang_windows = 1;
  fopt.max_hang_window = milliseconds(400);
  fopt.hang_probability = 0.3;
  const FaultSchedule schedule = testing::RandomFaultSchedule(seed, fopt);
  report.schedule = testing::ToString(schedule);
  const auto outages = Outages(schedule);
  h.faulty().SetSchedule(schedule);

  const int64_t limit = 8;
  const nanoseconds window = seconds(1);
  const Policy policy = Policy::FixedWindow(limit, window);
  const int64_t share = std::max<int64_t>(1, limit / o.fallback.instances);
  const std::vector<std::string> keys = {"o:a", "o:b", "c:a", "c:b", "f:a", "f:b", "e:a", "e:b", "d:a", "d:b"};

  // Caller-side accounting.
  int64_t store_units = 0;       // allowed, not degraded
  int64_t fallback_units = 0;    // allowed by the fallback
  uint64_t n_store = 0, n_open = 0, n_closed = 0, n_fallback = 0, n_error = 0;
  int64_t open_units = 0;
  // Fallback admissions per (key, window) when the decision surely fell in
  // that window, and per key over the run.
  std::map<std::pair<std::string, int64_t>, int64_t> fallback_by_window;
  std::map<std::string, std::set<int64_t>> windows_touched;
  std::map<std::string, int64_t> fallback_by_key;
  std::vector<nanoseconds> call_times;  // simulated start of every decision
  const int64_t window_ns = nanoseconds(window).count();

  // Checks one decision against its key's fail mode and counts it.
  const bool verbose = EnvInt("SLUICE_SIM_VERBOSE", 0) != 0;
  auto account = [&](const Outcome& out, const std::string& key, const std::string& what) {
    const FailMode mode = h.store().FailModeFor(key);
    if (verbose) {
      std::printf("t=%.3fms %s: %s in %.3fms sim, breaker %s; %s\n", static_cast<double>(h.SimNow().count()) / 1e6,
                  what.c_str(), out.result.ok() ? ToString(*out.result).c_str() : out.result.status().ToString().c_str(),
                  static_cast<double>(out.sim_elapsed.count()) / 1e6,
                  std::string(BreakerStateName(h.store().breaker_state())).c_str(), h.StateString().c_str());
    }
    if (out.sim_elapsed > o.deadline + h.step()) {
      h.Violation(what + " answered after " + std::to_string(out.sim_elapsed.count() / 1000) +
                  "us of simulated time; deadline " + std::to_string(o.deadline.count() / 1000) + "us");
    }
    if (out.real_ms > 5000) h.Violation(what + " took " + std::to_string(out.real_ms) + "ms of real time");
    const Result<Decision>& r = out.result;
    if (!r.ok()) {
      ++n_error;
      const StatusCode code = r.status().code();
      if (mode != FailMode::kError) {
        h.Violation(what + " returned an error although its fail mode answers: " + r.status().ToString());
      } else if (code != StatusCode::kUnavailable && code != StatusCode::kDeadlineExceeded &&
                 code != StatusCode::kResourceExhausted) {
        h.Violation(what + " returned an unexpected error: " + r.status().ToString());
      }
      return;
    }
    if (!r->degraded) {
      ++n_store;
      if (r->allowed) store_units += 1;
      if (r->limit != limit) h.Violation(what + " from the store has limit " + std::to_string(r->limit));
      return;
    }
    switch (mode) {
      case FailMode::kOpen:
        ++n_open;
        if (!r->allowed) h.Violation(what + ": fail-open decision denied");
        if (r->limit != limit || r->remaining != limit - 1) h.Violation(what + ": fail-open decision " + ToString(*r));
        if (r->allowed) open_units += 1;
        break;
      case FailMode::kClosed:
        ++n_closed;
        if (r->allowed) h.Violation(what + ": fail-closed decision allowed");
        if (r->remaining != 0) h.Violation(what + ": fail-closed decision " + ToString(*r));
        break;
      case FailMode::kFallback: {
        ++n_fallback;
        if (!r->allowed) break;
        fallback_units += 1;
        fallback_by_key[key] += 1;
        const int64_t w0 = out.start_wall_ns / window_ns;
        const int64_t w1 = out.end_wall_ns / window_ns;
        windows_touched[key].insert(w0);
        windows_touched[key].insert(w1);
        if (w0 == w1 && ++fallback_by_window[{key, w0}] > share) {
          h.Violation(what + ": fallback admitted " + std::to_string(fallback_by_window[{key, w0}]) +
                      " units in one window; its share is " + std::to_string(share));
        }
        break;
      }
      case FailMode::kError:
        h.Violation(what + ": degraded decision although the fail mode is error: " + ToString(*r));
        break;
    }
  };

  for (int i = 0; i < decisions; ++i) {
    h.AdvanceBy(milliseconds(2 + static_cast<int64_t>(below(39))));
    // A paused server resumes when its hang window is over.
    if (h.faulty().hung_now() > 0 && !InsideAnyWindow(schedule, h.faulty().ScheduleElapsed(), true)) {
      h.faulty().ReleaseHangs();
    }
    const std::string& key = keys[below(keys.size())];
    const nanoseconds t = h.SimNow();
    call_times.push_back(t);
    const Outcome out = h.Decide(key, policy);
    if (!out.answered) break;
    account(out, key,
            "decision " + std::to_string(i) + " on " + key + " (mode " +
                std::string(FailModeName(h.store().FailModeFor(key))) + ")");

    // The breaker: after a sustained outage with enough calls it is not closed.
    const nanoseconds span = o.breaker.window + o.breaker.window / o.breaker.window_buckets + o.deadline +
                             milliseconds(100);
    const nanoseconds now = h.faulty().ScheduleElapsed();
    if (now > span && InsideOutage(outages, now - span, now)) {
      const auto recent = std::count_if(call_times.begin(), call_times.end(),
                                        [&](nanoseconds c) { return c >= t - o.breaker.window; });
      if (recent >= o.breaker.minimum_calls) ++report.outage_checks;
      if (recent >= o.breaker.minimum_calls && h.store().breaker_state() == BreakerState::kClosed) {
        h.Violation("breaker closed after " + std::to_string(span.count() / 1'000'000) + "ms of outage with " +
                    std::to_string(recent) + " calls in its window");
      }
    }
    if (i % 40 == 39) h.Reconcile();
  }

  // Recovery: no more faults; after the open duration and a few successful
  // probes the breaker must be closed and decisions come from the store.
  // Allowed: 150 decisions 5 ms apart, two open periods, so that one probe
  // timed out by a stalled test thread (a loaded machine, a sanitizer) does
  // not fail the seed; a breaker that cannot close fails it.
  h.Drain();
  h.AdvanceBy(o.breaker.open_duration + o.breaker.half_open_timeout + h.step());
  const int wanted = o.breaker.half_open_probes + 2;
  int in_a_row = 0;
  int timed_out = 0;
  int recovery = 0;
  for (; recovery < 150 && in_a_row < wanted; ++recovery) {
    h.AdvanceBy(milliseconds(5));
    const Outcome out = h.Decide("o:recovery", policy);
    if (!out.answered) break;
    account(out, "o:recovery", "recovery decision " + std::to_string(recovery));
    in_a_row = out.result.ok() && !out.result->degraded ? in_a_row + 1 : 0;
    if (out.sim_elapsed >= o.deadline) ++timed_out;
  }
  if (in_a_row < wanted) {
    h.Violation("after recovery, " + std::to_string(recovery) + " decisions never had " + std::to_string(wanted) +
                " in a row from the store (" + std::to_string(timed_out) + " timed out)");
  }
  if (h.store().breaker_state() != BreakerState::kClosed) {
    h.Violation(std::string("breaker ") + std::string(BreakerStateName(h.store().breaker_state())) +
                " after recovery, open duration and successful probes");
  }
  // Charge back what is left (a few passes: a pass may defer).
  for (int pass = 0; pass < 5; ++pass) {
    h.Drain();
    const ResilienceStats s = h.store().GetResilienceStats();
    if (s.debt_keys == 0) break;
    h.Reconcile();
  }
  h.Drain();

  // Breaker transitions are legal and chained.
  const std::vector<BreakerTransition> transitions = h.transitions();
  for (size_t i = 0; i < transitions.size(); ++i) {
    const BreakerTransition& t = transitions[i];
    if (!LegalTransition(t.from, t.to)) {
      h.Violation("illegal breaker transition " + std::string(BreakerStateName(t.from)) + " -> " +
                  std::string(BreakerStateName(t.to)) + " (" + t.reason + ")");
    }
    if (i > 0 && transitions[i - 1].to != t.from) {
      h.Violation("breaker transitions not chained: ... -> " + std::string(BreakerStateName(transitions[i - 1].to)) +
                  ", then " + std::string(BreakerStateName(t.from)) + " -> ...");
    }
  }

  // Fallback share over the run: at most `share` per window touched.
  for (const auto& [key, units] : fallback_by_key) {
    const int64_t bound = share * static_cast<int64_t>(windows_touched[key].size());
    if (units > bound) {
      h.Violation("fallback on " + key + " admitted " + std::to_string(units) + " units over " +
                  std::to_string(windows_touched[key].size()) + " windows; share " + std::to_string(share));
    }
  }

  // Counts agree with what callers saw.
  const ResilienceStats s = h.store().GetResilienceStats();
  const testing::FaultStats fs = h.faulty().stats();
  auto expect_eq = [&](const char* name, int64_t got, int64_t want) {
    if (got != want) {
      h.Violation(std::string(name) + " is " + std::to_string(got) + ", callers saw " + std::to_string(want));
    }
  };
  expect_eq("decisions_fail_open", static_cast<int64_t>(s.decisions_fail_open), static_cast<int64_t>(n_open));
  expect_eq("decisions_fail_closed", static_cast<int64_t>(s.decisions_fail_closed), static_cast<int64_t>(n_closed));
  expect_eq("decisions_fallback", static_cast<int64_t>(s.decisions_fallback), static_cast<int64_t>(n_fallback));
  expect_eq("decisions_error", static_cast<int64_t>(s.decisions_error), static_cast<int64_t>(n_error));
  expect_eq("fallback_allowed", static_cast<int64_t>(s.fallback_allowed), fallback_units);
  expect_eq("overshoot_open", static_cast<int64_t>(s.overshoot_open), open_units);

  // Debt is conserved: every unit admitted by the fallback is charged,
  // found over the limit, lost, expired, dropped, or still owed.
  const int64_t accounted = static_cast<int64_t>(s.reconcile_charged + s.reconcile_over_limit + s.reconcile_lost +
                                                 s.reconcile_expired + s.reconcile_dropped + s.debt_units);
  if (accounted != fallback_units) {
    h.Violation("reconciliation accounts for " + std::to_string(accounted) + " units (charged " +
                std::to_string(s.reconcile_charged) + ", over_limit " + std::to_string(s.reconcile_over_limit) +
                ", lost " + std::to_string(s.reconcile_lost) + ", expired " + std::to_string(s.reconcile_expired) +
                ", dropped " + std::to_string(s.reconcile_dropped) + ", owed " + std::to_string(s.debt_units) +
                ") but the fallback admitted " + std::to_string(fallback_units));
  }
  if (static_cast<int64_t>(s.reconcile_charged) > fallback_units) {
    h.Violation("reconciliation charged " + std::to_string(s.reconcile_charged) + " units, more than the " +
                std::to_string(fallback_units) + " admitted locally");
  }

  // The store's side: what it admitted is what callers saw it admit, plus
  // charged-back units, plus units whose outcome nobody saw (lost replies,
  // calls answered by their deadline before the store finished).
  const int64_t unexplained =
      fs.decide_units_admitted - fs.decide_units_admitted_lost - store_units - static_cast<int64_t>(s.reconcile_charged);
  const int64_t unknown_bound = static_cast<int64_t>(s.attempts_deadline_exceeded + s.reconcile_lost);
  if (unexplained < 0 || unexplained > unknown_bound) {
    h.Violation("the store admitted " + std::to_string(fs.decide_units_admitted) + " units (" +
                std::to_string(fs.decide_units_admitted_lost) + " with lost replies); callers saw " +
                std::to_string(store_units) + ", reconciliation charged " + std::to_string(s.reconcile_charged) +
                ": " + std::to_string(unexplained) + " units unexplained, at most " + std::to_string(unknown_bound) +
                " may come from calls past their deadline and lost charges");
  }

  std::ostringstream summary;
  summary << "mode=" << FailModeName(o.fail_mode) << " instances=" << o.fallback.instances
          << " automatic_reconcile=" << o.reconcile.automatic << " store=" << n_store << " open=" << n_open
          << " closed=" << n_closed << " fallback=" << n_fallback << " error=" << n_error
          << " transitions=" << transitions.size() << " injected=" << fs.total.faulted
          << " lost_replies=" << fs.total.lost_replies << " hung=" << fs.total.hung
          << " retries=" << s.retries << " forced_steps=" << h.forced_steps() << " reconcile_charged=" << s.reconcile_charged
          << " expired=" << s.reconcile_expired << " lost=" << s.reconcile_lost;
  report.summary = summary.str();
  report.transitions = transitions.size();
  report.fallback_allowed = static_cast<uint64_t>(fallback_units);
  report.charged = s.reconcile_charged;
  report.lost_replies = fs.total.lost_replies;
  report.hung = fs.total.hung;
  report.past_deadline = s.attempts_deadline_exceeded;
  report.forced_steps = h.forced_steps();
  report.transition_log = h.transition_log();
  report.violations = h.violations();
  report.dropped = h.dropped_violations();
  return report;
}

TEST(ResilienceSimulationTest, RandomFaultSchedulesKeepEveryInvariant) {
  const int64_t one = EnvInt("SLUICE_SIM_SEED", -1);
  const int64_t seeds = one >= 0 ? 1 : EnvInt("SLUICE_SIM_SEEDS", kDefaultSeeds);
  const int decisions = static_cast<int>(EnvInt("SLUICE_SIM_DECISIONS", 150));
  const int max_failures = static_cast<int>(EnvInt("SLUICE_SIM_MAX_FAILURES", 5));
  const auto real_start = std::chrono::steady_clock::now();
  int failed = 0;
  uint64_t transitions_seen = 0;
  SeedReport total;
  for (int64_t i = 0; i < seeds; ++i) {
    const uint64_t seed = one >= 0 ? static_cast<uint64_t>(one) : static_cast<uint64_t>(i + 1);
    const SeedReport report = RunSeed(seed, decisions);
    if (one >= 0) std::printf("seed %llu: %s\n", static_cast<unsigned long long>(seed), report.summary.c_str());
    transitions_seen += report.transitions > 0 ? 1 : 0;
    total.outage_checks += report.outage_checks;
    total.fallback_allowed += report.fallback_allowed;
    total.charged += report.charged;
    total.lost_replies += report.lost_replies;
    total.hung += report.hung;
    total.past_deadline += report.past_deadline;
    total.forced_steps += report.forced_steps;
    if (report.violations.empty()) continue;
    ++failed;
    std::string text;
    for (const std::string& v : report.violations) text += "  " + v + "\n";
    if (report.dropped > 0) text += "  ... and " + std::to_string(report.dropped) + " more\n";
    ADD_FAILURE() << "seed " << seed << " broke " << report.violations.size() + report.dropped
                  << " invariant(s); replay with SLUICE_SIM_SEED=" << seed
                  << " --gtest_filter=ResilienceSimulationTest.*\n"
                  << text << "run: " << report.summary << "\nschedule:\n"
                  << report.schedule << "breaker transitions:\n"
                  << report.transition_log;
    if (failed >= max_failures) {
      ADD_FAILURE() << "stopping after " << max_failures << " failing seeds";
      break;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - real_start).count();
  std::printf("resilience simulation: %lld seeds x %d decisions in %.2f s real, %d failed, %llu with breaker "
              "transitions\n",
              static_cast<long long>(seeds), decisions, secs, failed,
              static_cast<unsigned long long>(transitions_seen));
  std::printf("exercised: %llu breaker checks in sustained outages, %llu fallback units, %llu charged back, "
              "%llu lost replies, %llu hung calls, %llu calls past their deadline; %llu forced driver steps\n",
              static_cast<unsigned long long>(total.outage_checks),
              static_cast<unsigned long long>(total.fallback_allowed), static_cast<unsigned long long>(total.charged),
              static_cast<unsigned long long>(total.lost_replies), static_cast<unsigned long long>(total.hung),
              static_cast<unsigned long long>(total.past_deadline),
              static_cast<unsigned long long>(total.forced_steps));
  // The schedules must provoke what the invariants are about, or the test
  // proves little.
  if (seeds >= 20) {
    EXPECT_GT(transitions_seen, static_cast<uint64_t>(seeds / 4));
    EXPECT_GT(total.outage_checks, 0u);
    EXPECT_GT(total.fallback_allowed, 0u);
    EXPECT_GT(total.charged, 0u);
    EXPECT_GT(total.lost_replies, 0u);
    EXPECT_GT(total.hung, 0u);
    EXPECT_GT(total.past_deadline, 0u);
  }
}


// --- Deterministic scenarios: the same invariants, with exact expectations. ---

// Single attempts, so that each decision is exactly one call the breaker sees.
HarnessOptions ScenarioOptions(FailMode mode) {
  HarnessOptions h;
  h.seed = 1;
  h.store = SimStoreOptions();
  h.store.retry.max_attempts = 1;
  h.store.fail_mode = mode;
  h.store.fail_mode_overrides.clear();
  h.store.reconcile.automatic = false;
  return h;
}

std::string Describe(const Outcome& out) {
  return out.result.ok() ? ToString(*out.result) : out.result.status().ToString();
}

std::string TransitionsOf(Harness& h) { return h.transition_log(); }

TEST(ResilienceScenarioTest, BreakerOpensAfterASustainedOutageAndClosesAfterSuccessfulProbes) {
  Harness h(ScenarioOptions(FailMode::kOpen));
  ASSERT_TRUE(h.ok());
  const CircuitBreakerOptions& b = h.options().breaker;
  const Policy policy = Policy::FixedWindow(1000, seconds(60));
  for (int i = 0; i < 5; ++i) {
    h.AdvanceBy(milliseconds(10));
    const Outcome out = h.Decide("k", policy);
    ASSERT_TRUE(out.result.ok() && !out.result->degraded) << Describe(out);
  }
  // 5 successes, then failures: the window reaches 8 calls at the 3rd failure
  // and a failure rate of 0.5 at the 5th (5 of 10).
  h.faulty().SetOutage(true);
  for (int i = 1; i <= 5; ++i) {
    h.AdvanceBy(milliseconds(10));
    const Outcome out = h.Decide("k", policy);
    ASSERT_TRUE(out.result.ok()) << Describe(out);
    EXPECT_TRUE(out.result->allowed && out.result->degraded) << Describe(out);
    EXPECT_EQ(h.store().breaker_state(), i < 5 ? BreakerState::kClosed : BreakerState::kOpen)
        << "after failure " << i << "\n" << TransitionsOf(h);
  }
  // Open: answered at once by the fail mode, the store is not called.
  const uint64_t calls_when_opened = h.faulty().stats().total.calls;
  h.AdvanceBy(b.open_duration - milliseconds(2));
  Outcome out = h.Decide("k", policy);
  EXPECT_TRUE(out.result.ok() && out.result->degraded) << Describe(out);
  EXPECT_EQ(out.sim_elapsed, nanoseconds(0));
  EXPECT_EQ(h.faulty().stats().total.calls, calls_when_opened);
  EXPECT_EQ(h.store().breaker_state(), BreakerState::kOpen);
  // After open_duration a probe reaches the store; it fails: open again.
  h.AdvanceBy(milliseconds(2));
  out = h.Decide("k", policy);
  EXPECT_TRUE(out.result.ok() && out.result->degraded) << Describe(out);
  EXPECT_EQ(h.faulty().stats().total.calls, calls_when_opened + 1);
  EXPECT_EQ(h.store().breaker_state(), BreakerState::kOpen) << TransitionsOf(h);
  // Recovery: after open_duration, half_open_probes successful probes close it.
  h.faulty().SetOutage(false);
  h.AdvanceBy(b.open_duration);
  for (int i = 1; i <= b.half_open_probes; ++i) {
    out = h.Decide("k", policy);
    EXPECT_TRUE(out.result.ok() && !out.result->degraded) << "probe " << i << ": " << Describe(out);
    EXPECT_EQ(h.store().breaker_state(), i < b.half_open_probes ? BreakerState::kHalfOpen : BreakerState::kClosed)
        << "after probe " << i << "\n" << TransitionsOf(h);
  }
  const std::vector<BreakerTransition> t = h.transitions();
  ASSERT_EQ(t.size(), 5u) << TransitionsOf(h);
  EXPECT_EQ(t[0].to, BreakerState::kOpen);
  EXPECT_EQ(t[1].to, BreakerState::kHalfOpen);
  EXPECT_EQ(t[2].to, BreakerState::kOpen);
  EXPECT_EQ(t[3].to, BreakerState::kHalfOpen);
  EXPECT_EQ(t[4].to, BreakerState::kClosed);
}

// A half-open breaker that nobody called for longer than half_open_timeout
// (only its state was read, as a readiness check does) must still close on
// successful probes: the timeout runs from each probe's admission.
TEST(ResilienceScenarioTest, IdleHalfOpenBreakerClosesOnSuccessfulProbes) {
  Harness h(ScenarioOptions(FailMode::kOpen));
  ASSERT_TRUE(h.ok());
  const CircuitBreakerOptions& b = h.options().breaker;
  const Policy policy = Policy::FixedWindow(1000, seconds(60));
  h.faulty().SetOutage(true);
  for (int i = 0; i < b.minimum_calls; ++i) {
    h.AdvanceBy(milliseconds(10));
    (void)h.Decide("k", policy);
  }
  ASSERT_EQ(h.store().breaker_state(), BreakerState::kOpen) << TransitionsOf(h);
  h.faulty().SetOutage(false);
  h.AdvanceBy(b.open_duration);
  EXPECT_EQ(h.store().breaker_state(), BreakerState::kHalfOpen);
  h.AdvanceBy(b.half_open_timeout + milliseconds(50));
  for (int i = 1; i <= b.half_open_probes; ++i) {
    const Outcome out = h.Decide("k", policy);
    EXPECT_TRUE(out.result.ok() && !out.result->degraded) << "probe " << i << ": " << Describe(out);
  }
  EXPECT_EQ(h.store().breaker_state(), BreakerState::kClosed) << TransitionsOf(h);
}

TEST(ResilienceScenarioTest, HungStoreAnswersEveryCallByItsDeadlineWithBoundedWork) {
  HarnessOptions opt = ScenarioOptions(FailMode::kClosed);
  Harness h(opt);
  ASSERT_TRUE(h.ok());
  const ResilientStoreOptions& o = h.options();
  const Policy policy = Policy::FixedWindow(1000, seconds(60));
  h.faulty().HangAll(true);
  int at_deadline = 0;
  int at_once = 0;
  for (int i = 0; i < 30; ++i) {
    h.AdvanceBy(milliseconds(3));
    const Outcome out = h.Decide("k" + std::to_string(i % 3), policy);
    ASSERT_TRUE(out.answered) << "call " << i << ": " << h.violations().front();
    ASSERT_TRUE(out.result.ok()) << Describe(out);
    EXPECT_TRUE(!out.result->allowed && out.result->degraded) << Describe(out);
    EXPECT_LE(out.sim_elapsed, o.deadline + h.step()) << "call " << i;
    if (out.sim_elapsed >= o.deadline) ++at_deadline;
    // (Within one step: the driver may move time while a call is refused.)
    if (out.sim_elapsed <= h.step()) ++at_once;
    const ResilienceStats s = h.store().GetResilienceStats();
    EXPECT_LE(s.busy_workers, static_cast<uint64_t>(o.workers));
    EXPECT_LE(h.faulty().hung_now(), static_cast<size_t>(o.workers));
  }
  // Every call reached the store or was refused at once; those that reached
  // it waited out their deadline; once the breaker opened, none waited.
  EXPECT_GE(at_deadline, 1);
  EXPECT_EQ(at_deadline + at_once, 30);
  EXPECT_EQ(h.store().breaker_state(), BreakerState::kOpen) << TransitionsOf(h);
  // A paused server that resumes applies what it held: outcomes the callers
  // never saw, and no more than the workers held.
  const size_t hung = h.faulty().hung_now();
  h.faulty().HangAll(false);
  h.Drain();
  EXPECT_EQ(h.faulty().stats().total.applied, h.faulty().stats().total.hung);
  EXPECT_LE(hung, static_cast<size_t>(o.workers));
  EXPECT_TRUE(h.violations().empty()) << h.violations().front();
}

// Peeks `key`'s remaining units in the wrapped store.
int64_t Remaining(Harness& h, const std::string& key, const Policy& policy) {
  auto d = h.memory().Decide(DecideRequest{key, &policy, 1, Operation::kPeek});
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? d->remaining : -1;
}

TEST(ResilienceScenarioTest, ReconciliationChargesEachLocalAdmissionAtMostOnce) {
  HarnessOptions opt = ScenarioOptions(FailMode::kFallback);
  opt.store.breaker.mode = BreakerMode::kDisabled;  // keep the store reachable for charges
  Harness h(opt);
  ASSERT_TRUE(h.ok());
  const Policy policy = Policy::FixedWindow(10, std::chrono::hours(1));
  auto local = [&](const std::string& key, int n) {
    h.faulty().SetOutage(true);
    for (int i = 0; i < n; ++i) {
      h.AdvanceBy(milliseconds(5));
      const Outcome out = h.Decide(key, policy);
      ASSERT_TRUE(out.result.ok() && out.result->allowed && out.result->degraded) << Describe(out);
    }
    h.faulty().SetOutage(false);
  };

  // Charged back once, and never again.
  local("f:x", 6);
  EXPECT_EQ(Remaining(h, "f:x", policy), 10);
  ReconcileResult r = h.Reconcile();
  EXPECT_EQ(r.charged, 6u);
  EXPECT_EQ(Remaining(h, "f:x", policy), 4);
  r = h.Reconcile();
  EXPECT_EQ(r.charged, 0u);
  EXPECT_EQ(Remaining(h, "f:x", policy), 4);

  // A charge whose reply is lost was applied: it is counted lost and not retried.
  local("f:y", 3);
  h.faulty().FailNext(1, StatusCode::kDeadlineExceeded, testing::kDecideCalls);
  r = h.Reconcile();
  EXPECT_EQ(r.lost, 3u);
  EXPECT_EQ(r.charged, 0u);
  EXPECT_EQ(Remaining(h, "f:y", policy), 7);
  r = h.Reconcile();
  EXPECT_EQ(r.charged + r.lost, 0u);
  EXPECT_EQ(Remaining(h, "f:y", policy), 7);

  // A charge refused before it ran is put back and charged on the next pass.
  local("f:z", 2);
  h.faulty().FailNext(1, StatusCode::kUnavailable, testing::kDecideCalls);
  r = h.Reconcile();
  EXPECT_EQ(r.deferred, 2u);
  EXPECT_EQ(Remaining(h, "f:z", policy), 10);
  r = h.Reconcile();
  EXPECT_EQ(r.charged, 2u);
  EXPECT_EQ(Remaining(h, "f:z", policy), 8);

  const ResilienceStats s = h.store().GetResilienceStats();
  EXPECT_EQ(s.reconcile_charged, 8u);
  EXPECT_EQ(s.reconcile_lost, 3u);
  EXPECT_EQ(s.debt_units, 0u);
  EXPECT_EQ(s.fallback_allowed, 11u);
  // The store admitted exactly the charged and the lost units.
  EXPECT_EQ(h.faulty().stats().decide_units_admitted, 11);
}

// A fallback sized to a share: with 4 instances and a limit of 10 per window,
// each instance admits floor(10 / 4) = 2 per window.
TEST(ResilienceScenarioTest, FallbackAdmitsItsShareAndNoMorePerWindow) {
  HarnessOptions opt = ScenarioOptions(FailMode::kFallback);
  opt.store.fallback.instances = 4;
  Harness h(opt);
  ASSERT_TRUE(h.ok());
  const Policy policy = Policy::FixedWindow(10, seconds(1));
  h.faulty().SetOutage(true);
  // Align to the start of a window.
  const int64_t now = h.clock().NowNanos();
  h.AdvanceBy(nanoseconds(1'000'000'000 - now % 1'000'000'000));
  for (int window = 0; window < 3; ++window) {
    int allowed = 0;
    for (int i = 0; i < 10; ++i) {
      const Outcome out = h.Decide("k", policy);
      ASSERT_TRUE(out.result.ok() && out.result->degraded) << Describe(out);
      allowed += out.result->allowed ? 1 : 0;
      h.AdvanceBy(milliseconds(50));
    }
    EXPECT_EQ(allowed, 2) << "window " << window;
    h.AdvanceBy(milliseconds(500));
  }
}

}  // namespace
}  // namespace sluice

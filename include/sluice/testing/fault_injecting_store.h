// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// FaultInjectingStore wraps any Store and breaks its calls on demand, so that
// code built on a store (retries, deadlines, circuit breakers, fail modes) can
// be tested against every way a remote store fails, without a network:
//   - errors before the call reaches the wrapped store: nothing was applied
//     (kUnavailable, the "connection refused" case, or any other code);
//   - lost replies: the call is applied to the wrapped store and then reported
//     as kDeadlineExceeded, so its outcome is unknown to the caller, as when a
//     reply is lost after the server ran the command;
//   - timeouts before the call reached the store (kDeadlineExceeded with
//     nothing applied), the other half of "unknown";
//   - latency, slept on the injected clock;
//   - hangs: the call blocks until the test releases it, as a paused server
//     holds a request; then it goes on (by default it is applied).
// Faults come from imperative controls (FailNext, SetOutage, SetLatency,
// HangAll) and from a FaultSchedule: rules that pick calls by kind, by call
// number or by a window of clock time, each with a probability. Every random
// choice comes from one std::mt19937_64 seeded by the options, so a seed and
// the same sequence of calls reproduce a run exactly; TraceHash() summarises a
// run so that a test can compare two runs of one seed.
//
// Every call is counted (calls seen, faults injected, calls that reached the
// wrapped store, per call kind), so a test can check invariants against what
// really happened below the code under test.
//
// Which calls can be faulted: Decide, DecideBatch, DecideAll, DecideAsync,
// Get, Put, Delete, Scan, AtomicUpdate and Health. name(), clock(), Flush()
// and Stats() always pass through. A faulted DecideBatch fails or is applied
// as a whole. DecideAsync applies latency and hangs on the calling thread
// before it starts the wrapped call.
//
// Latency: with `options.advance` set, latency advances that SimulatedClock
// instead of sleeping, so a single-threaded test runs through simulated time
// at once; otherwise the call sleeps with clock.SleepFor(), which on a
// SimulatedClock waits until the test advances it (a test then needs a thread
// that drives the clock).
//
// Hangs never outlive the test: ReleaseHangs(), HangAll(false) and the
// destructor release them. A hang that nothing releases within
// `options.max_hang` of real time is a test failure (ADD_FAILURE) and then
// goes on as if released, so a forgotten release fails a test instead of
// blocking it forever.
//
// Thread-safe (one mutex, never held while the wrapped store or the clock is
// called). The destructor releases every hang and waits until every call in
// flight has left; a call sleeping on a SimulatedClock that nobody advances
// therefore blocks it, as it would block SimulatedClock's own destruction.
//
// Errors: the injected ones (see Fault) and those of the wrapped store.
//
// Example:
//   SimulatedClock clock;
//   std::shared_ptr<Store> memory = std::move(*MemoryStore::Create({.clock = &clock}));
//   auto faulty = std::make_shared<FaultInjectingStore>(memory, FaultInjectingStoreOptions{
//       .clock = &clock, .advance = &clock, .seed = 7});
//   faulty->FailNext(2, StatusCode::kUnavailable);  // the next two calls: refused, nothing applied
//   faulty->SetSchedule({{.calls = kDecideCalls, .probability = 0.1, .fault = Fault::LostReply()}});
//   ... run the code under test on `faulty` ...
//   EXPECT_EQ(faulty->stats().total.failed_before, 2u);

#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/clock.h"
#include "sluice/status.h"
#include "sluice/store_wrapper.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice::testing {

// The calls a FaultInjectingStore can fault, one bit each, so that a mask
// (StoreCallMask) selects several.
enum class StoreCall : uint32_t {
  kDecide = 1u << 0,
  kDecideBatch = 1u << 1,
  kDecideAll = 1u << 2,
  kDecideAsync = 1u << 3,
  kGet = 1u << 4,
  kPut = 1u << 5,
  kDelete = 1u << 6,
  kScan = 1u << 7,
  kAtomicUpdate = 1u << 8,
  kHealth = 1u << 9,
};
inline constexpr size_t kStoreCallKinds = 10;

using StoreCallMask = uint32_t;
constexpr StoreCallMask Mask(StoreCall call) { return static_cast<StoreCallMask>(call); }
inline constexpr StoreCallMask kAllCalls = (1u << kStoreCallKinds) - 1;
inline constexpr StoreCallMask kDecideCalls = Mask(StoreCall::kDecide) | Mask(StoreCall::kDecideBatch) |
                                              Mask(StoreCall::kDecideAll) | Mask(StoreCall::kDecideAsync);
inline constexpr StoreCallMask kDataCalls = Mask(StoreCall::kGet) | Mask(StoreCall::kPut) |
                                            Mask(StoreCall::kDelete) | Mask(StoreCall::kScan) |
                                            Mask(StoreCall::kAtomicUpdate);

// "Decide", "DecideBatch", ..., "Health".
std::string_view StoreCallName(StoreCall call);
// The position of `call`'s bit: 0 for kDecide ... 9 for kHealth.
size_t StoreCallIndex(StoreCall call);

// What happens to one call. The parts combine: latency first, then the hang,
// then the outcome.
struct Fault {
  enum class Outcome : uint8_t {
    kPass,        // the call runs on the wrapped store and returns its result
    kFailBefore,  // the call fails with `code` without reaching the wrapped store
    kLostReply,   // the call runs on the wrapped store, then fails with kDeadlineExceeded
  };

  // Delay before the call goes on, on the injector's clock. Default: none.
  std::chrono::nanoseconds latency{0};
  // Block until released (see the file comment). Default: false.
  bool hang = false;
  Outcome outcome = Outcome::kPass;
  // The error of kFailBefore. Default: kUnavailable.
  StatusCode code = StatusCode::kUnavailable;

  bool is_noop() const { return latency.count() <= 0 && !hang && outcome == Outcome::kPass; }

  // Refused before reaching the store; nothing applied; safe to retry.
  static Fault Unavailable() { return {{}, false, Outcome::kFailBefore, StatusCode::kUnavailable}; }
  // Timed out before reaching the store: nothing applied, but the caller
  // cannot know that.
  static Fault TimeoutBefore() { return {{}, false, Outcome::kFailBefore, StatusCode::kDeadlineExceeded}; }
  // Applied, then the reply was lost: kDeadlineExceeded.
  static Fault LostReply() { return {{}, false, Outcome::kLostReply, StatusCode::kDeadlineExceeded}; }
  // Fails with `code` before reaching the store.
  static Fault Error(StatusCode code) { return {{}, false, Outcome::kFailBefore, code}; }
  // Delayed by `d`, then applied normally.
  static Fault Latency(std::chrono::nanoseconds d) { return {d, false, Outcome::kPass, StatusCode::kUnavailable}; }
  // Hangs until released, then goes on with `then` (default: applied normally).
  static Fault Hang(Outcome then = Outcome::kPass, StatusCode code = StatusCode::kUnavailable) {
    return {{}, true, then, code};
  }
};

// "pass", "Unavailable-before", "lost-reply", "latency=5.000ms+hang+DeadlineExceeded-before".
std::string ToString(const Fault& fault);

// One rule of a schedule. A call matches when its kind is in `calls`, its
// number is in [from_call, to_call) and the clock's monotonic time is in
// [from_time, to_time); both are counted from the schedule's start (the
// SetSchedule() call, or the injector's construction): call numbers from 1.
// A matching call gets `fault` with probability `probability` (one draw from
// the seeded generator per matching rule and call).
struct FaultRule {
  StoreCallMask calls = kAllCalls;
  double probability = 1.0;
  uint64_t from_call = 0;
  uint64_t to_call = std::numeric_limits<uint64_t>::max();
  std::chrono::nanoseconds from_time{0};
  std::chrono::nanoseconds to_time = std::chrono::nanoseconds::max();
  Fault fault;
};

// Rules are evaluated in order and all that hit apply together: their
// latencies add up, any hang hangs, and the first outcome other than kPass
// is the call's outcome.
using FaultSchedule = std::vector<FaultRule>;

// Describes a random schedule: a few outages, latency spikes, hang windows
// and a background of lost replies and slow calls over `horizon`.
struct RandomFaultScheduleOptions {
  // Span of time the rules fall in, from the schedule's start. Default: 60 s.
  std::chrono::nanoseconds horizon = std::chrono::seconds(60);
  // Up to this many outage windows (every call fails kUnavailable). Default: 2.
  int max_outages = 2;
  // Length of an outage, drawn uniformly up to this. Default: 10 s.
  std::chrono::nanoseconds max_outage = std::chrono::seconds(10);
  // Up to this many latency spikes (every decision delayed). Default: 2.
  int max_latency_spikes = 2;
  // Length of a spike window. Default: 5 s.
  std::chrono::nanoseconds max_spike = std::chrono::seconds(5);
  // Latency of a spike, drawn uniformly up to this. Default: 200 ms.
  std::chrono::nanoseconds max_spike_latency = std::chrono::milliseconds(200);
  // Up to this many windows where decisions hang with probability
  // `hang_probability`. Default: 0 (hangs need a test that releases them).
  int max_hang_windows = 0;
  std::chrono::nanoseconds max_hang_window = std::chrono::seconds(2);
  double hang_probability = 0.2;
  // Background, over the whole horizon, for decisions: the probability of a
  // lost reply, of a timeout before the store and of a sporadic kUnavailable.
  // Defaults: 0.01, 0.005, 0.02.
  double lost_reply_probability = 0.01;
  double timeout_before_probability = 0.005;
  double unavailable_probability = 0.02;
};

// A schedule drawn from `seed`: the same seed and options give the same rules.
FaultSchedule RandomFaultSchedule(uint64_t seed, const RandomFaultScheduleOptions& options = {});

// A human-readable listing of a schedule, one rule a line, to print with a
// failing seed.
std::string ToString(const FaultSchedule& schedule);

struct FaultInjectingStoreOptions {
  // The clock for time windows and latency. Default: the wrapped store's clock.
  Clock* clock = nullptr;
  // When set, latency advances this clock instead of sleeping (see the file
  // comment). Usually the same SimulatedClock as `clock`. Default: none.
  SimulatedClock* advance = nullptr;
  // Seed of every random choice. Default: 1.
  uint64_t seed = 1;
  // Real time after which an unreleased hang is a test failure. Default: 30 s.
  std::chrono::nanoseconds max_hang = std::chrono::seconds(30);
};

// What the injector did, in total and per call kind.
struct FaultCounts {
  uint64_t calls = 0;          // calls seen
  uint64_t faulted = 0;        // calls given any fault (latency, hang or outcome)
  uint64_t applied = 0;        // calls that reached the wrapped store
  uint64_t failed_before = 0;  // failed by injection without reaching the wrapped store
  uint64_t lost_replies = 0;   // applied, then reported kDeadlineExceeded
  uint64_t delayed = 0;        // calls given latency
  uint64_t hung = 0;           // calls that hung
  std::chrono::nanoseconds latency{0};  // total latency injected
};

struct FaultStats {
  FaultCounts total;
  std::array<FaultCounts, kStoreCallKinds> by_call{};
  // Decide requests (one per request of a batch or DecideAll) that reached
  // the wrapped store, and those of them whose reply was lost.
  uint64_t decide_requests_applied = 0;
  uint64_t decide_requests_lost = 0;
  // Units the wrapped store admitted: the cost of every kConsume request it
  // allowed, whether or not the answer reached the caller; and the part of
  // them whose reply was lost. Comparing them with what a caller saw tells
  // whether anything was charged twice or admitted without a charge.
  int64_t decide_units_admitted = 0;
  int64_t decide_units_admitted_lost = 0;
  // Hangs that reached max_hang without being released.
  uint64_t hangs_timed_out = 0;

  const FaultCounts& of(StoreCall call) const { return by_call[StoreCallIndex(call)]; }
};

class FaultInjectingStore : public StoreWrapper {
 public:
  // REQUIRES: base != nullptr.
  explicit FaultInjectingStore(std::shared_ptr<Store> base, FaultInjectingStoreOptions options = {});
  ~FaultInjectingStore() override;
  FaultInjectingStore(const FaultInjectingStore&) = delete;
  FaultInjectingStore& operator=(const FaultInjectingStore&) = delete;

  // --- Imperative controls. They take precedence over the schedule: an
  // outage or FailNext decides the outcome; latency and hangs add to it. ---

  // The next `n` calls whose kind is in `calls` fail with `code`. A
  // kDeadlineExceeded is a lost reply (applied, then failed); any other code
  // fails before the wrapped store. Queued after earlier FailNext/InjectNext.
  void FailNext(uint64_t n, StatusCode code = StatusCode::kUnavailable, StoreCallMask calls = kAllCalls);
  // The next `n` calls whose kind is in `calls` get `fault`.
  void InjectNext(uint64_t n, const Fault& fault, StoreCallMask calls = kAllCalls);
  // While on, every faultable call fails with kUnavailable, nothing applied.
  void SetOutage(bool on);
  // Every faultable call is delayed by `d` (0 = none).
  void SetLatency(std::chrono::nanoseconds d);
  // While on, every faultable call hangs. Turning it off releases the calls
  // hanging now.
  void HangAll(bool on);
  // Releases every call hanging now; later calls hang again if a control or
  // rule says so.
  void ReleaseHangs();
  // Replaces the schedule; call numbers and time windows count from now.
  void SetSchedule(FaultSchedule schedule);
  // Removes the schedule and every control (outage, latency, hang-all, queued
  // FailNext); releases hangs. Counters are kept.
  void ClearFaults();

  // --- Observation. ---

  FaultStats stats() const;
  // Calls blocked in a hang right now.
  size_t hung_now() const;
  // Calls sleeping out their latency on the clock right now (never with
  // `options.advance`).
  size_t sleeping_now() const;
  // Calls numbered above `seq` (see stats().total.calls) that are hanging or
  // sleeping right now: lets a test that drives a clock tell whether the
  // call it just started is the one waiting.
  size_t blocked_after(uint64_t seq) const;
  // Waits (real time, at most `timeout`) until at least `n` calls hang.
  bool WaitForHung(size_t n, std::chrono::nanoseconds timeout = std::chrono::seconds(10)) const;
  // Calls inside the injector right now (hanging, sleeping or in the wrapped store).
  size_t in_flight() const;
  // A hash of every call so far: its number, kind, the fault it got and the
  // status code it returned. Equal for two runs of one seed that made the
  // same calls (single-threaded, or with calls ordered by the test).
  uint64_t TraceHash() const;
  // Time since the schedule's start, on the injector's clock.
  std::chrono::nanoseconds ScheduleElapsed() const;
  Clock& fault_clock() const { return *clock_; }

  // --- Store. ---
  using StoreWrapper::Decide;
  Result<Decision> Decide(const DecideRequest& request) override;
  std::vector<Result<Decision>> DecideBatch(std::span<const DecideRequest> requests) override;
  Result<MultiDecision> DecideAll(std::span<const DecideRequest> requests) override;
  void DecideAsync(const DecideRequest& request, std::function<void(Result<Decision>)> done) override;
  Result<std::optional<Record>> AtomicUpdate(std::string_view key, const UpdateFn& fn,
                                             const UpdateOptions& options = {}) override;
  Result<std::optional<Record>> Get(std::string_view key) override;
  using StoreWrapper::Put;
  Status Put(const Record& record) override;
  Status Delete(std::string_view key) override;
  Status Scan(std::string_view prefix, const ScanVisitor& visit) override;
  Status Health() override;

 private:
  // The fault chosen for one call, and its number.
  struct Plan {
    uint64_t seq = 0;
    StoreCall call = StoreCall::kDecide;
    Fault fault;
  };
  struct Pending {
    uint64_t remaining;
    Fault fault;
    StoreCallMask calls;
  };

  // Counts the call, picks its fault, sleeps and hangs as it says. Returns the
  // plan; the caller then fails, applies, or applies and reports a lost reply.
  Plan Enter(StoreCall call);
  // Counts how the call ended (`applied`: it reached the wrapped store) and
  // folds it into the trace hash.
  void Leave(const Plan& plan, StatusCode code, bool applied, size_t decide_requests, int64_t units_admitted);
  // Runs one faultable call whose result type is T (Status or Result<...>);
  // `apply` calls the wrapped store.
  // `units` maps a result to the units the wrapped store admitted in it.
  template <typename T, typename Apply, typename Units>
  T Run(StoreCall call, size_t decide_requests, Apply&& apply, Units&& units);
  // Blocks until the release generation moves past `generation`, the
  // injector closes or max_hang passes. REQUIRES: mu_ not held.
  void Hang(uint64_t seq, uint64_t generation);
  void Delay(uint64_t seq, std::chrono::nanoseconds d);
  static Status InjectedError(const Plan& plan);

  FaultInjectingStoreOptions options_;
  Clock* clock_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;  // hangs released, hung/in-flight counts changed
  std::mt19937_64 rng_;                 // guarded by mu_
  FaultSchedule schedule_;              // guarded by mu_
  Clock::Monotonic schedule_start_;     // guarded by mu_
  uint64_t schedule_calls_ = 0;         // guarded by mu_; calls since the schedule's start
  uint64_t seq_ = 0;                    // guarded by mu_; calls ever
  std::deque<Pending> pending_;         // guarded by mu_
  bool outage_ = false;                 // guarded by mu_
  bool hang_all_ = false;               // guarded by mu_
  std::chrono::nanoseconds latency_{0}; // guarded by mu_
  uint64_t release_generation_ = 0;     // guarded by mu_
  bool closing_ = false;                // guarded by mu_
  size_t hung_now_ = 0;                 // guarded by mu_
  size_t sleeping_now_ = 0;             // guarded by mu_
  std::multiset<uint64_t> blocked_;     // guarded by mu_; numbers of hanging and sleeping calls
  size_t in_flight_ = 0;                // guarded by mu_
  uint64_t trace_hash_ = 0xcbf29ce484222325ull;  // guarded by mu_
  FaultStats stats_;                    // guarded by mu_
};

}  // namespace sluice::testing

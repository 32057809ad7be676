// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Every faultable call goes through Enter() (count it, pick its fault under
// the mutex, then sleep and hang without the mutex) and Leave() (count what
// happened, fold it into the trace hash). Between them the call either fails
// at once or runs on the wrapped store.

#include "sluice/testing/fault_injecting_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <utility>

namespace sluice::testing {
namespace {

// Random numbers spelled out here rather than through <random>'s
// distributions, whose results differ between standard libraries: a seed must
// give the same schedule everywhere.
double Unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
int64_t Below(std::mt19937_64& rng, int64_t n) { return n <= 0 ? 0 : static_cast<int64_t>(rng() % static_cast<uint64_t>(n)); }

uint64_t Mix(uint64_t h, uint64_t v) {
  // FNV-1a over the 8 bytes of v.
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (8 * i)) & 0xff;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string Millis(std::chrono::nanoseconds d) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3fms", static_cast<double>(d.count()) / 1e6);
  return buf;
}

std::string MaskString(StoreCallMask mask) {
  if (mask == kAllCalls) return "all";
  if (mask == kDecideCalls) return "decide*";
  if (mask == kDataCalls) return "data";
  std::string out;
  for (size_t i = 0; i < kStoreCallKinds; ++i) {
    if ((mask & (1u << i)) == 0) continue;
    if (!out.empty()) out += '|';
    out += StoreCallName(static_cast<StoreCall>(1u << i));
  }
  return out.empty() ? "none" : out;
}

}  // namespace

std::string_view StoreCallName(StoreCall call) {
  switch (call) {
    case StoreCall::kDecide: return "Decide";
    case StoreCall::kDecideBatch: return "DecideBatch";
    case StoreCall::kDecideAll: return "DecideAll";
    case StoreCall::kDecideAsync: return "DecideAsync";
    case StoreCall::kGet: return "Get";
    case StoreCall::kPut: return "Put";
    case StoreCall::kDelete: return "Delete";
    case StoreCall::kScan: return "Scan";
    case StoreCall::kAtomicUpdate: return "AtomicUpdate";
    case StoreCall::kHealth: return "Health";
  }
  return "?";
}

size_t StoreCallIndex(StoreCall call) {
  return static_cast<size_t>(__builtin_ctz(static_cast<uint32_t>(call)));
}

std::string ToString(const Fault& fault) {
  std::string out;
  auto add = [&out](std::string part) {
    if (!out.empty()) out += '+';
    out += part;
  };
  if (fault.latency.count() > 0) add("latency=" + Millis(fault.latency));
  if (fault.hang) add("hang");
  switch (fault.outcome) {
    case Fault::Outcome::kPass: break;
    case Fault::Outcome::kFailBefore:
      add(std::string(StatusCodeName(fault.code)) + "-before");
      break;
    case Fault::Outcome::kLostReply: add("lost-reply"); break;
  }
  return out.empty() ? "pass" : out;
}

std::string ToString(const FaultSchedule& schedule) {
  std::string out;
  for (const FaultRule& r : schedule) {
    out += "  calls=" + MaskString(r.calls);
    char p[32];
    std::snprintf(p, sizeof p, " p=%.4g", r.probability);
    out += p;
    if (r.from_call != 0 || r.to_call != std::numeric_limits<uint64_t>::max()) {
      out += " call#[" + std::to_string(r.from_call) + "," +
             (r.to_call == std::numeric_limits<uint64_t>::max() ? std::string("inf") : std::to_string(r.to_call)) +
             ")";
    }
    if (r.from_time.count() != 0 || r.to_time != std::chrono::nanoseconds::max()) {
      out += " t=[" + Millis(r.from_time) + "," +
             (r.to_time == std::chrono::nanoseconds::max() ? std::string("inf") : Millis(r.to_time)) + ")";
    }
    out += " -> " + ToString(r.fault) + "\n";
  }
  return out;
}

FaultSchedule RandomFaultSchedule(uint64_t seed, const RandomFaultScheduleOptions& o) {
  std::mt19937_64 rng(seed);
  FaultSchedule out;
  const int64_t horizon = std::max<int64_t>(o.horizon.count(), 1);
  auto window = [&](std::chrono::nanoseconds max_len, FaultRule rule) {
    const int64_t start = Below(rng, horizon);
    const int64_t len = 1'000'000 + Below(rng, std::max<int64_t>(max_len.count(), 1));  // at least 1 ms
    rule.from_time = std::chrono::nanoseconds(start);
    rule.to_time = std::chrono::nanoseconds(start + len);
    return rule;
  };
  const int outages = static_cast<int>(Below(rng, o.max_outages + 1));
  for (int i = 0; i < outages; ++i) {
    out.push_back(window(o.max_outage, FaultRule{.calls = kAllCalls, .fault = Fault::Unavailable()}));
  }
  if (o.lost_reply_probability > 0) {
    out.push_back({.calls = kDecideCalls, .probability = o.lost_reply_probability, .fault = Fault::LostReply()});
  }
  if (o.timeout_before_probability > 0) {
    out.push_back(
        {.calls = kDecideCalls, .probability = o.timeout_before_probability, .fault = Fault::TimeoutBefore()});
  }
  if (o.unavailable_probability > 0) {
    out.push_back({.calls = kDecideCalls, .probability = o.unavailable_probability, .fault = Fault::Unavailable()});
  }
  const int spikes = static_cast<int>(Below(rng, o.max_latency_spikes + 1));
  for (int i = 0; i < spikes; ++i) {
    const auto latency = std::chrono::nanoseconds(1 + Below(rng, std::max<int64_t>(o.max_spike_latency.count(), 1)));
    out.push_back(window(o.max_spike, FaultRule{.calls = kDecideCalls, .fault = Fault::Latency(latency)}));
  }
  const int hangs = static_cast<int>(Below(rng, o.max_hang_windows + 1));
  for (int i = 0; i < hangs; ++i) {
    out.push_back(window(o.max_hang_window,
                         FaultRule{.calls = kDecideCalls, .probability = o.hang_probability, .fault = Fault::Hang()}));
  }
  return out;
}

FaultInjectingStore::FaultInjectingStore(std::shared_ptr<Store> base, FaultInjectingStoreOptions options)
    : StoreWrapper(std::move(base)),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : &this->base().clock()),
      rng_(options.seed),
      schedule_start_(clock_->MonotonicNow()) {}

FaultInjectingStore::~FaultInjectingStore() {
  std::unique_lock<std::mutex> lock(mu_);
  closing_ = true;
  ++release_generation_;
  cv_.notify_all();
  cv_.wait(lock, [this] { return in_flight_ == 0; });
}

void FaultInjectingStore::FailNext(uint64_t n, StatusCode code, StoreCallMask calls) {
  InjectNext(n, code == StatusCode::kDeadlineExceeded ? Fault::LostReply() : Fault::Error(code), calls);
}

void FaultInjectingStore::InjectNext(uint64_t n, const Fault& fault, StoreCallMask calls) {
  if (n == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  pending_.push_back({n, fault, calls});
}

void FaultInjectingStore::SetOutage(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  outage_ = on;
}

void FaultInjectingStore::SetLatency(std::chrono::nanoseconds d) {
  std::lock_guard<std::mutex> lock(mu_);
  latency_ = std::max(d, std::chrono::nanoseconds(0));
}

void FaultInjectingStore::HangAll(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  hang_all_ = on;
  if (!on) {
    ++release_generation_;
    cv_.notify_all();
  }
}

void FaultInjectingStore::ReleaseHangs() {
  std::lock_guard<std::mutex> lock(mu_);
  ++release_generation_;
  cv_.notify_all();
}

void FaultInjectingStore::SetSchedule(FaultSchedule schedule) {
  const Clock::Monotonic now = clock_->MonotonicNow();
  std::lock_guard<std::mutex> lock(mu_);
  schedule_ = std::move(schedule);
  schedule_start_ = now;
  schedule_calls_ = 0;
}

void FaultInjectingStore::ClearFaults() {
  std::lock_guard<std::mutex> lock(mu_);
  schedule_.clear();
  pending_.clear();
  outage_ = false;
  hang_all_ = false;
  latency_ = std::chrono::nanoseconds(0);
  ++release_generation_;
  cv_.notify_all();
}

FaultStats FaultInjectingStore::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

size_t FaultInjectingStore::hung_now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hung_now_;
}

bool FaultInjectingStore::WaitForHung(size_t n, std::chrono::nanoseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return hung_now_ >= n; });
}

size_t FaultInjectingStore::sleeping_now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sleeping_now_;
}

size_t FaultInjectingStore::blocked_after(uint64_t seq) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<size_t>(std::distance(blocked_.upper_bound(seq), blocked_.end()));
}

size_t FaultInjectingStore::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

uint64_t FaultInjectingStore::TraceHash() const {
  std::lock_guard<std::mutex> lock(mu_);
  return trace_hash_;
}

std::chrono::nanoseconds FaultInjectingStore::ScheduleElapsed() const {
  const Clock::Monotonic now = clock_->MonotonicNow();
  std::lock_guard<std::mutex> lock(mu_);
  return now - schedule_start_;
}

FaultInjectingStore::Plan FaultInjectingStore::Enter(StoreCall call) {
  const Clock::Monotonic now = clock_->MonotonicNow();
  const StoreCallMask bit = Mask(call);
  Plan plan;
  plan.call = call;
  uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++in_flight_;
    plan.seq = ++seq_;
    const uint64_t number = ++schedule_calls_;
    const std::chrono::nanoseconds elapsed = now - schedule_start_;
    Fault& f = plan.fault;
    bool decided = false;
    auto merge = [&](const Fault& g) {
      f.latency += std::max(g.latency, std::chrono::nanoseconds(0));
      f.hang = f.hang || g.hang;
      if (!decided && g.outcome != Fault::Outcome::kPass) {
        f.outcome = g.outcome;
        f.code = g.outcome == Fault::Outcome::kLostReply ? StatusCode::kDeadlineExceeded : g.code;
        decided = true;
      }
    };
    if (outage_) merge(Fault::Unavailable());
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if ((it->calls & bit) == 0) continue;
      merge(it->fault);
      if (--it->remaining == 0) pending_.erase(it);
      break;
    }
    if (latency_.count() > 0) merge(Fault::Latency(latency_));
    if (hang_all_) merge(Fault::Hang());
    for (const FaultRule& rule : schedule_) {
      if ((rule.calls & bit) == 0 || number < rule.from_call || number >= rule.to_call ||
          elapsed < rule.from_time || elapsed >= rule.to_time) {
        continue;
      }
      bool hit = rule.probability >= 1.0;
      if (!hit && rule.probability > 0) hit = Unit(rng_) < rule.probability;
      if (hit) merge(rule.fault);
    }
    for (FaultCounts* c : {&stats_.total, &stats_.by_call[StoreCallIndex(call)]}) {
      ++c->calls;
      if (!f.is_noop()) ++c->faulted;
      if (f.latency.count() > 0) {
        ++c->delayed;
        c->latency += f.latency;
      }
      if (f.hang) ++c->hung;
    }
    generation = release_generation_;
  }
  if (plan.fault.latency.count() > 0) Delay(plan.seq, plan.fault.latency);
  if (plan.fault.hang) Hang(plan.seq, generation);
  return plan;
}

void FaultInjectingStore::Leave(const Plan& plan, StatusCode code, bool applied, size_t decide_requests,
                                int64_t units_admitted) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool lost = applied && plan.fault.outcome == Fault::Outcome::kLostReply;
  const bool failed_before = !applied;
  for (FaultCounts* c : {&stats_.total, &stats_.by_call[StoreCallIndex(plan.call)]}) {
    if (applied) ++c->applied;
    if (failed_before) ++c->failed_before;
    if (lost) ++c->lost_replies;
  }
  if (applied && (Mask(plan.call) & kDecideCalls) != 0) {
    stats_.decide_requests_applied += decide_requests;
    if (lost) stats_.decide_requests_lost += decide_requests;
    stats_.decide_units_admitted += units_admitted;
    if (lost) stats_.decide_units_admitted_lost += units_admitted;
  }
  uint64_t h = trace_hash_;
  h = Mix(h, plan.seq);
  h = Mix(h, StoreCallIndex(plan.call));
  h = Mix(h, static_cast<uint64_t>(plan.fault.outcome) | (plan.fault.hang ? 0x100u : 0u));
  h = Mix(h, static_cast<uint64_t>(plan.fault.latency.count()));
  h = Mix(h, static_cast<uint64_t>(code));
  trace_hash_ = h;
  --in_flight_;
  cv_.notify_all();
}

void FaultInjectingStore::Delay(uint64_t seq, std::chrono::nanoseconds d) {
  if (options_.advance != nullptr) {
    options_.advance->Advance(d);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++sleeping_now_;
    blocked_.insert(seq);
  }
  clock_->SleepFor(d);
  std::lock_guard<std::mutex> lock(mu_);
  --sleeping_now_;
  blocked_.erase(blocked_.find(seq));
  cv_.notify_all();
}

void FaultInjectingStore::Hang(uint64_t seq, uint64_t generation) {
  std::unique_lock<std::mutex> lock(mu_);
  ++hung_now_;
  blocked_.insert(seq);
  cv_.notify_all();
  const bool released = cv_.wait_for(lock, options_.max_hang,
                                     [&] { return closing_ || release_generation_ != generation; });
  --hung_now_;
  blocked_.erase(blocked_.find(seq));
  cv_.notify_all();
  if (!released) {
    ++stats_.hangs_timed_out;
    lock.unlock();
    ADD_FAILURE() << "FaultInjectingStore: a call hung for " << Millis(options_.max_hang)
                  << " of real time and nothing released it (ReleaseHangs, HangAll(false))";
  }
}

Status FaultInjectingStore::InjectedError(const Plan& plan) {
  const std::string call = std::string(StoreCallName(plan.call)) + " call #" + std::to_string(plan.seq);
  if (plan.fault.outcome == Fault::Outcome::kLostReply) {
    return DeadlineExceededError("injected fault: the reply to " + call + " was lost after it was applied");
  }
  return Status(plan.fault.code, "injected fault: " + call + " failed before reaching the store (" +
                                     std::string(StatusCodeName(plan.fault.code)) + ")");
}

namespace {

StatusCode CodeOf(const Status& s) { return s.code(); }
template <typename T>
StatusCode CodeOf(const Result<T>& r) {
  return r.status().code();
}

int64_t UnitsOf(const DecideRequest& request, const Result<Decision>& result) {
  return request.op == Operation::kConsume && result.ok() && result->allowed ? request.cost : 0;
}

constexpr auto kNoUnits = [](const auto&) -> int64_t { return 0; };

}  // namespace

// Runs one faultable call: `apply` calls the wrapped store and returns T
// (a Status or a Result).
template <typename T, typename Apply, typename Units>
T FaultInjectingStore::Run(StoreCall call, size_t decide_requests, Apply&& apply, Units&& units) {
  const Plan plan = Enter(call);
  if (plan.fault.outcome == Fault::Outcome::kFailBefore) {
    Status error = InjectedError(plan);
    Leave(plan, error.code(), /*applied=*/false, decide_requests, 0);
    return T(std::move(error));
  }
  T result = apply();
  if (plan.fault.outcome == Fault::Outcome::kLostReply) {
    Leave(plan, StatusCode::kDeadlineExceeded, /*applied=*/true, decide_requests, units(result));
    return T(InjectedError(plan));
  }
  Leave(plan, CodeOf(result), /*applied=*/true, decide_requests, units(result));
  return result;
}

Result<Decision> FaultInjectingStore::Decide(const DecideRequest& request) {
  return Run<Result<Decision>>(
      StoreCall::kDecide, 1, [&] { return base().Decide(request); },
      [&](const Result<Decision>& r) { return UnitsOf(request, r); });
}

std::vector<Result<Decision>> FaultInjectingStore::DecideBatch(std::span<const DecideRequest> requests) {
  const Plan plan = Enter(StoreCall::kDecideBatch);
  if (plan.fault.outcome == Fault::Outcome::kFailBefore) {
    const Status error = InjectedError(plan);
    Leave(plan, error.code(), false, requests.size(), 0);
    return std::vector<Result<Decision>>(requests.size(), Result<Decision>(error));
  }
  std::vector<Result<Decision>> results = base().DecideBatch(requests);
  int64_t units = 0;
  StatusCode first_error = StatusCode::kOk;
  for (size_t i = 0; i < results.size() && i < requests.size(); ++i) {
    units += UnitsOf(requests[i], results[i]);
    if (!results[i].ok() && first_error == StatusCode::kOk) first_error = results[i].status().code();
  }
  if (plan.fault.outcome == Fault::Outcome::kLostReply) {
    Leave(plan, StatusCode::kDeadlineExceeded, true, requests.size(), units);
    return std::vector<Result<Decision>>(requests.size(), Result<Decision>(InjectedError(plan)));
  }
  Leave(plan, first_error, true, requests.size(), units);
  return results;
}

Result<MultiDecision> FaultInjectingStore::DecideAll(std::span<const DecideRequest> requests) {
  return Run<Result<MultiDecision>>(
      StoreCall::kDecideAll, requests.size(), [&] { return base().DecideAll(requests); },
      [&](const Result<MultiDecision>& r) {
        int64_t units = 0;
        if (r.ok() && r->allowed) {
          for (const DecideRequest& q : requests) units += q.op == Operation::kConsume ? q.cost : 0;
        }
        return units;
      });
}

void FaultInjectingStore::DecideAsync(const DecideRequest& request, std::function<void(Result<Decision>)> done) {
  const Plan plan = Enter(StoreCall::kDecideAsync);
  if (plan.fault.outcome == Fault::Outcome::kFailBefore) {
    Status error = InjectedError(plan);
    Leave(plan, error.code(), false, 1, 0);
    done(std::move(error));
    return;
  }
  const Operation op = request.op;
  const int64_t cost = request.cost;
  base().DecideAsync(request, [this, plan, op, cost, done = std::move(done)](Result<Decision> result) {
    const int64_t units = op == Operation::kConsume && result.ok() && result->allowed ? cost : 0;
    if (plan.fault.outcome == Fault::Outcome::kLostReply) {
      Leave(plan, StatusCode::kDeadlineExceeded, true, 1, units);
      done(InjectedError(plan));
      return;
    }
    Leave(plan, result.status().code(), true, 1, units);
    done(std::move(result));
  });
}

Result<std::optional<Record>> FaultInjectingStore::AtomicUpdate(std::string_view key, const UpdateFn& fn,
                                                                const UpdateOptions& options) {
  return Run<Result<std::optional<Record>>>(
      StoreCall::kAtomicUpdate, 0, [&] { return base().AtomicUpdate(key, fn, options); }, kNoUnits);
}

Result<std::optional<Record>> FaultInjectingStore::Get(std::string_view key) {
  return Run<Result<std::optional<Record>>>(StoreCall::kGet, 0, [&] { return base().Get(key); }, kNoUnits);
}

Status FaultInjectingStore::Put(const Record& record) {
  return Run<Status>(StoreCall::kPut, 0, [&] { return base().Put(record); }, kNoUnits);
}

Status FaultInjectingStore::Delete(std::string_view key) {
  return Run<Status>(StoreCall::kDelete, 0, [&] { return base().Delete(key); }, kNoUnits);
}

Status FaultInjectingStore::Scan(std::string_view prefix, const ScanVisitor& visit) {
  return Run<Status>(StoreCall::kScan, 0, [&] { return base().Scan(prefix, visit); }, kNoUnits);
}

Status FaultInjectingStore::Health() {
  return Run<Status>(StoreCall::kHealth, 0, [&] { return base().Health(); }, kNoUnits);
}

}  // namespace sluice::testing

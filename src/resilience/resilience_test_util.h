// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Helpers for the resilience unit tests: a store that fails on command (a
// scripted outcome per call, or hanging until the test releases it), a
// metrics sink that remembers what it was told, and bounded waits.
//
// Test-only. Thread-safe.

#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "sluice/memory_store.h"
#include "sluice/observability.h"
#include "sluice/store_wrapper.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice::resilience_test {

// Waits (yielding) until `pred` holds, at most `limit` of real time.
inline bool WaitUntil(const std::function<bool()>& pred,
                      std::chrono::milliseconds limit = std::chrono::milliseconds(10'000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// Whether `f` is ready within `limit` of real time.
template <typename T>
bool Ready(std::future<T>& f, std::chrono::milliseconds limit = std::chrono::milliseconds(10'000)) {
  return f.wait_for(limit) == std::future_status::ready;
}

// What FaultyStore does with one call.
enum class Fault {
  kPass,              // forward to the wrapped store
  kUnavailable,       // return kUnavailable, apply nothing
  kDeadline,          // return kDeadlineExceeded, apply nothing
  kAppliedThenLost,   // apply, then return kDeadlineExceeded (the answer was lost)
  kInternal,          // return kInternal
  kHang,              // block until Release() (or 30 s), then forward
};

// A store around a MemoryStore that fails as scripted. Each Decide*/data
// call takes the next scripted fault, or the default fault when the script is
// empty.
class FaultyStore final : public StoreWrapper {
 public:
  static std::shared_ptr<FaultyStore> Make(Clock& clock) {
    auto mem = MemoryStore::Create({.clock = &clock, .sweep_interval = {}});
    EXPECT_TRUE(mem.ok());
    return std::make_shared<FaultyStore>(std::shared_ptr<Store>(std::move(*mem)));
  }

  explicit FaultyStore(std::shared_ptr<Store> base) : StoreWrapper(std::move(base)) {}
  ~FaultyStore() override { Release(); }

  void SetDefault(Fault f) {
    std::lock_guard lock(mu_);
    default_ = f;
  }
  void Script(std::initializer_list<Fault> faults) {
    std::lock_guard lock(mu_);
    script_.insert(script_.end(), faults.begin(), faults.end());
  }
  // Lets every hung call (and every later kHang call) go on.
  void Release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

  int calls() const { return calls_.load(); }
  int hung() const { return hung_.load(); }          // calls blocked now
  int returned() const { return returned_.load(); }  // calls that returned

  using Store::Decide;
  Result<Decision> Decide(const DecideRequest& request) override {
    return Apply<Decision>([&] { return StoreWrapper::Decide(request); });
  }
  std::vector<Result<Decision>> DecideBatch(std::span<const DecideRequest> requests) override {
    Result<std::vector<Result<Decision>>> r =
        Apply<std::vector<Result<Decision>>>([&]() -> Result<std::vector<Result<Decision>>> {
          return StoreWrapper::DecideBatch(requests);
        });
    if (r.ok()) return std::move(*r);
    return std::vector<Result<Decision>>(requests.size(), Result<Decision>(r.status()));
  }
  Result<MultiDecision> DecideAll(std::span<const DecideRequest> requests) override {
    return Apply<MultiDecision>([&] { return StoreWrapper::DecideAll(requests); });
  }
  void DecideAsync(const DecideRequest& request, std::function<void(Result<Decision>)> done) override {
    done(Decide(request));
  }
  Result<std::optional<Record>> Get(std::string_view key) override {
    return Apply<std::optional<Record>>([&] { return StoreWrapper::Get(key); });
  }
  using Store::Put;
  Status Put(const Record& record) override {
    Result<bool> r = Apply<bool>([&]() -> Result<bool> {
      SLUICE_RETURN_IF_ERROR(StoreWrapper::Put(record));
      return true;
    });
    return r.ok() ? Status::Ok() : r.status();
  }
  Status Health() override {
    Result<bool> r = Apply<bool>([&]() -> Result<bool> {
      SLUICE_RETURN_IF_ERROR(StoreWrapper::Health());
      return true;
    });
    return r.ok() ? Status::Ok() : r.status();
  }

 private:
  Fault Next() {
    std::lock_guard lock(mu_);
    if (script_.empty()) return default_;
    Fault f = script_.front();
    script_.pop_front();
    return f;
  }

  template <typename T>
  Result<T> Apply(const std::function<Result<T>()>& forward) {
    ++calls_;
    const Fault f = Next();
    Result<T> out(InternalError("unset"));
    switch (f) {
      case Fault::kPass:
        out = forward();
        break;
      case Fault::kUnavailable:
        out = UnavailableError("faulty store: unavailable");
        break;
      case Fault::kDeadline:
        out = DeadlineExceededError("faulty store: timed out");
        break;
      case Fault::kAppliedThenLost: {
        Result<T> applied = forward();
        (void)applied;
        out = DeadlineExceededError("faulty store: applied, answer lost");
        break;
      }
      case Fault::kInternal:
        out = InternalError("faulty store: internal");
        break;
      case Fault::kHang: {
        ++hung_;
        {
          std::unique_lock lock(mu_);
          cv_.wait_for(lock, std::chrono::seconds(30), [&] { return released_; });
        }
        --hung_;
        out = forward();
        break;
      }
    }
    ++returned_;
    return out;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  Fault default_ = Fault::kPass;  // guarded by mu_
  std::deque<Fault> script_;      // guarded by mu_
  bool released_ = false;         // guarded by mu_
  std::atomic<int> calls_{0};
  std::atomic<int> hung_{0};
  std::atomic<int> returned_{0};
};

// Remembers counters and gauges by "name{label=value,...}" (labels in the
// order given).
class RecordingMetrics final : public MetricsSink {
 public:
  void Increment(std::string_view name, MetricLabels labels, uint64_t delta) override {
    std::lock_guard lock(mu_);
    counters_[Key(name, labels)] += delta;
  }
  void SetGauge(std::string_view name, MetricLabels labels, double value) override {
    std::lock_guard lock(mu_);
    gauges_[Key(name, labels)] = value;
  }
  void Observe(std::string_view name, MetricLabels labels, std::chrono::nanoseconds) override {
    std::lock_guard lock(mu_);
    ++observations_[Key(name, labels)];
  }

  uint64_t counter(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = counters_.find(key);
    return it == counters_.end() ? 0 : it->second;
  }
  double gauge(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = gauges_.find(key);
    return it == gauges_.end() ? -1 : it->second;
  }
  uint64_t observations(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = observations_.find(key);
    return it == observations_.end() ? 0 : it->second;
  }

 private:
  static std::string Key(std::string_view name, MetricLabels labels) {
    std::string k(name);
    k += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) k += ',';
      k += labels[i].first;
      k += '=';
      k += labels[i].second;
    }
    k += '}';
    return k;
  }

  mutable std::mutex mu_;
  std::map<std::string, uint64_t> counters_;
  std::map<std::string, double> gauges_;
  std::map<std::string, uint64_t> observations_;
};

}  // namespace sluice::resilience_test

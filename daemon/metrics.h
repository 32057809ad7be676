// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// DaemonMetrics: the daemon's metrics and their Prometheus text exposition
// (format 0.0.4). Three kinds of series:
//   - per-rule decision counters (sluiced_rule_{hits,over_limit,near_limit,
//     within_limit,shadow_mode}_total{domain,rule}), the service's hot path:
//     a shared-lock lookup of a stable counter block, then relaxed atomics;
//   - latency histograms (fixed buckets from 50 µs to 2.5 s);
//   - whatever the library reports through MetricsSink (store, checkpoint
//     and eviction metrics), kept by name and labels.
//
// Thread-safety: every method may be called from any thread.

#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/observability.h"

namespace sluice::daemon {

class LatencyHistogram {
 public:
  static constexpr std::array<double, 15> kBucketSeconds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                            0.0025,  0.005,  0.01,    0.025,  0.05,
                                                            0.1,     0.25,   0.5,     1.0,    2.5};
  void Observe(std::chrono::nanoseconds d);
  // Appends _bucket, _sum and _count lines for `name` with `labels` ("" or
  // `a="b",c="d"`).
  void Render(std::string_view name, std::string_view labels, std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBucketSeconds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
  std::atomic<uint64_t> count_{0};
};

struct RuleCounters {
  std::atomic<uint64_t> hits{0};  // hits (sum of hits_addend), not requests, as upstream counts
  std::atomic<uint64_t> over_limit{0};
  std::atomic<uint64_t> near_limit{0};
  std::atomic<uint64_t> within_limit{0};
  std::atomic<uint64_t> shadow_mode{0};
};

class DaemonMetrics : public MetricsSink {
 public:
  DaemonMetrics();
  ~DaemonMetrics() override;

  // A stable block of counters for one rule's metric key; never freed while
  // the metrics live (the number of rules and detailed keys is bounded by the
  // caller; detailed_metric keys are capped at `max_rule_series`).
  RuleCounters& Rule(std::string_view domain, std::string_view rule);

  LatencyHistogram& decision_latency(std::string_view frontend);  // "grpc", "http", "json"
  LatencyHistogram& store_latency() { return store_latency_; }

  // MetricsSink.
  void Increment(std::string_view name, MetricLabels labels, uint64_t delta) override;
  void SetGauge(std::string_view name, MetricLabels labels, double value) override;
  void Observe(std::string_view name, MetricLabels labels, std::chrono::nanoseconds duration) override;

  // Gauges computed at scrape time (store keys, breaker state, ...).
  void AddCollector(std::function<void(MetricsSink&)> collect);

  std::string RenderPrometheus();

  size_t max_rule_series = 10'000;

 private:
  struct Generic;
  // The series `name` + `labels`, created as `kind` (a Generic::Kind) on
  // first use. REQUIRES: generic_mu_ held.
  Generic& GenericSeries(std::string_view name, MetricLabels labels, int kind);
  std::shared_mutex rules_mu_;
  std::unordered_map<std::string, std::unique_ptr<RuleCounters>> rules_;
  std::unique_ptr<RuleCounters> overflow_rule_;
  LatencyHistogram grpc_latency_, http_latency_, json_latency_, store_latency_;
  std::mutex generic_mu_;
  std::map<std::string, std::unique_ptr<Generic>> generic_;  // by name + '\0' + labels
  std::vector<std::function<void(MetricsSink&)>> collectors_;
};

// Escapes a Prometheus label value (backslash, quote, newline).
std::string EscapeLabelValue(std::string_view value);

}  // namespace sluice::daemon

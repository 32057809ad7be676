// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Two small hooks through which every sluice component reports what it does
// off its happy path (a store falling back to a slower protocol, reconnecting,
// a checkpoint that failed, a key evicted while it still limited someone):
//   - Logger receives human-readable events with a level;
//   - MetricsSink receives counters, gauges and duration observations by name.
// They have no dependencies: the daemon plugs spdlog and a Prometheus registry
// in behind them; an embedder plugs in its own.
//
// Names: metric names are snake_case with a `sluice_` prefix and the unit as a
// suffix where there is one (`sluice_checkpoint_duration_seconds`); counters end
// in `_total`. Labels are (name, value) pairs of short strings.
//
// Defaults: components given no Logger use Logger::Default() (warnings and
// errors to stderr); given no MetricsSink, MetricsSink::Null().
//
// Thread-safety: implementations must be safe for concurrent use; calls may
// come from any thread, including a store's I/O threads, so they must not block
// for long and must not call back into the component that reports.

#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <utility>

#include "sluice/visibility.h"

namespace sluice {

enum class LogLevel : uint8_t { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug", "info", "warning", "error".
SLUICE_EXPORT std::string_view LogLevelName(LogLevel level);

class SLUICE_EXPORT Logger {
 public:
  virtual ~Logger() = default;

  // `component` names the reporter ("redis", "checkpoint", "memory").
  virtual void Log(LogLevel level, std::string_view component, std::string_view message) = 0;
  // False when messages at `level` are dropped, so callers can skip building them.
  virtual bool Enabled(LogLevel level) const { return level >= LogLevel::kInfo; }

  // Writes warnings and errors to stderr, one line each. Never delete it.
  static Logger& Default();
  // Drops everything. Never delete it.
  static Logger& Null();
};

using MetricLabel = std::pair<std::string_view, std::string_view>;
using MetricLabels = std::span<const MetricLabel>;

class SLUICE_EXPORT MetricsSink {
 public:
  virtual ~MetricsSink() = default;

  // Adds `delta` to a counter.
  virtual void Increment(std::string_view name, MetricLabels labels, uint64_t delta = 1) = 0;
  // Sets a gauge.
  virtual void SetGauge(std::string_view name, MetricLabels labels, double value) = 0;
  // Records one duration (histograms, summaries).
  virtual void Observe(std::string_view name, MetricLabels labels, std::chrono::nanoseconds duration) = 0;

  // Convenience for label-less counters.
  void Increment(std::string_view name, uint64_t delta = 1) { Increment(name, MetricLabels{}, delta); }

  // Drops everything. Never delete it.
  static MetricsSink& Null();
};

// What components take in their Options: where to report. Null members mean
// the defaults above.
struct Observer {
  Logger* logger = nullptr;
  MetricsSink* metrics = nullptr;

  Logger& log() const { return logger != nullptr ? *logger : Logger::Default(); }
  MetricsSink& sink() const { return metrics != nullptr ? *metrics : MetricsSink::Null(); }
};

}  // namespace sluice

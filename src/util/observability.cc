// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/observability.h"

#include <cstdio>
#include <string>

namespace sluice {
namespace {

class StderrLogger final : public Logger {
 public:
  void Log(LogLevel level, std::string_view component, std::string_view message) override {
    if (!Enabled(level)) return;
    std::string line = "sluice ";
    line.append(LogLevelName(level)).append(" [").append(component).append("] ").append(message).push_back('\n');
    // One fwrite per line so concurrent reporters do not interleave mid-line.
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  bool Enabled(LogLevel level) const override { return level >= LogLevel::kWarning; }
};

class NullLogger final : public Logger {
 public:
  void Log(LogLevel, std::string_view, std::string_view) override {}
  bool Enabled(LogLevel) const override { return false; }
};

class NullMetrics final : public MetricsSink {
 public:
  void Increment(std::string_view, MetricLabels, uint64_t) override {}
  void SetGauge(std::string_view, MetricLabels, double) override {}
  void Observe(std::string_view, MetricLabels, std::chrono::nanoseconds) override {}
};

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "unknown";
}

Logger& Logger::Default() {
  static StderrLogger* logger = new StderrLogger();
  return *logger;
}

Logger& Logger::Null() {
  static NullLogger* logger = new NullLogger();
  return *logger;
}

MetricsSink& MetricsSink::Null() {
  static NullMetrics* sink = new NullMetrics();
  return *sink;
}

}  // namespace sluice

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/metrics.h"

#include <algorithm>
#include <functional>
#include <vector>

#include <fmt/format.h>

namespace sluice::daemon {

void LatencyHistogram::Observe(std::chrono::nanoseconds d) {
  const double seconds = std::chrono::duration<double>(d).count();
  size_t i = 0;
  while (i < kBucketSeconds.size() && seconds > kBucketSeconds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, d.count())), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void LatencyHistogram::Render(std::string_view name, std::string_view labels, std::string* out) const {
  // Buckets are cumulative in the exposition; read each once and add up, so
  // a concurrent Observe cannot make a later bucket smaller than an earlier one.
  uint64_t cumulative = 0;
  const std::string sep = labels.empty() ? "" : ",";
  for (size_t i = 0; i <= kBucketSeconds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    const std::string le = i < kBucketSeconds.size() ? fmt::format("{}", kBucketSeconds[i]) : "+Inf";
    fmt::format_to(std::back_inserter(*out), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, le, cumulative);
  }
  fmt::format_to(std::back_inserter(*out), "{}_sum{}{}{} {}\n", name, labels.empty() ? "" : "{", labels,
                 labels.empty() ? "" : "}",
                 static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  // _count equals the +Inf bucket by definition.
  fmt::format_to(std::back_inserter(*out), "{}_count{}{}{} {}\n", name, labels.empty() ? "" : "{", labels,
                 labels.empty() ? "" : "}", cumulative);
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

namespace {

std::string LabelString(MetricLabels labels) {
  std::vector<MetricLabel> sorted(labels.begin(), labels.end());
  std::sort(sorted.begin(), sorted.end());
  std::string out;
  for (const auto& [k, v] : sorted) {
    if (!out.empty()) out.push_back(',');
    out += fmt::format("{}=\"{}\"", k, EscapeLabelValue(v));
  }
  return out;
}

// Library metric names become HELP text: "sluice_checkpoint_failures_total"
// -> "sluice checkpoint failures total".
std::string HelpFor(std::string_view name) {
  std::string help(name);
  std::replace(help.begin(), help.end(), '_', ' ');
  return help;
}

}  // namespace

struct DaemonMetrics::Generic {
  enum class Kind { kCounter, kGauge, kHistogram } kind = Kind::kCounter;
  std::string name;
  std::string labels;
  std::atomic<uint64_t> counter{0};
  std::atomic<double> gauge{0};
  LatencyHistogram histogram;
};

DaemonMetrics::DaemonMetrics() : overflow_rule_(std::make_unique<RuleCounters>()) {}
DaemonMetrics::~DaemonMetrics() = default;

RuleCounters& DaemonMetrics::Rule(std::string_view domain, std::string_view rule) {
  std::string key;
  key.reserve(domain.size() + rule.size() + 1);
  key.append(domain).push_back('\0');
  key.append(rule);
  {
    std::shared_lock lock(rules_mu_);
    auto it = rules_.find(key);
    if (it != rules_.end()) return *it->second;
  }
  std::unique_lock lock(rules_mu_);
  auto it = rules_.find(key);
  if (it != rules_.end()) return *it->second;
  // Per-value series are bounded: past the cap, new keys share one series
  // instead of growing the scrape without end.
  if (rules_.size() >= max_rule_series) return *overflow_rule_;
  return *rules_.emplace(std::move(key), std::make_unique<RuleCounters>()).first->second;
}

LatencyHistogram& DaemonMetrics::decision_latency(std::string_view frontend) {
  if (frontend == "grpc") return grpc_latency_;
  if (frontend == "json") return json_latency_;
  return http_latency_;
}

DaemonMetrics::Generic& DaemonMetrics::GenericSeries(std::string_view name, MetricLabels labels, int kind) {
  std::string label_string = LabelString(labels);
  std::string key = std::string(name) + '\0' + label_string;
  auto& slot = generic_[key];
  if (!slot) {
    slot = std::make_unique<Generic>();
    slot->kind = static_cast<Generic::Kind>(kind);
    slot->name = std::string(name);
    slot->labels = std::move(label_string);
  }
  return *slot;
}

void DaemonMetrics::Increment(std::string_view name, MetricLabels labels, uint64_t delta) {
  std::lock_guard lock(generic_mu_);
  GenericSeries(name, labels, static_cast<int>(Generic::Kind::kCounter)).counter.fetch_add(delta, std::memory_order_relaxed);
}

void DaemonMetrics::SetGauge(std::string_view name, MetricLabels labels, double value) {
  std::lock_guard lock(generic_mu_);
  GenericSeries(name, labels, static_cast<int>(Generic::Kind::kGauge)).gauge.store(value, std::memory_order_relaxed);
}

void DaemonMetrics::Observe(std::string_view name, MetricLabels labels, std::chrono::nanoseconds duration) {
  std::lock_guard lock(generic_mu_);
  GenericSeries(name, labels, static_cast<int>(Generic::Kind::kHistogram)).histogram.Observe(duration);
}

void DaemonMetrics::AddCollector(std::function<void(MetricsSink&)> collect) {
  std::lock_guard lock(generic_mu_);
  collectors_.push_back(std::move(collect));
}

std::string DaemonMetrics::RenderPrometheus() {
  std::vector<std::function<void(MetricsSink&)>> collectors;
  {
    std::lock_guard lock(generic_mu_);
    collectors = collectors_;
  }
  for (auto& collect : collectors) collect(*this);

  std::string out;
  out.reserve(4096);
  struct RuleSeries {
    const char* name;
    const char* help;
    std::atomic<uint64_t> RuleCounters::*field;
  };
  static constexpr RuleSeries kRuleSeries[] = {
      {"sluiced_rule_hits_total", "Hits decided under a rule (the sum of hits_addend).", &RuleCounters::hits},
      {"sluiced_rule_over_limit_total", "Hits over a rule's limit.", &RuleCounters::over_limit},
      {"sluiced_rule_near_limit_total", "Admitted hits above the near-limit ratio of a rule's limit.",
       &RuleCounters::near_limit},
      {"sluiced_rule_within_limit_total", "Hits within a rule's limit.", &RuleCounters::within_limit},
      {"sluiced_rule_shadow_mode_total", "Hits over a limit that shadow mode admitted.", &RuleCounters::shadow_mode},
  };
  {
    std::shared_lock lock(rules_mu_);
    std::vector<const std::pair<const std::string, std::unique_ptr<RuleCounters>>*> rules;
    rules.reserve(rules_.size());
    for (const auto& entry : rules_) rules.push_back(&entry);
    std::sort(rules.begin(), rules.end(), [](auto* a, auto* b) { return a->first < b->first; });
    for (const RuleSeries& series : kRuleSeries) {
      fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} counter\n", series.name, series.help,
                     series.name);
      for (const auto* entry : rules) {
        const size_t zero = entry->first.find('\0');
        fmt::format_to(std::back_inserter(out), "{}{{domain=\"{}\",rule=\"{}\"}} {}\n", series.name,
                       EscapeLabelValue(std::string_view(entry->first).substr(0, zero)),
                       EscapeLabelValue(std::string_view(entry->first).substr(zero + 1)),
                       ((*entry->second).*series.field).load(std::memory_order_relaxed));
      }
      const uint64_t overflow = ((*overflow_rule_).*series.field).load(std::memory_order_relaxed);
      if (overflow != 0) {
        fmt::format_to(std::back_inserter(out), "{}{{domain=\"\",rule=\"_overflow\"}} {}\n", series.name, overflow);
      }
    }
  }

  const char* kLatency = "sluiced_decision_duration_seconds";
  fmt::format_to(std::back_inserter(out),
                 "# HELP {} Time from a parsed request to its answer.\n# TYPE {} histogram\n", kLatency, kLatency);
  grpc_latency_.Render(kLatency, "frontend=\"grpc\"", &out);
  http_latency_.Render(kLatency, "frontend=\"http\"", &out);
  json_latency_.Render(kLatency, "frontend=\"json\"", &out);
  const char* kStore = "sluiced_store_duration_seconds";
  fmt::format_to(std::back_inserter(out), "# HELP {} Time one store call took.\n# TYPE {} histogram\n", kStore,
                 kStore);
  store_latency_.Render(kStore, "", &out);

  std::lock_guard lock(generic_mu_);
  std::string_view last_name;
  for (const auto& [key, metric] : generic_) {
    if (metric->name != last_name) {
      const char* type = metric->kind == Generic::Kind::kCounter ? "counter"
                         : metric->kind == Generic::Kind::kGauge ? "gauge"
                                                                 : "histogram";
      const std::string& name = metric->name;
      fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, HelpFor(metric->name), name,
                     type);
      last_name = metric->name;
    }
    const std::string braces = metric->labels.empty() ? "" : "{" + metric->labels + "}";
    switch (metric->kind) {
      case Generic::Kind::kCounter:
        fmt::format_to(std::back_inserter(out), "{}{} {}\n", metric->name, braces,
                       metric->counter.load(std::memory_order_relaxed));
        break;
      case Generic::Kind::kGauge:
        fmt::format_to(std::back_inserter(out), "{}{} {}\n", metric->name, braces,
                       metric->gauge.load(std::memory_order_relaxed));
        break;
      case Generic::Kind::kHistogram:
        metric->histogram.Render(metric->name, metric->labels, &out);
        break;
    }
  }
  return out;
}

}  // namespace sluice::daemon

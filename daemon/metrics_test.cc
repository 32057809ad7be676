// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/metrics.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::daemon {
namespace {

using ::testing::HasSubstr;

TEST(DaemonMetricsTest, RendersRuleCountersHistogramsAndLibraryMetrics) {
  DaemonMetrics m;
  RuleCounters& r = m.Rule("web", "remote_address");
  r.hits += 5;
  r.over_limit += 2;
  EXPECT_EQ(&m.Rule("web", "remote_address"), &r);  // stable
  m.Rule("web", "path_\"/x\"").within_limit += 1;     // escaped label value
  m.decision_latency("grpc").Observe(std::chrono::microseconds(70));
  m.decision_latency("grpc").Observe(std::chrono::seconds(10));
  const MetricLabel labels[] = {{"state", "fresh"}};
  m.Increment("sluice_memory_evictions_total", labels, 3);
  m.SetGauge("sluice_checkpoint_bytes", {}, 1234);
  m.Observe("sluice_checkpoint_duration_seconds", {}, std::chrono::milliseconds(3));
  m.AddCollector([](MetricsSink& sink) { sink.SetGauge("sluiced_store_keys", {}, 42); });
  const std::string text = m.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("sluiced_rule_hits_total{domain=\"web\",rule=\"remote_address\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("sluiced_rule_over_limit_total{domain=\"web\",rule=\"remote_address\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("rule=\"path_\\\"/x\\\"\""));
  EXPECT_THAT(text, HasSubstr("sluiced_decision_duration_seconds_bucket{frontend=\"grpc\",le=\"0.0001\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("sluiced_decision_duration_seconds_bucket{frontend=\"grpc\",le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("sluiced_decision_duration_seconds_count{frontend=\"grpc\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("sluice_memory_evictions_total{state=\"fresh\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("sluice_checkpoint_bytes 1234\n"));
  EXPECT_THAT(text, HasSubstr("sluice_checkpoint_duration_seconds_count 1\n"));
  EXPECT_THAT(text, HasSubstr("sluiced_store_keys 42\n"));
}

TEST(DaemonMetricsTest, PerValueSeriesAreCapped) {
  DaemonMetrics m;
  m.max_rule_series = 3;
  for (int i = 0; i < 10; ++i) m.Rule("d", "k_" + std::to_string(i)).hits += 1;
  const std::string text = m.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("rule=\"_overflow\"} 7\n"));
}

// The exposition passes Prometheus' own linter.
TEST(DaemonMetricsTest, PromtoolAcceptsTheExposition) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "promtool is not installed";
  DaemonMetrics m;
  m.Rule("web", "remote_address").hits += 1;
  m.store_latency().Observe(std::chrono::milliseconds(1));
  const MetricLabel labels[] = {{"result", "success"}};
  m.Increment("sluiced_rules_reloads_total", labels, 1);
  m.Increment("sluice_checkpoint_created_total", {}, 1);
  m.SetGauge("sluice_checkpoint_entries", {}, 7);
  m.Observe("sluice_checkpoint_duration_seconds", {}, std::chrono::milliseconds(3));
  const std::string path = ::testing::TempDir() + "/sluiced_metrics.txt";
  {
    std::ofstream f(path);
    f << m.RenderPrometheus();
  }
  const std::string command = "promtool check metrics < " + path + " 2>&1";
  std::FILE* p = popen(command.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string output;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) output += buf;
  const int rc = pclose(p);
  EXPECT_EQ(rc, 0) << output;
  EXPECT_EQ(output, "") << output;
}

}  // namespace
}  // namespace sluice::daemon

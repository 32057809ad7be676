// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/config.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::daemon {
namespace {

using ::testing::HasSubstr;

TEST(DaemonConfigTest, EmptyFileGivesTheDefaults) {
  Result<DaemonConfig> c = ParseDaemonConfig("", "empty.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->http_listeners.size(), 1u);
  EXPECT_EQ(c->http_listeners[0].address, "127.0.0.1:8080");
  EXPECT_EQ(c->grpc_listeners[0].address, "127.0.0.1:8081");
  EXPECT_EQ(c->store_uri, "memory:");
  EXPECT_EQ(c->header_mode, HeaderMode::kIetf);
}

TEST(DaemonConfigTest, ReadsEverySection) {
  Result<DaemonConfig> c = ParseDaemonConfig(R"(
http:
  listen: ["127.0.0.1:0", "unix:/tmp/s.sock"]
  tls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem}
  io_threads: 4
  rate_limit_headers: x-ratelimit
  x_ratelimit_reset: epoch
grpc:
  listen: "0.0.0.0:9000"
  response_headers: true
  dynamic_metadata: yes
store:
  uri: "redis://127.0.0.1:6379?command_timeout=20ms"
  deadline: 25ms
  workers: 3
  max_queued: 100
  failure_mode: deny
  failure_mode_by_domain: {search: fallback, billing: error}
  resilience:
    enabled: true
    retry: {max_attempts: 3, initial_backoff: 1ms, max_backoff: 8ms, budget_ratio: 0.2, budget_min_per_second: 5,
            budget_window: 5s}
    circuit_breaker: {mode: metrics_only, failure_rate_threshold: 0.25, slow_call_rate_threshold: 0.5,
                      slow_call_duration: 30ms, window: 20s, minimum_calls: 7, open_duration: 2s,
                      half_open_probes: 2, half_open_timeout: 1s}
    fallback: {instances: 4, max_keys: 500, discover_instances: true, heartbeat_ttl: 6s, heartbeat_interval: 2s}
    reconcile: {enabled: false, max_keys: 50}
data_dir: /var/lib/sluiced
checkpoint:
  interval: 1m
  retain: 5
  compression: zstd
  save_retry: {max_attempts: 5, initial_delay: 10ms, multiplier: 2, max_delay: 80ms}
  load_retry: {max_attempts: 1}
  on_load_failure: start_fresh
rules:
  directory: /etc/sluiced/rules
  watch: false
  watch_interval: 2s
  merge_domains: true
  shadow_mode: true
  quota_mode: true
  all_or_nothing: true
  near_limit_ratio: 0.9
admin: {token_file: /etc/sluiced/token}
limits:
  max_body_bytes: 1024
  max_header_bytes: 2048
  max_connections: 10
  max_descriptors: 4
  max_entries: 3
  max_key_bytes: 32
  max_value_bytes: 64
  idle_timeout: 5s
  request_timeout: 1s
logging: {level: debug, format: json}
)",
                                             "full.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->http_listeners.size(), 2u);
  EXPECT_EQ(c->http_listeners[1].address, "unix:/tmp/s.sock");
  EXPECT_EQ(c->http_listeners[1].tls.client_ca_file, "ca.pem");
  EXPECT_EQ(c->http_io_threads, 4);
  EXPECT_EQ(c->header_mode, HeaderMode::kXRateLimit);
  EXPECT_TRUE(c->x_ratelimit_reset_epoch);
  EXPECT_EQ(c->grpc_listeners[0].address, "0.0.0.0:9000");
  EXPECT_TRUE(c->grpc_response_headers);
  EXPECT_TRUE(c->grpc_dynamic_metadata);
  EXPECT_EQ(c->store_deadline, std::chrono::milliseconds(25));
  EXPECT_EQ(c->store_workers, 3);
  EXPECT_EQ(c->store_max_queued, 100u);
  EXPECT_EQ(c->failure_mode, FailMode::kClosed);
  ASSERT_EQ(c->failure_mode_by_domain.size(), 2u);
  EXPECT_EQ(c->failure_mode_by_domain[0], std::make_pair(std::string("search"), FailMode::kFallback));
  EXPECT_EQ(c->failure_mode_by_domain[1], std::make_pair(std::string("billing"), FailMode::kError));
  EXPECT_TRUE(c->resilience_enabled);
  EXPECT_EQ(c->store_retry.max_attempts, 3);
  EXPECT_EQ(c->store_retry.initial_backoff, std::chrono::milliseconds(1));
  EXPECT_EQ(c->store_retry.max_backoff, std::chrono::milliseconds(8));
  EXPECT_DOUBLE_EQ(c->store_retry.budget_ratio, 0.2);
  EXPECT_EQ(c->store_retry.budget_min_per_second, 5);
  EXPECT_EQ(c->store_retry.budget_window, std::chrono::seconds(5));
  EXPECT_EQ(c->store_breaker.mode, BreakerMode::kMetricsOnly);
  EXPECT_DOUBLE_EQ(c->store_breaker.failure_rate_threshold, 0.25);
  EXPECT_DOUBLE_EQ(c->store_breaker.slow_call_rate_threshold, 0.5);
  EXPECT_EQ(c->store_breaker.slow_call_duration, std::chrono::milliseconds(30));
  EXPECT_EQ(c->store_breaker.window, std::chrono::seconds(20));
  EXPECT_EQ(c->store_breaker.minimum_calls, 7);
  EXPECT_EQ(c->store_breaker.open_duration, std::chrono::seconds(2));
  EXPECT_EQ(c->store_breaker.half_open_probes, 2);
  EXPECT_EQ(c->store_breaker.half_open_timeout, std::chrono::seconds(1));
  EXPECT_EQ(c->store_fallback.instances, 4);
  EXPECT_EQ(c->store_fallback.max_keys, 500u);
  EXPECT_TRUE(c->store_fallback.discover_instances);
  EXPECT_EQ(c->store_fallback.instance_id, "");  // the daemon names itself
  EXPECT_EQ(c->store_fallback.heartbeat_ttl, std::chrono::seconds(6));
  EXPECT_EQ(c->store_fallback.heartbeat_interval, std::chrono::seconds(2));
  EXPECT_FALSE(c->store_reconcile.enabled);
  EXPECT_EQ(c->store_reconcile.max_keys, 50u);
  const ResilientStoreOptions resilience = c->ResilienceOptions();
  EXPECT_EQ(resilience.deadline, std::chrono::milliseconds(25));
  EXPECT_EQ(resilience.workers, 3);
  EXPECT_EQ(resilience.max_queued, 100u);
  EXPECT_EQ(resilience.fail_mode, FailMode::kClosed);
  EXPECT_TRUE(resilience.Validate().ok());
  EXPECT_EQ(c->checkpoint_save_retry.max_attempts, 5);
  EXPECT_EQ(c->checkpoint_save_retry.initial_delay, std::chrono::milliseconds(10));
  EXPECT_DOUBLE_EQ(c->checkpoint_save_retry.multiplier, 2.0);
  EXPECT_EQ(c->checkpoint_save_retry.max_delay, std::chrono::milliseconds(80));
  EXPECT_EQ(c->checkpoint_load_retry.max_attempts, 1);
  EXPECT_EQ(c->checkpoint_on_load_failure, LoadFailurePolicy::kStartFresh);
  EXPECT_EQ(c->data_dir, "/var/lib/sluiced");
  EXPECT_EQ(c->checkpoint_interval, std::chrono::minutes(1));
  EXPECT_EQ(c->checkpoint_retain, 5);
  EXPECT_EQ(c->checkpoint_compression, "zstd");
  EXPECT_FALSE(c->rules_watch);
  EXPECT_TRUE(c->merge_domains && c->shadow_mode && c->quota_mode && c->all_or_nothing);
  EXPECT_DOUBLE_EQ(c->near_limit_ratio, 0.9);
  EXPECT_EQ(c->admin_token_file, "/etc/sluiced/token");
  EXPECT_EQ(c->limits.max_body_bytes, 1024u);
  EXPECT_EQ(c->limits.max_entries, 3u);
  EXPECT_EQ(c->limits.request_timeout, std::chrono::seconds(1));
  EXPECT_EQ(c->log_format, "json");
}

TEST(DaemonConfigTest, RejectsMistakesWithFileLineAndReason) {
  struct Case {
    const char* yaml;
    const char* message;
  } cases[] = {
      {"htp: {}", "bad.yaml:1: unknown field \"htp\""},
      {"http:\n  listen: [\"localhost\"]", "bad.yaml:2"},
      {"store:\n  uri: mysql://x", "unknown scheme"},
      {"store:\n  deadline: soon", "bad.yaml:2"},
      {"store:\n  failure_mode: maybe", "allow, deny, fallback or error"},
      {"store:\n  failure_mode_by_domain: {billing: maybe}", "bad.yaml:2"},
      {"store:\n  failure_mode_by_domain: [deny]", "must be a map"},
      {"store:\n  resilience: {retries: 2}", "unknown field \"retries\""},
      {"store:\n  resilience:\n    retry: {max_attempts: 0}", "bad.yaml:3"},
      {"store:\n  resilience:\n    retry: {budget_ratio: 2}", "budget_ratio"},
      {"store:\n  resilience:\n    circuit_breaker: {mode: sometimes}", "normal, forced_open"},
      {"store:\n  resilience:\n    circuit_breaker: {failure_rate_threshold: 0}", "failure_rate_threshold"},
      {"store:\n  resilience:\n    circuit_breaker: {window: soon}", "bad.yaml:3"},
      {"store:\n  resilience:\n    fallback: {instances: 0}", "bad.yaml:3"},
      {"store:\n  resilience:\n    fallback: {discover_instances: true, heartbeat_ttl: 1s, heartbeat_interval: 2s}",
       "heartbeat"},
      {"checkpoint:\n  on_load_failure: shrug", "refuse_to_start or start_fresh"},
      {"checkpoint:\n  save_retry: {initial_delay: 2s, max_delay: 1s}", "initial_delay <= max_delay"},
      {"store:\n  workers: 0", "bad.yaml:2"},
      {"store:\n  max_queued: 2000000", "max_queued"},
      {"rules:\n  shadow_mode: 3", "bad.yaml:2"},
      {"rules:\n  near_limit_ratio: 2", "near_limit_ratio"},
      {"limits:\n  max_body_bytes: -1", "bad.yaml:2"},
      {"limits:\n  max_bodybytes: 1", "unknown field \"max_bodybytes\""},
      {"http:\n  tls: {cert_file: a.pem}", "both cert_file and key_file"},
      {"http:\n  listen: []\ngrpc:\n  listen: []", "neither an HTTP nor a gRPC listener"},
      {"logging: {level: loud}", "logging.level"},
      {"checkpoint: {compression: lz4}", "none or zstd"},
      {"http: [1, 2", "bad.yaml:1"},
  };
  for (const Case& c : cases) {
    Result<DaemonConfig> r = ParseDaemonConfig(c.yaml, "bad.yaml");
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.message)) << c.yaml;
  }
}

TEST(CommandLineTest, FlagsAloneRunTheDaemon) {
  const char* argv[] = {"sluiced", "--store", "rocksdb:/tmp/x", "--rules", "/r", "--http", "127.0.0.1:0",
                        "--grpc", "unix:/tmp/g.sock", "--data-dir", "/d", "--shadow-mode", "--ready-file", "/tmp/ready"};
  Result<CommandLine> cl = ParseCommandLine(static_cast<int>(std::size(argv)), argv);
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_EQ(cl->config.store_uri, "rocksdb:/tmp/x");
  EXPECT_EQ(cl->config.rules_directory, "/r");
  ASSERT_EQ(cl->config.http_listeners.size(), 1u);
  EXPECT_EQ(cl->config.http_listeners[0].address, "127.0.0.1:0");
  EXPECT_EQ(cl->config.grpc_listeners[0].address, "unix:/tmp/g.sock");
  EXPECT_EQ(cl->config.data_dir, "/d");
  EXPECT_TRUE(cl->config.shadow_mode);
  EXPECT_EQ(cl->ready_file, "/tmp/ready");
  EXPECT_FALSE(cl->check_config);
}

TEST(CommandLineTest, FlagsOverrideTheFileAndAnEmptyAddressTurnsAListenerOff) {
  const std::string path = ::testing::TempDir() + "/sluiced_flags.yaml";
  {
    std::ofstream f(path);
    f << "store: {uri: \"memory:\"}\nrules: {directory: /from-file}\nhttp: {listen: [\"127.0.0.1:1\"]}\n";
  }
  const char* argv[] = {"sluiced", "--config", path.c_str(), "--rules", "/from-flag", "--http", ""};
  Result<CommandLine> cl = ParseCommandLine(static_cast<int>(std::size(argv)), argv);
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_EQ(cl->config.rules_directory, "/from-flag");
  EXPECT_TRUE(cl->config.http_listeners.empty());
  EXPECT_EQ(cl->config.source, path);
  std::remove(path.c_str());
}

TEST(CommandLineTest, BadFlagsAndHelp) {
  const char* unknown[] = {"sluiced", "--sotre", "memory:"};
  EXPECT_FALSE(ParseCommandLine(3, unknown).ok());
  const char* bad_store[] = {"sluiced", "--store", "nowhere"};
  Result<CommandLine> r = ParseCommandLine(3, bad_store);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no scheme"));
  const char* missing[] = {"sluiced", "--config", "/nonexistent/sluiced.yaml"};
  EXPECT_EQ(ParseCommandLine(3, missing).status().code(), StatusCode::kNotFound);
  const char* help[] = {"sluiced", "--help"};
  Result<CommandLine> h = ParseCommandLine(2, help);
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->help);
  EXPECT_THAT(CommandLineHelp(), HasSubstr("--admin-token-file"));
}

TEST(DaemonConfigTest, TheExampleConfigurationIsValid) {
  std::ifstream f(std::string(SLUICE_SOURCE_DIR) + "/examples/sluiced.yaml");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  Result<DaemonConfig> c = ParseDaemonConfig(text, "examples/sluiced.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rules_directory, "examples/rules");
}

}  // namespace
}  // namespace sluice::daemon

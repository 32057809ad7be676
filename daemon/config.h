// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// DaemonConfig: everything sluiced is told, from one YAML file and/or
// command-line flags (flags override the file). Loading validates all of it:
// an unknown key, a wrong type or a bad value is kInvalidArgument naming the
// file, line and reason, and nothing starts.
//
// The file (every section and key optional; defaults shown):
//
//   http:
//     listen: ["127.0.0.1:8080"]      # "HOST:PORT" or "unix:/path"; [] turns HTTP off
//     tls: {cert_file: "", key_file: "", client_ca_file: ""}
//     io_threads: 2
//     rate_limit_headers: ietf         # ietf | draft | x-ratelimit | none
//     x_ratelimit_reset: delta         # delta | epoch (x-ratelimit mode)
//   grpc:
//     listen: ["127.0.0.1:8081"]
//     tls: {...}
//     response_headers: false          # RateLimit headers in response_headers_to_add
//     dynamic_metadata: false          # fill the response's dynamic_metadata
//   store:
//     uri: "memory:"                   # any OpenStore URI (include/sluice/store_uri.h)
//     deadline: 50ms                   # per decision on a remote store, retries included
//     workers: 8                       # threads waiting on a remote store
//     max_queued: 10000                # decisions waiting for a worker; more: the failure mode
//     failure_mode: allow              # allow | deny | fallback | error (below)
//     failure_mode_by_domain: {}       # per domain (its rules and request-supplied limits): {billing: deny}
//     resilience:                      # remote stores only
//       enabled: true
//       retry:                         # only calls the store provably did not run
//         max_attempts: 2
//         initial_backoff: 2ms         # full jitter: each wait uniform in [0, cap]
//         max_backoff: 20ms
//         budget_ratio: 0.1            # retries at most this share of calls ...
//         budget_min_per_second: 10    # ... plus this many per second
//         budget_window: 10s
//       circuit_breaker:
//         mode: normal                 # normal | forced_open | disabled | metrics_only
//         failure_rate_threshold: 0.5
//         slow_call_rate_threshold: 1.0
//         slow_call_duration: 100ms
//         window: 10s
//         minimum_calls: 20
//         open_duration: 1s
//         half_open_probes: 3
//         half_open_timeout: 5s
//       fallback:
//         instances: 1                 # sluiced instances sharing each limit
//         max_keys: 100000
//         discover_instances: false    # count live instances through the store instead
//         instance_id: ""              # with discovery; "" = HOSTNAME:PID
//         discovery_prefix: "sluice:instances:"
//         heartbeat_ttl: 10s
//         heartbeat_interval: 3s
//       reconcile:
//         enabled: true                # charge fallback admissions back on recovery
//         max_keys: 10000
//   data_dir: ""                       # checkpoints of an in-process store go here
//   checkpoint:
//     interval: 30s
//     retain: 3
//     compression: none                # none | zstd (when built with zstd)
//     save_retry: {max_attempts: 3, initial_delay: 100ms, multiplier: 4, max_delay: 1600ms}
//     load_retry: {max_attempts: 3, initial_delay: 100ms, multiplier: 4, max_delay: 1600ms}
//     on_load_failure: refuse_to_start # refuse_to_start | start_fresh: when no checkpoint loads
//   rules:
//     directory: ""
//     watch: true                      # reload when a file changes
//     watch_interval: 1s
//     merge_domains: false
//     shadow_mode: false               # global: every rule reports, none denies
//     all_or_nothing: false            # a request's descriptors charged together or not at all
//     quota_mode: false                # global: every descriptor is a quota-mode (soft) limit
//     near_limit_ratio: 0.8
//   admin:
//     token_file: ""                   # no token: the admin endpoints are disabled
//   limits:
//     max_body_bytes: 65536
//     max_header_bytes: 16384
//     max_connections: 10000
//     max_descriptors: 64
//     max_entries: 16
//     max_key_bytes: 256
//     max_value_bytes: 1024
//     idle_timeout: 60s
//     request_timeout: 10s
//   logging:
//     level: info                      # debug | info | warning | error
//     format: text                     # text | json
//
// Failure modes: when the store fails or does not answer within `deadline`, a
// decision is admitted and marked degraded (allow), denied (deny), decided on
// a local in-memory limiter holding this instance's share of the limit
// (fallback: the limit divided by resilience.fallback.instances; what it
// admits is charged back to the store when it recovers), or reported to the
// caller (error: gRPC UNAVAILABLE / DEADLINE_EXCEEDED, HTTP 503) so it applies
// its own policy. With a remote store, each store call runs through a
// ResilientStore (sluice/resilient_store.h) with the settings above; the
// decision workers wait for it, so the I/O threads never wait on the store.
//
// Thread-safety: a plain value.

#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/listener.h"
#include "sluice/checkpoint.h"
#include "sluice/resilient_store.h"
#include "sluice/result.h"

namespace sluice::daemon {

enum class HeaderMode : uint8_t { kIetf, kDraft, kXRateLimit, kNone };

struct DaemonConfig {
  std::string source;  // the file it came from, "" for flags only

  std::vector<ListenerSettings> http_listeners = {{"127.0.0.1:8080", {}}};
  int http_io_threads = 2;
  HeaderMode header_mode = HeaderMode::kIetf;
  bool x_ratelimit_reset_epoch = false;

  std::vector<ListenerSettings> grpc_listeners = {{"127.0.0.1:8081", {}}};
  bool grpc_response_headers = false;
  bool grpc_dynamic_metadata = false;

  std::string store_uri = "memory:";
  std::chrono::milliseconds store_deadline{50};
  int store_workers = 8;
  size_t store_max_queued = 10'000;
  FailMode failure_mode = FailMode::kOpen;  // "allow" is kOpen, "deny" kClosed
  std::vector<std::pair<std::string, FailMode>> failure_mode_by_domain;
  bool resilience_enabled = true;
  RetryOptions store_retry;
  CircuitBreakerOptions store_breaker;
  FallbackOptions store_fallback;
  ReconcileOptions store_reconcile;

  std::string data_dir;
  std::chrono::milliseconds checkpoint_interval{30'000};
  int checkpoint_retain = 3;
  std::string checkpoint_compression = "none";
  CheckpointRetryOptions checkpoint_save_retry;
  CheckpointRetryOptions checkpoint_load_retry;
  LoadFailurePolicy checkpoint_on_load_failure = LoadFailurePolicy::kRefuseToStart;

  std::string rules_directory;
  bool rules_watch = true;
  std::chrono::milliseconds rules_watch_interval{1000};
  bool merge_domains = false;
  bool shadow_mode = false;
  bool all_or_nothing = false;
  bool quota_mode = false;
  double near_limit_ratio = 0.8;

  std::string admin_token_file;

  RequestLimits limits;

  std::string log_level = "info";
  std::string log_format = "text";

  // Cross-field checks (listeners parse, TLS pairs complete, ranges).
  Status Validate() const;

  // The resilience layer's options for the store (without clock, observer
  // and per-domain prefixes, which the daemon adds).
  ResilientStoreOptions ResilienceOptions() const;
};

// Parses a config file's text; `file` names it in errors.
Result<DaemonConfig> ParseDaemonConfig(std::string_view yaml, const std::string& file);
// Reads and parses a file.
Result<DaemonConfig> LoadDaemonConfigFile(const std::string& path);

// Command-line flags over a config (argv[0] is the program). Flags:
//   --config FILE, --store URI, --rules DIR, --http ADDR (repeatable; "" turns
//   HTTP off), --grpc ADDR (repeatable), --data-dir DIR, --admin-token-file FILE,
//   --shadow-mode, --log-level LEVEL, --check-config, --ready-file FILE, --help.
struct CommandLine {
  DaemonConfig config;
  bool check_config = false;
  bool help = false;
  std::string ready_file;  // written (JSON, atomically) once every listener is bound
};
Result<CommandLine> ParseCommandLine(int argc, const char* const* argv);
std::string CommandLineHelp();

}  // namespace sluice::daemon

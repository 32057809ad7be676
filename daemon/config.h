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
//     deadline: 50ms                   # per decision on a remote store
//     workers: 8                       # threads waiting on a remote store
//     max_queued: 10000                # decisions waiting for a worker; more: UNAVAILABLE
//     failure_mode: allow              # allow | deny | error: the answer when the store fails
//   data_dir: ""                       # checkpoints of an in-process store go here
//   checkpoint:
//     interval: 30s
//     retain: 3
//     compression: none                # none | zstd (when built with zstd)
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
// Thread-safety: a plain value.

#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/listener.h"
#include "sluice/result.h"

namespace sluice::daemon {

enum class HeaderMode : uint8_t { kIetf, kDraft, kXRateLimit, kNone };
// What a decision answers when the store fails or misses its deadline:
// admit (marked degraded), deny, or report the error to the caller (gRPC
// UNAVAILABLE / DEADLINE_EXCEEDED, HTTP 503) so it applies its own policy.
enum class FailureMode : uint8_t { kAllow, kDeny, kError };

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
  FailureMode failure_mode = FailureMode::kAllow;

  std::string data_dir;
  std::chrono::milliseconds checkpoint_interval{30'000};
  int checkpoint_retain = 3;
  std::string checkpoint_compression = "none";

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

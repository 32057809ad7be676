// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/config.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "daemon/yaml_util.h"
#include "sluice/status.h"
#include "sluice/store_uri.h"

namespace sluice::daemon {
namespace {

template <class T>
Status Set(Result<std::optional<T>> value, T* out) {
  if (!value.ok()) return value.status();
  if (value->has_value()) *out = **value;
  return Status::Ok();
}

Status SetMillis(const YamlContext& ctx, const YAML::Node& map, std::string_view key, std::chrono::milliseconds* out) {
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::chrono::nanoseconds> d, GetYamlDuration(ctx, map, key));
  if (d.has_value()) *out = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  return Status::Ok();
}

Status SetSize(const YamlContext& ctx, const YAML::Node& map, std::string_view key, size_t* out) {
  SLUICE_ASSIGN_OR_RETURN(std::optional<int64_t> v, GetYamlInt64(ctx, map, key, 1, int64_t{1} << 40));
  if (v.has_value()) *out = static_cast<size_t>(*v);
  return Status::Ok();
}

Status SetNanos(const YamlContext& ctx, const YAML::Node& map, std::string_view key, std::chrono::nanoseconds* out) {
  return Set(GetYamlDuration(ctx, map, key), out);
}

Status SetInt(const YamlContext& ctx, const YAML::Node& map, std::string_view key, int64_t min, int64_t max,
              int* out) {
  SLUICE_ASSIGN_OR_RETURN(std::optional<int64_t> v, GetYamlInt64(ctx, map, key, min, max));
  if (v.has_value()) *out = static_cast<int>(*v);
  return Status::Ok();
}

// A number; its range is checked where the option is validated.
Status SetDouble(const YamlContext& ctx, const YAML::Node& map, std::string_view key, double* out) {
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> text, GetYamlString(ctx, map, key));
  if (!text) return Status::Ok();
  char* end = nullptr;
  const double v = std::strtod(text->c_str(), &end);
  if (text->empty() || end != text->c_str() + text->size() || !std::isfinite(v)) {
    return ctx.Error(map[std::string(key)], std::string(key) + " must be a number");
  }
  *out = v;
  return Status::Ok();
}

// "allow" and "deny" are the names envoyproxy/ratelimit users know; "open"
// and "closed" are the library's.
Result<FailMode> ParseFailureModeName(std::string_view name) {
  if (name == "allow") return FailMode::kOpen;
  if (name == "deny") return FailMode::kClosed;
  Result<FailMode> mode = ParseFailMode(name);
  if (!mode.ok()) return InvalidArgumentError("must be allow, deny, fallback or error (or open, closed)");
  return mode;
}

Status ParseStoreResilience(const YamlContext& ctx, const YAML::Node& node, DaemonConfig* c) {
  SLUICE_RETURN_IF_ERROR(
      CheckYamlMap(ctx, node, "store.resilience", {"enabled", "retry", "circuit_breaker", "fallback", "reconcile"}));
  SLUICE_RETURN_IF_ERROR(Set(GetYamlBool(ctx, node, "enabled"), &c->resilience_enabled));
  if (YamlHas(node, "retry")) {
    const YAML::Node r = node["retry"];
    SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, r, "store.resilience.retry",
                                        {"max_attempts", "initial_backoff", "max_backoff", "backoff_multiplier",
                                         "budget_ratio", "budget_min_per_second", "budget_window"}));
    RetryOptions& o = c->store_retry;
    SLUICE_RETURN_IF_ERROR(SetInt(ctx, r, "max_attempts", 1, 10, &o.max_attempts));
    SLUICE_RETURN_IF_ERROR(SetNanos(ctx, r, "initial_backoff", &o.initial_backoff));
    SLUICE_RETURN_IF_ERROR(SetNanos(ctx, r, "max_backoff", &o.max_backoff));
    SLUICE_RETURN_IF_ERROR(SetDouble(ctx, r, "backoff_multiplier", &o.backoff_multiplier));
    SLUICE_RETURN_IF_ERROR(SetDouble(ctx, r, "budget_ratio", &o.budget_ratio));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlInt64(ctx, r, "budget_min_per_second", 0, 1'000'000), &o.budget_min_per_second));
    SLUICE_RETURN_IF_ERROR(SetNanos(ctx, r, "budget_window", &o.budget_window));
    Status valid = o.Validate();
    if (!valid.ok()) return ctx.Error(r, "store.resilience.retry: " + std::string(valid.message()));
  }
  if (YamlHas(node, "circuit_breaker")) {
    const YAML::Node b = node["circuit_breaker"];
    SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, b, "store.resilience.circuit_breaker",
                                        {"mode", "failure_rate_threshold", "slow_call_rate_threshold",
                                         "slow_call_duration", "window", "minimum_calls", "open_duration",
                                         "half_open_probes", "half_open_timeout"}));
    CircuitBreakerOptions& o = c->store_breaker;
    SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> mode, GetYamlString(ctx, b, "mode"));
    if (mode) {
      Result<BreakerMode> parsed = ParseBreakerMode(*mode);
      if (!parsed.ok()) {
        return ctx.Error(b["mode"], "store.resilience.circuit_breaker.mode must be normal, forced_open, disabled or "
                                    "metrics_only");
      }
      o.mode = *parsed;
    }
    SLUICE_RETURN_IF_ERROR(SetDouble(ctx, b, "failure_rate_threshold", &o.failure_rate_threshold));
    SLUICE_RETURN_IF_ERROR(SetDouble(ctx, b, "slow_call_rate_threshold", &o.slow_call_rate_threshold));
    SLUICE_RETURN_IF_ERROR(SetNanos(ctx, b, "slow_call_duration", &o.slow_call_duration));
    SLUICE_RETURN_IF_ERROR(SetNanos(ctx, b, "window", &o.window));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlInt64(ctx, b, "minimum_calls", 1, int64_t{1} << 40), &o.minimum_calls));
    SLUICE_RETURN_IF_ERROR(SetNanos(ctx, b, "open_duration", &o.open_duration));
    SLUICE_RETURN_IF_ERROR(SetInt(ctx, b, "half_open_probes", 1, 10'000, &o.half_open_probes));
    SLUICE_RETURN_IF_ERROR(SetNanos(ctx, b, "half_open_timeout", &o.half_open_timeout));
    Status valid = o.Validate();
    if (!valid.ok()) return ctx.Error(b, "store.resilience.circuit_breaker: " + std::string(valid.message()));
  }
  if (YamlHas(node, "fallback")) {
    const YAML::Node f = node["fallback"];
    SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, f, "store.resilience.fallback",
                                        {"instances", "max_keys", "discover_instances", "instance_id",
                                         "discovery_prefix", "heartbeat_ttl", "heartbeat_interval"}));
    FallbackOptions& o = c->store_fallback;
    SLUICE_RETURN_IF_ERROR(Set(GetYamlInt64(ctx, f, "instances", 1, 1'000'000), &o.instances));
    SLUICE_RETURN_IF_ERROR(SetSize(ctx, f, "max_keys", &o.max_keys));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlBool(ctx, f, "discover_instances"), &o.discover_instances));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlString(ctx, f, "instance_id"), &o.instance_id));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlString(ctx, f, "discovery_prefix"), &o.discovery_prefix));
    SLUICE_RETURN_IF_ERROR(SetNanos(ctx, f, "heartbeat_ttl", &o.heartbeat_ttl));
    SLUICE_RETURN_IF_ERROR(SetNanos(ctx, f, "heartbeat_interval", &o.heartbeat_interval));
    FallbackOptions check = o;
    if (check.discover_instances && check.instance_id.empty()) check.instance_id = "-";  // the daemon names itself
    Status valid = check.Validate();
    if (!valid.ok()) return ctx.Error(f, "store.resilience.fallback: " + std::string(valid.message()));
  }
  if (YamlHas(node, "reconcile")) {
    const YAML::Node r = node["reconcile"];
    SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, r, "store.resilience.reconcile", {"enabled", "max_keys"}));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlBool(ctx, r, "enabled"), &c->store_reconcile.enabled));
    SLUICE_RETURN_IF_ERROR(SetSize(ctx, r, "max_keys", &c->store_reconcile.max_keys));
  }
  return Status::Ok();
}

Status ParseCheckpointRetry(const YamlContext& ctx, const YAML::Node& node, std::string_view where,
                            CheckpointRetryOptions* out) {
  SLUICE_RETURN_IF_ERROR(
      CheckYamlMap(ctx, node, where, {"max_attempts", "initial_delay", "multiplier", "max_delay"}));
  SLUICE_RETURN_IF_ERROR(SetInt(ctx, node, "max_attempts", 1, 100, &out->max_attempts));
  SLUICE_RETURN_IF_ERROR(SetNanos(ctx, node, "initial_delay", &out->initial_delay));
  SLUICE_RETURN_IF_ERROR(SetDouble(ctx, node, "multiplier", &out->multiplier));
  SLUICE_RETURN_IF_ERROR(SetNanos(ctx, node, "max_delay", &out->max_delay));
  if (out->initial_delay.count() <= 0 || out->max_delay < out->initial_delay || !(out->multiplier >= 1)) {
    return ctx.Error(node, std::string(where) + ": needs 0 < initial_delay <= max_delay and multiplier >= 1");
  }
  return Status::Ok();
}

Status ParseTls(const YamlContext& ctx, const YAML::Node& node, TlsSettings* tls) {
  SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, node, "tls", {"cert_file", "key_file", "client_ca_file"}));
  SLUICE_RETURN_IF_ERROR(Set(GetYamlString(ctx, node, "cert_file"), &tls->cert_file));
  SLUICE_RETURN_IF_ERROR(Set(GetYamlString(ctx, node, "key_file"), &tls->key_file));
  SLUICE_RETURN_IF_ERROR(Set(GetYamlString(ctx, node, "client_ca_file"), &tls->client_ca_file));
  return Status::Ok();
}

Status ParseListeners(const YamlContext& ctx, const YAML::Node& section, std::vector<ListenerSettings>* out) {
  TlsSettings tls;
  if (YamlHas(section, "tls")) SLUICE_RETURN_IF_ERROR(ParseTls(ctx, section["tls"], &tls));
  if (YamlHas(section, "listen")) {
    SLUICE_ASSIGN_OR_RETURN(std::vector<std::string> addresses, YamlAsStringList(ctx, section["listen"], "listen"));
    out->clear();
    for (std::string& a : addresses) {
      Result<ListenAddress> parsed = ParseListenAddress(a);
      if (!parsed.ok()) return ctx.Error(section["listen"], parsed.status().message());
      out->push_back(ListenerSettings{std::move(a), {}});
    }
  }
  for (ListenerSettings& l : *out) l.tls = tls;
  return Status::Ok();
}

}  // namespace

Status DaemonConfig::Validate() const {
  const std::string where = source.empty() ? "flags" : source;
  for (const auto* listeners : {&http_listeners, &grpc_listeners}) {
    for (const ListenerSettings& l : *listeners) {
      Result<ListenAddress> a = ParseListenAddress(l.address);
      if (!a.ok()) return InvalidArgumentError(where + ": " + std::string(a.status().message()));
      if (l.tls.cert_file.empty() != l.tls.key_file.empty()) {
        return InvalidArgumentError(where + ": tls needs both cert_file and key_file");
      }
      if (!l.tls.client_ca_file.empty() && !l.tls.enabled()) {
        return InvalidArgumentError(where + ": tls.client_ca_file needs cert_file and key_file");
      }
    }
  }
  if (http_listeners.empty() && grpc_listeners.empty()) {
    return InvalidArgumentError(where + ": neither an HTTP nor a gRPC listener is configured");
  }
  Result<StoreUri> uri = ParseStoreUri(store_uri);
  if (!uri.ok()) return InvalidArgumentError(where + ": store.uri: " + std::string(uri.status().message()));
  if (http_io_threads < 1 || http_io_threads > 256) return InvalidArgumentError(where + ": http.io_threads must be 1..256");
  if (store_workers < 1 || store_workers > 1024) return InvalidArgumentError(where + ": store.workers must be 1..1024");
  if (store_deadline.count() <= 0) return InvalidArgumentError(where + ": store.deadline must be positive");
  if (Status s = ResilienceOptions().Validate(); !s.ok()) {
    return InvalidArgumentError(where + ": store.resilience: " + std::string(s.message()));
  }
  if (checkpoint_interval.count() <= 0) return InvalidArgumentError(where + ": checkpoint.interval must be positive");
  if (checkpoint_retain < 1) return InvalidArgumentError(where + ": checkpoint.retain must be at least 1");
  if (checkpoint_compression != "none" && checkpoint_compression != "zstd") {
    return InvalidArgumentError(where + ": checkpoint.compression must be none or zstd");
  }
  if (rules_watch_interval.count() <= 0) return InvalidArgumentError(where + ": rules.watch_interval must be positive");
  if (!(near_limit_ratio > 0 && near_limit_ratio <= 1)) {
    return InvalidArgumentError(where + ": rules.near_limit_ratio must be in (0, 1]");
  }
  if (log_level != "debug" && log_level != "info" && log_level != "warning" && log_level != "error") {
    return InvalidArgumentError(where + ": logging.level must be debug, info, warning or error");
  }
  if (log_format != "text" && log_format != "json") {
    return InvalidArgumentError(where + ": logging.format must be text or json");
  }
  if (limits.idle_timeout.count() <= 0 || limits.request_timeout.count() <= 0) {
    return InvalidArgumentError(where + ": limits.idle_timeout and limits.request_timeout must be positive");
  }
  return Status::Ok();
}

ResilientStoreOptions DaemonConfig::ResilienceOptions() const {
  ResilientStoreOptions o;
  o.deadline = store_deadline;
  o.workers = store_workers;
  o.max_queued = store_max_queued;
  o.fail_mode = failure_mode;
  o.retry = store_retry;
  o.breaker = store_breaker;
  o.fallback = store_fallback;
  if (o.fallback.discover_instances && o.fallback.instance_id.empty()) {
    // Validated here as the daemon will run it: it names itself at start.
    o.fallback.instance_id = "-";
  }
  o.reconcile = store_reconcile;
  return o;
}

Result<DaemonConfig> ParseDaemonConfig(std::string_view yaml, const std::string& file) {
  YamlContext ctx{file};
  SLUICE_ASSIGN_OR_RETURN(YAML::Node root, ParseYaml(yaml, ctx));
  DaemonConfig c;
  c.source = file;
  if (!root || root.IsNull()) {
    SLUICE_RETURN_IF_ERROR(c.Validate());
    return c;
  }
  SLUICE_RETURN_IF_ERROR(CheckYamlMap(
      ctx, root, "the top level",
      {"http", "grpc", "store", "data_dir", "checkpoint", "rules", "admin", "limits", "logging"}));

  if (YamlHas(root, "http")) {
    const YAML::Node http = root["http"];
    SLUICE_RETURN_IF_ERROR(
        CheckYamlMap(ctx, http, "http", {"listen", "tls", "io_threads", "rate_limit_headers", "x_ratelimit_reset"}));
    SLUICE_RETURN_IF_ERROR(ParseListeners(ctx, http, &c.http_listeners));
    int64_t threads = c.http_io_threads;
    SLUICE_RETURN_IF_ERROR(Set(GetYamlInt64(ctx, http, "io_threads", 1, 256), &threads));
    c.http_io_threads = static_cast<int>(threads);
    SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> headers, GetYamlString(ctx, http, "rate_limit_headers"));
    if (headers) {
      if (*headers == "ietf") {
        c.header_mode = HeaderMode::kIetf;
      } else if (*headers == "draft") {
        c.header_mode = HeaderMode::kDraft;
      } else if (*headers == "x-ratelimit") {
        c.header_mode = HeaderMode::kXRateLimit;
      } else if (*headers == "none") {
        c.header_mode = HeaderMode::kNone;
      } else {
        return ctx.Error(http["rate_limit_headers"], "http.rate_limit_headers must be ietf, draft, x-ratelimit or none");
      }
    }
    SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> reset, GetYamlString(ctx, http, "x_ratelimit_reset"));
    if (reset) {
      if (*reset != "delta" && *reset != "epoch") {
        return ctx.Error(http["x_ratelimit_reset"], "http.x_ratelimit_reset must be delta or epoch");
      }
      c.x_ratelimit_reset_epoch = *reset == "epoch";
    }
  }
  if (YamlHas(root, "grpc")) {
    const YAML::Node grpc = root["grpc"];
    SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, grpc, "grpc", {"listen", "tls", "response_headers", "dynamic_metadata"}));
    SLUICE_RETURN_IF_ERROR(ParseListeners(ctx, grpc, &c.grpc_listeners));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlBool(ctx, grpc, "response_headers"), &c.grpc_response_headers));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlBool(ctx, grpc, "dynamic_metadata"), &c.grpc_dynamic_metadata));
  }
  if (YamlHas(root, "store")) {
    const YAML::Node store = root["store"];
    SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, store, "store",
                                        {"uri", "deadline", "workers", "max_queued", "failure_mode",
                                         "failure_mode_by_domain", "resilience"}));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlString(ctx, store, "uri"), &c.store_uri));
    if (YamlHas(store, "uri")) {
      Result<StoreUri> uri = ParseStoreUri(c.store_uri);
      if (!uri.ok()) return ctx.Error(store["uri"], uri.status().message());
    }
    SLUICE_RETURN_IF_ERROR(SetMillis(ctx, store, "deadline", &c.store_deadline));
    int64_t workers = c.store_workers;
    SLUICE_RETURN_IF_ERROR(Set(GetYamlInt64(ctx, store, "workers", 1, 1024), &workers));
    c.store_workers = static_cast<int>(workers);
    SLUICE_RETURN_IF_ERROR(SetSize(ctx, store, "max_queued", &c.store_max_queued));
    SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> mode, GetYamlString(ctx, store, "failure_mode"));
    if (mode) {
      Result<FailMode> parsed = ParseFailureModeName(*mode);
      if (!parsed.ok()) return ctx.Error(store["failure_mode"], "store.failure_mode " + std::string(parsed.status().message()));
      c.failure_mode = *parsed;
    }
    if (YamlHas(store, "failure_mode_by_domain")) {
      const YAML::Node by_domain = store["failure_mode_by_domain"];
      if (!by_domain.IsMap()) {
        return ctx.Error(by_domain, "store.failure_mode_by_domain must be a map of domain: failure mode");
      }
      for (const auto& entry : by_domain) {
        SLUICE_ASSIGN_OR_RETURN(std::string domain, YamlAsString(ctx, entry.first, "store.failure_mode_by_domain"));
        SLUICE_ASSIGN_OR_RETURN(std::string name, YamlAsString(ctx, entry.second, "store.failure_mode_by_domain"));
        Result<FailMode> parsed = ParseFailureModeName(name);
        if (!parsed.ok()) {
          return ctx.Error(entry.second, "store.failure_mode_by_domain." + domain + " " +
                                             std::string(parsed.status().message()));
        }
        if (domain.empty()) return ctx.Error(entry.first, "store.failure_mode_by_domain: a domain is empty");
        c.failure_mode_by_domain.emplace_back(domain, *parsed);
      }
    }
    if (YamlHas(store, "resilience")) SLUICE_RETURN_IF_ERROR(ParseStoreResilience(ctx, store["resilience"], &c));
  }
  SLUICE_RETURN_IF_ERROR(Set(GetYamlString(ctx, root, "data_dir"), &c.data_dir));
  if (YamlHas(root, "checkpoint")) {
    const YAML::Node cp = root["checkpoint"];
    SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, cp, "checkpoint",
                                        {"interval", "retain", "compression", "save_retry", "load_retry",
                                         "on_load_failure"}));
    if (YamlHas(cp, "save_retry")) {
      SLUICE_RETURN_IF_ERROR(ParseCheckpointRetry(ctx, cp["save_retry"], "checkpoint.save_retry", &c.checkpoint_save_retry));
    }
    if (YamlHas(cp, "load_retry")) {
      SLUICE_RETURN_IF_ERROR(ParseCheckpointRetry(ctx, cp["load_retry"], "checkpoint.load_retry", &c.checkpoint_load_retry));
    }
    SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> on_failure, GetYamlString(ctx, cp, "on_load_failure"));
    if (on_failure) {
      if (*on_failure == "refuse_to_start") {
        c.checkpoint_on_load_failure = LoadFailurePolicy::kRefuseToStart;
      } else if (*on_failure == "start_fresh") {
        c.checkpoint_on_load_failure = LoadFailurePolicy::kStartFresh;
      } else {
        return ctx.Error(cp["on_load_failure"], "checkpoint.on_load_failure must be refuse_to_start or start_fresh");
      }
    }
    SLUICE_RETURN_IF_ERROR(SetMillis(ctx, cp, "interval", &c.checkpoint_interval));
    int64_t retain = c.checkpoint_retain;
    SLUICE_RETURN_IF_ERROR(Set(GetYamlInt64(ctx, cp, "retain", 1, 1000), &retain));
    c.checkpoint_retain = static_cast<int>(retain);
    SLUICE_RETURN_IF_ERROR(Set(GetYamlString(ctx, cp, "compression"), &c.checkpoint_compression));
    if (c.checkpoint_compression != "none" && c.checkpoint_compression != "zstd") {
      return ctx.Error(cp["compression"], "checkpoint.compression must be none or zstd");
    }
  }
  if (YamlHas(root, "rules")) {
    const YAML::Node rules = root["rules"];
    SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, rules, "rules",
                                        {"directory", "watch", "watch_interval", "merge_domains", "shadow_mode",
                                         "quota_mode", "all_or_nothing", "near_limit_ratio"}));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlString(ctx, rules, "directory"), &c.rules_directory));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlBool(ctx, rules, "watch"), &c.rules_watch));
    SLUICE_RETURN_IF_ERROR(SetMillis(ctx, rules, "watch_interval", &c.rules_watch_interval));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlBool(ctx, rules, "merge_domains"), &c.merge_domains));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlBool(ctx, rules, "shadow_mode"), &c.shadow_mode));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlBool(ctx, rules, "quota_mode"), &c.quota_mode));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlBool(ctx, rules, "all_or_nothing"), &c.all_or_nothing));
    SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> ratio, GetYamlString(ctx, rules, "near_limit_ratio"));
    if (ratio) {
      char* end = nullptr;
      const double v = std::strtod(ratio->c_str(), &end);
      if (end != ratio->c_str() + ratio->size() || !(v > 0 && v <= 1)) {
        return ctx.Error(rules["near_limit_ratio"], "rules.near_limit_ratio must be a number in (0, 1]");
      }
      c.near_limit_ratio = v;
    }
  }
  if (YamlHas(root, "admin")) {
    const YAML::Node admin = root["admin"];
    SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, admin, "admin", {"token_file"}));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlString(ctx, admin, "token_file"), &c.admin_token_file));
  }
  if (YamlHas(root, "limits")) {
    const YAML::Node l = root["limits"];
    SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, l, "limits",
                                        {"max_body_bytes", "max_header_bytes", "max_connections", "max_descriptors",
                                         "max_entries", "max_key_bytes", "max_value_bytes", "idle_timeout",
                                         "request_timeout"}));
    SLUICE_RETURN_IF_ERROR(SetSize(ctx, l, "max_body_bytes", &c.limits.max_body_bytes));
    SLUICE_RETURN_IF_ERROR(SetSize(ctx, l, "max_header_bytes", &c.limits.max_header_bytes));
    SLUICE_RETURN_IF_ERROR(SetSize(ctx, l, "max_connections", &c.limits.max_connections));
    SLUICE_RETURN_IF_ERROR(SetSize(ctx, l, "max_descriptors", &c.limits.max_descriptors));
    SLUICE_RETURN_IF_ERROR(SetSize(ctx, l, "max_entries", &c.limits.max_entries));
    SLUICE_RETURN_IF_ERROR(SetSize(ctx, l, "max_key_bytes", &c.limits.max_key_bytes));
    SLUICE_RETURN_IF_ERROR(SetSize(ctx, l, "max_value_bytes", &c.limits.max_value_bytes));
    SLUICE_RETURN_IF_ERROR(SetMillis(ctx, l, "idle_timeout", &c.limits.idle_timeout));
    SLUICE_RETURN_IF_ERROR(SetMillis(ctx, l, "request_timeout", &c.limits.request_timeout));
  }
  if (YamlHas(root, "logging")) {
    const YAML::Node log = root["logging"];
    SLUICE_RETURN_IF_ERROR(CheckYamlMap(ctx, log, "logging", {"level", "format"}));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlString(ctx, log, "level"), &c.log_level));
    SLUICE_RETURN_IF_ERROR(Set(GetYamlString(ctx, log, "format"), &c.log_format));
  }
  SLUICE_RETURN_IF_ERROR(c.Validate());
  return c;
}

Result<DaemonConfig> LoadDaemonConfigFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return NotFoundError(path + ": cannot open the configuration file");
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  return ParseDaemonConfig(text, path);
}

namespace {

void AddFlags(CLI::App& app, CommandLine* cl, std::string* config_file, std::string* store,
              std::string* rules, std::vector<std::string>* http, std::vector<std::string>* grpc,
              std::string* data_dir, std::string* token_file, bool* shadow, std::string* log_level) {
  app.add_option("--config", *config_file, "YAML configuration file");
  app.add_option("--store", *store, "store URI: memory:, rocksdb:PATH, redis://HOST:PORT, redis+unix:///PATH, "
                                    "redis+cluster://HOST:PORT,...");
  app.add_option("--rules", *rules, "directory of rule files (*.yaml)");
  app.add_option("--http", *http, "HTTP listen address HOST:PORT or unix:/PATH (repeatable; \"\" turns HTTP off)");
  app.add_option("--grpc", *grpc, "gRPC listen address HOST:PORT or unix:/PATH (repeatable; \"\" turns gRPC off)");
  app.add_option("--data-dir", *data_dir, "directory for checkpoints of the in-memory store");
  app.add_option("--admin-token-file", *token_file, "file holding the admin bearer token (enables /admin)");
  app.add_flag("--shadow-mode", *shadow, "global shadow mode: decide and count, never deny");
  app.add_option("--log-level", *log_level, "debug, info, warning or error");
  app.add_flag("--check-config", cl->check_config, "validate the configuration and the rules, then exit");
  app.add_option("--ready-file", cl->ready_file,
                 "write the bound addresses as JSON to this file once listening");
}

std::vector<ListenerSettings> ListenersFromFlags(const std::vector<std::string>& addresses, const TlsSettings& tls) {
  std::vector<ListenerSettings> out;
  for (const std::string& a : addresses) {
    if (!a.empty()) out.push_back(ListenerSettings{a, tls});
  }
  return out;
}

}  // namespace

Result<CommandLine> ParseCommandLine(int argc, const char* const* argv) {
  CLI::App app{"sluiced: the sluice rate limit service", "sluiced"};
  CommandLine cl;
  std::string config_file, store, rules, data_dir, token_file, log_level;
  std::vector<std::string> http, grpc;
  bool shadow = false;
  AddFlags(app, &cl, &config_file, &store, &rules, &http, &grpc, &data_dir, &token_file, &shadow, &log_level);
  app.set_help_flag("-h,--help", "print this help and exit");
  std::vector<std::string> args;
  for (int i = argc - 1; i >= 1; --i) args.emplace_back(argv[i]);
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    cl.help = true;
    return cl;
  } catch (const CLI::ParseError& e) {
    return InvalidArgumentError(std::string("command line: ") + e.what());
  }
  if (!config_file.empty()) {
    SLUICE_ASSIGN_OR_RETURN(cl.config, LoadDaemonConfigFile(config_file));
  }
  DaemonConfig& c = cl.config;
  if (app.count("--store") > 0) c.store_uri = store;
  if (app.count("--rules") > 0) c.rules_directory = rules;
  if (app.count("--http") > 0) {
    const TlsSettings tls = c.http_listeners.empty() ? TlsSettings{} : c.http_listeners.front().tls;
    c.http_listeners = ListenersFromFlags(http, tls);
  }
  if (app.count("--grpc") > 0) {
    const TlsSettings tls = c.grpc_listeners.empty() ? TlsSettings{} : c.grpc_listeners.front().tls;
    c.grpc_listeners = ListenersFromFlags(grpc, tls);
  }
  if (app.count("--data-dir") > 0) c.data_dir = data_dir;
  if (app.count("--admin-token-file") > 0) c.admin_token_file = token_file;
  if (shadow) c.shadow_mode = true;
  if (app.count("--log-level") > 0) c.log_level = log_level;
  SLUICE_RETURN_IF_ERROR(c.Validate());
  return cl;
}

std::string CommandLineHelp() {
  CLI::App app{"sluiced: the sluice rate limit service", "sluiced"};
  CommandLine cl;
  std::string a, b, c, d, e, f;
  std::vector<std::string> h, i;
  bool s = false;
  AddFlags(app, &cl, &a, &b, &c, &h, &i, &d, &e, &s, &f);
  app.set_help_flag("-h,--help", "print this help and exit");
  return app.help() +
         "\nWithout --config the defaults apply: HTTP on 127.0.0.1:8080, gRPC on 127.0.0.1:8081, store memory:.\n"
         "Flags override the configuration file.\n";
}

}  // namespace sluice::daemon

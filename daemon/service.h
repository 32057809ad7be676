// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RateLimitService: the daemon's decisions. It matches a request's
// descriptors against the current rules, decides every limited descriptor on
// the store in one call (a batch, or all or nothing), and builds the
// response the way envoyproxy/ratelimit does: per-descriptor statuses in
// request order with current_limit, limit_remaining and duration_until_reset;
// OVER_LIMIT overall if any descriptor is over (quota-mode descriptors only
// when all of them are); shadow mode (per rule or global) answering OK while
// counting; `replaces`; `unlimited`; per-descriptor hits_addend (0 checks
// without consuming). Unknown domains and unmatched descriptors are OK with
// no limit.
//
// Decisions on an in-process store run inline on the caller's thread. On a
// remote store they run on a bounded pool of worker threads, each with a
// deadline: when the store does not answer in time, the caller gets the
// failure-mode answer at the deadline (the late store answer is dropped), so
// front-end threads never wait on the network. The daemon wraps a remote
// store in a ResilientStore, which answers by its own deadline with the
// configured fail mode (fallback included); the service's failure mode then
// only answers what even that could not (a full queue, a missed deadline),
// and answers `fallback` as `allow` there.
//
// Thread-safety: all methods are thread-safe; SetRules swaps the rules
// atomically for subsequent requests.

#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "daemon/metrics.h"
#include "daemon/rls.h"
#include "daemon/rules.h"
#include "sluice/algorithms.h"
#include "sluice/clock.h"
#include "sluice/resilient_store.h"
#include "sluice/result.h"
#include "sluice/store.h"

namespace sluice::daemon {

struct ServiceOptions {
  Store* store = nullptr;  // required; outlives the service
  // Decide on worker threads with a deadline (a store across the network).
  bool remote_store = false;
  std::chrono::milliseconds deadline{50};
  int workers = 8;
  size_t max_queued = 10'000;
  FailMode failure_mode = FailMode::kOpen;
  bool shadow_mode = false;
  bool quota_mode = false;
  bool all_or_nothing = false;
  double near_limit_ratio = 0.8;
  // gRPC: add rate-limit headers (header_mode) to response_headers_to_add.
  bool response_headers = false;
  HeaderMode header_mode = HeaderMode::kIetf;
  bool x_ratelimit_reset_epoch = false;
  bool dynamic_metadata = false;
  RequestLimits limits;
  DaemonMetrics* metrics = nullptr;  // required
  Clock* clock = nullptr;            // default Clock::Real()
};

// Whole seconds, rounded up (headers and upstream's durations count in
// seconds; rounding down would tell a client to come back too early).
int64_t CeilSeconds(std::chrono::nanoseconds d);

// One limit's figures for rate-limit response headers.
struct HeaderLimit {
  std::string name;  // policy name ("" → "default")
  int64_t limit = 0;
  int64_t window_seconds = 0;
  int64_t remaining = 0;
  int64_t reset_seconds = 0;  // until more quota / the window ends
};
// The headers for `mode` from the limits of one answer (the most restrictive
// one first). `retry_after_seconds` > 0 adds Retry-After. `now_unix` is used
// by the epoch flavour of X-RateLimit-Reset.
std::vector<RlsHeader> RateLimitHeaders(HeaderMode mode, bool reset_epoch, std::span<const HeaderLimit> limits,
                                        int64_t retry_after_seconds, int64_t now_unix);

// sluice's own decision call (POST /v1/decide).
struct DecideCall {
  // Either an explicit key + policy ...
  std::string key;
  std::optional<Policy> policy;
  std::string name;  // names the policy in headers
  // ... or a rule lookup.
  std::string domain;
  std::vector<RlsEntry> entries;
  int64_t cost = 1;
  Operation op = Operation::kConsume;
};

struct DecideReply {
  Decision decision;
  bool matched = true;      // false: a rule lookup that matched no rule (allowed)
  std::string rule;         // the matched rule's path
  std::string policy_name;  // for headers
  Policy policy;            // the policy decided with (when matched)
  std::chrono::nanoseconds window{0};
};

// Every store key of `domain`'s counters starts with one of these: the
// counters of its rules and of caller-supplied limit overrides in its
// requests (keys of /v1/decide with an explicit limit belong to no domain).
std::vector<std::string> DomainStoreKeyPrefixes(std::string_view domain);

class RateLimitService {
 public:
  static Result<std::unique_ptr<RateLimitService>> Create(ServiceOptions options);
  ~RateLimitService();

  void SetRules(std::shared_ptr<const RuleSet> rules);
  std::shared_ptr<const RuleSet> rules() const;

  // Decides asynchronously (inline for in-process stores); `done` runs
  // exactly once. `frontend` labels the latency metric ("grpc", "json").
  void ShouldRateLimit(RlsRequest request, std::function<void(Result<RlsResponse>)> done,
                       std::string_view frontend = "grpc");
  // The synchronous core: validation, matching, one store call, response.
  // Store errors are returned as they are (no failure mode applied).
  Result<RlsResponse> ShouldRateLimitNow(const RlsRequest& request);

  void Decide(DecideCall call, std::function<void(Result<DecideReply>)> done);
  Result<DecideReply> DecideNow(const DecideCall& call);

  // Store health with the decision deadline (remote stores on a worker).
  Status StoreHealth();

  // Stops the workers; pending calls get the failure-mode answer. Idempotent.
  void Shutdown();

  const ServiceOptions& options() const { return options_; }

 private:
  explicit RateLimitService(ServiceOptions options);
  struct Executor;

  // Runs `work` inline or on a worker; `on_failure(status)` instead when the
  // queue is full, the deadline passes or the service shuts down.
  void Dispatch(std::function<void()> work, std::shared_ptr<std::atomic<bool>> finished,
                std::function<void(Status)> on_failure);
  RlsResponse FailureResponse(const RlsRequest& request) const;
  Status ValidateRequest(const RlsRequest& request) const;

  ServiceOptions options_;
  std::atomic<std::shared_ptr<const RuleSet>> rules_;
  std::unique_ptr<Executor> executor_;
};

}  // namespace sluice::daemon

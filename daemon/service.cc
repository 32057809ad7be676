// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/service.h"

#include <algorithm>
#include <future>
#include <limits>
#include <string>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "resilience/executor.h"
#include "sluice/status.h"
#include "util/json.h"

namespace sluice::daemon {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

uint32_t ClampToUint32(int64_t v) {
  if (v <= 0) return 0;
  return v > int64_t{std::numeric_limits<uint32_t>::max()} ? std::numeric_limits<uint32_t>::max()
                                                           : static_cast<uint32_t>(v);
}

// Store keys: one namespace for rule counters, one for explicit /v1/decide
// keys, one for caller-supplied limit overrides, so none can collide.
constexpr std::string_view kRuleKeyNamespace = "rls:";
std::string RuleStoreKey(const RuleMatch& match) { return std::string(kRuleKeyNamespace) + match.counter_key; }

// Caller-supplied limit overrides of `domain` (length-prefixed, so no domain
// is a prefix of another's keys).
std::string OverrideStoreKeyPrefix(std::string_view domain) {
  return fmt::format("rlso:{}:{}:", domain.size(), domain);
}

std::string OverrideStoreKey(const RlsRequest& request, const RlsDescriptor& d) {
  // Length-prefixed parts: no key/value text can imitate another's.
  std::string key = OverrideStoreKeyPrefix(request.domain);
  fmt::format_to(std::back_inserter(key), "{}:{}", d.limit->requests_per_unit, static_cast<int>(d.limit->unit));
  for (const RlsEntry& e : d.entries) {
    fmt::format_to(std::back_inserter(key), ":{}:{}:{}:{}", e.key.size(), e.key, e.value.size(), e.value);
  }
  return key;
}

// The reset time a client expects: for fixed windows the end of the current
// window (as envoyproxy/ratelimit reports it, also for an untouched key),
// otherwise when the state is full again.
std::chrono::nanoseconds ResetAfter(const Policy& policy, const Decision& d, int64_t now_ns) {
  if (policy.algorithm == Algorithm::kFixedWindow) {
    const WindowBounds w = FixedWindowAt(policy, now_ns);
    return std::chrono::nanoseconds(w.end_ns - now_ns);
  }
  return d.reset_after;
}

int64_t WindowSeconds(const Policy& policy, int64_t now_ns) {
  if (policy.algorithm == Algorithm::kFixedWindow && policy.alignment != WindowAlignment::kEpoch) {
    const WindowBounds w = FixedWindowAt(policy, now_ns);
    return CeilSeconds(std::chrono::nanoseconds(w.end_ns - w.start_ns));
  }
  return CeilSeconds(policy.interval);
}

}  // namespace

std::vector<std::string> DomainStoreKeyPrefixes(std::string_view domain) {
  return {std::string(kRuleKeyNamespace) + CounterKeyPrefix(domain), OverrideStoreKeyPrefix(domain)};
}

int64_t CeilSeconds(std::chrono::nanoseconds d) {
  if (d.count() <= 0) return 0;
  return (d.count() + kNanosPerSecond - 1) / kNanosPerSecond;
}

std::vector<RlsHeader> RateLimitHeaders(HeaderMode mode, bool reset_epoch, std::span<const HeaderLimit> limits,
                                        int64_t retry_after_seconds, int64_t now_unix) {
  std::vector<RlsHeader> out;
  if (mode == HeaderMode::kNone || limits.empty()) {
    if (retry_after_seconds > 0) out.push_back({"Retry-After", std::to_string(retry_after_seconds)});
    return out;
  }
  out.reserve(retry_after_seconds > 0 ? 5 : 4);
  const HeaderLimit& most = limits.front();
  // Built with appends rather than fmt: these run for every decision.
  auto append_quoted = [](std::string* s, const std::string& name) {
    s->push_back('"');
    for (char c : name.empty() ? std::string_view("default") : std::string_view(name)) {
      if (c == '"' || c == '\\') s->push_back('\\');
      s->push_back(c);
    }
    s->push_back('"');
  };
  auto append_param = [](std::string* s, std::string_view param, int64_t v) {
    s->append(param);
    internal::AppendJsonInt(v, s);
  };
  switch (mode) {
    case HeaderMode::kIetf: {
      std::string policy;
      for (const HeaderLimit& l : limits) {
        if (!policy.empty()) policy += ", ";
        append_quoted(&policy, l.name);
        append_param(&policy, ";q=", l.limit);
        append_param(&policy, ";w=", l.window_seconds);
      }
      out.push_back({"RateLimit-Policy", std::move(policy)});
      std::string current;
      append_quoted(&current, most.name);
      append_param(&current, ";r=", most.remaining);
      append_param(&current, ";t=", most.reset_seconds);
      out.push_back({"RateLimit", std::move(current)});
      break;
    }
    case HeaderMode::kDraft: {
      out.push_back({"RateLimit-Limit", std::to_string(most.limit)});
      out.push_back({"RateLimit-Remaining", std::to_string(most.remaining)});
      out.push_back({"RateLimit-Reset", std::to_string(most.reset_seconds)});
      std::string policy = std::to_string(most.limit);
      append_param(&policy, ";w=", most.window_seconds);
      out.push_back({"RateLimit-Policy", std::move(policy)});
      break;
    }
    case HeaderMode::kXRateLimit:
      out.push_back({"X-RateLimit-Limit", std::to_string(most.limit)});
      out.push_back({"X-RateLimit-Remaining", std::to_string(most.remaining)});
      out.push_back({"X-RateLimit-Reset",
                     std::to_string(reset_epoch ? now_unix + most.reset_seconds : most.reset_seconds)});
      break;
    case HeaderMode::kNone:
      break;
  }
  if (retry_after_seconds > 0) out.push_back({"Retry-After", std::to_string(retry_after_seconds)});
  return out;
}

// The worker pool for a remote store (the library's resilience executor) and
// the deadline of every call on it: a timer answers a call the store has not
// answered by then, and the worker that finishes first cancels the timer, so
// the timer thread sleeps through the calls that end in time instead of
// waking for each. Whichever side flips a call's `finished` flag first
// answers it; the other does nothing.
struct RateLimitService::Executor {
  // Workers are never abandoned on Stop: a call still running holds the
  // service, so Stop waits for it (a hung store's own timeout ends it).
  static constexpr std::chrono::hours kNoAbandon{24 * 365};

  Executor(Clock& c, int workers, size_t max_queued)
      : clock(c), pool(c, workers, max_queued, kNoAbandon) {}

  void Run(std::function<void()> work, std::shared_ptr<std::atomic<bool>> finished,
           std::function<void(Status)> on_failure, std::chrono::milliseconds deadline) {
    auto timer = std::make_shared<resilience::Executor::TimerId>();
    const bool timed = pool.AddTimer(
        clock.MonotonicNow() + deadline,
        [this, finished, on_failure] {
          if (finished->exchange(true)) return;
          on_failure(stopping.load() ? UnavailableError("the service is shutting down")
                                     : DeadlineExceededError("the store did not answer within the deadline"));
        },
        timer.get());
    if (!timed) {
      if (!finished->exchange(true)) on_failure(UnavailableError("the service is shutting down"));
      return;
    }
    const uint64_t task = pool.Submit([this, work = std::move(work), finished, timer] {
      // A call whose deadline already passed is not sent to the store at all.
      if (finished->load(std::memory_order_acquire)) return;
      work();
      pool.CancelTimer(*timer);
    });
    if (task == 0) {
      pool.CancelTimer(*timer);
      if (!finished->exchange(true)) {
        on_failure(stopping.load() ? UnavailableError("the service is shutting down")
                                   : UnavailableError("too many decisions waiting for the store"));
      }
    }
  }

  // Queued calls and those still running get the shutdown answer at once.
  void Stop() {
    stopping.store(true);
    pool.Stop();
  }

  Clock& clock;
  std::atomic<bool> stopping{false};
  resilience::Executor pool;
};

RateLimitService::RateLimitService(ServiceOptions options) : options_(std::move(options)) {}

RateLimitService::~RateLimitService() { Shutdown(); }

Result<std::unique_ptr<RateLimitService>> RateLimitService::Create(ServiceOptions options) {
  if (options.store == nullptr) return InvalidArgumentError("RateLimitService: a store is required");
  if (options.metrics == nullptr) return InvalidArgumentError("RateLimitService: metrics are required");
  if (options.clock == nullptr) options.clock = &Clock::Real();
  if (options.remote_store && (options.workers < 1 || options.deadline.count() <= 0)) {
    return InvalidArgumentError("RateLimitService: a remote store needs workers >= 1 and a positive deadline");
  }
  std::unique_ptr<RateLimitService> service(new RateLimitService(std::move(options)));
  if (service->options_.remote_store) {
    service->executor_ =
        std::make_unique<Executor>(*service->options_.clock, service->options_.workers, service->options_.max_queued);
  }
  return service;
}

void RateLimitService::SetRules(std::shared_ptr<const RuleSet> rules) { rules_.store(std::move(rules)); }

std::shared_ptr<const RuleSet> RateLimitService::rules() const { return rules_.load(); }

void RateLimitService::Shutdown() {
  if (executor_) executor_->Stop();
}

void RateLimitService::Dispatch(std::function<void()> work, std::shared_ptr<std::atomic<bool>> finished,
                                std::function<void(Status)> on_failure) {
  if (!executor_) {
    work();
    return;
  }
  executor_->Run(std::move(work), std::move(finished), std::move(on_failure), options_.deadline);
}

Status RateLimitService::ValidateRequest(const RlsRequest& request) const {
  const RequestLimits& limits = options_.limits;
  if (request.domain.empty()) return InvalidArgumentError("rate limit domain must not be empty");
  if (request.domain.size() > limits.max_key_bytes) {
    return InvalidArgumentError(fmt::format("domain is longer than {} bytes", limits.max_key_bytes));
  }
  if (request.descriptors.empty()) return InvalidArgumentError("rate limit descriptor list must not be empty");
  if (request.descriptors.size() > limits.max_descriptors) {
    return InvalidArgumentError(
        fmt::format("{} descriptors; at most {} are allowed", request.descriptors.size(), limits.max_descriptors));
  }
  for (size_t i = 0; i < request.descriptors.size(); ++i) {
    const RlsDescriptor& d = request.descriptors[i];
    if (d.entries.empty()) return InvalidArgumentError(fmt::format("descriptor {} has no entries", i));
    if (d.entries.size() > limits.max_entries) {
      return InvalidArgumentError(
          fmt::format("descriptor {} has {} entries; at most {} are allowed", i, d.entries.size(), limits.max_entries));
    }
    for (const RlsEntry& e : d.entries) {
      if (e.key.empty()) return InvalidArgumentError(fmt::format("descriptor {} has an entry without a key", i));
      if (e.key.size() > limits.max_key_bytes) {
        return InvalidArgumentError(fmt::format("descriptor {}: key longer than {} bytes", i, limits.max_key_bytes));
      }
      if (e.value.size() > limits.max_value_bytes) {
        return InvalidArgumentError(
            fmt::format("descriptor {}: value of \"{}\" longer than {} bytes", i, e.key, limits.max_value_bytes));
      }
    }
    if (d.limit.has_value()) {
      if (d.limit->requests_per_unit == 0) {
        return InvalidArgumentError(fmt::format("descriptor {}: limit override with requests_per_unit 0", i));
      }
      if (RlsUnitLength(d.limit->unit).count() == 0) {
        return InvalidArgumentError(fmt::format("descriptor {}: limit override without a unit", i));
      }
    }
  }
  return Status::Ok();
}

RlsResponse RateLimitService::FailureResponse(const RlsRequest& request) const {
  RlsResponse response;
  const bool deny = options_.failure_mode == FailMode::kClosed;
  response.overall_code = deny ? RlsCode::kOverLimit : RlsCode::kOk;
  response.statuses.resize(request.descriptors.size());
  for (RlsDescriptorStatus& s : response.statuses) s.code = response.overall_code;
  return response;
}

Result<RlsResponse> RateLimitService::ShouldRateLimitNow(const RlsRequest& request) {
  SLUICE_RETURN_IF_ERROR(ValidateRequest(request));
  std::shared_ptr<const RuleSet> rules = rules_.load();
  const size_t n = request.descriptors.size();

  // What each descriptor is limited by. `rule` points into the rule set or
  // at `override_rule`.
  struct Slot {
    const Rule* rule = nullptr;
    std::optional<Rule> override_rule;  // built only for a caller-supplied limit
    std::string store_key;
    std::string metric_key;
    int64_t hits = 1;
    bool decided = false;
    bool cannot_fit = false;  // hits beyond what the limit can ever grant
    size_t request_index = 0;
  };
  std::vector<Slot> slots(n);
  const bool domain_known = rules != nullptr && rules->HasDomain(request.domain);
  for (size_t i = 0; i < n; ++i) {
    const RlsDescriptor& d = request.descriptors[i];
    Slot& slot = slots[i];
    slot.hits = d.hits_addend.has_value() ? static_cast<int64_t>(std::min<uint64_t>(*d.hits_addend, INT64_MAX / 2))
                                          : std::max<int64_t>(1, request.hits_addend);
    if (!domain_known) continue;
    if (d.limit.has_value()) {
      // A caller-supplied limit replaces the configured one: a fixed window
      // of the given unit, as upstream.
      Rule& r = slot.override_rule.emplace();
      r.domain = request.domain;
      r.has_limit = true;
      r.policy = Policy::FixedWindow(d.limit->requests_per_unit, RlsUnitLength(d.limit->unit));
      r.reported = RlsRateLimit{d.limit->requests_per_unit, d.limit->unit, ""};
      std::optional<RuleMatch> match = rules->Match(request.domain, d.entries);
      r.path = match ? match->rule->path : d.entries.front().key;
      if (match) r.shadow_mode = match->rule->shadow_mode;
      slot.rule = &r;
      slot.store_key = OverrideStoreKey(request, d);
      slot.metric_key = match ? match->metric_key : r.path;
      continue;
    }
    std::optional<RuleMatch> match = rules->Match(request.domain, d.entries);
    if (!match) continue;
    slot.rule = match->rule;
    slot.store_key = RuleStoreKey(*match);
    slot.metric_key = std::move(match->metric_key);
  }

  // `replaces`: a matched limit naming another matched limit drops it.
  std::unordered_set<std::string_view> replaced;
  for (const Slot& slot : slots) {
    if (slot.rule == nullptr) continue;
    for (const std::string& name : slot.rule->replaces) replaced.insert(name);
  }
  if (!replaced.empty()) {
    for (Slot& slot : slots) {
      if (slot.rule != nullptr && !slot.rule->name.empty() && replaced.count(slot.rule->name) != 0) {
        slot.rule = nullptr;
      }
    }
  }

  std::vector<DecideRequest> calls;
  calls.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    Slot& slot = slots[i];
    if (slot.rule == nullptr || !slot.rule->has_limit || slot.rule->unlimited) continue;
    if (slot.rule->policy.limit == 0) {
      // requests_per_unit 0 bans the value: over limit, no state to keep.
      slot.cannot_fit = true;
      continue;
    }
    DecideRequest call;
    call.key = slot.store_key;
    call.policy = &slot.rule->policy;
    call.cost = slot.hits;
    call.op = slot.hits == 0 ? Operation::kPeek : Operation::kConsume;
    if (slot.hits > slot.rule->policy.limit) {
      // More than the limit can ever grant: over limit, and the state is only
      // looked at (a consume of it would be an invalid argument).
      slot.cannot_fit = true;
      call.cost = 0;
      call.op = Operation::kPeek;
    }
    slot.decided = true;
    slot.request_index = calls.size();
    calls.push_back(call);
  }

  std::vector<Decision> decisions;
  if (!calls.empty()) {
    const auto start = std::chrono::steady_clock::now();
    if (options_.all_or_nothing && calls.size() > 1) {
      Result<MultiDecision> all = options_.store->DecideAll(calls);
      options_.metrics->store_latency().Observe(std::chrono::steady_clock::now() - start);
      if (!all.ok()) return all.status();
      // When the whole is denied nothing was charged; each status still
      // shows how its own limit judged the request.
      decisions = std::move(all->decisions);
    } else {
      std::vector<Result<Decision>> results = options_.store->DecideBatch(calls);
      options_.metrics->store_latency().Observe(std::chrono::steady_clock::now() - start);
      decisions.reserve(results.size());
      for (Result<Decision>& r : results) {
        if (!r.ok()) return r.status();
        decisions.push_back(*r);
      }
    }
  }

  const int64_t now_ns = options_.clock->NowNanos();
  RlsResponse response;
  response.statuses.resize(n);
  bool any_over = false;
  size_t quota_count = 0;
  size_t quota_over = 0;
  std::vector<HeaderLimit> header_limits;
  for (size_t i = 0; i < n; ++i) {
    Slot& slot = slots[i];
    RlsDescriptorStatus& status = response.statuses[i];
    status.code = RlsCode::kOk;
    if (slot.rule == nullptr || !slot.rule->has_limit) continue;  // no limit: OK, remaining 0
    const Rule& rule = *slot.rule;
    status.current_limit = rule.reported;
    RuleCounters& counters = options_.metrics->Rule(request.domain, slot.metric_key);
    counters.hits.fetch_add(static_cast<uint64_t>(slot.hits), std::memory_order_relaxed);
    if (rule.unlimited) {
      status.limit_remaining = std::numeric_limits<uint32_t>::max();
      counters.within_limit.fetch_add(static_cast<uint64_t>(slot.hits), std::memory_order_relaxed);
      continue;
    }
    Decision banned;
    const Decision& d = slot.decided ? decisions[slot.request_index] : banned;
    const bool over = slot.cannot_fit || !d.allowed;
    status.limit_remaining = over ? 0 : ClampToUint32(d.remaining);
    status.duration_until_reset = ResetAfter(rule.policy, d, now_ns);
    if (rule.policy.interval.count() % kNanosPerSecond == 0) {
      // Whole-second windows report whole seconds, as upstream does.
      status.duration_until_reset = std::chrono::seconds(CeilSeconds(*status.duration_until_reset));
    }
    const bool quota = rule.quota_mode || options_.quota_mode;
    if (over) {
      counters.over_limit.fetch_add(static_cast<uint64_t>(slot.hits), std::memory_order_relaxed);
      if (rule.shadow_mode || options_.shadow_mode) {
        counters.shadow_mode.fetch_add(static_cast<uint64_t>(slot.hits), std::memory_order_relaxed);
      } else {
        status.code = RlsCode::kOverLimit;
        if (quota) {
          ++quota_over;
        } else {
          any_over = true;
        }
      }
    } else {
      counters.within_limit.fetch_add(static_cast<uint64_t>(slot.hits), std::memory_order_relaxed);
      const auto used = static_cast<double>(d.limit - d.remaining);
      if (used > options_.near_limit_ratio * static_cast<double>(d.limit)) {
        counters.near_limit.fetch_add(static_cast<uint64_t>(slot.hits), std::memory_order_relaxed);
      }
    }
    if (quota) ++quota_count;
    if (options_.response_headers) {
      header_limits.push_back(HeaderLimit{rule.name.empty() ? rule.path : rule.name, rule.policy.limit,
                                          WindowSeconds(rule.policy, now_ns), status.limit_remaining,
                                          CeilSeconds(*status.duration_until_reset)});
    }
  }
  // Quota-mode (soft) limits deny only together: the request is over when
  // every quota-mode descriptor in it is over.
  if (quota_count > 0 && quota_over == quota_count) any_over = true;
  response.overall_code = any_over ? RlsCode::kOverLimit : RlsCode::kOk;

  if (options_.response_headers && !header_limits.empty()) {
    std::stable_sort(header_limits.begin(), header_limits.end(),
                     [](const HeaderLimit& a, const HeaderLimit& b) { return a.remaining < b.remaining; });
    const int64_t retry = any_over ? std::max<int64_t>(1, header_limits.front().reset_seconds) : 0;
    response.response_headers_to_add = RateLimitHeaders(options_.header_mode, options_.x_ratelimit_reset_epoch,
                                                        header_limits, retry, now_ns / kNanosPerSecond);
  }

  if (options_.dynamic_metadata) {
    // The request echoed back, as envoyproxy/ratelimit fills it, plus any
    // metadata the matched rules carry.
    RlsMetadataValue root;
    root.kind = RlsMetadataValue::Kind::kObject;
    RlsMetadataValue domain;
    domain.kind = RlsMetadataValue::Kind::kString;
    domain.string_value = request.domain;
    root.object.emplace_back("domain", std::move(domain));
    RlsMetadataValue descriptors;
    descriptors.kind = RlsMetadataValue::Kind::kList;
    for (size_t i = 0; i < n; ++i) {
      RlsMetadataValue entries;
      entries.kind = RlsMetadataValue::Kind::kList;
      for (const RlsEntry& e : request.descriptors[i].entries) {
        RlsMetadataValue entry;
        entry.kind = RlsMetadataValue::Kind::kObject;
        RlsMetadataValue k, v;
        k.kind = v.kind = RlsMetadataValue::Kind::kString;
        k.string_value = e.key;
        v.string_value = e.value;
        entry.object.emplace_back("key", std::move(k));
        entry.object.emplace_back("value", std::move(v));
        entries.list.push_back(std::move(entry));
      }
      RlsMetadataValue descriptor;
      descriptor.kind = RlsMetadataValue::Kind::kObject;
      descriptor.object.emplace_back("entries", std::move(entries));
      if (slots[i].rule != nullptr && slots[i].rule->metadata.has_value()) {
        descriptor.object.emplace_back("metadata", *slots[i].rule->metadata);
      }
      descriptors.list.push_back(std::move(descriptor));
    }
    root.object.emplace_back("descriptors", std::move(descriptors));
    RlsMetadataValue hits;
    hits.kind = RlsMetadataValue::Kind::kNumber;
    hits.number_value = std::max<uint32_t>(1, request.hits_addend);
    root.object.emplace_back("hitsAddend", std::move(hits));
    response.dynamic_metadata = std::move(root);
  }
  return response;
}

void RateLimitService::ShouldRateLimit(RlsRequest request, std::function<void(Result<RlsResponse>)> done,
                                       std::string_view frontend) {
  LatencyHistogram& latency = options_.metrics->decision_latency(frontend);
  const auto start = std::chrono::steady_clock::now();
  auto answer = [this, &latency, start](const RlsRequest& req, Result<RlsResponse> result,
                                        const std::function<void(Result<RlsResponse>)>& reply) {
    latency.Observe(std::chrono::steady_clock::now() - start);
    if (result.ok() || result.status().code() == StatusCode::kInvalidArgument) {
      reply(std::move(result));
      return;
    }
    options_.metrics->Increment("sluiced_store_failures_total", {}, 1);
    if (options_.failure_mode == FailMode::kError) {
      reply(std::move(result));
    } else {
      reply(FailureResponse(req));
    }
  };
  if (!executor_) {
    Result<RlsResponse> result = ShouldRateLimitNow(request);
    answer(request, std::move(result), done);
    return;
  }
  auto shared = std::make_shared<std::pair<RlsRequest, std::function<void(Result<RlsResponse>)>>>(std::move(request),
                                                                                                 std::move(done));
  auto finished = std::make_shared<std::atomic<bool>>(false);
  Dispatch(
      [this, shared, finished, answer] {
        Result<RlsResponse> result = ShouldRateLimitNow(shared->first);
        if (!finished->exchange(true)) answer(shared->first, std::move(result), shared->second);
      },
      finished,
      [shared, answer](Status status) { answer(shared->first, Result<RlsResponse>(std::move(status)), shared->second); });
}

Result<DecideReply> RateLimitService::DecideNow(const DecideCall& call) {
  if (call.cost < 0) return InvalidArgumentError("cost must not be negative");
  DecideReply reply;
  std::string store_key;
  if (call.policy.has_value()) {
    if (call.key.empty()) return InvalidArgumentError("key must not be empty");
    if (call.key.size() > options_.limits.max_key_bytes) {
      return InvalidArgumentError(fmt::format("key is longer than {} bytes", options_.limits.max_key_bytes));
    }
    SLUICE_RETURN_IF_ERROR(call.policy->Validate());
    reply.policy = *call.policy;
    reply.policy_name = call.name.empty() ? "default" : call.name;
    store_key = "api:" + call.key;
  } else {
    RlsRequest probe;
    probe.domain = call.domain;
    probe.descriptors.push_back(RlsDescriptor{call.entries, std::nullopt, std::nullopt});
    SLUICE_RETURN_IF_ERROR(ValidateRequest(probe));
    std::shared_ptr<const RuleSet> rules = rules_.load();
    std::optional<RuleMatch> match = rules ? rules->Match(call.domain, call.entries) : std::nullopt;
    if (!match || !match->rule->has_limit || match->rule->unlimited) {
      reply.matched = match.has_value();
      if (match) reply.rule = match->rule->path;
      reply.decision.allowed = true;
      if (match && match->rule->unlimited) reply.decision.remaining = std::numeric_limits<int64_t>::max();
      if (!match) reply.matched = false;
      return reply;
    }
    reply.rule = match->rule->path;
    reply.policy = match->rule->policy;
    reply.policy_name = match->rule->name.empty() ? match->rule->path : match->rule->name;
    store_key = RuleStoreKey(*match);
    RuleCounters& counters = options_.metrics->Rule(call.domain, match->metric_key);
    const auto start = std::chrono::steady_clock::now();
    Result<Decision> d = options_.store->Decide(DecideRequest{store_key, &reply.policy, call.cost, call.op});
    options_.metrics->store_latency().Observe(std::chrono::steady_clock::now() - start);
    if (!d.ok()) return d.status();
    reply.decision = *d;
    if (call.op == Operation::kConsume) {
      counters.hits.fetch_add(static_cast<uint64_t>(call.cost), std::memory_order_relaxed);
      if (!d->allowed) {
        counters.over_limit.fetch_add(static_cast<uint64_t>(call.cost), std::memory_order_relaxed);
        if (match->rule->shadow_mode || options_.shadow_mode) {
          counters.shadow_mode.fetch_add(static_cast<uint64_t>(call.cost), std::memory_order_relaxed);
          reply.decision.allowed = true;
          reply.decision.shadow_denied = true;
        }
      } else {
        counters.within_limit.fetch_add(static_cast<uint64_t>(call.cost), std::memory_order_relaxed);
      }
    }
    reply.decision.reset_after = ResetAfter(reply.policy, reply.decision, options_.clock->NowNanos());
    return reply;
  }
  const auto start = std::chrono::steady_clock::now();
  Result<Decision> d = options_.store->Decide(DecideRequest{store_key, &reply.policy, call.cost, call.op});
  options_.metrics->store_latency().Observe(std::chrono::steady_clock::now() - start);
  if (!d.ok()) return d.status();
  reply.decision = *d;
  if (!d->allowed && options_.shadow_mode && call.op == Operation::kConsume) {
    reply.decision.allowed = true;
    reply.decision.shadow_denied = true;
  }
  reply.decision.reset_after = ResetAfter(reply.policy, reply.decision, options_.clock->NowNanos());
  return reply;
}

void RateLimitService::Decide(DecideCall call, std::function<void(Result<DecideReply>)> done) {
  LatencyHistogram& latency = options_.metrics->decision_latency("http");
  const auto start = std::chrono::steady_clock::now();
  auto answer = [this, &latency, start](Result<DecideReply> result, const std::function<void(Result<DecideReply>)>& reply) {
    latency.Observe(std::chrono::steady_clock::now() - start);
    if (result.ok() || result.status().code() == StatusCode::kInvalidArgument ||
        options_.failure_mode == FailMode::kError) {
      if (!result.ok() && result.status().code() != StatusCode::kInvalidArgument) {
        options_.metrics->Increment("sluiced_store_failures_total", {}, 1);
      }
      reply(std::move(result));
      return;
    }
    options_.metrics->Increment("sluiced_store_failures_total", {}, 1);
    DecideReply degraded;
    degraded.decision.allowed = options_.failure_mode != FailMode::kClosed;
    degraded.decision.degraded = true;
    reply(std::move(degraded));
  };
  if (!executor_) {
    answer(DecideNow(call), done);
    return;
  }
  auto shared = std::make_shared<std::pair<DecideCall, std::function<void(Result<DecideReply>)>>>(std::move(call),
                                                                                                 std::move(done));
  auto finished = std::make_shared<std::atomic<bool>>(false);
  Dispatch(
      [this, shared, finished, answer] {
        Result<DecideReply> result = DecideNow(shared->first);
        if (!finished->exchange(true)) answer(std::move(result), shared->second);
      },
      finished, [shared, answer](Status status) { answer(Result<DecideReply>(std::move(status)), shared->second); });
}

Status RateLimitService::StoreHealth() {
  if (!executor_) return options_.store->Health();
  // Readiness must not hang on a hung store either: ask on a worker, answer
  // at the deadline.
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> future = promise->get_future();
  auto finished = std::make_shared<std::atomic<bool>>(false);
  Dispatch(
      [this, promise, finished] {
        Status s = options_.store->Health();
        if (!finished->exchange(true)) promise->set_value(std::move(s));
      },
      finished, [promise](Status s) { promise->set_value(std::move(s)); });
  return future.get();
}

}  // namespace sluice::daemon

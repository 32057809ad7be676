// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/rate_limiter.h"

#include <algorithm>
#include <string>
#include <vector>

#include "sluice/duration.h"
#include "util/json.h"

namespace sluice {
namespace {

void AppendEscaped(std::string& out, std::string_view part) {
  for (char c : part) {
    switch (c) {
      case '%': out += "%25"; break;
      case ':': out += "%3A"; break;
      case '{': out += "%7B"; break;
      case '}': out += "%7D"; break;
      default: out += c;
    }
  }
}

}  // namespace

std::string StoreKey(std::string_view prefix, std::string_view id, std::string_view key) {
  std::string out;
  out.reserve(prefix.size() + id.size() + key.size() + 5);
  AppendEscaped(out, prefix);
  out += ':';
  AppendEscaped(out, id);
  out += ":{";
  // Redis ignores an empty tag "{}"; a lone '%' never results from escaping.
  if (key.empty()) {
    out += '%';
  } else {
    AppendEscaped(out, key);
  }
  out += '}';
  return out;
}

Result<std::unique_ptr<RateLimiter>> RateLimiter::Create(RateLimiterOptions options) {
  if (options.store == nullptr) return InvalidArgumentError("RateLimiterOptions.store is required");
  SLUICE_RETURN_IF_ERROR(options.policy.Validate());
  return std::unique_ptr<RateLimiter>(new RateLimiter(std::move(options)));
}

std::string RateLimiter::StoreKeyFor(std::string_view key) const {
  return StoreKey(options_.prefix, options_.name, key);
}

Result<Decision> RateLimiter::Run(std::string_view key, int64_t cost, Operation op) {
  const std::string store_key = StoreKeyFor(key);
  SLUICE_ASSIGN_OR_RETURN(Decision d, options_.store->Decide(DecideRequest{store_key, &options_.policy, cost, op}));
  if (options_.shadow_mode && op == Operation::kConsume && !d.allowed) {
    d.allowed = true;
    d.shadow_denied = true;
    d.retry_after = std::chrono::nanoseconds(0);
  }
  return d;
}

Result<Decision> RateLimiter::TryAcquire(std::string_view key, int64_t cost) {
  return Run(key, cost, Operation::kConsume);
}

Result<Decision> RateLimiter::Acquire(std::string_view key, int64_t cost, std::chrono::nanoseconds max_wait) {
  if (max_wait.count() < 0) return InvalidArgumentError("Acquire: max_wait must not be negative");
  Clock& clock = options_.store->clock();
  // The budget is measured on the clock rather than summed from the waits, so
  // time spent in the store and oversleeping count against it too.
  const Clock::Monotonic start = clock.MonotonicNow();
  for (;;) {
    SLUICE_ASSIGN_OR_RETURN(Decision d, TryAcquire(key, cost));
    if (d.allowed) return d;
    // A denial without a wait (a store that cannot predict one) would
    // otherwise be retried in a busy loop that never uses up max_wait.
    const std::chrono::nanoseconds wait = std::max(d.retry_after, kMinAcquireWait);
    const std::chrono::nanoseconds elapsed = clock.MonotonicNow() - start;
    if (elapsed > max_wait || wait > max_wait - elapsed) return d;
    clock.SleepFor(wait);
  }
}

Result<Decision> RateLimiter::Peek(std::string_view key, int64_t cost) { return Run(key, cost, Operation::kPeek); }

Result<std::chrono::nanoseconds> RateLimiter::Reserve(std::string_view key, int64_t cost) {
  SLUICE_ASSIGN_OR_RETURN(Decision d, Run(key, cost, Operation::kPeek));
  return d.retry_after;
}

Result<Decision> RateLimiter::Refund(std::string_view key, int64_t units) {
  return Run(key, units, Operation::kRefund);
}

Status RateLimiter::Reset(std::string_view key) { return Run(key, 0, Operation::kReset).status(); }

Result<MultiDecision> TryAcquireAll(std::span<RateLimiter* const> limiters, std::string_view key, int64_t cost) {
  if (limiters.empty()) return InvalidArgumentError("TryAcquireAll: no limiters");
  Store* store = limiters[0]->options_.store.get();
  std::vector<std::string> keys;
  keys.reserve(limiters.size());
  for (RateLimiter* l : limiters) {
    if (l->options_.store.get() != store) return InvalidArgumentError("TryAcquireAll: limiters use different stores");
    keys.push_back(l->StoreKeyFor(key));
  }
  // Limits still taking part in the all-or-nothing call, by index.
  std::vector<size_t> active(limiters.size());
  for (size_t i = 0; i < active.size(); ++i) active[i] = i;
  MultiDecision out;
  out.decisions.resize(limiters.size());
  std::vector<DecideRequest> requests;
  // A shadow limiter must never deny. When only shadow limiters would deny,
  // they leave the call (charged nothing, as a denied consume is) with their
  // would-be denial marked, and the rest is decided again, all or nothing. Each
  // round removes at least one limiter, so this ends.
  for (;;) {
    if (active.empty()) {
      out.allowed = true;
      return out;
    }
    requests.clear();
    for (size_t i : active) {
      requests.push_back(DecideRequest{keys[i], &limiters[i]->options_.policy, cost, Operation::kConsume});
    }
    SLUICE_ASSIGN_OR_RETURN(MultiDecision round, store->DecideAll(requests));
    bool enforced_denied = false;
    bool shadow_denied = false;
    for (size_t j = 0; j < active.size(); ++j) {
      Decision& d = round.decisions[j];
      if (d.allowed) continue;
      if (limiters[active[j]]->options_.shadow_mode) {
        shadow_denied = true;
        d.allowed = true;
        d.shadow_denied = true;
        d.retry_after = std::chrono::nanoseconds(0);
      } else {
        enforced_denied = true;
      }
    }
    for (size_t j = 0; j < active.size(); ++j) out.decisions[active[j]] = round.decisions[j];
    if (round.allowed || enforced_denied || !shadow_denied) {
      out.allowed = round.allowed;
      return out;
    }
    std::erase_if(active, [&](size_t i) { return out.decisions[i].shadow_denied; });
  }
}

Result<Policy> LimiterConfig::ToPolicy() const {
  SLUICE_ASSIGN_OR_RETURN(const Algorithm algorithm, ParseAlgorithm(policy));
  if (id.empty()) return InvalidArgumentError("limiter config: id is required");
  Result<std::chrono::nanoseconds> interval = ParseDuration(rate.interval);
  if (!interval.ok()) return interval.status().WithContext("limiter config: rate.interval");
  SLUICE_ASSIGN_OR_RETURN(const WindowAlignment align, ParseWindowAlignment(alignment));
  Policy p;
  switch (algorithm) {
    case Algorithm::kTokenBucket: p = Policy::TokenBucket(limit, rate.amount, *interval); break;
    case Algorithm::kGcra: p = Policy::Gcra(limit, rate.amount, *interval); break;
    case Algorithm::kFixedWindow:
      p = align == WindowAlignment::kEpoch ? Policy::FixedWindow(limit, *interval) : Policy::CalendarWindow(limit, align);
      break;
    case Algorithm::kSlidingWindowLog: p = Policy::SlidingWindowLog(limit, *interval); break;
    case Algorithm::kSlidingWindowCounter: p = Policy::SlidingWindowCounter(limit, *interval); break;
  }
  const bool windowed = algorithm != Algorithm::kTokenBucket && algorithm != Algorithm::kGcra;
  if (windowed && rate.amount != 0 && rate.amount != limit) {
    return InvalidArgumentError("limiter config: rate.amount " + std::to_string(rate.amount) + " conflicts with limit " +
                                std::to_string(limit) + "; a " + policy +
                                " admits `limit` per rate.interval (leave amount 0)");
  }
  if (algorithm != Algorithm::kFixedWindow && align != WindowAlignment::kEpoch) {
    return InvalidArgumentError("limiter config: alignment \"" + alignment + "\" applies only to fixed_window");
  }
  Status valid = p.Validate();
  if (!valid.ok()) return valid.WithContext("limiter config \"" + id + "\"");
  return p;
}

Result<LimiterConfig> LimiterConfig::FromJson(std::string_view json) {
  using internal::JsonObjectReader;
  SLUICE_ASSIGN_OR_RETURN(const internal::Json root, internal::ParseJson(json));
  SLUICE_ASSIGN_OR_RETURN(JsonObjectReader reader, JsonObjectReader::Create(root, "config"));
  LimiterConfig config;
  SLUICE_ASSIGN_OR_RETURN(config.policy, reader.GetString("policy"));
  SLUICE_ASSIGN_OR_RETURN(config.id, reader.GetString("id"));
  SLUICE_ASSIGN_OR_RETURN(config.limit, reader.GetInt("limit"));
  SLUICE_ASSIGN_OR_RETURN(const internal::Json* rate, reader.GetObject("rate"));
  SLUICE_ASSIGN_OR_RETURN(JsonObjectReader rate_reader, JsonObjectReader::Create(*rate, "config.rate"));
  SLUICE_ASSIGN_OR_RETURN(config.rate.interval, rate_reader.GetString("interval"));
  SLUICE_ASSIGN_OR_RETURN(std::optional<int64_t> amount, rate_reader.GetOptionalInt("amount"));
  config.rate.amount = amount.value_or(0);
  SLUICE_RETURN_IF_ERROR(rate_reader.CheckNoUnknownFields());
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> alignment, reader.GetOptionalString("alignment"));
  if (alignment) config.alignment = *alignment;
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> prefix, reader.GetOptionalString("prefix"));
  if (prefix) config.prefix = *prefix;
  if (const internal::Json* shadow = reader.Get("shadowMode")) {
    if (!shadow->is_bool()) return reader.FieldError("shadowMode", "expected true or false");
    config.shadow_mode = shadow->as_bool();
  }
  SLUICE_RETURN_IF_ERROR(reader.CheckNoUnknownFields());
  SLUICE_RETURN_IF_ERROR(config.ToPolicy().status());
  return config;
}

Result<std::unique_ptr<LimiterFactory>> LimiterFactory::Create(const LimiterConfig& config,
                                                               std::shared_ptr<Store> store) {
  SLUICE_ASSIGN_OR_RETURN(Policy policy, config.ToPolicy());
  RateLimiterOptions options;
  options.store = std::move(store);
  options.policy = policy;
  options.name = config.id;
  options.prefix = config.prefix;
  options.shadow_mode = config.shadow_mode;
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<RateLimiter> limiter, RateLimiter::Create(std::move(options)));
  return std::unique_ptr<LimiterFactory>(new LimiterFactory(std::move(limiter)));
}

KeyedLimiter LimiterFactory::Create(std::string_view key) const { return KeyedLimiter(*limiter_, std::string(key)); }

}  // namespace sluice

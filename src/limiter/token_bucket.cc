// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/token_bucket.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

#include "algo/int_math.h"
#include "util/json.h"

namespace sluice {
namespace {

using internal::Json;
using internal::JsonObjectReader;

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr int64_t kNanosPerMilli = 1'000'000;
constexpr std::chrono::nanoseconds kMaxFuture = std::chrono::minutes(5);
// The largest refill rate FromJson derives from a bare refillRate (the
// largest refill amount a policy takes, per second).
constexpr double kMaxRatePerSecond = 1e15;
// A fractional refillRate without the exact extras is read to this many decimals.
constexpr int kRateDecimals = 6;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// "2024-01-01T00:00:00.000Z" for epoch milliseconds (proleptic Gregorian, UTC;
// Howard Hinnant's civil_from_days).
std::string IsoUtc(int64_t epoch_ms) {
  const int64_t days = FloorDiv(epoch_ms, 86'400'000);
  const int64_t ms_of_day = epoch_ms - days * 86'400'000;
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2);
  char buf[128];
  std::snprintf(buf, sizeof(buf), "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ", static_cast<long long>(year),
                static_cast<long long>(month), static_cast<long long>(day),
                static_cast<long long>(ms_of_day / 3'600'000), static_cast<long long>(ms_of_day / 60'000 % 60),
                static_cast<long long>(ms_of_day / 1000 % 60), static_cast<long long>(ms_of_day % 1000));
  return buf;
}

// Tokens per second as JSON: an integer when exact, otherwise the nearest double.
Json RateJson(const Policy& p) {
  const internal::int128 per_second = internal::int128{p.refill_amount} * kNanosPerSecond;
  if (per_second % p.interval.count() == 0) {
    return Json::Int(static_cast<int64_t>(per_second / p.interval.count()));
  }
  return Json::Double(static_cast<double>(p.refill_amount) * 1e9 / static_cast<double>(p.interval.count()));
}

bool RatesAgree(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::fabs(b)); }

// The refill amount and interval for a bare tokens-per-second rate: the
// smallest power of ten of seconds that makes the amount whole (up to
// kRateDecimals), reduced to lowest terms in whole seconds.
Result<std::pair<int64_t, int64_t>> RateToRatio(JsonObjectReader& r, double rate) {
  if (!(rate > 0) || !std::isfinite(rate)) {
    return r.FieldError("refillRate", "must be a positive number, got " + internal::WriteJson(Json::Double(rate)));
  }
  if (rate > kMaxRatePerSecond) {
    return r.FieldError("refillRate", "exceeds the maximum of 1e15 tokens per second");
  }
  int64_t amount = 0;
  int64_t seconds = 1;
  for (int k = 0; k <= kRateDecimals; ++k, seconds *= 10) {
    const double scaled = rate * static_cast<double>(seconds);
    if (k == kRateDecimals || RatesAgree(std::nearbyint(scaled), scaled)) {
      amount = std::llround(scaled);
      break;
    }
  }
  if (amount < 1) {
    return r.FieldError("refillRate", "is below 0.000001 tokens per second; give refillAmount and refillIntervalNs");
  }
  // 2.5/s is 5 per 2 s, not 25 per 10 s.
  const int64_t g = std::gcd(amount, seconds);
  return std::make_pair(amount / g, seconds / g * kNanosPerSecond);
}

// Reads a required non-negative number of milliseconds as nanoseconds.
Result<int64_t> MillisToNanos(JsonObjectReader& r, std::string_view name, const Json& v) {
  if (!v.is_number()) return r.FieldError(name, "expected a number, got " + std::string(Json::TypeName(v.type())));
  if (v.as_number() < 0) return r.FieldError(name, "must not be negative, got " + internal::WriteJson(v));
  // Beyond about year 2262 nanoseconds leave int64.
  constexpr int64_t kMaxMillis = std::numeric_limits<int64_t>::max() / kNanosPerMilli;
  if (v.as_number() > static_cast<double>(kMaxMillis)) return r.FieldError(name, "is too far in the future");
  if (v.is_int()) return v.as_int() * kNanosPerMilli;
  return static_cast<int64_t>(std::floor(v.as_double() * static_cast<double>(kNanosPerMilli)));
}

}  // namespace

Result<TokenBucket> TokenBucket::Create(int64_t capacity, int64_t refill_per_second, Clock* clock) {
  return Create(capacity, refill_per_second, std::chrono::seconds(1), clock);
}

Result<TokenBucket> TokenBucket::Create(int64_t capacity, int64_t refill_amount,
                                        std::chrono::nanoseconds refill_interval, Clock* clock) {
  if (capacity <= 0) return InvalidArgumentError("TokenBucket: capacity must be positive, got " + std::to_string(capacity));
  if (refill_amount <= 0) {
    return InvalidArgumentError("TokenBucket: refill amount must be positive, got " + std::to_string(refill_amount));
  }
  if (refill_interval.count() <= 0) {
    return InvalidArgumentError("TokenBucket: refill interval must be positive, got " +
                                std::to_string(refill_interval.count()) + "ns");
  }
  const Policy policy = Policy::TokenBucket(capacity, refill_amount, refill_interval);
  if (Status s = policy.Validate(); !s.ok()) return InvalidArgumentError("TokenBucket: " + std::string(s.message()));
  if (clock == nullptr) clock = &Clock::Real();
  return TokenBucket(policy, TokenBucketState{capacity, 0, clock->NowNanos()}, clock);
}

Result<TokenBucket> TokenBucket::FromJson(std::string_view json, Clock* clock) {
  if (clock == nullptr) clock = &Clock::Real();
  const int64_t now_ns = clock->NowNanos();
  Result<Json> doc = internal::ParseJson(json);
  if (!doc.ok()) return InvalidArgumentError("TokenBucket state: " + std::string(doc.status().message()));
  SLUICE_ASSIGN_OR_RETURN(JsonObjectReader r, JsonObjectReader::Create(*doc, "TokenBucket"));

  if (const Json* version = r.Get("version")) {
    if (!version->is_int()) return r.FieldError("version", "expected an integer");
    if (version->as_int() != kStateVersion) {
      return InvalidArgumentError("unsupported TokenBucket state version " + std::to_string(version->as_int()) +
                                  "; this build reads " + std::to_string(kStateVersion));
    }
  }
  if (const Json* metadata = r.Get("metadata")) {
    SLUICE_ASSIGN_OR_RETURN(JsonObjectReader m, JsonObjectReader::Create(*metadata, "TokenBucket.metadata"));
    SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> class_name, m.GetOptionalString("className"));
    if (class_name.has_value() && *class_name != "TokenBucket") {
      return m.FieldError("className", "is \"" + *class_name + "\", expected \"TokenBucket\"");
    }
  }

  SLUICE_ASSIGN_OR_RETURN(int64_t capacity, r.GetInt("capacity"));
  if (capacity <= 0) return r.FieldError("capacity", "must be positive, got " + std::to_string(capacity));

  // The rate: exact from the extras when present, else from refillRate.
  SLUICE_ASSIGN_OR_RETURN(const Json* rate_json, r.GetRequired("refillRate"));
  if (!rate_json->is_number()) {
    return r.FieldError("refillRate", "expected a number, got " + std::string(Json::TypeName(rate_json->type())));
  }
  const double rate = rate_json->as_number();
  if (!(rate > 0)) return r.FieldError("refillRate", "must be positive, got " + internal::WriteJson(*rate_json));
  SLUICE_ASSIGN_OR_RETURN(std::optional<int64_t> amount, r.GetOptionalInt("refillAmount"));
  SLUICE_ASSIGN_OR_RETURN(std::optional<int64_t> interval_ns, r.GetOptionalInt("refillIntervalNs"));
  if (amount.has_value() != interval_ns.has_value()) {
    return InvalidArgumentError("TokenBucket: refillAmount and refillIntervalNs go together; got only one");
  }
  if (amount.has_value()) {
    if (*amount <= 0) return r.FieldError("refillAmount", "must be positive, got " + std::to_string(*amount));
    if (*interval_ns <= 0) {
      return r.FieldError("refillIntervalNs", "must be positive, got " + std::to_string(*interval_ns));
    }
    const double exact = static_cast<double>(*amount) * 1e9 / static_cast<double>(*interval_ns);
    if (!RatesAgree(rate, exact)) {
      return r.FieldError("refillRate", internal::WriteJson(*rate_json) + " disagrees with refillAmount " +
                                            std::to_string(*amount) + " per refillIntervalNs " +
                                            std::to_string(*interval_ns));
    }
  } else {
    SLUICE_ASSIGN_OR_RETURN(auto ratio, RateToRatio(r, rate));
    amount = ratio.first;
    interval_ns = ratio.second;
  }
  const Policy policy = Policy::TokenBucket(capacity, *amount, std::chrono::nanoseconds(*interval_ns));
  if (Status s = policy.Validate(); !s.ok()) return InvalidArgumentError("TokenBucket: " + std::string(s.message()));

  TokenBucketState state;
  SLUICE_ASSIGN_OR_RETURN(const Json* tokens, r.GetRequired("tokens"));
  if (!tokens->is_number()) {
    return r.FieldError("tokens", "expected a number, got " + std::string(Json::TypeName(tokens->type())));
  }
  if (tokens->as_number() < 0) return r.FieldError("tokens", "must not be negative, got " + internal::WriteJson(*tokens));
  if (tokens->as_number() > static_cast<double>(capacity) || (tokens->is_int() && tokens->as_int() > capacity)) {
    return r.FieldError("tokens", internal::WriteJson(*tokens) + " exceeds capacity " + std::to_string(capacity));
  }
  // The seed keeps fractional tokens; sluice counts whole ones (rounded down).
  state.tokens = tokens->is_int() ? tokens->as_int() : static_cast<int64_t>(std::floor(tokens->as_double()));

  SLUICE_ASSIGN_OR_RETURN(std::optional<int64_t> remainder, r.GetOptionalInt("remainder"));
  if (remainder.has_value()) {
    if (!tokens->is_int()) return r.FieldError("tokens", "must be an integer when remainder is given");
    if (*remainder < 0 || *remainder >= *interval_ns) {
      return r.FieldError("remainder", std::to_string(*remainder) + " is outside [0, refillIntervalNs)");
    }
    state.remainder = *remainder;
  }

  SLUICE_ASSIGN_OR_RETURN(const Json* last_refill, r.GetRequired("lastRefill"));
  SLUICE_ASSIGN_OR_RETURN(state.updated_ns, MillisToNanos(r, "lastRefill", *last_refill));
  SLUICE_ASSIGN_OR_RETURN(std::optional<int64_t> last_refill_ns, r.GetOptionalInt("lastRefillNs"));
  if (last_refill_ns.has_value()) {
    if (FloorDiv(*last_refill_ns, kNanosPerMilli) != FloorDiv(state.updated_ns, kNanosPerMilli)) {
      return r.FieldError("lastRefillNs", std::to_string(*last_refill_ns) + " disagrees with lastRefill " +
                                              internal::WriteJson(*last_refill));
    }
    state.updated_ns = *last_refill_ns;
  }
  if (state.updated_ns > now_ns && state.updated_ns - now_ns > kMaxFuture.count()) {
    return r.FieldError("lastRefill", internal::WriteJson(*last_refill) + " is " +
                                          std::to_string((state.updated_ns - now_ns) / kNanosPerMilli) +
                                          " ms in the future (more than 5 minutes ahead of this clock)");
  }
  if (const Json* timestamp = r.Get("timestamp"); timestamp != nullptr && !timestamp->is_number()) {
    return r.FieldError("timestamp", "expected a number, got " + std::string(Json::TypeName(timestamp->type())));
  }

  // The algorithm's own check, as a store would run it on import.
  if (Status s = ValidateState(policy, state, now_ns, kMaxFuture); !s.ok()) {
    return InvalidArgumentError("TokenBucket: " + std::string(s.message()));
  }
  return TokenBucket(policy, state, clock);
}

TokenBucket::TokenBucket(TokenBucket&& other) noexcept {
  std::lock_guard<std::mutex> lock(other.mu_);
  policy_ = other.policy_;
  state_ = std::move(other.state_);
  clock_ = other.clock_;
}

TokenBucket& TokenBucket::operator=(TokenBucket&& other) noexcept {
  if (this == &other) return *this;
  std::scoped_lock lock(mu_, other.mu_);
  policy_ = other.policy_;
  state_ = std::move(other.state_);
  clock_ = other.clock_;
  return *this;
}

bool TokenBucket::Allow(int64_t n) {
  if (n <= 0 || n > policy_.limit) return false;
  Result<Decision> d = TryConsume(n);
  return d.ok() && d->allowed;
}

Result<Decision> TokenBucket::TryConsume(int64_t n) {
  if (n <= 0) return InvalidArgumentError("TokenBucket: cost must be positive, got " + std::to_string(n));
  if (n > policy_.limit) {
    return InvalidArgumentError("TokenBucket: cost " + std::to_string(n) + " exceeds capacity " +
                                std::to_string(policy_.limit) + " and could never be allowed");
  }
  std::lock_guard<std::mutex> lock(mu_);
  SLUICE_ASSIGN_OR_RETURN(Evaluation eval, Evaluate(policy_, state_, Operation::kConsume, n, clock_->NowNanos()));
  return eval.decision;
}

TokenBucketState TokenBucket::StateNowLocked(int64_t now_ns) const {
  // Consuming nothing refills the copy up to now and changes nothing else.
  std::optional<LimiterState> copy = state_;
  Evaluate(policy_, copy, Operation::kConsume, 0, now_ns).status().IgnoreError();  // cannot fail: valid policy
  return std::get<TokenBucketState>(*copy);
}

int64_t TokenBucket::Available() const {
  std::lock_guard<std::mutex> lock(mu_);
  return StateNowLocked(clock_->NowNanos()).tokens;
}

std::string TokenBucket::ToJson(bool pretty) const {
  const int64_t now_ns = clock_->NowNanos();
  TokenBucketState s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = StateNowLocked(now_ns);
  }
  const int64_t now_ms = FloorDiv(now_ns, kNanosPerMilli);
  Json metadata = Json::MakeObject();
  metadata.Set("serializedAt", Json::String(IsoUtc(now_ms)));
  metadata.Set("className", Json::String("TokenBucket"));
  Json o = Json::MakeObject();
  o.Set("version", Json::Int(kStateVersion));
  o.Set("capacity", Json::Int(policy_.limit));
  o.Set("tokens", Json::Int(s.tokens));
  o.Set("refillRate", RateJson(policy_));
  o.Set("lastRefill", Json::Int(FloorDiv(s.updated_ns, kNanosPerMilli)));
  o.Set("timestamp", Json::Int(now_ms));
  o.Set("metadata", std::move(metadata));
  o.Set("refillAmount", Json::Int(policy_.refill_amount));
  o.Set("refillIntervalNs", Json::Int(policy_.interval.count()));
  o.Set("remainder", Json::Int(s.remainder));
  o.Set("lastRefillNs", Json::Int(s.updated_ns));
  return internal::WriteJson(o, pretty);
}

TokenBucket TokenBucket::Clone() const {
  std::lock_guard<std::mutex> lock(mu_);
  return TokenBucket(policy_, std::get<TokenBucketState>(*state_), clock_);
}

}  // namespace sluice

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/decide_call.h"

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/plain_json.h"
#include "sluice/rate_limiter.h"
#include "sluice/status.h"
#include "util/json.h"

namespace sluice::daemon {
namespace {

using internal::Json;
using internal::JsonObjectReader;

// What a body says, before the meaning is checked: views into the body (fast
// pass) or into the parsed tree (strict parser). Both parsers fill it and one
// function (BuildCall) turns it into a call, so the two cannot disagree about
// defaults, semantics or the order of errors.
struct LimitFields {
  std::optional<std::string_view> algorithm;
  int64_t limit = 0;
  std::optional<std::string_view> period;
  std::optional<int64_t> refill;
  std::optional<std::string_view> alignment;
};

struct DecideFields {
  std::optional<std::string_view> key;
  std::optional<std::string_view> name;
  std::optional<std::string_view> domain;
  std::optional<std::string_view> operation;
  std::optional<int64_t> cost;
  bool has_limit = false;
  bool has_entries = false;
  bool entries_is_array = false;
  // The entries up to the first bad one, and what is wrong with it: reported
  // only once the enclosing object's own checks have passed.
  std::vector<RlsEntry> entries;
  Status entries_error;
};

Result<Policy> PolicyFromFields(const LimitFields& f) {
  // The limiter config's own conversion decides what a policy is; this only
  // supplies the defaults of the HTTP form (fixed window; refill = limit).
  LimiterConfig config;
  config.id = "v1/decide";
  config.policy = std::string(f.algorithm.value_or("fixed_window"));
  config.limit = f.limit;
  config.alignment = std::string(f.alignment.value_or("epoch"));
  SLUICE_ASSIGN_OR_RETURN(const Algorithm algorithm, ParseAlgorithm(config.policy));
  const bool calendar = algorithm == Algorithm::kFixedWindow && config.alignment != "epoch";
  if (!f.period && !calendar) return InvalidArgumentError("limit.period: required field is missing");
  // A calendar window's length comes from its alignment; the interval is unused.
  config.rate.interval = std::string(f.period.value_or("1s"));
  const bool refills = algorithm == Algorithm::kTokenBucket || algorithm == Algorithm::kGcra;
  config.rate.amount = refills ? f.refill.value_or(f.limit) : f.refill.value_or(0);
  Result<Policy> policy = config.ToPolicy();
  if (!policy.ok()) return InvalidArgumentError("limit: " + std::string(policy.status().message()));
  return *policy;
}

// `policy()` yields the limit's policy or its error; it is asked only when
// the body names a key and a limit, after every check before it. Takes the
// entries out of `f`.
template <class PolicyFn>
Result<DecideCall> BuildCall(DecideFields& f, PolicyFn&& policy) {
  DecideCall call;
  if (f.cost) call.cost = *f.cost;
  if (call.cost < 0) return InvalidArgumentError("request.cost must not be negative");
  if (f.operation) {
    const std::string_view op = *f.operation;
    if (op == "consume") {
      call.op = Operation::kConsume;
    } else if (op == "peek") {
      call.op = Operation::kPeek;
    } else if (op == "refund") {
      call.op = Operation::kRefund;
    } else if (op == "reset") {
      call.op = Operation::kReset;
    } else {
      return InvalidArgumentError("request.operation must be consume, peek, refund or reset, not \"" +
                                  std::string(op) + "\"");
    }
  }
  if (f.domain) {
    if (f.key || f.has_limit) {
      return InvalidArgumentError("request: give either key and limit, or domain and entries, not both");
    }
    if (!f.has_entries || !f.entries_is_array) {
      return InvalidArgumentError(
          "request.entries: an array of {\"key\", \"value\"} is required with domain");
    }
    SLUICE_RETURN_IF_ERROR(f.entries_error);
    call.domain = std::string(*f.domain);
    call.entries = std::move(f.entries);
    return call;
  }
  if (!f.key) return InvalidArgumentError("request: key and limit (or domain and entries) are required");
  if (!f.has_limit) return InvalidArgumentError("request.limit is required with key");
  call.key = std::string(*f.key);
  SLUICE_ASSIGN_OR_RETURN(call.policy, policy());
  if (f.name) call.name = std::string(*f.name);
  return call;
}

// ---- the strict parser -------------------------------------------------------

Result<LimitFields> LimitFieldsFromJson(const Json& value) {
  SLUICE_ASSIGN_OR_RETURN(JsonObjectReader r, JsonObjectReader::Create(value, "limit"));
  LimitFields f;
  SLUICE_ASSIGN_OR_RETURN(f.algorithm, r.GetOptionalStringView("algorithm"));
  SLUICE_ASSIGN_OR_RETURN(f.limit, r.GetInt("limit"));
  SLUICE_ASSIGN_OR_RETURN(f.period, r.GetOptionalStringView("period"));
  SLUICE_ASSIGN_OR_RETURN(f.refill, r.GetOptionalInt("refill"));
  SLUICE_ASSIGN_OR_RETURN(f.alignment, r.GetOptionalStringView("alignment"));
  SLUICE_RETURN_IF_ERROR(r.CheckNoUnknownFields());
  return f;
}

Status EntriesFromJson(const Json& entries, std::vector<RlsEntry>* out) {
  for (const Json& e : entries.as_array()) {
    SLUICE_ASSIGN_OR_RETURN(JsonObjectReader er, JsonObjectReader::Create(e, "request.entries[]"));
    SLUICE_ASSIGN_OR_RETURN(std::string k, er.GetString("key"));
    SLUICE_ASSIGN_OR_RETURN(std::optional<std::string_view> v, er.GetOptionalStringView("value"));
    SLUICE_RETURN_IF_ERROR(er.CheckNoUnknownFields());
    out->push_back(RlsEntry{std::move(k), std::string(v.value_or(""))});
  }
  return Status::Ok();
}

// ---- the fast pass -----------------------------------------------------------

// A field given twice is a strict-parser error, so `once` gives up on it.
bool ReadStringOnce(PlainJsonScanner& s, std::optional<std::string_view>* field) {
  std::string_view v;
  if (field->has_value() || !s.String(&v)) return false;
  *field = v;
  return true;
}
bool ReadIntOnce(PlainJsonScanner& s, std::optional<int64_t>* field) {
  int64_t v = 0;
  if (field->has_value() || !s.Int(&v)) return false;
  *field = v;
  return true;
}

bool ScanLimit(PlainJsonScanner& s, LimitFields* f) {
  std::optional<int64_t> limit;
  const bool ok = s.Object([&](std::string_view name) {
    if (name == "algorithm") return ReadStringOnce(s, &f->algorithm);
    if (name == "limit") return ReadIntOnce(s, &limit);
    if (name == "period") return ReadStringOnce(s, &f->period);
    if (name == "refill") return ReadIntOnce(s, &f->refill);
    if (name == "alignment") return ReadStringOnce(s, &f->alignment);
    return false;
  });
  if (!ok || !limit) return false;
  f->limit = *limit;
  return true;
}

bool ScanEntry(PlainJsonScanner& s, std::vector<RlsEntry>* entries) {
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
  const bool ok = s.Object([&](std::string_view name) {
    if (name == "key") return ReadStringOnce(s, &key);
    if (name == "value") return ReadStringOnce(s, &value);
    return false;
  });
  if (!ok || !key) return false;
  entries->push_back(RlsEntry{std::string(*key), std::string(value.value_or(""))});
  return true;
}

// Fills `f`, `limit` and `limit_text` (the limit object's bytes) from a body
// in the plain subset; false for any other body.
bool ScanDecideBody(std::string_view body, DecideFields* f, LimitFields* limit,
                    std::string_view* limit_text) {
  PlainJsonScanner s(body);
  const bool ok = s.Object([&](std::string_view name) {
    if (name == "key") return ReadStringOnce(s, &f->key);
    if (name == "limit") {
      if (f->has_limit) return false;
      f->has_limit = true;
      s.SkipSpace();
      const char* start = s.position();
      if (!ScanLimit(s, limit)) return false;
      *limit_text = std::string_view(start, static_cast<size_t>(s.position() - start));
      return true;
    }
    if (name == "name") return ReadStringOnce(s, &f->name);
    if (name == "domain") return ReadStringOnce(s, &f->domain);
    if (name == "entries") {
      if (f->has_entries) return false;
      f->has_entries = f->entries_is_array = true;
      return s.Array([&] { return ScanEntry(s, &f->entries); });
    }
    if (name == "cost") return ReadIntOnce(s, &f->cost);
    if (name == "operation") return ReadStringOnce(s, &f->operation);
    return false;
  });
  return ok && s.AtEnd();
}

// The policies of the limit objects this thread saw last, by their exact
// text. Only valid policies are kept, and only for short texts, so the cache
// holds a few KiB per thread whatever clients send.
class PolicyCache {
 public:
  static constexpr size_t kSlots = 16;
  static constexpr size_t kMaxText = 256;

  const Policy* Find(std::string_view text) const {
    const Slot& slot = slots_[SlotOf(text)];
    return slot.text == text && !text.empty() ? &slot.policy : nullptr;
  }
  void Put(std::string_view text, const Policy& policy) {
    if (text.size() > kMaxText) return;
    Slot& slot = slots_[SlotOf(text)];
    slot.text.assign(text);
    slot.policy = policy;
  }

 private:
  struct Slot {
    std::string text;
    Policy policy;
  };
  static size_t SlotOf(std::string_view text) { return std::hash<std::string_view>{}(text) % kSlots; }
  std::array<Slot, kSlots> slots_;
};

}  // namespace

Result<DecideCall> ParseDecideCallStrict(std::string_view body) {
  SLUICE_ASSIGN_OR_RETURN(Json json, internal::ParseJson(body, 8));
  SLUICE_ASSIGN_OR_RETURN(JsonObjectReader r, JsonObjectReader::Create(json, "request"));
  DecideFields f;
  SLUICE_ASSIGN_OR_RETURN(f.key, r.GetOptionalStringView("key"));
  const Json* limit = r.Get("limit");
  SLUICE_ASSIGN_OR_RETURN(f.name, r.GetOptionalStringView("name"));
  SLUICE_ASSIGN_OR_RETURN(f.domain, r.GetOptionalStringView("domain"));
  const Json* entries = r.Get("entries");
  SLUICE_ASSIGN_OR_RETURN(f.cost, r.GetOptionalInt("cost"));
  SLUICE_ASSIGN_OR_RETURN(f.operation, r.GetOptionalStringView("operation"));
  SLUICE_RETURN_IF_ERROR(r.CheckNoUnknownFields());
  f.has_limit = limit != nullptr;
  f.has_entries = entries != nullptr;
  f.entries_is_array = entries != nullptr && entries->is_array();
  if (f.entries_is_array) f.entries_error = EntriesFromJson(*entries, &f.entries);
  return BuildCall(f, [&]() -> Result<Policy> {
    SLUICE_ASSIGN_OR_RETURN(LimitFields fields, LimitFieldsFromJson(*limit));
    return PolicyFromFields(fields);
  });
}

bool IsPlainDecideBody(std::string_view body) {
  DecideFields f;
  LimitFields limit;
  std::string_view limit_text;
  return ScanDecideBody(body, &f, &limit, &limit_text);
}

Result<DecideCall> ParseDecideCall(std::string_view body) {
  DecideFields f;
  LimitFields limit;
  std::string_view limit_text;
  if (!ScanDecideBody(body, &f, &limit, &limit_text)) return ParseDecideCallStrict(body);
  return BuildCall(f, [&]() -> Result<Policy> {
    thread_local PolicyCache cache;
    if (const Policy* cached = cache.Find(limit_text)) return *cached;
    SLUICE_ASSIGN_OR_RETURN(Policy policy, PolicyFromFields(limit));
    cache.Put(limit_text, policy);
    return policy;
  });
}

}  // namespace sluice::daemon

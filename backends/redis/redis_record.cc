// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "redis/redis_record.h"

#include <array>
#include <charconv>

#include "internal/expiry.h"
#include "internal/state_fields.h"

namespace sluice::redis {
namespace {

std::string Int(int64_t v) { return std::to_string(v); }

class FieldReader {
 public:
  FieldReader(const std::string& key, const HashMap& fields) : key_(key), fields_(fields) {}

  Result<std::string_view> String(std::string_view name) const {
    auto it = fields_.find(name);
    if (it == fields_.end()) return Error(name, "missing");
    return std::string_view(it->second);
  }

  Result<int64_t> Int(std::string_view name) const {
    SLUICE_ASSIGN_OR_RETURN(std::string_view text, String(name));
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return Error(name, "\"" + std::string(text) + "\" is not a 64-bit integer");
    }
    return v;
  }

  Status Error(std::string_view name, const std::string& what) const {
    return DataLossError("redis hash for key \"" + key_ + "\", field \"" + std::string(name) + "\": " + what);
  }

 private:
  const std::string& key_;
  const HashMap& fields_;
};

std::string EncodeLog(const SlidingWindowLogState& s) {
  std::string out;
  for (const LogEntry& e : s.entries) {
    if (!out.empty()) out += ',';
    out += Int(e.time_ns) + ":" + Int(e.cost);
  }
  return out;
}

Result<std::vector<LogEntry>> DecodeLog(const FieldReader& r) {
  SLUICE_ASSIGN_OR_RETURN(std::string_view text, r.String("log"));
  std::vector<LogEntry> entries;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const size_t colon = item.find(':');
    LogEntry e;
    const char* end = item.data() + item.size();
    auto [p1, e1] = std::from_chars(item.data(), item.data() + std::min(colon, item.size()), e.time_ns);
    if (colon == std::string_view::npos || e1 != std::errc() || p1 != item.data() + colon) {
      return r.Error("log", "malformed entry \"" + std::string(item) + "\"");
    }
    auto [p2, e2] = std::from_chars(item.data() + colon + 1, end, e.cost);
    if (e2 != std::errc() || p2 != end)
      return r.Error("log", "malformed entry \"" + std::string(item) + "\"");
    entries.push_back(e);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return entries;
}

template <typename S>
Result<LimiterState> DecodeState(const FieldReader& r) {
  S s;
  // The fields and their names come from the one state field table, which
  // also gives the Lua decision code its field lists.
  for (const auto& field : internal::StateFields<S>::kFields) {
    SLUICE_ASSIGN_OR_RETURN(s.*field.member, r.Int(field.redis_name));
  }
  if constexpr (std::is_same_v<S, SlidingWindowLogState>) {
    SLUICE_ASSIGN_OR_RETURN(s.entries, DecodeLog(r));
  }
  return LimiterState(std::move(s));
}

}  // namespace

HashFields EncodeRecordFields(const Record& record) {
  HashFields f;
  f.emplace_back("x", Int(record.expires_at_ns));
  if (const auto* bytes = std::get_if<std::string>(&record.value)) {
    f.emplace_back("k", "bytes");
    f.emplace_back("b", *bytes);
    return f;
  }
  const auto& lr = std::get<LimiterRecord>(record.value);
  f.emplace_back("k", std::string(AlgorithmName(lr.policy.algorithm)));
  f.emplace_back("pl", Int(lr.policy.limit));
  f.emplace_back("pr", Int(lr.policy.refill_amount));
  f.emplace_back("pi", Int(lr.policy.interval.count()));
  f.emplace_back("pw", std::string(WindowAlignmentName(lr.policy.alignment)));
  std::visit(
      [&](const auto& s) {
        using S = std::decay_t<decltype(s)>;
        for (const auto& field : internal::StateFields<S>::kFields)
          f.emplace_back(std::string(field.redis_name), Int(s.*field.member));
        if constexpr (std::is_same_v<S, SlidingWindowLogState>) f.emplace_back("log", EncodeLog(s));
      },
      lr.state);
  return f;
}

Result<HashMap> ToHashMap(const Reply& reply) {
  HashMap out;
  if (reply.type != Reply::Type::kArray || reply.elements.size() % 2 != 0) {
    return DataLossError("redis: expected field/value pairs, got " + reply.ToString());
  }
  for (size_t i = 0; i < reply.elements.size(); i += 2)
    out[reply.elements[i].str] = reply.elements[i + 1].str;
  return out;
}

Result<std::optional<Record>> DecodeRecordFields(const std::string& key, const HashMap& fields,
                                                 int64_t now_ns) {
  if (fields.find("k") == fields.end()) return std::optional<Record>();  // absent, or a fence alone
  const FieldReader r(key, fields);
  Record record;
  record.key = key;
  SLUICE_ASSIGN_OR_RETURN(record.expires_at_ns, r.Int("x"));
  if (auto it = fields.find("f"); it != fields.end()) {
    const std::string& text = it->second;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), record.fencing_token);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return r.Error("f", "\"" + text + "\" is not an unsigned 64-bit fencing token");
    }
  }
  if (internal::IsExpired(record.expires_at_ns, now_ns)) return std::optional<Record>();
  SLUICE_ASSIGN_OR_RETURN(std::string_view kind, r.String("k"));
  if (kind == "bytes") {
    SLUICE_ASSIGN_OR_RETURN(std::string_view bytes, r.String("b"));
    record.value = std::string(bytes);
    return std::optional<Record>(std::move(record));
  }
  Result<Algorithm> algorithm = ParseAlgorithm(kind);
  if (!algorithm.ok()) return r.Error("k", std::string(algorithm.status().message()));
  Policy p;
  p.algorithm = *algorithm;
  SLUICE_ASSIGN_OR_RETURN(p.limit, r.Int("pl"));
  SLUICE_ASSIGN_OR_RETURN(p.refill_amount, r.Int("pr"));
  SLUICE_ASSIGN_OR_RETURN(int64_t interval, r.Int("pi"));
  p.interval = std::chrono::nanoseconds(interval);
  SLUICE_ASSIGN_OR_RETURN(std::string_view alignment, r.String("pw"));
  Result<WindowAlignment> align = ParseWindowAlignment(alignment);
  if (!align.ok()) return r.Error("pw", std::string(align.status().message()));
  p.alignment = *align;
  Result<LimiterState> decoded = InternalError("unreachable");
  internal::VisitStateType(p.algorithm,
                           [&](auto type) { decoded = DecodeState<typename decltype(type)::type>(r); });
  SLUICE_ASSIGN_OR_RETURN(LimiterState state, std::move(decoded));
  // The store wrote this state itself: check its shape, not its times against
  // this reader's clock (a client clock that stepped back, or a window that
  // began before the epoch, must not make a key unreadable).
  Status valid = ValidateState(p, state, now_ns, std::chrono::nanoseconds::max());
  if (!valid.ok())
    return DataLossError("redis hash for key \"" + key + "\": " + std::string(valid.message()));
  record.value = LimiterRecord{p, std::move(state)};
  return std::optional<Record>(std::move(record));
}

}  // namespace sluice::redis

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The JSON record format, versions 1 and 2 (2 adds fencingToken).
// docs/state_format.md is the specification; a change here that changes the
// output for an existing record is a new format version (the golden files in
// testdata/state_v1/ and testdata/state_v2/ catch it).

#include <string>
#include <utility>
#include <variant>

#include "codec/codec_internal.h"
#include "sluice/state_codec.h"
#include "util/json.h"

namespace sluice {
namespace {

using internal::Json;
using internal::JsonObjectReader;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

Json PolicyToJson(const Policy& p) {
  Json o = Json::MakeObject();
  o.Set("algorithm", Json::String(std::string(AlgorithmName(p.algorithm))));
  o.Set("limit", Json::Int(p.limit));
  o.Set("refillAmount", Json::Int(p.refill_amount));
  o.Set("intervalNs", Json::Int(p.interval.count()));
  o.Set("alignment", Json::String(std::string(WindowAlignmentName(p.alignment))));
  return o;
}

Json StateToJson(const LimiterState& state) {
  Json o = Json::MakeObject();
  std::visit(
      [&](const auto& s) {
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<S, SlidingWindowLogState>) {
          Json entries = Json::MakeArray();
          for (const LogEntry& e : s.entries)
            entries.Append(Json::MakeArray({Json::Int(e.time_ns), Json::Int(e.cost)}));
          o.Set("entries", std::move(entries));
        }
        for (const auto& f : internal::StateFields<S>::kFields)
          o.Set(std::string(f.json_name), Json::Int(s.*f.member));
      },
      state);
  return o;
}

Result<Policy> PolicyFromJson(const Json& value) {
  SLUICE_ASSIGN_OR_RETURN(JsonObjectReader r, JsonObjectReader::Create(value, "record.policy"));
  Policy p;
  SLUICE_ASSIGN_OR_RETURN(std::string algorithm, r.GetString("algorithm"));
  Result<Algorithm> parsed = ParseAlgorithm(algorithm);
  if (!parsed.ok()) return r.FieldError("algorithm", parsed.status().message());
  p.algorithm = *parsed;
  SLUICE_ASSIGN_OR_RETURN(p.limit, r.GetInt("limit"));
  SLUICE_ASSIGN_OR_RETURN(std::optional<int64_t> refill, r.GetOptionalInt("refillAmount"));
  p.refill_amount = refill.value_or(0);
  SLUICE_ASSIGN_OR_RETURN(int64_t interval, r.GetInt("intervalNs"));
  p.interval = std::chrono::nanoseconds(interval);
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> alignment, r.GetOptionalString("alignment"));
  if (alignment.has_value()) {
    Result<WindowAlignment> a = ParseWindowAlignment(*alignment);
    if (!a.ok()) return r.FieldError("alignment", a.status().message());
    p.alignment = *a;
  }
  SLUICE_RETURN_IF_ERROR(r.CheckNoUnknownFields());
  return p;
}

Result<std::vector<LogEntry>> LogEntriesFromJson(JsonObjectReader& r) {
  SLUICE_ASSIGN_OR_RETURN(const Json* array, r.GetArray("entries"));
  std::vector<LogEntry> entries;
  entries.reserve(array->as_array().size());
  for (size_t i = 0; i < array->as_array().size(); ++i) {
    const Json& e = array->as_array()[i];
    if (!e.is_array() || e.as_array().size() != 2 || !e.as_array()[0].is_int() || !e.as_array()[1].is_int()) {
      return r.FieldError("entries[" + std::to_string(i) + "]", "expected [timeNs, cost] with two integers");
    }
    entries.push_back(LogEntry{e.as_array()[0].as_int(), e.as_array()[1].as_int()});
  }
  return entries;
}

// Reads the state fields of `algorithm` (the policy's: a state is always
// written in its policy's shape).
Result<LimiterState> StateFromJson(const Json& value, Algorithm algorithm) {
  SLUICE_ASSIGN_OR_RETURN(JsonObjectReader r, JsonObjectReader::Create(value, "record.state"));
  SLUICE_ASSIGN_OR_RETURN(LimiterState state,
                          internal::WithStateType(algorithm, [&](auto type) -> Result<LimiterState> {
                            using S = typename decltype(type)::type;
                            S s;
                            if constexpr (std::is_same_v<S, SlidingWindowLogState>) {
                              SLUICE_ASSIGN_OR_RETURN(s.entries, LogEntriesFromJson(r));
                            }
                            for (const auto& f : internal::StateFields<S>::kFields) {
                              SLUICE_ASSIGN_OR_RETURN(s.*f.member, r.GetInt(f.json_name));
                            }
                            return LimiterState(std::move(s));
                          }));
  SLUICE_RETURN_IF_ERROR(r.CheckNoUnknownFields());
  return state;
}

// The compact form written straight into a string, without building a Json
// tree (export streams write millions of records). It must equal
// WriteJson(<the tree>, false) byte for byte; a test compares them.
class CompactWriter {
 public:
  explicit CompactWriter(std::string* out) : out_(out) {}
  void Open() {
    out_->push_back('{');
    first_ = true;
  }
  void Close() {
    out_->push_back('}');
    first_ = false;
  }
  // Member names are plain ASCII: no escaping needed.
  void Name(std::string_view name) {
    if (!first_) out_->push_back(',');
    first_ = false;
    out_->push_back('"');
    out_->append(name);
    out_->append("\":");
  }
  void Int(int64_t v) { internal::AppendJsonInt(v, out_); }
  void Str(std::string_view v) { internal::AppendJsonString(v, out_); }
  void IntMember(std::string_view name, int64_t v) {
    Name(name);
    Int(v);
  }
  void StrMember(std::string_view name, std::string_view v) {
    Name(name);
    Str(v);
  }
  std::string* out() { return out_; }

 private:
  std::string* out_;
  bool first_ = true;
};

void WriteCompactRecord(const Record& record, int64_t version, std::string* out) {
  CompactWriter w(out);
  w.Open();
  w.StrMember("format", kRecordJsonFormatName);
  w.IntMember("version", version);
  if (internal::IsValidUtf8(record.key)) {
    w.StrMember("key", record.key);
  } else {
    w.StrMember("keyBase64", internal::Base64Encode(record.key));
  }
  w.IntMember("expiresAtNs", record.expires_at_ns);
  if (version >= internal::kFencingTokenVersion) w.StrMember("fencingToken", std::to_string(record.fencing_token));
  if (const auto* bytes = std::get_if<std::string>(&record.value)) {
    w.StrMember("bytesBase64", internal::Base64Encode(*bytes));
  } else {
    const auto& limiter = std::get<LimiterRecord>(record.value);
    const Policy& p = limiter.policy;
    w.Name("policy");
    w.Open();
    w.StrMember("algorithm", AlgorithmName(p.algorithm));
    w.IntMember("limit", p.limit);
    w.IntMember("refillAmount", p.refill_amount);
    w.IntMember("intervalNs", p.interval.count());
    w.StrMember("alignment", WindowAlignmentName(p.alignment));
    w.Close();
    w.Name("state");
    w.Open();
    std::visit(
        [&](const auto& st) {
          using S = std::decay_t<decltype(st)>;
          if constexpr (std::is_same_v<S, SlidingWindowLogState>) {
            w.Name("entries");
            out->push_back('[');
            for (size_t i = 0; i < st.entries.size(); ++i) {
              if (i > 0) out->push_back(',');
              out->push_back('[');
              w.Int(st.entries[i].time_ns);
              out->push_back(',');
              w.Int(st.entries[i].cost);
              out->push_back(']');
            }
            out->push_back(']');
          }
          for (const auto& f : internal::StateFields<S>::kFields) w.IntMember(f.json_name, st.*f.member);
        },
        limiter.state);
    w.Close();
  }
  w.Close();
}

}  // namespace

namespace internal {

std::string FencingTokenToJson(uint64_t token) { return std::to_string(token); }

std::optional<uint64_t> FencingTokenFromJson(std::string_view text) {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return v;
}

std::string EncodeRecordJsonAtVersion(const Record& record, bool pretty, int64_t version) {
  if (!pretty) {
    std::string out;
    out.reserve(256);
    WriteCompactRecord(record, version, &out);
    return out;
  }
  return EncodeRecordJsonTree(record, pretty, version);
}

std::string EncodeRecordJsonTree(const Record& record, bool pretty, int64_t version) {
  Json o = Json::MakeObject();
  o.Set("format", Json::String(std::string(kRecordJsonFormatName)));
  o.Set("version", Json::Int(version));
  if (internal::IsValidUtf8(record.key)) {
    o.Set("key", Json::String(record.key));
  } else {
    o.Set("keyBase64", Json::String(internal::Base64Encode(record.key)));
  }
  o.Set("expiresAtNs", Json::Int(record.expires_at_ns));
  if (version >= kFencingTokenVersion) o.Set("fencingToken", Json::String(FencingTokenToJson(record.fencing_token)));
  if (const auto* bytes = std::get_if<std::string>(&record.value)) {
    o.Set("bytesBase64", Json::String(internal::Base64Encode(*bytes)));
  } else {
    const auto& limiter = std::get<LimiterRecord>(record.value);
    o.Set("policy", PolicyToJson(limiter.policy));
    o.Set("state", StateToJson(limiter.state));
  }
  return WriteJson(o, pretty);
}

}  // namespace internal

std::string EncodeRecordJson(const Record& record, bool pretty) {
  return internal::EncodeRecordJsonAtVersion(record, pretty, kRecordFormatVersion);
}

Result<Record> DecodeRecordJson(std::string_view json, int64_t now_ns, std::chrono::nanoseconds max_future) {
  SLUICE_ASSIGN_OR_RETURN(Json doc, internal::ParseJson(json));
  SLUICE_ASSIGN_OR_RETURN(JsonObjectReader r, JsonObjectReader::Create(doc, "record"));

  SLUICE_ASSIGN_OR_RETURN(std::string format, r.GetString("format"));
  if (format != kRecordJsonFormatName) {
    return r.FieldError("format",
                        "expected \"" + std::string(kRecordJsonFormatName) + "\", got \"" + format + "\"");
  }
  // The version decides how to read everything else, so it comes first.
  SLUICE_ASSIGN_OR_RETURN(int64_t version, r.GetInt("version"));
  if (!internal::IsKnownRecordVersion(version)) return internal::UnsupportedRecordVersion(version);

  Record record;
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> key, r.GetOptionalString("key"));
  SLUICE_ASSIGN_OR_RETURN(std::optional<std::string> key_base64, r.GetOptionalString("keyBase64"));
  if (key.has_value() == key_base64.has_value()) {
    return InvalidArgumentError(key.has_value() ? "record: has both key and keyBase64; expected one"
                                                : "record.key: required field is missing (or keyBase64)");
  }
  if (key.has_value()) {
    record.key = std::move(*key);
  } else {
    std::optional<std::string> decoded = internal::Base64Decode(*key_base64);
    if (!decoded.has_value()) return r.FieldError("keyBase64", "not valid base64");
    record.key = std::move(*decoded);
  }
  SLUICE_ASSIGN_OR_RETURN(record.expires_at_ns, r.GetInt("expiresAtNs"));
  if (version >= internal::kFencingTokenVersion) {
    // Required from version 2 on; in version 1 it is an unknown field.
    SLUICE_ASSIGN_OR_RETURN(std::string token, r.GetString("fencingToken"));
    std::optional<uint64_t> parsed = internal::FencingTokenFromJson(token);
    if (!parsed.has_value()) {
      return r.FieldError("fencingToken", "expected a decimal string of an integer in [0, 18446744073709551615], got \"" +
                                              token + "\"");
    }
    record.fencing_token = *parsed;
  }

  const Json* bytes = r.Get("bytesBase64");
  const Json* policy = r.Get("policy");
  const Json* state = r.Get("state");
  if (bytes != nullptr) {
    if (policy != nullptr || state != nullptr) {
      return InvalidArgumentError("record: holds bytesBase64 and policy/state; expected one or the other");
    }
    if (!bytes->is_string()) return r.FieldError("bytesBase64", "expected a string");
    std::optional<std::string> decoded = internal::Base64Decode(bytes->as_string());
    if (!decoded.has_value()) return r.FieldError("bytesBase64", "not valid base64");
    record.value = std::move(*decoded);
  } else {
    if (policy == nullptr) return r.FieldError("policy", "required field is missing (or bytesBase64)");
    if (state == nullptr) return r.FieldError("state", "required field is missing");
    LimiterRecord limiter;
    SLUICE_ASSIGN_OR_RETURN(limiter.policy, PolicyFromJson(*policy));
    SLUICE_ASSIGN_OR_RETURN(limiter.state, StateFromJson(*state, limiter.policy.algorithm));
    record.value = std::move(limiter);
  }
  SLUICE_RETURN_IF_ERROR(r.CheckNoUnknownFields());
  SLUICE_RETURN_IF_ERROR(internal::ValidateDecodedRecord(record, now_ns, max_future));
  return record;
}

}  // namespace sluice

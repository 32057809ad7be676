// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/rls_proto.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "daemon/plain_json.h"
#include "envoy/service/ratelimit/v3/rls.pb.h"
#include "sluice/status.h"
#include "util/json.h"

namespace sluice::daemon {
namespace {

namespace rls = envoy::service::ratelimit::v3;
namespace common = envoy::extensions::common::ratelimit::v3;
namespace pb = google::protobuf;

// proto3 JSON for POST /json: camelCase names, enums by name, durations as
// "42s", as envoyproxy/ratelimit's protojson.Marshal writes them. Fields with
// their default value are left out, as there: a client of the Go service
// already reads a missing limitRemaining as 0, and a missing currentLimit is
// how "no rule matched" is told apart from a limit of 0.
pb::util::JsonPrintOptions PrintOptions() {
  pb::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = false;
  options.always_print_enums_as_ints = false;
  options.preserve_proto_field_names = false;
  return options;
}

// Unknown fields are an error: a misspelt "hitsAddend" must not silently
// become a request that consumes 1.
pb::util::JsonParseOptions ParseOptions() {
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  options.case_insensitive_enum_parsing = false;
  return options;
}

void MetadataToProto(const RlsMetadataValue& in, pb::Value* out) {
  switch (in.kind) {
    case RlsMetadataValue::Kind::kNull:
      out->set_null_value(pb::NULL_VALUE);
      return;
    case RlsMetadataValue::Kind::kString:
      out->set_string_value(in.string_value);
      return;
    case RlsMetadataValue::Kind::kNumber:
      // JSON has no NaN or infinity; both forms carry them as null so that
      // the binary and JSON answers say the same.
      if (std::isfinite(in.number_value)) {
        out->set_number_value(in.number_value);
      } else {
        out->set_null_value(pb::NULL_VALUE);
      }
      return;
    case RlsMetadataValue::Kind::kBool:
      out->set_bool_value(in.bool_value);
      return;
    case RlsMetadataValue::Kind::kList: {
      pb::ListValue* list = out->mutable_list_value();
      for (const RlsMetadataValue& item : in.list) MetadataToProto(item, list->add_values());
      return;
    }
    case RlsMetadataValue::Kind::kObject: {
      pb::Struct* object = out->mutable_struct_value();
      for (const auto& [key, value] : in.object) MetadataToProto(value, &(*object->mutable_fields())[key]);
      return;
    }
  }
  out->set_null_value(pb::NULL_VALUE);
}

void DurationToProto(std::chrono::nanoseconds d, pb::Duration* out) {
  // Truncating division keeps seconds and nanos of the same sign, as
  // google.protobuf.Duration requires; int64 nanoseconds stay far inside its
  // +-10,000-year range.
  const int64_t ns = d.count();
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

void HeadersToProto(const std::vector<RlsHeader>& headers,
                    pb::RepeatedPtrField<envoy::config::core::v3::HeaderValue>* out) {
  out->Reserve(static_cast<int>(headers.size()));
  for (const RlsHeader& header : headers) {
    envoy::config::core::v3::HeaderValue* h = out->Add();
    h->set_key(header.key);
    h->set_value(header.value);
  }
}

// The fast paths below handle what Envoy and envoyproxy/ratelimit's clients
// send and read, many times faster than protobuf's JSON support (which
// resolves types by reflection on every call). Requests are read in one pass
// without a tree; anything outside that plain subset (escapes and non-ASCII
// text, string-encoded numbers, enum numbers, nulls, repeated or unknown
// fields) goes to protobuf, so both paths accept, reject and print exactly
// the same things.

std::optional<RlsUnit> FastUnit(std::string_view name) {
  // Exactly the request enum's names (envoy.type.v3.RateLimitUnit).
  for (RlsUnit unit : {RlsUnit::kUnknown, RlsUnit::kSecond, RlsUnit::kMinute, RlsUnit::kHour, RlsUnit::kDay,
                       RlsUnit::kMonth, RlsUnit::kYear}) {
    if (name == RlsUnitName(unit)) return unit;
  }
  return std::nullopt;
}

bool ScanUint(PlainJsonScanner& s, uint64_t max, uint64_t* out) {
  int64_t v = 0;
  if (!s.Int(&v) || v < 0 || static_cast<uint64_t>(v) > max) return false;
  *out = static_cast<uint64_t>(v);
  return true;
}

// A field named once, in either of proto3 JSON's spellings; a repeat goes to
// protobuf, which decides what it means.
bool FirstTime(bool* seen) {
  if (*seen) return false;
  *seen = true;
  return true;
}

bool ScanEntry(PlainJsonScanner& s, RlsEntry* entry) {
  bool key = false;
  bool value = false;
  return s.Object([&](std::string_view name) {
    std::string_view v;
    if (name == "key" && FirstTime(&key) && s.String(&v)) {
      entry->key = v;
      return true;
    }
    if (name == "value" && FirstTime(&value) && s.String(&v)) {
      entry->value = v;
      return true;
    }
    return false;
  });
}

bool ScanLimitOverride(PlainJsonScanner& s, RlsLimitOverride* limit) {
  bool rpu = false;
  bool unit = false;
  return s.Object([&](std::string_view name) {
    if ((name == "requestsPerUnit" || name == "requests_per_unit") && FirstTime(&rpu)) {
      uint64_t v = 0;
      if (!ScanUint(s, UINT32_MAX, &v)) return false;
      limit->requests_per_unit = static_cast<uint32_t>(v);
      return true;
    }
    std::string_view v;
    if (name == "unit" && FirstTime(&unit) && s.String(&v)) {
      std::optional<RlsUnit> u = FastUnit(v);
      if (!u) return false;
      limit->unit = *u;
      return true;
    }
    return false;
  });
}

bool ScanDescriptor(PlainJsonScanner& s, RlsDescriptor* d) {
  bool entries = false;
  bool hits = false;
  bool limit = false;
  return s.Object([&](std::string_view name) {
    if (name == "entries" && FirstTime(&entries)) {
      return s.Array([&] { return ScanEntry(s, &d->entries.emplace_back()); });
    }
    if ((name == "hitsAddend" || name == "hits_addend") && FirstTime(&hits)) {
      uint64_t v = 0;
      if (!ScanUint(s, static_cast<uint64_t>(INT64_MAX), &v)) return false;
      d->hits_addend = v;
      return true;
    }
    if (name == "limit" && FirstTime(&limit)) {
      RlsLimitOverride override_limit;
      if (!ScanLimitOverride(s, &override_limit)) return false;
      d->limit = override_limit;
      return true;
    }
    return false;
  });
}

std::optional<RlsRequest> FastParseRequest(std::string_view text) {
  PlainJsonScanner s(text);
  RlsRequest out;
  bool domain = false;
  bool hits = false;
  bool descriptors = false;
  const bool ok = s.Object([&](std::string_view name) {
    std::string_view v;
    if (name == "domain" && FirstTime(&domain) && s.String(&v)) {
      out.domain = v;
      return true;
    }
    if ((name == "hitsAddend" || name == "hits_addend") && FirstTime(&hits)) {
      uint64_t n = 0;
      if (!ScanUint(s, UINT32_MAX, &n)) return false;
      out.hits_addend = static_cast<uint32_t>(n);
      return true;
    }
    if (name == "descriptors" && FirstTime(&descriptors)) {
      return s.Array([&] { return ScanDescriptor(s, &out.descriptors.emplace_back()); });
    }
    return false;
  });
  if (!ok || !s.AtEnd()) return std::nullopt;
  return out;
}

// protobuf's form of a Duration: whole seconds, or 3, 6 or 9 fraction digits.
void AppendDuration(std::chrono::nanoseconds d, std::string* out) {
  const int64_t ns = d.count();
  const int64_t seconds = ns / 1'000'000'000;
  int64_t fraction = ns % 1'000'000'000;
  int digits = 9;
  for (; digits > 0 && fraction % 1000 == 0 && (digits > 3 || fraction == 0); digits -= 3) fraction /= 1000;
  out->push_back('"');
  internal::AppendJsonInt(seconds, out);
  if (digits > 0) {
    char buf[9];
    for (int i = digits - 1; i >= 0; --i, fraction /= 10) buf[i] = static_cast<char>('0' + fraction % 10);
    out->push_back('.');
    out->append(buf, static_cast<size_t>(digits));
  }
  out->append("s\"");
}

// A name known to need no escaping (enum names), quoted.
void AppendQuoted(std::string_view name, std::string* out) {
  out->push_back('"');
  out->append(name);
  out->push_back('"');
}

std::optional<std::string> FastResponseJson(const RlsResponse& r) {
  if (r.dynamic_metadata.has_value()) return std::nullopt;
  std::string out;
  out.reserve(128 + 160 * r.statuses.size());
  auto code_name = [](RlsCode code) { return RlsCodeName(code); };
  auto add_string = [&](std::string_view s) {
    if (!internal::IsValidUtf8(s)) return false;
    internal::AppendJsonString(s, &out);
    return true;
  };
  out += "{";
  bool first = true;
  auto field = [&](std::string_view name) {
    if (!first) out += ",";
    first = false;
    out += "\"";
    out += name;
    out += "\":";
  };
  if (r.overall_code != RlsCode::kUnknown) {
    field("overallCode");
    AppendQuoted(code_name(r.overall_code), &out);
  }
  if (!r.statuses.empty()) {
    field("statuses");
    out += "[";
    for (size_t i = 0; i < r.statuses.size(); ++i) {
      const RlsDescriptorStatus& s = r.statuses[i];
      if (i > 0) out += ",";
      out += "{";
      bool first_member = true;
      auto member = [&](std::string_view name) {
        if (!first_member) out += ",";
        first_member = false;
        out += "\"";
        out += name;
        out += "\":";
      };
      if (s.code != RlsCode::kUnknown) {
        member("code");
        AppendQuoted(code_name(s.code), &out);
      }
      if (s.current_limit.has_value()) {
        member("currentLimit");
        out += "{";
        bool first_limit = true;
        auto limit_member = [&](std::string_view name) {
          if (!first_limit) out += ",";
          first_limit = false;
          out += "\"";
          out += name;
          out += "\":";
        };
        if (s.current_limit->requests_per_unit != 0) {
          limit_member("requestsPerUnit");
          internal::AppendJsonInt(s.current_limit->requests_per_unit, &out);
        }
        if (s.current_limit->unit != RlsUnit::kUnknown) {
          limit_member("unit");
          AppendQuoted(RlsUnitName(s.current_limit->unit), &out);
        }
        if (!s.current_limit->name.empty()) {
          limit_member("name");
          if (!add_string(s.current_limit->name)) return std::nullopt;
        }
        out += "}";
      }
      if (s.limit_remaining != 0) {
        member("limitRemaining");
        internal::AppendJsonInt(s.limit_remaining, &out);
      }
      if (s.duration_until_reset.has_value()) {
        if (s.duration_until_reset->count() < 0) return std::nullopt;
        member("durationUntilReset");
        AppendDuration(*s.duration_until_reset, &out);
      }
      out += "}";
    }
    out += "]";
  }
  for (const auto* headers : {&r.response_headers_to_add, &r.request_headers_to_add}) {
    if (headers->empty()) continue;
    field(headers == &r.response_headers_to_add ? "responseHeadersToAdd" : "requestHeadersToAdd");
    out += "[";
    for (size_t i = 0; i < headers->size(); ++i) {
      const RlsHeader& h = (*headers)[i];
      if (i > 0) out += ",";
      out += "{";
      bool any = false;
      if (!h.key.empty()) {
        out += "\"key\":";
        if (!add_string(h.key)) return std::nullopt;
        any = true;
      }
      if (!h.value.empty()) {
        if (any) out += ",";
        out += "\"value\":";
        if (!add_string(h.value)) return std::nullopt;
      }
      out += "}";
    }
    out += "]";
  }
  out += "}";
  return out;
}

}  // namespace

Result<RlsRequest> FromProto(const rls::RateLimitRequest& request) {
  RlsRequest out;
  out.domain = request.domain();
  out.hits_addend = request.hits_addend();
  out.descriptors.reserve(static_cast<size_t>(request.descriptors_size()));
  for (int i = 0; i < request.descriptors_size(); ++i) {
    const common::RateLimitDescriptor& descriptor = request.descriptors(i);
    RlsDescriptor& d = out.descriptors.emplace_back();
    d.entries.reserve(static_cast<size_t>(descriptor.entries_size()));
    for (const common::RateLimitDescriptor::Entry& entry : descriptor.entries()) {
      d.entries.push_back(RlsEntry{.key = entry.key(), .value = entry.value()});
    }
    if (descriptor.has_limit()) {
      const int unit = descriptor.limit().unit();
      // proto3 enums are open: a number this version does not define arrives
      // as is. Envoy declares the field defined-only, and the model has no
      // meaning for it.
      if (!envoy::type::v3::RateLimitUnit_IsValid(unit)) {
        return Status(StatusCode::kInvalidArgument,
                      "descriptors[" + std::to_string(i) + "].limit.unit: unknown unit " + std::to_string(unit));
      }
      d.limit = RlsLimitOverride{.requests_per_unit = descriptor.limit().requests_per_unit(),
                                 .unit = static_cast<RlsUnit>(unit)};
    }
    if (descriptor.has_hits_addend()) d.hits_addend = descriptor.hits_addend().value();
  }
  return out;
}

void ToProto(const RlsRequest& request, rls::RateLimitRequest* out) {
  out->Clear();
  out->set_domain(request.domain);
  for (const RlsDescriptor& d : request.descriptors) {
    common::RateLimitDescriptor* descriptor = out->add_descriptors();
    for (const RlsEntry& e : d.entries) {
      common::RateLimitDescriptor::Entry* entry = descriptor->add_entries();
      entry->set_key(e.key);
      entry->set_value(e.value);
    }
    if (d.limit.has_value()) {
      descriptor->mutable_limit()->set_requests_per_unit(d.limit->requests_per_unit);
      descriptor->mutable_limit()->set_unit(static_cast<envoy::type::v3::RateLimitUnit>(d.limit->unit));
    }
    if (d.hits_addend.has_value()) descriptor->mutable_hits_addend()->set_value(*d.hits_addend);
  }
  out->set_hits_addend(request.hits_addend);
}

void ToProto(const RlsResponse& response, rls::RateLimitResponse* out) {
  out->Clear();
  out->set_overall_code(static_cast<rls::RateLimitResponse::Code>(response.overall_code));
  out->mutable_statuses()->Reserve(static_cast<int>(response.statuses.size()));
  for (const RlsDescriptorStatus& s : response.statuses) {
    rls::RateLimitResponse::DescriptorStatus* status = out->add_statuses();
    status->set_code(static_cast<rls::RateLimitResponse::Code>(s.code));
    if (s.current_limit.has_value()) {
      rls::RateLimitResponse::RateLimit* limit = status->mutable_current_limit();
      limit->set_requests_per_unit(s.current_limit->requests_per_unit);
      limit->set_unit(static_cast<rls::RateLimitResponse::RateLimit::Unit>(s.current_limit->unit));
      limit->set_name(s.current_limit->name);
    }
    status->set_limit_remaining(s.limit_remaining);
    if (s.duration_until_reset.has_value()) DurationToProto(*s.duration_until_reset, status->mutable_duration_until_reset());
  }
  HeadersToProto(response.response_headers_to_add, out->mutable_response_headers_to_add());
  HeadersToProto(response.request_headers_to_add, out->mutable_request_headers_to_add());
  // The model's metadata is an object; anything else has no Struct form.
  if (response.dynamic_metadata.has_value() && response.dynamic_metadata->kind == RlsMetadataValue::Kind::kObject) {
    pb::Struct* metadata = out->mutable_dynamic_metadata();
    for (const auto& [key, value] : response.dynamic_metadata->object) {
      MetadataToProto(value, &(*metadata->mutable_fields())[key]);
    }
  }
}

Result<RlsRequest> ParseRlsRequestJson(std::string_view json) {
  if (std::optional<RlsRequest> fast = FastParseRequest(json)) return std::move(*fast);
  return ParseRlsRequestJsonViaProtobuf(json);
}

Result<RlsRequest> ParseRlsRequestJsonViaProtobuf(std::string_view json) {
  rls::RateLimitRequest request;
  const pb::util::Status status =
      pb::util::JsonStringToMessage(pb::StringPiece(json.data(), json.size()), &request, ParseOptions());
  if (!status.ok()) {
    return Status(StatusCode::kInvalidArgument,
                  "invalid RateLimitRequest JSON: " + std::string(status.message().data(), status.message().size()));
  }
  return FromProto(request);
}

std::string RlsResponseToJson(const RlsResponse& response) {
  if (std::optional<std::string> fast = FastResponseJson(response)) return std::move(*fast);
  return RlsResponseToJsonViaProtobuf(response);
}

std::string RlsResponseToJsonViaProtobuf(const RlsResponse& response) {
  rls::RateLimitResponse proto;
  ToProto(response, &proto);
  std::string json;
  const pb::util::Status status = pb::util::MessageToJsonString(proto, &json, PrintOptions());
  if (!status.ok()) {
    // Only text that is not UTF-8 (a header or rule name) can get here;
    // UNKNOWN tells the caller that no answer could be written, as an
    // envoyproxy/ratelimit client reads it.
    return R"({"overallCode":"UNKNOWN"})";
  }
  return json;
}

}  // namespace sluice::daemon

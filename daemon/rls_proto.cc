// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/rls_proto.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include <fmt/format.h>

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
// send and read, several times faster than protobuf's JSON support (which
// resolves types by reflection on every call). Anything outside that plain
// subset (string-encoded numbers, enum numbers, nulls, repeated or unknown
// fields, metadata, text that is not UTF-8) goes to protobuf, so both paths
// accept, reject and print exactly the same things.
using internal::Json;

std::optional<RlsUnit> FastUnit(const Json& value) {
  if (!value.is_string()) return std::nullopt;
  const std::string& name = value.as_string();
  // Exactly the request enum's names (envoy.type.v3.RateLimitUnit).
  for (RlsUnit unit : {RlsUnit::kUnknown, RlsUnit::kSecond, RlsUnit::kMinute, RlsUnit::kHour, RlsUnit::kDay,
                       RlsUnit::kMonth, RlsUnit::kYear}) {
    if (name == RlsUnitName(unit)) return unit;
  }
  return std::nullopt;
}

std::optional<uint64_t> FastUint(const Json& value, uint64_t max) {
  if (!value.is_int() || value.as_int() < 0 || static_cast<uint64_t>(value.as_int()) > max) return std::nullopt;
  return static_cast<uint64_t>(value.as_int());
}

// Calls `visit(name, value)` for each member of `object`, with either
// spelling of a field name accepted by proto3 JSON; false if a name repeats
// or `visit` refuses a member.
template <class Visit>
bool ForEachMember(const Json& object, Visit visit) {
  if (!object.is_object()) return false;
  const Json::Object& members = object.as_object();
  for (size_t i = 0; i < members.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (members[j].first == members[i].first) return false;
    }
    if (members[i].second.is_null() || !visit(members[i].first, members[i].second)) return false;
  }
  return true;
}

std::optional<RlsRequest> FastParseRequest(std::string_view text) {
  Result<Json> json = internal::ParseJson(text, 16);
  if (!json.ok()) return std::nullopt;
  RlsRequest out;
  bool ok = ForEachMember(*json, [&](const std::string& name, const Json& value) {
    if (name == "domain") {
      if (!value.is_string()) return false;
      out.domain = value.as_string();
      return true;
    }
    if (name == "hitsAddend" || name == "hits_addend") {
      std::optional<uint64_t> v = FastUint(value, UINT32_MAX);
      if (!v) return false;
      out.hits_addend = static_cast<uint32_t>(*v);
      return true;
    }
    if (name != "descriptors" || !value.is_array()) return false;
    for (const Json& item : value.as_array()) {
      RlsDescriptor& d = out.descriptors.emplace_back();
      const bool descriptor_ok = ForEachMember(item, [&](const std::string& dname, const Json& dvalue) {
        if (dname == "entries") {
          if (!dvalue.is_array()) return false;
          for (const Json& e : dvalue.as_array()) {
            RlsEntry& entry = d.entries.emplace_back();
            if (!ForEachMember(e, [&](const std::string& ename, const Json& evalue) {
                  if (!evalue.is_string()) return false;
                  if (ename == "key") {
                    entry.key = evalue.as_string();
                  } else if (ename == "value") {
                    entry.value = evalue.as_string();
                  } else {
                    return false;
                  }
                  return true;
                })) {
              return false;
            }
          }
          return true;
        }
        if (dname == "hitsAddend" || dname == "hits_addend") {
          std::optional<uint64_t> v = FastUint(dvalue, static_cast<uint64_t>(INT64_MAX));
          if (!v) return false;
          d.hits_addend = *v;
          return true;
        }
        if (dname != "limit") return false;
        RlsLimitOverride limit;
        if (!ForEachMember(dvalue, [&](const std::string& lname, const Json& lvalue) {
              if (lname == "requestsPerUnit" || lname == "requests_per_unit") {
                std::optional<uint64_t> v = FastUint(lvalue, UINT32_MAX);
                if (!v) return false;
                limit.requests_per_unit = static_cast<uint32_t>(*v);
                return true;
              }
              if (lname != "unit") return false;
              std::optional<RlsUnit> unit = FastUnit(lvalue);
              if (!unit) return false;
              limit.unit = *unit;
              return true;
            })) {
          return false;
        }
        d.limit = limit;
        return true;
      });
      if (!descriptor_ok) return false;
    }
    return true;
  });
  if (!ok) return std::nullopt;
  return out;
}

// protobuf's form of a Duration: whole seconds, or 3, 6 or 9 fraction digits.
void AppendDuration(std::chrono::nanoseconds d, std::string* out) {
  const int64_t ns = d.count();
  const int64_t seconds = ns / 1'000'000'000;
  const int64_t nanos = ns % 1'000'000'000;
  if (nanos == 0) {
    fmt::format_to(std::back_inserter(*out), "\"{}s\"", seconds);
  } else if (nanos % 1'000'000 == 0) {
    fmt::format_to(std::back_inserter(*out), "\"{}.{:03}s\"", seconds, nanos / 1'000'000);
  } else if (nanos % 1'000 == 0) {
    fmt::format_to(std::back_inserter(*out), "\"{}.{:06}s\"", seconds, nanos / 1'000);
  } else {
    fmt::format_to(std::back_inserter(*out), "\"{}.{:09}s\"", seconds, nanos);
  }
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
    fmt::format_to(std::back_inserter(out), "\"{}\"", code_name(r.overall_code));
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
        fmt::format_to(std::back_inserter(out), "\"{}\"", code_name(s.code));
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
          fmt::format_to(std::back_inserter(out), "{}", s.current_limit->requests_per_unit);
        }
        if (s.current_limit->unit != RlsUnit::kUnknown) {
          limit_member("unit");
          fmt::format_to(std::back_inserter(out), "\"{}\"", RlsUnitName(s.current_limit->unit));
        }
        if (!s.current_limit->name.empty()) {
          limit_member("name");
          if (!add_string(s.current_limit->name)) return std::nullopt;
        }
        out += "}";
      }
      if (s.limit_remaining != 0) {
        member("limitRemaining");
        fmt::format_to(std::back_inserter(out), "{}", s.limit_remaining);
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

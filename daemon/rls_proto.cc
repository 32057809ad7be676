// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/rls_proto.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "envoy/service/ratelimit/v3/rls.pb.h"
#include "sluice/status.h"

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

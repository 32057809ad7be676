// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Conversions between the RLS model (rls.h) and its wire forms: the protobuf
// messages of envoy.service.ratelimit.v3 and their proto3 JSON (what
// envoyproxy/ratelimit's `POST /json` takes and returns: camelCase names,
// enums by name, durations as "42s").
//
// Errors: kInvalidArgument naming what is wrong (malformed JSON, unknown
// field, wrong type, a limit override unit the protocol does not define).
// These only convert: an empty domain, no descriptors, an entry without key
// and the size limits are the service's to refuse.

#pragma once

#include <string>
#include <string_view>

#include "daemon/rls.h"
#include "sluice/result.h"

namespace envoy::service::ratelimit::v3 {
class RateLimitRequest;
class RateLimitResponse;
}  // namespace envoy::service::ratelimit::v3

namespace sluice::daemon {

Result<RlsRequest> FromProto(const envoy::service::ratelimit::v3::RateLimitRequest& request);
void ToProto(const RlsResponse& response, envoy::service::ratelimit::v3::RateLimitResponse* out);
// The request's wire form (clients, tests); FromProto reads it back unchanged.
void ToProto(const RlsRequest& request, envoy::service::ratelimit::v3::RateLimitRequest* out);

// Parses a RateLimitRequest in proto3 JSON.
Result<RlsRequest> ParseRlsRequestJson(std::string_view json);
// Writes a RateLimitResponse in proto3 JSON.
std::string RlsResponseToJson(const RlsResponse& response);
// The same through protobuf's JSON printer: what RlsResponseToJson's fast
// path must equal (tests compare them).
std::string RlsResponseToJsonViaProtobuf(const RlsResponse& response);
// The same through protobuf's JSON parser.
Result<RlsRequest> ParseRlsRequestJsonViaProtobuf(std::string_view json);

}  // namespace sluice::daemon

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The rate limit service's request and response, as plain C++ values: the
// model shared by the gRPC front end (Envoy's
// envoy.service.ratelimit.v3.RateLimitService), the HTTP `POST /json` form
// (the same messages in proto3 JSON) and the service that decides them. Field
// meanings follow the wire messages one for one, so each front end only
// converts; none of them decides anything itself.
//
// Thread-safety: plain values.

#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::daemon {

// envoy.type.v3.RateLimitUnit and RateLimitResponse.RateLimit.Unit share these
// numbers (WEEK exists only in the response enum).
enum class RlsUnit : int {
  kUnknown = 0,
  kSecond = 1,
  kMinute = 2,
  kHour = 3,
  kDay = 4,
  kMonth = 5,
  kYear = 6,
  kWeek = 7,
};

// "SECOND", "MINUTE", ... as proto3 JSON spells the enum.
std::string_view RlsUnitName(RlsUnit unit);
// Case-insensitive "second", "SECOND", ...; nullopt if unknown.
std::optional<RlsUnit> ParseRlsUnit(std::string_view name);
// The unit's length as envoyproxy/ratelimit counts it (a month is 30 days, a
// year 365); 0 for kUnknown.
std::chrono::seconds RlsUnitLength(RlsUnit unit);

enum class RlsCode : int { kUnknown = 0, kOk = 1, kOverLimit = 2 };
std::string_view RlsCodeName(RlsCode code);  // "UNKNOWN", "OK", "OVER_LIMIT"

struct RlsEntry {
  std::string key;
  std::string value;
};

// A caller-supplied limit replacing the configured one.
struct RlsLimitOverride {
  uint32_t requests_per_unit = 0;
  RlsUnit unit = RlsUnit::kUnknown;
};

struct RlsDescriptor {
  std::vector<RlsEntry> entries;
  std::optional<RlsLimitOverride> limit;
  // When set, overrides the request's hits_addend for this descriptor; 0
  // checks without consuming.
  std::optional<uint64_t> hits_addend;
};

struct RlsRequest {
  std::string domain;
  std::vector<RlsDescriptor> descriptors;
  // 0 means 1.
  uint32_t hits_addend = 0;
};

struct RlsRateLimit {
  uint32_t requests_per_unit = 0;
  RlsUnit unit = RlsUnit::kUnknown;
  std::string name;
};

struct RlsDescriptorStatus {
  RlsCode code = RlsCode::kOk;
  std::optional<RlsRateLimit> current_limit;  // absent when no rule matched
  uint32_t limit_remaining = 0;
  std::optional<std::chrono::nanoseconds> duration_until_reset;
};

struct RlsHeader {
  std::string key;
  std::string value;
};

// google.protobuf.Struct limited to what the service emits: a tree of
// strings, numbers, booleans, lists and objects.
struct RlsMetadataValue {
  enum class Kind : uint8_t { kNull, kString, kNumber, kBool, kList, kObject };
  Kind kind = Kind::kNull;
  std::string string_value;
  double number_value = 0;
  bool bool_value = false;
  std::vector<RlsMetadataValue> list;
  std::vector<std::pair<std::string, RlsMetadataValue>> object;
};

struct RlsResponse {
  RlsCode overall_code = RlsCode::kOk;
  // One per request descriptor, in request order.
  std::vector<RlsDescriptorStatus> statuses;
  std::vector<RlsHeader> response_headers_to_add;
  std::vector<RlsHeader> request_headers_to_add;
  // Set when dynamic metadata is enabled (an object).
  std::optional<RlsMetadataValue> dynamic_metadata;
};

}  // namespace sluice::daemon

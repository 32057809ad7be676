// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Checks shared by the JSON and binary record codecs (include/sluice/state_codec.h),
// so that both formats accept exactly the same records with the same messages.
// Private to the library. Pure functions.

#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "sluice/algorithms.h"
#include "sluice/result.h"
#include "sluice/state_codec.h"
#include "sluice/status.h"
#include "sluice/store.h"
#include "internal/state_fields.h"

namespace sluice::internal {

// "unsupported record format version 3; this build reads versions 1 to 2"
// (kInvalidArgument).
inline Status UnsupportedRecordVersion(int64_t version) {
  return InvalidArgumentError("unsupported record format version " + std::to_string(version) +
                              "; this build reads versions " + std::to_string(kOldestRecordFormatVersion) +
                              " to " + std::to_string(kRecordFormatVersion));
}

inline bool IsKnownRecordVersion(int64_t version) {
  return version >= kOldestRecordFormatVersion && version <= kRecordFormatVersion;
}

// The first record format version that carries Record::fencing_token.
inline constexpr int64_t kFencingTokenVersion = 2;

// Encoders for an older supported version, so that tests can pin the bytes of
// every version a reader must still accept. Fields the version lacks (the
// fencing token before version 2) are left out. REQUIRES: IsKnownRecordVersion.
std::string EncodeRecordJsonAtVersion(const Record& record, bool pretty, int64_t version);
std::string EncodeRecordBinaryAtVersion(const Record& record, int64_t version);
// The JSON encoder through a Json tree and WriteJson; the compact form is
// written directly (same bytes), this stays as its reference.
std::string EncodeRecordJsonTree(const Record& record, bool pretty, int64_t version);

// The JSON text of a fencing token: a decimal string, so that every uint64
// survives readers whose numbers are doubles. Parsing is strict: digits only,
// no sign, no leading zero (except "0"), at most UINT64_MAX.
std::string FencingTokenToJson(uint64_t token);
std::optional<uint64_t> FencingTokenFromJson(std::string_view text);

// "updated_ns" -> "updatedNs": the JSON name of a state field, used in every
// message so that both formats name fields the same way (docs/state_format.md).
inline std::string CamelCase(std::string_view snake) {
  std::string out;
  bool upper = false;
  for (char c : snake) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out.push_back(upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
    upper = false;
  }
  return out;
}

// Rewrites a ValidateState message ("state.tat_frac: ...") to name the record
// field ("record.state.tatFrac: ...").
inline Status StateError(const Status& s) {
  std::string_view msg = s.message();
  size_t colon = msg.find(": ");
  if (msg.substr(0, 6) == "state." && colon != std::string_view::npos) {
    return Status(s.code(), "record." + CamelCase(msg.substr(0, colon)) + std::string(msg.substr(colon)));
  }
  return Status(s.code(), "record.state: " + std::string(msg));
}

// The checks every decoded record passes, whatever its format: key size, a
// non-negative expiry, a valid policy and a state valid under it.
inline Status ValidateDecodedRecord(const Record& record, int64_t now_ns,
                                    std::chrono::nanoseconds max_future) {
  if (record.key.size() > kMaxKeyBytes) {
    return InvalidArgumentError("record.key: " + std::to_string(record.key.size()) +
                                " bytes exceeds the maximum of " + std::to_string(kMaxKeyBytes));
  }
  if (record.expires_at_ns < 0) {
    return InvalidArgumentError("record.expiresAtNs: " + std::to_string(record.expires_at_ns) +
                                " is negative");
  }
  const auto* limiter = std::get_if<LimiterRecord>(&record.value);
  if (limiter == nullptr) return Status::Ok();
  Status s = limiter->policy.Validate();
  if (!s.ok()) return Status(s.code(), "record.policy: " + std::string(s.message()));
  s = ValidateState(limiter->policy, limiter->state, now_ns, max_future);
  if (!s.ok()) return StateError(s);
  return Status::Ok();
}

}  // namespace sluice::internal

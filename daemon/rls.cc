// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "daemon/rls.h"

namespace sluice::daemon {
namespace {

char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

}  // namespace

std::string_view RlsUnitName(RlsUnit unit) {
  switch (unit) {
    case RlsUnit::kSecond:
      return "SECOND";
    case RlsUnit::kMinute:
      return "MINUTE";
    case RlsUnit::kHour:
      return "HOUR";
    case RlsUnit::kDay:
      return "DAY";
    case RlsUnit::kMonth:
      return "MONTH";
    case RlsUnit::kYear:
      return "YEAR";
    case RlsUnit::kWeek:
      return "WEEK";
    case RlsUnit::kUnknown:
      break;
  }
  return "UNKNOWN";
}

std::optional<RlsUnit> ParseRlsUnit(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = Upper(c);
  for (RlsUnit unit : {RlsUnit::kSecond, RlsUnit::kMinute, RlsUnit::kHour, RlsUnit::kDay, RlsUnit::kWeek,
                       RlsUnit::kMonth, RlsUnit::kYear}) {
    if (upper == RlsUnitName(unit)) return unit;
  }
  return std::nullopt;
}

std::chrono::seconds RlsUnitLength(RlsUnit unit) {
  constexpr int64_t kDay = 24 * 60 * 60;
  switch (unit) {
    case RlsUnit::kSecond:
      return std::chrono::seconds(1);
    case RlsUnit::kMinute:
      return std::chrono::seconds(60);
    case RlsUnit::kHour:
      return std::chrono::seconds(60 * 60);
    case RlsUnit::kDay:
      return std::chrono::seconds(kDay);
    case RlsUnit::kWeek:
      return std::chrono::seconds(7 * kDay);
    // envoyproxy/ratelimit's dividers: a month is 30 days, a year 365.
    case RlsUnit::kMonth:
      return std::chrono::seconds(30 * kDay);
    case RlsUnit::kYear:
      return std::chrono::seconds(365 * kDay);
    case RlsUnit::kUnknown:
      break;
  }
  return std::chrono::seconds(0);
}

std::string_view RlsCodeName(RlsCode code) {
  switch (code) {
    case RlsCode::kOk:
      return "OK";
    case RlsCode::kOverLimit:
      return "OVER_LIMIT";
    case RlsCode::kUnknown:
      break;
  }
  return "UNKNOWN";
}

}  // namespace sluice::daemon

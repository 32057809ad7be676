// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Integer-only duration parsing: "1.5h" is 1 h + 5/10 h computed exactly in
// nanoseconds, never through a double, so every accepted text has exactly one
// value and FormatDuration's output reads back unchanged.

#include "sluice/duration.h"

#include <cstdint>
#include <numeric>
#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice {
namespace {

constexpr int64_t kNanosecond = 1;
constexpr int64_t kMicrosecond = 1000 * kNanosecond;
constexpr int64_t kMillisecond = 1000 * kMicrosecond;
constexpr int64_t kSecond = 1000 * kMillisecond;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kWeek = 7 * kDay;

struct Unit {
  std::string_view name;  // Lower case.
  int64_t nanos;
};

// "µs" is accepted with both the micro sign (U+00B5) and the Greek mu (U+03BC),
// which look the same and are both typed in practice.
constexpr Unit kUnits[] = {
    {"ns", kNanosecond},
    {"nanosecond", kNanosecond},
    {"nanoseconds", kNanosecond},
    {"us", kMicrosecond},
    {"\xC2\xB5s", kMicrosecond},
    {"\xCE\xBCs", kMicrosecond},
    {"microsecond", kMicrosecond},
    {"microseconds", kMicrosecond},
    {"ms", kMillisecond},
    {"millisecond", kMillisecond},
    {"milliseconds", kMillisecond},
    {"s", kSecond},
    {"sec", kSecond},
    {"secs", kSecond},
    {"second", kSecond},
    {"seconds", kSecond},
    {"m", kMinute},
    {"min", kMinute},
    {"mins", kMinute},
    {"minute", kMinute},
    {"minutes", kMinute},
    {"h", kHour},
    {"hr", kHour},
    {"hrs", kHour},
    {"hour", kHour},
    {"hours", kHour},
    {"d", kDay},
    {"day", kDay},
    {"days", kDay},
    {"w", kWeek},
    {"week", kWeek},
    {"weeks", kWeek},
};

// A fraction with more significant digits than this is never a whole number of
// nanoseconds for any unit above (a week is 2^16 * 5^11 * 189 ns, so at most 16
// decimal places can cancel), and 10^18 still fits in int64.
constexpr size_t kMaxFractionDigits = 18;

// Long inputs are cut in messages so that a bad config line cannot make a huge
// log record.
constexpr size_t kMaxQuotedInput = 80;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// Unit names are ASCII letters, plus the UTF-8 bytes of "µ".
bool IsUnitChar(char c) { return IsAsciiAlpha(c) || static_cast<unsigned char>(c) >= 0x80; }

std::string Quote(std::string_view s) {
  std::string out = "\"";
  if (s.size() > kMaxQuotedInput) {
    out.append(s.substr(0, kMaxQuotedInput));
    out += "...";
  } else {
    out.append(s);
  }
  out += '"';
  return out;
}

Status Invalid(std::string_view input, std::string_view what) {
  std::string message = "invalid duration ";
  message += Quote(input);
  message += ": ";
  message += what;
  return InvalidArgumentError(message);
}

const Unit* FindUnit(std::string_view token) {
  std::string lower(token);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  for (const Unit& unit : kUnits) {
    if (unit.name == lower) return &unit;
  }
  return nullptr;
}

// Returns the exact number of nanoseconds in 0.`digits` of `unit`, or false
// when that is not a whole number. `digits` has no trailing zeros and at most
// kMaxFractionDigits characters.
bool FractionNanos(std::string_view digits, int64_t unit, int64_t* nanos) {
  int64_t numerator = 0;
  int64_t denominator = 1;
  for (char c : digits) {
    numerator = numerator * 10 + (c - '0');
    denominator *= 10;
  }
  // numerator * unit / denominator, reduced first so that nothing overflows:
  // the result is below `unit`.
  const int64_t g = std::gcd(unit, denominator);
  const int64_t rest = denominator / g;
  if (numerator % rest != 0) return false;
  *nanos = (numerator / rest) * (unit / g);
  return true;
}

}  // namespace

Result<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  const size_t n = text.size();
  size_t pos = 0;
  auto skip_space = [&] {
    while (pos < n && IsSpace(text[pos])) ++pos;
  };

  skip_space();
  if (pos == n) return Invalid(text, "empty; write a number and a unit, e.g. \"90s\"");

  int64_t total = 0;
  bool first = true;
  while (true) {
    // One component: <digits>[.<digits>] <space>* <unit>.
    if (text[pos] == '-') return Invalid(text, "negative durations are not allowed");
    const size_t number_start = pos;
    int64_t whole = 0;
    bool whole_overflow = false;
    bool has_digits = false;
    while (pos < n && IsDigit(text[pos])) {
      has_digits = true;
      if (__builtin_mul_overflow(whole, 10, &whole) ||
          __builtin_add_overflow(whole, text[pos] - '0', &whole)) {
        whole_overflow = true;
      }
      ++pos;
    }
    std::string_view fraction;
    if (pos < n && text[pos] == '.') {
      const size_t fraction_start = ++pos;
      while (pos < n && IsDigit(text[pos])) ++pos;
      fraction = text.substr(fraction_start, pos - fraction_start);
      has_digits = has_digits || !fraction.empty();
    }
    if (!has_digits) {
      if (pos == number_start && pos < n) {
        return Invalid(text, "expected a number at " + Quote(text.substr(pos)));
      }
      return Invalid(text, "a number needs at least one digit");
    }
    const std::string_view number = text.substr(number_start, pos - number_start);
    while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);

    skip_space();
    const size_t unit_start = pos;
    while (pos < n && IsUnitChar(text[pos])) ++pos;
    const std::string_view unit_name = text.substr(unit_start, pos - unit_start);
    if (unit_name.empty()) {
      // A bare zero needs no unit: "0" means the same in every unit.
      if (first && pos == n && whole == 0 && !whole_overflow && fraction.empty()) {
        return std::chrono::nanoseconds(0);
      }
      std::string what = "missing unit after ";
      what += Quote(number);
      if (number.size() <= kMaxQuotedInput) {
        what += " (e.g. \"";
        what += number;
        what += "s\")";
      }
      return Invalid(text, what);
    }
    const Unit* unit = FindUnit(unit_name);
    if (unit == nullptr) {
      return Invalid(text, "unknown unit " + Quote(unit_name) +
                               "; use ns, us, ms, s, m, h, d or w (or their names, e.g. \"minutes\")");
    }

    if (whole_overflow) return Invalid(text, "overflows the int64 nanosecond range (about 292 years)");
    if (fraction.size() > kMaxFractionDigits) return Invalid(text, "fraction is finer than 1 ns");
    int64_t fraction_nanos = 0;
    if (!FractionNanos(fraction, unit->nanos, &fraction_nanos)) {
      return Invalid(text, "fraction is finer than 1 ns");
    }
    int64_t component;
    if (__builtin_mul_overflow(whole, unit->nanos, &component) ||
        __builtin_add_overflow(component, fraction_nanos, &component) ||
        __builtin_add_overflow(total, component, &total)) {
      return Invalid(text, "overflows the int64 nanosecond range (about 292 years)");
    }
    first = false;

    // Between components: spaces, at most one comma, or nothing ("1h30m").
    skip_space();
    if (pos == n) break;
    if (text[pos] == ',') {
      ++pos;
      skip_space();
      if (pos == n) return Invalid(text, "expected a component after ','");
    }
    if (!IsDigit(text[pos]) && text[pos] != '.' && text[pos] != '-') {
      return Invalid(text, "unexpected " + Quote(text.substr(pos)) + " after the last component");
    }
  }
  return std::chrono::nanoseconds(total);
}

std::string FormatDuration(std::chrono::nanoseconds d) {
  const int64_t count = d.count();
  if (count == 0) return "0s";
  std::string out;
  // The magnitude as uint64 so that INT64_MIN is representable.
  uint64_t rest = static_cast<uint64_t>(count);
  if (count < 0) {
    out += '-';
    rest = 0 - rest;
  }
  // Whole days read better as days ("2d", not "48h"); anything else starts at
  // hours, so that a value has a single spelling.
  if (rest % kDay == 0) {
    out += std::to_string(rest / kDay);
    out += 'd';
    return out;
  }
  struct Part {
    uint64_t nanos;
    const char* suffix;
  };
  static constexpr Part kParts[] = {{kHour, "h"},         {kMinute, "m"},       {kSecond, "s"},
                                    {kMillisecond, "ms"}, {kMicrosecond, "us"}, {kNanosecond, "ns"}};
  for (const Part& part : kParts) {
    const uint64_t value = rest / part.nanos;
    rest %= part.nanos;
    if (value == 0) continue;
    out += std::to_string(value);
    out += part.suffix;
  }
  return out;
}

}  // namespace sluice

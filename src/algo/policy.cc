// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include <cstring>
#include <string>

#include "algo/evaluate.h"
#include "algo/int_math.h"
#include "sluice/algorithms.h"
#include "sluice/duration.h"

namespace sluice {
namespace {

using internal::int128;

// Bounds that keep every intermediate of the algorithms inside 128 bits with
// room to spare: limit * interval and time * refill_amount stay below 2^110.
constexpr int64_t kMaxLimit = 1'000'000'000'000'000;        // 1e15 units
constexpr int64_t kMaxRefillAmount = 1'000'000'000'000'000;  // 1e15 units per interval
constexpr int64_t kNanosPerDay = 86'400'000'000'000;
constexpr int64_t kMaxInterval = 36'525 * kNanosPerDay;  // 100 years

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil), and its inverse.
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct CivilDate {
  int64_t year;
  int64_t month;
};

CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  return {yoe + era * 400 + (m <= 2), m};
}

void Mix(uint64_t& h, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (8 * i)) & 0xff;
    h *= 0x100000001b3ULL;
  }
}

}  // namespace

std::string_view AlgorithmName(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kTokenBucket: return "token_bucket";
    case Algorithm::kGcra: return "gcra";
    case Algorithm::kFixedWindow: return "fixed_window";
    case Algorithm::kSlidingWindowLog: return "sliding_window_log";
    case Algorithm::kSlidingWindowCounter: return "sliding_window_counter";
  }
  return "unknown";
}

Result<Algorithm> ParseAlgorithm(std::string_view name) {
  for (Algorithm a : {Algorithm::kTokenBucket, Algorithm::kGcra, Algorithm::kFixedWindow,
                      Algorithm::kSlidingWindowLog, Algorithm::kSlidingWindowCounter}) {
    if (name == AlgorithmName(a)) return a;
  }
  if (name == "sliding_window") return Algorithm::kSlidingWindowCounter;
  return InvalidArgumentError("unknown algorithm \"" + std::string(name) +
                              "\"; expected token_bucket, gcra, fixed_window, sliding_window_log or "
                              "sliding_window_counter");
}

std::string_view WindowAlignmentName(WindowAlignment alignment) {
  switch (alignment) {
    case WindowAlignment::kEpoch: return "epoch";
    case WindowAlignment::kCalendarDay: return "day";
    case WindowAlignment::kCalendarWeek: return "week";
    case WindowAlignment::kCalendarMonth: return "month";
    case WindowAlignment::kCalendarYear: return "year";
  }
  return "unknown";
}

Result<WindowAlignment> ParseWindowAlignment(std::string_view name) {
  for (WindowAlignment a : {WindowAlignment::kEpoch, WindowAlignment::kCalendarDay, WindowAlignment::kCalendarWeek,
                            WindowAlignment::kCalendarMonth, WindowAlignment::kCalendarYear}) {
    if (name == WindowAlignmentName(a)) return a;
  }
  return InvalidArgumentError("unknown window alignment \"" + std::string(name) +
                              "\"; expected epoch, day, week, month or year");
}

std::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kConsume: return "consume";
    case Operation::kPeek: return "peek";
    case Operation::kRefund: return "refund";
    case Operation::kReset: return "reset";
  }
  return "unknown";
}

Policy Policy::TokenBucket(int64_t capacity, int64_t refill_amount, std::chrono::nanoseconds interval) {
  return Policy{Algorithm::kTokenBucket, capacity, refill_amount, interval, WindowAlignment::kEpoch};
}
Policy Policy::Gcra(int64_t burst, int64_t amount, std::chrono::nanoseconds period) {
  return Policy{Algorithm::kGcra, burst, amount, period, WindowAlignment::kEpoch};
}
Policy Policy::FixedWindow(int64_t limit, std::chrono::nanoseconds window) {
  return Policy{Algorithm::kFixedWindow, limit, 0, window, WindowAlignment::kEpoch};
}
Policy Policy::CalendarWindow(int64_t limit, WindowAlignment alignment) {
  return Policy{Algorithm::kFixedWindow, limit, 0, std::chrono::nanoseconds(0), alignment};
}
Policy Policy::SlidingWindowLog(int64_t limit, std::chrono::nanoseconds window) {
  return Policy{Algorithm::kSlidingWindowLog, limit, 0, window, WindowAlignment::kEpoch};
}
Policy Policy::SlidingWindowCounter(int64_t limit, std::chrono::nanoseconds window) {
  return Policy{Algorithm::kSlidingWindowCounter, limit, 0, window, WindowAlignment::kEpoch};
}

Status Policy::Validate() const {
  // Built only for an error: Validate runs on every Evaluate.
  const auto what = [this] { return std::string(AlgorithmName(algorithm)) + " policy: "; };
  switch (algorithm) {
    case Algorithm::kTokenBucket:
    case Algorithm::kGcra:
    case Algorithm::kFixedWindow:
    case Algorithm::kSlidingWindowLog:
    case Algorithm::kSlidingWindowCounter:
      break;
    default:
      return InvalidArgumentError("policy: unknown algorithm " + std::to_string(static_cast<int>(algorithm)));
  }
  if (limit < 1 || limit > kMaxLimit) {
    return InvalidArgumentError(what() + "limit must be in [1, " + std::to_string(kMaxLimit) + "], got " +
                                std::to_string(limit));
  }
  const bool refills = algorithm == Algorithm::kTokenBucket || algorithm == Algorithm::kGcra;
  if (refills) {
    if (refill_amount < 1 || refill_amount > kMaxRefillAmount) {
      return InvalidArgumentError(what() + "refill amount must be in [1, " + std::to_string(kMaxRefillAmount) +
                                  "], got " + std::to_string(refill_amount));
    }
  } else if (refill_amount != 0) {
    return InvalidArgumentError(what() + "refill amount applies only to token_bucket and gcra, got " +
                                std::to_string(refill_amount));
  }
  if (alignment != WindowAlignment::kEpoch) {
    if (algorithm != Algorithm::kFixedWindow) {
      return InvalidArgumentError(what() + "calendar alignment applies only to fixed_window");
    }
    if (static_cast<uint8_t>(alignment) > static_cast<uint8_t>(WindowAlignment::kCalendarYear)) {
      return InvalidArgumentError(what() + "unknown window alignment " + std::to_string(static_cast<int>(alignment)));
    }
  } else if (interval.count() < 1 || interval.count() > kMaxInterval) {
    return InvalidArgumentError(what() + "interval must be in [1ns, 100 years], got " + FormatDuration(interval));
  }
  if (algorithm == Algorithm::kGcra &&
      internal::CeilDiv(int128{limit} * interval.count(), refill_amount) > kMaxInterval) {
    // GCRA stores its debt as a time (the TAT) up to a full burst ahead of now;
    // beyond int64 it would saturate and forget debt, admitting too much.
    return InvalidArgumentError(what() + "refilling a full burst (limit * interval / refill amount) must take at "
                                         "most 100 years");
  }
  if (algorithm == Algorithm::kSlidingWindowLog && limit > kMaxSlidingLogLimit) {
    return InvalidArgumentError(what() + "limit " + std::to_string(limit) + " exceeds the sliding log cap of " +
                                std::to_string(kMaxSlidingLogLimit) + "; use sliding_window_counter");
  }
  return Status::Ok();
}

uint64_t Policy::Fingerprint() const {
  uint64_t h = 0xcbf29ce484222325ULL;
  Mix(h, static_cast<uint64_t>(algorithm));
  Mix(h, static_cast<uint64_t>(limit));
  Mix(h, static_cast<uint64_t>(refill_amount));
  Mix(h, static_cast<uint64_t>(interval.count()));
  Mix(h, static_cast<uint64_t>(alignment));
  return h;
}

std::string Policy::ToString() const {
  std::string out(AlgorithmName(algorithm));
  out += "(limit=" + std::to_string(limit);
  if (algorithm == Algorithm::kTokenBucket || algorithm == Algorithm::kGcra) {
    out += ", refill=" + std::to_string(refill_amount) + "/" + FormatDuration(interval);
  } else if (alignment != WindowAlignment::kEpoch) {
    out += ", window=calendar " + std::string(WindowAlignmentName(alignment));
  } else {
    out += ", window=" + FormatDuration(interval);
  }
  out += ")";
  return out;
}

namespace internal {

ExactWindowBounds FixedWindowAtExact(const Policy& policy, int64_t now_ns) {
  if (policy.alignment == WindowAlignment::kEpoch) {
    const int64_t len = policy.interval.count() > 0 ? policy.interval.count() : 1;
    const int128 start = FloorDiv(now_ns, len) * len;
    return {start, start + len};
  }
  const int64_t days = static_cast<int64_t>(FloorDiv(now_ns, kNanosPerDay));
  int64_t start_day = days;
  int64_t end_day = days + 1;
  switch (policy.alignment) {
    case WindowAlignment::kCalendarWeek: {
      // 1970-01-01 was a Thursday; Monday-based weekday index is (days + 3) mod 7.
      start_day = days - static_cast<int64_t>(internal::FloorMod(days + 3, 7));
      end_day = start_day + 7;
      break;
    }
    case WindowAlignment::kCalendarMonth: {
      const CivilDate c = CivilFromDays(days);
      start_day = DaysFromCivil(c.year, c.month, 1);
      end_day = c.month == 12 ? DaysFromCivil(c.year + 1, 1, 1) : DaysFromCivil(c.year, c.month + 1, 1);
      break;
    }
    case WindowAlignment::kCalendarYear: {
      const CivilDate c = CivilFromDays(days);
      start_day = DaysFromCivil(c.year, 1, 1);
      end_day = DaysFromCivil(c.year + 1, 1, 1);
      break;
    }
    default:
      break;
  }
  return {int128{start_day} * kNanosPerDay, int128{end_day} * kNanosPerDay};
}

}  // namespace internal

WindowBounds FixedWindowAt(const Policy& policy, int64_t now_ns) {
  const internal::ExactWindowBounds w = internal::FixedWindowAtExact(policy, now_ns);
  return {internal::Saturate(w.start_ns), internal::Saturate(w.end_ns)};
}

}  // namespace sluice

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The algorithms, in exact integer arithmetic. Each works on its own state type
// and shares one rule: `now` is first raised to the latest time the state has
// seen, so a clock stepping backwards looks like time standing still and can
// never refill anything.

#include <algorithm>
#include <string>

#include "algo/evaluate.h"
#include "algo/int_math.h"
#include "sluice/algorithms.h"

namespace sluice {
namespace {

using internal::CeilDiv;
using internal::FloorDiv;
using internal::FloorMod;
using internal::int128;
using internal::kInt64Max;
using internal::Saturate;
using std::chrono::nanoseconds;

nanoseconds Nanos(int128 v) { return nanoseconds(Saturate(v < 0 ? 0 : v)); }

std::string Field(std::string_view name) { return "state." + std::string(name); }

}  // namespace

namespace internal {

// ---- Token bucket ----------------------------------------------------------
// One token is `interval` units; each nanosecond adds `refill_amount` units.
// Tracking the fractional token as an integer remainder makes refill exact for
// any rate, e.g. 7 tokens per 3 seconds.

void RefillTokenBucket(const Policy& p, TokenBucketState& s, int64_t now) {
  if (now <= s.updated_ns) return;
  const int64_t cap = p.limit;
  if (s.tokens >= cap) {
    s = {cap, 0, now};
    return;
  }
  const int128 total = (int128{now} - s.updated_ns) * p.refill_amount + s.remainder;
  const int128 interval = p.interval.count();
  const int128 tokens = int128{s.tokens} + total / interval;
  if (tokens >= cap) {
    s = {cap, 0, now};
  } else {
    s = {static_cast<int64_t>(tokens), static_cast<int64_t>(total % interval), now};
  }
}

// Nanoseconds from s.updated_ns until the bucket holds `want` tokens.
int128 TokenBucketWait(const Policy& p, const TokenBucketState& s, int64_t want) {
  if (s.tokens >= want) return 0;
  const int128 needed = (int128{want} - s.tokens) * p.interval.count() - s.remainder;
  return CeilDiv(needed, p.refill_amount);
}

Evaluation Eval(const Policy& p, TokenBucketState& state, Operation op, int64_t cost, int64_t now) {
  TokenBucketState s = state;
  now = std::max(now, s.updated_ns);
  RefillTokenBucket(p, s, now);
  Evaluation ev;
  ev.decision.limit = p.limit;
  ev.decision.allowed = true;
  switch (op) {
    case Operation::kConsume:
    case Operation::kPeek:
      if (s.tokens >= cost) {
        if (op == Operation::kConsume) s.tokens -= cost;
      } else {
        ev.decision.allowed = false;
        ev.decision.retry_after = Nanos(TokenBucketWait(p, s, cost));
      }
      break;
    case Operation::kRefund:
      if (int128{s.tokens} + cost >= p.limit) {
        s.tokens = p.limit;
        s.remainder = 0;
      } else {
        s.tokens += cost;
      }
      break;
    case Operation::kReset:
      s = {p.limit, 0, now};
      break;
  }
  ev.decision.remaining = s.tokens;
  const int128 until_full = TokenBucketWait(p, s, p.limit);
  ev.decision.reset_after = Nanos(until_full);
  ev.expires_at_ns = Saturate(int128{now} + until_full);
  if (op != Operation::kPeek) {
    ev.changed = !(s == state);
    state = s;
  }
  return ev;
}

// ---- GCRA ------------------------------------------------------------------
// Times are scaled by `refill_amount`, so one unit of cost moves the
// theoretical arrival time (TAT) by exactly `interval` scaled nanoseconds.
//
// The TAT is stored as an int64 time, so it must not pass INT64_MAX: a consume
// that would move it there is denied (it could only fit after the end of
// time), and `remaining` counts only the units that fit before it. Saturating
// the TAT instead would forget debt and admit everything near the end.

Evaluation Eval(const Policy& p, GcraState& state, Operation op, int64_t cost, int64_t now) {
  now = std::max(now, state.updated_ns);
  const int128 amount = p.refill_amount;
  const int128 interval = p.interval.count();
  const int128 now_s = int128{now} * amount;
  const int128 tolerance = int128{p.limit} * interval;  // largest TAT - now that still admits
  const int128 end_s = int128{kInt64Max} * amount;      // the latest TAT a state can hold
  int128 tat = std::max(int128{state.tat_ns} * amount + state.tat_frac, now_s);

  Evaluation ev;
  ev.decision.limit = p.limit;
  ev.decision.allowed = true;
  switch (op) {
    case Operation::kConsume:
    case Operation::kPeek: {
      const int128 new_tat = tat + int128{cost} * interval;
      if (new_tat > end_s) {
        ev.decision.allowed = false;
        ev.decision.retry_after = nanoseconds::max();  // never
      } else if (new_tat - now_s <= tolerance) {
        if (op == Operation::kConsume) tat = new_tat;
      } else {
        ev.decision.allowed = false;
        ev.decision.retry_after = Nanos(CeilDiv(new_tat - now_s - tolerance, amount));
      }
      break;
    }
    case Operation::kRefund:
      tat = std::max(now_s, tat - int128{cost} * interval);
      break;
    case Operation::kReset:
      tat = now_s;
      break;
  }
  ev.decision.remaining = Saturate(FloorDiv(std::min(tolerance - (tat - now_s), end_s - tat), interval));
  const int128 until_fresh = CeilDiv(tat - now_s, amount);
  ev.decision.reset_after = Nanos(until_fresh);
  ev.expires_at_ns = Saturate(int128{now} + until_fresh);
  if (op != Operation::kPeek) {
    GcraState s{Saturate(FloorDiv(tat, amount)), static_cast<int64_t>(FloorMod(tat, amount)), now};
    ev.changed = !(s == state);
    state = s;
  }
  return ev;
}

// ---- Fixed window ----------------------------------------------------------

Evaluation Eval(const Policy& p, FixedWindowState& state, Operation op, int64_t cost, int64_t now) {
  FixedWindowState s = state;
  // Exact bounds: the last windows end after INT64_MAX, and the waits until
  // their end are still exact (only the expiry saturates).
  ExactWindowBounds w = FixedWindowAtExact(p, now);
  if (s.window_start_ns > w.start_ns) {
    // The clock stepped back into an earlier window: stay in the stored one.
    w = FixedWindowAtExact(p, s.window_start_ns);
    now = Saturate(w.start_ns);
  } else if (s.window_start_ns < w.start_ns) {
    s = {static_cast<int64_t>(w.start_ns), 0};
  }
  Evaluation ev;
  ev.decision.limit = p.limit;
  ev.decision.allowed = true;
  switch (op) {
    case Operation::kConsume:
    case Operation::kPeek:
      if (int128{s.count} + cost <= p.limit) {
        if (op == Operation::kConsume) s.count += cost;
      } else {
        ev.decision.allowed = false;
        ev.decision.retry_after = Nanos(w.end_ns - now);
      }
      break;
    case Operation::kRefund:
      s.count = std::max<int64_t>(0, s.count - cost);
      break;
    case Operation::kReset:
      s.count = 0;
      break;
  }
  ev.decision.remaining = p.limit - s.count;
  ev.decision.reset_after = s.count > 0 ? Nanos(w.end_ns - now) : nanoseconds(0);
  ev.expires_at_ns = s.count > 0 ? Saturate(w.end_ns) : now;
  if (op != Operation::kPeek) {
    ev.changed = !(s == state);
    state = s;
  }
  return ev;
}

// ---- Sliding window log ----------------------------------------------------
// The window ending at `now` is (now - W, now]: an entry at time t stops
// counting at exactly t + W.

Evaluation Eval(const Policy& p, SlidingWindowLogState& state, Operation op, int64_t cost, int64_t now) {
  now = std::max(now, state.updated_ns);
  const int64_t window = p.interval.count();
  const int128 horizon = int128{now} - window;  // entries at or before this are out
  auto& entries = state.entries;
  size_t first = 0;
  while (first < entries.size() && entries[first].time_ns <= horizon) ++first;
  int128 sum = 0;
  for (size_t i = first; i < entries.size(); ++i) sum += entries[i].cost;

  Evaluation ev;
  ev.decision.limit = p.limit;
  ev.decision.allowed = true;
  const bool fits = sum + cost <= p.limit;
  if ((op == Operation::kConsume || op == Operation::kPeek) && !fits) {
    ev.decision.allowed = false;
    int128 left = sum;
    for (size_t i = first; i < entries.size(); ++i) {
      left -= entries[i].cost;
      if (left + cost <= p.limit) {
        ev.decision.retry_after = Nanos(int128{entries[i].time_ns} + window - now);
        break;
      }
    }
  }
  if (op == Operation::kPeek) {
    ev.decision.remaining = Saturate(int128{p.limit} - sum);
    ev.decision.reset_after = first < entries.size() ? Nanos(int128{entries.back().time_ns} + window - now)
                                                     : nanoseconds(0);
    ev.expires_at_ns = Saturate(int128{now} + ev.decision.reset_after.count());
    return ev;
  }

  bool changed = first > 0 || state.updated_ns != now;
  entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(first));
  state.updated_ns = now;
  switch (op) {
    case Operation::kConsume:
      if (fits && cost > 0) {
        if (!entries.empty() && entries.back().time_ns == now) {
          entries.back().cost += cost;
        } else {
          entries.push_back({now, cost});
        }
        sum += cost;
        changed = true;
      }
      break;
    case Operation::kRefund: {
      int64_t left = cost;
      while (left > 0 && !entries.empty()) {
        const int64_t take = std::min(left, entries.back().cost);
        entries.back().cost -= take;
        sum -= take;
        left -= take;
        if (entries.back().cost == 0) entries.pop_back();
        changed = true;
      }
      break;
    }
    case Operation::kReset:
      changed = changed || !entries.empty();
      entries.clear();
      sum = 0;
      break;
    case Operation::kPeek:
      break;
  }
  ev.decision.remaining = Saturate(int128{p.limit} - sum);
  ev.decision.reset_after =
      entries.empty() ? nanoseconds(0) : Nanos(int128{entries.back().time_ns} + window - now);
  ev.expires_at_ns = Saturate(int128{now} + ev.decision.reset_after.count());
  ev.changed = changed;
  return ev;
}

// ---- Sliding window counter ------------------------------------------------
// The previous aligned window counts with weight (W - elapsed) / W, rounded up
// so the estimate never admits more than the exact rational would.

Evaluation Eval(const Policy& p, SlidingWindowCounterState& state, Operation op, int64_t cost, int64_t now) {
  SlidingWindowCounterState s = state;
  now = std::max({now, s.updated_ns, s.window_start_ns});
  const int64_t window = p.interval.count();
  const int64_t start = Saturate(FloorDiv(now, window) * window);
  if (s.window_start_ns != start) {
    if (int128{s.window_start_ns} + window == start) {
      s.previous = s.current;
    } else {
      s.previous = 0;
    }
    s.current = 0;
    s.window_start_ns = start;
  }
  s.updated_ns = now;
  const int128 elapsed = int128{now} - start;
  auto weighted_previous = [&](int128 previous, int128 at) { return CeilDiv(previous * (window - at), window); };

  Evaluation ev;
  ev.decision.limit = p.limit;
  ev.decision.allowed = true;
  const int128 used = weighted_previous(s.previous, elapsed) + s.current;
  switch (op) {
    case Operation::kConsume:
    case Operation::kPeek:
      if (used + cost <= p.limit) {
        if (op == Operation::kConsume) s.current += cost;
      } else {
        ev.decision.allowed = false;
        const int128 room = int128{p.limit} - s.current - cost;  // for the previous window's share
        int128 wait = -1;
        if (room >= 0 && s.previous > 0) {
          const int128 at = window - FloorDiv(room * window, s.previous);
          if (at < window) wait = at - elapsed;
        }
        if (wait < 0) {
          // In the next window the current count becomes the weighted one.
          const int128 next_room = int128{p.limit} - cost;
          const int128 at = s.current == 0 ? 0 : std::max<int128>(0, window - FloorDiv(next_room * window, s.current));
          wait = int128{start} + window + at - now;
        }
        ev.decision.retry_after = Nanos(wait);
      }
      break;
    case Operation::kRefund:
      s.current = std::max<int64_t>(0, s.current - cost);
      break;
    case Operation::kReset:
      s.current = 0;
      s.previous = 0;
      break;
  }
  const int128 used_after = weighted_previous(s.previous, elapsed) + s.current;
  ev.decision.remaining = Saturate(std::max<int128>(0, int128{p.limit} - used_after));
  int128 fresh_at = now;
  if (s.current > 0) {
    fresh_at = int128{start} + 2 * int128{window};
  } else if (s.previous > 0) {
    fresh_at = int128{start} + window;
  }
  ev.decision.reset_after = Nanos(fresh_at - now);
  ev.expires_at_ns = Saturate(fresh_at);
  if (op != Operation::kPeek) {
    ev.changed = !(s == state);
    state = s;
  }
  return ev;
}

Status CostError(const Policy& policy, Operation op, int64_t cost) {
  if (cost < 0) return InvalidArgumentError("cost must not be negative, got " + std::to_string(cost));
  if ((op == Operation::kConsume || op == Operation::kPeek) && cost > policy.limit) {
    return InvalidArgumentError("cost " + std::to_string(cost) + " exceeds the limit of " + policy.ToString() +
                                " and could never be admitted");
  }
  return InternalError("CostError called for a valid cost");
}

}  // namespace internal

Algorithm AlgorithmOf(const LimiterState& state) { return static_cast<Algorithm>(state.index() + 1); }

LimiterState FreshState(const Policy& policy, int64_t now_ns) {
  switch (policy.algorithm) {
    case Algorithm::kTokenBucket: return TokenBucketState{policy.limit, 0, now_ns};
    case Algorithm::kGcra: return GcraState{now_ns, 0, now_ns};
    case Algorithm::kFixedWindow: return FixedWindowState{FixedWindowAt(policy, now_ns).start_ns, 0};
    case Algorithm::kSlidingWindowLog: return SlidingWindowLogState{{}, now_ns};
    case Algorithm::kSlidingWindowCounter: {
      const int64_t w = std::max<int64_t>(1, policy.interval.count());
      return SlidingWindowCounterState{Saturate(FloorDiv(now_ns, w) * w), 0, 0, now_ns};
    }
  }
  return TokenBucketState{policy.limit, 0, now_ns};
}

Status ValidateState(const Policy& policy, const LimiterState& state, int64_t now_ns, nanoseconds max_future) {
  SLUICE_RETURN_IF_ERROR(policy.Validate());
  if (AlgorithmOf(state) != policy.algorithm) {
    return InvalidArgumentError("state is " + std::string(AlgorithmName(AlgorithmOf(state))) + " but the policy is " +
                                std::string(AlgorithmName(policy.algorithm)));
  }
  const int128 latest = int128{now_ns} + max_future.count();
  auto check_time = [&](std::string_view name, int64_t t) -> Status {
    if (t < 0) return InvalidArgumentError(Field(name) + ": " + std::to_string(t) + " is before the Unix epoch");
    if (t > latest) {
      return InvalidArgumentError(Field(name) + ": " + std::to_string(t) + " is more than " +
                                  std::to_string(max_future.count()) + "ns in the future");
    }
    return Status::Ok();
  };
  auto check_range = [&](std::string_view name, int64_t v, int64_t lo, int64_t hi,
                         std::string_view hi_name) -> Status {
    if (v < lo) return InvalidArgumentError(Field(name) + ": " + std::to_string(v) + " is negative");
    if (v > hi) {
      return InvalidArgumentError(Field(name) + ": " + std::to_string(v) + " exceeds " + std::string(hi_name) + " " +
                                  std::to_string(hi));
    }
    return Status::Ok();
  };
  switch (policy.algorithm) {
    case Algorithm::kTokenBucket: {
      const auto& s = std::get<TokenBucketState>(state);
      SLUICE_RETURN_IF_ERROR(check_range("tokens", s.tokens, 0, policy.limit, "capacity"));
      SLUICE_RETURN_IF_ERROR(
          check_range("remainder", s.remainder, 0, policy.interval.count() - 1, "the largest remainder"));
      return check_time("updated_ns", s.updated_ns);
    }
    case Algorithm::kGcra: {
      const auto& s = std::get<GcraState>(state);
      SLUICE_RETURN_IF_ERROR(check_range("tat_frac", s.tat_frac, 0, policy.refill_amount - 1, "the largest fraction"));
      SLUICE_RETURN_IF_ERROR(check_time("updated_ns", s.updated_ns));
      // A TAT may lie ahead of now by at most the burst's worth of time.
      const int128 ahead = CeilDiv(int128{policy.limit} * policy.interval.count(), policy.refill_amount);
      if (s.tat_ns < 0 || int128{s.tat_ns} > latest + ahead) {
        return InvalidArgumentError(Field("tat_ns") + ": " + std::to_string(s.tat_ns) +
                                    " is outside [0, now + burst + allowed skew]");
      }
      return Status::Ok();
    }
    case Algorithm::kFixedWindow: {
      const auto& s = std::get<FixedWindowState>(state);
      SLUICE_RETURN_IF_ERROR(check_range("count", s.count, 0, policy.limit, "the limit"));
      // The first calendar week of 1970 starts on Monday 1969-12-29: a window
      // start may precede the epoch by as much as the window holding time 0.
      if (s.window_start_ns < 0 && s.window_start_ns >= FixedWindowAt(policy, 0).start_ns) {
        SLUICE_RETURN_IF_ERROR(check_time("window_start_ns", 0));
      } else {
        SLUICE_RETURN_IF_ERROR(check_time("window_start_ns", s.window_start_ns));
      }
      if (FixedWindowAt(policy, s.window_start_ns).start_ns != s.window_start_ns) {
        return InvalidArgumentError(Field("window_start_ns") + ": " + std::to_string(s.window_start_ns) +
                                    " is not a window boundary of " + policy.ToString());
      }
      return Status::Ok();
    }
    case Algorithm::kSlidingWindowLog: {
      const auto& s = std::get<SlidingWindowLogState>(state);
      SLUICE_RETURN_IF_ERROR(check_time("updated_ns", s.updated_ns));
      if (static_cast<int64_t>(s.entries.size()) > policy.limit) {
        return InvalidArgumentError(Field("entries") + ": " + std::to_string(s.entries.size()) +
                                    " entries exceed the limit " + std::to_string(policy.limit));
      }
      int128 sum = 0;
      for (size_t i = 0; i < s.entries.size(); ++i) {
        const LogEntry& e = s.entries[i];
        const std::string name = "entries[" + std::to_string(i) + "]";
        if (e.cost < 1) return InvalidArgumentError(Field(name) + ".cost: must be at least 1");
        SLUICE_RETURN_IF_ERROR(check_time(name + ".time_ns", e.time_ns));
        if (i > 0 && e.time_ns <= s.entries[i - 1].time_ns) {
          return InvalidArgumentError(Field(name) + ".time_ns: entries must be in increasing time order");
        }
        if (e.time_ns > s.updated_ns) {
          return InvalidArgumentError(Field(name) + ".time_ns: later than updated_ns");
        }
        sum += e.cost;
      }
      if (sum > policy.limit) {
        return InvalidArgumentError(Field("entries") + ": total cost " + std::to_string(Saturate(sum)) +
                                    " exceeds the limit " + std::to_string(policy.limit));
      }
      return Status::Ok();
    }
    case Algorithm::kSlidingWindowCounter: {
      const auto& s = std::get<SlidingWindowCounterState>(state);
      SLUICE_RETURN_IF_ERROR(check_range("current", s.current, 0, policy.limit, "the limit"));
      SLUICE_RETURN_IF_ERROR(check_range("previous", s.previous, 0, policy.limit, "the limit"));
      SLUICE_RETURN_IF_ERROR(check_time("window_start_ns", s.window_start_ns));
      SLUICE_RETURN_IF_ERROR(check_time("updated_ns", s.updated_ns));
      if (s.window_start_ns % policy.interval.count() != 0) {
        return InvalidArgumentError(Field("window_start_ns") + ": not a multiple of the window length");
      }
      return Status::Ok();
    }
  }
  return InvalidArgumentError("state: unknown algorithm");
}

Result<Evaluation> Evaluate(const Policy& policy, std::optional<LimiterState>& state, Operation op, int64_t cost,
                            int64_t now_ns) {
  SLUICE_RETURN_IF_ERROR(policy.Validate());
  SLUICE_RETURN_IF_ERROR(internal::CheckCost(policy, op, cost));
  if (!state.has_value() || AlgorithmOf(*state) != policy.algorithm) state = FreshState(policy, now_ns);
  return std::visit([&](auto& s) { return internal::Eval(policy, s, op, cost, now_ns); }, *state);
}

int64_t ExpiresAt(const Policy& policy, const LimiterState& state) {
  // A peek at the earliest possible time is evaluated at the latest time the
  // state has seen, which is when it was written.
  std::optional<LimiterState> copy = state;
  Result<Evaluation> ev = Evaluate(policy, copy, Operation::kPeek, 0, internal::kInt64Min);
  return ev.ok() ? ev->expires_at_ns : 0;
}

}  // namespace sluice

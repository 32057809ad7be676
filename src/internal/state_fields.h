// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The single table of each algorithm's persisted state fields: their names in
// JSON and error messages, their order, and the member they map to. The JSON
// and binary codecs, the Redis record layout and the memory store's slots are
// all derived from it, so adding a field or an algorithm is one edit here (plus
// the algorithm itself). Internal: no API promise. Pure constexpr data.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "sluice/algorithms.h"
#include "sluice/result.h"

namespace sluice::internal {

// One int64 field of a state type: its JSON name, its path in error messages,
// its field name in a Redis hash (short: every decision writes it), and the
// member.
template <typename S>
struct StateField {
  std::string_view json_name;
  std::string_view path;
  std::string_view redis_name;
  int64_t S::*member;
};

// The int64 fields of each state type, in the order both formats write them.
// The golden files in testdata/ pin this order and these names, and Redis
// hashes already stored use the Redis names (the Lua decision code gets its
// field lists from this table): never reorder or rename. A sliding log's
// entries are not in the table; each format writes them itself.
template <typename S>
struct StateFields;

template <>
struct StateFields<TokenBucketState> {
  static constexpr std::array<StateField<TokenBucketState>, 3> kFields{{
      {"tokens", "record.state.tokens", "tokens", &TokenBucketState::tokens},
      {"remainder", "record.state.remainder", "remainder", &TokenBucketState::remainder},
      {"updatedNs", "record.state.updatedNs", "updated", &TokenBucketState::updated_ns},
  }};
};

template <>
struct StateFields<GcraState> {
  static constexpr std::array<StateField<GcraState>, 3> kFields{{
      {"tatNs", "record.state.tatNs", "tat", &GcraState::tat_ns},
      {"tatFrac", "record.state.tatFrac", "frac", &GcraState::tat_frac},
      {"updatedNs", "record.state.updatedNs", "updated", &GcraState::updated_ns},
  }};
};

template <>
struct StateFields<FixedWindowState> {
  static constexpr std::array<StateField<FixedWindowState>, 2> kFields{{
      {"windowStartNs", "record.state.windowStartNs", "start", &FixedWindowState::window_start_ns},
      {"count", "record.state.count", "count", &FixedWindowState::count},
  }};
};

template <>
struct StateFields<SlidingWindowLogState> {
  static constexpr std::array<StateField<SlidingWindowLogState>, 1> kFields{{
      {"updatedNs", "record.state.updatedNs", "updated", &SlidingWindowLogState::updated_ns},
  }};
};

template <>
struct StateFields<SlidingWindowCounterState> {
  static constexpr std::array<StateField<SlidingWindowCounterState>, 4> kFields{{
      {"windowStartNs", "record.state.windowStartNs", "start", &SlidingWindowCounterState::window_start_ns},
      {"current", "record.state.current", "cur", &SlidingWindowCounterState::current},
      {"previous", "record.state.previous", "prev", &SlidingWindowCounterState::previous},
      {"updatedNs", "record.state.updatedNs", "updated", &SlidingWindowCounterState::updated_ns},
  }};
};

// Calls fn(std::type_identity<S>{}) with the state type of `algorithm`, or
// returns kInvalidArgument for an unknown one.
template <typename Fn>
Result<LimiterState> WithStateType(Algorithm algorithm, Fn&& fn) {
  switch (algorithm) {
    case Algorithm::kTokenBucket:
      return fn(std::type_identity<TokenBucketState>{});
    case Algorithm::kGcra:
      return fn(std::type_identity<GcraState>{});
    case Algorithm::kFixedWindow:
      return fn(std::type_identity<FixedWindowState>{});
    case Algorithm::kSlidingWindowLog:
      return fn(std::type_identity<SlidingWindowLogState>{});
    case Algorithm::kSlidingWindowCounter:
      return fn(std::type_identity<SlidingWindowCounterState>{});
  }
  return InvalidArgumentError("record.state: unknown algorithm " +
                              std::to_string(static_cast<int>(algorithm)));
}

// Calls fn(std::type_identity<S>{}) with the state type of `algorithm`.
// Returns false for an unknown algorithm.
template <typename Fn>
bool VisitStateType(Algorithm algorithm, Fn&& fn) {
  switch (algorithm) {
    case Algorithm::kTokenBucket: fn(std::type_identity<TokenBucketState>{}); return true;
    case Algorithm::kGcra: fn(std::type_identity<GcraState>{}); return true;
    case Algorithm::kFixedWindow: fn(std::type_identity<FixedWindowState>{}); return true;
    case Algorithm::kSlidingWindowLog: fn(std::type_identity<SlidingWindowLogState>{}); return true;
    case Algorithm::kSlidingWindowCounter: fn(std::type_identity<SlidingWindowCounterState>{}); return true;
  }
  return false;
}

}  // namespace sluice::internal

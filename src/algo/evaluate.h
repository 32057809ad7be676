// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The algorithms on their concrete state types, for stores that keep states
// in their own layout and must not pay for std::optional<std::variant> or for
// re-validating a policy they validated once. Semantics as sluice::Evaluate.
//
// REQUIRES (not checked): policy.Validate() is OK, CheckCost(policy, op, cost)
// is OK, and the state belongs to the policy's algorithm.

#pragma once

#include <cstdint>

#include "algo/int_math.h"
#include "sluice/algorithms.h"

namespace sluice::internal {

// FixedWindowAt without saturation: the last windows end after INT64_MAX, and
// waits until their end must be exact.
struct ExactWindowBounds {
  int128 start_ns = 0;
  int128 end_ns = 0;
};
ExactWindowBounds FixedWindowAtExact(const Policy& policy, int64_t now_ns);

// The error CheckCost returns; out of line to keep the check itself small.
Status CostError(const Policy& policy, Operation op, int64_t cost);

// kInvalidArgument for a negative cost, or a consume/peek cost above the limit.
inline Status CheckCost(const Policy& policy, Operation op, int64_t cost) {
  const bool takes = op == Operation::kConsume || op == Operation::kPeek;
  if (cost >= 0 && (!takes || cost <= policy.limit)) [[likely]] return Status();
  return CostError(policy, op, cost);
}

Evaluation Eval(const Policy& p, TokenBucketState& state, Operation op, int64_t cost, int64_t now);
Evaluation Eval(const Policy& p, GcraState& state, Operation op, int64_t cost, int64_t now);
Evaluation Eval(const Policy& p, FixedWindowState& state, Operation op, int64_t cost, int64_t now);
Evaluation Eval(const Policy& p, SlidingWindowLogState& state, Operation op, int64_t cost, int64_t now);
Evaluation Eval(const Policy& p, SlidingWindowCounterState& state, Operation op, int64_t cost, int64_t now);

}  // namespace sluice::internal

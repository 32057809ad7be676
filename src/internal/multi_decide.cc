// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "internal/multi_decide.h"

#include <algorithm>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "algo/evaluate.h"

namespace sluice::internal {

Status ValidateDecideRequest(const DecideRequest& request) {
  if (request.policy == nullptr) return InvalidArgumentError("DecideRequest.policy is required");
  SLUICE_RETURN_IF_ERROR(ValidateKey(request.key));
  SLUICE_RETURN_IF_ERROR(request.policy->Validate());
  return CheckCost(*request.policy, request.op, request.cost);
}

Status ValidateDecideAll(std::span<const DecideRequest> requests) {
  std::unordered_set<std::string_view> seen;
  seen.reserve(requests.size());
  for (const DecideRequest& r : requests) {
    SLUICE_RETURN_IF_ERROR(ValidateDecideRequest(r));
    if (!seen.insert(r.key).second) {
      return InvalidArgumentError("DecideAll: key \"" + std::string(r.key) + "\" appears twice");
    }
  }
  return Status::Ok();
}

Result<MultiDecision> DecideAllTwoPhase(std::span<const DecideRequest> requests, int64_t now_ns,
                                        StateAccess& access) {
  std::vector<std::optional<LimiterState>> loaded;
  loaded.reserve(requests.size());
  MultiDecision out;
  out.allowed = true;
  out.decisions.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const DecideRequest& r = requests[i];
    SLUICE_ASSIGN_OR_RETURN(std::optional<LimiterState> state, access.Load(i));
    loaded.push_back(state);
    // Phase 1 works on the copy in `state`; a consume is only a peek here.
    const Operation op = r.op == Operation::kConsume ? Operation::kPeek : r.op;
    SLUICE_ASSIGN_OR_RETURN(Evaluation ev, Evaluate(*r.policy, state, op, r.cost, now_ns));
    if (r.op == Operation::kConsume && ev.decision.allowed) {
      ev.decision.remaining = std::max<int64_t>(0, ev.decision.remaining - r.cost);
    }
    out.allowed = out.allowed && ev.decision.allowed;
    out.decisions.push_back(ev.decision);
  }
  if (!out.allowed) return out;
  for (size_t i = 0; i < requests.size(); ++i) {
    const DecideRequest& r = requests[i];
    std::optional<LimiterState>& state = loaded[i];
    SLUICE_ASSIGN_OR_RETURN(Evaluation ev, Evaluate(*r.policy, state, r.op, r.cost, now_ns));
    out.decisions[i] = ev.decision;
    SLUICE_RETURN_IF_ERROR(access.Store(i, std::move(*state), ev));
  }
  return out;
}

}  // namespace sluice::internal

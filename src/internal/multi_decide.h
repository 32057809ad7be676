// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The all-or-nothing evaluation of several limits (Store::DecideAll) for
// stores that hold each key's LimiterState somewhere they can load it from and
// store it to while holding their own per-key locks (RocksDB, PostgreSQL, the
// memory store).
//
// Two phases, at one `now`:
//   1. every request is evaluated on a copy of its key's state, a consume as a
//      peek: nothing is written. A consume that would be admitted reports what
//      it would leave (remaining after the cost).
//   2. only if every request admitted, each is evaluated again on its state as
//      loaded in phase 1, with its real operation, and handed to
//      StateAccess::Store; the decisions reported are these.
// A denied whole writes nothing, and its per-request decisions say what each
// limit alone would have done (MultiDecision in sluice/store.h).
//
// Internal: no API promise. The functions are thread-compatible: the caller
// holds the locks of every key involved for the whole call (StripedLocks).

#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "sluice/algorithms.h"
#include "sluice/result.h"
#include "sluice/store.h"

namespace sluice::internal {

// A store's view of the keys of one DecideAll call; `index` is the request's
// position in the span given to DecideAllTwoPhase.
class StateAccess {
 public:
  virtual ~StateAccess() = default;

  // The current limiter state of request `index`'s key: nullopt when the key is
  // absent or expired, or holds opaque bytes (the limit then starts fresh; a
  // state of another algorithm also starts fresh). Called once per request.
  virtual Result<std::optional<LimiterState>> Load(size_t index) = 0;

  // Phase 2: the state after request `index` was applied and its evaluation.
  // IsFreshAt(eval.expires_at_ns, now) (internal/expiry.h) means the state is fresh again, so the
  // key may be removed. A store that can fail part-way should only stage the
  // write here and commit every staged write atomically once
  // DecideAllTwoPhase has returned OK; an error returned here is returned by
  // DecideAllTwoPhase (and the staged writes must then be dropped).
  virtual Status Store(size_t index, LimiterState state, const Evaluation& eval) = 0;
};

// Checks one request: a policy is given and valid, the key fits kMaxKeyBytes,
// the cost suits the operation. kInvalidArgument otherwise.
Status ValidateDecideRequest(const DecideRequest& request);

// ValidateDecideRequest for each request, and no key twice (kInvalidArgument
// naming the key). Linear in the number of requests.
Status ValidateDecideAll(std::span<const DecideRequest> requests);

// Runs both phases. REQUIRES: ValidateDecideAll(requests) is OK and the caller
// holds the locks of every key. Errors: those of `access`.
Result<MultiDecision> DecideAllTwoPhase(std::span<const DecideRequest> requests, int64_t now_ns,
                                        StateAccess& access);

}  // namespace sluice::internal

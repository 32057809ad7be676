// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The body of POST /v1/decide read into a DecideCall (service.h):
//
//   {"key": "user:42",
//    "limit": {"algorithm": "token_bucket", "limit": 100, "period": "1m",
//              "refill": 100, "alignment": "epoch"},
//    "name": "api", "cost": 1, "operation": "consume"}
//   {"domain": "edge", "entries": [{"key": "user", "value": "42"}]}
//
// `algorithm` defaults to fixed_window, `alignment` to epoch, `refill` to the
// limit for the refilling algorithms (token bucket, GCRA), `cost` to 1 and
// `operation` (consume, peek, refund, reset) to consume. `period` is required
// except for a calendar-aligned fixed window.
//
// Bodies are first read by a single pass over the text that builds no JSON
// tree, and a limit object seen recently on the same thread reuses its policy
// instead of being parsed and validated again (the hot path of a service
// answering the same few limits over and over). That pass accepts a plain
// subset only: every field known and given once, strings of printable ASCII
// without escapes, integers without fraction or exponent. Anything else goes
// to the strict parser (RFC 8259, UTF-8 checked), which answers exactly as the
// fast pass would for what the fast pass accepts, and says what is wrong with
// the rest. Tests hold the two equal.
//
// Errors: kInvalidArgument naming the field and what is wrong with it.
// Thread-safety: the functions are thread-safe (the policy cache is per
// thread).

#pragma once

#include <string_view>

#include "daemon/service.h"
#include "sluice/result.h"

namespace sluice::daemon {

Result<DecideCall> ParseDecideCall(std::string_view body);

// The strict parser alone, without the fast pass or the policy cache.
Result<DecideCall> ParseDecideCallStrict(std::string_view body);

// True when the fast pass reads `body` (tests check that common bodies do).
bool IsPlainDecideBody(std::string_view body);

}  // namespace sluice::daemon

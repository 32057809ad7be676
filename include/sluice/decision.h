// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Decision is the answer to "may this key spend `cost` units now?". A denial is
// a value (allowed == false), never an error: a Result<Decision> is non-OK only
// when the engine or its store failed.

#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "sluice/visibility.h"

namespace sluice {

struct Decision {
  bool allowed = false;
  // The policy's limit: capacity/burst, or units per window.
  int64_t limit = 0;
  // Units left after this call (never negative).
  int64_t remaining = 0;
  // Time until the state is as if the key had never been used (bucket full,
  // window over). 0 when it is already fresh.
  std::chrono::nanoseconds reset_after{0};
  // Time until the requested cost would be admitted; 0 when allowed.
  std::chrono::nanoseconds retry_after{0};
  // Made by a fallback, not the real store.
  bool degraded = false;
  // Would have been denied; shadow mode allowed it.
  bool shadow_denied = false;

  friend bool operator==(const Decision&, const Decision&) = default;
};

// "allowed limit=10 remaining=3 reset_after=1.5s retry_after=0s".
SLUICE_EXPORT std::string ToString(const Decision& decision);

}  // namespace sluice

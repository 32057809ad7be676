// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include <string>

#include "sluice/decision.h"
#include "sluice/duration.h"

namespace sluice {

std::string ToString(const Decision& d) {
  std::string out = d.allowed ? "allowed" : "denied";
  out += " limit=" + std::to_string(d.limit) + " remaining=" + std::to_string(d.remaining);
  out += " reset_after=" + FormatDuration(d.reset_after) + " retry_after=" + FormatDuration(d.retry_after);
  if (d.degraded) out += " degraded";
  if (d.shadow_denied) out += " shadow_denied";
  return out;
}

}  // namespace sluice

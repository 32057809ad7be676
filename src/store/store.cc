// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/store.h"

#include <algorithm>
#include <string>

namespace sluice {

Decision MultiDecision::Combined() const {
  Decision out;
  out.allowed = allowed;
  bool first = true;
  for (const Decision& d : decisions) {
    if (first || d.remaining < out.remaining) {
      out.remaining = d.remaining;
      out.limit = d.limit;
    }
    first = false;
    out.reset_after = std::max(out.reset_after, d.reset_after);
    out.retry_after = std::max(out.retry_after, d.retry_after);
    out.degraded = out.degraded || d.degraded;
    out.shadow_denied = out.shadow_denied || d.shadow_denied;
  }
  if (allowed) out.retry_after = std::chrono::nanoseconds(0);
  return out;
}

std::vector<Result<Decision>> Store::DecideBatch(std::span<const DecideRequest> requests) {
  std::vector<Result<Decision>> out;
  out.reserve(requests.size());
  for (const DecideRequest& r : requests) out.push_back(Decide(r));
  return out;
}

void Store::DecideAsync(const DecideRequest& request, std::function<void(Result<Decision>)> done) {
  done(Decide(request));
}

Status Store::Put(std::string_view key, std::string bytes, std::chrono::nanoseconds ttl) {
  Record record;
  record.key = std::string(key);
  record.value = std::move(bytes);
  if (ttl.count() < 0) return InvalidArgumentError("ttl must not be negative");
  if (ttl.count() > 0) {
    const int64_t now = clock().NowNanos();
    record.expires_at_ns = ttl.count() > INT64_MAX - now ? INT64_MAX : now + ttl.count();
  }
  return Put(record);
}

Status ValidateKey(std::string_view key) {
  if (key.size() > kMaxKeyBytes) {
    return InvalidArgumentError("key of " + std::to_string(key.size()) + " bytes exceeds the maximum of " +
                                std::to_string(kMaxKeyBytes));
  }
  return Status::Ok();
}

}  // namespace sluice

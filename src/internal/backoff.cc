// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "internal/backoff.h"

#include <cmath>
#include <string>

namespace sluice::internal {

Status BackoffOptions::Validate() const {
  if (initial.count() <= 0) return InvalidArgumentError("backoff: initial delay must be positive");
  if (max_delay < initial)
    return InvalidArgumentError("backoff: max_delay is shorter than the initial delay");
  if (!(multiplier >= 1.0)) return InvalidArgumentError("backoff: multiplier must be at least 1");
  if (max_attempts < 1) return InvalidArgumentError("backoff: max_attempts must be at least 1");
  return Status::Ok();
}

Backoff::Backoff(const BackoffOptions& options, Clock& clock)
    : options_(options), clock_(clock), rng_(options.seed) {}

std::chrono::nanoseconds Backoff::CapFor(int retry) const {
  // In floating point, so that a large retry count saturates at max_delay
  // instead of overflowing.
  const double cap = static_cast<double>(options_.initial.count()) * std::pow(options_.multiplier, retry);
  if (!(cap < static_cast<double>(options_.max_delay.count()))) return options_.max_delay;
  return std::chrono::nanoseconds(static_cast<int64_t>(cap));
}

std::chrono::nanoseconds Backoff::NextDelay() {
  const auto cap = static_cast<uint64_t>(CapFor(retries_).count());
  ++retries_;
  // Uniform in [0, cap]: the modulo bias is below 2^-60 for any cap here.
  return std::chrono::nanoseconds(static_cast<int64_t>(rng_() % (cap + 1)));
}

std::chrono::nanoseconds Backoff::Wait() {
  const std::chrono::nanoseconds d = NextDelay();
  clock_.SleepFor(d);
  return d;
}

bool IsRetryable(const Status& status) {
  return status.code() == StatusCode::kUnavailable || status.code() == StatusCode::kAborted;
}

Status RetryWithBackoff(const BackoffOptions& options, Clock& clock, const std::function<Status()>& fn,
                        const std::function<bool(const Status&)>& retryable) {
  SLUICE_RETURN_IF_ERROR(options.Validate());
  Backoff backoff(options, clock);
  for (;;) {
    Status s = fn();
    if (s.ok() || !retryable(s) || !backoff.CanRetry()) return s;
    backoff.Wait();
  }
}

}  // namespace sluice::internal

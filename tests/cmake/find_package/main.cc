// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Uses an installed sluice through find_package(sluice) and sluice::core:
// three decisions on one key against a limit of 2 must be allowed, allowed,
// denied. Exits 0 only if they are.

#include <chrono>
#include <cstdio>
#include <memory>

#include <sluice/memory_store.h>

int main() {
  auto store = sluice::MemoryStore::Create({.sweep_interval = std::chrono::nanoseconds(0)});
  if (!store.ok()) {
    std::fprintf(stderr, "MemoryStore::Create: %s\n", store.status().ToString().c_str());
    return 1;
  }
  // Capacity 2, one token back per hour: no refill during the test.
  const sluice::Policy policy = sluice::Policy::TokenBucket(2, 1, std::chrono::hours(1));
  const bool want_allowed[] = {true, true, false};
  const long long want_remaining[] = {1, 0, 0};
  int failures = 0;
  for (int i = 0; i < 3; ++i) {
    sluice::Result<sluice::Decision> d = (*store)->Decide("user:42", policy);
    if (!d.ok()) {
      std::fprintf(stderr, "Decide #%d: %s\n", i + 1, d.status().ToString().c_str());
      return 1;
    }
    std::printf("decision %d: %s\n", i + 1, sluice::ToString(*d).c_str());
    const bool denied_with_retry = d->allowed || d->retry_after > std::chrono::nanoseconds::zero();
    if (d->allowed != want_allowed[i] || d->remaining != want_remaining[i] || d->limit != 2 || !denied_with_retry) {
      std::fprintf(stderr, "decision %d: want allowed=%d remaining=%lld limit=2\n", i + 1, want_allowed[i],
                   want_remaining[i]);
      ++failures;
    }
  }
  if ((*store)->Stats().keys != 1) {
    std::fprintf(stderr, "want 1 key in the store\n");
    ++failures;
  }
  std::printf("%s\n", failures == 0 ? "OK" : "FAILED");
  return failures == 0 ? 0 : 1;
}

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Links sluice::redis from an installed sluice; no server needed: an
// unreachable one must be a clean kUnavailable.

#include <cstdio>

#include "sluice/backends/redis.h"

int main() {
  auto store = sluice::redis::CreateRedisStore({.uri = "unix:///nonexistent/sluice-consumer.sock"});
  if (store.ok() || store.status().code() != sluice::StatusCode::kUnavailable) {
    std::fprintf(stderr, "expected kUnavailable, got %s\n", store.status().ToString().c_str());
    return 1;
  }
  std::printf("sluice::redis linked; unreachable server: %s\n", store.status().ToString().c_str());
  return 0;
}

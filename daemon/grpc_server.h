// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// GrpcServer: Envoy's rate limit service
// (envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit) and the
// standard grpc.health.v1.Health service, on grpc++'s callback API. A call
// converts the protobuf request to an RlsRequest, hands it to the
// RlsDecider and finishes when the decider answers (on whatever thread), so
// no gRPC thread waits on a store.
//
// Thread-safety: Start/Stop from one thread.

#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/listener.h"
#include "daemon/rls.h"
#include "sluice/result.h"

namespace sluice::daemon {

// Decides one request; calls `done` exactly once, now or later, from any
// thread. A non-OK Result is an error the caller reports (gRPC: its code and
// message; kInvalidArgument → INVALID_ARGUMENT, kDeadlineExceeded →
// DEADLINE_EXCEEDED, kUnavailable → UNAVAILABLE, ...).
using RlsDecider = std::function<void(RlsRequest request, std::function<void(Result<RlsResponse>)> done)>;

struct GrpcServerOptions {
  std::vector<ListenerSettings> listeners;  // "HOST:PORT" or "unix:/path"
  RequestLimits limits;                     // max_body_bytes bounds a message
  // Serving status of the health service ("" and the service name) follows
  // this; checked on every Health/Check.
  std::function<bool()> serving;
};

class GrpcServer {
 public:
  // kInvalidArgument for a bad address or TLS file, kUnavailable if a bind fails.
  static Result<std::unique_ptr<GrpcServer>> Start(GrpcServerOptions options, RlsDecider decider);

  // Bound addresses in listener order ("127.0.0.1:PORT" with the real port,
  // "unix:/path").
  std::vector<std::string> bound_addresses() const;

  // Stops accepting, waits up to `grace` for in-flight calls, then cancels
  // the rest (UNAVAILABLE); a decider's later answer to one of them is
  // ignored, and may come after the server is destroyed. Idempotent.
  void Stop(std::chrono::milliseconds grace);

  ~GrpcServer();

 private:
  struct Impl;
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::daemon

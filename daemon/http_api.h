// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// HttpApi: the daemon's HTTP routes on top of the transport (http_server.h):
//   POST /v1/decide      sluice's own decision call (JSON)
//   POST /json           envoyproxy/ratelimit's proto3 JSON form; 200 or 429
//   GET  /healthz        the process answers
//   GET  /readyz         rules loaded and the store reachable; else 503
//   GET  /metrics        Prometheus text
//   GET  /v1/rules       the rules in effect, with source file and load time
//   POST /admin/checkpoint, GET /admin/export, POST /admin/import,
//   POST /admin/reload   behind `Authorization: Bearer <token>`; 404 when no
//                        token is configured, 401 for a wrong one
// Decisions answer with RateLimit-Policy / RateLimit (or the configured
// header flavour) and Retry-After on 429.
//
// Thread-safety: Handle is called concurrently from I/O threads.

#pragma once

#include "daemon/http_server.h"

namespace sluice::daemon {

class Daemon;

class HttpApi : public HttpHandler {
 public:
  explicit HttpApi(Daemon& daemon) : daemon_(daemon) {}
  void Handle(HttpRequest request, HttpRespond respond) override;

 private:
  void Decide(HttpRequest request, HttpRespond respond);
  void EnvoyJson(HttpRequest request, HttpRespond respond);
  void Admin(HttpRequest request, HttpRespond respond);

  Daemon& daemon_;
};

// True when `a` equals `b`, in time that depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace sluice::daemon

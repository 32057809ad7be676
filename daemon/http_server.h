// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// HttpServer: the HTTP/1.1 transport of sluiced (Boost.Beast on Asio). It
// owns listeners (TCP or Unix domain socket, each optionally TLS / mTLS),
// keep-alive connections and the limits against abusive clients; it knows
// nothing about rate limiting. Every parsed request goes to an HttpHandler,
// which answers through a callback, possibly later and from another thread,
// so a handler waiting on a remote store never holds an I/O thread.
//
// Limits (RequestLimits): bodies over max_body_bytes get 413, request heads
// over max_header_bytes 431, a connection beyond max_connections is closed at
// once, a connection idle for idle_timeout is closed, and a request that is not
// fully read within request_timeout (slowloris) gets 408 and a close.
//
// Thread-safety: Start/Stop from one thread; the handler is called from the
// I/O threads concurrently.

#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/listener.h"
#include "sluice/result.h"
#include "sluice/status.h"

namespace sluice::daemon {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent: "/v1/decide?x=1"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // First header value with this name (case-insensitive), if any.
  std::optional<std::string_view> Header(std::string_view name) const;
  // The target without its query string.
  std::string_view Path() const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Type among them
  std::string body;
  // When set, the body is streamed with chunked transfer encoding instead of
  // `body`: each call appends the next chunk to *out and returns true while
  // more follows, false after the last one; an error ends the response by
  // closing the connection. Called on an I/O thread.
  std::function<Result<bool>(std::string* out)> stream;
};

using HttpRespond = std::function<void(HttpResponse)>;

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Must call `respond` exactly once, from any thread, now or later.
  virtual void Handle(HttpRequest request, HttpRespond respond) = 0;
};

struct HttpServerOptions {
  std::vector<ListenerSettings> listeners;
  RequestLimits limits;
  int io_threads = 2;
  // Added to every response: "Server" header value.
  std::string server_name = "sluiced";
};

class HttpServer {
 public:
  // Binds every listener (a unix socket path is replaced if a stale socket
  // file is there) and starts the I/O threads. kInvalidArgument for a bad
  // address or TLS file, kUnavailable if a bind fails.
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, HttpHandler* handler);

  // The bound addresses, in listener order: "127.0.0.1:43817" (the real port
  // when 0 was asked) or "unix:/path".
  std::vector<std::string> bound_addresses() const;

  // Stops accepting; connections finish their current request and close.
  void StopAccepting();
  // Waits up to `grace` for in-flight requests, then closes everything and
  // joins the I/O threads. Idempotent.
  void Stop(std::chrono::milliseconds grace);
  // Requests being handled right now (read but not yet answered).
  size_t in_flight() const;
  size_t open_connections() const;

  ~HttpServer();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::daemon

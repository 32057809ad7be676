// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Listener and transport settings shared by the HTTP and gRPC front ends.

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "sluice/result.h"

namespace sluice::daemon {

struct TlsSettings {
  // PEM files. TLS is on when both are set.
  std::string cert_file;
  std::string key_file;
  // When set, clients must present a certificate signed by this CA (mTLS).
  std::string client_ca_file;
  bool enabled() const { return !cert_file.empty() && !key_file.empty(); }
};

struct ListenerSettings {
  // "HOST:PORT" ("127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0" for any free
  // port) or "unix:/path/to.sock". Empty: this listener is off.
  std::string address;
  TlsSettings tls;
};

// A parsed listen address.
struct ListenAddress {
  bool is_unix = false;
  std::string host;  // TCP: host or IP literal (no brackets)
  uint16_t port = 0;
  std::string path;  // unix socket path
};
// kInvalidArgument saying what is wrong with `address`.
Result<ListenAddress> ParseListenAddress(const std::string& address);

// Bounds on what one client can make the server hold.
struct RequestLimits {
  size_t max_body_bytes = 64 * 1024;          // larger bodies: 413
  size_t max_header_bytes = 16 * 1024;        // larger request heads: 431
  size_t max_connections = 10'000;            // more: accepted and closed at once
  size_t max_descriptors = 64;                // per request: 400 / INVALID_ARGUMENT
  size_t max_entries = 16;                    // per descriptor
  size_t max_key_bytes = 256;                 // per entry key, and /v1/decide keys
  size_t max_value_bytes = 1024;              // per entry value
  std::chrono::milliseconds idle_timeout{60'000};     // keep-alive with no request
  std::chrono::milliseconds request_timeout{10'000};  // to read one whole request (slowloris)
};

}  // namespace sluice::daemon

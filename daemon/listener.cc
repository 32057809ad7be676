// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Parsing of listen addresses ("HOST:PORT", "[IPv6]:PORT", "unix:/path").
// Only the syntax is checked here; whether a host name resolves or a port can
// be bound is found out when the server binds.

#include "daemon/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice::daemon {
namespace {

constexpr std::string_view kUnixPrefix = "unix:";
constexpr std::string_view kExpected = "expected HOST:PORT, [IPv6]:PORT or unix:/path";

Status Bad(const std::string& address, std::string_view why) {
  std::string message = "listen address '";
  message += address;
  message += "': ";
  message += why;
  return InvalidArgumentError(message);
}

Result<uint16_t> ParsePort(const std::string& address, std::string_view text) {
  if (text.empty()) return Bad(address, std::string("missing port after ':'; ") + std::string(kExpected));
  if (text.size() > 5 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Bad(address, "port '" + std::string(text) + "' is not a number from 0 to 65535");
  }
  unsigned value = 0;
  for (char c : text) value = value * 10 + static_cast<unsigned>(c - '0');
  if (value > 65535) return Bad(address, "port " + std::string(text) + " is above 65535");
  return static_cast<uint16_t>(value);
}

bool IsHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
}

}  // namespace

Result<ListenAddress> ParseListenAddress(const std::string& address) {
  if (address.empty()) return InvalidArgumentError("listen address is empty; " + std::string(kExpected));
  ListenAddress out;

  if (std::string_view(address).substr(0, kUnixPrefix.size()) == kUnixPrefix) {
    out.is_unix = true;
    out.path = address.substr(kUnixPrefix.size());
    if (out.path.empty()) return Bad(address, "missing socket path after 'unix:', e.g. unix:/run/sluiced.sock");
    if (out.path.find('\0') != std::string::npos) return Bad(address, "socket path contains a NUL byte");
    constexpr size_t kMaxPath = sizeof(sockaddr_un::sun_path) - 1;
    if (out.path.size() > kMaxPath) {
      return Bad(address, "socket path is " + std::to_string(out.path.size()) + " bytes; at most " +
                              std::to_string(kMaxPath) + " fit in a unix socket address");
    }
    return out;
  }

  std::string_view port_text;
  if (address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string::npos) return Bad(address, "'[' without a closing ']'");
    out.host = address.substr(1, close - 1);
    if (out.host.empty()) return Bad(address, "empty IPv6 address between '[' and ']'");
    in6_addr unused{};
    if (inet_pton(AF_INET6, out.host.c_str(), &unused) != 1) {
      return Bad(address, "'" + out.host + "' is not an IPv6 address");
    }
    const std::string_view rest = std::string_view(address).substr(close + 1);
    if (rest.empty() || rest.front() != ':') return Bad(address, "expected ':PORT' after ']'");
    port_text = rest.substr(1);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) return Bad(address, "missing ':PORT'; " + std::string(kExpected));
    out.host = address.substr(0, colon);
    if (out.host.find(':') != std::string::npos) {
      return Bad(address, "an IPv6 address needs brackets, e.g. [::1]:8080");
    }
    if (out.host.empty()) {
      return Bad(address, "missing host before ':' (use 0.0.0.0:PORT to listen on every interface)");
    }
    if (!std::all_of(out.host.begin(), out.host.end(), IsHostChar)) {
      return Bad(address, "'" + out.host + "' is not a host name or IPv4 address");
    }
    port_text = std::string_view(address).substr(colon + 1);
  }
  auto port = ParsePort(address, port_text);
  if (!port.ok()) return port.status();
  out.port = *port;
  return out;
}

}  // namespace sluice::daemon

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// TcpProxy: a loopback TCP proxy for outage tests. It listens on 127.0.0.1
// (a port of the system's choosing) and forwards each connection's bytes
// both ways to an upstream server (a Unix socket or a TCP address), until a
// test switches it:
//   - Blackhole(): nothing moves any more. Connections stay open, bytes are
//     neither read nor forwarded (they wait in the kernel's buffers, as
//     packets would be retransmitted on a network that drops them), and new
//     connections are accepted but not connected upstream: a client's TCP
//     connect succeeds and then nothing answers. Forward() lets everything
//     held flow again.
//   - Reset(): every open connection is aborted (RST) on both sides; the
//     proxy keeps accepting.
//   - CutWithProbability(p): from then on each chunk read from either side
//     is, with probability p, not forwarded and ends its connection (both
//     sides closed): a cut on the way to the server loses requests that never
//     ran, one on the way back loses replies of requests that ran. Each
//     connection draws from its own generator, seeded from `seed` and the
//     connection's number. cuts() counts them.
// accepted() counts the connections clients opened, so a test can count a
// client's connection attempts.
//
// Test-only code. Thread-safe: the switches may be called from any thread
// while connections are being served. Errors are test failures (gtest),
// reported where the socket call failed.

#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::redis::testing {

class TcpProxy {
 public:
  // Forwards to the Unix socket at `unix_path`.
  static std::unique_ptr<TcpProxy> ToUnixSocket(std::string unix_path);
  // Forwards to 127.0.0.1:`port`.
  static std::unique_ptr<TcpProxy> ToTcpPort(uint16_t port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  uint16_t port() const { return port_; }
  // "redis://127.0.0.1:<port>".
  std::string uri() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  void Forward() { blackholed_.store(false); }
  void Blackhole() { blackholed_.store(true); }
  void Reset();
  // REQUIRES: 0 <= p <= 1. Applies to connections accepted afterwards.
  void CutWithProbability(double p, uint64_t seed = 0) {
    cut_seed_.store(seed);
    cut_probability_.store(p);
  }
  int cuts() const { return cuts_.load(); }

  int accepted() const { return accepted_.load(); }
  // Connections being served now (open on the client's side).
  int open_connections() const { return open_.load(); }

 private:
  TcpProxy(std::string unix_path, uint16_t tcp_port);
  void Accept();
  void Serve(int client, int number);
  int ConnectUpstream() const;

  const std::string unix_path_;  // empty: TCP upstream
  const uint16_t tcp_port_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> blackholed_{false};
  std::atomic<uint64_t> reset_epoch_{0};
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::atomic<double> cut_probability_{0};
  std::atomic<uint64_t> cut_seed_{0};
  std::atomic<int> cuts_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> servers_;  // guarded by mu_
};

}  // namespace sluice::redis::testing

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "redis/tcp_proxy_for_test.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace sluice::redis::testing {
namespace {

// How often a held connection looks at the switches again.
constexpr int kPollMillis = 5;

// Closes `fd` with an RST instead of a FIN.
void Abort(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

}  // namespace

std::unique_ptr<TcpProxy> TcpProxy::ToUnixSocket(std::string unix_path) {
  return std::unique_ptr<TcpProxy>(new TcpProxy(std::move(unix_path), 0));
}

std::unique_ptr<TcpProxy> TcpProxy::ToTcpPort(uint16_t port) {
  return std::unique_ptr<TcpProxy>(new TcpProxy("", port));
}

TcpProxy::TcpProxy(std::string unix_path, uint16_t tcp_port) : unix_path_(std::move(unix_path)), tcp_port_(tcp_port) {
  listener_ = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(listener_, 128) != 0 ||
      getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "TcpProxy cannot listen: " << std::strerror(errno);
    return;
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  shutdown(listener_, SHUT_RDWR);
  close(listener_);
  if (acceptor_.joinable()) acceptor_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (std::thread& t : servers_) t.join();
}

void TcpProxy::Reset() { reset_epoch_.fetch_add(1); }

int TcpProxy::ConnectUpstream() const {
  if (!unix_path_.empty()) {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, unix_path_.c_str(), sizeof(addr.sun_path) - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(tcp_port_);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

void TcpProxy::Accept() {
  while (!stop_) {
    const int client = accept(listener_, nullptr, nullptr);
    if (client < 0) {
      if (stop_ || (errno != EINTR && errno != ECONNABORTED)) return;
      continue;
    }
    const int number = accepted_.fetch_add(1);
    open_.fetch_add(1);
    const int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::lock_guard<std::mutex> lock(mu_);
    servers_.emplace_back([this, client, number] { Serve(client, number); });
  }
}

// One connection: held while blackholed, then forwarded both ways until a
// side closes, a reset, or the proxy stops.
void TcpProxy::Serve(int client, int number) {
  const uint64_t epoch = reset_epoch_.load();
  const double cut = cut_probability_.load();
  std::mt19937_64 rng(cut_seed_.load() * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(number));
  std::uniform_real_distribution<double> coin(0, 1);
  auto reset = [&] { return reset_epoch_.load() != epoch; };
  int server = -1;
  char buf[65536];
  bool open = true;
  while (open && !stop_ && !reset()) {
    if (blackholed_.load()) {
      // Read nothing, send nothing; notice only the client going away.
      pollfd fd{client, POLLRDHUP, 0};
      poll(&fd, 1, kPollMillis);
      if ((fd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) open = false;
      continue;
    }
    if (server < 0) {
      server = ConnectUpstream();
      if (server < 0) break;  // upstream gone: the client sees the connection close
    }
    pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    if (poll(fds, 2, kPollMillis) <= 0) continue;
    for (int i = 0; i < 2 && open; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        open = false;
        break;
      }
      if (cut > 0 && coin(rng) < cut) {
        cuts_.fetch_add(1);
        open = false;
        break;
      }
      const int to = i == 0 ? server : client;
      for (ssize_t done = 0; done < n;) {
        // send, not write: a peer gone away must be an error here, not a
        // SIGPIPE that kills the test.
        const ssize_t w = send(to, buf + done, static_cast<size_t>(n - done), MSG_NOSIGNAL);
        if (w <= 0) {
          open = false;
          break;
        }
        done += w;
      }
    }
  }
  if (reset()) {
    Abort(client);
    if (server >= 0) Abort(server);
  } else {
    close(client);
    if (server >= 0) close(server);
  }
  open_.fetch_sub(1);
}

}  // namespace sluice::redis::testing

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RELIABILITY T16, indeterminate replies: a fault-injecting proxy between the
// store and a real redis-server cuts connections at random, some after a
// request reached the server (it ran, the reply is lost) and some before (it
// never ran). The store must report such calls as errors and never resend
// them, so the server's count is exactly the decisions that succeeded plus
// some of those whose outcome was reported unknown: nothing is counted twice.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "redis/redis_test_env.h"
#include "sluice/backends/redis.h"

namespace sluice::redis {
namespace {

int ConnectUnix(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A Unix-socket proxy to `upstream` that, for each chunk it forwards, cuts
// both sides of the connection with probability `cut` instead. A cut on the
// way to the server loses requests that never ran; a cut on the way back
// loses replies of requests that ran.
class CuttingProxy {
 public:
  CuttingProxy(std::string upstream, double cut)
      : upstream_(std::move(upstream)), path_("/tmp/sluice-proxy-" + std::to_string(getpid()) + ".sock"), cut_(cut) {
    unlink(path_.c_str());
    listener_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(listener_, 64) != 0) {
      ADD_FAILURE() << "proxy cannot listen on " << path_;
    }
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~CuttingProxy() {
    stop_ = true;
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    acceptor_.join();
    for (auto& t : pumps_) t.join();
    unlink(path_.c_str());
  }
  std::string uri() const { return "unix://" + path_; }
  int cuts() const { return cuts_.load(); }

 private:
  void Accept() {
    while (!stop_) {
      const int client = accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      const int server = ConnectUnix(upstream_);
      if (server < 0) {
        close(client);
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      pumps_.emplace_back([this, client, server] { Pump(client, server); });
    }
  }

  // Forwards both ways until a side closes or a cut.
  void Pump(int client, int server) {
    std::mt19937_64 rng(static_cast<uint64_t>(client) * 7919 + static_cast<uint64_t>(server));
    std::uniform_real_distribution<double> coin(0, 1);
    char buf[65536];
    for (bool open = true; open && !stop_;) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (poll(fds, 2, 100) <= 0) continue;
      for (int i = 0; i < 2 && open; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
        if (n <= 0 || coin(rng) < cut_) {
          if (n > 0) cuts_.fetch_add(1);
          open = false;
          break;
        }
        const int to = i == 0 ? server : client;
        for (ssize_t done = 0; done < n;) {
          const ssize_t w = send(to, buf + done, static_cast<size_t>(n - done), MSG_NOSIGNAL);
          if (w <= 0) {
            open = false;
            break;
          }
          done += w;
        }
      }
    }
    close(client);
    close(server);
  }

  const std::string upstream_;
  const std::string path_;
  const double cut_;
  int listener_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> cuts_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> pumps_;  // guarded by mu_
};

TEST(RedisFaults, CutConnectionsNeverCountADecisionTwice) {
  const std::string direct = testenv::RedisUri();
  if (direct.empty()) GTEST_SKIP() << "run through ctest -L redis";
  CuttingProxy proxy(direct.substr(std::string("unix://").size()), 0.02);
  const std::string prefix = "faults" + std::to_string(std::random_device{}()) + ":";
  auto store = CreateRedisStore({.uri = proxy.uri(), .key_prefix = prefix});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  // Never denies: the window's count is the number of consumes that ran.
  const Policy p = Policy::FixedWindow(1'000'000'000, std::chrono::hours(24 * 365 * 100));
  std::atomic<int64_t> succeeded{0}, unknown{0}, not_sent{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 6; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 400; ++i) {
        Result<Decision> d = (*store)->Decide("k", p);
        if (d.ok()) {
          succeeded.fetch_add(1);
        } else if (d.status().code() == StatusCode::kDeadlineExceeded) {
          unknown.fetch_add(1);
        } else {
          EXPECT_EQ(d.status().code(), StatusCode::kUnavailable) << d.status().ToString();
          not_sent.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : callers) t.join();
  // Read the truth past the proxy.
  auto truth = CreateRedisStore({.uri = direct, .key_prefix = prefix});
  ASSERT_TRUE(truth.ok());
  Result<std::optional<Record>> r = (*truth)->Get("k");
  ASSERT_TRUE(r.ok() && r->has_value()) << r.status().ToString();
  const int64_t counted = std::get<FixedWindowState>(std::get<LimiterRecord>((*r)->value).state).count;
  EXPECT_GT(proxy.cuts(), 0) << "the proxy should have cut connections";
  EXPECT_GT(unknown.load(), 0) << "some outcomes should have been unknown";
  EXPECT_GE(counted, succeeded.load()) << "a decision reported as made was lost";
  EXPECT_LE(counted, succeeded.load() + unknown.load()) << "a decision was counted twice";
  std::printf("succeeded %lld, unknown %lld, not sent %lld, counted %lld, cuts %d\n",
              static_cast<long long>(succeeded.load()), static_cast<long long>(unknown.load()),
              static_cast<long long>(not_sent.load()), static_cast<long long>(counted), proxy.cuts());
}

}  // namespace
}  // namespace sluice::redis

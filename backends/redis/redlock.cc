// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include <algorithm>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "redis/redis_client.h"
#include "redis/redis_lock_scripts.h"
#include "sluice/backends/redis.h"

namespace sluice::redis {
namespace {

// KEYS: lock, fence counter. ARGV: owner token, fencing token. Raises the
// counter to the granted token while the owner still holds the lock.
constexpr std::string_view kRaiseFenceScript = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current < tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[2]) end
return 1
)lua";

class Redlock final : public Lock {
 public:
  Redlock(const RedlockOptions& options, std::vector<Endpoint> endpoints)
      : options_(options), clock_(options.clock != nullptr ? options.clock : &Clock::Real()) {
    for (Endpoint& e : endpoints) {
      auto server = std::make_unique<Server>(std::move(e), options.server_timeout);
      servers_.push_back(std::move(server));
    }
  }

  Result<std::optional<Lease>> TryAcquire(std::string_view resource, std::chrono::milliseconds ttl) override {
    SLUICE_ASSIGN_OR_RETURN(Lease lease, NewLease(resource, ttl, tokens_));
    const std::vector<std::string> keys = LockKeys(options_.key_prefix, resource);
    const Clock::Monotonic start = clock_->MonotonicNow();
    std::vector<Server*> granted;
    size_t held = 0;
    uint64_t token = 0;
    for (auto& server : servers_) {
      Result<Reply> r = server->Eval(server->acquire, keys, {lease.owner_token, std::to_string(ttl.count())},
                                     options_.server_timeout);
      if (!r.ok() || r->type != Reply::Type::kInteger) continue;  // failed for this attempt
      if (r->integer == 0) {
        ++held;
        continue;
      }
      granted.push_back(server.get());
      token = std::max(token, static_cast<uint64_t>(r->integer));
    }
    const auto validity = Validity(ttl) - (clock_->MonotonicNow() - start);
    if (granted.size() >= Quorum() && validity.count() > 0) {
      // Every later majority overlaps this one: raise each granting server's
      // counter to the token so the next grant's token is larger.
      for (Server* server : granted) {
        server->Eval(server->raise, keys, {lease.owner_token, std::to_string(token)}, options_.server_timeout)
            .status()
            .IgnoreError();  // a server that missed it is outvoted by the others in any later majority
      }
      lease.fencing_token = token;
      lease.valid_until = start + Validity(ttl);
      return std::optional<Lease>(std::move(lease));
    }
    for (Server* server : granted) {
      server->Eval(server->release, {keys[0]}, {lease.owner_token}, options_.server_timeout)
          .status()
          .IgnoreError();  // best effort: it expires after the TTL anyway
    }
    const size_t answered = granted.size() + held;
    if (answered < Quorum() && servers_.size() - answered > servers_.size() - Quorum()) {
      return UnavailableError("redlock \"" + std::string(resource) + "\": only " + std::to_string(answered) +
                              " of " + std::to_string(servers_.size()) +
                              " servers answered; a majority needs " + std::to_string(Quorum()));
    }
    return std::optional<Lease>();
  }

  Status Release(const Lease& lease) override {
    const std::vector<std::string> keys = LockKeys(options_.key_prefix, lease.resource);
    size_t released = 0;
    for (auto& server : servers_) {
      Result<Reply> r =
          server->Eval(server->release, {keys[0]}, {lease.owner_token}, options_.server_timeout);
      if (r.ok() && r->integer == 1) ++released;
    }
    if (released == 0) return LeaseLost(lease);
    return Status::Ok();
  }

  Status Extend(Lease& lease, std::chrono::milliseconds ttl) override {
    if (ttl.count() < 1) return InvalidArgumentError("lock TTL must be at least 1 ms");
    const std::vector<std::string> keys = LockKeys(options_.key_prefix, lease.resource);
    const Clock::Monotonic start = clock_->MonotonicNow();
    size_t extended = 0;
    for (auto& server : servers_) {
      Result<Reply> r =
          server->Eval(server->extend, {keys[0]}, {lease.owner_token, std::to_string(ttl.count())},
                       options_.server_timeout);
      if (r.ok() && r->integer == 1) ++extended;
    }
    if (extended < Quorum() || clock_->MonotonicNow() - start >= Validity(ttl)) return LeaseLost(lease);
    lease.valid_until = start + Validity(ttl);
    return Status::Ok();
  }

 private:
  struct Server {
    Server(Endpoint endpoint, std::chrono::milliseconds timeout)
        : client(std::move(endpoint), timeout),
          acquire(client.AddScript(std::string(kLockAcquireScript))),
          release(client.AddScript(std::string(kLockReleaseScript))),
          extend(client.AddScript(std::string(kLockExtendScript))),
          raise(client.AddScript(std::string(kRaiseFenceScript))) {}
    Result<Reply> Eval(size_t id, const std::vector<std::string>& keys, const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout) {
      return client.Eval(id, keys, argv, timeout);
    }
    RedisClient client;
    const size_t acquire, release, extend, raise;
  };

  size_t Quorum() const { return servers_.size() / 2 + 1; }

  std::chrono::nanoseconds Validity(std::chrono::milliseconds ttl) const {
    return LeaseValidity(ttl, options_.drift_factor);
  }

  const RedlockOptions options_;
  Clock* clock_;
  std::vector<std::unique_ptr<Server>> servers_;
  RandomTokens tokens_;
};

}  // namespace

Result<std::unique_ptr<Lock>> CreateRedlock(const RedlockOptions& options) {
  if (options.uris.empty())
    return InvalidArgumentError("RedlockOptions.uris: at least one server is required");
  if (options.drift_factor < 0 || options.drift_factor >= 1) {
    return InvalidArgumentError("RedlockOptions.drift_factor must be in [0, 1)");
  }
  std::vector<Endpoint> endpoints;
  for (const std::string& uri : options.uris) {
    SLUICE_ASSIGN_OR_RETURN(Endpoint e, Endpoint::Parse(uri));
    endpoints.push_back(std::move(e));
  }
  // Servers that are down now are tolerated, as Redlock tolerates a minority.
  return std::unique_ptr<Lock>(std::make_unique<Redlock>(options, std::move(endpoints)));
}

}  // namespace sluice::redis

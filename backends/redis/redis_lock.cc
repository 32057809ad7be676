// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include <charconv>
#include <cstdio>
#include <random>
#include <string>

#include "redis/redis_client.h"
#include "sluice/backends/redis.h"

namespace sluice::redis {
namespace {

// KEYS: lock, fence counter. ARGV: owner token, TTL ms. Returns the new
// fencing token, or 0 when the lock is held.
constexpr std::string_view kAcquireScript = R"lua(
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
)lua";

// KEYS: lock. ARGV: owner token. Deletes only the owner's lock.
constexpr std::string_view kReleaseScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

// KEYS: lock. ARGV: owner token, TTL ms.
constexpr std::string_view kExtendScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
)lua";

// The resource inside a hash tag, with '{' and '}' escaped so that no name can
// close the tag early: the lock and its fence counter share a Cluster slot.
std::string Tagged(std::string_view resource) {
  std::string out = "{";
  for (char c : resource) {
    if (c == '%') out += "%25";
    else if (c == '{') out += "%7B";
    else if (c == '}') out += "%7D";
    else out += c;
  }
  return out + "}";
}

class RedisLock final : public Lock {
 public:
  RedisLock(const RedisLockOptions& options, Endpoint endpoint)
      : options_(options),
        clock_(options.clock != nullptr ? options.clock : &Clock::Real()),
        client_(std::move(endpoint), options.connect_timeout),
        acquire_(client_.AddScript(std::string(kAcquireScript))),
        release_(client_.AddScript(std::string(kReleaseScript))),
        extend_(client_.AddScript(std::string(kExtendScript))),
        rng_(std::random_device{}()) {}

  Status Init() { return client_.Connect(); }

  Result<std::optional<Lease>> TryAcquire(std::string_view resource, std::chrono::milliseconds ttl) override {
    if (ttl.count() < 1) return InvalidArgumentError("lock TTL must be at least 1 ms");
    const std::string key = LockKey(resource);
    Lease lease;
    lease.resource = std::string(resource);
    lease.owner_token = NewToken();
    const Clock::Monotonic start = clock_->MonotonicNow();
    SLUICE_ASSIGN_OR_RETURN(Reply reply, client_.Eval(acquire_, {key, key + ":fence"},
                                                      {lease.owner_token, std::to_string(ttl.count())}));
    if (reply.is_error()) return UnavailableError("redis lock acquire: " + reply.str);
    if (reply.type != Reply::Type::kInteger) return DataLossError("redis lock acquire: " + reply.ToString());
    if (reply.integer == 0) return std::optional<Lease>();
    lease.fencing_token = static_cast<uint64_t>(reply.integer);
    lease.valid_until = start + Validity(ttl);
    return std::optional<Lease>(std::move(lease));
  }

  Status Release(const Lease& lease) override {
    SLUICE_ASSIGN_OR_RETURN(Reply reply, client_.Eval(release_, {LockKey(lease.resource)}, {lease.owner_token}));
    if (reply.is_error()) return UnavailableError("redis lock release: " + reply.str);
    if (reply.integer != 1) return Lost(lease);
    return Status::Ok();
  }

  Status Extend(Lease& lease, std::chrono::milliseconds ttl) override {
    if (ttl.count() < 1) return InvalidArgumentError("lock TTL must be at least 1 ms");
    const Clock::Monotonic start = clock_->MonotonicNow();
    SLUICE_ASSIGN_OR_RETURN(Reply reply, client_.Eval(extend_, {LockKey(lease.resource)},
                                                      {lease.owner_token, std::to_string(ttl.count())}));
    if (reply.is_error()) return UnavailableError("redis lock extend: " + reply.str);
    if (reply.integer != 1) return Lost(lease);
    lease.valid_until = start + Validity(ttl);
    return Status::Ok();
  }

 private:
  std::string LockKey(std::string_view resource) const { return options_.key_prefix + Tagged(resource); }

  // The part of the TTL the holder can count on (Redlock's drift allowance).
  std::chrono::nanoseconds Validity(std::chrono::milliseconds ttl) const {
    const auto drift = std::chrono::duration_cast<std::chrono::nanoseconds>(ttl * options_.drift_factor) +
                       std::chrono::milliseconds(2);
    return std::max(std::chrono::nanoseconds(0), std::chrono::nanoseconds(ttl) - drift);
  }

  static Status Lost(const Lease& lease) {
    return FailedPreconditionError("lock \"" + lease.resource + "\" with fencing token " +
                                   std::to_string(lease.fencing_token) + " was no longer held (expired or taken over)");
  }

  std::string NewToken() {
    std::lock_guard<std::mutex> lock(mu_);
    char buf[33];
    std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(rng_()),
                  static_cast<unsigned long long>(rng_()));
    return buf;
  }

  const RedisLockOptions options_;
  Clock* clock_;
  RedisClient client_;
  const size_t acquire_, release_, extend_;
  std::mutex mu_;
  std::mt19937_64 rng_;  // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<Lock>> CreateRedisLock(const RedisLockOptions& options) {
  SLUICE_ASSIGN_OR_RETURN(Endpoint endpoint, Endpoint::Parse(options.uri));
  if (options.drift_factor < 0 || options.drift_factor >= 1) {
    return InvalidArgumentError("RedisLockOptions.drift_factor must be in [0, 1)");
  }
  auto lock = std::make_unique<RedisLock>(options, std::move(endpoint));
  SLUICE_RETURN_IF_ERROR(lock->Init());
  return std::unique_ptr<Lock>(std::move(lock));
}

}  // namespace sluice::redis

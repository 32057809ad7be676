// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include <charconv>
#include <cstdio>
#include <random>
#include <string>

#include "redis/redis_client.h"
#include "redis/redis_lock_scripts.h"
#include "sluice/backends/redis.h"

namespace sluice::redis {
namespace {

class RedisLock final : public Lock {
 public:
  RedisLock(const RedisLockOptions& options, Endpoint endpoint)
      : options_(options),
        clock_(options.clock != nullptr ? options.clock : &Clock::Real()),
        client_(std::move(endpoint), options.connect_timeout),
        acquire_(client_.AddScript(std::string(kLockAcquireScript))),
        release_(client_.AddScript(std::string(kLockReleaseScript))),
        extend_(client_.AddScript(std::string(kLockExtendScript))) {}

  Status Init() { return client_.Connect(); }

  Result<std::optional<Lease>> TryAcquire(std::string_view resource, std::chrono::milliseconds ttl) override {
    SLUICE_ASSIGN_OR_RETURN(Lease lease, NewLease(resource, ttl, tokens_));
    const std::vector<std::string> keys = LockKeys(options_.key_prefix, resource);
    const Clock::Monotonic start = clock_->MonotonicNow();
    SLUICE_ASSIGN_OR_RETURN(Reply reply,
                            client_.Eval(acquire_, keys, {lease.owner_token, std::to_string(ttl.count())}));
    if (reply.is_error()) return UnavailableError("redis lock acquire: " + reply.str);
    if (reply.type != Reply::Type::kInteger) return DataLossError("redis lock acquire: " + reply.ToString());
    if (reply.integer == 0) return std::optional<Lease>();
    lease.fencing_token = static_cast<uint64_t>(reply.integer);
    lease.valid_until = start + Validity(ttl);
    return std::optional<Lease>(std::move(lease));
  }

  Status Release(const Lease& lease) override {
    SLUICE_ASSIGN_OR_RETURN(
        Reply reply,
        client_.Eval(release_, {LockKeys(options_.key_prefix, lease.resource)[0]}, {lease.owner_token}));
    if (reply.is_error()) return UnavailableError("redis lock release: " + reply.str);
    if (reply.integer != 1) return LeaseLost(lease);
    return Status::Ok();
  }

  Status Extend(Lease& lease, std::chrono::milliseconds ttl) override {
    if (ttl.count() < 1) return InvalidArgumentError("lock TTL must be at least 1 ms");
    const Clock::Monotonic start = clock_->MonotonicNow();
    SLUICE_ASSIGN_OR_RETURN(Reply reply,
                            client_.Eval(extend_, {LockKeys(options_.key_prefix, lease.resource)[0]},
                                         {lease.owner_token, std::to_string(ttl.count())}));
    if (reply.is_error()) return UnavailableError("redis lock extend: " + reply.str);
    if (reply.integer != 1) return LeaseLost(lease);
    lease.valid_until = start + Validity(ttl);
    return Status::Ok();
  }

 private:
  std::chrono::nanoseconds Validity(std::chrono::milliseconds ttl) const {
    return LeaseValidity(ttl, options_.drift_factor);
  }

  const RedisLockOptions options_;
  Clock* clock_;
  RedisClient client_;
  const size_t acquire_, release_, extend_;
  RandomTokens tokens_;
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

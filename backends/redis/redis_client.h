// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RedisClient: what RedisStore and RedisLock share. One pipelined connection,
// reconnected on the next call after a failure, and Lua scripts run by digest
// with EVALSHA, falling back to EVAL when the server answers NOSCRIPT (after
// a restart, a failover or SCRIPT FLUSH). NOSCRIPT means the script did not
// run, so the fallback can never apply a script twice.
//
// Thread-safe.

#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "redis/redis_connection.h"
#include "sluice/result.h"

namespace sluice::redis {

class RedisClient {
 public:
  RedisClient(Endpoint endpoint, std::chrono::milliseconds connect_timeout)
      : endpoint_(std::move(endpoint)), connect_timeout_(connect_timeout) {}

  // Connects now (optional: every call connects when needed).
  Status Connect() { return GetConnection().status(); }

  // Sends one command and waits for its reply (at most `timeout` when given).
  Result<Reply> Call(std::vector<std::string> args, std::optional<std::chrono::milliseconds> timeout = {});

  // Sends several commands pipelined (one write, one wait) and returns their
  // replies in order.
  std::vector<Result<Reply>> CallMany(const std::vector<std::vector<std::string>>& commands);

  // Registers a script; returns its id for Eval.
  size_t AddScript(std::string text);

  // Runs script `id` with `keys` and `argv` (each round trip at most `timeout`).
  Result<Reply> Eval(size_t id, const std::vector<std::string>& keys, const std::vector<std::string>& argv,
                     std::optional<std::chrono::milliseconds> timeout = {});

 private:
  Result<std::shared_ptr<Connection>> GetConnection();

  const Endpoint endpoint_;
  const std::chrono::milliseconds connect_timeout_;
  IoThread io_;
  std::mutex mu_;
  std::shared_ptr<Connection> conn_;  // guarded by mu_
  std::vector<std::string> scripts_;  // guarded by mu_
  std::vector<std::string> shas_;     // guarded by mu_; "" until loaded
};

// Random hex tokens (write versions, lock owners), safe for concurrent use.
class RandomTokens {
 public:
  // `words` random 64-bit words as 16 hex digits each.
  std::string Next(int words);

 private:
  std::mutex mu_;
  std::mt19937_64 rng_{std::random_device{}()};  // guarded by mu_
};

}  // namespace sluice::redis

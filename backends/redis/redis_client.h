// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RedisClient: what RedisStore and RedisLock share. It talks to one Redis
// server or to a Redis Cluster:
//
//  - Each server gets a small pool of pipelined connections, reconnected on
//    the next call after a failure. A connection counts as open once the
//    server answered its handshake (PING, or TIME for the clock skew), all
//    within the connect timeout. After a failed attempt the next one waits a
//    backoff, and calls meanwhile fail at once with kUnavailable.
//  - Every call is bounded by its timeout in all: waiting for a connection,
//    for redirections and for the reply.
//  - The commands handed to a server and not yet answered (queued, being
//    written, awaiting replies) are bounded in count and bytes; past a bound
//    a call fails at once with kUnavailable (it was not sent).
//  - In Cluster mode a command that names a key goes to the master serving
//    the key's slot, from a slot map read with CLUSTER SLOTS. MOVED updates
//    the map (and a full refresh follows); ASK sends ASKING and the command
//    back to back to the importing node; CLUSTERDOWN and (unless the caller
//    prefers to split a multi-key call) TRYAGAIN are retried with backoff
//    for up to `redirect_timeout`. All of these mean the command
//    did not run, so following them can never apply a command twice. A
//    server that cannot be reached before the command was sent triggers a
//    refresh of the map (a failover) and a retry; once a command was sent,
//    its failure is reported, never retried.
//  - Lua scripts run by digest with EVALSHA, falling back to EVAL when the
//    server answers NOSCRIPT (after a restart, a failover, SCRIPT FLUSH, or on
//    another Cluster node). NOSCRIPT means the script did not run either.
//  - A script may also be a function of a Redis 7 function library. Its
//    calls are then FCALLs, which skip re-running the library's chunk on
//    every call. "Function not found" (the same cases as NOSCRIPT) loads the
//    library on every master and retries; a server without Functions, or one
//    that refuses FUNCTION LOAD, turns them off for this client and the
//    scripts run as EVALSHA instead.
//
// Thread-safe.

#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "redis/redis_connection.h"
#include "sluice/observability.h"
#include "sluice/result.h"

namespace sluice::redis {

struct ClientOptions {
  // The server, or in Cluster mode any nodes to read the slot map from.
  std::vector<Endpoint> seeds;
  bool cluster = false;
  // Pipelined connections per server.
  int connections_per_node = 2;
  std::chrono::milliseconds connect_timeout{2000};
  // How long one call may take (0: no limit). A call that times out reports
  // kDeadlineExceeded: it may still run on the server.
  std::chrono::milliseconds command_timeout{0};
  // How long one call keeps following redirections and waiting out
  // TRYAGAIN / CLUSTERDOWN / an unreachable master before it fails.
  std::chrono::milliseconds redirect_timeout{5000};
  // Where degraded paths are reported (fallback to EVALSHA, reconnects).
  Observer observer{};
  // Sent on every new connection, whose reply (any, even an error) proves the
  // server answers before the connection is used.
  std::vector<std::string> handshake{"PING"};
  // Called on the I/O thread with each handshake's server, reply and round
  // trip. Must not block.
  std::function<void(const Endpoint&, const Reply&, std::chrono::nanoseconds)> on_handshake{};
  // After a failed connection attempt the next waits min(max, initial *
  // 2^(failures - 1)), jittered to 50-100%. 0: attempt on every call.
  std::chrono::milliseconds reconnect_backoff_initial{0};
  std::chrono::milliseconds reconnect_backoff_max{0};
  // Per server: commands handed over and not yet answered. 0: no bound.
  size_t max_pending_commands = 0;
  size_t max_pending_bytes = 0;
};

// One script call, for EvalMany.
struct EvalCall {
  size_t script = 0;
  std::vector<std::string> keys;  // all in one slot; keys[0] routes the call
  std::vector<std::string> argv;
};

class RedisClient {
 public:
  explicit RedisClient(ClientOptions options);
  // One server.
  RedisClient(Endpoint endpoint, std::chrono::milliseconds connect_timeout);
  ~RedisClient();

  // Connects now, and in Cluster mode reads the slot map (optional: every
  // call connects when needed).
  Status Connect();

  bool cluster() const { return options_.cluster; }

  // Runs a command that names no key (PING, TIME, SCRIPT LOAD): on the
  // server, or on a Cluster master. At most `timeout` when given, else the
  // command timeout.
  Result<Reply> Call(std::vector<std::string> args, std::optional<std::chrono::milliseconds> timeout = {});

  // Runs a command on the node serving `key`.
  Result<Reply> CallKey(std::string_view key, std::vector<std::string> args);

  // Runs commands pipelined (one write per node, one wait), each on the node
  // serving commands[i][key_index], and returns their replies in order.
  // With `wait_out_tryagain` false, a TRYAGAIN reply (a multi-key command
  // whose keys are split by a slot migration) is returned at once.
  // All within `timeout` when given, else the command timeout.
  std::vector<Result<Reply>> CallMany(const std::vector<std::vector<std::string>>& commands, size_t key_index,
                                      bool wait_out_tryagain = true,
                                      std::optional<std::chrono::milliseconds> timeout = {});

  // Registers a script; returns its id for Eval. `function`, when not empty,
  // names the same code in the function library (SetFunctionLibrary).
  size_t AddScript(std::string text, std::string function = "");

  // The Redis 7 function library ("#!lua name=..." source) that holds the
  // scripts' functions. Call before the first Eval.
  void SetFunctionLibrary(std::string source);

  // Whether calls currently go out as FCALL.
  bool functions_enabled() const { return functions_enabled_.load(); }
  // Where this client reports degraded paths.
  const Observer& observer() const { return options_.observer; }

  // Runs script `id` with `keys` (one slot) and `argv`.
  Result<Reply> Eval(size_t id, const std::vector<std::string>& keys, const std::vector<std::string>& argv,
                     std::optional<std::chrono::milliseconds> timeout = {}, bool wait_out_tryagain = true);

  // Runs several script calls pipelined and returns their replies in order.
  std::vector<Result<Reply>> EvalMany(const std::vector<EvalCall>& calls, bool wait_out_tryagain = true,
                                      std::optional<std::chrono::milliseconds> timeout = {});

  // The queues to the servers, summed over them: what is pending now, the
  // most ever pending, and the calls refused because a bound was reached.
  struct QueueStats {
    size_t commands = 0;
    size_t bytes = 0;
    size_t most_commands = 0;
    size_t most_bytes = 0;
    uint64_t rejected = 0;
  };
  QueueStats queue_stats();

  // The masters to SCAN: the server, or every Cluster master.
  Result<std::vector<Endpoint>> Masters();

  // Runs a command on one given node (SCAN on a master), within `timeout`
  // when given, else the command timeout.
  Result<Reply> CallAt(const Endpoint& node, std::vector<std::string> args,
                       std::optional<std::chrono::milliseconds> timeout = {});

 private:
  class Node;
  struct SlotMap;

  static ClientOptions MakeOptions(Endpoint endpoint, std::chrono::milliseconds connect_timeout);

  Result<Reply> Routed(std::optional<uint16_t> slot, const std::vector<std::string>& args,
                       std::optional<std::chrono::milliseconds> timeout, bool wait_out_tryagain);
  // The node for a slot (Cluster) or the server; refreshes a stale map first.
  Result<std::shared_ptr<Node>> NodeFor(std::optional<uint16_t> slot);
  std::shared_ptr<Node> NodeAt(const Endpoint& endpoint);
  Status RefreshSlots();
  std::string Sha(size_t id);
  // FCALL when script `id` is a function and Functions are on, else EVALSHA
  // (empty when the script's digest is not known yet).
  std::vector<std::string> CallArgs(size_t id, const std::vector<std::string>& keys,
                                    const std::vector<std::string>& argv);
  // Loads the function library on every master; false (and Functions off)
  // when a server refuses it.
  // Each master's load takes at most `timeout` (0: no limit).
  bool LoadFunctionLibrary(std::chrono::milliseconds timeout);
  // Whether a reply says the code was not there to run (and so did not run).
  // An FCALL refused as an unknown command (Redis 6) also turns Functions off.
  bool IsMissingCode(const Reply& reply);
  // Turns FCALL off for good (EVALSHA from now on), reporting it once.
  void DisableFunctions(const std::string& why);

  const ClientOptions options_;
  IoThread io_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Node>> nodes_;  // by Endpoint::ToString; guarded by mu_
  std::shared_ptr<const SlotMap> slots_;                // guarded by mu_; null until read
  bool slots_stale_ = false;                            // guarded by mu_
  std::shared_ptr<Node> standalone_;                    // the server, when not a Cluster
  std::mutex refresh_mu_;                               // one refresh at a time
  std::vector<std::string> scripts_;                    // guarded by mu_
  std::vector<std::string> shas_;                       // guarded by mu_; "" until loaded
  std::vector<std::string> functions_;                  // guarded by mu_; "" = none
  std::string library_;                                 // guarded by mu_
  std::atomic<bool> functions_enabled_{false};
};

// Random hex tokens (write versions, lock owners), safe for concurrent use.
class RandomTokens {
 public:
  // `words` random 64-bit words as 16 hex digits each.
  std::string Next(int words);

  // Uniform in [0, n]; 0 when n <= 0.
  int64_t Uniform(int64_t n);

 private:
  std::mutex mu_;
  std::mt19937_64 rng_{std::random_device{}()};  // guarded by mu_
};

}  // namespace sluice::redis

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RedisStore, RedisLock and Redlock: sluice state and leases shared by many
// processes and machines through Redis (component sluice::redis, built with
// -DSLUICE_WITH_REDIS=ON; find_package(sluice COMPONENTS redis)).
//
// Each sluice key is one Redis hash under `key_prefix` + key, holding the
// record's kind, policy, state fields as decimal integers, its exact expiry
// and a write version (docs/redis_format.md). Every key carries a Redis TTL,
// so nothing outlives its state.
//
// A decision is one round trip: Lua code (a Redis 7 function library called
// with FCALL, or on servers without Functions one script per algorithm run
// with EVALSHA) reads the hash, runs the algorithm of
// docs/algorithms.md in exact integer arithmetic (Lua's doubles cannot hold
// nanosecond times, so the scripts carry a small bignum library), writes the
// new state and its TTL, and returns the decision. Several limits decided
// together (DecideAll) are one script over their keys, all or nothing.
// Time comes from the server's TIME by default (one clock for every client),
// or from `clock` in client-time mode (for managed Redis without TIME in
// scripts, and for exact tests). In client-time mode the store never lets its
// time run backwards: a clock that steps back reads as time standing still at
// the latest time the store used, as in every other store. Other operations (Get, Put, Delete, Scan,
// AtomicUpdate) are exact read-modify-writes committed by a compare-and-set
// script that checks the version each key had when it was read.
//
// Keys given to the store are used as they are (after `key_prefix`); keys
// made by StoreKey carry the user key as their Cluster hash tag, so all the
// limits of one user key live in one slot and DecideAll works on a Cluster.
//
// On a Redis Cluster each command goes to the master serving its key's slot
// (slot map from CLUSTER SLOTS); MOVED, ASK, TRYAGAIN and CLUSTERDOWN are
// followed or waited out, as is a failover, so a resharding does not surface
// to callers. Scan walks every master with SCAN. Stats costs one DBSIZE per
// master, so its `keys` counts every key of the database, including keys
// outside `key_prefix`.
//
// Fencing tokens: a key's fence is kept in its hash and lives as long as the
// key's value (deleting or expiring the key drops it, so fences never
// accumulate). Get and Scan return it in Record::fencing_token; Put of a
// record carrying a token raises the key's fence to at least that token.
//
// Thread-safety: the store is safe for concurrent use. Concurrent Decide
// calls are batched automatically (one script call decides many keys) and
// pipelined over a small pool of connections per server, reconnected after
// a failure.
//
// Outages: a decision (Decide, DecideBatch, DecideAll) ends within
// `command_timeout` (waiting for a batch, a connection, redirections, the
// loading of the scripts and the reply together), whether Redis refuses
// connections, hangs, or the network drops packets; other operations take
// one to three round trips (the server's TIME, a read, a commit; a page at a
// time for Scan), each within it, and end at the first that times out. A connection is used
// only once the server answered a handshake on it (PING; TIME in client-time
// mode), so a server that accepts connections but does not answer fails the
// connect within `connect_timeout`. After a failed connection attempt the
// next waits a backoff (`reconnect_backoff_*`), and calls meanwhile fail at
// once: a server that is down sees a few attempts a second, not one per call.
// What waits for a server is bounded: at most `max_pending_commands` Decide
// calls wait to be batched, and per server at most `max_pending_commands`
// commands and `max_pending_bytes` bytes are queued, being written or
// awaiting replies (a timed-out call's command stays counted until its
// connection answers or is closed); past a bound a call fails at once.
//
// Clock skew (client-time mode): each new connection's handshake and each
// Health() read the server's TIME; the skew (this clock minus the server's,
// corrected by half the round trip) is set as the gauge
// sluice_store_clock_skew_seconds{store="redis",server=...}, and logged as a
// warning when it exceeds `clock_skew_warning` (when it gets there, then at
// most once a minute while it stays). MeasureClockSkew() measures it on
// demand. A connection lives long, so the periodic measurement is Health()'s:
// call it periodically (the daemon's readiness probe does).
//
// Health() is one PING (TIME in client-time mode) per master, each within
// `health_timeout` (or `command_timeout` if shorter): cheap enough for a
// readiness probe.
//
// Errors: kUnavailable when nothing was sent, so nothing applied and the
// call is safe to retry with backoff: Redis cannot be reached, the
// connection is in its reconnect backoff, the call's time ran out before it
// was sent, or a queue bound above was reached (a full queue means the
// server is not keeping up, a transient condition, so it is kUnavailable
// rather than kResourceExhausted); kDeadlineExceeded when the connection
// failed after a write was sent, or no reply came within `command_timeout`
// (the outcome is unknown, and the call is never resent); kAborted when a
// read-modify-write kept conflicting `max_attempts` times; kInvalidArgument
// for DecideAll on a Cluster over keys in different hash slots.
//
// Example:
//   SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<sluice::Store> store,
//       sluice::redis::CreateRedisStore({.uri = "redis://127.0.0.1:6379"}));

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sluice/clock.h"
#include "sluice/lock.h"
#include "sluice/observability.h"
#include "sluice/result.h"
#include "sluice/store.h"
#include "sluice/visibility.h"

namespace sluice::redis {

enum class TimeSource : uint8_t {
  kServer,  // Redis TIME inside each script
  kClient,  // RedisStoreOptions::clock
};

struct RedisStoreOptions {
  // "redis://host[:port]", "unix:///path/redis.sock", or for a Redis Cluster
  // "redis+cluster://host:port[,host:port...]" (any nodes; the rest are
  // found from the cluster's slot map). Required.
  std::string uri;
  // Prepended to every Redis key this store reads or writes. Default: "sluice:".
  std::string key_prefix = "sluice:";
  // Whose clock decides. Default: TimeSource::kServer.
  TimeSource time_source = TimeSource::kServer;
  // The client's clock: the time of decisions and reads in kClient mode.
  // Default: Clock::Real().
  Clock* clock = nullptr;
  // Default: 2 s.
  std::chrono::milliseconds connect_timeout{2000};
  // How long one call to Redis may take before it fails with
  // kDeadlineExceeded (the command may still have run). 0: no limit.
  // Default: 5 s.
  std::chrono::milliseconds command_timeout{5000};
  // Pipelined connections per Redis server. Default: 2.
  int connections_per_node = 2;
  // Automatic batching: concurrent Decide calls are sent together, up to
  // `max_batch` decisions in one script call (per hash slot on a Cluster),
  // with at most `max_batches_in_flight` batches outstanding. A lone caller
  // is never delayed. Defaults: 64 and 4.
  int max_batch = 64;
  int max_batches_in_flight = 4;
  // Run the decision code as a Redis 7 function library (FUNCTION LOAD once,
  // then FCALL), which saves re-running the code's setup on every call.
  // Turned off by itself, for EVALSHA, on servers without Functions or that
  // refuse FUNCTION LOAD. Default: true.
  bool use_functions = true;
  // Conflicting read-modify-writes retried (with jittered backoff) before
  // kAborted. Default: 1000.
  int max_attempts = 1000;
  // Where degraded paths are reported: falling back from FCALL to EVALSHA,
  // reconnecting, a batch re-sent one decision at a time during a slot
  // migration, a full queue, clock skew. Default: warnings to stderr, no
  // metrics.
  Observer observer{};
  // After a failed connection attempt to a server the next one waits
  // min(reconnect_backoff_max, reconnect_backoff_initial * 2^(failures - 1)),
  // jittered to 50-100% of that; calls meanwhile fail at once with
  // kUnavailable. The first attempt after a connection broke is immediate.
  // 0 ms initial: attempt on every call. Defaults: 100 ms and 1 s.
  std::chrono::milliseconds reconnect_backoff_initial{100};
  std::chrono::milliseconds reconnect_backoff_max{1000};
  // Bounds on what waits for Redis (see "Outages" above): Decide calls
  // waiting to be batched, and per server the commands (and their bytes, as
  // sent) queued, being written or awaiting replies. A single command larger
  // than max_pending_bytes is sent when nothing else is pending. 0: no bound.
  // Defaults: 4096 and 16 MiB.
  size_t max_pending_commands = 4096;
  size_t max_pending_bytes = size_t{16} << 20;
  // Client-time mode: a measured clock skew beyond this is logged as a
  // warning. Default: 1 s.
  std::chrono::milliseconds clock_skew_warning{1000};
  // How long Health() waits for each master's answer (never longer than
  // command_timeout). Default: 1 s.
  std::chrono::milliseconds health_timeout{1000};
};

// Connects and returns the store. kInvalidArgument for a bad URI,
// kUnavailable if the server cannot be reached.
SLUICE_EXPORT Result<std::unique_ptr<Store>> CreateRedisStore(const RedisStoreOptions& options);

// Measures now the offset of `store`'s clock (RedisStoreOptions::clock) from
// its Redis server's TIME (on a Cluster, the first master's): positive when
// this clock is ahead. One TIME round trip, corrected by half of it; also
// updates the skew gauge and warns past the threshold, as the automatic
// measurements do. kInvalidArgument when `store` was not made by
// CreateRedisStore (a wrapped store included); the call's errors otherwise.
SLUICE_EXPORT Result<std::chrono::nanoseconds> MeasureClockSkew(Store& store);

struct RedisLockOptions {
  // "redis://host[:port]" or "unix:///path/redis.sock". Required.
  std::string uri;
  // Prepended to the lock keys. Default: "sluice:lock:".
  std::string key_prefix = "sluice:lock:";
  // Measures how long a grant took, for Lease::valid_until. Default: Clock::Real().
  Clock* clock = nullptr;
  // Clock drift allowance as a fraction of the TTL (plus 2 ms), subtracted
  // from a lease's validity. Default: 0.01.
  double drift_factor = 0.01;
  // Default: 2 s.
  std::chrono::milliseconds connect_timeout{2000};
};

// A Lock on one Redis server: SET NX PX with a random owner token; release
// and extend are compare-and-delete / compare-and-expire scripts; the fencing
// token is an INCR of a per-resource counter that never expires, taken in the
// same script as the grant (both keys share a Cluster hash tag).
// kInvalidArgument for a bad URI, kUnavailable if the server is unreachable.
SLUICE_EXPORT Result<std::unique_ptr<Lock>> CreateRedisLock(const RedisLockOptions& options);

struct RedlockOptions {
  // Independent Redis servers (not replicas of each other); an odd number,
  // five in the usual deployment. Required, at least one.
  std::vector<std::string> uris;
  // Prepended to the lock keys. Default: "sluice:lock:".
  std::string key_prefix = "sluice:lock:";
  // Measures how long a grant took. Default: Clock::Real().
  Clock* clock = nullptr;
  // Clock drift allowance as a fraction of the TTL (plus 2 ms). Default: 0.01.
  double drift_factor = 0.01;
  // How long one server may take to connect or answer before it counts as
  // failed for this attempt. Default: 50 ms.
  std::chrono::milliseconds server_timeout{50};
};

// Redlock: a lease is granted when a majority of the servers grant it within
// its validity (TTL minus the time taken and the drift allowance); otherwise
// every partial grant is released. The fencing token is the largest of the
// majority's counters, written back to each of them, so that any later
// majority (which overlaps this one) grants a larger token.
// TryAcquire returns nullopt when the resource is held, and kUnavailable when
// too few servers answered for a majority to be possible.
SLUICE_EXPORT Result<std::unique_ptr<Lock>> CreateRedlock(const RedlockOptions& options);

}  // namespace sluice::redis

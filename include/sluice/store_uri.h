// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// OpenStore: any store of this build from a URI, so a daemon, a CLI and an
// embedding program name stores the same way. Part of the sluice::stores
// component, which links every backend the build has.
//
//   memory:                        MemoryStore; query: shards, max_keys, sweep_interval
//   rocksdb:PATH | rocksdb://PATH  RocksDbStore; query: sync=none|every_write|periodic,
//                                  sync_interval, cache_records
//   redis://HOST[:PORT]            RedisStore; query: prefix, time=server|client,
//   redis+unix:///PATH.sock          connect_timeout, command_timeout, connections,
//   redis+cluster://H:P[,H:P...]     max_batch, reconnect_backoff,
//                                    reconnect_backoff_max, max_pending_commands,
//                                    max_pending_bytes, clock_skew_warning,
//                                    health_timeout
//
// Durations in the query are ParseDuration strings ("100ms"). For example
// "rocksdb:/var/lib/sluice/state?sync=periodic&sync_interval=50ms" or
// "redis://10.0.0.5:6379?prefix=rl:&command_timeout=20ms".
//
// Errors: kInvalidArgument for a malformed URI, an unknown scheme or query
// key (naming the keys the scheme takes), or a bad value; kNotSupported for a
// scheme whose backend this build does not include; otherwise what the store's
// own Create returns (kUnavailable when a server cannot be reached).

#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/clock.h"
#include "sluice/observability.h"
#include "sluice/result.h"
#include "sluice/store.h"

namespace sluice {

struct StoreOpenOptions {
  // Default: Clock::Real(). Must outlive the store.
  Clock* clock = nullptr;
  // Passed to the store.
  Observer observer{};
};

// What a URI names, without opening anything.
struct StoreUri {
  std::string scheme;  // "memory", "rocksdb", "redis", "redis+unix", "redis+cluster"
  std::string location;  // path or host list; empty for memory
  std::vector<std::pair<std::string, std::string>> query;
};

Result<StoreUri> ParseStoreUri(std::string_view uri);

// True if the store keeps its state only in this process (memory:), so a
// daemon needs checkpoints to keep it across restarts.
bool IsInProcessStore(const StoreUri& uri);
// True if deciding may wait on a network round trip (Redis).
bool IsRemoteStore(const StoreUri& uri);

Result<std::unique_ptr<Store>> OpenStore(std::string_view uri, const StoreOpenOptions& options = {});

// The schemes this build can open.
std::vector<std::string> SupportedStoreSchemes();

}  // namespace sluice

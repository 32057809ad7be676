// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RocksDbStore: a Store kept in a local RocksDB database, so limits and keyed
// state survive a restart of the process (component sluice::rocksdb, built
// with -DSLUICE_WITH_ROCKSDB=ON; find_package(sluice COMPONENTS rocksdb)).
//
// Decisions, DecideAll and AtomicUpdate run in this process: each key's
// read-modify-write happens under one of a fixed set of striped locks, and
// recently used records are cached in memory, so a decision reads the disk
// only on a cache miss. How soon a write is durable is `sync`:
//   - SyncMode::kEveryWrite: the write goes to RocksDB and its log is fsynced
//     before the call returns (a decision that was acknowledged survives a
//     crash of the process or of the machine). Concurrent writers share one
//     fsync: the store's group commit writes the batches of all waiting
//     writers as one synced RocksDB write.
//   - SyncMode::kPeriodic: writes are applied in memory (readers see them at
//     once) and a background thread hands them to RocksDB as one batch and
//     fsyncs the log every `sync_interval` (sooner when 65536 are pending);
//     a crash loses at most about the last interval of writes. Several keys
//     decided together (DecideAll) always land in the same batch.
//   - SyncMode::kNone: the write goes to RocksDB, whose log is handed to the
//     OS on each write and never fsynced by the store (a process crash loses
//     nothing, a machine crash may lose anything not yet written back).
// Flush() makes every completed write durable in any mode.
//
// Every record carries its absolute expiry. An expired record is never
// returned (checked on each read against `clock`), and a compaction filter
// drops expired records from disk when RocksDB compacts, so they do not
// accumulate; CompactAll() forces that.
//
// On disk: keys are "k" + the key; values are the format of
// docs/rocksdb_format.md (kind, expiry, fencing token, policy, state fields).
// The database carries its format version under a metadata key. Open accepts
// this format version and every earlier one; it refuses, and leaves
// untouched, a directory that is not a RocksDB database, a RocksDB database
// that sluice did not create, one written by a newer sluice, or one that
// RocksDB cannot read.
//
// Thread-safety: safe for concurrent use from many threads. One process may
// open a path at a time (RocksDB's lock file).
//
// Errors: kInvalidArgument for bad options, keys, policies or costs;
// kFailedPrecondition when Open refuses a directory (foreign, newer, in use)
// or a fencing token is stale; kDataLoss when a stored record cannot be
// decoded or the database is corrupt; kUnavailable when RocksDB failed to
// read or write (the message carries RocksDB's error; a failed write may or
// may not have reached the log).
//
// Example:
//   SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<sluice::rocksdb::RocksDbStore> store,
//       sluice::rocksdb::CreateRocksDbStore({.path = "/var/lib/app/limits",
//                                            .sync = sluice::rocksdb::SyncMode::kPeriodic}));
//   SLUICE_ASSIGN_OR_RETURN(sluice::Decision d, store->Decide("user:42", policy));
//   SLUICE_RETURN_IF_ERROR(store->CreateCheckpoint("/backup/limits-2026-12-01"));

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "sluice/clock.h"
#include "sluice/observability.h"
#include "sluice/result.h"
#include "sluice/store.h"
#include "sluice/visibility.h"

namespace sluice::rocksdb {

// When acknowledged writes become durable. Persisted nowhere: a database may
// be reopened in any mode.
enum class SyncMode : uint8_t {
  kNone = 0,        // written to the OS on each write, never fsynced by the store
  kEveryWrite = 1,  // fsynced before each write returns (group commit)
  kPeriodic = 2,    // fsynced every `sync_interval`
};

// "none", "every_write", "periodic".
SLUICE_EXPORT std::string_view SyncModeName(SyncMode mode);

// The on-disk format version this build writes; it opens this one and every
// earlier one.
inline constexpr int64_t kRocksDbFormatVersion = 1;

struct RocksDbStoreOptions {
  // The database directory. Created (with its parents) when absent or empty.
  // Required.
  std::string path;
  // Default: SyncMode::kEveryWrite.
  SyncMode sync = SyncMode::kEveryWrite;
  // kPeriodic only: the longest time a write waits for its fsync, measured on
  // `clock`. Default: 100 ms.
  std::chrono::milliseconds sync_interval{100};
  // All time: decisions, expiry (also in the compaction filter) and the
  // periodic sync's schedule. Must outlive the store. Default: Clock::Real().
  Clock* clock = nullptr;
  // Key-striped locks. Default: 1024.
  size_t lock_stripes = 1024;
  // Records kept decoded in memory (least recently written ones are dropped
  // first, approximately). 0 disables the cache. Default: 65536.
  size_t cache_records = 65536;
  // RocksDB's block cache for reads from disk. Default: 32 MiB.
  size_t block_cache_bytes = 32u << 20;
  // Where degraded paths are reported: a failed periodic flush or log sync
  // is logged as an error and counted in sluice_rocksdb_sync_failures_total,
  // once per run of failures; the writes stay readable but are not durable,
  // and Health() says so until a sync succeeds. Default: Logger::Default(),
  // no metrics.
  Observer observer{};
};

// Statistics beyond StoreStats.
struct RocksDbStats {
  StoreStats store;
  uint64_t writes = 0;                // writes sent to RocksDB (one per changed decision or write call)
  uint64_t wal_syncs = 0;             // fsyncs of the log the store asked for (periodic mode and Flush)
  uint64_t cache_hits = 0;            // reads served from the record cache
  uint64_t compaction_drops = 0;      // expired records dropped by the compaction filter
  uint64_t log_fsyncs = 0;            // fsyncs of the log RocksDB made (every-write: one per group commit)
  uint64_t writes_done_by_other = 0;  // writes committed in another writer's group (every-write: the
                                      // store's group commit; none mode: RocksDB's write group)
};

class SLUICE_EXPORT RocksDbStore : public Store {
 public:
  // The bytes the database occupies on disk: live SST files plus the
  // write-ahead log. Computed from RocksDB's metadata (no directory walk).
  virtual Result<uint64_t> DiskUsageBytes() = 0;

  // Writes a consistent, openable copy of the database to `dir` (which must
  // not exist; on the same file system, files are hard-linked). Every write
  // completed before the call is in it. Open it with CreateRocksDbStore.
  // Errors: kFailedPrecondition if `dir` exists, kUnavailable if RocksDB failed.
  virtual Status CreateCheckpoint(const std::string& dir) = 0;

  // Compacts the whole database now; expired records are dropped.
  virtual Status CompactAll() = 0;

  virtual RocksDbStats DetailedStats() const = 0;

  // The format version of the opened database (kRocksDbFormatVersion or earlier).
  virtual int64_t format_version() const = 0;
};

// Opens (or creates) the store at `options.path`. Errors: kInvalidArgument for
// bad options; kFailedPrecondition for a directory the store must not touch
// (see the file comment), the message saying why; kDataLoss for a database
// RocksDB reports corrupt; kUnavailable when RocksDB cannot open it.
SLUICE_EXPORT Result<std::unique_ptr<RocksDbStore>> CreateRocksDbStore(const RocksDbStoreOptions& options);

}  // namespace sluice::rocksdb

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Checkpoints: point-in-time copies of a store's records that survive crashes
// and power loss, written periodically and on demand and restored at start.
//
// A CheckpointCoordinator copies every live record of a Store (Scan) into a
// checkpoint and puts them back (Put) with RestoreLatest(). Expired records
// are left out when writing and skipped when restoring. Where checkpoints go
// is a CheckpointTarget:
//   - a directory on a FileSystem (the default): one file per checkpoint and a
//     MANIFEST listing them with their sizes and checksums. Each file is
//     written to a temp file, synced, renamed into place, and the directory is
//     synced before the manifest (itself replaced atomically) names it, so a
//     crash or power loss at any point leaves every earlier checkpoint intact.
//     Temp files a crash left behind are removed when the target is opened.
//     The newest `retain` checkpoints are kept.
//   - any Store: the whole checkpoint under one key, as opaque bytes, replaced
//     by each new checkpoint (for a process without a disk that loads its
//     state at a cold start and saves it after each run).
// Every checkpoint carries a header (format version, id, time, compression)
// and a trailer (record count, CRC-32C of the whole file), so a truncated,
// torn or bit-flipped checkpoint is detected and skipped, never restored.
// docs/checkpoint_format.md specifies the format.
//
// Failures: a failed save is retried (by default 3 attempts, waiting up to
// 100 ms, then up to 400 ms, with random jitter, on the injected clock); each
// retry starts a new file, never reusing one whose write or fsync failed.
// RestoreLatest() retries reads the same way and falls back to older
// checkpoints when the newest is corrupt. When nothing can be loaded although
// checkpoints exist, `on_load_failure` decides: refuse to start (return the
// error; the default) or start with an empty state. Both are logged and
// counted; neither is silent.
//
// Reporting: through the Observer: logs under component "checkpoint" and the
// metrics sluice_checkpoint_created_total, sluice_checkpoint_failures_total,
// sluice_checkpoint_retries_total, sluice_checkpoint_duration_seconds,
// sluice_checkpoint_bytes, sluice_checkpoint_entries,
// sluice_checkpoint_restored_entries, sluice_checkpoint_skipped_total,
// sluice_checkpoint_load_retries_total and
// sluice_checkpoint_load_failures_total{outcome="refused"|"started_fresh"}.
//
// Thread-safety: all methods are safe to call concurrently; checkpoints are
// taken one at a time. Records written while a checkpoint scans the store may
// or may not be in it.
//
// Errors: kInvalidArgument for bad options; kFailedPrecondition for a
// directory another process holds, or Start() twice; the FileSystem's errors
// (kUnavailable, kResourceExhausted, ...) when saving kept failing;
// kDataLoss when checkpoints exist but none could be restored.
//
// Example:
//   auto coordinator = sluice::CheckpointCoordinator::Create(
//       store, {.directory = "/var/lib/sluice/checkpoints", .interval = std::chrono::minutes(5)});
//   SLUICE_ASSIGN_OR_RETURN(sluice::RestoreReport report, (*coordinator)->RestoreLatest());
//   SLUICE_RETURN_IF_ERROR((*coordinator)->Start());
//   ...
//   SLUICE_RETURN_IF_ERROR((*coordinator)->Stop());  // writes a final checkpoint

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/clock.h"
#include "sluice/compression.h"
#include "sluice/file_system.h"
#include "sluice/observability.h"
#include "sluice/result.h"
#include "sluice/store.h"
#include "sluice/visibility.h"

namespace sluice {

// One checkpoint a target holds.
struct SLUICE_EXPORT CheckpointInfo {
  uint64_t id = 0;          // grows with every checkpoint of a target
  std::string name;         // file name or store key
  uint64_t size_bytes = 0;  // 0 when unknown (a file the manifest does not list)
  uint64_t entries = 0;     // records; 0 when unknown
  int64_t created_ns = 0;   // wall time the checkpoint started; 0 when unknown
  // CRC-32C of the whole checkpoint, when a manifest records it.
  std::optional<uint32_t> crc32c;
};

// A checkpoint being written. Dropping it without Commit() abandons it and
// leaves the target as it was.
class SLUICE_EXPORT CheckpointSink {
 public:
  virtual ~CheckpointSink() = default;
  // The name the checkpoint will have (file name or store key).
  virtual const std::string& name() const = 0;
  // Appends the next bytes of the checkpoint.
  virtual Status Append(std::string_view data) = 0;
  // Makes the checkpoint durable and the newest of the target, records
  // `info` (size, entries, checksum), then drops the oldest checkpoints so
  // that `retain` remain. Once this returns OK the checkpoint survives a
  // power loss.
  virtual Status Commit(const CheckpointInfo& info, size_t retain) = 0;
};

// Where checkpoints are kept.
class SLUICE_EXPORT CheckpointTarget {
 public:
  virtual ~CheckpointTarget() = default;
  // "directory /var/lib/sluice/ckpt", "store memory key worker:7".
  virtual std::string Describe() const = 0;
  // The checkpoints present, newest (largest id) first.
  virtual Result<std::vector<CheckpointInfo>> List() = 0;
  // Starts checkpoint `id`. REQUIRES: id is larger than every listed id.
  virtual Result<std::unique_ptr<CheckpointSink>> Begin(uint64_t id) = 0;
  // The bytes of one listed checkpoint.
  virtual Result<std::string> Read(const CheckpointInfo& info) = 0;
  // The key this target keeps checkpoints under when it keeps them in
  // `store` itself (so a checkpoint of that store leaves it out); nullopt
  // otherwise.
  virtual std::optional<std::string> KeyIn(const Store& store) const {
    (void)store;
    return std::nullopt;
  }
};

// Checkpoints as files in `directory` on `fs` (created if missing), one
// process at a time: the target holds `directory`/LOCK while it lives
// (kFailedPrecondition if another process holds it). Removes temp files a
// crash left behind. `fs` must outlive the target.
SLUICE_EXPORT Result<std::unique_ptr<CheckpointTarget>> NewDirectoryCheckpointTarget(FileSystem& fs,
                                                                                  std::string directory);

// The newest checkpoint as opaque bytes under `key` of `store` (which keeps
// just one, whatever `retain` says). Store::Put replaces a key atomically, so
// a reader sees the old checkpoint or the new one.
SLUICE_EXPORT std::unique_ptr<CheckpointTarget> NewStoreCheckpointTarget(std::shared_ptr<Store> store,
                                                                      std::string key);

// How a save or a load is retried.
struct SLUICE_EXPORT CheckpointRetryOptions {
  // Attempts in all, the first included. Default: 3.
  int max_attempts = 3;
  // The longest wait before the first retry; each later one may wait
  // `multiplier` times longer, at most `max_delay`. Each wait is random in
  // [0, its cap]. Default: 100 ms, x4, 1600 ms.
  std::chrono::nanoseconds initial_delay = std::chrono::milliseconds(100);
  double multiplier = 4.0;
  std::chrono::nanoseconds max_delay = std::chrono::milliseconds(1600);
};

// What RestoreLatest() does when checkpoints exist but none can be loaded.
enum class LoadFailurePolicy : uint8_t {
  kRefuseToStart = 0,  // return the error
  kStartFresh = 1,     // restore nothing and go on with an empty state
};

struct SLUICE_EXPORT CheckpointOptions {
  // A directory to keep checkpoints in (on `file_system`). Required unless
  // `target` is set.
  std::string directory;
  // Default: FileSystem::Default().
  FileSystem* file_system = nullptr;
  // Where checkpoints go, instead of `directory`. Default: nullptr.
  std::shared_ptr<CheckpointTarget> target;

  // Periodic checkpoints after Start(): one every `interval`; 0 means only on
  // demand. Default: 5 minutes.
  std::chrono::nanoseconds interval = std::chrono::minutes(5);
  // At least this long between the end of one checkpoint (periodic or on
  // demand) and the start of the next periodic one. Default: 1 minute.
  std::chrono::nanoseconds min_pause = std::chrono::minutes(1);
  // Checkpoints kept in a directory. At least 1. Default: 3.
  size_t retain = 3;
  // Compresses checkpoints (e.g. sluice::zstd::Create()). Default: none.
  std::shared_ptr<const Compression> compression;
  // Compressions RestoreLatest() can read, besides `compression`. Default: none.
  std::vector<std::shared_ptr<const Compression>> readable_compressions;
  // Only keys with this prefix are checkpointed. Default: "" (all).
  std::string prefix;
  // Write a final checkpoint in Stop(). Default: true.
  bool checkpoint_on_stop = true;

  CheckpointRetryOptions save_retry;
  CheckpointRetryOptions load_retry;
  // Default: kRefuseToStart.
  LoadFailurePolicy on_load_failure = LoadFailurePolicy::kRefuseToStart;
  // Seed of the retry jitter; 0 draws one from the OS. Default: 0.
  uint64_t jitter_seed = 0;
  // Largest checkpoint body RestoreLatest() decompresses (a guard against
  // decompression bombs). Default: 4 GiB.
  uint64_t max_restore_bytes = uint64_t{4} << 30;

  // Where time comes from (timestamps, intervals, retry waits). Default: the
  // store's clock.
  Clock* clock = nullptr;
  Observer observer{};
};

struct SLUICE_EXPORT CheckpointStats {
  uint64_t created = 0;   // checkpoints written
  uint64_t failed = 0;    // checkpoints that failed after all retries
  uint64_t retries = 0;   // save attempts repeated
  uint64_t last_id = 0;   // id of the newest checkpoint written, 0 if none
  std::chrono::nanoseconds last_duration{0};
  uint64_t last_bytes = 0;
  uint64_t last_entries = 0;
  int64_t last_success_ns = 0;  // wall time the newest checkpoint finished
};

// A checkpoint RestoreLatest() passed over, and why.
struct SLUICE_EXPORT SkippedCheckpoint {
  CheckpointInfo info;
  Status reason;
};

struct SLUICE_EXPORT RestoreReport {
  // The checkpoint restored; nullopt when none was.
  std::optional<CheckpointInfo> checkpoint;
  uint64_t restored = 0;  // records put into the store
  uint64_t expired = 0;   // records skipped because they had expired
  uint64_t invalid = 0;   // records the store refused (e.g. not valid for their policy)
  // The first few reasons for `invalid`.
  std::vector<std::string> invalid_reasons;
  // Newer checkpoints that could not be used, newest first.
  std::vector<SkippedCheckpoint> skipped;
  // True when nothing could be loaded and on_load_failure was kStartFresh.
  bool started_fresh = false;
  // Why nothing could be loaded, when started_fresh.
  Status load_error;
  int attempts = 0;  // read attempts made, retries included
};

class SLUICE_EXPORT CheckpointCoordinator {
 public:
  // kInvalidArgument if `store` is null, neither `directory` nor `target` is
  // set, `retain` is 0, or a retry option is out of range; errors of opening
  // the directory target otherwise.
  static Result<std::unique_ptr<CheckpointCoordinator>> Create(std::shared_ptr<Store> store,
                                                               CheckpointOptions options);
  // Stops the periodic thread; writes the final checkpoint if Start() ran and
  // Stop() did not (its error is logged).
  virtual ~CheckpointCoordinator() = default;

  // Puts the records of the newest good checkpoint into the store; call it
  // before the store serves. Corrupt or unreadable checkpoints are skipped
  // (listed in the report). OK with nothing restored when there is no
  // checkpoint. When checkpoints exist but none loads, kDataLoss (or the read
  // error) under kRefuseToStart, or OK with started_fresh under kStartFresh.
  virtual Result<RestoreReport> RestoreLatest() = 0;

  // Writes a checkpoint now, retrying as configured. Returns what was written.
  // kFailedPrecondition after a RestoreLatest() that refused to start (a new
  // checkpoint would replace the ones that could not be loaded) until a later
  // RestoreLatest() succeeds.
  virtual Result<CheckpointInfo> CreateCheckpoint() = 0;

  // Starts periodic checkpoints on a background thread (none if interval is 0).
  // kFailedPrecondition if started before.
  virtual Status Start() = 0;

  // Stops periodic checkpoints, waits for one in progress, and writes a final
  // checkpoint (checkpoint_on_stop) if RestoreLatest() succeeded or Start()
  // ran: a coordinator that never loaded its state writes nothing over the
  // checkpoints. Returns that checkpoint's error. Calling it again does nothing.
  virtual Status Stop() = 0;

  virtual CheckpointStats stats() const = 0;

 protected:
  CheckpointCoordinator() = default;
};

}  // namespace sluice

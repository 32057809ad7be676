// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// FaultFileSystem is an in-memory FileSystem for tests that breaks on demand:
//   - it fails chosen calls (the Nth call overall, the next call of a kind, or
//     every call of a kind) with an errno such as EIO or ENOSPC, mapped to a
//     Status exactly as the POSIX file system maps it;
//   - it simulates a power loss: SimulatePowerLoss() throws away everything
//     that was not made durable, following the POSIX contract strictly. File
//     data survives only up to the file's last Sync(); a directory's entries
//     (files created, renamed in, removed) survive only as they stood at the
//     directory's last SyncDirectory(). Optionally the unsynced tail of a file
//     is partly kept and its last block garbled, as a torn write leaves it;
//   - it numbers every call, so a test can measure how many calls an operation
//     makes and then crash it after call N for every N (CrashAfter), which
//     makes all later calls fail as if the machine were off.
// Because it is in memory, a test can sweep thousands of crash points in a
// second and see the same result every run.
//
// Mutants: the options can make Sync() or SyncDirectory() report success
// without making anything durable. Code that is crash-safe only by luck passes
// its tests under a mutant; a power-loss test that fails under it proves that
// the test can see a missing fsync.
//
// Directories exist once CreateDirectories() made them; "/" always exists.
// Paths are normalised ("a//b/" is "a/b"); relative paths hang off "/".
//
// Thread-safe (one mutex). Files and locks it hands out must not outlive it.
// Files opened before a SimulatePowerLoss() fail every later call.

#pragma once

#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "sluice/file_system.h"

namespace sluice::testing {

// The calls a FaultFileSystem counts and can fail.
enum class FsOp : uint8_t {
  kNewWritableFile,
  kNewAppendableFile,
  kNewSequentialFile,
  kAppend,
  kFlush,
  kSync,
  kClose,
  kRead,
  kRename,
  kRemove,
  kCreateDirectories,
  kSyncDirectory,
  kListDirectory,
  kExists,
  kFileSize,
  kLockFile,
};

// "Append", "SyncDirectory", ...
std::string_view FsOpName(FsOp op);

struct FaultFileSystemOptions {
  // Mutant: SyncDirectory() succeeds without making any entry durable.
  // Default: false.
  bool ignore_directory_sync = false;
  // Mutant: Sync() succeeds without making any data durable. Default: false.
  bool ignore_file_sync = false;
  // On power loss, keep a random part of each file's unsynced tail and garble
  // its last block (up to 512 bytes), as a torn write does; otherwise the
  // tail is dropped whole. Default: false.
  bool garble_unsynced_tail = false;
  // Seed of the randomness above and of FailRandomly(). Default: 1.
  uint64_t seed = 1;
};

class FaultFileSystem final : public FileSystem {
 public:
  explicit FaultFileSystem(FaultFileSystemOptions options = {});
  ~FaultFileSystem() override;
  FaultFileSystem(const FaultFileSystem&) = delete;
  FaultFileSystem& operator=(const FaultFileSystem&) = delete;

  // --- Faults. Calls that fail change nothing (a failed Append writes
  // nothing), and a file whose Append, Sync or Close failed fails every later
  // call, as a real file must be abandoned after a write error. ---

  // Fails call number `n` (1-based, as counted by calls()) with `err`.
  void FailCall(uint64_t n, int err = EIO);
  // Fails the next call of kind `op` that comes after `skip` others of that
  // kind.
  void FailNext(FsOp op, int err = EIO, uint64_t skip = 0);
  // Fails every call of kind `op` until ClearFaults().
  void FailAlways(FsOp op, int err = EIO);
  // Fails each call of a kind in `ops` with probability `p` (seeded).
  void FailRandomly(std::vector<FsOp> ops, double p, int err = EIO);
  // Removes every planned failure and the crash point.
  void ClearFaults();
  // Replaces the options from now on (e.g. turns a mutant on after a setup
  // that must be durable). The seed is not reapplied.
  void SetOptions(const FaultFileSystemOptions& options);

  // Every call numbered above `n` fails with EIO ("the machine is off") and
  // changes nothing, until SimulatePowerLoss().
  void CrashAfter(uint64_t n);

  // Drops what is not durable (see the file comment), releases every lock,
  // invalidates open files, and clears the crash point and failures.
  void SimulatePowerLoss();

  // --- Counting. ---

  // Calls made so far (failed ones included), of every kind.
  uint64_t calls() const;
  // Calls of one kind made so far.
  uint64_t calls(FsOp op) const;
  // Calls that failed because of a fault or the crash point.
  uint64_t injected_failures() const;

  // --- Inspection, not counted and never failing. ---

  // The contents a power loss right now would leave at `path` (nullopt-like
  // kNotFound if the path would not survive).
  Result<std::string> DurableContents(const std::string& path) const;
  // Every file path (not directories), sorted.
  std::vector<std::string> AllFiles() const;
  // Overwrites one byte of a file in place, durable at once (bit rot).
  Status CorruptByte(const std::string& path, uint64_t offset, uint8_t xor_mask = 0xff);

  // --- FileSystem. ---
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path, bool truncate = true) override;
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override;
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status CreateDirectories(const std::string& path) override;
  Status SyncDirectory(const std::string& path) override;
  Result<std::vector<std::string>> ListDirectory(const std::string& path) override;
  Result<bool> Exists(const std::string& path) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;

  struct Node;  // a file or a directory (internal)

 private:
  friend class FaultWritableFile;
  friend class FaultSequentialFile;
  friend class FaultFileLock;

  // Counts a call of kind `op` on `path` and returns the injected failure, if
  // any. REQUIRES: mu_ held.
  Status Enter(FsOp op, const std::string& path);
  // The node at a normalised path, or nullptr. REQUIRES: mu_ held.
  std::shared_ptr<Node> Lookup(const std::string& path) const;
  // The directory holding `path` and the last name, or an error. REQUIRES: mu_ held.
  Result<std::pair<std::shared_ptr<Node>, std::string>> Parent(const std::string& path, std::string_view what);

  struct Rule {
    FsOp op;
    int err;
    uint64_t skip;    // for FailNext
    bool always;
  };

  FaultFileSystemOptions options_;  // guarded by mu_
  mutable std::mutex mu_;
  std::shared_ptr<Node> root_;
  uint64_t calls_ = 0;
  std::map<FsOp, uint64_t> calls_by_op_;
  uint64_t injected_ = 0;
  std::map<uint64_t, int> fail_calls_;
  std::vector<Rule> rules_;
  std::set<FsOp> random_ops_;
  double random_p_ = 0;
  int random_err_ = EIO;
  uint64_t crash_after_ = UINT64_MAX;
  uint64_t epoch_ = 0;  // bumped by every power loss
  std::set<std::string> locked_;
  std::mt19937_64 rng_;
};

}  // namespace sluice::testing

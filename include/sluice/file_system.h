// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// FileSystem is how sluice touches files: every file the library writes or
// reads (checkpoints, export files, manifests, lock files) goes through one,
// injected through the Options structs, so tests can fail any call on a
// schedule or cut the power at any point (sluice/testing/fault_file_system.h).
//
// The contract follows POSIX: data appended to a file is durable only after
// Sync() on that file; a new name (Create, Rename, Remove) is durable only
// after SyncDirectory() on the directory holding it. The crash-safe way to
// replace a file is WriteFileAtomically() below: temp file, write, fsync,
// rename over the target, fsync of the directory.
//
// Paths are plain strings ("/var/lib/sluice/ckpt/000001.ckpt"); a FileSystem
// does not interpret them beyond what the OS does.
//
// Thread-safety: a FileSystem is safe for concurrent use; one WritableFile or
// SequentialFile must not be used from two threads at once.
//
// Errors: kNotFound for a missing path, kAlreadyExists when creating what
// exists, kResourceExhausted for ENOSPC/EDQUOT, kUnavailable for EIO and
// other I/O errors (the message carries the path and strerror), kDataLoss
// when a read finds less than it must, kFailedPrecondition for a lock held by
// another process.

#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/result.h"
#include "sluice/visibility.h"

namespace sluice {

// A file being written from its start (Create) or end (OpenAppend).
class SLUICE_EXPORT WritableFile {
 public:
  virtual ~WritableFile() = default;

  // Appends `data`; may buffer. After an error the file's contents are
  // unknown and the file must be abandoned (no retry on the same file: a
  // failed fsync may have dropped the dirty pages).
  virtual Status Append(std::string_view data) = 0;
  // Writes buffered data to the OS (not durable yet).
  virtual Status Flush() = 0;
  // Makes everything appended so far durable (fdatasync).
  virtual Status Sync() = 0;
  // Flushes and closes. Closing twice is OK. The destructor closes and
  // ignores errors.
  virtual Status Close() = 0;
  // The file's size as this object sees it: what it held when opened (0 for
  // NewWritableFile) plus the bytes appended since.
  virtual uint64_t Size() const = 0;
};

// A file read from start to end.
class SLUICE_EXPORT SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to `n` bytes into `out` (replacing its contents). An empty
  // result with OK status means the end of the file.
  virtual Status Read(size_t n, std::string* out) = 0;
};

// A lock on a directory held by this process (an flock'ed LOCK file), released
// when destroyed.
class SLUICE_EXPORT FileLock {
 public:
  virtual ~FileLock() = default;
};

class SLUICE_EXPORT FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates (or truncates, when `truncate` is true) `path` for writing.
  // kAlreadyExists if it exists and `truncate` is false.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path, bool truncate = true) = 0;
  // Opens `path` for appending, creating it if absent.
  virtual Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) = 0;

  // Replaces `to` with `from` atomically (rename(2)). Durable only after
  // SyncDirectory() on the directory of `to` (and of `from`, if different).
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Removes a file (or an empty directory). kNotFound if absent.
  virtual Status Remove(const std::string& path) = 0;
  // Creates a directory and its missing parents. OK if it exists.
  virtual Status CreateDirectories(const std::string& path) = 0;
  // fsyncs the directory itself, making renames and new or removed entries in it durable.
  virtual Status SyncDirectory(const std::string& path) = 0;
  // The names (not paths) of the entries of a directory, sorted, without "." and "..".
  virtual Result<std::vector<std::string>> ListDirectory(const std::string& path) = 0;
  virtual Result<bool> Exists(const std::string& path) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // Takes an exclusive lock on `path` (created if absent) for this process.
  // kFailedPrecondition if another process (or this one) holds it. The lock
  // is advisory (flock): it keeps out other sluice processes, not other
  // programs.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;

  // The process-wide POSIX file system. Never delete it.
  static FileSystem& Default();
};

// Reads the whole of `path`.
SLUICE_EXPORT Result<std::string> ReadFileToString(FileSystem& fs, const std::string& path);

// Replaces `path` with `contents` crash-safely: writes `path` + ".tmp", syncs
// it, renames it over `path` and syncs the directory. After a crash at any
// point `path` holds either the old contents or the new ones, never a mix,
// and at most a stale ".tmp" file is left (callers remove those on start).
SLUICE_EXPORT Status WriteFileAtomically(FileSystem& fs, const std::string& path, std::string_view contents);

// "a/b/c.txt" -> "a/b"; "c.txt" -> ".". "/c" -> "/".
SLUICE_EXPORT std::string DirectoryOf(std::string_view path);
// "a/b" + "c" -> "a/b/c".
SLUICE_EXPORT std::string JoinPath(std::string_view dir, std::string_view name);

}  // namespace sluice

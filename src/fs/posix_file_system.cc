// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// FileSystem::Default(): the POSIX file system. Every call retries EINTR, and
// writes loop until all bytes are written, so a short write is never mistaken
// for a complete one.

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "fs/errno_status.h"
#include "sluice/file_system.h"

namespace sluice {
namespace {

using internal::ErrnoStatus;

// Appends are buffered up to this many bytes before they are written.
constexpr size_t kWriteBuffer = 64 * 1024;

int RetryOpen(const std::string& path, int flags, mode_t mode = 0644) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override { Close().IgnoreError(); }  // errors were the caller's to collect

  Status Append(std::string_view data) override {
    if (!error_.ok()) return error_;
    if (fd_ < 0) return FailedPreconditionError("append to closed file " + path_);
    size_ += data.size();
    if (buffer_.size() + data.size() <= kWriteBuffer) {
      buffer_.append(data);
      return Status::Ok();
    }
    SLUICE_RETURN_IF_ERROR(FlushBuffer());
    if (data.size() >= kWriteBuffer) return WriteAll(data);
    buffer_.assign(data);
    return Status::Ok();
  }

  Status Flush() override {
    if (!error_.ok()) return error_;
    if (fd_ < 0) return Status::Ok();
    return FlushBuffer();
  }

  Status Sync() override {
    if (!error_.ok()) return error_;
    if (fd_ < 0) return FailedPreconditionError("sync of closed file " + path_);
    SLUICE_RETURN_IF_ERROR(FlushBuffer());
    int rc;
    do {
      rc = ::fdatasync(fd_);
    } while (rc != 0 && errno == EINTR);
    // After a failed fsync the kernel may have dropped the dirty pages: the
    // file stays failed, so nobody "retries" into a false success.
    if (rc != 0) return Fail(ErrnoStatus("fdatasync", path_, errno));
    return Status::Ok();
  }

  Status Close() override {
    if (fd_ < 0) return error_;
    Status s = error_.ok() ? FlushBuffer() : error_;
    // close() is not retried on EINTR: on Linux the descriptor is gone anyway.
    if (::close(fd_) != 0 && s.ok()) s = Fail(ErrnoStatus("close", path_, errno));
    fd_ = -1;
    return s;
  }

  uint64_t Size() const override { return size_; }

 private:
  Status Fail(Status s) {
    error_ = s;
    return s;
  }

  Status FlushBuffer() {
    if (buffer_.empty()) return Status::Ok();
    Status s = WriteAll(buffer_);
    buffer_.clear();
    return s;
  }

  Status WriteAll(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Fail(ErrnoStatus("write", path_, errno));
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  const std::string path_;
  int fd_;
  uint64_t size_;
  std::string buffer_;
  Status error_;  // sticky: the first write, sync or close error
};

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { ::close(fd_); }

  Status Read(size_t n, std::string* out) override {
    out->resize(n);
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::read(fd_, out->data() + got, n - got);
      if (r < 0) {
        if (errno == EINTR) continue;
        out->clear();
        return ErrnoStatus("read", path_, errno);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    out->resize(got);
    return Status::Ok();
  }

 private:
  const std::string path_;
  const int fd_;
};

// flock() conflicts between two opens in one process too, but the set makes
// the second lock in this process fail with a clear message and without
// depending on the file system's flock semantics (NFS).
std::mutex& LockedMu() {
  static std::mutex mu;
  return mu;
}
std::set<std::pair<dev_t, ino_t>>& LockedFiles() {
  static auto* files = new std::set<std::pair<dev_t, ino_t>>();
  return *files;
}

class PosixFileLock final : public FileLock {
 public:
  PosixFileLock(int fd, std::pair<dev_t, ino_t> id) : fd_(fd), id_(id) {}
  ~PosixFileLock() override {
    {
      std::lock_guard<std::mutex> lock(LockedMu());
      LockedFiles().erase(id_);
    }
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  const int fd_;
  const std::pair<dev_t, ino_t> id_;
};

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path, bool truncate) override {
    const int fd = RetryOpen(path, O_WRONLY | O_CREAT | (truncate ? O_TRUNC : O_EXCL));
    if (fd < 0) return ErrnoStatus("create", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd, 0));
  }

  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    const int fd = RetryOpen(path, O_WRONLY | O_CREAT | O_APPEND);
    if (fd < 0) return ErrnoStatus("open for append", path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      Status s = ErrnoStatus("stat", path, errno);
      ::close(fd);
      return s;
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd, static_cast<uint64_t>(st.st_size)));
  }

  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    const int fd = RetryOpen(path, O_RDONLY);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    return std::unique_ptr<SequentialFile>(new PosixSequentialFile(path, fd));
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("rename", from + " -> " + to, errno);
    return Status::Ok();
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) == 0) return Status::Ok();
    if (errno == EISDIR || errno == EPERM) {
      if (::rmdir(path.c_str()) == 0) return Status::Ok();
    }
    return ErrnoStatus("remove", path, errno);
  }

  Status CreateDirectories(const std::string& path) override {
    if (path.empty()) return InvalidArgumentError("CreateDirectories: empty path");
    // Each prefix ending before a '/', then the whole path.
    for (size_t pos = path.find('/', 1);; pos = path.find('/', pos + 1)) {
      const std::string prefix = pos == std::string::npos ? path : path.substr(0, pos);
      if (!prefix.empty() && prefix.back() != '/' && ::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoStatus("mkdir", prefix, errno);
      }
      if (pos == std::string::npos) break;
    }
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
    if (!S_ISDIR(st.st_mode)) return AlreadyExistsError("mkdir " + path + ": exists and is not a directory");
    return Status::Ok();
  }

  Status SyncDirectory(const std::string& path) override {
    const int fd = RetryOpen(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return ErrnoStatus("open directory", path, errno);
    int rc;
    do {
      rc = ::fsync(fd);
    } while (rc != 0 && errno == EINTR);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus("fsync directory", path, err);
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListDirectory(const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return ErrnoStatus("list", path, errno);
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* entry = ::readdir(dir)) {
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
      errno = 0;
    }
    const int err = errno;
    ::closedir(dir);
    if (err != 0) return ErrnoStatus("list", path, err);
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<bool> Exists(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return ErrnoStatus("stat", path, errno);
  }

  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    const int fd = RetryOpen(path, O_RDWR | O_CREAT);
    if (fd < 0) return ErrnoStatus("open lock file", path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      Status s = ErrnoStatus("stat", path, errno);
      ::close(fd);
      return s;
    }
    const std::pair<dev_t, ino_t> id{st.st_dev, st.st_ino};
    {
      std::lock_guard<std::mutex> lock(LockedMu());
      if (!LockedFiles().insert(id).second) {
        ::close(fd);
        return FailedPreconditionError("lock " + path + ": already held by this process");
      }
    }
    int rc;
    do {
      rc = ::flock(fd, LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      const int err = errno;
      {
        std::lock_guard<std::mutex> lock(LockedMu());
        LockedFiles().erase(id);
      }
      ::close(fd);
      if (err == EWOULDBLOCK) return FailedPreconditionError("lock " + path + ": held by another process");
      return ErrnoStatus("lock", path, err);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd, id));
  }
};

}  // namespace

FileSystem& FileSystem::Default() {
  static auto* fs = new PosixFileSystem();
  return *fs;
}

}  // namespace sluice

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The model: a tree of nodes. A file node holds its current bytes and the
// bytes its last Sync() made durable; a directory node holds its current
// entries and the entries its last SyncDirectory() made durable. A power loss
// replaces, from the root down, every directory's entries by its durable ones
// and every reachable file's bytes by its durable bytes; nodes no durable
// entry reaches are gone. A rename is a move of the node between entry maps,
// so it becomes durable exactly when the target directory is synced (and the
// source's removal when the source directory is).

#include "sluice/testing/fault_file_system.h"

#include <algorithm>
#include <functional>
#include <set>
#include <string_view>
#include <utility>

#include "fs/errno_status.h"

namespace sluice::testing {

using internal::ErrnoStatus;

struct FaultFileSystem::Node {
  bool is_dir = false;
  std::string data;     // file: current bytes
  std::string durable;  // file: bytes as of the last Sync()
  std::map<std::string, std::shared_ptr<Node>> entries;          // dir: current
  std::map<std::string, std::shared_ptr<Node>> durable_entries;  // dir: as of the last SyncDirectory()
};

namespace {

std::vector<std::string> Components(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (!part.empty() && part != ".") out.emplace_back(part);
    i = j + 1;
  }
  return out;
}

}  // namespace

std::string_view FsOpName(FsOp op) {
  switch (op) {
    case FsOp::kNewWritableFile: return "NewWritableFile";
    case FsOp::kNewAppendableFile: return "NewAppendableFile";
    case FsOp::kNewSequentialFile: return "NewSequentialFile";
    case FsOp::kAppend: return "Append";
    case FsOp::kFlush: return "Flush";
    case FsOp::kSync: return "Sync";
    case FsOp::kClose: return "Close";
    case FsOp::kRead: return "Read";
    case FsOp::kRename: return "Rename";
    case FsOp::kRemove: return "Remove";
    case FsOp::kCreateDirectories: return "CreateDirectories";
    case FsOp::kSyncDirectory: return "SyncDirectory";
    case FsOp::kListDirectory: return "ListDirectory";
    case FsOp::kExists: return "Exists";
    case FsOp::kFileSize: return "FileSize";
    case FsOp::kLockFile: return "LockFile";
  }
  return "?";
}

// A file being written. Every call takes the file system's mutex.
class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultFileSystem* fs, std::shared_ptr<FaultFileSystem::Node> node, std::string path,
                    uint64_t epoch)
      : fs_(fs), node_(std::move(node)), path_(std::move(path)), epoch_(epoch), size_(node_->data.size()) {}
  ~FaultWritableFile() override {
    if (!closed_) Close().IgnoreError();  // the destructor closes and ignores errors, as documented
  }

  Status Append(std::string_view data) override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    SLUICE_RETURN_IF_ERROR(Usable(FsOp::kAppend));
    node_->data.append(data);
    size_ += data.size();
    return Status::Ok();
  }
  Status Flush() override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    return Usable(FsOp::kFlush);
  }
  Status Sync() override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    SLUICE_RETURN_IF_ERROR(Usable(FsOp::kSync));
    if (!fs_->options_.ignore_file_sync) node_->durable = node_->data;
    return Status::Ok();
  }
  Status Close() override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    if (closed_) return error_;
    Status s = Usable(FsOp::kClose);
    closed_ = true;
    return s;
  }
  uint64_t Size() const override { return size_; }

 private:
  // Counts the call and fails it when the file is unusable or a fault says so.
  Status Usable(FsOp op) {
    if (epoch_ != fs_->epoch_) return UnavailableError(path_ + ": file opened before a simulated power loss");
    if (closed_) return FailedPreconditionError(std::string(FsOpName(op)) + " on closed file " + path_);
    if (!error_.ok()) return error_;
    Status s = fs_->Enter(op, path_);
    if (!s.ok()) error_ = s;  // sticky: the file must be abandoned
    return s;
  }

  FaultFileSystem* const fs_;
  const std::shared_ptr<FaultFileSystem::Node> node_;
  const std::string path_;
  const uint64_t epoch_;
  uint64_t size_;
  bool closed_ = false;
  Status error_;
};

class FaultSequentialFile final : public SequentialFile {
 public:
  FaultSequentialFile(FaultFileSystem* fs, std::shared_ptr<FaultFileSystem::Node> node, std::string path,
                      uint64_t epoch)
      : fs_(fs), node_(std::move(node)), path_(std::move(path)), epoch_(epoch) {}

  Status Read(size_t n, std::string* out) override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    out->clear();
    if (epoch_ != fs_->epoch_) return UnavailableError(path_ + ": file opened before a simulated power loss");
    SLUICE_RETURN_IF_ERROR(fs_->Enter(FsOp::kRead, path_));
    if (pos_ < node_->data.size()) {
      out->assign(node_->data, pos_, n);
      pos_ += out->size();
    }
    return Status::Ok();
  }

 private:
  FaultFileSystem* const fs_;
  const std::shared_ptr<FaultFileSystem::Node> node_;
  const std::string path_;
  const uint64_t epoch_;
  size_t pos_ = 0;
};

class FaultFileLock final : public FileLock {
 public:
  FaultFileLock(FaultFileSystem* fs, std::string key, uint64_t epoch) : fs_(fs), key_(std::move(key)), epoch_(epoch) {}
  ~FaultFileLock() override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    if (epoch_ == fs_->epoch_) fs_->locked_.erase(key_);
  }

 private:
  FaultFileSystem* const fs_;
  const std::string key_;
  const uint64_t epoch_;
};

FaultFileSystem::FaultFileSystem(FaultFileSystemOptions options)
    : options_(options), root_(std::make_shared<Node>()), rng_(options.seed) {
  root_->is_dir = true;
}

FaultFileSystem::~FaultFileSystem() = default;

void FaultFileSystem::FailCall(uint64_t n, int err) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_calls_[n] = err;
}

void FaultFileSystem::FailNext(FsOp op, int err, uint64_t skip) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.push_back({op, err, skip, /*always=*/false});
}

void FaultFileSystem::FailAlways(FsOp op, int err) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.push_back({op, err, 0, /*always=*/true});
}

void FaultFileSystem::FailRandomly(std::vector<FsOp> ops, double p, int err) {
  std::lock_guard<std::mutex> lock(mu_);
  random_ops_ = std::set<FsOp>(ops.begin(), ops.end());
  random_p_ = p;
  random_err_ = err;
}

void FaultFileSystem::ClearFaults() {
  std::lock_guard<std::mutex> lock(mu_);
  fail_calls_.clear();
  rules_.clear();
  random_ops_.clear();
  crash_after_ = UINT64_MAX;
}

void FaultFileSystem::SetOptions(const FaultFileSystemOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  options_ = options;
}

void FaultFileSystem::CrashAfter(uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  crash_after_ = n;
}

void FaultFileSystem::SimulatePowerLoss() {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<const Node*> seen;
  std::function<void(Node&)> revert = [&](Node& node) {
    if (!seen.insert(&node).second) return;
    if (node.is_dir) {
      node.entries = node.durable_entries;
      for (auto& [name, child] : node.entries) revert(*child);
      return;
    }
    const size_t keep = node.durable.size();
    if (options_.garble_unsynced_tail && node.data.size() > keep && node.data.compare(0, keep, node.durable) == 0) {
      // A torn write: some of the unsynced tail reached the disk, the end of
      // it as garbage.
      const size_t tail = node.data.size() - keep;
      const size_t kept = std::uniform_int_distribution<size_t>(0, tail)(rng_);
      std::string survived = node.data.substr(0, keep + kept);
      const size_t garbled = std::min<size_t>(kept, 512);
      for (size_t i = survived.size() - garbled; i < survived.size(); ++i) {
        survived[i] = static_cast<char>(rng_());
      }
      node.durable = std::move(survived);
    }
    node.data = node.durable;
  };
  revert(*root_);
  ++epoch_;
  locked_.clear();
  fail_calls_.clear();
  rules_.clear();
  random_ops_.clear();
  crash_after_ = UINT64_MAX;
}

uint64_t FaultFileSystem::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

uint64_t FaultFileSystem::calls(FsOp op) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = calls_by_op_.find(op);
  return it == calls_by_op_.end() ? 0 : it->second;
}

uint64_t FaultFileSystem::injected_failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return injected_;
}

Status FaultFileSystem::Enter(FsOp op, const std::string& path) {
  const uint64_t n = ++calls_;
  ++calls_by_op_[op];
  int err = 0;
  if (n > crash_after_) {
    ++injected_;
    return ErrnoStatus(std::string(FsOpName(op)) + " after the simulated crash:", path, EIO);
  }
  if (auto it = fail_calls_.find(n); it != fail_calls_.end()) {
    err = it->second;
    fail_calls_.erase(it);
  }
  for (auto it = rules_.begin(); err == 0 && it != rules_.end(); ++it) {
    if (it->op != op) continue;
    if (it->always) {
      err = it->err;
    } else if (it->skip > 0) {
      --it->skip;
    } else {
      err = it->err;
      rules_.erase(it);
      break;
    }
  }
  if (err == 0 && random_ops_.count(op) != 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < random_p_) {
    err = random_err_;
  }
  if (err == 0) return Status::Ok();
  ++injected_;
  return ErrnoStatus(std::string(FsOpName(op)) + " (injected fault)", path, err);
}

std::shared_ptr<FaultFileSystem::Node> FaultFileSystem::Lookup(const std::string& path) const {
  std::shared_ptr<Node> node = root_;
  for (const std::string& part : Components(path)) {
    if (!node->is_dir) return nullptr;
    auto it = node->entries.find(part);
    if (it == node->entries.end()) return nullptr;
    node = it->second;
  }
  return node;
}

Result<std::pair<std::shared_ptr<FaultFileSystem::Node>, std::string>> FaultFileSystem::Parent(
    const std::string& path, std::string_view what) {
  std::vector<std::string> parts = Components(path);
  if (parts.empty()) return ErrnoStatus(what, path, EISDIR);
  std::shared_ptr<Node> node = root_;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    auto it = node->entries.find(parts[i]);
    if (it == node->entries.end()) return ErrnoStatus(what, path, ENOENT);
    node = it->second;
    if (!node->is_dir) return ErrnoStatus(what, path, ENOTDIR);
  }
  return std::make_pair(node, parts.back());
}

Result<std::unique_ptr<WritableFile>> FaultFileSystem::NewWritableFile(const std::string& path, bool truncate) {
  std::lock_guard<std::mutex> lock(mu_);
  SLUICE_RETURN_IF_ERROR(Enter(FsOp::kNewWritableFile, path));
  SLUICE_ASSIGN_OR_RETURN(auto parent, Parent(path, "create"));
  std::shared_ptr<Node>& slot = parent.first->entries[parent.second];
  if (slot != nullptr) {
    if (slot->is_dir) return ErrnoStatus("create", path, EISDIR);
    if (!truncate) return ErrnoStatus("create", path, EEXIST);
    slot->data.clear();  // the truncation is durable only after a Sync(), like the rest
  } else {
    slot = std::make_shared<Node>();
  }
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, slot, path, epoch_));
}

Result<std::unique_ptr<WritableFile>> FaultFileSystem::NewAppendableFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  SLUICE_RETURN_IF_ERROR(Enter(FsOp::kNewAppendableFile, path));
  SLUICE_ASSIGN_OR_RETURN(auto parent, Parent(path, "open for append"));
  std::shared_ptr<Node>& slot = parent.first->entries[parent.second];
  if (slot == nullptr) slot = std::make_shared<Node>();
  if (slot->is_dir) return ErrnoStatus("open for append", path, EISDIR);
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, slot, path, epoch_));
}

Result<std::unique_ptr<SequentialFile>> FaultFileSystem::NewSequentialFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  SLUICE_RETURN_IF_ERROR(Enter(FsOp::kNewSequentialFile, path));
  std::shared_ptr<Node> node = Lookup(path);
  if (node == nullptr) return ErrnoStatus("open", path, ENOENT);
  if (node->is_dir) return ErrnoStatus("read", path, EISDIR);
  return std::unique_ptr<SequentialFile>(new FaultSequentialFile(this, node, path, epoch_));
}

Status FaultFileSystem::Rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(mu_);
  SLUICE_RETURN_IF_ERROR(Enter(FsOp::kRename, from));
  const std::string what = "rename";
  SLUICE_ASSIGN_OR_RETURN(auto src, Parent(from, what));
  SLUICE_ASSIGN_OR_RETURN(auto dst, Parent(to, what));
  auto it = src.first->entries.find(src.second);
  if (it == src.first->entries.end()) return ErrnoStatus(what, from + " -> " + to, ENOENT);
  std::shared_ptr<Node> node = it->second;
  auto target = dst.first->entries.find(dst.second);
  if (target != dst.first->entries.end()) {
    if (target->second == node) return Status::Ok();
    if (target->second->is_dir) return ErrnoStatus(what, from + " -> " + to, EISDIR);
  }
  src.first->entries.erase(it);
  dst.first->entries[dst.second] = std::move(node);
  return Status::Ok();
}

Status FaultFileSystem::Remove(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  SLUICE_RETURN_IF_ERROR(Enter(FsOp::kRemove, path));
  SLUICE_ASSIGN_OR_RETURN(auto parent, Parent(path, "remove"));
  auto it = parent.first->entries.find(parent.second);
  if (it == parent.first->entries.end()) return ErrnoStatus("remove", path, ENOENT);
  if (it->second->is_dir && !it->second->entries.empty()) return ErrnoStatus("remove", path, ENOTEMPTY);
  parent.first->entries.erase(it);
  return Status::Ok();
}

Status FaultFileSystem::CreateDirectories(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  SLUICE_RETURN_IF_ERROR(Enter(FsOp::kCreateDirectories, path));
  if (path.empty()) return InvalidArgumentError("CreateDirectories: empty path");
  std::shared_ptr<Node> node = root_;
  for (const std::string& part : Components(path)) {
    std::shared_ptr<Node>& slot = node->entries[part];
    if (slot == nullptr) {
      slot = std::make_shared<Node>();
      slot->is_dir = true;  // the new entry is durable once `node` is synced
    } else if (!slot->is_dir) {
      return AlreadyExistsError("mkdir " + path + ": " + part + " exists and is not a directory");
    }
    node = slot;
  }
  return Status::Ok();
}

Status FaultFileSystem::SyncDirectory(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  SLUICE_RETURN_IF_ERROR(Enter(FsOp::kSyncDirectory, path));
  std::shared_ptr<Node> node = Lookup(path);
  if (node == nullptr) return ErrnoStatus("open directory", path, ENOENT);
  if (!node->is_dir) return ErrnoStatus("open directory", path, ENOTDIR);
  if (!options_.ignore_directory_sync) node->durable_entries = node->entries;
  return Status::Ok();
}

Result<std::vector<std::string>> FaultFileSystem::ListDirectory(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  SLUICE_RETURN_IF_ERROR(Enter(FsOp::kListDirectory, path));
  std::shared_ptr<Node> node = Lookup(path);
  if (node == nullptr) return ErrnoStatus("list", path, ENOENT);
  if (!node->is_dir) return ErrnoStatus("list", path, ENOTDIR);
  std::vector<std::string> names;
  for (const auto& [name, child] : node->entries) names.push_back(name);
  return names;
}

Result<bool> FaultFileSystem::Exists(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  SLUICE_RETURN_IF_ERROR(Enter(FsOp::kExists, path));
  return Lookup(path) != nullptr;
}

Result<uint64_t> FaultFileSystem::FileSize(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  SLUICE_RETURN_IF_ERROR(Enter(FsOp::kFileSize, path));
  std::shared_ptr<Node> node = Lookup(path);
  if (node == nullptr) return ErrnoStatus("stat", path, ENOENT);
  return static_cast<uint64_t>(node->data.size());
}

Result<std::unique_ptr<FileLock>> FaultFileSystem::LockFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  SLUICE_RETURN_IF_ERROR(Enter(FsOp::kLockFile, path));
  SLUICE_ASSIGN_OR_RETURN(auto parent, Parent(path, "open lock file"));
  std::shared_ptr<Node>& slot = parent.first->entries[parent.second];
  if (slot == nullptr) slot = std::make_shared<Node>();
  std::string key;
  for (const std::string& part : Components(path)) key += "/" + part;
  if (!locked_.insert(key).second) return FailedPreconditionError("lock " + path + ": already held");
  return std::unique_ptr<FileLock>(new FaultFileLock(this, key, epoch_));
}

Result<std::string> FaultFileSystem::DurableContents(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Node* node = root_.get();
  for (const std::string& part : Components(path)) {
    auto it = node->durable_entries.find(part);
    if (!node->is_dir || it == node->durable_entries.end()) {
      return NotFoundError(path + " would not survive a power loss");
    }
    node = it->second.get();
  }
  if (node->is_dir) return InvalidArgumentError(path + " is a directory");
  return node->durable;
}

std::vector<std::string> FaultFileSystem::AllFiles() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  std::function<void(const Node&, const std::string&)> walk = [&](const Node& node, const std::string& prefix) {
    for (const auto& [name, child] : node.entries) {
      const std::string path = prefix + "/" + name;
      if (child->is_dir) {
        walk(*child, path);
      } else {
        out.push_back(path);
      }
    }
  };
  walk(*root_, "");
  return out;
}

Status FaultFileSystem::CorruptByte(const std::string& path, uint64_t offset, uint8_t xor_mask) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = Lookup(path);
  if (node == nullptr || node->is_dir) return NotFoundError("no file " + path);
  if (offset >= node->data.size()) return InvalidArgumentError("offset beyond the end of " + path);
  node->data[offset] = static_cast<char>(node->data[offset] ^ static_cast<char>(xor_mask));
  if (offset < node->durable.size()) node->durable[offset] = node->data[offset];
  return Status::Ok();
}

}  // namespace sluice::testing

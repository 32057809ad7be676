// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The two CheckpointTargets: a directory of checkpoint files with a manifest,
// and one key of a Store.
//
// Directory layout:
//   LOCK                                   held by the process using the directory
//   MANIFEST                               the retained checkpoints, replaced atomically
//   checkpoint-00000000000000000042.ckpt   one per checkpoint, complete and synced
//   *.tmp                                  a write in progress (removed at open)
//
// A checkpoint file is visible under its final name only after its data was
// synced, and it is durable once the directory is synced after the rename;
// only then does the manifest name it. A crash between the two leaves a good
// file the manifest does not list: List() reports it too (the file checks
// itself), so the newest durable checkpoint is never lost.

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "persist/checkpoint_format.h"
#include "sluice/checkpoint.h"
#include "util/crc32c.h"

namespace sluice {
namespace {

namespace crc = internal::crc32c;

constexpr std::string_view kPrefix = "checkpoint-";
constexpr std::string_view kSuffix = ".ckpt";
constexpr std::string_view kTmpSuffix = ".tmp";
constexpr std::string_view kManifest = "MANIFEST";
constexpr std::string_view kManifestHeader = "sluice-checkpoint-manifest 1";

std::string FileName(uint64_t id) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "checkpoint-%020" PRIu64 ".ckpt", id);
  return buf;
}

// The id of a checkpoint file name, or 0.
uint64_t IdOf(std::string_view name) {
  if (name.size() != kPrefix.size() + 20 + kSuffix.size() || name.substr(0, kPrefix.size()) != kPrefix ||
      name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return 0;
  }
  uint64_t id = 0;
  for (char c : name.substr(kPrefix.size(), 20)) {
    if (c < '0' || c > '9') return 0;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (id > (UINT64_MAX - digit) / 10) return 0;
    id = id * 10 + digit;
  }
  return id;
}

CheckpointInfo Named(uint64_t id, std::string name) {
  CheckpointInfo c;
  c.id = id;
  c.name = std::move(name);
  return c;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// MANIFEST text: a header line, one line per checkpoint
// "<id> <name> <size> <crc32c hex or -> <entries> <created_ns>", and
// "end <count> <masked crc32c of the text before this line, hex>".
std::string EncodeManifest(const std::vector<CheckpointInfo>& list) {
  std::string out(kManifestHeader);
  out += '\n';
  for (const CheckpointInfo& c : list) {
    char crc_text[16] = "-";
    if (c.crc32c.has_value()) std::snprintf(crc_text, sizeof(crc_text), "%08" PRIx32, *c.crc32c);
    char line[256];
    std::snprintf(line, sizeof(line), "%" PRIu64 " %s %" PRIu64 " %s %" PRIu64 " %" PRId64 "\n", c.id,
                  c.name.c_str(), c.size_bytes, crc_text, c.entries, c.created_ns);
    out += line;
  }
  char end[64];
  std::snprintf(end, sizeof(end), "end %zu %08" PRIx32 "\n", list.size(), crc::Mask(crc::Value(out)));
  out += end;
  return out;
}

Result<std::vector<CheckpointInfo>> DecodeManifest(const std::string& text) {
  const size_t end = text.rfind("end ");
  if (text.compare(0, kManifestHeader.size(), kManifestHeader) != 0 || end == std::string::npos) {
    return DataLossError("MANIFEST is not a checkpoint manifest or is truncated");
  }
  size_t count = 0;
  uint32_t masked = 0;
  if (std::sscanf(text.c_str() + end, "end %zu %" SCNx32, &count, &masked) != 2 ||
      crc::Unmask(masked) != crc::Value(std::string_view(text).substr(0, end))) {
    return DataLossError("MANIFEST checksum mismatch");
  }
  std::vector<CheckpointInfo> list;
  size_t pos = text.find('\n') + 1;
  while (pos < end) {
    const size_t eol = text.find('\n', pos);
    const std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    CheckpointInfo c;
    char name[128];
    char crc_text[16];
    if (std::sscanf(line.c_str(), "%" SCNu64 " %127s %" SCNu64 " %15s %" SCNu64 " %" SCNd64, &c.id, name,
                    &c.size_bytes, crc_text, &c.entries, &c.created_ns) != 6) {
      return DataLossError("MANIFEST line not understood: " + line);
    }
    c.name = name;
    if (std::string_view(crc_text) != "-") {
      uint32_t v = 0;
      if (std::sscanf(crc_text, "%" SCNx32, &v) != 1) return DataLossError("MANIFEST checksum field: " + line);
      c.crc32c = v;
    }
    list.push_back(std::move(c));
  }
  if (list.size() != count) return DataLossError("MANIFEST lists a different number of checkpoints than it says");
  return list;
}

class DirectoryTarget;

class DirectorySink final : public CheckpointSink {
 public:
  DirectorySink(DirectoryTarget* target, uint64_t id, std::string name, std::unique_ptr<WritableFile> file);
  ~DirectorySink() override;
  const std::string& name() const override { return name_; }
  Status Append(std::string_view data) override { return file_->Append(data); }
  Status Commit(const CheckpointInfo& info, size_t retain) override;

 private:
  DirectoryTarget* const target_;
  const uint64_t id_;
  const std::string name_;
  std::unique_ptr<WritableFile> file_;
  bool committed_ = false;
};

class DirectoryTarget final : public CheckpointTarget {
 public:
  DirectoryTarget(FileSystem& fs, std::string dir, std::unique_ptr<FileLock> lock)
      : fs_(fs), dir_(std::move(dir)), lock_(std::move(lock)) {}

  std::string Describe() const override { return "directory " + dir_; }

  Result<std::vector<CheckpointInfo>> List() override {
    std::lock_guard<std::mutex> lock(mu_);
    SLUICE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_.ListDirectory(dir_));
    std::map<uint64_t, CheckpointInfo, std::greater<>> by_id;
    for (CheckpointInfo& c : ReadManifest()) by_id[c.id] = std::move(c);
    for (const std::string& name : names) {
      const uint64_t id = IdOf(name);
      if (id != 0 && by_id.count(id) == 0) by_id[id] = Named(id, name);
    }
    std::vector<CheckpointInfo> out;
    for (auto& [id, c] : by_id) out.push_back(std::move(c));
    return out;
  }

  Result<std::unique_ptr<CheckpointSink>> Begin(uint64_t id) override {
    const std::string name = FileName(id);
    SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                            fs_.NewWritableFile(JoinPath(dir_, std::string(name) + std::string(kTmpSuffix))));
    return std::unique_ptr<CheckpointSink>(new DirectorySink(this, id, name, std::move(file)));
  }

  Result<std::string> Read(const CheckpointInfo& info) override {
    if (IdOf(info.name) == 0) return InvalidArgumentError("not a checkpoint file name: " + info.name);
    return ReadFileToString(fs_, JoinPath(dir_, info.name));
  }

  // The manifest's list, or an empty one when it is missing or corrupt (the
  // files check themselves, so the manifest only adds the expected size and
  // checksum). REQUIRES: mu_ held.
  std::vector<CheckpointInfo> ReadManifest() {
    Result<std::string> text = ReadFileToString(fs_, JoinPath(dir_, kManifest));
    if (!text.ok()) return {};
    Result<std::vector<CheckpointInfo>> list = DecodeManifest(*text);
    if (!list.ok()) return {};
    return std::move(*list);
  }

  FileSystem& fs() { return fs_; }
  const std::string& dir() const { return dir_; }
  std::mutex& mu() { return mu_; }

 private:
  FileSystem& fs_;
  const std::string dir_;
  const std::unique_ptr<FileLock> lock_;
  std::mutex mu_;
};

DirectorySink::DirectorySink(DirectoryTarget* target, uint64_t id, std::string name,
                             std::unique_ptr<WritableFile> file)
    : target_(target), id_(id), name_(std::move(name)), file_(std::move(file)) {}

DirectorySink::~DirectorySink() {
  if (committed_) return;
  file_.reset();
  // Abandoned: the temp file is garbage (and removed at the next open if this fails).
  target_->fs().Remove(JoinPath(target_->dir(), name_ + std::string(kTmpSuffix))).IgnoreError();
}

Status DirectorySink::Commit(const CheckpointInfo& info, size_t retain) {
  FileSystem& fs = target_->fs();
  const std::string& dir = target_->dir();
  SLUICE_RETURN_IF_ERROR(file_->Sync());
  SLUICE_RETURN_IF_ERROR(file_->Close());
  SLUICE_RETURN_IF_ERROR(fs.Rename(JoinPath(dir, name_ + std::string(kTmpSuffix)), JoinPath(dir, name_)));
  committed_ = true;  // the file is complete under its final name; never remove it as garbage
  SLUICE_RETURN_IF_ERROR(fs.SyncDirectory(dir));

  std::lock_guard<std::mutex> lock(target_->mu());
  SLUICE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDirectory(dir));
  std::map<uint64_t, CheckpointInfo, std::greater<>> known;
  for (CheckpointInfo& c : target_->ReadManifest()) known[c.id] = std::move(c);
  CheckpointInfo mine = info;
  mine.id = id_;
  mine.name = name_;
  known[id_] = mine;
  std::set<uint64_t, std::greater<>> present;
  for (const std::string& name : names) {
    if (const uint64_t id = IdOf(name); id != 0) present.insert(id);
  }
  std::vector<CheckpointInfo> kept;
  for (uint64_t id : present) {
    if (kept.size() == std::max<size_t>(retain, 1)) break;
    auto it = known.find(id);
    kept.push_back(it != known.end() ? it->second : Named(id, FileName(id)));
  }
  SLUICE_RETURN_IF_ERROR(WriteFileAtomically(fs, JoinPath(dir, kManifest), EncodeManifest(kept)));
  // Retention, best effort and without a directory sync: a file that is left
  // (or comes back after a power loss) is older than the manifest's, so it is
  // never preferred, and the next checkpoint removes it.
  for (uint64_t id : present) {
    if (id >= kept.back().id) continue;
    fs.Remove(JoinPath(dir, FileName(id))).IgnoreError();  // see above
  }
  return Status::Ok();
}

// ---- Store target ----

class StoreSink final : public CheckpointSink {
 public:
  StoreSink(std::shared_ptr<Store> store, std::string key) : store_(std::move(store)), key_(std::move(key)) {}
  const std::string& name() const override { return key_; }
  Status Append(std::string_view data) override {
    bytes_.append(data);
    return Status::Ok();
  }
  Status Commit(const CheckpointInfo&, size_t) override {
    SLUICE_RETURN_IF_ERROR(store_->Put(Record{.key = key_, .value = std::move(bytes_)}));
    return store_->Flush();
  }

 private:
  std::shared_ptr<Store> store_;
  const std::string key_;
  std::string bytes_;
};

class StoreTarget final : public CheckpointTarget {
 public:
  StoreTarget(std::shared_ptr<Store> store, std::string key) : store_(std::move(store)), key_(std::move(key)) {}

  std::string Describe() const override { return "store " + std::string(store_->name()) + " key " + key_; }

  std::optional<std::string> KeyIn(const Store& store) const override {
    if (&store != store_.get()) return std::nullopt;
    return key_;
  }

  Result<std::vector<CheckpointInfo>> List() override {
    SLUICE_ASSIGN_OR_RETURN(std::optional<Record> record, store_->Get(key_));
    std::lock_guard<std::mutex> lock(mu_);
    cached_.reset();
    if (!record.has_value()) return std::vector<CheckpointInfo>{};
    const auto* bytes = std::get_if<std::string>(&record->value);
    if (bytes == nullptr) return FailedPreconditionError("key " + key_ + " holds limiter state, not a checkpoint");
    CheckpointInfo info = Named(0, key_);
    info.size_bytes = bytes->size();
    // The id of a damaged checkpoint is unknown (0); RestoreLatest reports why.
    Result<internal::CheckpointHeader> header = internal::VerifyCheckpoint(*bytes);
    if (header.ok()) {
      info.id = header->id;
      info.created_ns = header->created_ns;
    }
    cached_ = std::move(*bytes);
    return std::vector<CheckpointInfo>{info};
  }

  Result<std::unique_ptr<CheckpointSink>> Begin(uint64_t) override {
    return std::unique_ptr<CheckpointSink>(new StoreSink(store_, key_));
  }

  Result<std::string> Read(const CheckpointInfo&) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_.has_value()) {
        std::string out = std::move(*cached_);
        cached_.reset();
        return out;
      }
    }
    SLUICE_ASSIGN_OR_RETURN(std::optional<Record> record, store_->Get(key_));
    if (!record.has_value()) return NotFoundError("no checkpoint under key " + key_);
    const auto* bytes = std::get_if<std::string>(&record->value);
    if (bytes == nullptr) return FailedPreconditionError("key " + key_ + " holds limiter state, not a checkpoint");
    return *bytes;
  }

 private:
  std::shared_ptr<Store> store_;
  const std::string key_;
  std::mutex mu_;
  std::optional<std::string> cached_;  // the bytes List() read, for the Read() that follows
};

}  // namespace

Result<std::unique_ptr<CheckpointTarget>> NewDirectoryCheckpointTarget(FileSystem& fs, std::string directory) {
  if (directory.empty()) return InvalidArgumentError("checkpoint directory is empty");
  SLUICE_RETURN_IF_ERROR(fs.CreateDirectories(directory));
  // Directories created just now must themselves survive a power loss: sync
  // every ancestor, whose entries may be new (a few fsyncs, once per open).
  for (std::string dir = directory;;) {
    std::string parent = DirectoryOf(dir);
    SLUICE_RETURN_IF_ERROR(fs.SyncDirectory(parent));
    if (parent == dir || parent == "/" || parent == ".") break;
    dir = std::move(parent);
  }
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock, fs.LockFile(JoinPath(directory, "LOCK")));
  SLUICE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs.ListDirectory(directory));
  bool removed = false;
  for (const std::string& name : names) {
    if (!EndsWith(name, kTmpSuffix)) continue;
    SLUICE_RETURN_IF_ERROR(fs.Remove(JoinPath(directory, name)));
    removed = true;
  }
  if (removed) SLUICE_RETURN_IF_ERROR(fs.SyncDirectory(directory));
  return std::unique_ptr<CheckpointTarget>(new DirectoryTarget(fs, std::move(directory), std::move(lock)));
}

std::unique_ptr<CheckpointTarget> NewStoreCheckpointTarget(std::shared_ptr<Store> store, std::string key) {
  return std::unique_ptr<CheckpointTarget>(new StoreTarget(std::move(store), std::move(key)));
}

}  // namespace sluice

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// RocksDbStore. Each key's read-modify-write runs under its stripe lock; the
// stripe also guards that stripe's part of the record cache, so the cache is
// always exactly what RocksDB holds for the keys it has (write-through: the
// cache changes only after RocksDB accepted the write). Absent keys are not
// cached. In every-write mode callers commit through the store's own group
// commit (CommitSynced): the writer at the front of a queue writes every
// batch queued behind it as one synced RocksDB write, so concurrent writers
// share one fsync without RocksDB's write-group handoffs. Callers keep their
// stripe locks until their write is durable, so the cache never runs ahead
// of the disk. In periodic mode writes are staged per stripe ("pending") and
// shadow the cache and the disk until the syncer flushes them in one batch.
// Expired records stay on disk until the compaction filter drops them; every
// read checks the expiry.

#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "internal/expiry.h"
#include "internal/multi_decide.h"
#include "internal/striped_lock.h"
#include "rocksdb_record.h"
#include "sluice/backends/rocksdb.h"

namespace sluice::rocksdb {
namespace {

namespace rdb = ::rocksdb;

// Keeps RocksDB's info log out of a directory that Open only inspects.
class NullLogger final : public rdb::Logger {
 public:
  using rdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

Status FromRocks(const rdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = "rocksdb store: " + std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return DataLossError(msg);
  return UnavailableError(msg);
}

// The store's time: the clock's wall time, but never earlier than the latest
// time the store has seen. A clock stepping back is time standing still for
// the whole store, so a key that a later time saw expire stays expired.
class StoreTime {
 public:
  explicit StoreTime(Clock& clock) : clock_(clock) {}
  int64_t Now() {
    const int64_t t = clock_.NowNanos();
    int64_t seen = latest_.load(std::memory_order_relaxed);
    while (t > seen && !latest_.compare_exchange_weak(seen, t, std::memory_order_relaxed)) {
    }
    return std::max(t, seen);
  }
  Clock& clock() const { return clock_; }

 private:
  Clock& clock_;
  std::atomic<int64_t> latest_{INT64_MIN};
};

// Drops expired data records when RocksDB compacts. Reads the time from the
// store's clock, so a simulated clock drives it in tests. RocksDB turns a
// removal into a deletion marker above older versions of the key, so a drop
// never brings an older value back.
class ExpiryFilter final : public rdb::CompactionFilter {
 public:
  explicit ExpiryFilter(StoreTime& time) : time_(time) {}

  bool Filter(int /*level*/, const rdb::Slice& key, const rdb::Slice& value, std::string* /*new_value*/,
              bool* /*value_changed*/) const override {
    if (key.empty() || key[0] != kDataPrefix) return false;
    const std::string_view v(value.data(), value.size());
    const int64_t expires = EncodedExpiry(v);
    const bool limiter = !v.empty() && v[0] != 0;
    const int64_t now = time_.Now();
    if (limiter ? !internal::IsFreshAt(expires, now) : !internal::IsExpired(expires, now)) return false;
    drops_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  const char* Name() const override { return "sluice.ExpiryFilter"; }

  uint64_t drops() const { return drops_.load(std::memory_order_relaxed); }

 private:
  StoreTime& time_;
  mutable std::atomic<uint64_t> drops_{0};
};

// Copies the puts and deletes of one batch into another: merges the batches
// of a commit group into the one batch its leader writes.
class AppendTo final : public rdb::WriteBatch::Handler {
 public:
  explicit AppendTo(rdb::WriteBatch& out) : out_(out) {}
  rdb::Status PutCF(uint32_t cf, const rdb::Slice& key, const rdb::Slice& value) override {
    return cf == 0 ? out_.Put(key, value) : rdb::Status::InvalidArgument("batch uses a column family");
  }
  rdb::Status DeleteCF(uint32_t cf, const rdb::Slice& key) override {
    return cf == 0 ? out_.Delete(key) : rdb::Status::InvalidArgument("batch uses a column family");
  }

 private:
  rdb::WriteBatch& out_;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// One stripe's records in memory, guarded by that stripe's lock.
struct alignas(64) CacheShard {
  // Exactly what RocksDB holds for these keys (a read cache).
  std::unordered_map<std::string, StoredValue, StringHash, std::equal_to<>> records;
  // Periodic mode: writes not yet handed to RocksDB (nullopt: a deletion).
  // They shadow `records` and the disk until the next flush.
  std::unordered_map<std::string, std::optional<StoredValue>, StringHash, std::equal_to<>> pending;
  // Periodic mode: the writes a flush is handing to RocksDB right now. They
  // shadow the disk until RocksDB holds them, so the stripes need not be held
  // across the write.
  std::unordered_map<std::string, std::optional<StoredValue>, StringHash, std::equal_to<>> flushing;

  // The staged write of `key` (newest first), or null.
  const std::optional<StoredValue>* Staged(std::string_view key) const {
    if (auto it = pending.find(key); it != pending.end()) return &it->second;
    if (auto it = flushing.find(key); it != flushing.end()) return &it->second;
    return nullptr;
  }
};

// A limiter record's expiry is the instant its state is fresh again; opaque
// bytes have a TTL where 0 means none (internal/expiry.h).
bool IsExpired(const StoredValue& v, int64_t now) {
  return std::holds_alternative<LimiterRecord>(v.value) ? internal::IsFreshAt(v.expires_at_ns, now)
                                                        : internal::IsExpired(v.expires_at_ns, now);
}

Record ToRecord(std::string_view key, const StoredValue& v) {
  return Record{std::string(key), v.value, v.expires_at_ns, v.fencing_token};
}

enum class WriteKind : uint8_t { kNone, kPut, kDelete };

// What a decision must write. `current` is the live record (nullopt when absent
// or expired). Mirrors the memory store: a state that is fresh again is no
// state, and an unchanged state under the same policy needs no write.
WriteKind PlanDecisionWrite(const std::optional<StoredValue>& current, const Policy& policy,
                            const Evaluation& ev, int64_t now) {
  const bool fresh_after = internal::IsFreshAt(ev.expires_at_ns, now);
  if (current.has_value()) {
    if (fresh_after) return WriteKind::kDelete;
    const auto* lr = std::get_if<LimiterRecord>(&current->value);
    if (ev.changed || lr == nullptr || !(lr->policy == policy)) return WriteKind::kPut;
    return WriteKind::kNone;
  }
  return !fresh_after && ev.changed ? WriteKind::kPut : WriteKind::kNone;
}

// Where Open found the directory.
enum class DirState : uint8_t { kFresh, kExisting };

Status CreateDirectories(rdb::Env* env, const std::string& path) {
  std::string prefix;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    prefix = path.substr(0, pos);
    if (prefix.empty()) continue;
    rdb::Status s = env->CreateDirIfMissing(prefix);
    if (!s.ok()) return FromRocks(s, "cannot create directory " + prefix);
  }
  return Status::Ok();
}

// Reads the format marker of an existing database without modifying the
// directory: a read-only open with no info log.
Result<int64_t> ReadFormatVersion(const std::string& path) {
  rdb::Options options;
  options.create_if_missing = false;
  options.info_log = std::make_shared<NullLogger>();
  rdb::DB* raw = nullptr;
  rdb::Status s = rdb::DB::OpenForReadOnly(options, path, &raw);
  if (!s.ok()) {
    const std::string msg =
        "rocksdb store: " + path + " cannot be read as a RocksDB database: " + s.ToString();
    if (s.IsCorruption()) return DataLossError(msg);
    return FailedPreconditionError(msg);
  }
  std::unique_ptr<rdb::DB> db(raw);
  std::string marker;
  s = db->Get(rdb::ReadOptions(), std::string(kFormatVersionKey), &marker);
  if (s.IsNotFound()) {
    return FailedPreconditionError("rocksdb store: " + path +
                                   " is a RocksDB database without a sluice format marker (another "
                                   "application's data?); refusing to open it");
  }
  if (!s.ok()) return FromRocks(s, "reading the format marker of " + path);
  int64_t version = 0;
  bool digits = !marker.empty() && marker.size() <= 18;
  for (char c : marker) {
    if (c < '0' || c > '9') digits = false;
  }
  if (!digits)
    return DataLossError("rocksdb store: " + path + " has a malformed format marker \"" + marker + "\"");
  version = std::stoll(marker);
  if (version < 1) return DataLossError("rocksdb store: " + path + " has format version " + marker);
  if (version > kRocksDbFormatVersion) {
    return FailedPreconditionError("rocksdb store: " + path + " was written in format version " + marker +
                                   " by a newer sluice; this build reads versions 1 to " +
                                   std::to_string(kRocksDbFormatVersion));
  }
  return version;
}

class RocksDbStoreImpl final : public RocksDbStore {
 public:
  RocksDbStoreImpl(const RocksDbStoreOptions& options, Clock& clock)
      : options_(options),
        clock_(clock),
        time_(clock),
        filter_(time_),
        locks_(options.lock_stripes),
        cache_(locks_.size()),
        cache_per_shard_(
            options.cache_records == 0 ? 0 : (options.cache_records + locks_.size() - 1) / locks_.size()) {
    write_options_.sync = options.sync == SyncMode::kEveryWrite;
  }

  // Periodic mode writes behind: a write changes memory only, and the syncer
  // hands all pending writes to RocksDB as one batch and fsyncs the log every
  // `sync_interval` (or sooner when many are pending).
  bool write_behind() const { return options_.sync == SyncMode::kPeriodic; }

  ~RocksDbStoreImpl() override {
    {
      std::lock_guard<std::mutex> lock(sync_mu_);
      stopping_ = true;
    }
    sync_cv_.notify_all();
    if (syncer_.joinable()) syncer_.join();
    if (db_ != nullptr) {
      // Hand pending writes and what the log buffers to the OS (and the disk
      // unless kNone); a destructor cannot report failure.
      FlushPending().IgnoreError();
      db_->FlushWAL(options_.sync != SyncMode::kNone).PermitUncheckedError();
      db_->Close().PermitUncheckedError();
    }
  }

  Status Open(DirState dir, int64_t version) {
    rdb::Options o;
    o.create_if_missing = dir == DirState::kFresh;
    o.compaction_filter = &filter_;
    o.manual_wal_flush = options_.sync == SyncMode::kPeriodic;
    o.keep_log_file_num = 4;
    o.max_background_jobs = 2;
    // Tickers only (no timers or histograms): cheap, and they show whether
    // writers share log syncs.
    statistics_ = rdb::CreateDBStatistics();
    statistics_->set_stats_level(rdb::StatsLevel::kExceptHistogramOrTimers);
    o.statistics = statistics_;
    rdb::BlockBasedTableOptions table;
    table.block_cache = rdb::NewLRUCache(options_.block_cache_bytes);
    table.filter_policy.reset(rdb::NewBloomFilterPolicy(10));
    o.table_factory.reset(rdb::NewBlockBasedTableFactory(table));
    rdb::DB* raw = nullptr;
    rdb::Status s = rdb::DB::Open(o, options_.path, &raw);
    if (!s.ok()) {
      const std::string msg = "rocksdb store: cannot open " + options_.path + ": " + s.ToString();
      if (s.IsCorruption()) return DataLossError(msg);
      if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
        return FailedPreconditionError(msg + " (is another process using it?)");
      }
      return UnavailableError(msg);
    }
    db_.reset(raw);
    if (dir == DirState::kFresh) {
      rdb::WriteOptions sync_write;
      sync_write.sync = true;
      s = db_->Put(sync_write, std::string(kFormatVersionKey), std::to_string(kRocksDbFormatVersion));
      if (s.ok() && o.manual_wal_flush) s = db_->FlushWAL(true);
      SLUICE_RETURN_IF_ERROR(FromRocks(s, "writing the format marker"));
      version = kRocksDbFormatVersion;
    }
    version_ = version;
    uint64_t estimate = 0;
    if (db_->GetIntProperty("rocksdb.estimate-num-keys", &estimate)) {
      keys_.store(static_cast<int64_t>(estimate > 0 ? estimate - 1 : 0));
    }
    if (options_.sync == SyncMode::kPeriodic) {
      // Read before the thread starts: writes made while it starts must count.
      const uint64_t written = writes_.load();
      const Clock::Monotonic start = clock_.MonotonicNow();
      syncer_ = std::thread([this, written, start] { SyncLoop(written, start); });
    }
    return Status::Ok();
  }

  std::string_view name() const override { return "rocksdb"; }
  Clock& clock() const override { return clock_; }

  Result<Decision> Decide(const DecideRequest& request) override {
    const Arrival arrival(*this);
    if (request.policy == nullptr) return InvalidArgumentError("DecideRequest.policy is required");
    SLUICE_RETURN_IF_ERROR(ValidateKey(request.key));
    const int64_t now = time_.Now();
    const size_t stripe = locks_.StripeOf(request.key);
    const std::string dkey = DataKey(request.key);
    std::unique_lock<std::mutex> lock = locks_.LockStripe(stripe);
    bool exists = false;
    SLUICE_ASSIGN_OR_RETURN(std::optional<StoredValue> current,
                            LoadLocked(stripe, request.key, dkey, now, &exists));
    std::optional<LimiterState> state;
    if (current.has_value()) {
      if (const auto* lr = std::get_if<LimiterRecord>(&current->value)) state = lr->state;
    }
    SLUICE_ASSIGN_OR_RETURN(Evaluation ev, Evaluate(*request.policy, state, request.op, request.cost, now));
    decisions_.fetch_add(1, std::memory_order_relaxed);
    switch (PlanDecisionWrite(current, *request.policy, ev, now)) {
      case WriteKind::kNone:
        break;
      case WriteKind::kPut: {
        // The expiry as a reader would compute it from the state (as the
        // memory store does), so every store agrees on it.
        const int64_t expires = ExpiresAt(*request.policy, *state);
        StoredValue v{LimiterRecord{*request.policy, std::move(*state)}, expires,
                      current.has_value() ? current->fencing_token : 0};
        SLUICE_RETURN_IF_ERROR(WriteLocked(stripe, request.key, dkey, &v, exists));
        break;
      }
      case WriteKind::kDelete:
        SLUICE_RETURN_IF_ERROR(WriteLocked(stripe, request.key, dkey, nullptr, exists));
        break;
    }
    return ev.decision;
  }

  Result<MultiDecision> DecideAll(std::span<const DecideRequest> requests) override {
    const Arrival arrival(*this);
    SLUICE_RETURN_IF_ERROR(internal::ValidateDecideAll(requests));
    std::vector<std::string_view> keys;
    keys.reserve(requests.size());
    for (const DecideRequest& r : requests) keys.push_back(r.key);
    const int64_t now = time_.Now();
    internal::StripedLocks::MultiLock held = locks_.LockAll(keys);
    Access access(*this, requests, now);
    SLUICE_ASSIGN_OR_RETURN(MultiDecision out, internal::DecideAllTwoPhase(requests, now, access));
    if (out.allowed) {
      decisions_.fetch_add(requests.size(), std::memory_order_relaxed);
      SLUICE_RETURN_IF_ERROR(access.Commit());
    }
    return out;
  }

  Result<std::optional<Record>> AtomicUpdate(std::string_view key, const UpdateFn& fn,
                                             const UpdateOptions& options) override {
    const Arrival arrival(*this);
    SLUICE_RETURN_IF_ERROR(ValidateKey(key));
    const int64_t now = time_.Now();
    const size_t stripe = locks_.StripeOf(key);
    const std::string dkey = DataKey(key);
    std::unique_lock<std::mutex> lock = locks_.LockStripe(stripe);
    bool exists = false;
    SLUICE_ASSIGN_OR_RETURN(std::optional<StoredValue> current, LoadLocked(stripe, key, dkey, now, &exists));
    const uint64_t fence = current.has_value() ? current->fencing_token : 0;
    if (options.fencing_token != 0 && fence > options.fencing_token) {
      return FailedPreconditionError("fencing token " + std::to_string(options.fencing_token) +
                                     " is older than token " + std::to_string(fence) +
                                     " that already wrote this key");
    }
    std::optional<Record> before;
    if (current.has_value()) before = ToRecord(key, *current);
    Update update = fn(before.has_value() ? &*before : nullptr);
    switch (update.action) {
      case Update::Action::kKeep:
        return before;
      case Update::Action::kDelete:
        // The fence goes with the value (Record::fencing_token).
        SLUICE_RETURN_IF_ERROR(WriteLocked(stripe, key, dkey, nullptr, exists));
        return std::optional<Record>();
      case Update::Action::kPut: {
        SLUICE_ASSIGN_OR_RETURN(StoredValue v, Prepare(std::move(update.value), update.expires_at_ns, now));
        if (IsExpired(v, now)) {
          SLUICE_RETURN_IF_ERROR(WriteLocked(stripe, key, dkey, nullptr, exists));
          return std::optional<Record>();
        }
        v.fencing_token = std::max(fence, options.fencing_token);
        SLUICE_RETURN_IF_ERROR(WriteLocked(stripe, key, dkey, &v, exists));
        return std::optional<Record>(ToRecord(key, v));
      }
    }
    return InternalError("unknown update action");
  }

  Result<std::optional<Record>> Get(std::string_view key) override {
    SLUICE_RETURN_IF_ERROR(ValidateKey(key));
    const int64_t now = time_.Now();
    const size_t stripe = locks_.StripeOf(key);
    const std::string dkey = DataKey(key);
    std::unique_lock<std::mutex> lock = locks_.LockStripe(stripe);
    bool exists = false;
    SLUICE_ASSIGN_OR_RETURN(std::optional<StoredValue> current, LoadLocked(stripe, key, dkey, now, &exists));
    if (!current.has_value()) return std::optional<Record>();
    return std::optional<Record>(ToRecord(key, *current));
  }

  Status Put(const Record& record) override {
    const Arrival arrival(*this);
    SLUICE_RETURN_IF_ERROR(ValidateKey(record.key));
    const int64_t now = time_.Now();
    SLUICE_ASSIGN_OR_RETURN(StoredValue v, Prepare(record.value, record.expires_at_ns, now));
    const size_t stripe = locks_.StripeOf(record.key);
    const std::string dkey = DataKey(record.key);
    std::unique_lock<std::mutex> lock = locks_.LockStripe(stripe);
    bool exists = false;
    SLUICE_ASSIGN_OR_RETURN(std::optional<StoredValue> current,
                            LoadLocked(stripe, record.key, dkey, now, &exists));
    if (IsExpired(v, now))
      return exists ? WriteLocked(stripe, record.key, dkey, nullptr, exists) : Status::Ok();
    v.fencing_token = std::max(record.fencing_token, current.has_value() ? current->fencing_token : 0);
    return WriteLocked(stripe, record.key, dkey, &v, exists);
  }

  Status Delete(std::string_view key) override {
    const Arrival arrival(*this);
    SLUICE_RETURN_IF_ERROR(ValidateKey(key));
    const size_t stripe = locks_.StripeOf(key);
    const std::string dkey = DataKey(key);
    std::unique_lock<std::mutex> lock = locks_.LockStripe(stripe);
    const CacheShard& shard = cache_[stripe];
    bool exists = shard.records.count(key) != 0;
    if (const std::optional<StoredValue>* staged = shard.Staged(key); staged != nullptr) {
      exists = staged->has_value();
      if (!exists) return Status::Ok();
    } else if (!exists) {
      std::string raw;
      rdb::Status s = db_->Get(read_options_, dkey, &raw);
      if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading \"" + std::string(key) + "\"");
      exists = s.ok();
    }
    if (!exists) return Status::Ok();
    return WriteLocked(stripe, key, dkey, nullptr, exists);
  }

  Status Scan(std::string_view prefix, const ScanVisitor& visit) override {
    SLUICE_RETURN_IF_ERROR(FlushPending());
    const int64_t now = time_.Now();
    const std::string start = DataKey(prefix);
    std::unique_ptr<rdb::Iterator> it(db_->NewIterator(read_options_));
    // The iterator reads one consistent view; no store lock is held, so the
    // visitor may call back into the store.
    for (it->Seek(start); it->Valid(); it->Next()) {
      const rdb::Slice k = it->key();
      if (!k.starts_with(start)) break;
      const std::string_view key(k.data() + 1, k.size() - 1);
      Result<StoredValue> v = DecodeStoredValue(std::string_view(it->value().data(), it->value().size()));
      if (!v.ok()) return v.status().WithContext("key \"" + std::string(key) + "\"");
      if (IsExpired(*v, now)) continue;
      if (!visit(ToRecord(key, *v))) return Status::Ok();
    }
    return FromRocks(it->status(), "scanning");
  }

  Status Flush() override { return SyncWal(); }

  StoreStats Stats() const override {
    StoreStats out;
    out.keys = static_cast<uint64_t>(
        std::max<int64_t>(0, keys_.load(std::memory_order_relaxed) - static_cast<int64_t>(filter_.drops())));
    out.hits = hits_.load(std::memory_order_relaxed);
    out.misses = misses_.load(std::memory_order_relaxed);
    out.decisions = decisions_.load(std::memory_order_relaxed);
    out.expirations = filter_.drops();
    uint64_t memtables = 0;
    db_->GetIntProperty("rocksdb.cur-size-all-mem-tables", &memtables);
    // About 160 bytes per cached record (node, key, value) beyond its key.
    out.memory_bytes =
        memtables +
        (cached_.load(std::memory_order_relaxed) + pending_.load(std::memory_order_relaxed)) * 160;
    return out;
  }

  Status Health() override {
    uint64_t errors = 0;
    if (db_->GetIntProperty("rocksdb.background-errors", &errors) && errors > 0) {
      return UnavailableError("rocksdb store: " + std::to_string(errors) + " background errors");
    }
    return sync_error_.load() ? UnavailableError("rocksdb store: the periodic log sync failed")
                              : Status::Ok();
  }

  Result<uint64_t> DiskUsageBytes() override {
    uint64_t sst = 0;
    if (!db_->GetIntProperty("rocksdb.live-sst-files-size", &sst)) {
      return UnavailableError("rocksdb store: live-sst-files-size is not available");
    }
    rdb::VectorLogPtr wal;
    SLUICE_RETURN_IF_ERROR(FromRocks(db_->GetSortedWalFiles(wal), "listing the log files"));
    uint64_t total = sst;
    for (const auto& f : wal) total += f->SizeFileBytes();
    return total;
  }

  Status CreateCheckpoint(const std::string& dir) override {
    if (rdb::Env::Default()->FileExists(dir).ok()) {
      return FailedPreconditionError("rocksdb store: checkpoint directory " + dir + " already exists");
    }
    SLUICE_RETURN_IF_ERROR(FlushPending());
    if (options_.sync == SyncMode::kPeriodic)
      SLUICE_RETURN_IF_ERROR(FromRocks(db_->FlushWAL(false), "flushing the log"));
    rdb::Checkpoint* raw = nullptr;
    SLUICE_RETURN_IF_ERROR(FromRocks(rdb::Checkpoint::Create(db_.get(), &raw), "starting a checkpoint"));
    std::unique_ptr<rdb::Checkpoint> checkpoint(raw);
    // log_size_for_flush 0: the memtable is flushed, so the copy needs no log replay.
    return FromRocks(checkpoint->CreateCheckpoint(dir, /*log_size_for_flush=*/0), "checkpoint to " + dir);
  }

  Status CompactAll() override {
    rdb::CompactRangeOptions o;
    o.bottommost_level_compaction = rdb::BottommostLevelCompaction::kForce;
    SLUICE_RETURN_IF_ERROR(FlushPending());
    return FromRocks(db_->CompactRange(o, nullptr, nullptr), "compacting");
  }

  RocksDbStats DetailedStats() const override {
    RocksDbStats out;
    out.store = Stats();
    out.writes = writes_.load(std::memory_order_relaxed);
    out.wal_syncs = wal_syncs_.load(std::memory_order_relaxed);
    out.cache_hits = cache_hits_.load(std::memory_order_relaxed);
    out.compaction_drops = filter_.drops();
    out.log_fsyncs = statistics_->getTickerCount(rdb::WAL_FILE_SYNCED);
    // Every-write writes are grouped by the store, the rest by RocksDB.
    out.writes_done_by_other = grouped_writes_.load(std::memory_order_relaxed) +
                               statistics_->getTickerCount(rdb::WRITE_DONE_BY_OTHER);
    return out;
  }

  int64_t format_version() const override { return version_; }

 private:
  // The keys of one DecideAll call; Store() stages writes that Commit() makes
  // in one atomic batch.
  class Access final : public internal::StateAccess {
   public:
    Access(RocksDbStoreImpl& store, std::span<const DecideRequest> requests, int64_t now)
        : store_(store), requests_(requests), now_(now), slots_(requests.size()) {}

    Result<std::optional<LimiterState>> Load(size_t i) override {
      Slot& s = slots_[i];
      s.stripe = store_.locks_.StripeOf(requests_[i].key);
      s.dkey = DataKey(requests_[i].key);
      SLUICE_ASSIGN_OR_RETURN(s.current,
                              store_.LoadLocked(s.stripe, requests_[i].key, s.dkey, now_, &s.exists));
      if (s.current.has_value()) {
        if (const auto* lr = std::get_if<LimiterRecord>(&s.current->value))
          return std::optional<LimiterState>(lr->state);
      }
      return std::optional<LimiterState>();
    }

    Status Store(size_t i, LimiterState state, const Evaluation& ev) override {
      Slot& s = slots_[i];
      s.write = PlanDecisionWrite(s.current, *requests_[i].policy, ev, now_);
      if (s.write == WriteKind::kPut) {
        const int64_t expires = ExpiresAt(*requests_[i].policy, state);
        s.next = StoredValue{LimiterRecord{*requests_[i].policy, std::move(state)}, expires,
                             s.current.has_value() ? s.current->fencing_token : 0};
      }
      return Status::Ok();
    }

    Status Commit() {
      if (store_.write_behind()) {
        // All stripes involved are locked, and a flush takes every stripe,
        // so the whole lands in one flush batch.
        for (size_t i = 0; i < slots_.size(); ++i) {
          Slot& s = slots_[i];
          if (s.write == WriteKind::kNone) continue;
          store_.StageLocked(s.stripe, requests_[i].key, s.write == WriteKind::kPut ? &*s.next : nullptr,
                             s.exists);
        }
        return Status::Ok();
      }
      rdb::WriteBatch batch;
      bool any = false;
      for (Slot& s : slots_) {
        if (s.write == WriteKind::kPut) {
          batch.Put(s.dkey, EncodeStoredValue(*s.next));
        } else if (s.write == WriteKind::kDelete) {
          batch.Delete(s.dkey);
        } else {
          continue;
        }
        any = true;
      }
      if (!any) return Status::Ok();
      Status st = store_.WriteBatchLocked(batch);
      for (size_t i = 0; i < slots_.size(); ++i) {
        Slot& s = slots_[i];
        if (s.write == WriteKind::kNone) continue;
        if (!st.ok()) {
          store_.CacheErase(s.stripe, requests_[i].key);
          continue;
        }
        store_.AfterWrite(s.stripe, requests_[i].key, s.write == WriteKind::kPut ? &*s.next : nullptr,
                          s.exists);
      }
      return st;
    }

   private:
    struct Slot {
      size_t stripe = 0;
      std::string dkey;
      std::optional<StoredValue> current;
      bool exists = false;
      WriteKind write = WriteKind::kNone;
      std::optional<StoredValue> next;
    };
    RocksDbStoreImpl& store_;
    std::span<const DecideRequest> requests_;
    int64_t now_;
    std::vector<Slot> slots_;
  };

  // A validated value for Put/AtomicUpdate: a limiter record is checked
  // against its policy and gets the expiry its state implies.
  static Result<StoredValue> Prepare(Value value, int64_t expires_at_ns, int64_t now) {
    StoredValue v;
    if (const auto* lr = std::get_if<LimiterRecord>(&value)) {
      SLUICE_RETURN_IF_ERROR(lr->policy.Validate());
      SLUICE_RETURN_IF_ERROR(ValidateState(lr->policy, lr->state, now));
      expires_at_ns = ExpiresAt(lr->policy, lr->state);
    }
    v.value = std::move(value);
    v.expires_at_ns = expires_at_ns;
    return v;
  }

  // The live record of `key` (nullopt if absent or expired); `exists` says
  // whether RocksDB holds a record at all (expired ones included).
  // REQUIRES: the stripe's lock is held.
  Result<std::optional<StoredValue>> LoadLocked(size_t stripe, std::string_view key, const std::string& dkey,
                                                int64_t now, bool* exists) {
    CacheShard& shard = cache_[stripe];
    std::optional<StoredValue> v;
    if (const std::optional<StoredValue>* staged = shard.Staged(key); staged != nullptr) {
      cache_hits_.fetch_add(1, std::memory_order_relaxed);
      if (!staged->has_value()) {
        *exists = false;
        misses_.fetch_add(1, std::memory_order_relaxed);
        return std::optional<StoredValue>();
      }
      v = **staged;
    } else if (auto it = shard.records.find(key); it != shard.records.end()) {
      cache_hits_.fetch_add(1, std::memory_order_relaxed);
      v = it->second;
    } else {
      std::string raw;
      rdb::Status s = db_->Get(read_options_, dkey, &raw);
      if (s.IsNotFound()) {
        *exists = false;
        misses_.fetch_add(1, std::memory_order_relaxed);
        return std::optional<StoredValue>();
      }
      SLUICE_RETURN_IF_ERROR(FromRocks(s, "reading \"" + std::string(key) + "\""));
      Result<StoredValue> decoded = DecodeStoredValue(raw);
      if (!decoded.ok()) return decoded.status().WithContext("key \"" + std::string(key) + "\"");
      CachePut(stripe, key, *decoded);
      v = std::move(*decoded);
    }
    *exists = true;
    if (IsExpired(*v, now)) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return std::optional<StoredValue>();
    }
    hits_.fetch_add(1, std::memory_order_relaxed);
    return v;
  }

  // Writes (or deletes, when `v` is null) one record. REQUIRES: the stripe's lock.
  Status WriteLocked(size_t stripe, std::string_view key, const std::string& dkey, const StoredValue* v,
                     bool existed) {
    if (write_behind()) {
      StageLocked(stripe, key, v, existed);
      return Status::Ok();
    }
    rdb::WriteBatch batch;
    if (v != nullptr) {
      batch.Put(dkey, EncodeStoredValue(*v));
    } else {
      batch.Delete(dkey);
    }
    Status s = WriteBatchLocked(batch);
    if (!s.ok()) {
      CacheErase(stripe, key);
      return s;
    }
    AfterWrite(stripe, key, v, existed);
    return Status::Ok();
  }

  // Writes `batch` (durably before returning in every-write mode). The
  // caller holds the stripe locks of the batch's keys until this returns, so
  // two writes of one key reach RocksDB in the order they were decided.
  Status WriteBatchLocked(rdb::WriteBatch& batch) {
    writes_.fetch_add(1, std::memory_order_relaxed);
    if (options_.sync == SyncMode::kEveryWrite) return CommitSynced(batch);
    return FromRocks(db_->Write(write_options_, &batch), "write");
  }

  // Every-write mode: counts the callers inside a write call (deciding or
  // queued), so a leader knows how many writers are on their way.
  class Arrival {
   public:
    explicit Arrival(RocksDbStoreImpl& store)
        : store_(store.options_.sync == SyncMode::kEveryWrite ? &store : nullptr) {
      if (store_ != nullptr) store_->inside_.fetch_add(1, std::memory_order_relaxed);
    }
    ~Arrival() {
      if (store_ != nullptr) store_->inside_.fetch_sub(1, std::memory_order_relaxed);
    }
    Arrival(const Arrival&) = delete;
    Arrival& operator=(const Arrival&) = delete;

   private:
    RocksDbStoreImpl* store_;
  };

  // A new leader gives the writers already inside a write call (deciding,
  // about to queue) up to kGatherWait to join its group, so one fsync
  // serves them too instead of the next one.
  void GatherWriters() {
    if (inside_.load(std::memory_order_relaxed) <= queued_.load(std::memory_order_relaxed)) return;
    const auto deadline = std::chrono::steady_clock::now() + kGatherWait;
    while (inside_.load(std::memory_order_relaxed) > queued_.load(std::memory_order_relaxed) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  }

  // Every-write mode: one caller's batch in the commit queue, on the caller's
  // stack. `mu` guards `done`, `lead` and `status`; the caller sleeps on `cv`
  // until its batch was committed by another writer's group or it reaches the
  // front of the queue.
  struct QueuedWrite {
    explicit QueuedWrite(rdb::WriteBatch& b) : batch(b) {}
    rdb::WriteBatch& batch;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;  // committed; `status` is the outcome
    bool lead = false;  // at the front of the queue: commit the next group
    Status status;
  };

  // Every-write group commit (the writer queue of LevelDB's DBImpl::Write):
  // the caller queues its batch; the writer at the front of the queue leads.
  // It takes the batches queued from the front (its own first, at most
  // kMaxGroupWrites of them and about kMaxGroupBytes), writes them as one
  // RocksDB batch with the log synced, tells each writer the outcome, and
  // hands the lead to the next writer in the queue. Before it takes the
  // group, a new leader lets the writers already deciding join
  // (GatherWriters): otherwise the writers woken by one group only make the
  // group after next, and each fsync serves half of them. Groups are written
  // in queue order, one at a time. A group is all or nothing: a failed write
  // fails every batch in it (and RocksDB, after a failed log sync, refuses
  // later writes: kUnavailable with its message).
  Status CommitSynced(rdb::WriteBatch& batch) {
    QueuedWrite self(batch);
    bool lead = false;
    {
      std::lock_guard<std::mutex> lock(commit_mu_);
      commit_queue_.push_back(&self);
      queued_.store(commit_queue_.size(), std::memory_order_relaxed);
      lead = commit_queue_.size() == 1;
    }
    if (!lead) {
      std::unique_lock<std::mutex> lock(self.mu);
      self.cv.wait(lock, [&self] { return self.done || self.lead; });
      if (self.done) return std::move(self.status);
    }
    // Leading; `self` is at the front of the queue. Only the leader uses
    // group_batch_.
    GatherWriters();
    std::vector<QueuedWrite*> group;
    {
      std::lock_guard<std::mutex> lock(commit_mu_);
      size_t bytes = 0;
      for (QueuedWrite* w : commit_queue_) {
        const size_t size = w->batch.GetDataSize();
        if (!group.empty() && (group.size() == kMaxGroupWrites || bytes + size > kMaxGroupBytes)) break;
        group.push_back(w);
        bytes += size;
      }
    }
    rdb::WriteBatch* write = &batch;
    rdb::Status s;
    if (group.size() > 1) {
      group_batch_.Clear();
      AppendTo append(group_batch_);
      for (QueuedWrite* w : group) {
        s = w->batch.Iterate(&append);
        if (!s.ok()) break;
      }
      write = &group_batch_;
    }
    if (s.ok()) s = db_->Write(write_options_, write);
    const Status result = FromRocks(s, "write");
    grouped_writes_.fetch_add(group.size() - 1, std::memory_order_relaxed);
    QueuedWrite* next = nullptr;
    {
      std::lock_guard<std::mutex> lock(commit_mu_);
      commit_queue_.erase(commit_queue_.begin(),
                          commit_queue_.begin() + static_cast<ptrdiff_t>(group.size()));
      queued_.store(commit_queue_.size(), std::memory_order_relaxed);
      if (!commit_queue_.empty()) next = commit_queue_.front();
    }
    // The next leader first: everyone queued behind it waits for its write.
    // Each notify happens under the writer's mutex, so the writer cannot
    // return (and destroy it) before the notify is done.
    if (next != nullptr) {
      std::lock_guard<std::mutex> lock(next->mu);
      next->lead = true;
      next->cv.notify_one();
    }
    for (size_t i = 1; i < group.size(); ++i) {
      QueuedWrite* w = group[i];
      std::lock_guard<std::mutex> lock(w->mu);
      w->status = result;
      w->done = true;
      w->cv.notify_one();
    }
    return result;
  }

  // Periodic mode: records the write in memory for the next flush.
  // REQUIRES: the stripe's lock.
  void StageLocked(size_t stripe, std::string_view key, const StoredValue* v, bool existed) {
    auto& pending = cache_[stripe].pending;
    auto [it, inserted] = pending.try_emplace(std::string(key));
    it->second = v != nullptr ? std::optional<StoredValue>(*v) : std::nullopt;
    writes_.fetch_add(1, std::memory_order_relaxed);
    if (v != nullptr && !existed) keys_.fetch_add(1, std::memory_order_relaxed);
    if (v == nullptr && existed) keys_.fetch_sub(1, std::memory_order_relaxed);
    if (inserted && pending_.fetch_add(1, std::memory_order_relaxed) + 1 == kMaxPending) {
      flush_requested_.store(true);
      sync_cv_.notify_one();
    }
  }

  // Hands every pending write to RocksDB in one batch (nothing to do outside
  // periodic mode). Takes every stripe while it collects them, so all-or-
  // nothing decisions are never split between two flushes. The write itself
  // runs without the stripes: until RocksDB holds the batch its writes stay
  // visible as `flushing`, so no decision can read an older state from disk.
  Status FlushPending() {
    if (!write_behind()) return Status::Ok();
    std::lock_guard<std::mutex> flush(flush_mu_);
    rdb::WriteBatch batch;
    {
      internal::StripedLocks::MultiLock all = locks_.LockEveryStripe();
      for (CacheShard& shard : cache_) {
        for (auto& [key, v] : shard.pending) {
          if (v.has_value()) {
            batch.Put(DataKey(key), EncodeStoredValue(*v));
          } else {
            batch.Delete(DataKey(key));
          }
        }
        shard.flushing.swap(shard.pending);  // `flushing` was empty
      }
      pending_.store(0, std::memory_order_relaxed);
    }
    if (batch.Count() == 0) return Status::Ok();
    rdb::WriteOptions o;  // the log is fsynced by the caller
    const Status written = FromRocks(db_->Write(o, &batch), "writing pending records");
    internal::StripedLocks::MultiLock all = locks_.LockEveryStripe();
    for (size_t stripe = 0; stripe < cache_.size(); ++stripe) {
      CacheShard& shard = cache_[stripe];
      for (auto& [key, v] : shard.flushing) {
        if (!written.ok()) {
          // Not in RocksDB: stage it again (unless a newer write was), so the
          // next flush retries it and readers keep seeing it.
          if (shard.pending.try_emplace(key, std::move(v)).second) pending_.fetch_add(1, std::memory_order_relaxed);
        } else if (shard.pending.count(key) == 0) {
          if (v.has_value()) {
            CachePut(stripe, key, *v);
          } else {
            CacheErase(stripe, key);
          }
        }
      }
      shard.flushing.clear();
    }
    return written;
  }

  void AfterWrite(size_t stripe, std::string_view key, const StoredValue* v, bool existed) {
    if (v != nullptr) {
      CachePut(stripe, key, *v);
      if (!existed) keys_.fetch_add(1, std::memory_order_relaxed);
    } else {
      CacheErase(stripe, key);
      if (existed) keys_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  void CachePut(size_t stripe, std::string_view key, const StoredValue& v) {
    if (cache_per_shard_ == 0) return;
    auto& records = cache_[stripe].records;
    if (auto it = records.find(key); it != records.end()) {
      it->second = v;
      return;
    }
    if (records.size() >= cache_per_shard_) {
      records.erase(records.begin());
      cached_.fetch_sub(1, std::memory_order_relaxed);
    }
    records.emplace(std::string(key), v);
    cached_.fetch_add(1, std::memory_order_relaxed);
  }

  void CacheErase(size_t stripe, std::string_view key) {
    auto& records = cache_[stripe].records;
    if (auto it = records.find(key); it != records.end()) {
      records.erase(it);
      cached_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  Status SyncWal() {
    SLUICE_RETURN_IF_ERROR(FlushPending());
    rdb::Status s = options_.sync == SyncMode::kPeriodic ? db_->FlushWAL(true) : db_->SyncWAL();
    wal_syncs_.fetch_add(1, std::memory_order_relaxed);
    return FromRocks(s, "syncing the log");
  }

  // Records the outcome of a background flush or sync; a failure is logged
  // and counted once per failing streak.
  void ReportSync(const Status& s) {
    const bool failed = !s.ok();
    if (sync_error_.exchange(failed) == failed) return;
    if (failed) {
      options_.observer.sink().Increment("sluice_rocksdb_sync_failures_total");
      options_.observer.log().Log(LogLevel::kError, "rocksdb",
                                  "background flush failed, recent writes are not durable: " + s.ToString());
    } else {
      options_.observer.log().Log(LogLevel::kInfo, "rocksdb", "background flush succeeded again");
    }
  }

  // kPeriodic: syncs the log once `sync_interval` of the clock's monotonic time
  // has passed since the last sync, if anything was written. The condition
  // variable only paces how often the clock is looked at; the schedule itself
  // is the injected clock's, so a simulated clock drives it in tests.
  void SyncLoop(uint64_t synced_writes, Clock::Monotonic start) {
    const auto interval = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.sync_interval);
    const auto poll = std::clamp<std::chrono::nanoseconds>(interval / 8, std::chrono::milliseconds(1),
                                                           std::chrono::milliseconds(20));
    Clock::Monotonic next = start + interval;
    std::unique_lock<std::mutex> lock(sync_mu_);
    while (!stopping_) {
      if (flush_requested_.exchange(false)) {
        lock.unlock();
        const Status s = FlushPending();
        lock.lock();
        ReportSync(s);
        continue;
      }
      if (clock_.MonotonicNow() >= next) {
        const uint64_t writes = writes_.load();
        if (writes != synced_writes) {
          lock.unlock();
          const Status s = SyncWal();
          lock.lock();
          ReportSync(s);
          if (s.ok()) synced_writes = writes;
        }
        next = clock_.MonotonicNow() + interval;
        continue;
      }
      sync_cv_.wait_for(lock, poll);
    }
  }

  const RocksDbStoreOptions options_;
  Clock& clock_;
  StoreTime time_;
  ExpiryFilter filter_;
  std::shared_ptr<rdb::Statistics> statistics_;
  std::unique_ptr<rdb::DB> db_;
  rdb::WriteOptions write_options_;
  rdb::ReadOptions read_options_;
  int64_t version_ = 0;

  internal::StripedLocks locks_;
  std::vector<CacheShard> cache_;  // indexed by stripe
  const size_t cache_per_shard_;

  std::atomic<int64_t> keys_{0};
  std::atomic<uint64_t> hits_{0}, misses_{0}, decisions_{0}, writes_{0}, wal_syncs_{0}, cache_hits_{0},
      cached_{0};
  std::atomic<bool> sync_error_{false};

  // Every-write group commit (CommitSynced). A group is at most this many
  // batches, and takes no further batch once it holds this many bytes.
  static constexpr size_t kMaxGroupWrites = 1024;
  static constexpr size_t kMaxGroupBytes = 1u << 20;
  std::mutex commit_mu_;
  std::deque<QueuedWrite*> commit_queue_;  // guarded by commit_mu_; front: the leader
  rdb::WriteBatch group_batch_;            // used by the leader only
  // Callers inside a write call (Arrival) and writers queued: while more are
  // inside than queued, a new leader waits up to kGatherWait for them.
  std::atomic<size_t> inside_{0}, queued_{0};
  static constexpr std::chrono::microseconds kGatherWait{100};
  // Batches committed in another writer's group (each group's write is one
  // log fsync, counted by RocksDB in log_fsyncs).
  std::atomic<uint64_t> grouped_writes_{0};

  // Periodic mode: pending writes (all shards), and a flush is due before the
  // interval once this many are pending.
  static constexpr uint64_t kMaxPending = 1u << 16;
  std::atomic<uint64_t> pending_{0};
  std::atomic<bool> flush_requested_{false};
  std::mutex flush_mu_;  // one flush at a time, so batches land in order

  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool stopping_ = false;  // guarded by sync_mu_
  std::thread syncer_;
};

}  // namespace

std::string_view SyncModeName(SyncMode mode) {
  switch (mode) {
    case SyncMode::kNone:
      return "none";
    case SyncMode::kEveryWrite:
      return "every_write";
    case SyncMode::kPeriodic:
      return "periodic";
  }
  return "unknown";
}

Result<std::unique_ptr<RocksDbStore>> CreateRocksDbStore(const RocksDbStoreOptions& options) {
  if (options.path.empty()) return InvalidArgumentError("RocksDbStoreOptions.path is required");
  if (options.sync == SyncMode::kPeriodic && options.sync_interval.count() <= 0) {
    return InvalidArgumentError("RocksDbStoreOptions.sync_interval must be positive in periodic mode");
  }
  if (options.lock_stripes == 0 || options.lock_stripes > (1u << 20)) {
    return InvalidArgumentError("RocksDbStoreOptions.lock_stripes must be in [1, 2^20]");
  }
  rdb::Env* env = rdb::Env::Default();
  DirState dir = DirState::kFresh;
  int64_t version = 0;
  if (env->FileExists(options.path).ok()) {
    std::vector<std::string> children;
    SLUICE_RETURN_IF_ERROR(FromRocks(env->GetChildren(options.path, &children), "listing " + options.path));
    children.erase(std::remove_if(children.begin(), children.end(),
                                  [](const std::string& c) { return c == "." || c == ".."; }),
                   children.end());
    if (!children.empty()) {
      if (std::find(children.begin(), children.end(), "CURRENT") == children.end()) {
        return FailedPreconditionError("rocksdb store: " + options.path +
                                       " is not empty and is not a RocksDB database (no CURRENT file); "
                                       "refusing to touch it");
      }
      SLUICE_ASSIGN_OR_RETURN(version, ReadFormatVersion(options.path));
      dir = DirState::kExisting;
    }
  } else {
    SLUICE_RETURN_IF_ERROR(CreateDirectories(env, options.path));
  }
  Clock& clock = options.clock != nullptr ? *options.clock : Clock::Real();
  auto store = std::make_unique<RocksDbStoreImpl>(options, clock);
  SLUICE_RETURN_IF_ERROR(store->Open(dir, version));
  return std::unique_ptr<RocksDbStore>(std::move(store));
}

}  // namespace sluice::rocksdb

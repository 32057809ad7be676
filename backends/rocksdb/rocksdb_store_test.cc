// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "rocksdb_record.h"
#include "rocksdb_test_util.h"
#include "sluice/backends/rocksdb.h"
#include "sluice/testing/store_conformance.h"

namespace sluice::rocksdb {
namespace {

using testing_util::NewTestPath;

sluice::testing::StoreFactory Factory(SyncMode mode) {
  return {std::string(SyncModeName(mode)), [mode](Clock& clock) -> Result<std::unique_ptr<Store>> {
            auto made =
                CreateRocksDbStore({.path = NewTestPath("conformance"), .sync = mode, .clock = &clock});
            if (!made.ok()) return made.status();
            return std::unique_ptr<Store>(std::move(*made));
          }};
}

using sluice::testing::StoreConformanceTest;

INSTANTIATE_TEST_SUITE_P(RocksDb, StoreConformanceTest,
                         ::testing::Values(Factory(SyncMode::kEveryWrite), Factory(SyncMode::kPeriodic),
                                           Factory(SyncMode::kNone)),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace sluice::rocksdb

namespace sluice::rocksdb {
namespace {

namespace rdb = ::rocksdb;
using std::chrono::seconds;

// Every file under `dir` (relative path -> contents): a directory's bytes.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    const std::string rel = std::filesystem::relative(e.path(), dir).string();
    if (e.is_regular_file()) {
      std::ifstream in(e.path(), std::ios::binary);
      out[rel] = std::string(std::istreambuf_iterator<char>(in), {});
    } else {
      out[rel] = "<dir>";
    }
  }
  return out;
}

// A plain RocksDB database at `path` holding `entries` (no sluice involved).
void WriteRawDb(const std::string& path, const std::map<std::string, std::string>& entries) {
  rdb::Options o;
  o.create_if_missing = true;
  rdb::DB* raw = nullptr;
  ASSERT_TRUE(rdb::DB::Open(o, path, &raw).ok());
  std::unique_ptr<rdb::DB> db(raw);
  for (const auto& [k, v] : entries) ASSERT_TRUE(db->Put(rdb::WriteOptions(), k, v).ok());
  ASSERT_TRUE(db->Close().ok());
}

// The data keys RocksDB holds (expired ones included), read without sluice.
std::vector<std::string> RawDataKeys(const std::string& path) {
  rdb::Options o;
  rdb::DB* raw = nullptr;
  EXPECT_TRUE(rdb::DB::OpenForReadOnly(o, path, &raw).ok());
  std::unique_ptr<rdb::DB> db(raw);
  std::vector<std::string> keys;
  std::unique_ptr<rdb::Iterator> it(db->NewIterator(rdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().starts_with("k")) keys.push_back(it->key().ToString().substr(1));
  }
  return keys;
}

// Keys a scan sees (a scan flushes pending writes first, then reads RocksDB).
size_t ScanCount(RocksDbStore& store) {
  size_t n = 0;
  EXPECT_TRUE(store.Scan("", [&](const Record&) { return ++n, true; }).ok());
  return n;
}

std::unique_ptr<RocksDbStore> MustOpen(const RocksDbStoreOptions& options) {
  Result<std::unique_ptr<RocksDbStore>> made = CreateRocksDbStore(options);
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  return made.ok() ? std::move(*made) : nullptr;
}

TEST(RocksDbRecordTest, EveryKindRoundTripsAndTruncationIsDataLoss) {
  const int64_t now = 1'700'000'000'000'000'000;
  std::vector<StoredValue> values = {
      {std::string("opaque\0bytes", 12), 0, 0},
      {std::string(), now + 5, 7},
      {LimiterRecord{Policy::TokenBucket(10, 1, seconds(1)), TokenBucketState{3, 17, now}}, now + 7, 0},
      {LimiterRecord{Policy::Gcra(4, 3, seconds(2)), GcraState{now + 9, 2, now}}, now + 9, 1},
      {LimiterRecord{Policy::CalendarWindow(3, WindowAlignment::kCalendarWeek), FixedWindowState{now - 5, 2}},
       now + 100, 0},
      {LimiterRecord{Policy::SlidingWindowLog(5, seconds(3)),
                     SlidingWindowLogState{{{now - 2, 1}, {now - 1, 3}}, now}},
       now + 3, UINT64_MAX},
      {LimiterRecord{Policy::SlidingWindowCounter(7, seconds(5)),
                     SlidingWindowCounterState{now - 3, 2, 4, now}},
       now + 10, 0}};
  for (const StoredValue& v : values) {
    const std::string bytes = EncodeStoredValue(v);
    EXPECT_EQ(EncodedExpiry(bytes), v.expires_at_ns);
    Result<StoredValue> back = DecodeStoredValue(bytes);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->value, v.value);
    EXPECT_EQ(back->expires_at_ns, v.expires_at_ns);
    EXPECT_EQ(back->fencing_token, v.fencing_token);
    if (std::holds_alternative<std::string>(v.value)) continue;
    for (size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_EQ(DecodeStoredValue(bytes.substr(0, n)).status().code(), StatusCode::kDataLoss) << n;
    }
    EXPECT_EQ(DecodeStoredValue(bytes + "x").status().code(), StatusCode::kDataLoss);
  }
  std::string bad_kind = EncodeStoredValue(values[2]);
  bad_kind[0] = 9;
  EXPECT_EQ(DecodeStoredValue(bad_kind).status().code(), StatusCode::kDataLoss);
}

// The layout is pinned: these bytes, written by hand as version 1 defines
// them, decode to this record in every later version.
TEST(RocksDbRecordTest, Version1BytesArePinned) {
  std::string v;
  auto i64 = [&](int64_t x) {
    for (int i = 0; i < 8; ++i) v.push_back(static_cast<char>(static_cast<uint64_t>(x) >> (8 * i)));
  };
  v.push_back(1);          // token bucket
  i64(1'000'000'000'006);  // expires_at_ns
  i64(42);                 // fencing token
  i64(10);                 // limit
  i64(1);                  // refill_amount
  i64(1'000'000'000);      // interval
  v.push_back(0);          // alignment
  i64(4);                  // tokens
  i64(0);                  // remainder
  i64(1'000'000'000'000);  // updated_ns
  Result<StoredValue> got = DecodeStoredValue(v);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->value, Value(LimiterRecord{Policy::TokenBucket(10, 1, seconds(1)),
                                            TokenBucketState{4, 0, 1'000'000'000'000}}));
  EXPECT_EQ(got->expires_at_ns, 1'000'000'000'006);
  EXPECT_EQ(got->fencing_token, 42u);
  EXPECT_EQ(EncodeStoredValue(*got), v);
}

TEST(RocksDbStoreTest, RejectsBadOptions) {
  EXPECT_EQ(CreateRocksDbStore({}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateRocksDbStore({.path = NewTestPath("bad"),
                                .sync = SyncMode::kPeriodic,
                                .sync_interval = std::chrono::milliseconds(0)})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateRocksDbStore({.path = NewTestPath("bad"), .lock_stripes = 0}).status().code(),
            StatusCode::kInvalidArgument);
}

// Periodic mode with no record cache: decisions racing the flush that hands
// pending writes to RocksDB always see the newest state, so no key admits
// more than its limit (a flush that released the stripes before writing let
// a decision read the older state from disk).
TEST(RocksDbStoreTest, PeriodicFlushNeverShowsAnOlderState) {
  testing::SimulatedClock clock;
  auto store = MustOpen({.path = NewTestPath("flush-race"), .sync = SyncMode::kPeriodic, .clock = &clock,
                         .cache_records = 0});
  ASSERT_NE(store, nullptr);
  const Policy p = Policy::FixedWindow(100, std::chrono::hours(1));
  constexpr int kKeys = 4, kThreads = 4, kPerThread = 1000;  // 1000 attempts a key for a limit of 100
  std::atomic<int> admitted[kKeys] = {};
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    for (int i = 0; i < 100'000 && !done.load(); ++i) ASSERT_TRUE(store->Flush().ok());
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int k = (i + t) % kKeys;
        Result<Decision> d = store->Decide("race:" + std::to_string(k), p);
        ASSERT_TRUE(d.ok()) << d.status().ToString();
        if (d->allowed) admitted[k].fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  done.store(true);
  flusher.join();
  for (int k = 0; k < kKeys; ++k) EXPECT_EQ(admitted[k].load(), 100) << "key " << k;
}

// Every-write mode: what was acknowledged is there after a reopen, also the
// fencing token and the expiry.
TEST(RocksDbStoreTest, ReopenKeepsState) {
  testing::SimulatedClock clock;
  const std::string path = NewTestPath("reopen") + "/nested/dir";
  const Policy p = Policy::TokenBucket(10, 1, seconds(1));
  {
    auto store = MustOpen({.path = path, .sync = SyncMode::kEveryWrite, .clock = &clock});
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->format_version(), kRocksDbFormatVersion);
    for (int i = 0; i < 7; ++i) ASSERT_TRUE(store->Decide("user:1", p)->allowed);
    ASSERT_TRUE(store
                    ->AtomicUpdate(
                        "lease", [](const Record*) { return Update::Put(std::string("held")); },
                        UpdateOptions{.fencing_token = 5})
                    .ok());
    ASSERT_TRUE(store->Put("session", "s", seconds(30)).ok());
  }
  auto store = MustOpen({.path = path, .sync = SyncMode::kEveryWrite, .clock = &clock});
  ASSERT_NE(store, nullptr);
  Result<Decision> d = store->Decide(DecideRequest{"user:1", &p, 0, Operation::kPeek});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->remaining, 3);
  Result<std::optional<Record>> lease = store->Get("lease");
  ASSERT_TRUE(lease.ok() && lease->has_value());
  EXPECT_EQ((*lease)->fencing_token, 5u);
  EXPECT_EQ(store
                ->AtomicUpdate(
                    "lease", [](const Record*) { return Update::Keep(); }, UpdateOptions{.fencing_token = 4})
                .status()
                .code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ((**store->Get("session")).expires_at_ns, clock.NowNanos() + 30'000'000'000);
  EXPECT_EQ(store->Stats().keys, 3u);
}

// Periodic mode writes behind: pending writes are readable at once, reach
// RocksDB on Flush (and on close), and survive a reopen.
TEST(RocksDbStoreTest, PeriodicWritesBehindAndKeepsThemOnClose) {
  testing::SimulatedClock clock;
  const std::string path = NewTestPath("behind");
  const Policy p = Policy::FixedWindow(10, std::chrono::hours(1));
  {
    auto store = MustOpen({.path = path, .sync = SyncMode::kPeriodic, .clock = &clock});
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(store->Decide("w", p)->allowed);
    ASSERT_TRUE(store->Put("bytes", "1").ok());
    ASSERT_TRUE(store->Put("gone", "x").ok());
    ASSERT_TRUE(store->Delete("gone").ok());
    EXPECT_EQ((**store->Get("bytes")).value, Value(std::string("1")));
    EXPECT_FALSE(store->Get("gone")->has_value());
    ASSERT_TRUE(store->Flush().ok());
    EXPECT_EQ(ScanCount(*store), 2u);
    ASSERT_TRUE(store->Put("bytes", "2").ok());  // pending at close
  }
  auto store = MustOpen({.path = path, .sync = SyncMode::kNone, .clock = &clock});
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Decide(DecideRequest{"w", &p, 0, Operation::kPeek})->remaining, 6);
  EXPECT_EQ((**store->Get("bytes")).value, Value(std::string("2")));
  EXPECT_FALSE(store->Get("gone")->has_value());
}

TEST(RocksDbStoreTest, SecondOpenOfTheSamePathIsRefused) {
  const std::string path = NewTestPath("twice");
  auto first = MustOpen({.path = path});
  ASSERT_NE(first, nullptr);
  Result<std::unique_ptr<RocksDbStore>> second = CreateRocksDbStore({.path = path});
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition) << second.status().ToString();
}

// Threads deciding all-or-nothing over overlapping key pairs: each key is
// charged exactly by the wholes that were admitted.
TEST(RocksDbStoreTest, ConcurrentDecideAllIsExact) {
  testing::SimulatedClock clock;
  auto store =
      MustOpen({.path = NewTestPath("multi"), .sync = SyncMode::kNone, .clock = &clock, .lock_stripes = 4});
  ASSERT_NE(store, nullptr);
  const Policy a = Policy::TokenBucket(100, 1, std::chrono::hours(1));
  const Policy b = Policy::TokenBucket(150, 1, std::chrono::hours(1));
  std::atomic<int64_t> ab{0}, bc{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const bool left = (i + t) % 2 == 0;
        const DecideRequest reqs[] = {{left ? "a" : "c", &a, 1, Operation::kConsume},
                                      {"b", &b, 1, Operation::kConsume}};
        Result<MultiDecision> m = store->DecideAll(reqs);
        ASSERT_TRUE(m.ok()) << m.status().ToString();
        if (m->allowed) (left ? ab : bc).fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ab.load() + bc.load(), 150);  // b ran out
  auto tokens = [&](std::string_view key, const Policy& p) {
    return store->Decide(DecideRequest{key, &p, 0, Operation::kPeek})->remaining;
  };
  EXPECT_EQ(tokens("a", a), 100 - ab.load());
  EXPECT_EQ(tokens("c", a), 100 - bc.load());
  EXPECT_EQ(tokens("b", b), 0);
}

// Every-write mode: concurrent writers share log fsyncs.
TEST(RocksDbStoreTest, EveryWriteWritersShareFsyncs) {
  auto store = MustOpen({.path = NewTestPath("group"), .sync = SyncMode::kEveryWrite});
  ASSERT_NE(store, nullptr);
  const Policy p = Policy::FixedWindow(1'000'000, std::chrono::hours(1));
  const RocksDbStats before = store->DetailedStats();
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) ASSERT_TRUE(store->Decide("k" + std::to_string(t), p)->allowed);
    });
  }
  for (auto& t : threads) t.join();
  const RocksDbStats after = store->DetailedStats();
  const uint64_t writes = after.writes - before.writes;
  const uint64_t fsyncs = after.log_fsyncs - before.log_fsyncs;
  EXPECT_EQ(writes, 640u);
  EXPECT_GT(fsyncs, 0u);
  EXPECT_LT(fsyncs * 2, writes) << fsyncs << " fsyncs for " << writes << " writes";
  EXPECT_GT(after.writes_done_by_other, before.writes_done_by_other);
}

// Every-write group commit: threads deciding on shared keys, one key at a
// time and in pairs (DecideAll), are charged exactly, and a reopened store
// holds exactly the decisions that were acknowledged (each key's writes
// reached RocksDB in decision order, whatever groups they were written in).
TEST(RocksDbStoreTest, EveryWriteGroupCommitKeepsEveryKeysOrder) {
  testing::SimulatedClock clock;
  const std::string path = NewTestPath("group-order");
  const Policy p = Policy::FixedWindow(1'000'000, std::chrono::hours(1));
  constexpr int kThreads = 16, kRounds = 60, kKeys = 8;
  std::atomic<int64_t> charged[kKeys] = {};
  {
    auto store = MustOpen({.path = path, .sync = SyncMode::kEveryWrite, .clock = &clock});
    ASSERT_NE(store, nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kRounds; ++i) {
          const int a = (t + i) % kKeys, b = (t + 3 * i + 1) % kKeys;
          const std::string ka = "k" + std::to_string(a), kb = "k" + std::to_string(b);
          if (i % 3 == 0 && a != b) {
            const DecideRequest reqs[] = {{ka, &p, 1, Operation::kConsume}, {kb, &p, 1, Operation::kConsume}};
            Result<MultiDecision> m = store->DecideAll(reqs);
            ASSERT_TRUE(m.ok() && m->allowed) << m.status().ToString();
            charged[a].fetch_add(1);
            charged[b].fetch_add(1);
          } else {
            Result<Decision> d = store->Decide(ka, p);
            ASSERT_TRUE(d.ok() && d->allowed) << d.status().ToString();
            charged[a].fetch_add(1);
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_GT(store->DetailedStats().writes_done_by_other, 0u);
  }
  auto store = MustOpen({.path = path, .sync = SyncMode::kEveryWrite, .clock = &clock});
  ASSERT_NE(store, nullptr);
  for (int k = 0; k < kKeys; ++k) {
    Result<Decision> d = store->Decide(DecideRequest{"k" + std::to_string(k), &p, 0, Operation::kPeek});
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->remaining, 1'000'000 - charged[k].load()) << "k" << k;
  }
}

// Periodic mode: the log is synced once the injected clock has moved by the
// interval, and not for time that did not pass on it.
TEST(RocksDbStoreTest, PeriodicModeSyncsOnTheInjectedClock) {
  testing::SimulatedClock clock;
  auto store = MustOpen({.path = NewTestPath("periodic"),
                         .sync = SyncMode::kPeriodic,
                         .sync_interval = std::chrono::milliseconds(100),
                         .clock = &clock});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("a", "1").ok());
  EXPECT_EQ(store->DetailedStats().wal_syncs, 0u);
  clock.Advance(std::chrono::milliseconds(100));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (store->DetailedStats().wal_syncs == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no sync after the interval";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(store->DetailedStats().wal_syncs, 1u);
  // Nothing written since: no further sync, however far the clock moves.
  clock.Advance(std::chrono::seconds(10));
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(store->DetailedStats().wal_syncs, 2u);  // the Flush only
}

// Expired keys neither answer nor accumulate: the compaction filter drops them
// from disk by the store's clock.
TEST(RocksDbStoreTest, CompactionDropsExpiredKeys) {
  testing::SimulatedClock clock;
  const std::string path = NewTestPath("expiry");
  const Policy p = Policy::TokenBucket(10, 10, seconds(1));
  {
    auto store = MustOpen({.path = path, .sync = SyncMode::kNone, .clock = &clock});
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(store->Put("ttl:" + std::to_string(i), "v", seconds(10)).ok());
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(store->Put("keep:" + std::to_string(i), "v").ok());
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(store->Decide("lim:" + std::to_string(i), p, 5)->allowed);
  }
  EXPECT_EQ(RawDataKeys(path).size(), 150u);
  clock.Advance(seconds(11));
  {
    auto store = MustOpen({.path = path, .sync = SyncMode::kNone, .clock = &clock});
    ASSERT_NE(store, nullptr);
    EXPECT_FALSE(store->Get("ttl:1")->has_value());
    int live = 0;
    ASSERT_TRUE(store->Scan("", [&](const Record&) { return ++live, true; }).ok());
    EXPECT_EQ(live, 30);
    ASSERT_TRUE(store->CompactAll().ok());
    EXPECT_EQ(store->DetailedStats().compaction_drops, 120u);
    EXPECT_EQ(store->Stats().expirations, 120u);
  }
  const std::vector<std::string> left = RawDataKeys(path);
  EXPECT_EQ(left.size(), 30u);
  for (const std::string& k : left) EXPECT_TRUE(k.starts_with("keep:")) << k;
}

TEST(RocksDbStoreTest, CheckpointOpensWithTheSameState) {
  testing::SimulatedClock clock;
  auto store = MustOpen({.path = NewTestPath("origin"), .sync = SyncMode::kPeriodic, .clock = &clock});
  ASSERT_NE(store, nullptr);
  const Policy p = Policy::SlidingWindowLog(20, seconds(60));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(store->Decide("u:" + std::to_string(i % 5), p).ok());
  ASSERT_TRUE(store->Put(Record{"bytes", std::string("payload"), 0, 3}).ok());
  std::map<std::string, Record> at_checkpoint;
  ASSERT_TRUE(store->Scan("", [&](const Record& r) { return at_checkpoint.emplace(r.key, r), true; }).ok());
  const std::string dir = NewTestPath("checkpoint");
  ASSERT_TRUE(store->CreateCheckpoint(dir).ok());
  EXPECT_EQ(store->CreateCheckpoint(dir).code(), StatusCode::kFailedPrecondition);
  // Later writes stay out of the copy.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->Decide("u:0", p).ok());
  ASSERT_TRUE(store->Delete("bytes").ok());
  auto copy = MustOpen({.path = dir, .sync = SyncMode::kNone, .clock = &clock});
  ASSERT_NE(copy, nullptr);
  std::map<std::string, Record> restored;
  ASSERT_TRUE(copy->Scan("", [&](const Record& r) { return restored.emplace(r.key, r), true; }).ok());
  EXPECT_EQ(restored, at_checkpoint);
  EXPECT_EQ(restored.size(), 6u);
}

TEST(RocksDbStoreTest, DiskUsageCountsLogAndTables) {
  auto store = MustOpen({.path = NewTestPath("usage"), .sync = SyncMode::kNone});
  ASSERT_NE(store, nullptr);
  const uint64_t empty = *store->DiskUsageBytes();
  std::mt19937_64 rng(3);
  for (int i = 0; i < 2000; ++i) {
    std::string incompressible(100, ' ');
    for (char& c : incompressible) c = static_cast<char>(rng());
    ASSERT_TRUE(store->Put("key" + std::to_string(i), incompressible).ok());
  }
  const uint64_t logged = *store->DiskUsageBytes();
  EXPECT_GT(logged, empty + 200'000);
  ASSERT_TRUE(store->CompactAll().ok());
  EXPECT_GT(*store->DiskUsageBytes(), 100'000u);
}

// A database written by format version 1 (the marker and a record written by
// hand, as an older sluice would have) opens and reads.
TEST(RocksDbFormatTest, OpensAHandWrittenVersion1Database) {
  const std::string path = NewTestPath("v1");
  StoredValue v{
      LimiterRecord{Policy::FixedWindow(5, seconds(60)), FixedWindowState{1'700'000'000'000'000'000, 2}},
      1'700'000'060'000'000'000, 8};
  WriteRawDb(path, {{"m:format_version", "1"}, {"kuser:9", EncodeStoredValue(v)}});
  testing::SimulatedClock clock(1'700'000'010'000'000'000);
  auto store = MustOpen({.path = path, .clock = &clock});
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->format_version(), 1);
  Result<std::optional<Record>> got = store->Get("user:9");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status().ToString();
  EXPECT_EQ((*got)->value, v.value);
  EXPECT_EQ((*got)->fencing_token, 8u);
  EXPECT_EQ(store->Decide("user:9", Policy::FixedWindow(5, seconds(60)))->remaining, 2);
}

void ExpectRefusedAndUntouched(const std::string& path, StatusCode code, std::string_view says) {
  const auto before = Snapshot(path);
  Result<std::unique_ptr<RocksDbStore>> made = CreateRocksDbStore({.path = path});
  EXPECT_EQ(made.status().code(), code) << made.status().ToString();
  EXPECT_NE(made.status().message().find(says), std::string_view::npos) << made.status().ToString();
  EXPECT_EQ(Snapshot(path), before) << "the directory was modified";
}

TEST(RocksDbFormatTest, ForeignAndNewerDirectoriesAreRefusedUntouched) {
  // Not a database at all.
  const std::string plain = NewTestPath("plain");
  std::filesystem::create_directories(plain + "/sub");
  std::ofstream(plain + "/notes.txt") << "my files";
  std::ofstream(plain + "/sub/LOG") << "not rocksdb";
  ExpectRefusedAndUntouched(plain, StatusCode::kFailedPrecondition, "not a RocksDB database");
  // Another application's RocksDB database.
  const std::string foreign = NewTestPath("foreign");
  WriteRawDb(foreign, {{"customer:1", "alice"}, {"kfoo", "bar"}});
  ExpectRefusedAndUntouched(foreign, StatusCode::kFailedPrecondition, "without a sluice format marker");
  // Written by a newer sluice.
  const std::string newer = NewTestPath("newer");
  WriteRawDb(newer, {{"m:format_version", "2"}});
  ExpectRefusedAndUntouched(newer, StatusCode::kFailedPrecondition, "newer sluice");
  // A marker that is not a version.
  const std::string garbled = NewTestPath("garbled");
  WriteRawDb(garbled, {{"m:format_version", "one"}});
  ExpectRefusedAndUntouched(garbled, StatusCode::kDataLoss, "malformed format marker");
}

TEST(RocksDbFormatTest, CorruptDatabaseIsRefusedUntouched) {
  const std::string path = NewTestPath("corrupt");
  {
    auto store = MustOpen({.path = path});
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Put("a", "b").ok());
  }
  // Garble the manifest CURRENT points at.
  std::string current;
  std::getline(std::ifstream(path + "/CURRENT"), current);
  const std::string manifest = path + "/" + current;
  std::string bytes;
  {
    std::ifstream in(manifest, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(bytes.size(), 20u);
  for (size_t i = 8; i < bytes.size(); i += 7) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  std::ofstream(manifest, std::ios::binary | std::ios::trunc) << bytes;
  const auto before = Snapshot(path);
  Result<std::unique_ptr<RocksDbStore>> made = CreateRocksDbStore({.path = path});
  EXPECT_FALSE(made.ok());
  EXPECT_TRUE(made.status().code() == StatusCode::kDataLoss ||
              made.status().code() == StatusCode::kFailedPrecondition)
      << made.status().ToString();
  EXPECT_EQ(Snapshot(path), before);
}

TEST(RocksDbFormatTest, EmptyDirectoryIsCreated) {
  const std::string path = NewTestPath("empty");
  std::filesystem::create_directories(path);
  auto store = MustOpen({.path = path});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("x", "y").ok());
  store.reset();
  rdb::DB* raw = nullptr;
  ASSERT_TRUE(rdb::DB::OpenForReadOnly(rdb::Options(), path, &raw).ok());
  std::unique_ptr<rdb::DB> db(raw);
  std::string marker;
  ASSERT_TRUE(db->Get(rdb::ReadOptions(), "m:format_version", &marker).ok());
  EXPECT_EQ(marker, "1");
}

}  // namespace
}  // namespace sluice::rocksdb

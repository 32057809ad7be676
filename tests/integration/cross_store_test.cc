// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Export in one store, import into another: every pair of MemoryStore,
// RocksDbStore and RedisStore (a real redis-server from the redis_server
// fixture, real RocksDB files), in both encodings, plain and zstd-compressed.
// Every algorithm's state, expiries and fencing tokens must arrive exactly.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <tuple>

#include "sluice/backends/redis.h"
#include "sluice/backends/rocksdb.h"
#include "sluice/memory_store.h"
#include "sluice/state_export.h"
#include "sluice/testing/export_round_trip.h"
#include "sluice/testing/simulated_clock.h"
#include "sluice/zstd.h"

namespace sluice {
namespace {

enum class Kind { kMemory, kRocksDb, kRedis };

std::string KindName(Kind k) {
  switch (k) {
    case Kind::kMemory: return "memory";
    case Kind::kRocksDb: return "rocksdb";
    case Kind::kRedis: return "redis";
  }
  return "?";
}

std::string RunId() {
  static const std::string id = std::to_string(std::random_device{}());
  return id;
}

std::string RedisUri() {
  const char* dir = std::getenv("SLUICE_TEST_REDIS_DIR");
  return dir == nullptr ? "" : std::string("unix://") + dir + "/redis.sock";
}

class CrossStoreTest : public ::testing::TestWithParam<std::tuple<Kind, Kind, ExportEncoding, bool>> {
 protected:
  void TearDown() override {
    stores_.clear();
    for (const std::string& dir : dirs_) std::filesystem::remove_all(dir);
  }

  // A fresh, empty store of `kind` on the shared simulated clock.
  Store* Make(Kind kind) {
    static std::atomic<int> counter{0};
    const std::string unique = RunId() + "-" + std::to_string(counter.fetch_add(1));
    Result<std::unique_ptr<Store>> made = NotSupportedError("unknown kind");
    switch (kind) {
      case Kind::kMemory:
        made = MemoryStore::Create({.clock = &clock_, .sweep_interval = std::chrono::nanoseconds(0)});
        break;
      case Kind::kRocksDb: {
        const std::string dir = (std::filesystem::temp_directory_path() / ("sluice-cross-" + unique)).string();
        dirs_.push_back(dir);
        auto db = rocksdb::CreateRocksDbStore({.path = dir, .sync = rocksdb::SyncMode::kNone, .clock = &clock_});
        if (db.ok()) {
          made = std::unique_ptr<Store>(std::move(*db));
        } else {
          made = db.status();
        }
        break;
      }
      case Kind::kRedis:
        if (RedisUri().empty()) return nullptr;
        made = redis::CreateRedisStore({.uri = RedisUri(),
                                        .key_prefix = "cross" + unique + ":",
                                        .time_source = redis::TimeSource::kClient,
                                        .clock = &clock_});
        break;
    }
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    if (!made.ok()) return nullptr;
    stores_.push_back(std::move(*made));
    return stores_.back().get();
  }

  testing::SimulatedClock clock_;
  std::vector<std::unique_ptr<Store>> stores_;
  std::vector<std::string> dirs_;
};

TEST_P(CrossStoreTest, ExportImportKeepsEveryRecordExactly) {
  const auto [from, to, encoding, compressed] = GetParam();
  if ((from == Kind::kRedis || to == Kind::kRedis) && RedisUri().empty()) {
    GTEST_SKIP() << "SLUICE_TEST_REDIS_DIR is not set (run through ctest)";
  }
  Store* source = Make(from);
  Store* target = Make(to);
  ASSERT_NE(source, nullptr);
  ASSERT_NE(target, nullptr);
  ExportOptions export_options{.encoding = encoding};
  ImportOptions import_options{.all_or_nothing = true};
  if (compressed) {
    Result<std::shared_ptr<const Compression>> zstd = zstd::Create();
    ASSERT_TRUE(zstd.ok()) << zstd.status().ToString();
    export_options.compression = *zstd;
    import_options.compressions.push_back(*zstd);
  }
  const std::string stream =
      testing::CheckExportRoundTrip(*source, *target, "cross:", export_options, import_options);
  EXPECT_FALSE(stream.empty());
  // A corrupt copy of the same stream changes nothing in a third store.
  Store* untouched = Make(to);
  ASSERT_NE(untouched, nullptr);
  std::string corrupt = stream;
  corrupt[corrupt.size() / 2] = static_cast<char>(corrupt[corrupt.size() / 2] ^ 0x5a);
  Result<ImportReport> bad = ImportStoreFromString(*untouched, corrupt, import_options);
  EXPECT_TRUE(!bad.ok() || bad->invalid > 0 || !bad->applied) << "a corrupt stream was accepted";
  EXPECT_TRUE(testing::ScanSorted(*untouched, "cross:").empty());
}

INSTANTIATE_TEST_SUITE_P(
    AllPairs, CrossStoreTest,
    ::testing::Combine(::testing::Values(Kind::kMemory, Kind::kRocksDb, Kind::kRedis),
                       ::testing::Values(Kind::kMemory, Kind::kRocksDb, Kind::kRedis),
                       ::testing::Values(ExportEncoding::kNdjson, ExportEncoding::kBinary), ::testing::Bool()),
    [](const auto& param_info) {
      return KindName(std::get<0>(param_info.param)) + "_to_" + KindName(std::get<1>(param_info.param)) + "_" +
             std::string(ExportEncodingName(std::get<2>(param_info.param))) + (std::get<3>(param_info.param) ? "_zstd" : "");
    });

}  // namespace
}  // namespace sluice

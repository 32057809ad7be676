// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Export and import through a real redis-server (CTest's redis_server
// fixture): memory -> Redis -> memory keeps every algorithm's state, expiries
// and fencing tokens exactly.

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "redis/redis_test_env.h"
#include "sluice/backends/redis.h"
#include "sluice/memory_store.h"
#include "sluice/state_export.h"
#include "sluice/testing/export_round_trip.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice::redis {
namespace {

using testenv::RedisUri;

class RedisExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RedisUri().empty()) GTEST_SKIP() << "SLUICE_TEST_REDIS_DIR is not set";
  }

  std::unique_ptr<Store> NewRedis() {
    static int counter = 0;
    auto store = CreateRedisStore({.uri = RedisUri(),
                                   .key_prefix = "export" + std::to_string(std::random_device{}()) + "-" +
                                                 std::to_string(counter++) + ":",
                                   .time_source = TimeSource::kClient,
                                   .clock = &clock_});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::unique_ptr<Store> NewMemory() {
    auto store = MemoryStore::Create({.clock = &clock_, .sweep_interval = std::chrono::seconds(0)});
    EXPECT_TRUE(store.ok());
    return std::move(*store);
  }

  // Client-time mode on the real time of day: the server's TTLs run on its
  // own clock, so the records' expiries must lie in its future.
  testing::SimulatedClock clock_{Clock::Real().NowNanos()};
};

TEST_F(RedisExportTest, MemoryToRedisToMemoryKeepsEverything) {
  for (ExportEncoding encoding : {ExportEncoding::kNdjson, ExportEncoding::kBinary}) {
    SCOPED_TRACE(ExportEncodingName(encoding));
    auto first = NewMemory();
    auto redis = NewRedis();
    ASSERT_NE(redis, nullptr);
    testing::CheckExportRoundTrip(*first, *redis, "rt:", {.encoding = encoding}, {.all_or_nothing = true});

    std::string stream;
    auto sink = NewStringWritableFile(&stream);
    Result<ExportReport> out = ExportStore(*redis, "rt:", *sink, {.encoding = encoding});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    auto last = NewMemory();
    Result<ImportReport> in = ImportStoreFromString(*last, stream, {.all_or_nothing = true});
    ASSERT_TRUE(in.ok()) << in.status().ToString();
    EXPECT_EQ(in->header.source_store, redis->name());
    EXPECT_EQ(testing::ScanSorted(*last, "rt:"), testing::ScanSorted(*first, "rt:"));

    // The three stores decide alike afterwards.
    for (const Record& r : testing::ScanSorted(*first, "rt:")) {
      const auto* limiter = std::get_if<LimiterRecord>(&r.value);
      if (limiter == nullptr) continue;
      Result<Decision> a = first->Decide(r.key, limiter->policy, 1);
      Result<Decision> b = redis->Decide(r.key, limiter->policy, 1);
      Result<Decision> c = last->Decide(r.key, limiter->policy, 1);
      ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << r.key;
      EXPECT_EQ(a->allowed, b->allowed) << r.key;
      EXPECT_EQ(a->remaining, b->remaining) << r.key;
      EXPECT_EQ(a->remaining, c->remaining) << r.key;
    }
  }
}

TEST_F(RedisExportTest, CorruptStreamChangesNothingInRedis) {
  auto source = NewMemory();
  auto redis = NewRedis();
  ASSERT_NE(redis, nullptr);
  for (const Record& r : testing::ExportTestRecords("k:", clock_.NowNanos())) ASSERT_TRUE(source->Put(r).ok());
  std::string stream;
  auto sink = NewStringWritableFile(&stream);
  ASSERT_TRUE(ExportStore(*source, "k:", *sink, {.encoding = ExportEncoding::kBinary}).ok());
  ASSERT_TRUE(redis->Put("k:tb", "existing").ok());
  const std::vector<Record> before = testing::ScanSorted(*redis, "");
  std::string bad = stream;
  bad[bad.size() / 2] ^= 0x20;
  Result<ImportReport> r = ImportStoreFromString(*redis, bad, {.all_or_nothing = true});
  EXPECT_TRUE(!r.ok() || !r->applied);
  Result<ImportReport> cut =
      ImportStoreFromString(*redis, std::string_view(stream).substr(0, stream.size() - 7), {.all_or_nothing = true});
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(testing::ScanSorted(*redis, ""), before);
}

}  // namespace
}  // namespace sluice::redis

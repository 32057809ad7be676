// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include <gtest/gtest.h>

#include <string>

#include "sluice/memory_store.h"
#include "sluice/rate_limiter.h"
#include "sluice/state_export.h"
#include "sluice/testing/export_round_trip.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice {
namespace {

std::shared_ptr<Store> NewStore(Clock& clock) {
  return std::shared_ptr<Store>(std::move(*MemoryStore::Create({.clock = &clock, .sweep_interval = {}})));
}

void ExpectSameConfig(const LimiterConfig& a, const LimiterConfig& b) {
  EXPECT_EQ(a.policy, b.policy);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.limit, b.limit);
  EXPECT_EQ(a.rate.interval, b.rate.interval);
  EXPECT_EQ(a.rate.amount, b.rate.amount);
  EXPECT_EQ(a.alignment, b.alignment);
  EXPECT_EQ(a.prefix, b.prefix);
  EXPECT_EQ(a.shadow_mode, b.shadow_mode);
}

TEST(LimiterConfigJsonTest, RoundTripsEveryField) {
  const LimiterConfig config{.policy = "token_bucket",
                             .id = "api",
                             .limit = 100,
                             .rate = {.interval = "1 minute", .amount = 100}};
  EXPECT_EQ(LimiterConfigToJson(config),
            R"({"policy":"token_bucket","id":"api","limit":100,"rate":{"interval":"1 minute","amount":100},)"
            R"("alignment":"epoch","prefix":"rl","shadowMode":false})");
  const std::vector<LimiterConfig> configs = {
      config,
      {.policy = "fixed_window", .id = "org:\"7\"", .limit = 1000, .rate = {.interval = "1d", .amount = 0},
       .alignment = "month", .prefix = "tenant-a", .shadow_mode = true},
      {.policy = "sliding_window", .id = "login", .limit = 5, .rate = {.interval = "15m", .amount = 0}},
      {.policy = "gcra", .id = "g", .limit = 10, .rate = {.interval = "1s", .amount = 3}},
  };
  for (const LimiterConfig& c : configs) {
    for (bool pretty : {false, true}) {
      Result<LimiterConfig> back = LimiterConfig::FromJson(LimiterConfigToJson(c, pretty));
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      ExpectSameConfig(*back, c);
      EXPECT_EQ(*back->ToPolicy(), *c.ToPolicy());
    }
  }
}

TEST(LimiterStateIoTest, ExportsAndImportsOneLimitersKeysExactly) {
  testing::SimulatedClock clock;
  auto store = NewStore(clock);
  const LimiterConfig config{.policy = "token_bucket", .id = "api", .limit = 10,
                             .rate = {.interval = "1s", .amount = 1}};
  const LimiterConfig other{.policy = "fixed_window", .id = "api2", .limit = 5,
                            .rate = {.interval = "1 minute"}};
  auto factory = *LimiterFactory::Create(config, store);
  auto other_factory = *LimiterFactory::Create(other, store);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(factory->Create("user-" + std::to_string(i)).Consume(1 + i % 10).ok());
    ASSERT_TRUE(other_factory->Create("user-" + std::to_string(i)).Consume(1).ok());
  }
  ASSERT_TRUE(store->Put("unrelated", "bytes").ok());
  EXPECT_EQ(LimiterKeyPrefix(factory->limiter()), "rl:api:{");

  std::string stream;
  auto sink = NewStringWritableFile(&stream);
  Result<ExportReport> out = ExportLimiterState(factory->limiter(), *sink, {.encoding = ExportEncoding::kBinary});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->records, 50u);

  // Restored elsewhere, by a factory made from the configuration's JSON.
  auto target = NewStore(clock);
  auto restored = *LimiterFactory::Create(*LimiterConfig::FromJson(LimiterConfigToJson(config)), target);
  Result<ImportReport> in = ImportLimiterState(
      restored->limiter(),
      [&]() -> Result<std::unique_ptr<SequentialFile>> { return NewStringSequentialFile(stream); },
      {.all_or_nothing = true});
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(in->restored, 50u);
  EXPECT_EQ(in->policy_changed, 0u);
  EXPECT_EQ(testing::ScanSorted(*target, ""), testing::ScanSorted(*store, "rl:api:{"));
  clock.Advance(std::chrono::milliseconds(1500));
  for (int i = 0; i < 50; ++i) {
    const std::string key = "user-" + std::to_string(i);
    Result<Decision> a = factory->Create(key).Consume(2);
    Result<Decision> b = restored->Create(key).Consume(2);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->allowed, b->allowed) << key;
    EXPECT_EQ(a->remaining, b->remaining) << key;
  }
}

TEST(LimiterStateIoTest, ImportFromAWholeStoreExportTakesOnlyItsKeysUnderItsPolicy) {
  testing::SimulatedClock clock;
  auto store = NewStore(clock);
  auto small = *LimiterFactory::Create({.policy = "token_bucket", .id = "api", .limit = 10,
                                        .rate = {.interval = "1s", .amount = 1}}, store);
  auto other = *LimiterFactory::Create({.policy = "token_bucket", .id = "web", .limit = 10,
                                        .rate = {.interval = "1s", .amount = 1}}, store);
  ASSERT_TRUE(small->Create("u").Consume(5).ok());  // 5 of 10 left
  ASSERT_TRUE(other->Create("u").Consume(1).ok());
  std::string stream;
  auto sink = NewStringWritableFile(&stream);
  ASSERT_TRUE(ExportStore(*store, "", *sink).ok());

  // The limit doubled since the export: half of the limit stays available.
  auto target = NewStore(clock);
  auto bigger = *LimiterFactory::Create({.policy = "token_bucket", .id = "api", .limit = 20,
                                         .rate = {.interval = "1s", .amount = 2}}, target);
  Result<ImportReport> in = ImportLimiterState(
      bigger->limiter(), [&]() -> Result<std::unique_ptr<SequentialFile>> { return NewStringSequentialFile(stream); });
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(in->restored, 1u);
  EXPECT_EQ(in->skipped, 1u);
  EXPECT_EQ(in->policy_changed, 1u);
  EXPECT_EQ(bigger->Create("u").Peek()->remaining, 10);
  EXPECT_EQ(testing::ScanSorted(*target, "rl:web:").size(), 0u);
}

}  // namespace
}  // namespace sluice

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// zstd in the places that use it: compressed export streams and
// CompressingStore.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "sluice/compressing_store.h"
#include "sluice/memory_store.h"
#include "sluice/state_export.h"
#include "sluice/testing/export_round_trip.h"
#include "sluice/testing/simulated_clock.h"
#include "sluice/zstd.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<MemoryStore> NewStore(Clock& clock) {
  return std::move(*MemoryStore::Create({.clock = &clock, .sweep_interval = std::chrono::seconds(0)}));
}

TEST(ZstdExportTest, CompressedRoundTripIsSmallerAndExact) {
  testing::SimulatedClock clock;
  std::shared_ptr<const Compression> zstd = *zstd::Create();
  for (ExportEncoding encoding : {ExportEncoding::kNdjson, ExportEncoding::kBinary}) {
    SCOPED_TRACE(ExportEncodingName(encoding));
    auto source = NewStore(clock);
    auto target = NewStore(clock);
    const std::string stream = testing::CheckExportRoundTrip(
        *source, *target, "z:", {.encoding = encoding, .compression = zstd}, {.all_or_nothing = true, .compressions = {zstd}});
    EXPECT_THAT(stream, HasSubstr("\"compression\":\"zstd\""));

    // Many similar keys: compressed is several times smaller than plain.
    const Policy policy = Policy::TokenBucket(100, 1, std::chrono::seconds(1));
    for (int i = 0; i < 5000; ++i) ASSERT_TRUE(source->Decide("user:" + std::to_string(i), policy, 1 + i % 7).ok());
    std::string plain, packed;
    auto plain_sink = NewStringWritableFile(&plain);
    auto packed_sink = NewStringWritableFile(&packed);
    ASSERT_TRUE(ExportStore(*source, "user:", *plain_sink, {.encoding = encoding}).ok());
    ASSERT_TRUE(ExportStore(*source, "user:", *packed_sink, {.encoding = encoding, .compression = zstd}).ok());
    EXPECT_LT(packed.size() * 3, plain.size()) << plain.size() << " -> " << packed.size();
    std::printf("5000 token buckets, %s: %zu bytes plain, %zu zstd\n", std::string(ExportEncodingName(encoding)).c_str(),
                plain.size(), packed.size());

    // Truncated or corrupt compressed streams change nothing.
    auto fresh = NewStore(clock);
    for (size_t cut : {packed.size() - 1, packed.size() / 2, size_t{200}}) {
      Result<ImportReport> r = ImportStoreFromString(*fresh, std::string_view(packed).substr(0, cut),
                                                     {.all_or_nothing = true, .compressions = {zstd}});
      ASSERT_FALSE(r.ok()) << cut;
      EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
    }
    std::string bad = packed;
    bad[bad.size() - 20] ^= 0x04;
    Result<ImportReport> r = ImportStoreFromString(*fresh, bad, {.all_or_nothing = true, .compressions = {zstd}});
    EXPECT_TRUE(!r.ok() || !r->applied);
    EXPECT_TRUE(testing::ScanSorted(*fresh, "").empty());

    // Without the zstd Compression the importer says what it needs.
    r = ImportStoreFromString(*fresh, packed);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kNotSupported);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("\"zstd\""));
  }
}

TEST(ZstdCompressingStoreTest, LargeValuesAreKeptCompressed) {
  testing::SimulatedClock clock;
  std::shared_ptr<Store> base = NewStore(clock);
  auto store = *NewCompressingStore(base, {.compression = *zstd::Create(), .threshold_bytes = 256});
  std::string json = "[";
  for (int i = 0; i < 2000; ++i) json += "{\"window\":" + std::to_string(i) + ",\"count\":" + std::to_string(i % 13) + "},";
  json.back() = ']';
  ASSERT_TRUE(store->Put("agg:1", json).ok());
  Result<std::optional<Record>> stored = base->Get("agg:1");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  const std::string& bytes = std::get<std::string>((**stored).value);
  EXPECT_THAT(bytes, ::testing::StartsWith(std::string(kCompressedValueMarker) + "\x01\x04zstd"));
  EXPECT_LT(bytes.size() * 4, json.size());
  Result<std::optional<Record>> back = store->Get("agg:1");
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ(std::get<std::string>((**back).value), json);
}

}  // namespace
}  // namespace sluice

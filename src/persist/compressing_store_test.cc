// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/compressing_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "sluice/memory_store.h"
#include "sluice/state_export.h"
#include "sluice/testing/export_round_trip.h"
#include "sluice/testing/simulated_clock.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;

// Run-length encoding, enough to shrink repetitive test values (zstd has its
// own tests in src/zstd/): pairs of (run length 1..255, byte), then "$".
class RleCompression final : public Compression {
 public:
  explicit RleCompression(std::string name = "rle") : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  Result<std::unique_ptr<Compressor>> NewCompressor() const override {
    struct C final : Compressor {
      std::string in;
      Status Compress(std::string_view data, std::string*) override {
        in.append(data);
        return Status::Ok();
      }
      Status Finish(std::string* out) override {
        for (size_t i = 0; i < in.size();) {
          size_t n = 1;
          while (i + n < in.size() && in[i + n] == in[i] && n < 255) ++n;
          out->push_back(static_cast<char>(n));
          out->push_back(in[i]);
          i += n;
        }
        out->push_back('$');
        return Status::Ok();
      }
    };
    return std::unique_ptr<Compressor>(std::make_unique<C>());
  }
  Result<std::unique_ptr<Decompressor>> NewDecompressor() const override {
    struct D final : Decompressor {
      std::string in;
      Status Decompress(std::string_view data, std::string* out) override {
        in.append(data);
        while (in.size() >= 2 && in[0] != '$') {
          if (in[0] == 0) return DataLossError("rle: zero run");
          out->append(static_cast<unsigned char>(in[0]), in[1]);
          in.erase(0, 2);
        }
        return Status::Ok();
      }
      Status Finish() override { return in == "$" ? Status::Ok() : DataLossError("rle: truncated"); }
    };
    return std::unique_ptr<Decompressor>(std::make_unique<D>());
  }

 private:
  std::string name_;
};

class CompressingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::shared_ptr<Store>(std::move(*MemoryStore::Create({.clock = &clock_, .sweep_interval = {}})));
    store_ = std::move(*NewCompressingStore(base_, {.compression = rle_, .threshold_bytes = 64}));
  }

  std::string BaseBytes(std::string_view key) {
    Result<std::optional<Record>> r = base_->Get(key);
    EXPECT_TRUE(r.ok() && r->has_value());
    return std::get<std::string>((**r).value);
  }
  std::string Bytes(std::string_view key) {
    Result<std::optional<Record>> r = store_->Get(key);
    EXPECT_TRUE(r.ok() && r->has_value()) << (r.ok() ? "absent" : r.status().ToString());
    return r.ok() && r->has_value() ? std::get<std::string>((**r).value) : "";
  }

  testing::SimulatedClock clock_;
  std::shared_ptr<const Compression> rle_ = std::make_shared<RleCompression>();
  std::shared_ptr<Store> base_;
  std::unique_ptr<Store> store_;
};

TEST_F(CompressingStoreTest, LargeValuesAreStoredCompressedAndReadBackPlain) {
  const std::string big = std::string(5000, 'a') + std::string(3000, 'b');
  ASSERT_TRUE(store_->Put(Record{"big", big, clock_.NowNanos() + 60'000'000'000, 7}).ok());
  const std::string stored = BaseBytes("big");
  EXPECT_EQ(stored.substr(0, 4), kCompressedValueMarker);
  EXPECT_EQ(stored.substr(4, 5), std::string("\x01\x03rle", 5));
  EXPECT_LT(stored.size(), 100u);
  Result<std::optional<Record>> got = store_->Get("big");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, (Record{"big", big, clock_.NowNanos() + 60'000'000'000, 7}));

  std::vector<Record> scanned = testing::ScanSorted(*store_, "");
  ASSERT_EQ(scanned.size(), 1u);
  EXPECT_EQ(std::get<std::string>(scanned[0].value), big);
}

TEST_F(CompressingStoreTest, SmallIncompressibleAndMarkerLikeValuesRoundTrip) {
  std::mt19937_64 rng(1);
  std::string noise(4000, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  const std::string marker_small = std::string(kCompressedValueMarker) + "\x01\x03rle";
  const std::string marker_big = std::string(kCompressedValueMarker) + std::string(500, 'z');
  const std::vector<std::pair<std::string, std::string>> values = {
      {"small", "hello"}, {"empty", ""}, {"noise", noise}, {"marker_small", marker_small}, {"marker_big", marker_big}};
  for (const auto& [key, value] : values) ASSERT_TRUE(store_->Put(key, value).ok()) << key;
  EXPECT_EQ(BaseBytes("small"), "hello");  // below the threshold: as it is
  EXPECT_EQ(BaseBytes("noise"), noise);    // not smaller compressed: as it is
  EXPECT_EQ(BaseBytes("marker_small"), std::string(kCompressedValueMarker) + '\0' + marker_small);  // escaped
  EXPECT_NE(BaseBytes("marker_big"), marker_big);
  for (const auto& [key, value] : values) EXPECT_EQ(Bytes(key), value) << key;
}

TEST_F(CompressingStoreTest, AtomicUpdateSeesAndWritesPlainValues) {
  const std::string big(1000, 'x');
  ASSERT_TRUE(store_->Put("k", big).ok());
  Result<std::optional<Record>> r = store_->AtomicUpdate(
      "k",
      [&](const Record* current) {
        EXPECT_NE(current, nullptr);
        std::string v = current != nullptr ? std::get<std::string>(current->value) : "";
        EXPECT_EQ(v, big);
        return Update::Put(v + std::string(1000, 'y'), clock_.NowNanos() + 1'000'000'000);
      },
      {.fencing_token = 3});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(std::get<std::string>((**r).value), big + std::string(1000, 'y'));
  EXPECT_EQ((**r).fencing_token, 3u);
  EXPECT_LT(BaseBytes("k").size(), 100u);
  EXPECT_EQ(Bytes("k"), big + std::string(1000, 'y'));
}

TEST_F(CompressingStoreTest, LimiterStateAndDecisionsPassThrough) {
  const Policy policy = Policy::TokenBucket(5, 1, std::chrono::seconds(1));
  Result<Decision> d = store_->Decide("user", policy, 2);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->remaining, 3);
  Result<std::optional<Record>> viaStore = store_->Get("user");
  Result<std::optional<Record>> viaBase = base_->Get("user");
  ASSERT_TRUE(viaStore.ok() && viaBase.ok());
  EXPECT_EQ(*viaStore, *viaBase);
}

TEST_F(CompressingStoreTest, CorruptOrForeignValuesAreDataLoss) {
  ASSERT_TRUE(base_->Put("cut", std::string(kCompressedValueMarker) + "\x01\x03rle\x05z").ok());
  Result<std::optional<Record>> r = store_->Get("cut");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("compressed value of key \"cut\""));

  ASSERT_TRUE(base_->Put("lz", std::string(kCompressedValueMarker) + "\x01\x03lz4...").ok());
  r = store_->Get("lz");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("compressed with \"lz4\""));
  // A scan stops at it with the same error.
  EXPECT_EQ(store_->Scan("", [](const Record&) { return true; }).code(), StatusCode::kDataLoss);
}

TEST_F(CompressingStoreTest, DecompressedSizeIsCapped) {
  auto capped = std::move(*NewCompressingStore(base_, {.compression = rle_, .threshold_bytes = 64,
                                                       .max_value_bytes = 10'000}));
  ASSERT_TRUE(store_->Put("huge", std::string(50'000, 'q')).ok());
  EXPECT_EQ(capped->Get("huge").status().code(), StatusCode::kResourceExhausted);
}

TEST_F(CompressingStoreTest, ExportsPlainValues) {
  ASSERT_TRUE(store_->Put("big", std::string(3000, 'm')).ok());
  std::string stream;
  auto sink = NewStringWritableFile(&stream);
  ASSERT_TRUE(ExportStore(*store_, "", *sink).ok());
  auto plain = std::move(*MemoryStore::Create({.clock = &clock_, .sweep_interval = {}}));
  ASSERT_TRUE(ImportStoreFromString(*plain, stream).ok());
  Result<std::optional<Record>> r = plain->Get("big");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ(std::get<std::string>((**r).value), std::string(3000, 'm'));
}

TEST_F(CompressingStoreTest, OptionsAreChecked) {
  EXPECT_EQ(NewCompressingStore(base_, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(NewCompressingStore(nullptr, {.compression = rle_}).status().code(), StatusCode::kInvalidArgument);
  auto long_name = std::make_shared<RleCompression>(std::string(256, 'n'));
  EXPECT_EQ(NewCompressingStore(base_, {.compression = long_name}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice

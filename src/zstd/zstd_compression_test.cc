// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/zstd.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zstd.h>

#include <random>
#include <string>

namespace sluice {
namespace {

using ::testing::HasSubstr;


std::string Sample(size_t n, uint64_t seed) {
  // Compressible but not trivial: words from a small alphabet with random runs.
  std::mt19937_64 rng(seed);
  std::string s;
  while (s.size() < n) {
    s += "key:" + std::to_string(rng() % 1000) + ",tokens=" + std::to_string(rng() % 100) + ";";
    if (rng() % 7 == 0) s.push_back(static_cast<char>(rng()));
  }
  s.resize(n);
  return s;
}

std::shared_ptr<const Compression> Make(int level = 3) {
  Result<std::shared_ptr<const Compression>> c = zstd::Create({.level = level});
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return *c;
}

TEST(ZstdCompressionTest, NameAndLevelValidation) {
  EXPECT_EQ(Make()->name(), "zstd");
  Result<std::shared_ptr<const Compression>> bad = zstd::Create({.level = 99});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("level 99 is outside"));
}

TEST(ZstdCompressionTest, StreamsRoundTripInPiecesOfAnySize) {
  std::mt19937_64 rng(7);
  for (int level : {1, 3, 19}) {
    const auto zstd = Make(level);
    for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{70'000}, size_t{1'000'000}}) {
      if (level == 19 && size > 100'000) continue;  // slow, and says nothing new
      SCOPED_TRACE(std::to_string(level) + "/" + std::to_string(size));
      const std::string input = Sample(size, size + static_cast<uint64_t>(level));
      auto c = *zstd->NewCompressor();
      std::string packed;
      for (size_t pos = 0; pos < input.size();) {
        const size_t n = std::min<size_t>(input.size() - pos, 1 + rng() % 50'000);
        ASSERT_TRUE(c->Compress(std::string_view(input).substr(pos, n), &packed).ok());
        pos += n;
      }
      ASSERT_TRUE(c->Finish(&packed).ok());
      EXPECT_EQ(c->Compress("x", &packed).code(), StatusCode::kFailedPrecondition);
      if (size >= 70'000) {
        EXPECT_LT(packed.size(), input.size() / 2);
      }

      auto d = *zstd->NewDecompressor();
      std::string unpacked;
      for (size_t pos = 0; pos < packed.size();) {
        const size_t n = std::min<size_t>(packed.size() - pos, 1 + rng() % 3000);
        ASSERT_TRUE(d->Decompress(std::string_view(packed).substr(pos, n), &unpacked).ok());
        pos += n;
      }
      ASSERT_TRUE(d->Finish().ok());
      EXPECT_EQ(unpacked, input);
    }
  }
}

TEST(ZstdCompressionTest, WritesStandardFramesThatLibzstdReads) {
  const std::string input = Sample(50'000, 1);
  const std::string packed = *CompressAll(*Make(), input);
  std::string out(input.size(), '\0');
  const size_t n = ZSTD_decompress(out.data(), out.size(), packed.data(), packed.size());
  ASSERT_FALSE(ZSTD_isError(n)) << ZSTD_getErrorName(n);
  EXPECT_EQ(out.substr(0, n), input);
  // And it reads a frame libzstd made on its own.
  std::string foreign(ZSTD_compressBound(input.size()), '\0');
  foreign.resize(ZSTD_compress(foreign.data(), foreign.size(), input.data(), input.size(), 5));
  EXPECT_EQ(*DecompressAll(*Make(), foreign), input);
}

TEST(ZstdCompressionTest, TruncatedAndCorruptInputIsDataLoss) {
  const auto zstd = Make();
  const std::string input = Sample(20'000, 2);
  const std::string packed = *CompressAll(*zstd, input);
  for (size_t n : {size_t{0}, size_t{1}, size_t{5}, packed.size() / 2, packed.size() - 1}) {
    Result<std::string> r = DecompressAll(*zstd, std::string_view(packed).substr(0, n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << n;
  }
  EXPECT_THAT(std::string(DecompressAll(*zstd, packed.substr(0, packed.size() - 1)).status().message()),
              HasSubstr("truncated"));
  // Every single-byte flip is caught (the frame checksum covers the content).
  std::mt19937_64 rng(3);
  for (int i = 0; i < 300; ++i) {
    std::string bad = packed;
    bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    Result<std::string> r = DecompressAll(*zstd, bad);
    ASSERT_FALSE(r.ok() && *r == input) << i;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
    }
  }
  // Not zstd at all.
  EXPECT_EQ(DecompressAll(*zstd, "{\"format\":\"sluice.export\"}").status().code(), StatusCode::kDataLoss);
  // Garbage after a complete frame.
  EXPECT_FALSE(DecompressAll(*zstd, packed + "garbage!").ok());
}

TEST(ZstdCompressionTest, DecompressAllCapsTheOutput) {
  const auto zstd = Make();
  const std::string packed = *CompressAll(*zstd, std::string(10'000'000, 'a'));
  EXPECT_LT(packed.size(), 2000u);
  Result<std::string> r = DecompressAll(*zstd, packed, 1'000'000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(DecompressAll(*zstd, packed, 10'000'000)->size(), 10'000'000u);
}

TEST(ZstdCompressionTest, FindCompressionByName) {
  std::vector<std::shared_ptr<const Compression>> available = {Make()};
  EXPECT_EQ(FindCompression(available, "zstd"), available[0].get());
  EXPECT_EQ(FindCompression(available, "lz4"), nullptr);
}

}  // namespace
}  // namespace sluice

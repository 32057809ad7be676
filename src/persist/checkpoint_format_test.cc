// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "persist/checkpoint_format.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sluice::internal {
namespace {

using namespace std::chrono_literals;

const int64_t kNow = 1'700'000'000'000'000'000;

std::vector<Record> SampleRecords() {
  const Policy a = Policy::TokenBucket(10, 1, 1s);
  const Policy b = Policy::SlidingWindowLog(5, 10s);
  const Policy c = Policy::CalendarWindow(3, WindowAlignment::kCalendarMonth);
  std::vector<Record> out;
  out.push_back({"user:1", LimiterRecord{a, TokenBucketState{3, 12345, kNow - 5}}, kNow + 7'000'000'000, 0});
  out.push_back({"user:10", LimiterRecord{a, TokenBucketState{9, 0, kNow}}, kNow + 1, 0});  // same policy
  out.push_back({"user:2", LimiterRecord{b, SlidingWindowLogState{{{kNow - 9, 2}, {kNow - 3, 1}}, kNow}}, kNow + 10, 5});
  out.push_back({"user:20", LimiterRecord{a, TokenBucketState{0, 1, kNow + 3}}, kNow + 9, 0});  // back to a
  out.push_back({"month", LimiterRecord{c, FixedWindowState{kNow - 100, 2}}, kNow + 1000, UINT64_MAX});
  // A state whose algorithm is not its policy's (no store accepts it, but the
  // format must not misread it).
  out.push_back({"odd", LimiterRecord{a, GcraState{INT64_MAX, 0, INT64_MIN}}, 0, 0});
  out.push_back({"", std::string("empty key"), 0, 0});
  out.push_back({std::string("\0\xff", 2), std::string(1000, 'x'), INT64_MAX, 1});
  out.push_back({"neg", std::string(), 1, 0});
  return out;
}

std::string Encode(const std::vector<Record>& records, uint64_t id = 42) {
  std::string file;
  CheckpointEncoder enc({id, kNow, "", "memory"}, nullptr, [&](std::string_view piece) {
    file.append(piece);
    return Status::Ok();
  });
  EXPECT_TRUE(enc.Start().ok());
  for (const Record& r : records) EXPECT_TRUE(enc.Add(r).ok());
  EXPECT_TRUE(enc.Finish().ok());
  EXPECT_EQ(enc.bytes(), file.size());
  EXPECT_EQ(enc.records(), records.size());
  return file;
}

Result<std::vector<Record>> Decode(std::string_view file) {
  std::vector<Record> out;
  Status s = DecodeCheckpoint(file, {}, size_t{1} << 30, [&](Record&& r) {
    out.push_back(std::move(r));
    return true;
  });
  if (!s.ok()) return s;
  return out;
}

TEST(CheckpointFormatTest, RoundTripsEveryKindOfRecordExactly) {
  const std::vector<Record> records = SampleRecords();
  const std::string file = Encode(records);
  auto header = VerifyCheckpoint(file);
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->id, 42u);
  EXPECT_EQ(header->created_ns, kNow);
  EXPECT_EQ(header->compression, "none");
  EXPECT_EQ(header->source, "memory");
  auto back = Decode(file);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, records);
}

TEST(CheckpointFormatTest, EmptyCheckpoint) {
  const std::string file = Encode({});
  ASSERT_TRUE(VerifyCheckpoint(file).ok());
  auto back = Decode(file);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->empty());
}

TEST(CheckpointFormatTest, EveryFlippedByteAndEveryTruncationIsDetected) {
  const std::string file = Encode(SampleRecords());
  for (size_t i = 0; i < file.size(); ++i) {
    for (const uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::string bad = file;
      bad[i] = static_cast<char>(bad[i] ^ static_cast<char>(mask));
      EXPECT_FALSE(VerifyCheckpoint(bad).ok()) << "byte " << i << " mask " << int{mask};
    }
  }
  for (size_t n = 0; n < file.size(); ++n) {
    EXPECT_FALSE(VerifyCheckpoint(file.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(VerifyCheckpoint(file + "x").ok());
}

TEST(CheckpointFormatTest, ForeignAndNewerFilesAreRejectedClearly) {
  auto foreign = VerifyCheckpoint("{\"format\":\"sluice.export\"}");
  EXPECT_EQ(foreign.status().code(), StatusCode::kInvalidArgument);
  std::string newer = Encode({});
  newer[8] = 2;
  auto v2 = VerifyCheckpoint(newer);
  EXPECT_EQ(v2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(v2.status().message().find("version 2"), std::string_view::npos);
}

TEST(CheckpointFormatTest, ACompressedBodyNeedsItsCompression) {
  // A hand-made header naming a compression this reader lacks.
  class Fake final : public Compression {
   public:
    std::string_view name() const override { return "fake"; }
    Result<std::unique_ptr<Compressor>> NewCompressor() const override {
      class Identity final : public Compressor {
       public:
        Status Compress(std::string_view in, std::string* out) override {
          out->append(in);
          return Status::Ok();
        }
        Status Finish(std::string*) override { return Status::Ok(); }
      };
      return std::unique_ptr<Compressor>(new Identity());
    }
    Result<std::unique_ptr<Decompressor>> NewDecompressor() const override {
      return NotSupportedError("fake");
    }
  } fake;
  std::string file;
  CheckpointEncoder enc({1, kNow, "", "memory"}, &fake, [&](std::string_view p) {
    file.append(p);
    return Status::Ok();
  });
  ASSERT_TRUE(enc.Start().ok());
  ASSERT_TRUE(enc.Add(SampleRecords()[0]).ok());
  ASSERT_TRUE(enc.Finish().ok());
  auto header = VerifyCheckpoint(file);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->compression, "fake");
  EXPECT_EQ(Decode(file).status().code(), StatusCode::kNotSupported);
}

}  // namespace
}  // namespace sluice::internal

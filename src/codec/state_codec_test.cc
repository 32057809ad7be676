// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/state_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "codec/codec_internal.h"
#include "util/crc32c.h"

namespace sluice {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

// 2023-11-14T22:13:20Z, the time every golden record was made at.
constexpr int64_t kNow = 1'700'000'000'000'000'000;
constexpr int64_t kSecond = 1'000'000'000;

// ---- Golden files ----------------------------------------------------------
// testdata/state_v1/ holds format version 1 as written by the first release.
// Every later build must decode these files to exactly the records below and
// re-encode them byte for byte. Never regenerate them to make this test pass:
// a failure means the format changed, which needs a new format version.

struct Golden {
  const char* name;
  Record record;
};

std::vector<Golden> GoldenRecords() {
  return {
      {"token_bucket",
       Record{"user:1",
              LimiterRecord{Policy::TokenBucket(10, 1, seconds(1)), TokenBucketState{7, 250'000'000, kNow}},
              kNow + 3 * kSecond}},
      {"gcra",
       Record{"tenant:caf\xC3\xA9/api",
              LimiterRecord{Policy::Gcra(5, 2, seconds(1)), GcraState{kNow + 1'500'000'000, 1, kNow}},
              kNow + 1'500'000'000}},
      {"fixed_window",
       Record{"ip:192.0.2.1",
              LimiterRecord{Policy::FixedWindow(100, minutes(1)), FixedWindowState{1'699'999'980'000'000'000, 42}},
              1'699'999'980'000'000'000 + 60 * kSecond}},
      {"fixed_window_calendar_day",
       Record{"org:7:daily",
              LimiterRecord{Policy::CalendarWindow(1000, WindowAlignment::kCalendarDay),
                            FixedWindowState{1'699'920'000'000'000'000, 999}},
              1'699'920'000'000'000'000 + 86'400 * kSecond}},
      {"sliding_window_log",
       Record{"login:alice",
              LimiterRecord{Policy::SlidingWindowLog(10, seconds(10)),
                            SlidingWindowLogState{{{kNow - 9 * kSecond, 2}, {kNow - 3 * kSecond, 1}, {kNow, 3}}, kNow}},
              kNow + 10 * kSecond}},
      {"sliding_window_counter",
       Record{"search:\"quoted\"\n",
              LimiterRecord{Policy::SlidingWindowCounter(50, seconds(10)),
                            SlidingWindowCounterState{kNow, 12, 30, kNow + 2'500'000'000}},
              kNow + 20 * kSecond}},
      {"bytes",
       Record{std::string("\xFF\x00session", 9), std::string("agg\x00\x01\xFE{\"not\":\"json\"}", 20), 0}},
  };
}

std::string GoldenPath(const std::string& dir, const std::string& file) {
  return std::string(SLUICE_SOURCE_DIR) + "/testdata/" + dir + "/" + file;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Version 2 adds the fencing token: the same records, with tokens that cover
// zero, a small value, a multi-byte varint and the largest uint64.
std::vector<Golden> GoldenRecordsV2() {
  std::vector<Golden> goldens = GoldenRecords();
  const uint64_t tokens[] = {42, 0, 1'000'000, 7, 18'446'744'073'709'551'615ull, 3, 300};
  for (size_t i = 0; i < goldens.size(); ++i) goldens[i].record.fencing_token = tokens[i % std::size(tokens)];
  return goldens;
}

// Run once, by hand, to create the golden files of a NEW format version (the
// version this build writes; testdata/state_v<N>/ must exist):
//   sluice_core_test --gtest_also_run_disabled_tests --gtest_filter='*DISABLED_WriteGoldenFiles'
TEST(StateCodecGoldenTest, DISABLED_WriteGoldenFiles) {
  const std::string dir = "state_v" + std::to_string(kRecordFormatVersion);
  for (const Golden& g : GoldenRecordsV2()) {
    std::ofstream(GoldenPath(dir, std::string(g.name) + ".json"), std::ios::binary)
        << EncodeRecordJson(g.record, /*pretty=*/true);
    std::ofstream(GoldenPath(dir, std::string(g.name) + ".bin"), std::ios::binary) << EncodeRecordBinary(g.record);
  }
}

// Version 1 files decode with fencing token 0, and the version-1 encoder
// (kept for this test) still writes them byte for byte.
TEST(StateCodecGoldenTest, DecodesAndReencodesVersion1ByteForByte) {
  for (const Golden& g : GoldenRecords()) {
    SCOPED_TRACE(g.name);
    const std::string json = ReadFile(GoldenPath("state_v1", std::string(g.name) + ".json"));
    Result<Record> from_json = DecodeRecordJson(json, kNow);
    ASSERT_TRUE(from_json.ok()) << from_json.status().ToString();
    EXPECT_EQ(*from_json, g.record);
    EXPECT_EQ(from_json->fencing_token, 0u);
    EXPECT_EQ(internal::EncodeRecordJsonAtVersion(g.record, /*pretty=*/true, 1), json);

    const std::string bin = ReadFile(GoldenPath("state_v1", std::string(g.name) + ".bin"));
    Result<Record> from_bin = DecodeRecordBinary(bin, kNow);
    ASSERT_TRUE(from_bin.ok()) << from_bin.status().ToString();
    EXPECT_EQ(*from_bin, g.record);
    EXPECT_EQ(internal::EncodeRecordBinaryAtVersion(g.record, 1), bin);
  }
}

TEST(StateCodecGoldenTest, DecodesAndReencodesVersion2ByteForByte) {
  ASSERT_EQ(kRecordFormatVersion, 2);
  for (const Golden& g : GoldenRecordsV2()) {
    SCOPED_TRACE(g.name);
    const std::string json = ReadFile(GoldenPath("state_v2", std::string(g.name) + ".json"));
    Result<Record> from_json = DecodeRecordJson(json, kNow);
    ASSERT_TRUE(from_json.ok()) << from_json.status().ToString();
    EXPECT_EQ(*from_json, g.record);
    EXPECT_EQ(EncodeRecordJson(g.record, /*pretty=*/true), json);

    const std::string bin = ReadFile(GoldenPath("state_v2", std::string(g.name) + ".bin"));
    Result<Record> from_bin = DecodeRecordBinary(bin, kNow);
    ASSERT_TRUE(from_bin.ok()) << from_bin.status().ToString();
    EXPECT_EQ(*from_bin, g.record);
    EXPECT_EQ(EncodeRecordBinary(g.record), bin);
  }
}

// The documented example of docs/state_format.md, spelled out.
TEST(StateCodecGoldenTest, TokenBucketJsonText) {
  const Record r = GoldenRecordsV2()[0].record;
  EXPECT_EQ(EncodeRecordJson(r),
            R"({"format":"sluice.record","version":2,"key":"user:1","expiresAtNs":1700000003000000000,)"
            R"("fencingToken":"42",)"
            R"("policy":{"algorithm":"token_bucket","limit":10,"refillAmount":1,"intervalNs":1000000000,)"
            R"("alignment":"epoch"},"state":{"tokens":7,"remainder":250000000,"updatedNs":1700000000000000000}})");
  const std::string bytes_json = EncodeRecordJson(GoldenRecords().back().record);
  EXPECT_THAT(bytes_json, HasSubstr(R"("keyBase64":"/wBzZXNzaW9u")"));
  EXPECT_THAT(bytes_json, HasSubstr(R"("bytesBase64":)"));
}

// ---- Errors ----------------------------------------------------------------

std::string TokenBucketJson(std::string_view state, std::string_view version = "1") {
  return std::string(R"({"format":"sluice.record","version":)") + std::string(version) +
         R"(,"key":"k","expiresAtNs":0,"policy":{"algorithm":"token_bucket","limit":10,"refillAmount":1,)"
         R"("intervalNs":1000000000},"state":)" +
         std::string(state) + "}";
}

Status JsonError(std::string_view json) {
  Result<Record> r = DecodeRecordJson(json, kNow);
  EXPECT_FALSE(r.ok()) << json;
  return r.ok() ? Status() : r.status();
}

TEST(StateCodecJsonTest, MinimalHandWrittenRecordDecodes) {
  Result<Record> r = DecodeRecordJson(TokenBucketJson(R"({"tokens":3,"remainder":0,"updatedNs":5})"), kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (Record{"k", LimiterRecord{Policy::TokenBucket(10, 1, seconds(1)), TokenBucketState{3, 0, 5}}, 0}));
}

TEST(StateCodecJsonTest, ErrorsNameTheField) {
  struct Case {
    std::string json;
    std::string message;
  };
  const std::vector<Case> cases = {
      {TokenBucketJson(R"({"tokens":12,"remainder":0,"updatedNs":5})"), "record.state.tokens: 12 exceeds capacity 10"},
      {TokenBucketJson(R"({"tokens":1.5,"remainder":0,"updatedNs":5})"),
       "record.state.tokens: expected an integer, got number with a fraction or exponent"},
      {TokenBucketJson(R"({"tokens":"3","remainder":0,"updatedNs":5})"),
       "record.state.tokens: expected an integer, got string"},
      {TokenBucketJson(R"({"remainder":0,"updatedNs":5})"), "record.state.tokens: required field is missing"},
      {TokenBucketJson(R"({"tokens":3,"remainder":0,"updatedNs":5,"extra":1})"),
       "record.state.extra: unknown field"},
      {TokenBucketJson(R"({"tokens":-1,"remainder":0,"updatedNs":5})"), "record.state.tokens: -1 is negative"},
      {TokenBucketJson(R"({"tokens":3,"remainder":0,"updatedNs":-5})"), "record.state.updatedNs: -5 is before the Unix epoch"},
      {TokenBucketJson(R"({"tatNs":3,"tatFrac":0,"updatedNs":5})"), "record.state.tokens: required field is missing"},
      {TokenBucketJson(R"([1,2])"), "record.state: expected an object, got array"},
      {TokenBucketJson(R"({"tokens":3,"remainder":0,"updatedNs":5})", "3"),
       "unsupported record format version 3; this build reads versions 1 to 2"},
      {TokenBucketJson(R"({"tokens":3,"remainder":0,"updatedNs":5})", "0"),
       "unsupported record format version 0; this build reads versions 1 to 2"},
      {TokenBucketJson(R"({"tokens":3,"remainder":0,"updatedNs":5})", "2"),
       "record.fencingToken: required field is missing"},
      {R"({"format":"sluice.record","version":1,"key":"a","expiresAtNs":0,"fencingToken":"1","bytesBase64":""})",
       "record.fencingToken: unknown field"},
      {R"({"format":"sluice.record","version":2,"key":"a","expiresAtNs":0,"fencingToken":1,"bytesBase64":""})",
       "record.fencingToken: expected a string, got integer"},
      {R"({"format":"sluice.record","version":2,"key":"a","expiresAtNs":0,"fencingToken":"01","bytesBase64":""})",
       "record.fencingToken: expected a decimal string of an integer in [0, 18446744073709551615], got \"01\""},
      {R"({"format":"sluice.record","version":2,"key":"a","expiresAtNs":0,"fencingToken":"-1","bytesBase64":""})",
       "record.fencingToken: expected a decimal string of an integer in [0, 18446744073709551615], got \"-1\""},
      {R"({"format":"sluice.record","version":2,"key":"a","expiresAtNs":0,"fencingToken":"18446744073709551616",)"
       R"("bytesBase64":""})",
       "record.fencingToken: expected a decimal string of an integer in [0, 18446744073709551615], got "
       "\"18446744073709551616\""},
      {R"({"format":"sluice.record","version":2,"key":"a","expiresAtNs":0,"fencingToken":"","bytesBase64":""})",
       "record.fencingToken: expected a decimal string of an integer in [0, 18446744073709551615], got \"\""},
      {TokenBucketJson(R"({"tokens":3,"remainder":0,"updatedNs":5})", "\"1\""),
       "record.version: expected an integer, got string"},
      {R"({"format":"other","version":1})", "record.format: expected \"sluice.record\", got \"other\""},
      {R"({"version":1})", "record.format: required field is missing"},
      {R"([])", "record: expected an object, got array"},
      {R"({"format":"sluice.record","version":1,"expiresAtNs":0,"bytesBase64":""})",
       "record.key: required field is missing (or keyBase64)"},
      {R"({"format":"sluice.record","version":1,"key":"a","keyBase64":"YQ==","expiresAtNs":0,"bytesBase64":""})",
       "record: has both key and keyBase64; expected one"},
      {R"({"format":"sluice.record","version":1,"keyBase64":"YQ=","expiresAtNs":0,"bytesBase64":""})",
       "record.keyBase64: not valid base64"},
      {R"({"format":"sluice.record","version":1,"key":"a","expiresAtNs":0,"bytesBase64":"*"})",
       "record.bytesBase64: not valid base64"},
      {R"({"format":"sluice.record","version":1,"key":"a","expiresAtNs":-1,"bytesBase64":""})",
       "record.expiresAtNs: -1 is negative"},
      {R"({"format":"sluice.record","version":1,"key":"a","bytesBase64":""})",
       "record.expiresAtNs: required field is missing"},
      {R"({"format":"sluice.record","version":1,"key":"a","expiresAtNs":0})",
       "record.policy: required field is missing (or bytesBase64)"},
      {R"({"format":"sluice.record","version":1,"key":"a","expiresAtNs":0,"bytesBase64":"","state":{}})",
       "record: holds bytesBase64 and policy/state; expected one or the other"},
      {R"({"format":"sluice.record","version":1,"key":"a","expiresAtNs":0,"bytesBase64":"","x":1})",
       "record.x: unknown field"},
      {R"({"format":"sluice.record","version":1,"key":"a","expiresAtNs":0,"policy":{"algorithm":"leaky","limit":1,)"
       R"("intervalNs":1},"state":{}})",
       "record.policy.algorithm: unknown algorithm \"leaky\"; expected token_bucket, gcra, fixed_window, "
       "sliding_window_log or sliding_window_counter"},
      {R"({"format":"sluice.record","version":1,"key":"a","expiresAtNs":0,"policy":{"algorithm":"fixed_window",)"
       R"("limit":1,"intervalNs":1,"alignment":"fortnight"},"state":{}})",
       "record.policy.alignment: unknown window alignment \"fortnight\"; expected epoch, day, week, month or year"},
      {R"({"format":"sluice.record","version":1,"key":"a","expiresAtNs":0,"policy":{"algorithm":"fixed_window",)"
       R"("limit":0,"intervalNs":1},"state":{"windowStartNs":0,"count":0}})",
       "record.policy: fixed_window policy: limit must be in [1, 1000000000000000], got 0"},
      {R"({"format":"sluice.record","version":1,"key":"a","expiresAtNs":0,"policy":{"algorithm":"sliding_window_log",)"
       R"("limit":5,"intervalNs":10},"state":{"entries":[[1,2,3]],"updatedNs":5}})",
       "record.state.entries[0]: expected [timeNs, cost] with two integers"},
      {"{\"format\":", "JSON parse error at byte 10: unexpected end of input, expected a value"},
  };
  for (const Case& c : cases) {
    Status s = JsonError(c.json);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.json;
    EXPECT_EQ(s.message(), c.message) << c.json;
  }
}

TEST(StateCodecJsonTest, TimestampsTooFarInTheFutureAreRejected) {
  const int64_t future = kNow + 6 * 60 * kSecond;
  const std::string json = TokenBucketJson(R"({"tokens":3,"remainder":0,"updatedNs":)" + std::to_string(future) + "}");
  EXPECT_THAT(std::string(JsonError(json).message()), HasSubstr("record.state.updatedNs: "));
  EXPECT_TRUE(DecodeRecordJson(json, kNow, minutes(10)).ok());
  EXPECT_TRUE(DecodeRecordJson(json, kNow + 2 * 60 * kSecond).ok());
}

TEST(StateCodecJsonTest, KeysThatAreNotUtf8UseBase64) {
  Record r{std::string("\xC0\xAF", 2), std::string("v"), 0};
  const std::string json = EncodeRecordJson(r);
  EXPECT_THAT(json, HasSubstr(R"("keyBase64":"wK8=")"));
  EXPECT_THAT(json, ::testing::Not(HasSubstr(R"("key":)")));
  Result<Record> back = DecodeRecordJson(json, kNow);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, r);
  // Valid UTF-8 (with control characters and quotes) stays readable.
  r.key = "a\"b\n\xE2\x82\xAC";
  EXPECT_THAT(EncodeRecordJson(r), HasSubstr(R"("key":"a\"b\n)" "\xE2\x82\xAC\""));
}

TEST(StateCodecJsonTest, KeyTooLong) {
  Record r{std::string(kMaxKeyBytes + 1, 'k'), std::string("v"), 0};
  Status s = JsonError(EncodeRecordJson(r));
  EXPECT_EQ(s.message(), "record.key: 8193 bytes exceeds the maximum of 8192");
  r.key.pop_back();
  EXPECT_TRUE(DecodeRecordJson(EncodeRecordJson(r), kNow).ok());
}

// Re-seals `body` (a record without its trailer) with a valid checksum, to
// reach the checks behind the checksum.
std::string Seal(std::string body) {
  const uint32_t crc = internal::crc32c::Mask(internal::crc32c::Value(body));
  for (int i = 0; i < 4; ++i) body.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return body;
}

std::string Body(const std::string& encoded) { return encoded.substr(0, encoded.size() - 4); }

Status BinaryError(std::string_view bytes) {
  Result<Record> r = DecodeRecordBinary(bytes, kNow);
  EXPECT_FALSE(r.ok());
  return r.ok() ? Status() : r.status();
}

TEST(StateCodecBinaryTest, Layout) {
  // A small bytes record, byte by byte as docs/state_format.md describes it.
  const std::string v1 = internal::EncodeRecordBinaryAtVersion(Record{"k", std::string("v"), 1}, 1);
  const std::string body("SLRC\x01\x01\x01k\x02\x01v", 11);
  EXPECT_EQ(Body(v1), body);
  EXPECT_EQ(v1, Seal(body));
  // The trailer, computed independently: mask(crc32c(body)) = mask(0xb4060154), little-endian.
  EXPECT_EQ(v1, std::string("SLRC\x01\x01\x01k\x02\x01v\xe4\x52\x2c\xa5", 15));

  // Version 2: the fencing token (varint 300 = ac 02) follows the expiry.
  const std::string v2 = EncodeRecordBinary(Record{"k", std::string("v"), 1, 300});
  const std::string body2("SLRC\x02\x01\x01k\x02\xac\x02\x01v", 13);
  EXPECT_EQ(v2, Seal(body2));
  EXPECT_EQ(*DecodeRecordBinary(v2, kNow), (Record{"k", std::string("v"), 1, 300}));
}

TEST(StateCodecBinaryTest, TruncatedInputIsDataLoss) {
  const std::string encoded = EncodeRecordBinary(GoldenRecords()[0].record);
  for (size_t n = 0; n < encoded.size(); ++n) {
    Status s = BinaryError(encoded.substr(0, n));
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << n;
  }
  EXPECT_THAT(std::string(BinaryError("").message()), HasSubstr("truncated"));
  EXPECT_THAT(std::string(BinaryError("SLRC\x01").message()), HasSubstr("truncated"));
  EXPECT_THAT(std::string(BinaryError(encoded.substr(0, encoded.size() - 1)).message()),
              HasSubstr("checksum mismatch"));
}

TEST(StateCodecBinaryTest, CorruptionAndTrailingBytesAreDataLoss) {
  std::string encoded = EncodeRecordBinary(GoldenRecords()[0].record);
  std::string bad = encoded;
  bad[10] ^= 0x10;
  Status s = BinaryError(bad);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr("checksum mismatch"));
  EXPECT_EQ(BinaryError(encoded + "x").code(), StatusCode::kDataLoss);
  s = BinaryError(Seal(Body(encoded) + "x"));
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "binary record: 1 unexpected bytes after the record");
  s = BinaryError("XLRC\x01\x01\x00\x00\x00\x00\x00\x00");
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr("bad magic"));
}

TEST(StateCodecBinaryTest, UnknownVersionIsNamed) {
  std::string body = Body(EncodeRecordBinary(GoldenRecords()[0].record));
  body[4] = 3;
  Status s = BinaryError(Seal(body));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "unsupported record format version 3; this build reads versions 1 to 2");
  body[4] = 0;
  EXPECT_EQ(BinaryError(Seal(body)).message(), "unsupported record format version 0; this build reads versions 1 to 2");
  body[4] = '\x80';  // a two-byte varint: 256
  body.insert(5, 1, '\x02');
  EXPECT_EQ(BinaryError(Seal(body)).message(),
            "unsupported record format version 256; this build reads versions 1 to 2");
}

TEST(StateCodecBinaryTest, ContentsAreValidatedBehindTheChecksum) {
  Record r = GoldenRecords()[0].record;
  std::get<TokenBucketState>(std::get<LimiterRecord>(r.value).state).tokens = 12;
  Status s = BinaryError(EncodeRecordBinary(r));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "record.state.tokens: 12 exceeds capacity 10");

  std::get<LimiterRecord>(r.value).state = GcraState{kNow, 0, kNow};
  EXPECT_EQ(BinaryError(EncodeRecordBinary(r)).message(), "record.state: state is gcra but the policy is token_bucket");

  std::string body = Body(EncodeRecordBinary(Record{"k", std::string("v"), 1}));
  body[5] = 9;  // record kind
  EXPECT_EQ(BinaryError(Seal(body)).message(), "binary record: unknown record kind 9");

  body = Body(EncodeRecordBinary(Record{"k", std::string("v"), 1}));
  body[10] = 5;  // value length beyond the end (after key, expiry and fencing token)
  s = BinaryError(Seal(body));
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr("truncated"));

  Record long_key{std::string(kMaxKeyBytes + 1, 'k'), std::string("v"), 0};
  EXPECT_EQ(BinaryError(EncodeRecordBinary(long_key)).message(), "record.key: 8193 bytes exceeds the maximum of 8192");

  Record negative{"k", std::string("v"), -1};
  EXPECT_EQ(BinaryError(EncodeRecordBinary(negative)).message(), "record.expiresAtNs: -1 is negative");

  // A fencing token varint in a non-canonical form is rejected.
  body = std::string("SLRC\x02\x01\x01k\x02\x80\x00\x01v", 13);
  EXPECT_EQ(BinaryError(Seal(body)).message(), "record.fencingToken: non-canonical varint");
  // A version-1 record ends where version 2 would read its token: read as 2, it is short.
  body = Body(internal::EncodeRecordBinaryAtVersion(Record{"k", std::string(), 1}, 1));
  body[4] = 2;
  EXPECT_EQ(BinaryError(Seal(body)).code(), StatusCode::kDataLoss);
}

// ---- Round trips -------------------------------------------------------------

Policy RandomPolicy(std::mt19937_64& rng, Algorithm algorithm) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const std::vector<int64_t> intervals = {1, 999, kSecond, 60 * kSecond, 3600 * kSecond, 86'400 * kSecond};
  const int64_t interval = intervals[static_cast<size_t>(pick(0, static_cast<int64_t>(intervals.size()) - 1))];
  const int64_t limit = rng() % 4 == 0 ? pick(1, 1'000'000'000'000'000) : pick(1, 100);
  switch (algorithm) {
    case Algorithm::kTokenBucket:
      return Policy::TokenBucket(limit, pick(1, 1000), std::chrono::nanoseconds(interval));
    case Algorithm::kGcra:
      return Policy::Gcra(limit, pick(1, 1000), std::chrono::nanoseconds(interval));
    case Algorithm::kFixedWindow:
      if (rng() % 3 == 0) return Policy::CalendarWindow(limit, static_cast<WindowAlignment>(pick(1, 4)));
      return Policy::FixedWindow(limit, std::chrono::nanoseconds(interval));
    case Algorithm::kSlidingWindowLog:
      return Policy::SlidingWindowLog(pick(1, 200), std::chrono::nanoseconds(interval));
    case Algorithm::kSlidingWindowCounter:
      return Policy::SlidingWindowCounter(limit, std::chrono::nanoseconds(interval));
  }
  return Policy::TokenBucket(1, 1, seconds(1));
}

// A record whose state the algorithm itself produced from random operations,
// so that it is valid; `*now` is the time of the last operation.
Record RandomRecord(std::mt19937_64& rng, int64_t* now) {
  Record r;
  r.key.resize(rng() % 40);
  for (char& c : r.key) c = static_cast<char>(rng() % 3 == 0 ? rng() : 'a' + rng() % 26);
  r.expires_at_ns = rng() % 5 == 0 ? 0 : static_cast<int64_t>(rng() >> 2);
  r.fencing_token = rng() % 3 == 0 ? 0 : rng() >> (rng() % 64);
  if (rng() % 6 == 0) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    r.value = std::move(bytes);
    return r;
  }
  const Algorithm algorithm = static_cast<Algorithm>(1 + rng() % 5);
  Policy policy = RandomPolicy(rng, algorithm);
  while (!policy.Validate().ok()) policy = RandomPolicy(rng, algorithm);  // e.g. a GCRA burst longer than a century
  std::optional<LimiterState> state;
  int64_t t = kNow + static_cast<int64_t>(rng() % (1000 * kSecond));
  const int ops = static_cast<int>(rng() % 60);
  for (int i = 0; i < ops; ++i) {
    t += rng() % 2 == 0 ? 0 : static_cast<int64_t>(rng() % (2 * static_cast<uint64_t>(policy.interval.count() + 1)));
    const int64_t cost = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(std::min<int64_t>(policy.limit, 5)));
    const Operation op = rng() % 8 == 0 ? Operation::kRefund : Operation::kConsume;
    EXPECT_TRUE(Evaluate(policy, state, op, cost, t).ok());
  }
  if (!state.has_value()) state = FreshState(policy, t);
  r.value = LimiterRecord{policy, *state};
  *now = t;
  return r;
}

TEST(StateCodecRoundTripTest, RandomRecordsSurviveBothFormatsExactly) {
  std::mt19937_64 rng(20260101);
  int per_algorithm[6] = {};
  for (int i = 0; i < 3000; ++i) {
    int64_t now = kNow;
    const Record r = RandomRecord(rng, &now);
    const auto* limiter = std::get_if<LimiterRecord>(&r.value);
    ++per_algorithm[limiter ? static_cast<int>(limiter->policy.algorithm) : 0];

    Result<Record> j = DecodeRecordJson(EncodeRecordJson(r), now);
    ASSERT_TRUE(j.ok()) << j.status().ToString() << "\n" << EncodeRecordJson(r, true);
    EXPECT_EQ(*j, r);
    Result<Record> p = DecodeRecordJson(EncodeRecordJson(r, /*pretty=*/true), now);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(*p, r);
    Result<Record> b = DecodeRecordBinary(EncodeRecordBinary(r), now);
    ASSERT_TRUE(b.ok()) << b.status().ToString() << "\n" << EncodeRecordJson(r, true);
    EXPECT_EQ(*b, r);
  }
  for (int a = 0; a < 6; ++a) EXPECT_GT(per_algorithm[a], 100) << "kind " << a;
}

// The compact JSON is written directly, without a Json tree: it must be the
// tree writer's output byte for byte.
TEST(StateCodecRoundTripTest, CompactJsonEqualsTheTreeWriter) {
  std::mt19937_64 rng(77);
  for (int i = 0; i < 3000; ++i) {
    int64_t now = kNow;
    const Record r = RandomRecord(rng, &now);
    for (int64_t version : {1, 2}) {
      ASSERT_EQ(internal::EncodeRecordJsonAtVersion(r, false, version),
                internal::EncodeRecordJsonTree(r, false, version));
    }
  }
  for (const Golden& g : GoldenRecordsV2()) {
    EXPECT_EQ(EncodeRecordJson(g.record), internal::EncodeRecordJsonTree(g.record, false, 2)) << g.name;
  }
}

TEST(StateCodecRoundTripTest, ExtremeValuesSurvive) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  const Policy policy = Policy::TokenBucket(1'000'000'000'000'000, 1'000'000'000'000'000, seconds(1));
  const Record r{std::string(kMaxKeyBytes, '\xff'),
                 LimiterRecord{policy, TokenBucketState{1'000'000'000'000'000, kSecond - 1, kNow}}, max,
                 std::numeric_limits<uint64_t>::max()};
  Result<Record> j = DecodeRecordJson(EncodeRecordJson(r), kNow);
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(*j, r);
  Result<Record> b = DecodeRecordBinary(EncodeRecordBinary(r), kNow);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*b, r);
  const Record empty{"", std::string(), 0};
  EXPECT_EQ(*DecodeRecordJson(EncodeRecordJson(empty), kNow), empty);
  EXPECT_EQ(*DecodeRecordBinary(EncodeRecordBinary(empty), kNow), empty);
}

TEST(StateCodecRoundTripTest, EverySingleByteCorruptionIsDetected) {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 150; ++i) {
    int64_t now = kNow;
    const std::string encoded = EncodeRecordBinary(RandomRecord(rng, &now));
    for (size_t pos = 0; pos < encoded.size(); ++pos) {
      for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}, static_cast<uint8_t>(1 + rng() % 255)}) {
        std::string bad = encoded;
        bad[pos] = static_cast<char>(static_cast<uint8_t>(bad[pos]) ^ flip);
        ASSERT_FALSE(DecodeRecordBinary(bad, now).ok()) << "record " << i << " byte " << pos;
      }
    }
    ASSERT_FALSE(DecodeRecordBinary(encoded.substr(0, rng() % encoded.size()), now).ok());
  }
}

TEST(StateCodecRoundTripTest, MutatedJsonNeverCrashes) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 100; ++i) {
    int64_t now = kNow;
    const std::string json = EncodeRecordJson(RandomRecord(rng, &now));
    for (int k = 0; k < 50; ++k) {
      std::string bad = json;
      bad[rng() % bad.size()] = static_cast<char>(rng());
      DecodeRecordJson(bad, now).status().IgnoreError();  // any outcome but a crash
    }
  }
}

}  // namespace
}  // namespace sluice

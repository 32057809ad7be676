// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/state_export.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "sluice/memory_store.h"
#include "sluice/testing/export_round_trip.h"
#include "sluice/testing/simulated_clock.h"
#include "util/crc32c.h"

namespace sluice {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;
using testing::ScanSorted;

// A toy Compression for the core's tests (the real one, zstd, is an optional
// component with its own tests): bytes XOR 0x5a, framed as "XOR1" + body +
// "END!", so truncation is detectable.
class XorCompression final : public Compression {
 public:
  std::string_view name() const override { return "xor"; }
  Result<std::unique_ptr<Compressor>> NewCompressor() const override {
    struct C final : Compressor {
      bool started = false;
      Status Compress(std::string_view in, std::string* out) override {
        if (!started) out->append("XOR1");
        started = true;
        for (char c : in) out->push_back(static_cast<char>(c ^ 0x5a));
        return Status::Ok();
      }
      Status Finish(std::string* out) override {
        if (!started) out->append("XOR1");
        out->append("END!");
        return Status::Ok();
      }
    };
    return std::unique_ptr<Compressor>(std::make_unique<C>());
  }
  Result<std::unique_ptr<Decompressor>> NewDecompressor() const override {
    struct D final : Decompressor {
      std::string held;  // the last 4 bytes may be the end marker
      size_t seen = 0;
      Status Decompress(std::string_view in, std::string* out) override {
        for (char c : in) {
          if (seen++ < 4) {
            if (c != "XOR1"[seen - 1]) return DataLossError("xor: bad magic");
            continue;
          }
          held.push_back(c);
          if (held.size() > 4) {
            out->push_back(static_cast<char>(held[0] ^ 0x5a));
            held.erase(0, 1);
          }
        }
        return Status::Ok();
      }
      Status Finish() override {
        return held == "END!" ? Status::Ok() : DataLossError("xor: truncated");
      }
    };
    return std::unique_ptr<Decompressor>(std::make_unique<D>());
  }
};

class ExportTest : public ::testing::Test {
 protected:
  std::unique_ptr<MemoryStore> NewStore() {
    Result<std::unique_ptr<MemoryStore>> s = MemoryStore::Create({.clock = &clock_, .sweep_interval = seconds(0)});
    EXPECT_TRUE(s.ok());
    return std::move(*s);
  }

  std::string Export(Store& store, std::string_view prefix, ExportOptions options = {}) {
    std::string out;
    auto sink = NewStringWritableFile(&out);
    Result<ExportReport> r = ExportStore(store, prefix, *sink, options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return out;
  }

  // A store holding ExportTestRecords("k:") and its export in `encoding`.
  std::string Populated(Store& store, ExportEncoding encoding, std::shared_ptr<const Compression> c = nullptr) {
    for (const Record& r : testing::ExportTestRecords("k:", clock_.NowNanos())) EXPECT_TRUE(store.Put(r).ok());
    return Export(store, "k:", {.encoding = encoding, .compression = std::move(c)});
  }

  testing::SimulatedClock clock_;
};

const ExportEncoding kEncodings[] = {ExportEncoding::kNdjson, ExportEncoding::kBinary};

TEST_F(ExportTest, RoundTripKeepsEveryAlgorithmsStateTtlsAndFencingTokens) {
  for (ExportEncoding encoding : kEncodings) {
    SCOPED_TRACE(ExportEncodingName(encoding));
    auto source = NewStore();
    auto target = NewStore();
    testing::CheckExportRoundTrip(*source, *target, "rt:", {.encoding = encoding}, {});
    // Both stores decide the same from here on.
    for (const Record& r : ScanSorted(*source, "rt:")) {
      const auto* limiter = std::get_if<LimiterRecord>(&r.value);
      if (limiter == nullptr) continue;
      clock_.Advance(std::chrono::milliseconds(300));
      Result<Decision> a = source->Decide(r.key, limiter->policy, 1);
      Result<Decision> b = target->Decide(r.key, limiter->policy, 1);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(a->allowed, b->allowed) << r.key;
      EXPECT_EQ(a->remaining, b->remaining) << r.key;
      EXPECT_EQ(a->retry_after, b->retry_after) << r.key;
    }
  }
}

TEST_F(ExportTest, TheLargestFencingTokenSurvives) {
  for (ExportEncoding encoding : kEncodings) {
    auto source = NewStore();
    const Record r{"f", std::string("v"), 0, 18'446'744'073'709'551'615ull};
    ASSERT_TRUE(source->Put(r).ok());
    auto target = NewStore();
    Result<ImportReport> in = ImportStoreFromString(*target, Export(*source, "", {.encoding = encoding}));
    ASSERT_TRUE(in.ok()) << in.status().ToString();
    EXPECT_EQ(ScanSorted(*target, ""), std::vector<Record>{r});
  }
}

TEST_F(ExportTest, RoundTripThroughACompression) {
  auto xor_compression = std::make_shared<XorCompression>();
  for (ExportEncoding encoding : kEncodings) {
    SCOPED_TRACE(ExportEncodingName(encoding));
    auto source = NewStore();
    auto target = NewStore();
    const std::string stream = testing::CheckExportRoundTrip(
        *source, *target, "c:", {.encoding = encoding, .compression = xor_compression},
        {.compressions = {xor_compression}});
    EXPECT_THAT(stream, HasSubstr("\"compression\":\"xor\""));
    EXPECT_THAT(stream, ::testing::Not(HasSubstr("sluice.record")));  // the body is transformed
  }
}

TEST_F(ExportTest, MissingCompressionIsAClearError) {
  auto source = NewStore();
  const std::string stream = Populated(*source, ExportEncoding::kBinary, std::make_shared<XorCompression>());
  auto target = NewStore();
  Result<ImportReport> r = ImportStoreFromString(*target, stream);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotSupported);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("compressed with \"xor\""));
  EXPECT_TRUE(ScanSorted(*target, "").empty());
}

TEST_F(ExportTest, HeaderDescribesTheStream) {
  auto store = NewStore();
  const int64_t made_at = clock_.NowNanos();
  const std::string ndjson = Populated(*store, ExportEncoding::kNdjson);
  const std::string first_line = ndjson.substr(0, ndjson.find('\n'));
  EXPECT_EQ(first_line, R"({"format":"sluice.export","version":1,"encoding":"ndjson","compression":"none",)"
                        R"("recordFormatVersion":2,"sourceStore":"memory","prefix":"k:","createdAtNs":)" +
                            std::to_string(made_at) + "}");
  // One record per line, then the trailer.
  const size_t lines = static_cast<size_t>(std::count(ndjson.begin(), ndjson.end(), '\n'));
  EXPECT_EQ(lines, 1 + testing::ExportTestRecords("k:", made_at).size() + 1);
  EXPECT_THAT(ndjson.substr(ndjson.rfind('\n', ndjson.size() - 2) + 1),
              ::testing::StartsWith(R"({"format":"sluice.export.end","count":10,"crc32c":)"));

  const std::string binary = Export(*store, "k:", {.encoding = ExportEncoding::kBinary});
  EXPECT_EQ(binary.substr(0, 5), std::string("SLEX\x01", 5));
  EXPECT_LT(binary.size(), ndjson.size() / 2);

  std::unique_ptr<SequentialFile> source = NewStringSequentialFile(binary);
  Result<std::unique_ptr<ExportReader>> reader = ExportReader::Open(source.get(), {.now_ns = clock_.NowNanos()});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->header().source_store, "memory");
  EXPECT_EQ((*reader)->header().prefix, "k:");
  EXPECT_EQ((*reader)->header().created_at_ns, made_at);
  EXPECT_EQ((*reader)->header().encoding, ExportEncoding::kBinary);
  EXPECT_EQ((*reader)->header().compression, "none");
  EXPECT_FALSE((*reader)->header().record_count.has_value());
}

TEST_F(ExportTest, WriterChecksAPromisedCount) {
  std::string out;
  auto sink = NewStringWritableFile(&out);
  ExportHeader header;
  header.source_store = "test";
  header.record_count = 2;
  auto writer = ExportWriter::Create(sink.get(), header);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Add(Record{"a", std::string("x"), 0, 0}).ok());
  Result<ExportReport> r = (*writer)->Finish();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);

  // A kept promise is in the header and checked by the reader.
  out.clear();
  sink = NewStringWritableFile(&out);
  header.record_count = 1;
  writer = ExportWriter::Create(sink.get(), header);
  ASSERT_TRUE((*writer)->Add(Record{"a", std::string("x"), 0, 0}).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  EXPECT_THAT(out, HasSubstr("\"recordCount\":1"));
  auto target = NewStore();
  Result<ImportReport> in = ImportStoreFromString(*target, out);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(in->header.record_count, 1u);
  EXPECT_EQ(in->restored, 1u);
}

// Everything a bad stream may do to a target in all-or-nothing mode: nothing.
void ExpectRejectedAndUnchanged(Store& target, const std::vector<Record>& before, const Result<ImportReport>& r,
                                const std::string& what) {
  if (r.ok()) {
    EXPECT_FALSE(r->applied) << what;
    EXPECT_GT(r->invalid, 0u) << what;
  }
  EXPECT_EQ(ScanSorted(target, ""), before) << what;
}

TEST_F(ExportTest, TruncatedStreamsAreRejectedAndChangeNothing) {
  for (ExportEncoding encoding : kEncodings) {
    SCOPED_TRACE(ExportEncodingName(encoding));
    auto source = NewStore();
    const std::string stream = Populated(*source, encoding);
    auto target = NewStore();
    ASSERT_TRUE(target->Put("k:tb", "existing").ok());
    ASSERT_TRUE(target->Put("other", "kept").ok());
    const std::vector<Record> before = ScanSorted(*target, "");
    for (size_t n = 0; n < stream.size(); ++n) {
      Result<ImportReport> r =
          ImportStoreFromString(*target, std::string_view(stream).substr(0, n), {.all_or_nothing = true});
      ASSERT_FALSE(r.ok()) << "truncated at " << n << " of " << stream.size();
      ExpectRejectedAndUnchanged(*target, before, r, "truncated at " + std::to_string(n));
    }
    Result<ImportReport> cut = ImportStoreFromString(*target, stream.substr(0, stream.size() - 3),
                                                     {.all_or_nothing = true});
    EXPECT_EQ(cut.status().code(), StatusCode::kDataLoss);
    Result<ImportReport> half = ImportStoreFromString(*target, stream.substr(0, stream.size() / 2),
                                                      {.all_or_nothing = true});
    EXPECT_THAT(std::string(half.status().message()), HasSubstr("truncated"));
  }
}

TEST_F(ExportTest, BitFlipsAreRejectedAndChangeNothing) {
  std::mt19937_64 rng(42);
  auto xor_compression = std::make_shared<XorCompression>();
  for (bool compressed : {false, true}) {
    for (ExportEncoding encoding : kEncodings) {
      SCOPED_TRACE(std::string(ExportEncodingName(encoding)) + (compressed ? "+xor" : ""));
      auto source = NewStore();
      const std::string stream = Populated(*source, encoding, compressed ? xor_compression : nullptr);
      auto target = NewStore();
      ASSERT_TRUE(target->Put("k:gcra", "existing").ok());
      const std::vector<Record> before = ScanSorted(*target, "");
      for (size_t pos = 0; pos < stream.size(); ++pos) {
        std::string bad = stream;
        bad[pos] = static_cast<char>(bad[pos] ^ (1 << (rng() % 8)));
        Result<ImportReport> r =
            ImportStoreFromString(*target, bad, {.all_or_nothing = true, .compressions = {xor_compression}});
        ASSERT_TRUE(!r.ok() || !r->applied) << "flip at " << pos;
        ExpectRejectedAndUnchanged(*target, before, r, "flip at " + std::to_string(pos));
      }
      // Past the header, a flip is a checksum mismatch or a broken record.
      std::string bad = stream;
      bad[bad.size() - 10] ^= 0x01;
      Result<ImportReport> r = ImportStoreFromString(*target, bad, {.compressions = {xor_compression}});
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
    }
  }
}

TEST_F(ExportTest, ForeignStreamsAreRejectedClearly) {
  auto target = NewStore();
  struct Case {
    std::string bytes;
    StatusCode code;
    std::string message;
  };
  const Record rec{"a", std::string("x"), 0, 0};
  const std::vector<Case> cases = {
      {"", StatusCode::kInvalidArgument, "not a sluice export: the stream is empty"},
      {"hello world\n", StatusCode::kInvalidArgument, "not a sluice export: it starts with \"hello wo\""},
      {"\x89PNG\r\n\x1a\n", StatusCode::kInvalidArgument, "not a sluice export: it starts with \"\\x89PNG\\x0d"},
      {"{\"a\":1}\n", StatusCode::kInvalidArgument, "not a sluice export: the header's format is not"},
      {EncodeRecordJson(rec) + "\n", StatusCode::kInvalidArgument, "not a sluice export"},
      {EncodeRecordBinary(rec), StatusCode::kInvalidArgument, "not a sluice export"},
      {"{\"format\":\"sluice.export\",\"version\":7}\n", StatusCode::kInvalidArgument,
       "unsupported export format version 7; this build reads 1"},
      {std::string("SLEX\x07", 5), StatusCode::kInvalidArgument, "unsupported export format version 7"},
      {"{not json\n", StatusCode::kInvalidArgument, "not a sluice export: the header is not JSON"},
  };
  for (const Case& c : cases) {
    Result<ImportReport> r = ImportStoreFromString(*target, c.bytes, {.all_or_nothing = true});
    ASSERT_FALSE(r.ok()) << c.bytes;
    EXPECT_EQ(r.status().code(), c.code) << r.status().ToString();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.message));
  }
  // A binary header wrapped in NDJSON framing (and the reverse) is caught.
  auto source = NewStore();
  std::string ndjson = Populated(*source, ExportEncoding::kNdjson);
  const size_t at = ndjson.find("\"ndjson\"");
  ndjson.replace(at, 8, "\"binary\"");
  Result<ImportReport> r = ImportStoreFromString(*target, ndjson);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("does not match the stream's framing"));
  // Data after the trailer.
  r = ImportStoreFromString(*target, Export(*source, "k:") + "{}\n", {.all_or_nothing = true});
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("after the trailer"));
  EXPECT_TRUE(ScanSorted(*target, "").empty());
}

TEST_F(ExportTest, DryRunReportsAndChangesNothing) {
  auto source = NewStore();
  const std::string stream = Populated(*source, ExportEncoding::kNdjson);
  auto target = NewStore();
  ASSERT_TRUE(target->Put("k:tb", "existing").ok());
  const std::vector<Record> before = ScanSorted(*target, "");
  for (bool all_or_nothing : {false, true}) {
    Result<ImportReport> r = ImportStoreFromString(*target, stream, {.dry_run = true, .all_or_nothing = all_or_nothing});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(r->applied);
    EXPECT_EQ(r->restored, 10u);
    EXPECT_EQ(ScanSorted(*target, ""), before);
  }
}

TEST_F(ExportTest, ExpiredRecordsAreSkippedAndCounted) {
  auto source = NewStore();
  const std::string stream = Populated(*source, ExportEncoding::kBinary);
  // Two hours later every limiter and the one-hour byte value have expired;
  // the byte values that never expire (or later) remain.
  clock_.Advance(std::chrono::hours(2));
  auto target = NewStore();
  Result<ImportReport> r = ImportStoreFromString(*target, stream);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::vector<Record> all = testing::ExportTestRecords("k:", 0);
  EXPECT_EQ(r->restored + r->expired, all.size());
  EXPECT_GE(r->expired, 7u);
  EXPECT_EQ(ScanSorted(*target, "").size(), r->restored);
  for (const Record& rec : ScanSorted(*target, "")) {
    EXPECT_TRUE(rec.expires_at_ns == 0 || rec.expires_at_ns > clock_.NowNanos()) << rec.key;
  }
}

// A stream whose framing is intact but one record is not valid: it is
// reported with its reason; all-or-nothing applies nothing.
TEST_F(ExportTest, InvalidRecordsAreReportedWithReasons) {
  for (ExportEncoding encoding : kEncodings) {
    std::string stream;
    auto sink = NewStringWritableFile(&stream);
    auto writer = ExportWriter::Create(sink.get(), ExportHeader{.source_store = "hand"}, {.encoding = encoding});
    ASSERT_TRUE(writer.ok());
    const int64_t now = clock_.NowNanos();
    const Policy policy = Policy::TokenBucket(10, 1, seconds(1));
    ASSERT_TRUE((*writer)->Add(Record{"good:1", LimiterRecord{policy, TokenBucketState{3, 0, now}}, now + 7'000'000'000, 5}).ok());
    ASSERT_TRUE((*writer)->Add(Record{"bad", LimiterRecord{policy, TokenBucketState{12, 0, now}}, now + 1, 0}).ok());
    ASSERT_TRUE((*writer)->Add(Record{"good:2", std::string("v"), 0, 0}).ok());
    ASSERT_TRUE((*writer)->Finish().ok());

    auto target = NewStore();
    Result<ImportReport> strict = ImportStoreFromString(*target, stream, {.all_or_nothing = true});
    ASSERT_TRUE(strict.ok()) << strict.status().ToString();
    EXPECT_FALSE(strict->applied);
    EXPECT_EQ(strict->invalid, 1u);
    ASSERT_EQ(strict->invalid_records.size(), 1u);
    EXPECT_EQ(strict->invalid_records[0].index, 1u);
    EXPECT_EQ(strict->invalid_records[0].reason.message(), "record.state.tokens: 12 exceeds capacity 10");
    EXPECT_TRUE(ScanSorted(*target, "").empty());

    Result<ImportReport> lenient = ImportStoreFromString(*target, stream, {.max_listed_invalid = 0});
    ASSERT_TRUE(lenient.ok()) << lenient.status().ToString();
    EXPECT_TRUE(lenient->applied);
    EXPECT_EQ(lenient->restored, 2u);
    EXPECT_EQ(lenient->invalid, 1u);
    EXPECT_TRUE(lenient->invalid_records.empty());  // counted, not listed
    EXPECT_EQ(ScanSorted(*target, "").size(), 2u);
  }
}

TEST_F(ExportTest, KeyPrefixFilterSkipsOtherKeys) {
  auto source = NewStore();
  ASSERT_TRUE(source->Put("a:1", "x").ok());
  ASSERT_TRUE(source->Put("a:2", "y").ok());
  ASSERT_TRUE(source->Put("b:1", "z").ok());
  const std::string stream = Export(*source, "");
  auto target = NewStore();
  Result<ImportReport> r = ImportStoreFromString(*target, stream, {.key_prefix = "a:"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->restored, 2u);
  EXPECT_EQ(r->skipped, 1u);
  EXPECT_EQ(ScanSorted(*target, "").size(), 2u);
}

TEST_F(ExportTest, PolicyChangeStrategies) {
  const Policy old_policy = Policy::TokenBucket(10, 1, seconds(1));
  const Policy new_policy = Policy::TokenBucket(100, 10, seconds(1));
  auto source = NewStore();
  ASSERT_TRUE(source->Decide("u:1", old_policy, 6).ok());  // 4 of 10 left
  ASSERT_TRUE(source->Put("other", "bytes").ok());
  const std::string stream = Export(*source, "");
  const auto remaining_after_import = [&](PolicyChangeStrategy strategy, const Policy& current,
                                          ImportReport* report) -> int64_t {
    auto target = NewStore();
    Result<ImportReport> r = ImportStoreFromString(
        *target, stream, {.current_policies = {{"u:", current}}, .policy_change = strategy});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    *report = *r;
    Result<Decision> d = target->Decide(DecideRequest{"u:1", &current, 0, Operation::kPeek});
    EXPECT_TRUE(d.ok());
    return d->remaining;
  };
  ImportReport report;
  EXPECT_EQ(remaining_after_import(PolicyChangeStrategy::kProportional, new_policy, &report), 40);
  EXPECT_EQ(report.policy_changed, 1u);
  EXPECT_EQ(report.restored, 2u);
  EXPECT_EQ(remaining_after_import(PolicyChangeStrategy::kAsIs, new_policy, &report), 4);
  EXPECT_EQ(report.restored, 2u);
  EXPECT_EQ(remaining_after_import(PolicyChangeStrategy::kReset, new_policy, &report), 100);
  EXPECT_EQ(report.reset, 1u);
  EXPECT_EQ(report.restored, 1u);
  // Proportional across algorithms: 40% of a fixed window of 50.
  const Policy window = Policy::FixedWindow(50, seconds(60));
  EXPECT_EQ(remaining_after_import(PolicyChangeStrategy::kProportional, window, &report), 20);
  // As-is into a smaller bucket does not fit: invalid, with the reason.
  const Policy tiny = Policy::TokenBucket(2, 1, seconds(1));
  EXPECT_EQ(remaining_after_import(PolicyChangeStrategy::kAsIs, tiny, &report), 2);  // fresh: not restored
  EXPECT_EQ(report.invalid, 1u);
  ASSERT_EQ(report.invalid_records.size(), 1u);
  EXPECT_THAT(std::string(report.invalid_records[0].reason.message()), HasSubstr("as-is: the state does not fit"));
  // The same policy changes nothing.
  EXPECT_EQ(remaining_after_import(PolicyChangeStrategy::kReset, old_policy, &report), 4);
  EXPECT_EQ(report.policy_changed, 0u);
}

TEST_F(ExportTest, AllOrNothingNoticesASourceThatChangedBetweenPasses) {
  auto source = NewStore();
  const std::string first = Populated(*source, ExportEncoding::kNdjson);
  ASSERT_TRUE(source->Put("k:extra", "v").ok());
  const std::string second = Export(*source, "k:");
  int opened = 0;
  auto target = NewStore();
  Result<ImportReport> r = ImportStore(
      *target,
      [&]() -> Result<std::unique_ptr<SequentialFile>> {
        return NewStringSequentialFile(opened++ == 0 ? first : second);
      },
      {.all_or_nothing = true});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("source changed"));
  // Refused at the first record that differs from what was checked: only
  // records the check saw, byte for byte, were written before it.
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("at record"));
  EXPECT_FALSE(target->Get("k:extra")->has_value());
  EXPECT_LT(target->Stats().keys, source->Stats().keys);
}

// Reads in small pieces, like a slow file; counts the largest request.
class TrickleFile final : public SequentialFile {
 public:
  explicit TrickleFile(std::string_view data, size_t piece = 777) : data_(data), piece_(piece) {}
  Status Read(size_t n, std::string* out) override {
    max_request = std::max(max_request, n);
    const size_t k = std::min({n, data_.size() - pos_, piece_});
    out->assign(data_.data() + pos_, k);
    pos_ += k;
    return Status::Ok();
  }
  size_t max_request = 0;

 private:
  std::string_view data_;
  size_t piece_;
  size_t pos_ = 0;
};

// Every boundary between two reads falls everywhere in the stream: inside the
// header, a record, a length, the trailer.
TEST_F(ExportTest, SourcesThatReturnFewBytesAtATimeReadTheSame) {
  auto xor_compression = std::make_shared<XorCompression>();
  for (bool compressed : {false, true}) {
    for (ExportEncoding encoding : kEncodings) {
      SCOPED_TRACE(std::string(ExportEncodingName(encoding)) + (compressed ? "+xor" : ""));
      auto source = NewStore();
      const std::string stream = Populated(*source, encoding, compressed ? xor_compression : nullptr);
      for (size_t piece : {1, 2, 3, 5, 7, 13, 64, 4096}) {
        auto target = NewStore();
        Result<ImportReport> r = ImportStore(
            *target,
            [&]() -> Result<std::unique_ptr<SequentialFile>> { return std::make_unique<TrickleFile>(stream, piece); },
            {.all_or_nothing = true, .compressions = {xor_compression}});
        ASSERT_TRUE(r.ok()) << piece << ": " << r.status().ToString();
        EXPECT_EQ(r->restored, 10u) << piece;
        EXPECT_EQ(ScanSorted(*target, ""), ScanSorted(*source, "")) << piece;
      }
    }
  }
}

// A sink that keeps nothing but a CRC and a size: the export streams through.
class DiscardingFile final : public WritableFile {
 public:
  Status Append(std::string_view data) override {
    crc = internal::crc32c::Extend(crc, data.data(), data.size());
    size += data.size();
    ++appends;
    return Status::Ok();
  }
  Status Flush() override { return Status::Ok(); }
  Status Sync() override { return Status::Ok(); }
  Status Close() override { return Status::Ok(); }
  uint64_t Size() const override { return size; }
  uint32_t crc = 0;
  uint64_t size = 0;
  uint64_t appends = 0;
};

TEST_F(ExportTest, TenThousandKeysStreamOneRecordAtATime) {
  auto source = NewStore();
  const Policy policy = Policy::TokenBucket(100, 1, seconds(1));
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_TRUE(source->Decide("user:" + std::to_string(i), policy, 1 + i % 50).ok());
  }
  for (ExportEncoding encoding : kEncodings) {
    SCOPED_TRACE(ExportEncodingName(encoding));
    DiscardingFile discard;
    Result<ExportReport> out = ExportStore(*source, "user:", discard, {.encoding = encoding});
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->records, 10'000u);
    EXPECT_EQ(out->bytes, discard.size);
    EXPECT_GE(discard.appends, 10'000u);  // written as it goes, not gathered first

    std::string stream = Export(*source, "user:", {.encoding = encoding});
    ASSERT_EQ(internal::crc32c::Value(stream), discard.crc);
    // The reader yields records one by one from a source read in pieces.
    TrickleFile file(stream);
    auto reader = ExportReader::Open(&file, {.now_ns = clock_.NowNanos()});
    ASSERT_TRUE(reader.ok());
    ExportEntry entry;
    uint64_t n = 0;
    while (true) {
      Result<bool> next = (*reader)->Next(&entry);
      ASSERT_TRUE(next.ok()) << next.status().ToString();
      if (!*next) break;
      ASSERT_TRUE(entry.record.has_value());
      EXPECT_EQ(entry.index, n++);
    }
    EXPECT_EQ(n, 10'000u);
    EXPECT_LE(file.max_request, size_t{64 * 1024});

    auto target = NewStore();
    Result<ImportReport> in = ImportStore(
        *target, [&]() -> Result<std::unique_ptr<SequentialFile>> { return std::make_unique<TrickleFile>(stream); },
        {.all_or_nothing = true});
    ASSERT_TRUE(in.ok()) << in.status().ToString();
    EXPECT_EQ(in->restored, 10'000u);
    EXPECT_EQ(ScanSorted(*target, "user:"), ScanSorted(*source, "user:"));
  }
}

TEST_F(ExportTest, Version1RecordLinesStillImport) {
  // A stream whose record lines are record format version 1 (no fencing
  // token), as an older writer would have made them, with a valid trailer.
  const std::string header = R"({"format":"sluice.export","version":1,"encoding":"ndjson","compression":"none",)"
                             R"("recordFormatVersion":1,"sourceStore":"old","prefix":"","createdAtNs":1})"
                             "\n";
  const std::string line = R"({"format":"sluice.record","version":1,"key":"k","expiresAtNs":0,"bytesBase64":"dg=="})"
                           "\n";
  const uint32_t crc = internal::crc32c::Value(header + line);
  const std::string stream =
      header + line + R"({"format":"sluice.export.end","count":1,"crc32c":)" + std::to_string(crc) + "}\n";
  auto target = NewStore();
  Result<ImportReport> r = ImportStoreFromString(*target, stream, {.all_or_nothing = true});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->restored, 1u);
  EXPECT_EQ(ScanSorted(*target, ""), (std::vector<Record>{Record{"k", std::string("v"), 0, 0}}));
}

}  // namespace
}  // namespace sluice

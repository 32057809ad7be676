// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0

#include "sluice/testing/export_round_trip.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "sluice/algorithms.h"
#include "sluice/state_codec.h"

namespace sluice::testing {
namespace {

// A limiter record as a store would hold it after `ops` consumes of `cost`
// at `now_ns`.
Record Used(std::string key, const Policy& policy, int64_t cost, int ops, int64_t now_ns, uint64_t token) {
  std::optional<LimiterState> state;
  int64_t expires = 0;
  for (int i = 0; i < ops; ++i) {
    Result<Evaluation> e = Evaluate(policy, state, Operation::kConsume, cost, now_ns - (ops - i) * 1'000'000);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (e.ok()) expires = e->expires_at_ns;
  }
  EXPECT_TRUE(state.has_value());
  return Record{std::move(key), LimiterRecord{policy, *state}, expires == 0 ? ExpiresAt(policy, *state) : expires,
                token};
}

}  // namespace

std::vector<Record> ExportTestRecords(std::string_view prefix, int64_t now_ns) {
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  const std::string p(prefix);
  std::vector<Record> records = {
      Used(p + "tb", Policy::TokenBucket(10, 1, seconds(1)), 3, 2, now_ns, 11),
      Used(p + "gcra", Policy::Gcra(5, 2, seconds(1)), 1, 4, now_ns, 12),
      Used(p + "fw", Policy::FixedWindow(100, minutes(1)), 7, 6, now_ns, 13),
      Used(p + "cal", Policy::CalendarWindow(1000, WindowAlignment::kCalendarDay), 10, 3, now_ns, 14),
      Used(p + "log", Policy::SlidingWindowLog(10, seconds(10)), 2, 3, now_ns, 15),
      Used(p + "swc", Policy::SlidingWindowCounter(50, seconds(10)), 4, 5, now_ns, 16),
      Used(p + "tb:big", Policy::TokenBucket(1'000'000'000'000, 7, hours(1)), 123'456'789, 1, now_ns,
           // The largest fencing token there is.
           18'446'744'073'709'551'615ull),
      Record{p + "bytes:forever", std::string("agg\x00\x01\xfe", 6), 0, 17},
      Record{p + std::string("bytes:\xff\x00", 8), std::string(300, 'z'), now_ns + 3'600'000'000'000, 18},
      Record{p + "bytes:unfenced", std::string(), now_ns + 60'000'000'000, 0},
  };
  return records;
}

std::vector<Record> ScanSorted(Store& store, std::string_view prefix) {
  std::vector<Record> out;
  Status s = store.Scan(prefix, [&](const Record& r) {
    out.push_back(r);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::sort(out.begin(), out.end(), [](const Record& a, const Record& b) { return a.key < b.key; });
  return out;
}

std::string CheckExportRoundTrip(Store& source, Store& target, std::string_view prefix,
                                 const ExportOptions& export_options, const ImportOptions& import_options) {
  std::vector<Record> records = ExportTestRecords(prefix, source.clock().NowNanos());
  for (const Record& r : records) {
    Status s = source.Put(r);
    EXPECT_TRUE(s.ok()) << r.key << ": " << s.ToString();
  }
  std::sort(records.begin(), records.end(), [](const Record& a, const Record& b) { return a.key < b.key; });
  EXPECT_EQ(ScanSorted(source, prefix), records) << "the source store " << source.name()
                                                 << " does not give back what was put (fencing tokens?)";

  std::string stream;
  std::unique_ptr<WritableFile> sink = NewStringWritableFile(&stream);
  Result<ExportReport> exported = ExportStore(source, prefix, *sink, export_options);
  EXPECT_TRUE(exported.ok()) << exported.status().ToString();
  if (!exported.ok()) return stream;
  EXPECT_EQ(exported->records, records.size());
  EXPECT_EQ(exported->bytes, stream.size());

  Result<ImportReport> imported = ImportStoreFromString(target, stream, import_options);
  EXPECT_TRUE(imported.ok()) << imported.status().ToString();
  if (!imported.ok()) return stream;
  EXPECT_EQ(imported->restored, records.size());
  EXPECT_EQ(imported->invalid, 0u);
  EXPECT_EQ(imported->expired, 0u);
  EXPECT_TRUE(imported->applied);
  EXPECT_EQ(imported->header.source_store, source.name());
  EXPECT_EQ(ScanSorted(target, prefix), records) << "the " << target.name() << " store after import";
  for (const Record& r : records) {
    Result<std::optional<Record>> got = target.Get(r.key);
    EXPECT_TRUE(got.ok() && got->has_value()) << r.key;
    if (got.ok() && got->has_value()) {
      EXPECT_EQ(**got, r);
    }
  }
  return stream;
}

}  // namespace sluice::testing

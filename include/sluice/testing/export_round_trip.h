// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Export/import round-trip checks written over Store&, so that every store
// (memory, Redis, RocksDB, ...) runs the same ones from its own test file:
//
//   sluice::testing::CheckExportRoundTrip(*memory, *redis, "rt:", {}, {});
//
// They use gtest assertions (EXPECT_*) and return the records they wrote.
// A store's tests link sluice::testing.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/state_export.h"
#include "sluice/store.h"

namespace sluice::testing {

// Records of every algorithm (token bucket, GCRA, fixed and calendar windows,
// sliding log, sliding counter) with used state, plus opaque byte values with
// and without expiry and a binary key, all under `prefix`, valid at `now_ns`,
// with distinct non-zero fencing tokens. Limiter records expire when their
// state becomes fresh again (ExpiresAt), as stores keep them.
std::vector<Record> ExportTestRecords(std::string_view prefix, int64_t now_ns);

// Writes ExportTestRecords(prefix, source.clock().NowNanos()) into `source`
// (which must hold nothing else under `prefix`), exports `prefix` with
// `export_options`, imports the stream into `target` with `import_options`,
// and checks that `target` then holds exactly those records under `prefix`,
// fencing tokens and expiries included. Returns the stream.
std::string CheckExportRoundTrip(Store& source, Store& target, std::string_view prefix,
                                 const ExportOptions& export_options = {}, const ImportOptions& import_options = {});

// Every live record of `store` under `prefix`, sorted by key.
std::vector<Record> ScanSorted(Store& store, std::string_view prefix);

}  // namespace sluice::testing

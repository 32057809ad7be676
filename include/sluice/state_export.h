// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Streaming export and import of a store's records: backup, restore and
// migration between any two stores (memory, RocksDB, Redis, ...).
//
// An export stream is a header (format and version, the source store's name,
// the time it was made, the key prefix, the record count when known, the body
// encoding and the compression), then one record per key with its absolute
// expiry and fencing token, then a trailer with the record count and a CRC-32C
// over everything before it. Two body encodings:
//   - kNdjson: one JSON object per line (the record JSON of state_codec.h),
//     for people and tools such as jq;
//   - kBinary: length-prefixed binary records, for size and speed.
// Either may be compressed through a Compression (sluice/compression.h; e.g.
// sluice::zstd): the header stays plain and names it, the rest is one
// compressed stream. docs/export_format.md specifies the format.
//
// Streaming: the writer takes records one at a time (ExportStore feeds it from
// Store::Scan) and the reader yields them one at a time, so memory stays
// bounded by the largest record, whatever the number of keys.
//
// Import validates every record before applying it (the strict decoders of
// state_codec.h: fields, ranges, no timestamps far in the future), skips
// expired ones, applies an explicit strategy when the importer's current
// policy for a key differs from the exported one, and reports what it did. A
// dry run writes nothing; all-or-nothing reads and checks the whole stream
// first and applies it in a second pass (so the source must be re-openable),
// applying nothing if any record is invalid or the stream is truncated or
// corrupt.
//
// Thread-safety: ExportWriter and ExportReader are used by one thread at a
// time. ExportStore and ImportStore may run concurrently with other users of
// the store; records written during an export may or may not be included.
//
// Errors:
//   kInvalidArgument   a stream that is not a sluice export, an unknown format
//                      version, a header field out of range, bad options;
//   kNotSupported      the stream is compressed with a Compression the caller
//                      did not provide (the message names it);
//   kDataLoss          a truncated stream, a checksum or count mismatch, a
//                      record whose framing is broken, data after the trailer;
//   others             from the sink, the source or the store, as they were.
// A record that is framed correctly but does not decode or validate is not an
// error of the stream: ImportReport counts it as invalid with its reason.
//
// Example (backup and restore through files; the backup is written beside
// the old one and renamed over it, so a crash never leaves neither):
//   SLUICE_ASSIGN_OR_RETURN(auto file, fs.NewWritableFile("backup.ndjson.tmp"));
//   SLUICE_ASSIGN_OR_RETURN(sluice::ExportReport out,
//                           sluice::ExportStore(store, "", *file, {}));
//   SLUICE_RETURN_IF_ERROR(file->Sync());
//   SLUICE_RETURN_IF_ERROR(file->Close());
//   SLUICE_RETURN_IF_ERROR(fs.Rename("backup.ndjson.tmp", "backup.ndjson"));
//   SLUICE_RETURN_IF_ERROR(fs.SyncDirectory("."));
//   ...
//   SLUICE_ASSIGN_OR_RETURN(sluice::ImportReport in, sluice::ImportStore(
//       other_store, [&] { return fs.NewSequentialFile("backup.ndjson"); },
//       {.all_or_nothing = true}));

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/algorithms.h"
#include "sluice/clock.h"
#include "sluice/compression.h"
#include "sluice/file_system.h"
#include "sluice/result.h"
#include "sluice/state_codec.h"
#include "sluice/status.h"
#include "sluice/store.h"
#include "sluice/visibility.h"

namespace sluice {

// The export format version this build writes and reads.
inline constexpr int64_t kExportFormatVersion = 1;

// The "format" member of the header.
inline constexpr std::string_view kExportFormatName = "sluice.export";

// The first four bytes of a binary export.
inline constexpr std::string_view kExportBinaryMagic = "SLEX";

enum class ExportEncoding : uint8_t {
  kNdjson = 0,  // one JSON record per line
  kBinary = 1,  // length-prefixed binary records
};

// "ndjson" / "binary".
SLUICE_EXPORT std::string_view ExportEncodingName(ExportEncoding encoding);

// What a stream says about itself.
struct SLUICE_EXPORT ExportHeader {
  int64_t format_version = kExportFormatVersion;
  ExportEncoding encoding = ExportEncoding::kNdjson;
  // The Compression's name, or "none".
  std::string compression = "none";
  // Store::name() of the store exported ("memory", "redis", ...), or whatever
  // the writer's caller chose.
  std::string source_store{};
  // The key prefix the export covers ("" = every key).
  std::string prefix{};
  // Wall time the export started, nanoseconds since the Unix epoch.
  int64_t created_at_ns = 0;
  // The number of records, when the writer knew it in advance.
  std::optional<uint64_t> record_count{};

  friend bool operator==(const ExportHeader&, const ExportHeader&) = default;
};

struct SLUICE_EXPORT ExportOptions {
  // Default: kNdjson.
  ExportEncoding encoding = ExportEncoding::kNdjson;
  // Compresses everything after the header. Default: nullptr (none).
  std::shared_ptr<const Compression> compression{};
  // The time written into the header. Default: nullptr (the store's clock for
  // ExportStore; ExportWriter requires header.created_at_ns instead).
  Clock* clock = nullptr;
};

struct SLUICE_EXPORT ExportReport {
  uint64_t records = 0;  // records written
  uint64_t bytes = 0;    // bytes appended to the sink (after compression)
};

// Writes one export stream to a sink, one record at a time. The sink is
// appended to only; the caller syncs and closes it.
class SLUICE_EXPORT ExportWriter {
 public:
  // Writes the header. `header.encoding` and `header.compression` are taken
  // from `options`. If header.record_count is set and the records added
  // disagree, Finish reports kFailedPrecondition.
  static Result<std::unique_ptr<ExportWriter>> Create(WritableFile* sink, ExportHeader header,
                                                      const ExportOptions& options = {});
  virtual ~ExportWriter() = default;

  // Appends one record. After an error the stream is unusable.
  virtual Status Add(const Record& record) = 0;
  // Writes the trailer (and ends the compressed stream). No call may follow.
  // kFailedPrecondition if the header promised a different record count.
  virtual Result<ExportReport> Finish() = 0;

  virtual const ExportHeader& header() const = 0;
};

// Exports every live record whose key starts with `prefix` (all for "").
// Records written during the export may or may not be included.
SLUICE_EXPORT Result<ExportReport> ExportStore(Store& store, std::string_view prefix, WritableFile& sink,
                                               const ExportOptions& options = {});

struct SLUICE_EXPORT ExportReadOptions {
  // The Compressions a compressed stream may use, found by name. Default: none.
  std::vector<std::shared_ptr<const Compression>> compressions{};
  // The reader's wall time and how far ahead of it a record's timestamps may
  // lie (see DecodeRecordJson). Default: now_ns 0 means "the Clock::Real()
  // time"; ImportStore sets it from its clock.
  int64_t now_ns = 0;
  std::chrono::nanoseconds max_future = kDefaultMaxFuture;
  // The largest single record accepted, in bytes of its encoding (a guard
  // against garbage that never ends a line or a frame). Default: 64 MiB.
  size_t max_record_bytes = size_t{64} << 20;
};

// One item of a stream: a record, or the reason its bytes did not decode.
struct SLUICE_EXPORT ExportEntry {
  uint64_t index = 0;            // 0-based position among the records
  std::optional<Record> record{};  // set when it decoded and validated
  Status invalid{};                // why not, otherwise
};

// Reads one export stream from a source, one record at a time.
class SLUICE_EXPORT ExportReader {
 public:
  // Reads and checks the header. The source must outlive the reader.
  static Result<std::unique_ptr<ExportReader>> Open(SequentialFile* source, const ExportReadOptions& options = {});
  virtual ~ExportReader() = default;

  virtual const ExportHeader& header() const = 0;
  // Reads the next entry into `*entry` and returns true; returns false once
  // the trailer was read and checked (count, checksum, nothing after it).
  // Errors (kDataLoss, ...) end the stream.
  virtual Result<bool> Next(ExportEntry* entry) = 0;
  // The CRC-32C over the stream so far (after the end: the one the trailer held).
  virtual uint32_t checksum() const = 0;
};

// How an importer treats a limiter record whose policy differs from the
// current policy the importer was given for its key.
enum class PolicyChangeStrategy : uint8_t {
  // The key starts fresh under the current policy: its exported state is
  // dropped (any existing state of the key in the target store is removed).
  kReset = 0,
  // The key keeps the same fraction of its limit available:
  // remaining' = floor(remaining * new limit / old limit), where remaining is
  // what the old policy would admit at import time; the difference is charged
  // under the current policy at import time. Works across algorithms.
  kProportional = 1,
  // The exported state values are kept unchanged under the current policy;
  // a state that does not fit it (another algorithm, tokens above the new
  // capacity, ...) makes the record invalid.
  kAsIs = 2,
};

SLUICE_EXPORT std::string_view PolicyChangeStrategyName(PolicyChangeStrategy strategy);

// The policy keys under `key_prefix` are limited by now. The longest
// matching prefix wins.
struct SLUICE_EXPORT CurrentPolicy {
  std::string key_prefix{};
  Policy policy{};
};

// Where to read a stream from; called once per pass (twice in all-or-nothing
// mode, so it must return the same bytes each time).
using SourceOpener = std::function<Result<std::unique_ptr<SequentialFile>>()>;

struct SLUICE_EXPORT ImportOptions {
  // Read, validate and report; write nothing. Default: false.
  bool dry_run = false;
  // Check the whole stream first; apply nothing unless every record is valid
  // and the stream is complete and intact. Default: false (records are
  // applied as they are read; a stream error stops the import part way).
  // The applying pass re-reads the source and writes only what the check
  // read (the same header, the same bytes record by record: 4 bytes of
  // memory a record); a source that changed in between is refused before
  // the first differing record. A store or read failure during that pass
  // stops it with an error that says how many records were written.
  bool all_or_nothing = false;
  // Only keys starting with this are imported; others are counted as skipped.
  // Default: "" (all).
  std::string key_prefix{};
  // Current policies by key prefix, and what to do where they differ from
  // the exported ones. Default: none (records keep their own policies).
  std::vector<CurrentPolicy> current_policies{};
  PolicyChangeStrategy policy_change = PolicyChangeStrategy::kProportional;
  // The time that decides expiry and bounds future timestamps. Default:
  // nullptr (the target store's clock).
  Clock* clock = nullptr;
  std::chrono::nanoseconds max_future = kDefaultMaxFuture;
  // Compressions the stream may use (see ExportReadOptions).
  std::vector<std::shared_ptr<const Compression>> compressions{};
  // At most this many invalid records are listed with their reasons (all
  // are counted). Default: 100.
  size_t max_listed_invalid = 100;
  size_t max_record_bytes = size_t{64} << 20;
};

struct SLUICE_EXPORT InvalidRecord {
  uint64_t index = 0;  // position among the stream's records
  std::string key{};     // when it could be read, else empty
  Status reason{};
};

struct SLUICE_EXPORT ImportReport {
  ExportHeader header{};
  uint64_t restored = 0;        // records written (or, in a dry run, that would be)
  uint64_t expired = 0;         // records already expired at import time, not written
  uint64_t invalid = 0;         // records that did not decode or validate, not written
  uint64_t skipped = 0;         // records outside ImportOptions::key_prefix
  uint64_t policy_changed = 0;  // limiter records handled by the policy change strategy
  uint64_t reset = 0;           // ... of which were reset (kReset, or not restorable)
  std::vector<InvalidRecord> invalid_records{};  // the first max_listed_invalid
  // True when the records were written: false for a dry run, and for an
  // all-or-nothing import that found invalid records.
  bool applied = false;
};

// Imports a stream into `store` (see the file comment). Stream-level errors
// (see Errors above) are returned as errors; in all-or-nothing mode they
// guarantee nothing was written.
SLUICE_EXPORT Result<ImportReport> ImportStore(Store& store, const SourceOpener& open_source,
                                               const ImportOptions& options = {});

// Convenience: imports from bytes held in memory (re-read for each pass).
SLUICE_EXPORT Result<ImportReport> ImportStoreFromString(Store& store, std::string_view stream,
                                                         const ImportOptions& options = {});

// A WritableFile that appends to `*out` (Sync and Close do nothing else).
// `out` must outlive it.
SLUICE_EXPORT std::unique_ptr<WritableFile> NewStringWritableFile(std::string* out);
// A SequentialFile over `data`, which must outlive it.
SLUICE_EXPORT std::unique_ptr<SequentialFile> NewStringSequentialFile(std::string_view data);

}  // namespace sluice

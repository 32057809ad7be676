// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// Encodes and decodes one stored Record (a key, its value, its absolute
// expiry and its fencing token) in two formats, both at record format
// version 2:
//   - JSON: human-readable with stable field names, for export files, the
//     admin API and people;
//   - binary: compact, versioned and checksummed (CRC-32C), for disk and
//     checkpoints.
// docs/state_format.md specifies both field by field. Every later version of
// sluice keeps reading every earlier version: version 1 (written before
// records carried fencing tokens) decodes with fencing_token 0.
//
// Encoding never fails and does not validate: it writes what the record holds.
// Decoding is strict and validates before it returns anything: required
// fields, types, exact int64 integers, the format version, the algorithm, the
// policy (Policy::Validate), and the state against the policy
// (ValidateState: tokens within capacity, no negatives, no timestamps more
// than `max_future` after `now_ns`). Expiry times in the past are returned as
// they are (callers decide what an expired record means).
//
// Errors:
//   kInvalidArgument  malformed input or a value out of range; the message
//                     names the field, e.g. "record.state.tokens: 12 exceeds
//                     capacity 10", or the version, "unsupported record format
//                     version 3; this build reads versions 1 to 2".
//   kDataLoss         (binary) truncated input, a checksum mismatch, or bytes
//                     left over after the record.
//
// Thread-safety: pure functions, safe to call concurrently.
//
// Example:
//   std::string bytes = sluice::EncodeRecordBinary(record);
//   ...
//   SLUICE_ASSIGN_OR_RETURN(sluice::Record back,
//                           sluice::DecodeRecordBinary(bytes, clock.NowNanos()));

#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "sluice/result.h"
#include "sluice/store.h"
#include "sluice/visibility.h"

namespace sluice {

// The record format version this build writes. It reads this version and
// every earlier one, down to kOldestRecordFormatVersion.
inline constexpr int64_t kRecordFormatVersion = 2;
inline constexpr int64_t kOldestRecordFormatVersion = 1;

// The "format" member of every JSON record.
inline constexpr std::string_view kRecordJsonFormatName = "sluice.record";

// The first four bytes of every binary record.
inline constexpr std::string_view kRecordBinaryMagic = "SLRC";

// How far in the future a decoded state's timestamps may lie (clock skew
// between the writer and the reader). Default: 5 minutes.
inline constexpr std::chrono::nanoseconds kDefaultMaxFuture = std::chrono::minutes(5);

// Returns `record` as a JSON object. Keys that are valid UTF-8 are written as
// "key", others as "keyBase64". `pretty` indents with two spaces; the compact
// form has no whitespace. The same record always gives the same text.
SLUICE_EXPORT std::string EncodeRecordJson(const Record& record, bool pretty = false);

// Parses and validates a JSON record written by EncodeRecordJson (any
// supported version). `now_ns` is the reader's wall time, against which
// timestamps more than `max_future` ahead are rejected. Errors: kInvalidArgument
// (see the file comment).
SLUICE_EXPORT Result<Record> DecodeRecordJson(std::string_view json, int64_t now_ns,
                                              std::chrono::nanoseconds max_future = kDefaultMaxFuture);

// Returns `record` in the binary format. The same record always gives the
// same bytes.
SLUICE_EXPORT std::string EncodeRecordBinary(const Record& record);

// Checks and decodes exactly one binary record (the whole of `bytes`).
// Errors: kDataLoss for truncated or corrupt input and trailing bytes,
// kInvalidArgument for an unknown version or invalid contents (see the file
// comment).
SLUICE_EXPORT Result<Record> DecodeRecordBinary(std::string_view bytes, int64_t now_ns,
                                                std::chrono::nanoseconds max_future = kDefaultMaxFuture);

}  // namespace sluice

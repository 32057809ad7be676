// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The checkpoint file format (docs/checkpoint_format.md), version 1. A file is
// self-validating, so a reader needs nothing but its bytes:
//
//   header   "SLUICECK", u8 version, varint id, signed varint created_ns,
//            string compression ("none", "zstd", ...), string source store,
//            fixed32 masked CRC-32C of the header bytes before it
//   body     records, compressed as one stream when compression != "none";
//            the record stream ends with the end tag 0xff
//   trailer  "SLCKEND1", fixed64 record count, fixed32 masked CRC-32C of
//            every byte of the file before it
//
// A record in the body (strings are varint length + bytes):
//   u8 tag: kind in bits 0-1 (0 bytes, 1 limiter with a new policy, 2 limiter
//           with a policy seen before), 0x04 has an expiry, 0x08 has a
//           fencing token, 0x10 (kind 2) the previous record's policy,
//           0x20 the state's algorithm differs from the policy's
//   varint shared key prefix with the previous record, string key suffix
//   [varint fencing token]
//   [signed varint expiry - created_ns]
//   kind 0: string value
//   kind 1: u8 algorithm, signed varints limit, refill amount, interval ns,
//           u8 alignment; the policy gets the next index (from 0)
//   kind 2 without 0x10: varint policy index
//   limiter: [u8 state algorithm, with 0x20], then the state's fields in the
//           order of internal/state_fields.h, as signed varints, times
//           (fields named *Ns) as differences from created_ns; a sliding log
//           then has varint count and per entry the time difference from the
//           previous time and the cost.
// Differences are taken modulo 2^64, so every int64 round-trips.
//
// Private to the library. Pure functions and single-threaded objects.

#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/compression.h"
#include "sluice/result.h"
#include "sluice/store.h"

namespace sluice::internal {

inline constexpr std::string_view kCheckpointMagic = "SLUICECK";
inline constexpr std::string_view kCheckpointEndMagic = "SLCKEND1";
inline constexpr uint8_t kCheckpointFormatVersion = 1;
inline constexpr size_t kCheckpointTrailerSize = 8 + 8 + 4;

struct CheckpointHeader {
  uint64_t id = 0;
  int64_t created_ns = 0;
  std::string compression = "none";
  std::string source;
};

// Writes one checkpoint into `out` piece by piece. Single-threaded.
class CheckpointEncoder {
 public:
  // `compression` may be null (none). Receives each finished piece of the
  // file; an error from it stops the encoder.
  using Output = std::function<Status(std::string_view)>;
  CheckpointEncoder(CheckpointHeader header, const Compression* compression, Output out);

  // Writes the header. Call first.
  Status Start();
  Status Add(const Record& record);
  // Ends the body and writes the trailer.
  Status Finish();

  uint64_t records() const { return records_; }
  uint64_t bytes() const { return bytes_; }
  // CRC-32C (unmasked) of every byte written.
  uint32_t crc() const { return crc_; }

 private:
  Status Emit(std::string_view piece);
  Status FlushBody(bool last);

  CheckpointHeader header_;
  const Compression* compression_;
  Output out_;
  std::unique_ptr<Compressor> compressor_;
  std::string body_;     // encoded records not yet emitted
  std::string scratch_;  // compressed output
  std::string prev_key_;
  std::vector<Policy> policies_;
  std::unordered_map<uint64_t, uint32_t> policy_index_;  // fingerprint -> index
  uint32_t last_policy_ = UINT32_MAX;
  uint64_t records_ = 0;
  uint64_t bytes_ = 0;
  uint32_t crc_ = 0;
};

// Checks the framing of a whole checkpoint file (magic, version, header CRC,
// trailer, whole-file CRC) and returns its header. kDataLoss when the file is
// truncated or corrupt, kInvalidArgument when it is not a checkpoint or of a
// newer version. When `file_crc` is given, it receives the CRC-32C (unmasked)
// of the whole file, computed on the way.
Result<CheckpointHeader> VerifyCheckpoint(std::string_view file, uint32_t* file_crc = nullptr);

// What DecodeCheckpoint found.
struct DecodedCounts {
  uint64_t records = 0;
};

// Decodes every record of a file VerifyCheckpoint accepted and hands each to
// `visit`, which returns false to stop. Compressed bodies need the matching
// Compression in `compressions` (kNotSupported otherwise). kDataLoss for a
// body that does not decode or whose record count differs from the trailer's.
// Records are not validated against their policies here.
Status DecodeCheckpoint(std::string_view file, const std::vector<std::shared_ptr<const Compression>>& compressions,
                        size_t max_body_bytes, const std::function<bool(Record&&)>& visit);

}  // namespace sluice::internal

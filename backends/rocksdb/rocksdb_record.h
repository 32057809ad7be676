// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// The RocksDbStore's on-disk layout (format version 1; docs/rocksdb_format.md):
//
//   key   = 'k' + the sluice key            (data)
//         = "m:format_version"              (metadata: decimal version)
//   value = kind:u8                         0 = opaque bytes, else the Algorithm
//           expires_at_ns:i64 LE            0 = never; the compaction filter reads only this
//           fencing_token:u64 LE
//           bytes kind:   the bytes
//           limiter kind: limit:i64 refill_amount:i64 interval_ns:i64 alignment:u8,
//                         then the state's int64 fields in the order of
//                         internal::StateFields<S>, each i64 LE; a sliding
//                         log then has count:u32 and count x (time_ns:i64 cost:i64).
//
// Never reorder fields or change existing kinds: a database written by this
// version must open in every later one.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sluice/result.h"
#include "sluice/store.h"

namespace sluice::rocksdb {

inline constexpr char kDataPrefix = 'k';
inline constexpr std::string_view kFormatVersionKey = "m:format_version";
// Offset and size of the expiry in every value.
inline constexpr size_t kExpiryOffset = 1;
inline constexpr size_t kValueHeaderBytes = 17;

// What a data value holds.
struct StoredValue {
  Value value;
  int64_t expires_at_ns = 0;
  uint64_t fencing_token = 0;
};

std::string DataKey(std::string_view key);

std::string EncodeStoredValue(const StoredValue& stored);

// Decodes a value written by EncodeStoredValue. kDataLoss for a truncated or
// malformed value (unknown kind, invalid policy, trailing bytes).
Result<StoredValue> DecodeStoredValue(std::string_view bytes);

// The expiry of an encoded value, or 0 when it is too short to have one.
int64_t EncodedExpiry(std::string_view bytes);

}  // namespace sluice::rocksdb

// Copyright 2026 The sluice Authors.
// SPDX-License-Identifier: Apache-2.0
//
// CRC-32C (Castagnoli polynomial, as in iSCSI, ext4, LevelDB and RocksDB),
// computed in software (slicing by 8), private to the library. It checksums
// binary state records and checkpoints.
//
// A CRC stored next to the data it covers is masked (as LevelDB does), because
// the CRC of a string that itself contains CRCs is weak.
//
// Thread-safety: pure functions.
//
// Example:
//   uint32_t crc = crc32c::Value(data);
//   PutFixed32(out, crc32c::Mask(crc));
//   ... if (crc32c::Unmask(stored) != crc32c::Value(data)) return DataLossError(...);

#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice::internal::crc32c {

// Returns the CRC-32C of `init_crc`'s data followed by data[0, n).
// Extend(Value(a), b) == Value(a + b).
uint32_t Extend(uint32_t init_crc, const char* data, size_t n);

// Returns the CRC-32C of `data`.
inline uint32_t Value(std::string_view data) { return Extend(0, data.data(), data.size()); }

inline constexpr uint32_t kMaskDelta = 0xa282ead8u;

// Returns a masked representation of `crc` (rotate right by 15 bits, add a constant).
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }

// Returns the crc whose masked representation is `masked_crc`.
inline uint32_t Unmask(uint32_t masked_crc) {
  uint32_t rot = masked_crc - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace sluice::internal::crc32c
